#include "policy/groups.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

namespace {

using imserver::policy::Group;
using imserver::policy::GroupMember;
using imserver::policy::GroupsParse;
using imserver::policy::parse_groups_xml;

const std::string kHead =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<im-groups xmlns=\"urn:example:imserver:groups:1\">\n";
const std::string kTail = "</im-groups>\n";

std::string doc(const std::string& body) { return kHead + body + kTail; }

// SESSIONS.md §3.1, verbatim.
const std::string kExample = R"(<?xml version="1.0" encoding="UTF-8"?>
<im-groups xmlns="urn:example:imserver:groups:1">
  <group uri="sip:team@im.example.com" max-participants="10"
         dialout-on-create="true" allow-non-members="false" locked="false">
    <display-name>Team</display-name>
    <subject>Team chat</subject>
    <member uri="sip:alice@example.com" role="host"/>
    <member uri="sip:bob@example.com"/>
    <member uri="sip:carol@example.com"/>
  </group>
</im-groups>
)";

std::vector<std::string> aors(const Group& g) {
  std::vector<std::string> out;
  for (const GroupMember& m : g.members) out.push_back(m.aor + "/" + m.role);
  return out;
}

TEST(GroupsFile, SessionsExample) {
  const GroupsParse p = parse_groups_xml(kExample);
  ASSERT_EQ(p.error, "");
  ASSERT_EQ(p.groups.size(), 1u);
  const Group& g = p.groups[0];
  EXPECT_EQ(g.uri, "sip:team@im.example.com");
  EXPECT_EQ(g.display_name, "Team");
  EXPECT_EQ(g.subject, "Team chat");
  EXPECT_EQ(g.max_participants, 10);
  EXPECT_TRUE(g.dialout_on_create);
  EXPECT_FALSE(g.allow_non_members);
  EXPECT_FALSE(g.locked);
  EXPECT_EQ(aors(g), (std::vector<std::string>{"sip:alice@example.com/host", "sip:bob@example.com/member",
                                               "sip:carol@example.com/member"}));
  EXPECT_TRUE(g.is_member("sip:alice@example.com"));
  EXPECT_TRUE(g.is_member("sip:bob@example.com"));
  EXPECT_FALSE(g.is_member("sip:eve@example.com"));
  EXPECT_FALSE(g.is_member("sip:team@im.example.com"));
  EXPECT_TRUE(g.is_host("sip:alice@example.com"));
  EXPECT_FALSE(g.is_host("sip:bob@example.com"));
  EXPECT_FALSE(g.is_host("sip:eve@example.com"));
  EXPECT_FALSE(g.is_host(""));
}

TEST(GroupsFile, Defaults) {
  const GroupsParse p = parse_groups_xml(doc("<group uri=\"sip:empty@im.example.com\"/>"));
  ASSERT_EQ(p.error, "");
  ASSERT_EQ(p.groups.size(), 1u);
  const Group& g = p.groups[0];
  EXPECT_EQ(g.uri, "sip:empty@im.example.com");
  EXPECT_EQ(g.display_name, "");
  EXPECT_EQ(g.subject, "");
  EXPECT_EQ(g.max_participants, 0);
  EXPECT_TRUE(g.dialout_on_create);
  EXPECT_FALSE(g.allow_non_members);
  EXPECT_FALSE(g.locked);
  EXPECT_TRUE(g.members.empty());
}

TEST(GroupsFile, EmptyRootHasNoGroups) {
  for (const std::string& text :
       {doc(""), std::string("<im-groups xmlns=\"urn:example:imserver:groups:1\"/>"),
        std::string("<g:im-groups xmlns:g=\"urn:example:imserver:groups:1\"></g:im-groups>")}) {
    SCOPED_TRACE(text);
    const GroupsParse p = parse_groups_xml(text);
    EXPECT_EQ(p.error, "");
    EXPECT_TRUE(p.groups.empty());
  }
}

