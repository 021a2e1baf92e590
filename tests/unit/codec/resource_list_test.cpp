// Tests for the RFC 4826 / RFC 5364 resource-list codec: SESSIONS.md §2.1 C6/C7, §2.2 rules 1-5, §2.4 and
// §10 E30-E33, plus TC-J02 / TC-J11 / TC-J12 shaped lists.

#include "transport/codec/resource_list.hpp"

#include <gtest/gtest.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using imserver::codec::copy_control_name;
using imserver::codec::CopyControl;
using imserver::codec::has_recipient_list_history;
using imserver::codec::Invitee;
using imserver::codec::kAnonymousUri;
using imserver::codec::ListExclude;
using imserver::codec::ListLimits;
using imserver::codec::ListParse;
using imserver::codec::parse_resource_list;
using imserver::codec::render_recipient_list_history;

constexpr const char* kHead =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\" "
    "xmlns:cp=\"urn:ietf:params:xml:ns:copycontrol\">";
constexpr const char* kTail = "</resource-lists>";

// A document whose root holds `inner` verbatim.
std::string doc(const std::string& inner) { return std::string(kHead) + inner + kTail; }
// A document with one <list> holding `entries`.
std::string list_doc(const std::string& entries) { return doc("<list>" + entries + "</list>"); }

const std::vector<std::string> kNoExclude;

struct Expect {
  std::string uri;
  CopyControl copy;
  bool anonymize = false;
};

std::string show(const std::vector<Invitee>& v) {
  std::string s;
  for (const auto& i : v) {
    s += i.uri + "(" + std::string(copy_control_name(i.copy)) + (i.anonymize ? ",anon" : "") + ") ";
  }
  return s;
}

void expect_invitees(const ListParse& p, const std::vector<Expect>& want) {
  ASSERT_EQ(p.status, 0) << p.reason << " / " << p.detail;
  ASSERT_EQ(p.invitees.size(), want.size()) << show(p.invitees);
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(p.invitees[i].uri, want[i].uri) << "entry " << i;
    EXPECT_EQ(p.invitees[i].copy, want[i].copy) << "entry " << i << " " << want[i].uri;
    EXPECT_EQ(p.invitees[i].anonymize, want[i].anonymize) << "entry " << i << " " << want[i].uri;
  }
}

// ----- §2.2 rules, table-driven ---------------------------------------------------------------------------------

struct RuleCase {
  const char* name;
  std::string xml;
  std::vector<std::string> exclude;
  std::vector<Expect> want;
};

