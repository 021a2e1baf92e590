// Tests for the RFC 4575 conference-info renderer. Every rendered document is parsed with libxml2 (strict: no
// recovery, namespace well-formedness required) and checked with namespace-aware XPath, and the PROTOCOL.md §4.4 /
// SESSIONS.md §2.6 examples are compared element by element with what the docs print.

#include "transport/codec/conference_info.hpp"

#include <gtest/gtest.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using imserver::codec::ConfDescription;
using imserver::codec::ConfEndpoint;
using imserver::codec::ConferenceInfo;
using imserver::codec::ConfMedia;
using imserver::codec::ConfStateBlock;
using imserver::codec::ConfUri;
using imserver::codec::ConfUser;
using imserver::codec::ElementState;
using imserver::codec::render_conference_info;
using imserver::codec::xml_escape;

constexpr const char* kNs = "urn:ietf:params:xml:ns:conference-info";
constexpr const char* kDecl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";

std::string to_std(const xmlChar* s) { return s ? std::string(reinterpret_cast<const char*>(s)) : std::string(); }

// ----- libxml2 harness ------------------------------------------------------------------------------------------

class Xml {
 public:
  explicit Xml(const std::string& text, bool quiet = false) {
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    int opts = XML_PARSE_NONET;
    if (quiet) opts |= XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
    doc_ = xmlCtxtReadMemory(ctxt, text.data(), static_cast<int>(text.size()), "conference-info.xml", nullptr, opts);
    ok_ = doc_ != nullptr && ctxt->wellFormed && ctxt->nsWellFormed;
    xmlFreeParserCtxt(ctxt);
    if (doc_) {
      xp_ = xmlXPathNewContext(doc_);
      xmlXPathRegisterNs(xp_, BAD_CAST "ci", BAD_CAST kNs);
    }
  }
  ~Xml() {
    if (xp_) xmlXPathFreeContext(xp_);
    if (doc_) xmlFreeDoc(doc_);
  }
  Xml(const Xml&) = delete;
  Xml& operator=(const Xml&) = delete;

  bool ok() const { return ok_; }
  xmlNodePtr root() const { return xmlDocGetRootElement(doc_); }

  // string(expr) — text of the first node, or "" when nothing matches.
  std::string str(const std::string& expr) const {
    xmlXPathObjectPtr o = eval("string(" + expr + ")");
    if (!o) return "<xpath error>";
    xmlChar* s = xmlXPathCastToString(o);
    std::string out = to_std(s);
    xmlFree(s);
    xmlXPathFreeObject(o);
    return out;
  }

  int count(const std::string& expr) const {
    xmlXPathObjectPtr o = eval("count(" + expr + ")");
    if (!o) return -1;
    const int n = static_cast<int>(xmlXPathCastToNumber(o));
    xmlXPathFreeObject(o);
    return n;
  }

  // Local names of the element children of the first node matching expr.
  std::vector<std::string> children(const std::string& expr) const {
    std::vector<std::string> out;
    xmlXPathObjectPtr o = eval(expr);
    if (!o) return {"<xpath error>"};
    if (o->type == XPATH_NODESET && o->nodesetval && o->nodesetval->nodeNr > 0)
      for (xmlNodePtr c = o->nodesetval->nodeTab[0]->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE) out.push_back(to_std(c->name));
    xmlXPathFreeObject(o);
    return out;
  }

  // Names of the attributes of the first node matching expr, in document order.
  std::vector<std::string> attributes(const std::string& expr) const {
    std::vector<std::string> out;
    xmlXPathObjectPtr o = eval(expr);
    if (!o) return {"<xpath error>"};
    if (o->type == XPATH_NODESET && o->nodesetval && o->nodesetval->nodeNr > 0)
      for (xmlAttrPtr a = o->nodesetval->nodeTab[0]->properties; a; a = a->next) out.push_back(to_std(a->name));
    xmlXPathFreeObject(o);
    return out;
  }

 private:
  xmlXPathObjectPtr eval(const std::string& expr) const {
    if (!xp_) return nullptr;
    return xmlXPathEvalExpression(BAD_CAST expr.c_str(), xp_);
  }

  xmlDocPtr doc_ = nullptr;
  xmlXPathContextPtr xp_ = nullptr;
  bool ok_ = false;
};

// A canonical, whitespace-insensitive dump of an element tree: {ns}name[attr=value ...](children | "text").
// Text nodes made only of white space (the indentation of the doc examples) are skipped; attributes are sorted.
void canon(xmlNodePtr n, std::string& out) {
  out += '{';
  if (n->ns) out += to_std(n->ns->href);
  out += '}';
  out += to_std(n->name);
  std::vector<std::pair<std::string, std::string>> attrs;
  for (xmlAttrPtr a = n->properties; a; a = a->next) {
    xmlChar* v = xmlNodeGetContent(reinterpret_cast<xmlNodePtr>(a));
    attrs.emplace_back(to_std(a->name), to_std(v));
    xmlFree(v);
  }
  std::sort(attrs.begin(), attrs.end());
  out += '[';
  for (const auto& [k, v] : attrs) out += k + "=\"" + v + "\" ";
  out += "](";
  for (xmlNodePtr c = n->children; c; c = c->next) {
    if (c->type == XML_ELEMENT_NODE) {
      canon(c, out);
    } else if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
      if (xmlIsBlankNode(c)) continue;
      out += '"' + to_std(c->content) + '"';
    }
  }
  out += ')';
}

std::string canon(const Xml& x) {
  std::string out;
  if (x.ok()) canon(x.root(), out);
  return out;
}

// Parses both and compares the element trees.
void expect_same_tree(const std::string& rendered, const std::string& expected) {
  Xml a(rendered), b(expected);
  ASSERT_TRUE(a.ok()) << rendered;
  ASSERT_TRUE(b.ok()) << "bad expected document:\n" << expected;
  EXPECT_EQ(canon(a), canon(b)) << "rendered:\n" << rendered;
}

// ----- fixtures: PROTOCOL.md §4.4 (session sip:gs-1@im.example.com) ---------------------------------------------

