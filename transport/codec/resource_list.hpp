#pragma once

// RFC 4826 resource lists (`application/resource-lists+xml`) with the RFC 5364 copy-control extension, as used by
// a conference-factory INVITE (RFC 5366) and by the dial-out INVITEs it causes:
//   * parse_resource_list reads the invitee list of a creating INVITE (SESSIONS.md §2.1 C6/C7, §2.2, §10 E30-E33);
//   * render_recipient_list_history writes the `recipient-list-history` body of a dial-out (SESSIONS.md §2.4,
//     RFC 5366 §5, RFC 5364 §4).
// The list part itself is taken out of the multipart/mixed body with split_multipart (multipart.hpp).
//
// Safe parsing (same approach as policy/groups.cpp): a document with a DOCTYPE is refused before any internal
// subset is read, so no entity is ever declared or expanded (no "billion laughs", no external entities); no
// network access (XML_PARSE_NONET); no XML_PARSE_HUGE, so libxml2's default depth and size limits apply; the
// input size is checked before parsing. <entry-ref> and <external> are never followed, so lists cannot loop.
//
// Pure functions: no I/O, never throw except std::bad_alloc.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace imserver::codec {

inline constexpr std::string_view kResourceListsNamespace = "urn:ietf:params:xml:ns:resource-lists";  // RFC 4826
inline constexpr std::string_view kCopyControlNamespace = "urn:ietf:params:xml:ns:copycontrol";       // RFC 5364
// What an anonymized entry becomes in a recipient-list-history body (RFC 5364 §4; SESSIONS.md §2.2 rule 5).
inline constexpr std::string_view kAnonymousUri = "sip:anonymous@anonymous.invalid";

// RFC 5364 copyControl. Declared in precedence order: a lower value wins when duplicates merge (to > cc > bcc).
enum class CopyControl { To, Cc, Bcc };

// "to", "cc", "bcc".
std::string_view copy_control_name(CopyControl);

struct Invitee {
  // Canonical AoR (PROTOCOL.md §1.5, canonical_aor): the key for duplicates, exclusion and the allowed list.
  std::string uri;
  // The list's URI printed back (to_string) without URI headers and without a `method` parameter, neither of which
  // belongs in a Request-URI (RFC 3261 §19.1.1 table 1). Use it as the dial-out Request-URI / To (SESSIONS.md §2.4)
  // and in the recipient-list-history body.
  std::string target;
  // The `uri` attribute exactly as written (white space trimmed), first occurrence.
  std::string original;
  // <display-name> of the entry (first occurrence that has a non-empty one); "" when absent.
  std::string display_name;
  CopyControl copy = CopyControl::Bcc;  // absent or unknown value: bcc (RFC 5364 §4; SESSIONS.md §0.3 item 4, E33)
  bool anonymize = false;               // cp:anonymize="true"/"1"
};

struct ListLimits {
  // Distinct valid invitees allowed after the §2.2 clean-up: session.max_participants - 1 (SESSIONS.md §2.1 C7).
  std::size_t max_entries = 100;
  // Size of the list part in octets; larger lists are refused before parsing.
  std::size_t max_bytes = 65536;
};

struct ListParse {
  std::vector<Invitee> invitees;  // document order of first occurrence; empty whenever status != 0
  // 0: ok (the list may still be empty: every entry was dropped; the caller decides what that means).
  // 400: not well-formed XML, DOCTYPE present, empty body, wrong root element or namespace (§2.1 C6, §10 E30).
  // 403: more than max_entries distinct valid invitees (§2.1 C7, §10 E32). The caller adds
  //      `Warning: 399 <host> "Too many invitees"`.
  // 413: list part larger than max_bytes [DERIVED: RFC 3261 §21.4.11 Request Entity Too Large].
  // 500: the XML parser could not be created (internal error; not expected in practice).
  int status = 0;
  std::string reason;  // fixed ASCII text, usable as a Reason-Phrase ("Too many invitees" for 403); "" when ok
  std::string detail;  // more detail for logs (printable ASCII only, bounded); "" when ok
  bool ok() const { return status == 0; }
};

// Called with the canonical AoR of every valid entry; true drops it (SESSIONS.md §2.2 rule 3: the creator, and any
// factory, group or session URI of this server, e.g. every `gs-*` identity of the session domain).
using ListExclude = std::function<bool(const std::string& canonical_aor)>;

// SESSIONS.md §2.2 rules 1-5:
//   1. the `uri` of every <entry> inside a <list> (nested lists flattened, document order); <entry-ref>, <external>,
//      entries directly under the root, elements of other namespaces are ignored; an entry without `uri` is dropped;
//   2. only sip:, sips: and tel: URIs are kept; other schemes and unparsable URIs are dropped silently;
//   3. canonicalised (canonical_aor); excluded AoRs dropped;
//   4. duplicates (same canonical AoR) merge into the first occurrence: copyControl to > cc > bcc; anonymize is
//      true if any occurrence asked for it [DERIVED: privacy wins]; display name from the first that has one;
//   5. copyControl (attribute in urn:ietf:params:xml:ns:copycontrol; an unqualified attribute is not it) defaults
//      to bcc; values are compared case-insensitively after trimming.
// The root must be <resource-lists> in urn:ietf:params:xml:ns:resource-lists (prefixed or default namespace).
ListParse parse_resource_list(std::string_view xml, const ListExclude& exclude, const ListLimits& limits = {});

// Same, dropping every AoR in `exclude` (canonical forms, compared exactly).
ListParse parse_resource_list(std::string_view xml, const std::vector<std::string>& exclude,
                              const ListLimits& limits = {});

// True when at least one invitee is `to` or `cc`, i.e. when dial-outs carry a recipient-list-history part
// (SESSIONS.md §2.4, §0.3 item 4).
bool has_recipient_list_history(const std::vector<Invitee>& invitees);

// The `application/resource-lists+xml` body for `Content-Disposition: recipient-list-history; handling=optional`
// (SESSIONS.md §2.4; RFC 5366 §5; RFC 5364 §4): one <list> with an <entry> per `to`/`cc` invitee, in order, each
// with cp:copyControl; bcc invitees are left out; anonymized invitees appear as sip:anonymous@anonymous.invalid
// without a display name. Uses Invitee::target (Invitee::uri when target is empty). Every value is escaped
// (xml_escape). Returns "" when there is no `to`/`cc` invitee: then no such body is sent.
std::string render_recipient_list_history(const std::vector<Invitee>& invitees);

}  // namespace imserver::codec