TEST(GroupsFile, NonDefaultValuesAndPrefixedNamespace) {
  const GroupsParse p = parse_groups_xml(
      "<g:im-groups xmlns:g=\"urn:example:imserver:groups:1\">"
      "<g:group uri=\"sips:ops@im.example.com\" max-participants=\"100000\" dialout-on-create=\"false\""
      " allow-non-members=\"true\" locked=\"true\">"
      "<g:display-name>  Ops &amp; on-call  </g:display-name>"
      "<g:subject><![CDATA[Incidents <P1>]]></g:subject>"
      "<g:member uri=\"tel:+1-555-0100\" role=\"member\"/>"
      "<g:member uri=\"sips:dave@example.com\" role=\"host\"/>"
      "</g:group></g:im-groups>");
  ASSERT_EQ(p.error, "");
  ASSERT_EQ(p.groups.size(), 1u);
  const Group& g = p.groups[0];
  EXPECT_EQ(g.uri, "sips:ops@im.example.com");
  EXPECT_EQ(g.display_name, "Ops & on-call");
  EXPECT_EQ(g.subject, "Incidents <P1>");
  EXPECT_EQ(g.max_participants, 100000);
  EXPECT_FALSE(g.dialout_on_create);
  EXPECT_TRUE(g.allow_non_members);
  EXPECT_TRUE(g.locked);
  EXPECT_EQ(aors(g), (std::vector<std::string>{"tel:+15550100/member", "sips:dave@example.com/host"}));
}

struct CanonCase {
  const char* name;
  std::string member_uri;
  std::string aor;
};

TEST(GroupsFile, MemberCanonicalization) {
  const CanonCase cases[] = {
      {"upper_host", "sip:alice@EXAMPLE.COM", "sip:alice@example.com"},
      {"mixed_host", "sip:alice@Example.Com", "sip:alice@example.com"},
      {"user_case_kept", "sip:Alice@example.com", "sip:Alice@example.com"},
      {"upper_scheme", "SIP:alice@example.com", "sip:alice@example.com"},
      {"port_dropped", "sip:alice@example.com:5070", "sip:alice@example.com"},
      {"params_dropped", "sip:alice@EXAMPLE.com;transport=tcp;lr", "sip:alice@example.com"},
      {"headers_dropped", "sip:alice@example.com?Subject=hi", "sip:alice@example.com"},
      {"all_at_once", "sip:alice@EXAMPLE.COM:5061;transport=TLS?X=y", "sip:alice@example.com"},
      {"percent_decoded_user", "sip:%61lice@example.com", "sip:alice@example.com"},
      {"sips_kept", "sips:alice@Example.COM;maddr=10.0.0.1", "sips:alice@example.com"},
      {"tel_separators", "tel:+1-555-(0100)", "tel:+15550100"},
      {"tel_params", "tel:+1.555.0100;phone-context=example.com", "tel:+15550100"},
      {"sip_user_phone", "sip:+1-555-0100@gw.example.com;user=phone", "tel:+15550100"},
      {"surrounding_space", "  sip:alice@EXAMPLE.com  ", "sip:alice@example.com"},
  };
  for (const CanonCase& c : cases) {
    SCOPED_TRACE(c.name);
    const GroupsParse p = parse_groups_xml(
        doc("<group uri=\"sip:g@im.example.com\"><member uri=\"" + c.member_uri + "\"/></group>"));
    ASSERT_EQ(p.error, "");
    ASSERT_EQ(p.groups.size(), 1u);
    ASSERT_EQ(p.groups[0].members.size(), 1u);
    EXPECT_EQ(p.groups[0].members[0].aor, c.aor);
    EXPECT_TRUE(p.groups[0].is_member(c.aor));
  }
}

TEST(GroupsFile, GroupUriCanonicalization) {
  const GroupsParse p = parse_groups_xml(
      doc("<group uri=\"SIP:Team@IM.Example.COM:5060;transport=tcp?h=v\"/>"
          "<group uri=\"sips:team@IM.EXAMPLE.COM\"/>"));  // sips differs from sip: not a duplicate
  ASSERT_EQ(p.error, "");
  ASSERT_EQ(p.groups.size(), 2u);
  EXPECT_EQ(p.groups[0].uri, "sip:Team@im.example.com");
  EXPECT_EQ(p.groups[1].uri, "sips:team@im.example.com");
}

TEST(GroupsFile, DuplicateMembersMerged) {
  const GroupsParse p = parse_groups_xml(doc(
      "<group uri=\"sip:g@im.example.com\">"
      "<member uri=\"sip:bob@example.com\"/>"
      "<member uri=\"sip:alice@example.com\"/>"
      "<member uri=\"sip:bob@EXAMPLE.com;transport=tcp\" role=\"host\"/>"
      "<member uri=\"sip:alice@example.com\" role=\"member\"/>"
      "</group>"));
  ASSERT_EQ(p.error, "");
  ASSERT_EQ(p.groups.size(), 1u);
  EXPECT_EQ(aors(p.groups[0]),
            (std::vector<std::string>{"sip:bob@example.com/host", "sip:alice@example.com/member"}));
}

