#pragma once
// Shared fixture of the REFER method=BYE wire tests (PROTOCOL.md §3, §5.3,
// §6, §9.3): the conference fixtures (F-BASE, F-PAIR) plus a helper that
// sends a REFER from a user, in or out of its INVITE dialog, and gives back
// the final response and the implicit subscription's dialog.

#include <optional>
#include <string>
#include <vector>

#include "tests/conference/fixture.hpp"

namespace imserver::testclient {

inline constexpr const char* kReferSelfGs1 = "Refer-To: <sip:gs-1@im.example.com;method=BYE>\r\n";
inline constexpr const char* kSipfragType = "message/sipfrag;version=2.0";

struct ReferSpec {
  // Whole Refer-To header line(s), each ending in CRLF; "" sends none.
  std::string refer_to = kReferSelfGs1;
  std::string request_uri = kGs1;
  std::string extra_headers;  // e.g. "Refer-Sub: false\r\n"
  uint32_t cseq = 5;          // out of dialog only; in dialog the next CSeq of the dialog
  bool contact = true;        // out of dialog only
  bool in_dialog = false;     // inside the user's INVITE dialog
  std::string content_type;
  std::string body;
};

struct ReferResult {
  Transaction tx;
  std::optional<SipMessage> final;
  // The dialog the refer NOTIFYs use: for an out-of-dialog REFER answered
  // 2xx, the one its response created (our From tag, the 2xx's To tag); for
  // an in-dialog REFER, the user's INVITE dialog.
  Dialog dialog;
  int status() const { return final ? final->status : 0; }
};

class ReferTest : public ConferenceTest {
 protected:
  // F-BASE (or F-PAIR) with refer NOTIFYs unthrottled, so tests do not wait
  // out the once-per-second rule (one test checks that rule on its own).
  void f_refer(std::vector<std::string> extra = {}, bool pair = false) {
    extra.insert(extra.begin(), "--refer.min-notify-interval-ms=0");
    f_base(extra, pair);
  }

  ReferResult refer(const std::string& name, const ReferSpec& spec = {},
                    std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto& u = user(name);
    ReferResult out;
    if (spec.in_dialog) {
      out.tx = u.ua->send_in_dialog(u.invite, "REFER", spec.refer_to + spec.extra_headers, spec.content_type,
                                    spec.body);
      out.dialog = u.invite;
    } else {
      RequestSpec rs;
      rs.method = "REFER";
      rs.request_uri = spec.request_uri;
      rs.to_uri = spec.request_uri;
      rs.cseq = spec.cseq;
      rs.contact = spec.contact;
      rs.extra_headers = spec.refer_to + spec.extra_headers;
      rs.content_type = spec.content_type;
      rs.body = spec.body;
      out.tx = u.ua->send(rs);
    }
    out.final = u.ua->final_response(out.tx, timeout);
    if (!spec.in_dialog && out.final && out.final->status >= 200 && out.final->status < 300) {
      out.dialog.call_id = out.tx.call_id;
      out.dialog.local_tag = out.tx.from_tag;
      out.dialog.remote_tag = out.final->to_tag();
      out.dialog.local_uri = u.ua->aor();
      out.dialog.remote_uri = spec.request_uri;
      out.dialog.remote_target = uri_of(out.final->header("Contact").value_or("<" + spec.request_uri + ">"));
      out.dialog.local_cseq = spec.cseq;
    }
    return out;
  }

  // The next refer NOTIFY in `dialog` of `name`, answered with `status`
  // (0: not answered).
  std::optional<SipMessage> next_refer_notify(const std::string& name, const Dialog& dialog, int status = 200,
                                              std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto& u = user(name);
    auto n = u.ua->wait_for(
        [&](const SipMessage& m) {
          return m.is_request && m.method == "NOTIFY" && m.call_id() == dialog.call_id &&
                 m.to_tag() == dialog.local_tag && m.header("Event").value_or("").rfind("refer", 0) == 0;
        },
        timeout);
    if (n && status) u.ua->respond(*n, status, default_reason(status));
    return n;
  }
};

}  // namespace imserver::testclient
