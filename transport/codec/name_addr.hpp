#pragma once

// Header values of the name-addr / addr-spec family (From, To, Contact, P-Asserted-Identity, Refer-To,
// Referred-By, ...): RFC 3261 §20.10 and §25.1.
//
//   "Alice" <sip:a@x>;tag=1     display name, bracketed URI, header parameters
//   Alice Smith <sip:a@x>       unquoted (token) display name
//   sip:a@x;tag=1               addr-spec form: everything after the first ';' is a HEADER parameter
//
// Pure functions: no I/O, never throw on bad input (they return nullopt).

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace imserver::codec {

struct NameAddr {
  std::string display_name;  // quotes removed and \-escapes resolved; "" when absent
  std::string uri;           // the URI text as written, without the angle brackets (checked with parse_uri)
  // Header parameters in order; names as written. Quoted values are stored unquoted (escapes resolved);
  // a parameter without "=value" has an empty value.
  std::vector<std::pair<std::string, std::string>> params;
  bool bracketed = false;    // the URI was written inside <...>
};

// One value. nullopt when empty, when the URI does not parse (parse_uri), on unbalanced quotes or brackets,
// or on anything after the URI that is not ";name[=value]".
std::optional<NameAddr> parse_name_addr(std::string_view value);

// A comma-separated list (e.g. P-Asserted-Identity: <tel:+1>, <sip:a@x>). Commas inside quoted strings and
// inside <...> do not split. nullopt if the list is empty or any element is bad.
std::optional<std::vector<NameAddr>> parse_name_addr_list(std::string_view value);

// Value of the first header parameter whose name matches case-insensitively (RFC 3261 §7.3.1).
std::optional<std::string> header_param(const NameAddr&, std::string_view name);

}  // namespace imserver::codec