TEST(GroupsFile, UnknownThingsIgnored) {
  const GroupsParse p = parse_groups_xml(
      "<?xml version=\"1.0\"?>\n"
      "<!-- comment -->\n"
      "<im-groups xmlns=\"urn:example:imserver:groups:1\" xmlns:x=\"urn:other\" version=\"7\" x:flag=\"1\">\n"
      "  stray text\n"
      "  <?some-pi data?>\n"
      "  <x:group uri=\"not a uri\"/>\n"                      // other namespace: not our <group>
      "  <group xmlns=\"urn:other\" uri=\"also bad\"/>\n"     // default namespace overridden
      "  <groups><group uri=\"bad\"/></groups>\n"            // unknown wrapper: ignored with its content
      "  <group uri=\"sip:team@im.example.com\" colour=\"blue\" x:locked=\"maybe\">\n"
      "    <x:display-name>ignored</x:display-name>\n"
      "    <display-name>Team</display-name>\n"
      "    <display-name>Second is ignored</display-name>\n"
      "    <owner>nobody</owner>\n"
      "    <x:member uri=\"bad uri\"/>\n"
      "    <member uri=\"sip:alice@example.com\" priority=\"9\"/>\n"
      "    <member uri=\"sip:bob@example.com\"><note>hi</note></member>\n"
      "  </group>\n"
      "  <x:anything><member uri=\"::\"/></x:anything>\n"
      "</im-groups>\n");
  ASSERT_EQ(p.error, "");
  ASSERT_EQ(p.groups.size(), 1u);
  const Group& g = p.groups[0];
  EXPECT_EQ(g.uri, "sip:team@im.example.com");
  EXPECT_EQ(g.display_name, "Team");
  EXPECT_FALSE(g.locked);
  EXPECT_EQ(aors(g), (std::vector<std::string>{"sip:alice@example.com/member", "sip:bob@example.com/member"}));
}

TEST(GroupsFile, ManyGroupsInOrder) {
  std::string body;
  for (int i = 0; i < 3; ++i) body += "<group uri=\"sip:g" + std::to_string(i) + "@im.example.com\"/>";
  const GroupsParse p = parse_groups_xml(doc(body));
  ASSERT_EQ(p.error, "");
  ASSERT_EQ(p.groups.size(), 3u);
  EXPECT_EQ(p.groups[0].uri, "sip:g0@im.example.com");
  EXPECT_EQ(p.groups[2].uri, "sip:g2@im.example.com");
}

struct ErrorCase {
  const char* name;
  std::string text;
  std::vector<std::string> must_contain;  // substrings of the error message
};

// Wraps one group element on line 3 of the document.
std::string one_group(const std::string& attrs, const std::string& children = "") {
  return doc("<group " + attrs + ">" + children + "</group>\n");
}