ConfEndpoint connected(std::string entity, std::string method) {
  ConfEndpoint e;
  e.entity = std::move(entity);
  e.status = "connected";
  e.joining_method = std::move(method);
  e.media.push_back(ConfMedia{});
  return e;
}

ConfEndpoint departed(std::string entity, std::string when, ElementState st = ElementState::Partial) {
  ConfEndpoint e;
  e.entity = std::move(entity);
  e.state = st;
  e.status = "disconnected";
  e.disconnection_method = "departed";
  e.disconnection_when = std::move(when);
  return e;
}

ConfEndpoint booted(std::string entity, std::string when, std::string by = "") {
  ConfEndpoint e;
  e.entity = std::move(entity);
  e.state = ElementState::Partial;
  e.status = "disconnected";
  e.disconnection_method = "booted";
  e.disconnection_when = std::move(when);
  e.disconnection_by = std::move(by);
  return e;
}

ConfUser user(std::string entity, ElementState st, std::vector<ConfEndpoint> eps) {
  ConfUser u;
  u.entity = std::move(entity);
  u.state = st;
  u.endpoints = std::move(eps);
  return u;
}

ConferenceInfo partial_doc(std::string entity, uint32_t version, uint32_t user_count, bool active = true) {
  ConferenceInfo ci;
  ci.entity = std::move(entity);
  ci.state = ElementState::Partial;
  ci.version = version;
  ci.conference_state = ConfStateBlock{user_count, active, false};
  ci.has_users = true;
  ci.users_state = ElementState::Partial;
  return ci;
}

// Example 1 of PROTOCOL.md §4.4, verbatim.
const std::string kExample1 = R"(<?xml version="1.0" encoding="UTF-8"?>
<conference-info xmlns="urn:ietf:params:xml:ns:conference-info"
                 entity="sip:gs-1@im.example.com" state="partial" version="7">
  <conference-state>
    <user-count>3</user-count>
    <active>true</active>
    <locked>false</locked>
  </conference-state>
  <users state="partial">
    <user entity="sip:carol@example.com" state="partial">
      <endpoint entity="sip:carol@198.51.100.30:5060" state="partial">
        <status>disconnected</status>
        <disconnection-method>departed</disconnection-method>
        <disconnection-info>
          <when>2025-01-15T10:15:30Z</when>
        </disconnection-info>
      </endpoint>
    </user>
  </users>
</conference-info>
)";

// Example 2: Example 1 with the endpoint printed in PROTOCOL.md §4.4 example 2.
const std::string kExample2 = R"(<?xml version="1.0" encoding="UTF-8"?>
<conference-info xmlns="urn:ietf:params:xml:ns:conference-info"
                 entity="sip:gs-1@im.example.com" state="partial" version="7">
  <conference-state>
    <user-count>3</user-count>
    <active>true</active>
    <locked>false</locked>
  </conference-state>
  <users state="partial">
    <user entity="sip:carol@example.com" state="partial">
      <endpoint entity="sip:carol@198.51.100.30:5060" state="partial">
        <status>disconnected</status>
        <disconnection-method>booted</disconnection-method>
        <disconnection-info>
          <when>2025-01-15T10:15:31Z</when>
          <by>sip:carol@example.com</by>
        </disconnection-info>
      </endpoint>
    </user>
  </users>
</conference-info>
)";

const std::string kExample3 = R"(<?xml version="1.0" encoding="UTF-8"?>
<conference-info xmlns="urn:ietf:params:xml:ns:conference-info"
                 entity="sip:gs-1@im.example.com" state="partial" version="8">
  <conference-state>
    <user-count>2</user-count>
    <active>true</active>
    <locked>false</locked>
  </conference-state>
  <users state="partial">
    <user entity="sip:carol@example.com" state="deleted"/>
    <user entity="sip:dan@example.com" state="partial">
      <endpoint entity="sip:dan@198.51.100.40:5060" state="partial">
        <status>disconnected</status>
        <disconnection-method>departed</disconnection-method>
        <disconnection-info>
          <when>2025-01-15T10:20:02Z</when>
        </disconnection-info>
      </endpoint>
    </user>
  </users>
</conference-info>
)";

const std::string kExample4 = R"(<?xml version="1.0" encoding="UTF-8"?>
<conference-info xmlns="urn:ietf:params:xml:ns:conference-info"
                 entity="sip:gs-1@im.example.com" state="full" version="7">
  <conference-description>
    <subject>Project sync</subject>
    <conf-uris>
      <entry>
        <uri>sip:gs-1@im.example.com</uri>
        <purpose>participation</purpose>
      </entry>
    </conf-uris>
  </conference-description>
  <conference-state>
    <user-count>3</user-count>
    <active>true</active>
    <locked>false</locked>
  </conference-state>
  <users>
    <user entity="sip:alice@example.com">
      <endpoint entity="sip:alice@198.51.100.10:5060">
        <status>connected</status>
        <joining-method>dialed-in</joining-method>
        <media id="1"><type>message</type><status>sendrecv</status></media>
      </endpoint>
    </user>
    <user entity="sip:bob@example.com">
      <endpoint entity="sip:bob@198.51.100.20:5060">
        <status>connected</status>
        <joining-method>dialed-out</joining-method>
        <media id="1"><type>message</type><status>sendrecv</status></media>
      </endpoint>
    </user>
    <user entity="sip:dan@example.com">
      <endpoint entity="sip:dan@198.51.100.40:5060">
        <status>connected</status>
        <joining-method>dialed-out</joining-method>
        <media id="1"><type>message</type><status>sendrecv</status></media>
      </endpoint>
    </user>
    <user entity="sip:carol@example.com">
      <endpoint entity="sip:carol@198.51.100.30:5060">
        <status>disconnected</status>
        <joining-method>dialed-out</joining-method>
        <disconnection-method>departed</disconnection-method>
        <disconnection-info>
          <when>2025-01-15T10:15:30Z</when>
        </disconnection-info>
      </endpoint>
    </user>
  </users>
</conference-info>
)";

