#pragma once

// Pre-defined groups file (SESSIONS.md §3.1, knob `group.file`): a pure parser, no I/O.
// The caller reads the file (at start-up and on SIGHUP) and hands the text to parse_groups_xml().
//
// Format: root <im-groups xmlns="urn:example:imserver:groups:1">, one <group> per pre-defined group:
//   <group uri="sip:team@im.example.com" max-participants="10"
//          dialout-on-create="true" allow-non-members="false" locked="false">
//     <display-name>Team</display-name>
//     <subject>Team chat</subject>
//     <member uri="sip:alice@example.com" role="host"/>
//     <member uri="sip:bob@example.com"/>
//   </group>
//
// Rules (any violation refuses the whole file; GroupsParse::error names the line and element):
//  * root must be im-groups in namespace urn:example:imserver:groups:1;
//  * a DOCTYPE is refused (no DTD, no entity declarations: XXE / billion-laughs), so is any text
//    that is not well-formed XML or is larger than 16 MiB;
//  * group uri: required, a sip:/sips: URI with a user part; stored as its canonical AoR
//    (codec::canonical_aor); two groups with the same canonical AoR are an error;
//  * member uri: required, a sip:/sips:/tel: URI; stored as its canonical AoR. role: "host" or
//    "member" (default "member"); anything else is an error. A member listed twice is kept once
//    (first position; host if any of the entries says host);
//  * dialout-on-create / allow-non-members / locked: exactly "true" or "false";
//  * max-participants: decimal digits only, 1..100000;
//  * display-name / subject: text content, leading/trailing white space trimmed; first one wins;
//  * unknown elements (any name or namespace) and unknown attributes are ignored.

#include <string>
#include <vector>

namespace imserver::policy {

struct GroupMember {
  std::string aor;   // canonical AoR (codec::canonical_aor): lower-case host, no port/params/headers
  std::string role;  // "host" or "member"
};

struct Group {
  std::string uri;  // canonical AoR of the group URI, e.g. "sip:team@im.example.com"
  std::string display_name;
  std::string subject;
  int max_participants = 0;  // 0: not given
  bool dialout_on_create = true;
  bool allow_non_members = false;
  bool locked = false;
  std::vector<GroupMember> members;

  // Exact comparison against canonical AoRs (pass codec::canonical_aor output).
  bool is_member(const std::string& canonical_aor) const;
  bool is_host(const std::string& canonical_aor) const;
};

struct GroupsParse {
  std::vector<Group> groups;  // in file order; always empty when error is set
  std::string error;          // non-empty: the whole file is refused (keep the old groups)
};

// Never throws, never crashes on any input.
GroupsParse parse_groups_xml(const std::string& text);

}  // namespace imserver::policy
