#pragma once

// Refer-To header parsing for Procedure B (REFER with `method=BYE`): PROTOCOL.md §3.1, §3.2 and the edge
// cases E9 (no Refer-To), E10 (several values), E11 (method other than BYE / non-SIP URI), E23 (unparsable).
// Grammar: RFC 3515 §2.1  Refer-To = ("Refer-To" / "r") HCOLON (name-addr / addr-spec) *(SEMI generic-param).
//
// This codec only classifies the header; it does not pick the response. The caller maps the result:
//   Missing, Several, Unparsable -> 400 (RFC 3515 §2.4.2, E9/E10/E23)
//   NotSip                       -> 403 (§3.1), unless the caller already answered 420 for a
//                                   `Require: multiple-refer` list REFER (cid: URI, §3.2 / E24)
//   None && !is_bye              -> not Procedure B (add-participant or unknown method: 403, §3.1)
//   None && is_bye               -> Procedure B; session lookup with refer_session_uri() (§3.3)
//
// Differences from the first API sketch, forced by §3.2:
//   * `method` is the percent-DECODED value (`method=%42YE` is BYE: RFC 3261 §19.1.4, escaped unreserved
//     characters equal their plain form). The text as written is kept in `method_raw`.
//   * `is_bye` compares the decoded value with "BYE" case-sensitively (`bye` is another method, §3.1).
//   * The compact header name `r` is a property of the header NAME, which the caller splits off before
//     calling parse_refer_to(); is_refer_to_header_name() recognises both names so the caller collects
//     the values of `Refer-To:` and `r:` lines into the same vector.
//   * A `method` URI parameter that is empty, not a token, or present more than once is malformed
//     (RFC 3261 §25.1 method-param = "method=" Method, Method is a token; §19.1.1 a parameter name must not
//     repeat) and gives Unparsable (400) instead of guessing which method was meant [DERIVED].
//
// Pure functions: no I/O, never throw.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "transport/codec/sip_uri.hpp"

namespace imserver::codec {

struct ReferTarget {
  // The target URI as parsed. URI headers (?h=v) stay here for inspection but must NEVER be copied into a
  // request the focus sends (§3.2, §5.3). In the lenient unbracketed form (below) the `method` header
  // parameter is appended to uri.params, so the URI always carries the method it was read with.
  Uri uri;
  std::string method;      // `method` URI parameter, percent-decoded; "" if absent
  std::string method_raw;  // the same value as written (still escaped); "" if absent
  bool is_bye = false;     // method == "BYE" exactly (case-sensitive, §3.1)
  std::string display_name;  // quotes removed; ignored by the procedure (§3.2)
  bool bracketed = false;    // the URI was written inside <...>
  // Header (generic) parameters of the Refer-To value, names as written. In the lenient form the `method`
  // parameter is moved from here into uri.params.
  std::vector<std::pair<std::string, std::string>> header_params;
};

enum class ReferToError {
  None,        // exactly one value, parsed, sip/sips URI
  Missing,     // no Refer-To value at all (E9)
  Several,     // more than one header line, or a comma-separated list in one line (E10)
  Unparsable,  // bad name-addr/addr-spec, bad URI, or malformed `method` parameter (E23)
  NotSip,      // parsed, but the scheme is not sip/sips (http:, tel:, cid:, ...) (§3.1, E11); target is filled
};

struct ReferToResult {
  ReferToError error = ReferToError::None;
  ReferTarget target;  // filled when error is None or NotSip
};

// `values`: every Refer-To / r header value of the request, one entry per header line (the header name
// already removed). A line holding a comma-separated list counts as several values; commas inside quotes
// or <...> do not split (§3.2).
// `lenient_unbracketed`: knob refer.lenient_unbracketed_method (default true). When set, an unbracketed
// value `sip:x@y;method=BYE` has its `method` HEADER parameter (name case-insensitive) taken as the URI
// parameter. When clear, that parameter stays a header parameter and the URI has no method (-> 403).
// A bracketed value's header parameters are never reinterpreted: `<sip:x@y>;method=BYE` has no method.
ReferToResult parse_refer_to(const std::vector<std::string>& values, bool lenient_unbracketed);

// True for the header names "Refer-To" and its compact form "r" (case-insensitive, RFC 3515 §2.1 / §3.2).
bool is_refer_to_header_name(std::string_view name);

// The session identity named by the target (§3.3): the URI with every `method` parameter and all URI
// headers removed. (same_session_uri() already ignores both; this is for printing/logging and lookups
// keyed by text.)
Uri refer_session_uri(const ReferTarget&);

}  // namespace imserver::codec