const std::string kExample5Roster = R"(<?xml version="1.0" encoding="UTF-8"?>
<conference-info xmlns="urn:ietf:params:xml:ns:conference-info"
                 entity="sip:gs-2@im.example.com" state="partial" version="12">
  <conference-state>
    <user-count>0</user-count>
    <active>false</active>
    <locked>false</locked>
  </conference-state>
  <users state="partial">
    <user entity="sip:bob@example.com" state="partial">
      <endpoint entity="sip:bob@198.51.100.20:5060" state="partial">
        <status>disconnected</status>
        <disconnection-method>departed</disconnection-method>
        <disconnection-info><when>2025-01-15T11:00:00Z</when></disconnection-info>
      </endpoint>
    </user>
    <user entity="sip:alice@example.com" state="partial">
      <endpoint entity="sip:alice@198.51.100.10:5060" state="partial">
        <status>disconnected</status>
        <disconnection-method>booted</disconnection-method>
        <disconnection-info><when>2025-01-15T11:00:00Z</when></disconnection-info>
      </endpoint>
    </user>
  </users>
</conference-info>
)";

const std::string kExample5Deleted =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<conference-info xmlns=\"urn:ietf:params:xml:ns:conference-info\" entity=\"sip:gs-2@im.example.com\" "
    "state=\"deleted\" version=\"12\"/>";

ConferenceInfo example1() {
  ConferenceInfo ci = partial_doc("sip:gs-1@im.example.com", 7, 3);
  ci.users.push_back(user("sip:carol@example.com", ElementState::Partial,
                          {departed("sip:carol@198.51.100.30:5060", "2025-01-15T10:15:30Z")}));
  return ci;
}

ConferenceInfo example4() {
  ConferenceInfo ci;
  ci.entity = "sip:gs-1@im.example.com";
  ci.state = ElementState::Full;
  ci.version = 7;
  ConfDescription d;
  d.subject = "Project sync";
  d.conf_uris.push_back(ConfUri{"sip:gs-1@im.example.com", "participation"});
  ci.description = d;
  ci.conference_state = ConfStateBlock{3, true, false};
  ci.has_users = true;
  ci.users.push_back(user("sip:alice@example.com", ElementState::Unset,
                          {connected("sip:alice@198.51.100.10:5060", "dialed-in")}));
  ci.users.push_back(user("sip:bob@example.com", ElementState::Unset,
                          {connected("sip:bob@198.51.100.20:5060", "dialed-out")}));
  ci.users.push_back(user("sip:dan@example.com", ElementState::Unset,
                          {connected("sip:dan@198.51.100.40:5060", "dialed-out")}));
  ConfEndpoint carol = departed("sip:carol@198.51.100.30:5060", "2025-01-15T10:15:30Z", ElementState::Unset);
  carol.joining_method = "dialed-out";
  ci.users.push_back(user("sip:carol@example.com", ElementState::Unset, {carol}));
  return ci;
}

// ----- PROTOCOL.md §4.4 examples ---------------------------------------------------------------------------------

TEST(ConferenceInfo, Example1PartialDeparture) {
  const std::string out = render_conference_info(example1());
  ASSERT_EQ(out.rfind(kDecl, 0), 0u) << out;
  expect_same_tree(out, kExample1);

  Xml x(out);
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x.str("/ci:conference-info/@entity"), "sip:gs-1@im.example.com");
  EXPECT_EQ(x.str("/ci:conference-info/@state"), "partial");
  EXPECT_EQ(x.str("/ci:conference-info/@version"), "7");
  EXPECT_EQ(x.children("/ci:conference-info"), (std::vector<std::string>{"conference-state", "users"}));
  EXPECT_EQ(x.children("/ci:conference-info/ci:conference-state"),
            (std::vector<std::string>{"user-count", "active", "locked"}));
  EXPECT_EQ(x.str("/ci:conference-info/ci:conference-state/ci:user-count"), "3");
  EXPECT_EQ(x.str("/ci:conference-info/ci:users/@state"), "partial");
  const std::string ep = "/ci:conference-info/ci:users/ci:user[@entity='sip:carol@example.com']/ci:endpoint";
  EXPECT_EQ(x.str(ep + "/../@state"), "partial");
  EXPECT_EQ(x.str(ep + "/@entity"), "sip:carol@198.51.100.30:5060");
  EXPECT_EQ(x.str(ep + "/@state"), "partial");
  EXPECT_EQ(x.children(ep), (std::vector<std::string>{"status", "disconnection-method", "disconnection-info"}));
  EXPECT_EQ(x.str(ep + "/ci:status"), "disconnected");
  EXPECT_EQ(x.str(ep + "/ci:disconnection-method"), "departed");
  EXPECT_EQ(x.str(ep + "/ci:disconnection-info/ci:when"), "2025-01-15T10:15:30Z");
  EXPECT_EQ(x.count("//ci:media"), 0);
  EXPECT_EQ(x.count("//ci:conference-description"), 0);
}

TEST(ConferenceInfo, Example2PartialBootedByRefer) {
  ConferenceInfo ci = example1();
  ci.users[0].endpoints[0] = booted("sip:carol@198.51.100.30:5060", "2025-01-15T10:15:31Z", "sip:carol@example.com");
  const std::string out = render_conference_info(ci);
  expect_same_tree(out, kExample2);

  Xml x(out);
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x.str("//ci:endpoint/ci:disconnection-method"), "booted");
  EXPECT_EQ(x.children("//ci:endpoint/ci:disconnection-info"), (std::vector<std::string>{"when", "by"}));
  EXPECT_EQ(x.str("//ci:endpoint/ci:disconnection-info/ci:by"), "sip:carol@example.com");
}