TEST(GroupsFile, ErrorsRefuseTheWholeFile) {
  const std::string good = "<group uri=\"sip:ok@im.example.com\"><member uri=\"sip:a@example.com\"/></group>\n";
  const ErrorCase cases[] = {
      // Not XML / not our document.
      {"empty", "", {"empty"}},
      {"blank", " \n\t ", {"empty"}},
      {"not_xml", "hello", {"not well-formed"}},
      {"unclosed_root", kHead + good, {"not well-formed", "line"}},
      {"mismatched_tag", doc("<group uri=\"sip:a@b\"></grup>"), {"not well-formed", "line 3"}},
      {"two_roots", doc("") + "<im-groups xmlns=\"urn:example:imserver:groups:1\"/>", {"not well-formed"}},
      {"undefined_entity", doc("<group uri=\"sip:a@b\"><subject>&nope;</subject></group>"), {"not well-formed"}},
      {"bad_utf8", doc("<group uri=\"sip:a@b\"><subject>\xff\xfe</subject></group>"), {"not well-formed"}},
      {"nul_byte", doc(std::string("<group uri=\"sip:a@b\"/>\0", 23)), {"not well-formed"}},
      {"wrong_root", "<groups xmlns=\"urn:example:imserver:groups:1\"/>", {"line 1", "<groups>", "root element"}},
      {"no_namespace", "<im-groups><group uri=\"sip:a@b\"/></im-groups>", {"root element", "no namespace"}},
      {"wrong_namespace", "<im-groups xmlns=\"urn:example:imserver:groups:2\"/>",
       {"root element", "urn:example:imserver:groups:2"}},
      {"resource_lists_root", "<resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\"/>",
       {"root element"}},
      // Group URI.
      {"group_no_uri", one_group("max-participants=\"3\""), {"line 3", "<group>", "without a uri"}},
      {"group_empty_uri", one_group("uri=\"\""), {"line 3", "not a sip: or sips: URI"}},
      {"group_garbage_uri", one_group("uri=\"team\""), {"line 3", "\"team\""}},
      {"group_tel_uri", one_group("uri=\"tel:+15550100\""), {"line 3", "tel:+15550100"}},
      {"group_http_uri", one_group("uri=\"http://im.example.com/team\""), {"line 3", "not a sip: or sips:"}},
      {"group_no_user", one_group("uri=\"sip:im.example.com\""), {"line 3", "user part"}},
      {"group_empty_user", one_group("uri=\"sip:@im.example.com\""), {"line 3", "user part"}},
      {"group_space_in_uri", one_group("uri=\"sip:te am@im.example.com\""), {"line 3"}},
      {"group_bad_port", one_group("uri=\"sip:team@im.example.com:99999\""), {"line 3"}},
      {"duplicate_group", doc(good + good), {"line 4", "duplicate group uri", "sip:ok@im.example.com", "line 3"}},
      {"duplicate_after_canonicalization",
       doc("<group uri=\"sip:team@im.example.com\"/>\n<group uri=\"sip:team@IM.EXAMPLE.COM:5060;transport=tcp\"/>\n"),
       {"line 4", "duplicate group uri"}},
      // Members.
      {"member_no_uri", one_group("uri=\"sip:g@b\"", "<member role=\"host\"/>"), {"line 3", "<member>", "without a uri"}},
      {"member_empty_uri", one_group("uri=\"sip:g@b\"", "<member uri=\"\"/>"), {"line 3", "<member>"}},
      {"member_garbage_uri", one_group("uri=\"sip:g@b\"", "<member uri=\"bob\"/>"), {"<member>", "\"bob\""}},
      {"member_mailto", one_group("uri=\"sip:g@b\"", "<member uri=\"mailto:bob@example.com\"/>"),
       {"<member>", "mailto:bob@example.com"}},
      {"member_tel_no_number", one_group("uri=\"sip:g@b\"", "<member uri=\"tel:\"/>"), {"<member>"}},
      {"member_bad_role", one_group("uri=\"sip:g@b\"", "<member uri=\"sip:a@b\" role=\"admin\"/>"),
       {"<member>", "role=\"admin\""}},
      {"member_role_case", one_group("uri=\"sip:g@b\"", "<member uri=\"sip:a@b\" role=\"Host\"/>"), {"role"}},
      {"member_error_on_later_line", doc(good + "<group uri=\"sip:g@b\">\n<member uri=\"x\"/></group>\n"),
       {"line 5", "<member>"}},
      // Booleans.
      {"bool_yes", one_group("uri=\"sip:g@b\" locked=\"yes\""), {"line 3", "locked=\"yes\"", "\"true\" or \"false\""}},
      {"bool_one", one_group("uri=\"sip:g@b\" dialout-on-create=\"1\""), {"dialout-on-create=\"1\""}},
      {"bool_upper", one_group("uri=\"sip:g@b\" allow-non-members=\"TRUE\""), {"allow-non-members=\"TRUE\""}},
      {"bool_empty", one_group("uri=\"sip:g@b\" locked=\"\""), {"locked=\"\""}},
      {"bool_space", one_group("uri=\"sip:g@b\" locked=\" true\""), {"locked="}},
      // max-participants.
      {"max_zero", one_group("uri=\"sip:g@b\" max-participants=\"0\""), {"line 3", "max-participants=\"0\""}},
      {"max_negative", one_group("uri=\"sip:g@b\" max-participants=\"-5\""), {"max-participants=\"-5\""}},
      {"max_plus", one_group("uri=\"sip:g@b\" max-participants=\"+5\""), {"max-participants"}},
      {"max_too_big", one_group("uri=\"sip:g@b\" max-participants=\"100001\""), {"max-participants=\"100001\""}},
      {"max_overflow", one_group("uri=\"sip:g@b\" max-participants=\"99999999999999999999999\""),
       {"max-participants"}},
      {"max_text", one_group("uri=\"sip:g@b\" max-participants=\"ten\""), {"max-participants"}},
      {"max_decimal", one_group("uri=\"sip:g@b\" max-participants=\"10.0\""), {"max-participants"}},
      {"max_empty", one_group("uri=\"sip:g@b\" max-participants=\"\""), {"max-participants"}},
      {"max_space", one_group("uri=\"sip:g@b\" max-participants=\" 10\""), {"max-participants"}},
      {"max_hex", one_group("uri=\"sip:g@b\" max-participants=\"0x10\""), {"max-participants"}},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    const GroupsParse p = parse_groups_xml(c.text);
    EXPECT_NE(p.error, "");
    EXPECT_TRUE(p.groups.empty()) << "groups must be empty when the file is refused";
    for (const std::string& s : c.must_contain) {
      EXPECT_NE(p.error.find(s), std::string::npos) << "error '" << p.error << "' lacks '" << s << "'";
    }
  }
}