std::vector<RuleCase> rule_cases() {
  return {
      // Rule 1: entries, nested lists, entry-ref / external ignored.
      {"SingleTo", list_doc(R"(<entry uri="sip:bob@example.com" cp:copyControl="to"/>)"), {},
       {{"sip:bob@example.com", CopyControl::To}}},
      {"NestedListsFlattenedInOrder",
       list_doc(R"(<entry uri="sip:a@x.org"/><list name="n1"><entry uri="sip:b@x.org"/>)"
                R"(<list><list><entry uri="sip:c@x.org" cp:copyControl="cc"/></list></list></list>)"
                R"(<entry uri="sip:d@x.org"/>)") +
           "",
       {},
       {{"sip:a@x.org", CopyControl::Bcc},
        {"sip:b@x.org", CopyControl::Bcc},
        {"sip:c@x.org", CopyControl::Cc},
        {"sip:d@x.org", CopyControl::Bcc}}},
      {"SeveralTopLevelLists",
       doc(R"(<list><entry uri="sip:a@x.org"/></list><list name="second"><entry uri="sip:b@x.org"/></list>)"), {},
       {{"sip:a@x.org", CopyControl::Bcc}, {"sip:b@x.org", CopyControl::Bcc}}},
      {"EntryRefAndExternalIgnored",
       list_doc(R"(<entry-ref ref="resource-lists/users/sip:joe@x.org/index/~~/resource-lists/list%5b@name=%22l1%22%5d"/>)"
                R"(<external anchor="http://xcap.x.org/resource-lists/users/sip:a@x.org/index/~~/list"/>)"
                R"(<entry uri="sip:bob@example.com" cp:copyControl="to"/>)"),
       {},
       {{"sip:bob@example.com", CopyControl::To}}},
      {"EntryOutsideAListIgnored", doc(R"(<entry uri="sip:stray@x.org"/><list><entry uri="sip:a@x.org"/></list>)"),
       {}, {{"sip:a@x.org", CopyControl::Bcc}}},
      {"EntryWithoutUriDropped", list_doc(R"(<entry/><entry uri=""/><entry uri="  "/><entry uri="sip:a@x.org"/>)"),
       {}, {{"sip:a@x.org", CopyControl::Bcc}}},
      {"EmptyListIsOk", list_doc(""), {}, {}},
      {"NoListIsOk", doc(""), {}, {}},
      {"ForeignElementsIgnored",
       list_doc(R"(<x:entry xmlns:x="urn:example:other" uri="sip:foreign@x.org"/>)"
                R"(<x:list xmlns:x="urn:example:other"><entry uri="sip:inside-foreign@x.org"/></x:list>)"
                R"(<display-name>People</display-name><!-- comment --><?pi x?>text)"
                R"(<entry uri="sip:a@x.org"><x:extra xmlns:x="urn:example:other"/></entry>)"),
       {},
       {{"sip:a@x.org", CopyControl::Bcc}}},
      // Rule 2: schemes.
      {"BadSchemesDropped",
       list_doc(R"(<entry uri="mailto:x@example.com" cp:copyControl="to"/>)"
                R"(<entry uri="http://example.com/" cp:copyControl="to"/>)"
                R"(<entry uri="im:bob@example.com"/><entry uri="pres:bob@example.com"/>)"
                R"(<entry uri="not a uri"/><entry uri="sip:"/><entry uri="bob@example.com"/>)"
                R"(<entry uri="sip:bob@example.com:99999"/>)"
                R"(<entry uri="sip:ok@example.com"/>)"),
       {},
       {{"sip:ok@example.com", CopyControl::Bcc}}},
      {"SipsAndTelKept",
       list_doc(R"(<entry uri="sips:bob@example.com" cp:copyControl="cc"/>)"
                R"(<entry uri="tel:+1-555-123-4567" cp:copyControl="to"/>)"),
       {},
       {{"sips:bob@example.com", CopyControl::Cc}, {"tel:+15551234567", CopyControl::To}}},
      {"SchemeCaseInsensitive", list_doc(R"(<entry uri="SIP:bob@example.com"/>)"), {},
       {{"sip:bob@example.com", CopyControl::Bcc}}},
      // Rule 3: canonical form, exclusions.
      {"Canonicalised",
       list_doc(R"(<entry uri=" sip:Bob@Example.COM:5061;transport=tcp?Subject=hi "/>)"
                R"(<entry uri="sip:%62ob@example.com"/>)"),
       {},
       {{"sip:Bob@example.com", CopyControl::Bcc}, {"sip:bob@example.com", CopyControl::Bcc}}},
      {"UserPhoneEqualsTel",
       list_doc(R"(<entry uri="sip:+15551234@gw.example.com;user=phone"/><entry uri="tel:+1-555-1234" cp:copyControl="cc"/>)"),
       {},
       {{"tel:+15551234", CopyControl::Cc}}},
      {"CreatorAndServerUrisExcluded",
       list_doc(R"(<entry uri="sip:alice@example.com" cp:copyControl="to"/>)"
                R"(<entry uri="sip:Alice@EXAMPLE.com;transport=udp"/>)"
                R"(<entry uri="sip:conference-factory@im.example.com"/>)"
                R"(<entry uri="sip:team@im.example.com"/>)"
                R"(<entry uri="sip:gs-1@IM.example.com"/>)"
                R"(<entry uri="sip:bob@example.com" cp:copyControl="to"/>)"),
       {"sip:alice@example.com", "sip:conference-factory@im.example.com", "sip:team@im.example.com",
        "sip:gs-1@im.example.com"},
       {{"sip:Alice@example.com", CopyControl::Bcc}, {"sip:bob@example.com", CopyControl::To}}},
      {"ExcludedTelCreator",
       list_doc(R"(<entry uri="sip:+15551234@h.example.com;user=phone"/><entry uri="sip:bob@example.com"/>)"),
       {"tel:+15551234"},
       {{"sip:bob@example.com", CopyControl::Bcc}}},
      // Rule 4: duplicates.
      {"DuplicateToWinsOverCc",
       list_doc(R"(<entry uri="sip:bob@example.com" cp:copyControl="cc"/><entry uri="sip:carol@example.com"/>)"
                R"(<entry uri="sip:bob@example.com" cp:copyControl="to"/>)"),
       {},
       {{"sip:bob@example.com", CopyControl::To}, {"sip:carol@example.com", CopyControl::Bcc}}},
      {"DuplicateToKeptOverLaterBcc",
       list_doc(R"(<entry uri="sip:bob@example.com" cp:copyControl="to"/><entry uri="sip:bob@example.com" cp:copyControl="bcc"/>)"),
       {},
       {{"sip:bob@example.com", CopyControl::To}}},
      {"DuplicateCcWinsOverBcc",
       list_doc(R"(<entry uri="sip:bob@example.com"/><list><entry uri="sip:BOB@example.com"/></list>)"
                R"(<list><entry uri="sip:bob@EXAMPLE.com;x=1" cp:copyControl="cc"/></list>)"),
       {},
       {{"sip:bob@example.com", CopyControl::Cc}, {"sip:BOB@example.com", CopyControl::Bcc}}},
      {"DuplicateAnonymizeIsSticky",
       list_doc(R"(<entry uri="sip:dan@example.com" cp:copyControl="to"/>)"
                R"(<entry uri="sip:dan@example.com" cp:copyControl="cc" cp:anonymize="true"/>)"),
       {},
       {{"sip:dan@example.com", CopyControl::To, true}}},
      // Rule 5: copyControl / anonymize attributes.
      {"DefaultIsBcc", list_doc(R"(<entry uri="sip:carol@example.com"/>)"), {},
       {{"sip:carol@example.com", CopyControl::Bcc}}},
      {"AllThreeValues",
       list_doc(R"(<entry uri="sip:a@x.org" cp:copyControl="to"/><entry uri="sip:b@x.org" cp:copyControl="cc"/>)"
                R"(<entry uri="sip:c@x.org" cp:copyControl="bcc"/>)"),
       {},
       {{"sip:a@x.org", CopyControl::To}, {"sip:b@x.org", CopyControl::Cc}, {"sip:c@x.org", CopyControl::Bcc}}},
      {"ValueCaseAndSpaceTolerated",
       list_doc(R"(<entry uri="sip:a@x.org" cp:copyControl=" TO "/><entry uri="sip:b@x.org" cp:copyControl="Cc"/>)"),
       {},
       {{"sip:a@x.org", CopyControl::To}, {"sip:b@x.org", CopyControl::Cc}}},
      {"UnknownValueIsBcc", list_doc(R"(<entry uri="sip:a@x.org" cp:copyControl="from"/>)"), {},
       {{"sip:a@x.org", CopyControl::Bcc}}},
      {"UnqualifiedAttributeIsNotCopyControl", list_doc(R"(<entry uri="sip:a@x.org" copyControl="to"/>)"), {},
       {{"sip:a@x.org", CopyControl::Bcc}}},
      {"WrongNamespaceAttributeIgnored",
       list_doc(R"(<entry xmlns:o="urn:example:other" uri="sip:a@x.org" o:copyControl="to" o:anonymize="true"/>)"),
       {},
       {{"sip:a@x.org", CopyControl::Bcc}}},
      {"AnonymizeValues",
       list_doc(R"(<entry uri="sip:a@x.org" cp:copyControl="cc" cp:anonymize="true"/>)"
                R"(<entry uri="sip:b@x.org" cp:copyControl="cc" cp:anonymize="1"/>)"
                R"(<entry uri="sip:c@x.org" cp:copyControl="cc" cp:anonymize="false"/>)"
                R"(<entry uri="sip:d@x.org" cp:copyControl="cc" cp:anonymize="yes"/>)"),
       {},
       {{"sip:a@x.org", CopyControl::Cc, true},
        {"sip:b@x.org", CopyControl::Cc, true},
        {"sip:c@x.org", CopyControl::Cc, false},
        {"sip:d@x.org", CopyControl::Cc, false}}},
      // Namespaces written differently.
      {"PrefixedResourceListsNamespace",
       "<rl:resource-lists xmlns:rl=\"urn:ietf:params:xml:ns:resource-lists\" "
       "xmlns:c=\"urn:ietf:params:xml:ns:copycontrol\"><rl:list><rl:entry uri=\"sip:a@x.org\" c:copyControl=\"to\"/>"
       "<rl:list><rl:entry uri=\"sip:b@x.org\" c:copyControl=\"cc\" c:anonymize=\"true\"/></rl:list></rl:list>"
       "</rl:resource-lists>",
       {},
       {{"sip:a@x.org", CopyControl::To}, {"sip:b@x.org", CopyControl::Cc, true}}},
      {"NamespacesDeclaredOnInnerElements",
       "<resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\"><list>"
       "<entry xmlns:cc=\"urn:ietf:params:xml:ns:copycontrol\" uri=\"sip:a@x.org\" cc:copyControl=\"to\"/></list>"
       "</resource-lists>",
       {},
       {{"sip:a@x.org", CopyControl::To}}},
      {"NoXmlDeclaration",
       "<resource-lists xmlns='urn:ietf:params:xml:ns:resource-lists'><list><entry uri='sip:a@x.org'/></list>"
       "</resource-lists>",
       {},
       {{"sip:a@x.org", CopyControl::Bcc}}},
      {"CharacterReferencesInUri", list_doc(R"(<entry uri="&#x73;ip:a&amp;b@x.org" cp:copyControl="&#116;o"/>)"),
       {}, {{"sip:a&b@x.org", CopyControl::To}}},
      // TC-J11 (SESSIONS.md §12.2): creator alice, server URI gs-9.
      {"TcJ11ListHygiene",
       list_doc(R"(<entry uri="sip:bob@example.com" cp:copyControl="to"/>)"
                R"(<entry uri="sip:bob@example.com" cp:copyControl="cc"/>)"
                R"(<entry uri="sip:carol@example.com"/>)"
                R"(<entry uri="sip:alice@example.com"/>)"
                R"(<entry uri="mailto:x@example.com"/>)"
                R"(<entry uri="sip:gs-9@im.example.com"/>)"
                R"(<entry uri="sip:dan@example.com" cp:copyControl="cc" cp:anonymize="true"/>)"),
       {"sip:alice@example.com", "sip:gs-9@im.example.com"},
       {{"sip:bob@example.com", CopyControl::To},
        {"sip:carol@example.com", CopyControl::Bcc},
        {"sip:dan@example.com", CopyControl::Cc, true}}},
  };
}

class ResourceListRules : public ::testing::TestWithParam<RuleCase> {};

TEST_P(ResourceListRules, Parses) {
  const RuleCase& c = GetParam();
  expect_invitees(parse_resource_list(c.xml, c.exclude, ListLimits{}), c.want);
}

INSTANTIATE_TEST_SUITE_P(ResourceList, ResourceListRules, ::testing::ValuesIn(rule_cases()),
                         [](const ::testing::TestParamInfo<RuleCase>& info) { return info.param.name; });

TEST(ResourceListParse, KeepsOriginalTargetAndDisplayName) {
  const auto p = parse_resource_list(
      list_doc(R"(<entry uri="  sip:Bob@Example.COM:5062;transport=tcp;method=BYE?Subject=x&amp;Route=%3Csip:evil%3E ">)"
               R"(<display-name> Bob B. </display-name></entry>)"
               R"(<entry uri="sip:bob@example.com"><display-name>Second</display-name></entry>)"
               R"(<entry uri="sip:carol@example.com"/><entry uri="sip:carol@example.com"><display-name>Carol</display-name></entry>)"),
      kNoExclude);
  ASSERT_TRUE(p.ok()) << p.detail;
  ASSERT_EQ(p.invitees.size(), 3u);
  const Invitee& bob = p.invitees[0];
  EXPECT_EQ(bob.uri, "sip:Bob@example.com");
  EXPECT_EQ(bob.original, "sip:Bob@Example.COM:5062;transport=tcp;method=BYE?Subject=x&Route=%3Csip:evil%3E");
  EXPECT_EQ(bob.target, "sip:Bob@Example.COM:5062;transport=tcp");  // no headers, no method
  EXPECT_EQ(bob.display_name, "Bob B.");
  EXPECT_EQ(p.invitees[1].display_name, "Second");
  EXPECT_EQ(p.invitees[2].uri, "sip:carol@example.com");
  EXPECT_EQ(p.invitees[2].display_name, "Carol");  // first non-empty one, from the duplicate
  EXPECT_TRUE(p.reason.empty());
  EXPECT_TRUE(p.detail.empty());
}

TEST(ResourceListParse, PredicateExcludesEveryServerIdentity) {
  const ListExclude is_server = [](const std::string& aor) {
    return aor == "sip:alice@example.com" || aor.rfind("sip:gs-", 0) == 0 || aor == "sip:conference-factory@im.example.com";
  };
  const auto p = parse_resource_list(
      list_doc(R"(<entry uri="sip:gs-9@im.example.com"/><entry uri="sip:gs-abc@im.example.com" cp:copyControl="to"/>)"
               R"(<entry uri="sip:alice@example.com"/><entry uri="sip:bob@example.com"/>)"),
      is_server);
  expect_invitees(p, {{"sip:bob@example.com", CopyControl::Bcc}});
  // An empty predicate excludes nothing.
  expect_invitees(parse_resource_list(list_doc(R"(<entry uri="sip:gs-9@im.example.com"/>)"), ListExclude{}),
                  {{"sip:gs-9@im.example.com", CopyControl::Bcc}});
}

TEST(ResourceListParse, Latin1DocumentIsConvertedToUtf8) {
  const std::string xml =
      "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"
      "<resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\"><list>"
      "<entry uri=\"sip:jose@example.com\"><display-name>Jos\xE9</display-name></entry></list></resource-lists>";
  const auto p = parse_resource_list(xml, kNoExclude);
  ASSERT_TRUE(p.ok()) << p.detail;
  ASSERT_EQ(p.invitees.size(), 1u);
  EXPECT_EQ(p.invitees[0].display_name, "Jos\xC3\xA9");
}

// ----- refusals: status codes (SESSIONS.md §2.1 C6/C7, §10 E30/E32) ------------------------------------------------

struct BadCase {
  const char* name;
  std::string xml;
  int status;
};

std::string billion_laughs() {
  std::string s = "<?xml version=\"1.0\"?><!DOCTYPE resource-lists [<!ENTITY lol \"lol\">";
  std::string prev = "lol";
  for (int i = 1; i <= 9; ++i) {
    const std::string name = "lol" + std::to_string(i);
    s += "<!ENTITY " + name + " \"";
    for (int k = 0; k < 10; ++k) s += "&" + prev + ";";
    s += "\">";
    prev = name;
  }
  s += "]><resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\"><list><entry uri=\"sip:&" + prev +
       ";@x.org\"/></list></resource-lists>";
  return s;
}

std::vector<BadCase> bad_cases() {
  return {
      {"Empty", "", 400},
      {"WhiteSpaceOnly", " \r\n\t ", 400},
      {"NotXml", "sip:bob@example.com", 400},
      {"Unclosed", std::string(kHead) + "<list><entry uri=\"sip:a@x.org\"/>", 400},
      {"MismatchedTags", std::string(kHead) + "<list></entry>" + kTail, 400},
      {"UnquotedAttribute", list_doc("<entry uri=sip:a@x.org/>"), 400},
      {"BareAmpersand", list_doc(R"(<entry uri="sip:a&b@x.org"/>)"), 400},
      {"UndeclaredPrefix", list_doc(R"(<entry uri="sip:a@x.org" zz:copyControl="to"/>)"), 400},
      {"UndeclaredEntity", list_doc(R"(<entry uri="sip:&bob;@x.org"/>)"), 400},
      {"TwoRoots", list_doc("") + "<resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\"/>", 400},
      {"TrailingGarbage", list_doc("") + "garbage", 400},
      {"InvalidUtf8", list_doc("<entry uri=\"sip:\xC3\x28@x.org\"/>"), 400},
      {"NulCharacterReference", list_doc(R"(<entry uri="sip:a&#0;@x.org"/>)"), 400},
      {"RootWithoutNamespace", "<resource-lists><list><entry uri=\"sip:a@x.org\"/></list></resource-lists>", 400},
      {"RootWrongNamespace",
       "<resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-list\"><list><entry uri=\"sip:a@x.org\"/></list>"
       "</resource-lists>",
       400},
      {"RootWrongName",
       "<list xmlns=\"urn:ietf:params:xml:ns:resource-lists\"><entry uri=\"sip:a@x.org\"/></list>", 400},
      {"ConferenceInfoRoot", "<conference-info xmlns=\"urn:ietf:params:xml:ns:conference-info\"/>", 400},
      {"PlainDoctype",
       "<?xml version=\"1.0\"?><!DOCTYPE resource-lists><resource-lists "
       "xmlns=\"urn:ietf:params:xml:ns:resource-lists\"/>",
       400},
      {"BillionLaughs", billion_laughs(), 400},
      {"ExternalEntity",
       "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
       "<resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\"><list><entry uri=\"sip:a@x.org\">"
       "<display-name>&x;</display-name></entry></list></resource-lists>",
       400},
      {"ExternalDtd",
       "<?xml version=\"1.0\"?><!DOCTYPE resource-lists SYSTEM \"http://127.0.0.1:1/x.dtd\">"
       "<resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\"/>",
       400},
      {"ParameterEntity",
       "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]>"
       "<resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\"/>",
       400},
  };
}

class ResourceListRefused : public ::testing::TestWithParam<BadCase> {};

TEST_P(ResourceListRefused, Status) {
  const BadCase& c = GetParam();
  const auto p = parse_resource_list(c.xml, kNoExclude, ListLimits{});
  EXPECT_EQ(p.status, c.status) << p.detail;
  EXPECT_FALSE(p.ok());
  EXPECT_TRUE(p.invitees.empty());
  EXPECT_EQ(p.reason, "Bad resource list");
  EXPECT_FALSE(p.detail.empty());
  for (char ch : p.detail) EXPECT_TRUE(ch >= 0x20 && ch < 0x7f) << "detail must be printable ASCII";
  for (char ch : p.reason) EXPECT_TRUE(ch >= 0x20 && ch < 0x7f);
}

INSTANTIATE_TEST_SUITE_P(ResourceList, ResourceListRefused, ::testing::ValuesIn(bad_cases()),
                         [](const ::testing::TestParamInfo<BadCase>& info) { return info.param.name; });

std::string entries(int n, const std::string& prefix = "u") {
  std::string s;
  for (int i = 0; i < n; ++i) s += "<entry uri=\"sip:" + prefix + std::to_string(i) + "@x.org\"/>";
  return s;
}

TEST(ResourceListLimits, TooManyDistinctInviteesIs403) {
  ListLimits limits;
  limits.max_entries = 4;  // TC-J12: session.max_participants=5
  expect_invitees(parse_resource_list(list_doc(entries(4)), kNoExclude, limits),
                  {{"sip:u0@x.org", CopyControl::Bcc},
                   {"sip:u1@x.org", CopyControl::Bcc},
                   {"sip:u2@x.org", CopyControl::Bcc},
                   {"sip:u3@x.org", CopyControl::Bcc}});
  const auto p = parse_resource_list(list_doc(entries(5)), kNoExclude, limits);
  EXPECT_EQ(p.status, 403);
  EXPECT_EQ(p.reason, "Too many invitees");
  EXPECT_TRUE(p.invitees.empty());
}

TEST(ResourceListLimits, CountedAfterCleanUp) {
  ListLimits limits;
  limits.max_entries = 2;
  // Duplicates, dropped schemes, the creator and server URIs do not count (C7: "after §2.2 clean-up").
  const std::string xml = list_doc(
      R"(<entry uri="sip:bob@example.com"/><entry uri="sip:bob@EXAMPLE.com;transport=tcp"/><entry uri="sip:bob@EXAMPLE.com"/>)"
      R"(<entry uri="sip:alice@example.com"/><entry uri="mailto:m@x.org"/><entry uri="sip:gs-1@im.example.com"/>)"
      R"(<entry-ref ref="a"/><external anchor="http://x/"/>)"
      R"(<entry uri="sip:bob@example.com" cp:copyControl="to"/><entry uri="tel:+1555"/>)");
  const auto p = parse_resource_list(xml, {"sip:alice@example.com", "sip:gs-1@im.example.com"}, limits);
  expect_invitees(p, {{"sip:bob@example.com", CopyControl::To}, {"tel:+1555", CopyControl::Bcc}});
  EXPECT_EQ(parse_resource_list(xml, {"sip:alice@example.com"}, limits).status, 403);

  // Thousands of copies of one URI are one invitee.
  std::string many;
  for (int i = 0; i < 1500; ++i) many += "<entry uri=\"sip:bob@example.com\"/>";
  expect_invitees(parse_resource_list(list_doc(many), kNoExclude, limits), {{"sip:bob@example.com", CopyControl::Bcc}});
}

TEST(ResourceListLimits, ZeroAllowsOnlyEmptyLists) {
  ListLimits limits;
  limits.max_entries = 0;
  EXPECT_EQ(parse_resource_list(list_doc(entries(1)), kNoExclude, limits).status, 403);
  EXPECT_TRUE(parse_resource_list(list_doc(R"(<entry uri="mailto:a@x.org"/>)"), kNoExclude, limits).ok());
}

TEST(ResourceListLimits, HugeListIs413BeforeParsing) {
  ListLimits limits;
  limits.max_bytes = 1024;
  const std::string small = list_doc(entries(5));
  ASSERT_LE(small.size(), 1024u);
  EXPECT_TRUE(parse_resource_list(small, kNoExclude, limits).ok());
  // Even garbage is refused on size alone.
  const auto p = parse_resource_list(std::string(1025, '<'), kNoExclude, limits);
  EXPECT_EQ(p.status, 413);
  EXPECT_EQ(p.reason, "Resource list too large");
  // Default limits: a 100 000-entry list is refused as too large, without building 100 000 invitees.
  const auto big = parse_resource_list(list_doc(entries(100000)), kNoExclude, ListLimits{});
  EXPECT_EQ(big.status, 413);
  // Exactly at the limit is fine.
  limits.max_bytes = small.size();
  EXPECT_TRUE(parse_resource_list(small, kNoExclude, limits).ok());
  limits.max_bytes = small.size() - 1;
  EXPECT_EQ(parse_resource_list(small, kNoExclude, limits).status, 413);
}

TEST(ResourceListLimits, DeepNestingDoesNotCrash) {
  ListLimits limits;
  limits.max_bytes = 1u << 20;
  auto nested = [](int depth) {
    std::string open, close;
    for (int i = 0; i < depth; ++i) {
      open += "<list>";
      close += "</list>";
    }
    return list_doc(open + "<entry uri=\"sip:deep@x.org\"/>" + close);
  };
  expect_invitees(parse_resource_list(nested(100), kNoExclude, limits), {{"sip:deep@x.org", CopyControl::Bcc}});
  // Beyond libxml2's default depth limit (no XML_PARSE_HUGE): refused as malformed, no stack overflow.
  EXPECT_EQ(parse_resource_list(nested(20000), kNoExclude, limits).status, 400);
}

// ----- rendering (SESSIONS.md §2.4) ---------------------------------------------------------------------------------

Invitee inv(std::string uri, CopyControl c, bool anon = false, std::string display = "") {
  Invitee i;
  i.uri = uri;
  i.target = uri;
  i.original = uri;
  i.copy = c;
  i.anonymize = anon;
  i.display_name = std::move(display);
  return i;
}

struct XmlDoc {
  std::unique_ptr<xmlDoc, void (*)(xmlDoc*)> doc{nullptr, xmlFreeDoc};
};

// Strict libxml2 parse of a rendered document (no recovery; namespace errors fail).
XmlDoc strict_parse(const std::string& s) {
  XmlDoc d;
  xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
  d.doc.reset(xmlCtxtReadMemory(ctxt, s.data(), static_cast<int>(s.size()), "r.xml", nullptr,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  if (d.doc && (!ctxt->wellFormed || !ctxt->nsWellFormed)) d.doc.reset();
  xmlFreeParserCtxt(ctxt);
  return d;
}

std::vector<std::string> xpath_strings(xmlDoc* doc, const char* expr) {
  std::vector<std::string> out;
  xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  xmlXPathRegisterNs(ctx, BAD_CAST "rl", BAD_CAST "urn:ietf:params:xml:ns:resource-lists");
  xmlXPathRegisterNs(ctx, BAD_CAST "cp", BAD_CAST "urn:ietf:params:xml:ns:copycontrol");
  xmlXPathObjectPtr obj = xmlXPathEvalExpression(BAD_CAST expr, ctx);
  if (obj && obj->nodesetval) {
    for (int i = 0; i < obj->nodesetval->nodeNr; ++i) {
      xmlChar* c = xmlNodeGetContent(obj->nodesetval->nodeTab[i]);
      out.emplace_back(c ? reinterpret_cast<const char*>(c) : "");
      xmlFree(c);
    }
  }
  xmlXPathFreeObject(obj);
  xmlXPathFreeContext(ctx);
  return out;
}

TEST(ResourceListRender, NoToOrCcMeansNoBody) {
  EXPECT_EQ(render_recipient_list_history({}), "");
  const std::vector<Invitee> bccs{inv("sip:a@x.org", CopyControl::Bcc), inv("sip:b@x.org", CopyControl::Bcc, true)};
  EXPECT_FALSE(has_recipient_list_history(bccs));
  EXPECT_EQ(render_recipient_list_history(bccs), "");
}

TEST(ResourceListRender, TcJ02TwoToEntries) {
  const std::vector<Invitee> v{inv("sip:bob@example.com", CopyControl::To), inv("sip:carol@example.com", CopyControl::To)};
  ASSERT_TRUE(has_recipient_list_history(v));
  const std::string body = render_recipient_list_history(v);
  EXPECT_EQ(body,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\" "
            "xmlns:cp=\"urn:ietf:params:xml:ns:copycontrol\"><list>"
            "<entry uri=\"sip:bob@example.com\" cp:copyControl=\"to\"/>"
            "<entry uri=\"sip:carol@example.com\" cp:copyControl=\"to\"/>"
            "</list></resource-lists>");
  auto d = strict_parse(body);
  ASSERT_TRUE(d.doc);
  EXPECT_EQ(xpath_strings(d.doc.get(), "/rl:resource-lists/rl:list/rl:entry/@uri"),
            (std::vector<std::string>{"sip:bob@example.com", "sip:carol@example.com"}));
  EXPECT_EQ(xpath_strings(d.doc.get(), "//rl:entry/@cp:copyControl"), (std::vector<std::string>{"to", "to"}));
}

TEST(ResourceListRender, TcJ11ParseThenRender) {
  const auto p = parse_resource_list(
      list_doc(R"(<entry uri="sip:bob@example.com" cp:copyControl="to"/>)"
               R"(<entry uri="sip:bob@example.com" cp:copyControl="cc"/>)"
               R"(<entry uri="sip:carol@example.com"/>)"
               R"(<entry uri="sip:alice@example.com"/><entry uri="mailto:x@example.com"/>)"
               R"(<entry uri="sip:gs-9@im.example.com"/>)"
               R"(<entry uri="sip:dan@example.com" cp:copyControl="cc" cp:anonymize="true">)"
               R"(<display-name>Dan Secret</display-name></entry>)"),
      {"sip:alice@example.com", "sip:gs-9@im.example.com"});
  ASSERT_TRUE(p.ok());
  const std::string body = render_recipient_list_history(p.invitees);
  EXPECT_EQ(body.find("dan"), std::string::npos);
  EXPECT_EQ(body.find("Dan Secret"), std::string::npos);
  EXPECT_EQ(body.find("carol"), std::string::npos);
  auto d = strict_parse(body);
  ASSERT_TRUE(d.doc);
  EXPECT_EQ(xpath_strings(d.doc.get(), "//rl:entry/@uri"),
            (std::vector<std::string>{"sip:bob@example.com", std::string(kAnonymousUri)}));
  EXPECT_EQ(xpath_strings(d.doc.get(), "//rl:entry/@cp:copyControl"), (std::vector<std::string>{"to", "cc"}));
  EXPECT_TRUE(xpath_strings(d.doc.get(), "//rl:display-name").empty());
}

TEST(ResourceListRender, RoundTripThroughOwnParser) {
  const std::vector<Invitee> v{
      inv("sip:bob@example.com", CopyControl::To, false, "Bob"),
      inv("sip:carol@example.com", CopyControl::Bcc, false, "Carol"),
      inv("tel:+15551234", CopyControl::Cc),
      inv("sips:erin@example.com", CopyControl::Cc, false, "Erin <admin> & \"co\""),
      inv("sip:dan@example.com", CopyControl::To, true, "Dan"),
      inv("sip:frank@example.com", CopyControl::Cc, true),
  };
  const std::string body = render_recipient_list_history(v);
  ASSERT_FALSE(body.empty());
  const auto back = parse_resource_list(body, kNoExclude);
  // bcc removed; both anonymized entries became the same anonymous URI, which the parser merges (to wins).
  expect_invitees(back, {{"sip:bob@example.com", CopyControl::To},
                         {"tel:+15551234", CopyControl::Cc},
                         {"sips:erin@example.com", CopyControl::Cc},
                         {std::string(kAnonymousUri), CopyControl::To}});
  EXPECT_EQ(back.invitees[0].display_name, "Bob");
  EXPECT_EQ(back.invitees[2].display_name, "Erin <admin> & \"co\"");
  EXPECT_EQ(back.invitees[3].display_name, "");
  EXPECT_FALSE(back.invitees[3].anonymize);  // the attribute is an instruction to the server, not copied on
}

TEST(ResourceListRender, UsesTargetThenCanonicalUri) {
  Invitee a = inv("sip:bob@example.com", CopyControl::To);
  a.target = "sip:Bob@Example.COM;transport=tcp";
  Invitee b = inv("sip:carol@example.com", CopyControl::Cc);
  b.target.clear();
  auto d = strict_parse(render_recipient_list_history({a, b}));
  ASSERT_TRUE(d.doc);
  EXPECT_EQ(xpath_strings(d.doc.get(), "//rl:entry/@uri"),
            (std::vector<std::string>{"sip:Bob@Example.COM;transport=tcp", "sip:carol@example.com"}));
}

TEST(ResourceListRender, EscapesOddUris) {
  const std::vector<std::string> odd{
      "sip:a&b@x.org",
      "sip:o'neil@x.org",
      "sip:x@y.org\"/><entry uri=\"sip:injected@evil.org\" cp:copyControl=\"to",
      "sip:<tag>@x.org",
      "sip:tab\there@x.org\r\n",
      "sip:j\xC3\xB6rg@x.org",
  };
  std::vector<Invitee> v;
  for (const auto& u : odd) v.push_back(inv(u, CopyControl::Cc, false, u));
  const std::string body = render_recipient_list_history(v);
  auto d = strict_parse(body);
  ASSERT_TRUE(d.doc) << body;
  EXPECT_EQ(xpath_strings(d.doc.get(), "//rl:entry/@uri"), odd);
  EXPECT_EQ(xpath_strings(d.doc.get(), "//rl:entry/rl:display-name"), odd);
  EXPECT_EQ(xpath_strings(d.doc.get(), "count(//rl:entry)").size(), 0u);  // number, not a node set
  EXPECT_EQ(xpath_strings(d.doc.get(), "//rl:entry").size(), odd.size());

  // Parsing it back keeps the valid SIP URIs (a&b, o'neil, j%C3%B6rg-style raw UTF-8 may or may not parse).
  const auto back = parse_resource_list(body, kNoExclude);
  ASSERT_TRUE(back.ok()) << back.detail;
  ASSERT_GE(back.invitees.size(), 2u);
  EXPECT_EQ(back.invitees[0].uri, "sip:a&b@x.org");
  EXPECT_EQ(back.invitees[1].uri, "sip:o'neil@x.org");
  for (const auto& i : back.invitees) EXPECT_NE(i.uri, "sip:injected@evil.org");
}

TEST(ResourceListRender, CopyControlNames) {
  EXPECT_EQ(copy_control_name(CopyControl::To), "to");
  EXPECT_EQ(copy_control_name(CopyControl::Cc), "cc");
  EXPECT_EQ(copy_control_name(CopyControl::Bcc), "bcc");
}

}  // namespace