TEST(ConferenceInfo, Example3PurgeIsSelfClosingDeletedUser) {
  ConferenceInfo ci = partial_doc("sip:gs-1@im.example.com", 8, 2);
  ConfUser carol;
  carol.entity = "sip:carol@example.com";
  carol.state = ElementState::Deleted;
  // Content on a deleted element is never rendered (RFC 4575 §4.4).
  carol.display_text = "ignored";
  carol.endpoints.push_back(departed("sip:carol@198.51.100.30:5060", "2025-01-15T10:15:30Z"));
  ci.users.push_back(carol);
  ci.users.push_back(user("sip:dan@example.com", ElementState::Partial,
                          {departed("sip:dan@198.51.100.40:5060", "2025-01-15T10:20:02Z")}));
  const std::string out = render_conference_info(ci);
  expect_same_tree(out, kExample3);
  EXPECT_NE(out.find("<user entity=\"sip:carol@example.com\" state=\"deleted\"/>"), std::string::npos) << out;

  Xml x(out);
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x.str("/ci:conference-info/@version"), "8");
  EXPECT_EQ(x.count("/ci:conference-info/ci:users/ci:user"), 2);
  EXPECT_EQ(x.str("/ci:conference-info/ci:users/ci:user[1]/@entity"), "sip:carol@example.com");
  EXPECT_EQ(x.str("/ci:conference-info/ci:users/ci:user[1]/@state"), "deleted");
  EXPECT_EQ(x.count("/ci:conference-info/ci:users/ci:user[1]/node()"), 0);
  EXPECT_EQ(x.str("/ci:conference-info/ci:users/ci:user[2]/ci:endpoint/ci:disconnection-info/ci:when"),
            "2025-01-15T10:20:02Z");
}

TEST(ConferenceInfo, Example4FullDocument) {
  const std::string out = render_conference_info(example4());
  ASSERT_EQ(out.rfind(kDecl, 0), 0u) << out;
  expect_same_tree(out, kExample4);

  Xml x(out);
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x.attributes("/ci:conference-info"), (std::vector<std::string>{"entity", "state", "version"}));
  EXPECT_EQ(x.str("/ci:conference-info/@state"), "full");
  EXPECT_EQ(x.children("/ci:conference-info"),
            (std::vector<std::string>{"conference-description", "conference-state", "users"}));
  EXPECT_EQ(x.children("/ci:conference-info/ci:conference-description"),
            (std::vector<std::string>{"subject", "conf-uris"}));
  EXPECT_EQ(x.str("//ci:conference-description/ci:subject"), "Project sync");
  EXPECT_EQ(x.children("//ci:conf-uris/ci:entry"), (std::vector<std::string>{"uri", "purpose"}));
  EXPECT_EQ(x.str("//ci:conf-uris/ci:entry/ci:uri"), "sip:gs-1@im.example.com");
  EXPECT_EQ(x.str("//ci:conf-uris/ci:entry/ci:purpose"), "participation");
  // Full document: no state on <users>, <user>, <endpoint> (absent = full, RFC 4575 §4.4).
  EXPECT_EQ(x.count("/ci:conference-info/ci:users/@state"), 0);
  EXPECT_EQ(x.count("//ci:user/@state | //ci:endpoint/@state"), 0);
  EXPECT_EQ(x.count("//ci:user"), 4);
  EXPECT_EQ(x.str("//ci:user[4]/@entity"), "sip:carol@example.com");
  const std::string alice = "//ci:user[@entity='sip:alice@example.com']/ci:endpoint";
  EXPECT_EQ(x.children(alice), (std::vector<std::string>{"status", "joining-method", "media"}));
  EXPECT_EQ(x.str(alice + "/ci:joining-method"), "dialed-in");
  EXPECT_EQ(x.str(alice + "/ci:media/@id"), "1");
  EXPECT_EQ(x.children(alice + "/ci:media"), (std::vector<std::string>{"type", "status"}));
  EXPECT_EQ(x.str(alice + "/ci:media/ci:type"), "message");
  EXPECT_EQ(x.str(alice + "/ci:media/ci:status"), "sendrecv");
  const std::string carol = "//ci:user[@entity='sip:carol@example.com']/ci:endpoint";
  EXPECT_EQ(x.children(carol), (std::vector<std::string>{"status", "joining-method", "disconnection-method",
                                                         "disconnection-info"}));
}

TEST(ConferenceInfo, Example5FinalBodyRoster) {
  ConferenceInfo ci = partial_doc("sip:gs-2@im.example.com", 12, 0, /*active=*/false);
  ci.users.push_back(user("sip:bob@example.com", ElementState::Partial,
                          {departed("sip:bob@198.51.100.20:5060", "2025-01-15T11:00:00Z")}));
  ci.users.push_back(user("sip:alice@example.com", ElementState::Partial,
                          {booted("sip:alice@198.51.100.10:5060", "2025-01-15T11:00:00Z")}));
  const std::string out = render_conference_info(ci);
  expect_same_tree(out, kExample5Roster);

  Xml x(out);
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x.str("//ci:conference-state/ci:active"), "false");
  EXPECT_EQ(x.str("//ci:conference-state/ci:locked"), "false");
  EXPECT_EQ(x.str("//ci:conference-state/ci:user-count"), "0");
  EXPECT_EQ(x.str("//ci:user[1]//ci:disconnection-method"), "departed");
  EXPECT_EQ(x.str("//ci:user[2]//ci:disconnection-method"), "booted");
  EXPECT_EQ(x.count("//ci:disconnection-info/ci:by"), 0);
}

TEST(ConferenceInfo, Example5FinalBodyDeletedIsBareRoot) {
  // Whatever else is filled in, a deleted root has no children (RFC 4575 §4.6; PROTOCOL.md TC-N06).
  ConferenceInfo ci = example4();
  ci.entity = "sip:gs-2@im.example.com";
  ci.state = ElementState::Deleted;
  ci.version = 12;
  const std::string out = render_conference_info(ci);
  EXPECT_EQ(out, kExample5Deleted);
  expect_same_tree(out, kExample5Deleted);

  Xml x(out);
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x.str("/ci:conference-info/@state"), "deleted");
  EXPECT_EQ(x.str("/ci:conference-info/@version"), "12");
  EXPECT_EQ(x.count("/ci:conference-info/node()"), 0);
}

// ----- SESSIONS.md §2.6 examples (invitations) -------------------------------------------------------------------

