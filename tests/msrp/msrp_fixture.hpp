#pragma once
// F-MSRP (SESSIONS.md §12.1) against the real imserver binary: F-BASE whose
// users also chat. Alice and Bob offer a=chatroom:private-messages and
// accept-wrapped-types *, Carol and Dan a plain RCS-like OFFER(x); Dan adds
// a=max-size:4096. Every user is the active side: it connects to the focus's
// MSRP listener and binds its leg with a bodiless SEND on its own TCP
// connection. Parameterised by the SIP transport (MSRP is always TCP).

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/client/msrp_client.hpp"
#include "tests/conference/fixture.hpp"

namespace imserver::testclient {

struct MsrpUser {
  std::unique_ptr<MsrpClient> msrp;
  std::string path;        // the user's own a=path URI
  std::string focus_path;  // pX: the focus's a=path URI from the answer
  std::string answer;      // the SDP answer
};

struct OfferOptions {
  bool chatroom = false;
  std::string wrapped_types = "text/plain application/im-iscomposing+xml message/imdn+xml";
  std::string extra_lines;  // e.g. "a=max-size:4096\r\n", "a=recvonly\r\n" (then pass direction="")
  std::string direction = "a=sendrecv\r\n";
};

class MsrpTest : public ConferenceTest {
 protected:
  // OFFER(x) (§12.1) for `name` with path msrp://127.0.0.1:<port>/<sid>;tcp.
  std::string offer(const std::string& name, const OfferOptions& o, std::string* path) {
    auto& u = user(name);
    *path = "msrp://127.0.0.1:" + std::to_string(40000 + (std::hash<std::string>{}(name) % 20000)) + "/" + name +
            u.ua->random_hex(8) + ";tcp";
    std::string sdp = "v=0\r\no=" + name + " 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n";
    sdp += "m=message 9 TCP/MSRP *\r\na=accept-types:message/cpim\r\n";
    sdp += "a=accept-wrapped-types:" + o.wrapped_types + "\r\n";
    sdp += "a=path:" + *path + "\r\na=setup:actpass\r\n";
    if (o.chatroom) sdp += "a=chatroom:private-messages\r\n";
    sdp += o.extra_lines + o.direction;
    return sdp;
  }

  // INVITE with OFFER(x), then connect to the focus's MSRP listener and bind.
  void join_chat(const std::string& name, const std::string& target, const OfferOptions& o, bool bind = true) {
    auto& u = user(name);
    auto& m = chat_[name];
    const std::string sdp = offer(name, o, &m.path);
    auto r = u.ua->invite(target, "", "application/sdp", sdp);
    ASSERT_TRUE(r.ok) << name << " could not join " << target << ": " << r.error << "\n" << r.final.raw;
    u.invite = r.dialog;
    u.joined = true;
    m.answer = r.final.body;
    const auto at = m.answer.find("a=path:");
    ASSERT_NE(at, std::string::npos) << m.answer;
    m.focus_path = m.answer.substr(at + 7, m.answer.find("\r\n", at) - at - 7);
    m.msrp = std::make_unique<MsrpClient>(m.path);
    if (!bind) return;
    ASSERT_TRUE(m.msrp->connect("127.0.0.1", server_.msrp_port())) << m.msrp->last_error();
    const std::string tid = m.msrp->bodiless_send(m.focus_path);
    auto resp = m.msrp->wait_response(tid);
    ASSERT_TRUE(resp) << name << ": no answer to the binding SEND\n" << m.msrp->transcript();
    ASSERT_EQ(resp->status, 200) << name;
  }

  // F-MSRP. `subscribe`: also the F-BASE conference subscriptions (and Wendy's).
  void f_msrp(std::vector<std::string> extra = {}, bool subscribe_all = false) {
    start(extra);
    OfferOptions room;
    room.chatroom = true;
    room.wrapped_types = "*";
    OfferOptions plain;
    OfferOptions small = plain;
    small.extra_lines = "a=max-size:4096\r\n";
    join_chat("alice", kFactory, room);
    join_chat("bob", kGs1, room);
    join_chat("carol", kGs1, plain);
    join_chat("dan", kGs1, small);
    if (!subscribe_all) return;
    for (const char* name : {"alice", "bob", "carol", "dan", "wendy"}) {
      subscribe(name);
      if (HasFailure()) return;
    }
  }

  MsrpClient& msrp(const std::string& name) { return *chat_.at(name).msrp; }
  MsrpUser& chat(const std::string& name) { return chat_.at(name); }

  // CPIM(f, t, text) of §12.1 with f and t as user names or full URIs.
  static std::string aor_of(const std::string& who) {
    return who.find(':') == std::string::npos ? "sip:" + who + "@example.com" : who;
  }
  std::string cpim(const std::string& from, const std::string& to, const std::string& text) {
    return cpim_body(aor_of(from), aor_of(to), text);
  }

  void TearDown() override {
    if (HasFailure()) {
      for (auto& [name, m] : chat_)
        if (m.msrp) std::fprintf(stderr, "---- %s MSRP transcript ----\n%s\n", name.c_str(), m.msrp->transcript().c_str());
    }
    chat_.clear();
    ConferenceTest::TearDown();
  }

  std::map<std::string, MsrpUser> chat_;
};

}  // namespace imserver::testclient