TEST(GroupsFile, MaxParticipantsAccepted) {
  const std::pair<std::string, int> cases[] = {{"1", 1}, {"10", 10}, {"0010", 10}, {"99999", 99999}, {"100000", 100000}};
  for (const auto& [text, value] : cases) {
    SCOPED_TRACE(text);
    const GroupsParse p = parse_groups_xml(one_group("uri=\"sip:g@b\" max-participants=\"" + text + "\""));
    ASSERT_EQ(p.error, "");
    ASSERT_EQ(p.groups.size(), 1u);
    EXPECT_EQ(p.groups[0].max_participants, value);
  }
}

TEST(GroupsFile, LongAttributeValueShortenedInMessage) {
  const GroupsParse p = parse_groups_xml(one_group("uri=\"" + std::string(5000, 'x') + "\""));
  EXPECT_NE(p.error, "");
  EXPECT_LT(p.error.size(), 400u);
}

// DOCTYPEs are refused outright: no DTD, no entity declarations, no external entities.
TEST(GroupsFile, DoctypeRefused) {
  const std::string billion_laughs =
      "<?xml version=\"1.0\"?>\n"
      "<!DOCTYPE im-groups [\n"
      " <!ENTITY lol \"lol\">\n"
      " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
      " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
      " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
      " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
      " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
      " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
      " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
      " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
      " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
      "]>\n"
      "<im-groups xmlns=\"urn:example:imserver:groups:1\">\n"
      "  <group uri=\"sip:team@im.example.com\"><subject>&lol9;</subject></group>\n"
      "</im-groups>\n";
  const std::string xxe =
      "<?xml version=\"1.0\"?>\n"
      "<!DOCTYPE im-groups [ <!ENTITY xxe SYSTEM \"file:///etc/passwd\"> ]>\n"
      "<im-groups xmlns=\"urn:example:imserver:groups:1\">\n"
      "  <group uri=\"sip:team@im.example.com\"><subject>&xxe;</subject></group>\n"
      "</im-groups>\n";
  const std::string external_dtd =
      "<!DOCTYPE im-groups SYSTEM \"http://attacker.example/groups.dtd\">\n"
      "<im-groups xmlns=\"urn:example:imserver:groups:1\"/>\n";
  const std::string parameter_entity =
      "<!DOCTYPE im-groups [ <!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p; ]>\n"
      "<im-groups xmlns=\"urn:example:imserver:groups:1\"/>\n";
  const std::string entity_in_attribute =
      "<!DOCTYPE im-groups [ <!ENTITY h \"im.example.com\"> ]>\n"
      "<im-groups xmlns=\"urn:example:imserver:groups:1\"><group uri=\"sip:team@&h;\"/></im-groups>\n";
  const std::string harmless = "<!DOCTYPE im-groups>\n" + doc("<group uri=\"sip:team@im.example.com\"/>");
  const std::string quadratic =
      "<!DOCTYPE im-groups [ <!ENTITY a \"" + std::string(100000, 'a') + "\"> ]>\n" +
      doc("<group uri=\"sip:team@im.example.com\"><subject>" + [] {
        std::string s;
        for (int i = 0; i < 10000; ++i) s += "&a;";
        return s;
      }() + "</subject></group>");

  const std::pair<const char*, std::string> cases[] = {
      {"billion_laughs", billion_laughs}, {"xxe", xxe},          {"external_dtd", external_dtd},
      {"parameter_entity", parameter_entity}, {"entity_in_attribute", entity_in_attribute},
      {"harmless_doctype", harmless},    {"quadratic_blowup", quadratic},
  };
  for (const auto& [name, text] : cases) {
    SCOPED_TRACE(name);
    const auto start = std::chrono::steady_clock::now();
    const GroupsParse p = parse_groups_xml(text);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_NE(p.error.find("DOCTYPE"), std::string::npos) << p.error;
    EXPECT_TRUE(p.groups.empty());
    EXPECT_LT(elapsed, std::chrono::seconds(2));
  }
}