TEST(ConferenceInfo, SessionsJ1FirstFullDocumentWithInvitees) {
  const std::string expected = R"(<?xml version="1.0" encoding="UTF-8"?>
<conference-info xmlns="urn:ietf:params:xml:ns:conference-info"
                 entity="sip:gs-1@im.example.com" state="full" version="0">
  <conference-description>
    <subject>Project sync</subject>
    <conf-uris>
      <entry><uri>sip:gs-1@im.example.com</uri><purpose>participation</purpose></entry>
    </conf-uris>
    <maximum-user-count>5</maximum-user-count>
  </conference-description>
  <conference-state>
    <user-count>1</user-count>
    <active>true</active>
    <locked>false</locked>
  </conference-state>
  <users>
    <user entity="sip:alice@example.com">
      <endpoint entity="sip:alice@198.51.100.10:5060">
        <status>connected</status>
        <joining-method>dialed-in</joining-method>
        <joining-info><when>2025-01-15T10:00:00Z</when></joining-info>
        <media id="1"><type>message</type><status>sendrecv</status></media>
      </endpoint>
    </user>
    <user entity="sip:bob@example.com">
      <endpoint entity="sip:bob@example.com">
        <referred><by>sip:alice@example.com</by></referred>
        <status>dialing-out</status>
      </endpoint>
    </user>
    <user entity="sip:carol@example.com">
      <endpoint entity="sip:carol@example.com">
        <referred><by>sip:alice@example.com</by></referred>
        <status>dialing-out</status>
      </endpoint>
    </user>
  </users>
</conference-info>
)";
  ConferenceInfo ci;
  ci.entity = "sip:gs-1@im.example.com";
  ci.version = 0;
  ConfDescription d;
  d.subject = "Project sync";
  d.conf_uris.push_back(ConfUri{"sip:gs-1@im.example.com", "participation"});
  d.maximum_user_count = 5;
  ci.description = d;
  ci.conference_state = ConfStateBlock{1, true, false};
  ci.has_users = true;
  ConfEndpoint alice = connected("sip:alice@198.51.100.10:5060", "dialed-in");
  alice.joining_when = "2025-01-15T10:00:00Z";
  ci.users.push_back(user("sip:alice@example.com", ElementState::Unset, {alice}));
  for (const char* who : {"sip:bob@example.com", "sip:carol@example.com"}) {
    ConfEndpoint e;
    e.entity = who;
    e.referred_by = "sip:alice@example.com";
    e.status = "dialing-out";
    ci.users.push_back(user(who, ElementState::Unset, {e}));
  }
  const std::string out = render_conference_info(ci);
  expect_same_tree(out, expected);

  Xml x(out);
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x.children("//ci:conference-description"),
            (std::vector<std::string>{"subject", "conf-uris", "maximum-user-count"}));
  EXPECT_EQ(x.str("//ci:maximum-user-count"), "5");
  EXPECT_EQ(x.children("//ci:user[@entity='sip:alice@example.com']/ci:endpoint"),
            (std::vector<std::string>{"status", "joining-method", "joining-info", "media"}));
  EXPECT_EQ(x.children("//ci:user[@entity='sip:bob@example.com']/ci:endpoint"),
            (std::vector<std::string>{"referred", "status"}));
  EXPECT_EQ(x.str("//ci:user[@entity='sip:bob@example.com']/ci:endpoint/ci:referred/ci:by"), "sip:alice@example.com");
}

TEST(ConferenceInfo, SessionsJ2AndJ3InviteeOutcomes) {
  // J2: the provisional endpoint is deleted and the real one added with state="full".
  const std::string j2 = R"(<conference-info xmlns="urn:ietf:params:xml:ns:conference-info"
                 entity="sip:gs-1@im.example.com" state="partial" version="1">
  <conference-state>
    <user-count>2</user-count><active>true</active><locked>false</locked>
  </conference-state>
  <users state="partial">
    <user entity="sip:bob@example.com" state="partial">
      <endpoint entity="sip:bob@example.com" state="deleted"/>
      <endpoint entity="sip:bob@198.51.100.20:5060" state="full">
        <referred><by>sip:alice@example.com</by></referred>
        <status>connected</status>
        <joining-method>dialed-out</joining-method>
        <joining-info><when>2025-01-15T10:00:04Z</when></joining-info>
        <media id="1"><type>message</type><status>sendrecv</status></media>
      </endpoint>
    </user>
  </users>
</conference-info>)";
  ConferenceInfo ci = partial_doc("sip:gs-1@im.example.com", 1, 2);
  ConfEndpoint provisional;
  provisional.entity = "sip:bob@example.com";
  provisional.state = ElementState::Deleted;
  provisional.status = "dialing-out";  // never rendered: deleted elements are empty
  ConfEndpoint real = connected("sip:bob@198.51.100.20:5060", "dialed-out");
  real.state = ElementState::Full;
  real.referred_by = "sip:alice@example.com";
  real.joining_when = "2025-01-15T10:00:04Z";
  ci.users.push_back(user("sip:bob@example.com", ElementState::Partial, {provisional, real}));
  const std::string out = render_conference_info(ci);
  expect_same_tree(out, j2);
  EXPECT_NE(out.find("<endpoint entity=\"sip:bob@example.com\" state=\"deleted\"/>"), std::string::npos) << out;

  // J3: declined invitation, reason before by in <disconnection-info> (RFC 4575 execution-type: when, reason, by).
  ConfEndpoint carol;
  carol.entity = "sip:carol@example.com";
  carol.state = ElementState::Partial;
  carol.status = "disconnected";
  carol.disconnection_method = "failed";
  carol.disconnection_when = "2025-01-15T10:00:05Z";
  carol.disconnection_reason = "Reason: SIP;cause=603;text=\"Decline\"";
  carol.disconnection_by = "sip:focus@im.example.com";
  ConferenceInfo ci3 = partial_doc("sip:gs-1@im.example.com", 2, 1);
  ci3.users.push_back(user("sip:carol@example.com", ElementState::Partial, {carol}));
  const std::string out3 = render_conference_info(ci3);
  Xml x(out3);
  ASSERT_TRUE(x.ok()) << out3;
  EXPECT_EQ(x.children("//ci:endpoint/ci:disconnection-info"), (std::vector<std::string>{"when", "reason", "by"}));
  EXPECT_EQ(x.str("//ci:endpoint/ci:disconnection-info/ci:reason"), "Reason: SIP;cause=603;text=\"Decline\"");
  EXPECT_EQ(x.str("//ci:endpoint/ci:disconnection-method"), "failed");
}

