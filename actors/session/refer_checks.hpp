#pragma once
// The request-level checks of a REFER (PROTOCOL.md §3.1, §3.2, §3.4 B0) as a
// pure function, shared by the directory (which routes a REFER by its
// Refer-To) and the session (which decides it).

#include <string>
#include <variant>

#include "actors/session/request_checks.hpp"
#include "transport/codec/refer_to.hpp"

namespace imserver::session {

struct ReferRequest {
  codec::ReferTarget target;  // a sip:/sips: URI with method=BYE
  // False when the REFER carried Refer-Sub: false (RFC 4488 §4): no
  // implicit subscription, no refer NOTIFYs, and the 2xx echoes it.
  bool refer_sub = true;
};

// In order: 420 for a Require tag other than norefersub (E24); 400 for no,
// several or an unparsable Refer-To (E9, E10, E23); 400 without Contact
// (RFC 3515 table 1); 400 for a Refer-Sub that is not true/false (RFC 4488
// §4); 403 for a Refer-To that is not a sip:/sips: URI with method=BYE
// (§3.1: another method, `bye`, no method, http:, tel:, cid:).
std::variant<ReferRequest, Respond> check_refer(const InboundRequest& r, bool lenient_unbracketed_method);

// The package of an Event header value, lower-cased ("Refer;id=5" -> "refer").
std::string event_package(const std::string& event_header);

}  // namespace imserver::session
