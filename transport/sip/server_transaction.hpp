#pragma once
// The two pieces of our server transactions (RFC 3261 §17.2) that need only
// the parsed request: the key a request is matched by, and the response
// bytes. The SIP worker keeps the transactions themselves (their states and
// timers live on its wheel).
//
// Why not libre's sip_strans: it keeps the whole parsed request (sip_msg,
// its header list and hash, the receive buffer: 2-3 kB) and the response
// for 32 s after every answer over UDP. Under a leave storm of ~3,000
// BYE+INVITE/s that held ~700 MB, and growing malloc's heap for it (page
// faults, sysmalloc) was the SIP thread's largest cost (perf, issue 7). A
// finished transaction of ours keeps only the response bytes a
// retransmission needs, and none after an INVITE's 2xx.

#include <cstdint>
#include <string>
#include <string_view>

struct sip_msg;

namespace imserver::transport {

// The server transaction `msg` belongs to (§17.2.3): the top Via's branch
// and sent-by, and `method`, which is msg's own method except for ACK and
// CANCEL, which look for their INVITE's transaction ("INVITE"). A branch
// without the magic cookie (an RFC 2543 peer) is keyed by Call-ID, From
// tag, CSeq number and the top Via instead (§17.2.3, last paragraph).
std::string server_tx_key(const sip_msg* msg, std::string_view method);

// The response to `msg` laid out as RFC 3261 §8.2.6.2 asks (and as libre's
// sip_treplyf does, so the wire is what it was): status line, every Via
// (the top one with rport filled in and received added, RFC 3581), From,
// To (our tag `to_tag` added when the request had none and the status is
// above 100), Call-ID, CSeq, Record-Route when `record_route` (a
// dialog-creating answer, §12.1.1), Server when `software` is not empty,
// then `tail` (the remaining headers, the blank line and any body; an empty
// tail is "Content-Length: 0\r\n\r\n"). *rport tells whether the reply
// must go to the source port (sip_reply_addr).
std::string format_response(const sip_msg* msg, uint16_t status, std::string_view reason, uint64_t to_tag,
                            bool record_route, std::string_view software, std::string_view tail, bool* rport);

}  // namespace imserver::transport