// ----- structure rules ----------------------------------------------------------------------------------------

TEST(ConferenceInfo, EndpointChildOrderWithEverySlotFilled) {
  ConfEndpoint e = connected("sip:x@192.0.2.1", "dialed-out");
  e.state = ElementState::Full;
  e.display_text = "X's phone";
  e.referred_by = "sip:alice@example.com";
  e.joining_when = "2025-01-15T10:00:00Z";
  e.disconnection_method = "booted";
  e.disconnection_when = "2025-01-15T10:05:00Z";
  e.disconnection_reason = "kicked";
  e.disconnection_by = "sip:alice@example.com";
  e.media.push_back(ConfMedia{"2", "message", "recvonly"});
  ConfUser u = user("sip:x@example.com", ElementState::Full, {e});
  u.display_text = "X";
  ConferenceInfo ci;
  ci.entity = "sip:gs-9@im.example.com";
  ci.description = ConfDescription{};
  ci.conference_state = ConfStateBlock{};
  ci.has_users = true;
  ci.users.push_back(u);
  const std::string out = render_conference_info(ci);
  Xml x(out);
  ASSERT_TRUE(x.ok()) << out;
  EXPECT_EQ(x.children("//ci:endpoint"),
            (std::vector<std::string>{"display-text", "referred", "status", "joining-method", "joining-info",
                                      "disconnection-method", "disconnection-info", "media", "media"}));
  EXPECT_EQ(x.children("//ci:user"), (std::vector<std::string>{"display-text", "endpoint"}));
  EXPECT_EQ(x.children("//ci:endpoint/ci:disconnection-info"), (std::vector<std::string>{"when", "reason", "by"}));
  EXPECT_EQ(x.str("//ci:endpoint/ci:referred/ci:by"), "sip:alice@example.com");
  EXPECT_EQ(x.str("//ci:endpoint/ci:joining-info/ci:when"), "2025-01-15T10:00:00Z");
  EXPECT_EQ(x.str("//ci:endpoint/ci:disconnection-info/ci:reason"), "kicked");
  EXPECT_LT(out.capacity(), out.size() * 5 / 4) << "size estimate too small: the buffer was regrown";
  EXPECT_EQ(x.str("//ci:user/ci:display-text"), "X");
  EXPECT_EQ(x.str("//ci:endpoint/ci:display-text"), "X's phone");
  EXPECT_EQ(x.str("//ci:endpoint/@state"), "full");
  EXPECT_EQ(x.str("//ci:user/@state"), "full");
  EXPECT_EQ(x.str("//ci:endpoint/ci:media[2]/@id"), "2");
  EXPECT_EQ(x.str("//ci:endpoint/ci:media[2]/ci:status"), "recvonly");
  // Empty description is rendered, empty (full documents must carry it, RFC 4575 §5.2 per PROTOCOL.md §4.2).
  EXPECT_EQ(x.count("/ci:conference-info/ci:conference-description"), 1);
  EXPECT_EQ(x.count("/ci:conference-info/ci:conference-description/*"), 0);
  // Defaults of ConfStateBlock.
  EXPECT_EQ(x.str("//ci:conference-state/ci:user-count"), "0");
  EXPECT_EQ(x.str("//ci:conference-state/ci:active"), "true");
  EXPECT_EQ(x.str("//ci:conference-state/ci:locked"), "false");
}

TEST(ConferenceInfo, RootAlwaysCarriesStateAndVersion) {
  ConferenceInfo ci;
  ci.entity = "sip:gs-1@im.example.com";
  ci.state = ElementState::Unset;  // still rendered: clients crash without it (SESSIONS.md §0.3 finding 8)
  ci.version = 4294967295u;
  const std::string out = render_conference_info(ci);
  Xml x(out);
  ASSERT_TRUE(x.ok()) << out;
  EXPECT_EQ(x.str("/ci:conference-info/@state"), "full");
  EXPECT_EQ(x.str("/ci:conference-info/@version"), "4294967295");
  EXPECT_EQ(x.str("namespace-uri(/*)"), kNs);
  EXPECT_EQ(x.str("local-name(/*)"), "conference-info");
}

TEST(ConferenceInfo, OptionalElementsLeftOut) {
  ConferenceInfo ci = partial_doc("sip:gs-1@im.example.com", 3, 1);
  ci.conference_state.reset();
  ConfEndpoint bare;
  bare.entity = "sip:y@192.0.2.2";
  bare.state = ElementState::Partial;
  bare.status = "on-hold";
  ConfEndpoint empty;
  empty.entity = "sip:y@192.0.2.3";
  empty.state = ElementState::Partial;
  ConfMedia no_children{"7", "", ""};
  ConfEndpoint media_only;
  media_only.entity = "sip:y@192.0.2.4";
  media_only.media.push_back(no_children);
  ci.users.push_back(user("sip:y@example.com", ElementState::Partial, {bare, empty, media_only}));
  ci.users.push_back(user("sip:z@example.com", ElementState::Partial, {}));
  const std::string out = render_conference_info(ci);
  Xml x(out);
  ASSERT_TRUE(x.ok()) << out;
  EXPECT_EQ(x.children("/ci:conference-info"), (std::vector<std::string>{"users"}));
  EXPECT_EQ(x.children("//ci:endpoint[@entity='sip:y@192.0.2.2']"), (std::vector<std::string>{"status"}));
  EXPECT_NE(out.find("<endpoint entity=\"sip:y@192.0.2.3\" state=\"partial\"/>"), std::string::npos) << out;
  EXPECT_NE(out.find("<media id=\"7\"/>"), std::string::npos) << out;
  EXPECT_NE(out.find("<user entity=\"sip:z@example.com\" state=\"partial\"/>"), std::string::npos) << out;
  for (const char* name : {"display-text", "referred", "joining-method", "joining-info", "disconnection-method",
                           "disconnection-info", "type", "conference-description", "maximum-user-count"})
    EXPECT_EQ(x.count(std::string("//ci:") + name), 0) << name;

  // <users> with no users, and a deleted <users>.
  ConferenceInfo e = partial_doc("sip:gs-1@im.example.com", 4, 0);
  EXPECT_NE(render_conference_info(e).find("<users state=\"partial\"/>"), std::string::npos);
  e.users_state = ElementState::Deleted;
  e.users.push_back(user("sip:q@example.com", ElementState::Partial, {}));
  EXPECT_NE(render_conference_info(e).find("<users state=\"deleted\"/>"), std::string::npos);
  e.has_users = false;
  Xml y(render_conference_info(e));
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y.count("//ci:users"), 0);
}