TEST(GroupsFile, ThousandGroupsParse) {
  std::string body;
  for (int i = 0; i < 1000; ++i) {
    const std::string n = std::to_string(i);
    body += "  <group uri=\"sip:group-" + n + "@IM.EXAMPLE.COM\" max-participants=\"" + std::to_string(i % 100 + 1) +
            "\" locked=\"" + (i % 2 ? "true" : "false") + "\">\n"
            "    <display-name>Group " + n + "</display-name>\n"
            "    <subject>Subject " + n + "</subject>\n";
    for (int m = 0; m < 20; ++m) {
      body += "    <member uri=\"sip:user-" + std::to_string((i + m) % 5000) + "@Example.com;transport=tcp\"" +
              (m == 0 ? " role=\"host\"" : "") + "/>\n";
    }
    body += "  </group>\n";
  }
  const std::string text = doc(body);
  ASSERT_GT(text.size(), 1000000u);
  const GroupsParse p = parse_groups_xml(text);
  ASSERT_EQ(p.error, "");
  ASSERT_EQ(p.groups.size(), 1000u);
  for (int i : {0, 1, 500, 999}) {
    SCOPED_TRACE(i);
    const Group& g = p.groups[static_cast<size_t>(i)];
    EXPECT_EQ(g.uri, "sip:group-" + std::to_string(i) + "@im.example.com");
    EXPECT_EQ(g.display_name, "Group " + std::to_string(i));
    EXPECT_EQ(g.max_participants, i % 100 + 1);
    EXPECT_EQ(g.locked, i % 2 == 1);
    ASSERT_EQ(g.members.size(), 20u);
    EXPECT_TRUE(g.is_host("sip:user-" + std::to_string(i) + "@example.com"));
    EXPECT_TRUE(g.is_member("sip:user-" + std::to_string(i + 19) + "@example.com"));
    EXPECT_FALSE(g.is_member("sip:user-" + std::to_string(i + 20) + "@example.com"));
  }
}

TEST(GroupsFile, TooLargeRefused) {
  const std::string text = doc(std::string(17u * 1024u * 1024u, ' '));
  const GroupsParse p = parse_groups_xml(text);
  EXPECT_NE(p.error.find("larger"), std::string::npos) << p.error;
  EXPECT_TRUE(p.groups.empty());
}

// Never crash: every prefix of the example, byte flips, and random bytes give either groups or an error.
TEST(GroupsFile, NeverCrashes) {
  for (size_t n = 0; n <= kExample.size(); ++n) {
    const GroupsParse p = parse_groups_xml(kExample.substr(0, n));
    if (!p.error.empty()) {
      EXPECT_TRUE(p.groups.empty()) << n;
    }
  }
  std::mt19937 rng(12345);
  for (int i = 0; i < 2000; ++i) {
    std::string t = kExample;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) t[rng() % t.size()] = static_cast<char>(rng() % 256);
    const GroupsParse p = parse_groups_xml(t);
    if (!p.error.empty()) {
      EXPECT_TRUE(p.groups.empty());
    }
  }
  for (int i = 0; i < 200; ++i) {
    std::string t(rng() % 512, '\0');
    for (char& c : t) c = static_cast<char>(rng() % 256);
    const GroupsParse p = parse_groups_xml(t);
    EXPECT_NE(p.error, "");
  }
  // UTF-16 with BOM is XML too; a DOCTYPE in it is still refused.
  std::string utf16 = "\xff\xfe";
  for (char c : std::string("<!DOCTYPE im-groups [<!ENTITY a \"b\">]><im-groups "
                            "xmlns=\"urn:example:imserver:groups:1\"/>")) {
    utf16 += c;
    utf16 += '\0';
  }
  EXPECT_NE(parse_groups_xml(utf16).error.find("DOCTYPE"), std::string::npos);
}

}  // namespace
