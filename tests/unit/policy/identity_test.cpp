#include "policy/identity.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using imserver::policy::authenticated_originator;

struct Case {
  const char* name;
  bool trusted;
  std::vector<std::string> pai;
  bool has_identity;
  std::string aor;
  std::vector<std::string> aliases;
};

const Case kCases[] = {
    // RFC 3325 §8: untrusted source -> PAI ignored, whatever it contains.
    {"untrusted_sip", false, {"sip:alice@example.com"}, false, "", {}},
    {"untrusted_sip_tel", false, {"sip:alice@example.com", "tel:+15550100"}, false, "", {}},
    {"untrusted_empty", false, {}, false, "", {}},
    // Trusted, nothing usable.
    {"trusted_empty", true, {}, false, "", {}},
    {"trusted_only_other_scheme", true, {"mailto:alice@example.com"}, false, "", {}},
    {"trusted_two_other_schemes", true, {"mailto:a@x", "im:a@x"}, false, "", {}},
    {"trusted_bare_sip_scheme", true, {"sip:"}, false, "", {}},
    {"trusted_bare_tel_scheme", true, {"tel:"}, false, "", {}},
    {"trusted_empty_string", true, {""}, false, "", {}},
    // Single value.
    {"sip_only", true, {"sip:alice@example.com"}, true, "sip:alice@example.com", {"sip:alice@example.com"}},
    {"sips_only", true, {"sips:alice@example.com"}, true, "sips:alice@example.com", {"sips:alice@example.com"}},
    {"tel_only", true, {"tel:+15550100"}, true, "tel:+15550100", {"tel:+15550100"}},
    {"upper_case_scheme", true, {"SIP:alice@example.com"}, true, "SIP:alice@example.com", {"SIP:alice@example.com"}},
    // Two values: SIP/SIPS preferred regardless of order; aliases keep header order.
    {"sip_then_tel", true, {"sip:alice@example.com", "tel:+15550100"}, true, "sip:alice@example.com",
     {"sip:alice@example.com", "tel:+15550100"}},
    {"tel_then_sip", true, {"tel:+15550100", "sip:alice@example.com"}, true, "sip:alice@example.com",
     {"tel:+15550100", "sip:alice@example.com"}},
    {"tel_then_sips", true, {"tel:+15550100", "sips:alice@example.com"}, true, "sips:alice@example.com",
     {"tel:+15550100", "sips:alice@example.com"}},
    // Other schemes are ignored, not fatal.
    {"other_then_tel", true, {"mailto:a@x", "tel:+15550100"}, true, "tel:+15550100", {"tel:+15550100"}},
    {"sip_then_other", true, {"sip:alice@example.com", "http://x"}, true, "sip:alice@example.com",
     {"sip:alice@example.com"}},
    // RFC 3325 §9.1: more than two values, or two of the same kind -> rejected.
    {"three_values", true, {"sip:alice@example.com", "tel:+15550100", "sip:bob@example.com"}, false, "", {}},
    {"three_values_with_other", true, {"sip:alice@example.com", "tel:+15550100", "mailto:a@x"}, false, "", {}},
    {"two_sip", true, {"sip:alice@example.com", "sip:bob@example.com"}, false, "", {}},
    {"sip_and_sips", true, {"sip:alice@example.com", "sips:alice@example.com"}, false, "", {}},
    {"two_tel", true, {"tel:+15550100", "tel:+15550101"}, false, "", {}},
};

TEST(AuthenticatedOriginator, Table) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    const auto id = authenticated_originator(c.trusted, c.pai);
    ASSERT_EQ(id.has_value(), c.has_identity);
    if (!id) continue;
    EXPECT_EQ(id->aor, c.aor);
    EXPECT_EQ(id->aliases, c.aliases);
  }
}

}  // namespace