// ----- escaping -------------------------------------------------------------------------------------------------

TEST(ConferenceInfoEscape, ExactOutput) {
  EXPECT_EQ(xml_escape(""), "");
  EXPECT_EQ(xml_escape(std::string_view{}), "");
  EXPECT_EQ(xml_escape("sip:alice@example.com"), "sip:alice@example.com");
  EXPECT_EQ(xml_escape("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&quot;e&apos;f");
  EXPECT_EQ(xml_escape("]]>"), "]]&gt;");
  EXPECT_EQ(xml_escape("t\tn\nr\r"), "t&#9;n&#10;r&#13;");
  EXPECT_EQ(xml_escape(std::string("a\0b\x01\x08\x0B\x0C\x1F" "c\x7F", 10)), "abc\x7F");
  EXPECT_EQ(xml_escape("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  // Not XML Chars: U+FFFE, U+FFFF are dropped; U+FFFD and U+10FFFF stay.
  EXPECT_EQ(xml_escape("a\xEF\xBF\xBE" "b\xEF\xBF\xBF" "c\xEF\xBF\xBD\xF4\x8F\xBF\xBF"),
            "abc\xEF\xBF\xBD\xF4\x8F\xBF\xBF");
  // Malformed UTF-8: one U+FFFD per maximal ill-formed subpart.
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(xml_escape("a\x80z"), "a" + r + "z");                   // stray continuation byte
  EXPECT_EQ(xml_escape("a\xC0\xAFz"), "a" + r + r + "z");           // overlong '/'
  EXPECT_EQ(xml_escape("a\xED\xA0\x80z"), "a" + r + r + r + "z");   // surrogate U+D800
  EXPECT_EQ(xml_escape("a\xF4\x90\x80\x80z"), "a" + r + r + r + r + "z");  // above U+10FFFF
  EXPECT_EQ(xml_escape("a\xE2\x82z"), "a" + r + "z");               // truncated, then ASCII
  EXPECT_EQ(xml_escape("a\xF0\x9F\x98"), "a" + r);                  // truncated at the end
  EXPECT_EQ(xml_escape("\xFF\xFE<"), r + r + "&lt;");
}

TEST(ConferenceInfoEscape, EverySpecialAtEveryOffset) {
  // The scanner skips plain 8-byte blocks; a special byte must be found wherever it sits.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}, {"'", "&apos;"}, {"\t", "&#9;"},
      {"\n", "&#10;"}, {"\r", "&#13;"}, {std::string(1, '\0'), ""}, {"\x1F", ""}, {"\xEF\xBF\xBF", ""},
      {"\xC3\xA9", "\xC3\xA9"}, {"\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80"}, {"\x80", "\xEF\xBF\xBD"}};
  // Near misses of the word test: neighbours of the special bytes are plain.
  const std::string plain = "!#$%()*+,-./0123456789:;=?@AZaz~\x7F[]^_`{|} ";
  EXPECT_EQ(xml_escape(plain), plain);
  for (const auto& [in, want] : cases) {
    for (size_t len = 0; len <= 20; ++len) {
      for (size_t pos = 0; pos <= len; ++pos) {
        const std::string s = plain.substr(0, pos) + in + plain.substr(pos, len - pos);
        const std::string expect = plain.substr(0, pos) + want + plain.substr(pos, len - pos);
        ASSERT_EQ(xml_escape(s), expect) << "len " << len << " pos " << pos;
      }
    }
  }
}

TEST(ConferenceInfoEscape, NegativeControlsRawValuesBreakTheParser) {
  // Prove the harness is strict: the very values escaped elsewhere are fatal when written raw.
  EXPECT_FALSE(Xml("<a>&</a>", true).ok());
  EXPECT_FALSE(Xml("<a b=\"<\"/>", true).ok());
  EXPECT_FALSE(Xml("<a>\x01</a>", true).ok());
  EXPECT_FALSE(Xml("<a>\xEF\xBF\xBE</a>", true).ok());
  EXPECT_FALSE(Xml("<a>\xC0\xAF</a>", true).ok());
  EXPECT_FALSE(Xml("<a>]]></a>", true).ok());
}

TEST(ConferenceInfoEscape, HostileValuesStayWellFormedAndRoundTrip) {
  const std::string hostile = "sip:\"evil\"@x'y;p=<a>&amp;]]>\t\n\r<!--x--><![CDATA[z]]>&#0;";
  const std::string with_controls = std::string("A\x01" "B\x1F" "C\x0B", 6) + hostile + std::string("\0end", 4);
  ConferenceInfo ci;
  ci.entity = hostile;
  ConfDescription d;
  d.subject = with_controls;
  d.conf_uris.push_back(ConfUri{hostile, hostile});
  ci.description = d;
  ci.conference_state = ConfStateBlock{};
  ci.has_users = true;
  ConfEndpoint e;
  e.entity = hostile;
  e.state = ElementState::Partial;
  e.display_text = hostile;
  e.referred_by = hostile;
  e.status = hostile;
  e.joining_method = hostile;
  e.joining_when = hostile;
  e.disconnection_method = hostile;
  e.disconnection_when = hostile;
  e.disconnection_reason = hostile;
  e.disconnection_by = hostile;
  e.media.push_back(ConfMedia{hostile, hostile, hostile});
  ConfUser u = user(hostile, ElementState::Partial, {e});
  u.display_text = "Ren\xC3\xA9\xEF\xBF\xBF \xF0\x9F\x98\x80\xFF";
  ci.users.push_back(u);
  const std::string out = render_conference_info(ci);

  Xml x(out);
  ASSERT_TRUE(x.ok()) << out;
  EXPECT_EQ(x.count("//ci:user"), 1);
  EXPECT_EQ(x.count("//ci:endpoint"), 1);
  EXPECT_EQ(x.count("//comment() | //processing-instruction()"), 0);
  // Attributes: TAB/LF/CR survive attribute-value normalization because they are written as references.
  EXPECT_EQ(x.str("/ci:conference-info/@entity"), hostile);
  EXPECT_EQ(x.str("//ci:user/@entity"), hostile);
  EXPECT_EQ(x.str("//ci:endpoint/@entity"), hostile);
  EXPECT_EQ(x.str("//ci:media/@id"), hostile);
  // Text: CR survives end-of-line handling for the same reason.
  EXPECT_EQ(x.str("//ci:subject"), "ABC" + hostile + "end");
  EXPECT_EQ(x.str("//ci:entry/ci:uri"), hostile);
  EXPECT_EQ(x.str("//ci:entry/ci:purpose"), hostile);
  for (const char* p : {"ci:display-text", "ci:referred/ci:by", "ci:status", "ci:joining-method",
                        "ci:joining-info/ci:when", "ci:disconnection-method", "ci:disconnection-info/ci:when",
                        "ci:disconnection-info/ci:reason", "ci:disconnection-info/ci:by", "ci:media/ci:type",
                        "ci:media/ci:status"})
    EXPECT_EQ(x.str(std::string("//ci:endpoint/") + p), hostile) << p;
  EXPECT_EQ(x.str("//ci:user/ci:display-text"), "Ren\xC3\xA9 \xF0\x9F\x98\x80\xEF\xBF\xBD");
}

// Random strings over an alphabet of XML Chars (markup characters, white space, multi-byte UTF-8) must come back
// byte for byte; random bytes must always give a well-formed document.
TEST(ConferenceInfoEscape, RandomRoundTripAndRandomBytes) {
  const std::vector<std::string> alphabet = {"a", "Z", "0", " ", "&", "<", ">", "\"", "'", "]", "]]>", "\t", "\n",
                                             "\r", "\r\n", ";", "=", "#", "\xC3\xA9", "\xE2\x82\xAC",
                                             "\xF0\x9F\x98\x80", "\xEF\xBF\xBD", "&#10;", "\x7F"};
  std::mt19937 rng(4575);
  auto random_text = [&](size_t max_len) {
    std::string s;
    const size_t len = rng() % (max_len + 1);
    for (size_t i = 0; i < len; ++i) s += alphabet[rng() % alphabet.size()];
    return s;
  };
  auto random_bytes = [&](size_t max_len) {
    std::string s(rng() % (max_len + 1), '\0');
    for (char& c : s) c = static_cast<char>(rng() & 0xFF);
    return s;
  };
  for (int round = 0; round < 300; ++round) {
    const std::string a = random_text(24), t = random_text(24);
    ConferenceInfo ci = partial_doc(a, static_cast<uint32_t>(round), 1);
    ci.users.push_back(user(a, ElementState::Partial, {}));
    ci.users[0].display_text = t;
    const std::string out = render_conference_info(ci);
    Xml x(out);
    ASSERT_TRUE(x.ok()) << out;
    ASSERT_EQ(x.str("/ci:conference-info/@entity"), a);
    ASSERT_EQ(x.str("//ci:user/@entity"), a);
    if (!t.empty()) {
      ASSERT_EQ(x.str("//ci:user/ci:display-text"), t);
    }

    const std::string b1 = random_bytes(32), b2 = random_bytes(32);
    ConferenceInfo cj = partial_doc(b1, 1, 1);
    ConfEndpoint e;
    e.entity = b1;
    e.status = b2;
    e.disconnection_reason = b2;
    cj.users.push_back(user(b2, ElementState::Partial, {e}));
    const std::string out2 = render_conference_info(cj);
    Xml y(out2, true);
    ASSERT_TRUE(y.ok()) << "round " << round;
    ASSERT_EQ(y.count("//ci:endpoint"), 1);
    // What came out of the cleaning is a fixed point: rendering it again gives it back unchanged.
    const std::string cleaned = y.str("//ci:endpoint/@entity");
    ASSERT_EQ(cleaned, y.str("/ci:conference-info/@entity"));
    ConferenceInfo ck = partial_doc(cleaned, 2, 1);
    Xml z(render_conference_info(ck));
    ASSERT_TRUE(z.ok());
    ASSERT_EQ(z.str("/ci:conference-info/@entity"), cleaned);
  }
}

// ----- size ----------------------------------------------------------------------------------------------------

TEST(ConferenceInfo, FullDocumentWith1000Users) {
  ConferenceInfo ci = example4();
  ci.description->maximum_user_count = 1000;
  ci.users.clear();
  for (int i = 0; i < 1000; ++i) {
    const std::string n = std::to_string(i);
    ConfEndpoint e =
        connected("sip:u" + n + "@198.51.100.1:" + std::to_string(5060 + i), i % 2 ? "dialed-in" : "dialed-out");
    e.joining_when = "2025-01-15T10:00:00Z";
    ConfUser u = user("sip:u" + n + "@example.com", ElementState::Unset, {e});
    u.display_text = "User & " + n;
    ci.users.push_back(u);
  }
  ci.conference_state->user_count = 1000;
  const std::string out = render_conference_info(ci);
  Xml x(out);
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x.count("/ci:conference-info/ci:users/ci:user"), 1000);
  EXPECT_EQ(x.count("//ci:endpoint/ci:media"), 1000);
  EXPECT_EQ(x.str("//ci:user[1000]/@entity"), "sip:u999@example.com");
  EXPECT_EQ(x.str("//ci:user[1000]/ci:display-text"), "User & 999");
  EXPECT_EQ(x.str("//ci:conference-state/ci:user-count"), "1000");
  EXPECT_EQ(x.str("//ci:maximum-user-count"), "1000");
  // Rendered into one buffer sized up front: a regrowth would at least double the capacity.
  EXPECT_LT(out.capacity(), out.size() * 5 / 4) << out.capacity() << " vs " << out.size();
}

}  // namespace
