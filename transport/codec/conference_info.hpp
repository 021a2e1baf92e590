#pragma once

// Renderer for RFC 4575 conference-state documents (`application/conference-info+xml`), the bodies of
// `Event: conference` NOTIFYs (PROTOCOL.md §4, SESSIONS.md §2.6, §4.4, §6).
//
// The caller builds a ConferenceInfo that already says what is full, partial or deleted; this file only
// turns it into bytes. Rules it enforces (PROTOCOL.md §4.2, TC-N04):
//   * namespace urn:ietf:params:xml:ns:conference-info (RFC 4575 §5);
//   * the root always carries entity, state and version (RFC 4575 §4.3, §5; SESSIONS.md §0.3 finding 8);
//   * children appear in the order of the RFC 4575 §6 schema;
//   * a `deleted` root, user or endpoint is one empty, self-closing element (RFC 4575 §4.4, §4.6);
//   * empty optional elements are left out;
//   * every value that comes from outside is escaped (xml_escape).
// Output is compact (no indentation): XML declaration, '\n', then the root element on one line.
//
// Pure functions: no I/O, never throw except std::bad_alloc.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imserver::codec {

// The `state` attribute of RFC 4575 §4.4 (state-type). Unset = leave the attribute out, which a
// subscriber reads as "full" (replace the element). On the root, Unset is rendered as "full", because the
// root always carries `state`.
enum class ElementState { Unset, Full, Partial, Deleted };

// <media id="..."> of an endpoint (RFC 4575 §5.7). Children in schema order: type, status.
struct ConfMedia {
  std::string id = "1";
  std::string type = "message";
  std::string status = "sendrecv";
};

// <endpoint> (RFC 4575 §5.7). Children in schema order: display-text, referred, status, joining-method,
// joining-info, disconnection-method, disconnection-info, media. Empty strings are left out.
struct ConfEndpoint {
  std::string entity;
  ElementState state = ElementState::Unset;
  std::string display_text;
  std::string referred_by;            // <referred><by> (RFC 4575 §5.7.2)
  std::string status;                 // connected | disconnected | dialing-out | alerting | on-hold | ... (§5.7.3)
  std::string joining_method;         // dialed-in | dialed-out | focus-owner
  std::string joining_when;           // <joining-info><when>
  std::string disconnection_method;   // departed | booted | failed | busy (§5.7.6)
  std::string disconnection_when, disconnection_by, disconnection_reason;  // <disconnection-info>: when, reason, by
  std::vector<ConfMedia> media;
};

// <user> (RFC 4575 §5, user-type). Children: display-text, endpoint*.
struct ConfUser {
  std::string entity;
  ElementState state = ElementState::Unset;
  std::string display_text;
  std::vector<ConfEndpoint> endpoints;
};

// <conf-uris><entry> (RFC 4575 §5, uri-type): uri, purpose.
struct ConfUri {
  std::string uri;
  std::string purpose;
};

// <conference-description> (RFC 4575 §5): subject, conf-uris, maximum-user-count.
struct ConfDescription {
  std::string subject;
  std::vector<ConfUri> conf_uris;
  std::optional<uint32_t> maximum_user_count;
};

// <conference-state> (RFC 4575 §5). Replaced as a unit, so all three children are always sent
// (PROTOCOL.md §4.2).
struct ConfStateBlock {
  uint32_t user_count = 0;
  bool active = true;
  bool locked = false;
};

// <conference-info> (RFC 4575 §5). Children: conference-description, conference-state, users.
struct ConferenceInfo {
  std::string entity;                          // the session identity
  ElementState state = ElementState::Full;
  uint32_t version = 0;                        // per subscription (PROTOCOL.md §4.1)
  std::optional<ConfDescription> description;
  std::optional<ConfStateBlock> conference_state;
  bool has_users = false;                      // render <users> (even when `users` is empty)
  ElementState users_state = ElementState::Unset;
  std::vector<ConfUser> users;
};

// The whole document, UTF-8, starting with `<?xml version="1.0" encoding="UTF-8"?>`. With state Deleted the
// root is rendered with no children, whatever else is set (PROTOCOL.md §4.4 example 5, `deleted` variant).
// Elements with nothing inside (a deleted <users>/<user>/<endpoint>, an empty <users>) are self-closing.
std::string render_conference_info(const ConferenceInfo&);

// Escapes a value for XML 1.0 character data or a double- or single-quoted attribute value:
//   & < > " '           -> &amp; &lt; &gt; &quot; &apos;
//   TAB LF CR           -> &#9; &#10; &#13; (so attribute-value normalization and end-of-line handling,
//                          XML 1.0 §3.3.3 / §2.11, give the same characters back)
//   other C0 controls, U+FFFE, U+FFFF (not XML 1.0 Chars, §2.2)        -> dropped
//   malformed UTF-8 (bad lead/continuation byte, overlong form, surrogate,
//   above U+10FFFF, truncated sequence)                                 -> U+FFFD per maximal bad subpart
// Everything else is copied unchanged, so the output is always valid UTF-8 made of XML Chars.
std::string xml_escape(std::string_view);

}  // namespace imserver::codec
