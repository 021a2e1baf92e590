// RFC 4575 conference-info documents as a test sees them: parsed with
// libxml2 into plain structs, plus the schema-order and value checks that
// integration tests assert on (schema_order_errors()).
//
// Elements are matched by local name within the root's namespace; elements
// of other namespaces (extensions) are listed in `foreign_elements` and are
// not part of the `children` lists. Text values are trimmed.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace imserver::testclient {

inline constexpr const char* kConferenceInfoNs = "urn:ietf:params:xml:ns:conference-info";

struct DocMedia {
  std::string id;
  std::string display_text, type, label, src_id, status;
  std::vector<std::string> children;  // local names in order
};

struct DocEndpoint {
  std::string entity;
  std::string state;  // "" when the attribute is absent
  std::string display_text;
  std::string referred_by;  // <referred><by>
  std::string status;
  std::string joining_method;
  std::string joining_when, joining_by, joining_reason;  // <joining-info>
  std::string disconnection_method;
  std::string disconnection_when, disconnection_by, disconnection_reason;  // <disconnection-info>
  std::vector<std::string> children;  // local names in order
  bool has_media = false;
  std::vector<DocMedia> media;
};

struct DocUser {
  std::string entity;
  std::string state;  // "" when the attribute is absent
  std::string display_text;
  std::vector<std::string> roles;
  std::vector<DocEndpoint> endpoints;
  std::vector<std::string> children;  // local names in order

  const DocEndpoint* find_endpoint(const std::string& entity) const;
};

struct ConferenceDoc {
  bool well_formed = false;
  std::string error;  // parser message when !well_formed

  std::string root_name;  // local name of the root element
  std::string ns;         // namespace of the root element
  std::map<std::string, std::string> root_attributes;  // unqualified attributes
  std::string entity, state;
  std::optional<uint32_t> version;  // nullopt when absent or not a uint32
  std::vector<std::string> root_children;  // local names in order

  bool has_description = false;
  std::vector<std::string> description_children;
  std::string display_text;
  std::string subject;
  std::vector<std::pair<std::string, std::string>> conf_uris;  // uri, purpose
  std::optional<uint32_t> maximum_user_count;

  bool has_conference_state = false;
  std::vector<std::string> conference_state_children;
  std::optional<uint32_t> user_count;
  std::optional<bool> active, locked;

  bool has_users = false;
  std::string users_state;  // "" when absent (or no <users>)
  std::vector<std::string> users_children;
  std::vector<DocUser> users;

  // "{namespace}local" of elements in other namespaces, document order.
  std::vector<std::string> foreign_elements;
  // Values that did not parse (e.g. "user-count: 'x' is not a number").
  std::vector<std::string> value_errors;

  const DocUser* find_user(const std::string& entity) const;
};

ConferenceDoc parse_conference_doc(const std::string& body);

// Violations of RFC 4575 structure (empty when the document is fine):
//   * not well formed; root not <conference-info> in kConferenceInfoNs;
//   * root without entity, state or version (version must be a uint32);
//   * a state attribute outside {full, partial, deleted};
//   * child order of conference-info, conference-description,
//     conference-state, users, user, endpoint, media; duplicates of
//     single elements; unknown elements;
//   * a deleted root, user or endpoint with children;
//   * status / joining-method / disconnection-method values outside RFC 4575;
//   * numbers and booleans that do not parse.
std::vector<std::string> schema_order_errors(const ConferenceDoc& doc);

// xs:dateTime in UTC with a 'Z': 2025-01-15T10:15:30Z, optionally with
// fractional seconds (2025-01-15T10:15:30.250Z). Checks field ranges.
bool is_utc_datetime(const std::string& value);

}  // namespace imserver::testclient
