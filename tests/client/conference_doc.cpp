#include "tests/client/conference_doc.hpp"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <set>

namespace imserver::testclient {

namespace {

std::string trimmed(const std::string& s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::optional<uint32_t> parse_u32(const std::string& s) {
  std::string t = trimmed(s);
  if (t.empty() || t.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char c : t) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > 0xFFFFFFFFull) return std::nullopt;
  return static_cast<uint32_t>(v);
}

std::optional<bool> parse_bool(const std::string& s) {
  std::string t = trimmed(s);
  if (t == "true" || t == "1") return true;
  if (t == "false" || t == "0") return false;
  return std::nullopt;
}

std::string name_of(const xmlNode* n) { return n->name ? reinterpret_cast<const char*>(n->name) : ""; }

std::string ns_of(const xmlNode* n) {
  return n->ns && n->ns->href ? reinterpret_cast<const char*>(n->ns->href) : "";
}

std::string text_of(const xmlNode* n) {
  xmlChar* c = xmlNodeGetContent(n);
  if (!c) return {};
  std::string s = reinterpret_cast<const char*>(c);
  xmlFree(c);
  return trimmed(s);
}

std::optional<std::string> attr_of(const xmlNode* n, const char* name) {
  xmlChar* v = xmlGetNoNsProp(n, reinterpret_cast<const xmlChar*>(name));
  if (!v) return std::nullopt;
  std::string s = reinterpret_cast<const char*>(v);
  xmlFree(v);
  return s;
}

// Walks a document, collecting into a ConferenceDoc.
class Reader {
 public:
  explicit Reader(ConferenceDoc& doc) : doc_(doc) {}

  // Element children of `n` in the document namespace; foreign ones are
  // recorded and skipped. Names go to *names when given.
  std::vector<const xmlNode*> elements(const xmlNode* n, std::vector<std::string>* names) {
    std::vector<const xmlNode*> out;
    for (const xmlNode* c = n->children; c; c = c->next) {
      if (c->type != XML_ELEMENT_NODE) continue;
      if (ns_of(c) != doc_.ns) {
        doc_.foreign_elements.push_back("{" + ns_of(c) + "}" + name_of(c));
        continue;
      }
      out.push_back(c);
      if (names) names->push_back(name_of(c));
    }
    return out;
  }

  std::optional<uint32_t> number(const xmlNode* n, const std::string& what) {
    std::string t = text_of(n);
    auto v = parse_u32(t);
    if (!v) doc_.value_errors.push_back(what + ": '" + t + "' is not an unsigned number");
    return v;
  }

  std::optional<bool> boolean(const xmlNode* n, const std::string& what) {
    std::string t = text_of(n);
    auto v = parse_bool(t);
    if (!v) doc_.value_errors.push_back(what + ": '" + t + "' is not a boolean");
    return v;
  }

  // <when>/<reason>/<by> of joining-info, disconnection-info, referred.
  void info(const xmlNode* n, std::string* when, std::string* reason, std::string* by) {
    for (const xmlNode* c : elements(n, nullptr)) {
      std::string name = name_of(c);
      if (name == "when" && when) *when = text_of(c);
      if (name == "reason" && reason) *reason = text_of(c);
      if (name == "by" && by) *by = text_of(c);
    }
  }

  void description(const xmlNode* n) {
    doc_.has_description = true;
    for (const xmlNode* c : elements(n, &doc_.description_children)) {
      std::string name = name_of(c);
      if (name == "display-text") {
        doc_.display_text = text_of(c);
      } else if (name == "subject") {
        doc_.subject = text_of(c);
      } else if (name == "maximum-user-count") {
        doc_.maximum_user_count = number(c, "maximum-user-count");
      } else if (name == "conf-uris") {
        for (const xmlNode* entry : elements(c, nullptr)) {
          if (name_of(entry) != "entry") continue;
          std::string uri, purpose;
          for (const xmlNode* f : elements(entry, nullptr)) {
            if (name_of(f) == "uri") uri = text_of(f);
            if (name_of(f) == "purpose") purpose = text_of(f);
          }
          doc_.conf_uris.emplace_back(uri, purpose);
        }
      }
    }
  }

  void conference_state(const xmlNode* n) {
    doc_.has_conference_state = true;
    for (const xmlNode* c : elements(n, &doc_.conference_state_children)) {
      std::string name = name_of(c);
      if (name == "user-count") doc_.user_count = number(c, "user-count");
      if (name == "active") doc_.active = boolean(c, "active");
      if (name == "locked") doc_.locked = boolean(c, "locked");
    }
  }

  DocMedia media(const xmlNode* n) {
    DocMedia m;
    m.id = attr_of(n, "id").value_or("");
    for (const xmlNode* c : elements(n, &m.children)) {
      std::string name = name_of(c);
      if (name == "display-text") m.display_text = text_of(c);
      if (name == "type") m.type = text_of(c);
      if (name == "label") m.label = text_of(c);
      if (name == "src-id") m.src_id = text_of(c);
      if (name == "status") m.status = text_of(c);
    }
    return m;
  }

  DocEndpoint endpoint(const xmlNode* n) {
    DocEndpoint e;
    e.entity = attr_of(n, "entity").value_or("");
    e.state = attr_of(n, "state").value_or("");
    for (const xmlNode* c : elements(n, &e.children)) {
      std::string name = name_of(c);
      if (name == "display-text") {
        e.display_text = text_of(c);
      } else if (name == "referred") {
        info(c, nullptr, nullptr, &e.referred_by);
      } else if (name == "status") {
        e.status = text_of(c);
      } else if (name == "joining-method") {
        e.joining_method = text_of(c);
      } else if (name == "joining-info") {
        info(c, &e.joining_when, &e.joining_reason, &e.joining_by);
      } else if (name == "disconnection-method") {
        e.disconnection_method = text_of(c);
      } else if (name == "disconnection-info") {
        info(c, &e.disconnection_when, &e.disconnection_reason, &e.disconnection_by);
      } else if (name == "media") {
        e.has_media = true;
        e.media.push_back(media(c));
      }
    }
    return e;
  }

  DocUser user(const xmlNode* n) {
    DocUser u;
    u.entity = attr_of(n, "entity").value_or("");
    u.state = attr_of(n, "state").value_or("");
    for (const xmlNode* c : elements(n, &u.children)) {
      std::string name = name_of(c);
      if (name == "display-text") {
        u.display_text = text_of(c);
      } else if (name == "roles") {
        for (const xmlNode* r : elements(c, nullptr)) {
          if (name_of(r) == "entry") u.roles.push_back(text_of(r));
        }
      } else if (name == "endpoint") {
        u.endpoints.push_back(endpoint(c));
      }
    }
    return u;
  }

  void users(const xmlNode* n) {
    doc_.has_users = true;
    doc_.users_state = attr_of(n, "state").value_or("");
    for (const xmlNode* c : elements(n, &doc_.users_children)) {
      if (name_of(c) == "user") doc_.users.push_back(user(c));
    }
  }

  void root(const xmlNode* r) {
    doc_.root_name = name_of(r);
    doc_.ns = ns_of(r);
    for (const xmlAttr* a = r->properties; a; a = a->next) {
      if (a->ns) continue;
      xmlChar* v = xmlNodeListGetString(r->doc, a->children, 1);
      doc_.root_attributes[reinterpret_cast<const char*>(a->name)] = v ? reinterpret_cast<const char*>(v) : "";
      if (v) xmlFree(v);
    }
    doc_.entity = doc_.root_attributes.count("entity") ? doc_.root_attributes["entity"] : "";
    doc_.state = doc_.root_attributes.count("state") ? doc_.root_attributes["state"] : "";
    if (doc_.root_attributes.count("version")) {
      doc_.version = parse_u32(doc_.root_attributes["version"]);
      if (!doc_.version) {
        doc_.value_errors.push_back("version: '" + doc_.root_attributes["version"] + "' is not an unsigned number");
      }
    }
    for (const xmlNode* c : elements(r, &doc_.root_children)) {
      std::string name = name_of(c);
      if (name == "conference-description") description(c);
      if (name == "conference-state") conference_state(c);
      if (name == "users") users(c);
    }
  }

 private:
  ConferenceDoc& doc_;
};

void ensure_libxml_initialized() {
  static std::once_flag once;
  std::call_once(once, [] { xmlInitParser(); });
}

// Child-order check against a schema sequence. Names in `repeatable` may
// occur several times in a row.
void check_order(const std::vector<std::string>& children, const std::vector<std::string>& order,
                 const std::set<std::string>& repeatable, const std::string& where,
                 std::vector<std::string>& errors) {
  int last = -1;
  std::string last_name;
  for (const auto& c : children) {
    auto it = std::find(order.begin(), order.end(), c);
    if (it == order.end()) {
      errors.push_back("unexpected <" + c + "> in " + where);
      continue;
    }
    int idx = static_cast<int>(it - order.begin());
    if (idx < last) {
      errors.push_back("<" + c + "> after <" + last_name + "> in " + where);
    } else if (idx == last && !repeatable.count(c)) {
      errors.push_back("duplicate <" + c + "> in " + where);
    }
    if (idx >= last) {
      last = idx;
      last_name = c;
    }
  }
}

void check_state(const std::string& state, const std::string& where, bool required,
                 std::vector<std::string>& errors) {
  if (state.empty()) {
    if (required) errors.push_back(where + " has no state attribute");
    return;
  }
  if (state != "full" && state != "partial" && state != "deleted") {
    errors.push_back(where + " has state '" + state + "' (not full/partial/deleted)");
  }
}

void check_value(const std::string& value, const std::set<std::string>& allowed, const std::string& what,
                 std::vector<std::string>& errors) {
  if (!value.empty() && !allowed.count(value)) errors.push_back(what + " '" + value + "' is not an RFC 4575 value");
}

bool is_digits(const std::string& s, size_t pos, size_t n) {
  if (pos + n > s.size()) return false;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

int num(const std::string& s, size_t pos, size_t n) { return std::stoi(s.substr(pos, n)); }

}  // namespace

const DocEndpoint* DocUser::find_endpoint(const std::string& e) const {
  for (const auto& ep : endpoints) {
    if (ep.entity == e) return &ep;
  }
  return nullptr;
}

const DocUser* ConferenceDoc::find_user(const std::string& e) const {
  for (const auto& u : users) {
    if (u.entity == e) return &u;
  }
  return nullptr;
}

ConferenceDoc parse_conference_doc(const std::string& body) {
  ensure_libxml_initialized();
  ConferenceDoc doc;
  xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
  if (!ctxt) {
    doc.error = "xmlNewParserCtxt failed";
    return doc;
  }
  xmlDocPtr x = xmlCtxtReadMemory(ctxt, body.data(), static_cast<int>(body.size()), "conference-info.xml", nullptr,
                                  XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (!x) {
    auto err = xmlCtxtGetLastError(ctxt);
    doc.error = err && err->message ? trimmed(err->message) : "not well-formed";
    if (err) doc.error = "line " + std::to_string(err->line) + ": " + doc.error;
    xmlFreeParserCtxt(ctxt);
    return doc;
  }
  xmlFreeParserCtxt(ctxt);
  const xmlNode* root = xmlDocGetRootElement(x);
  if (!root) {
    doc.error = "no root element";
    xmlFreeDoc(x);
    return doc;
  }
  doc.well_formed = true;
  Reader(doc).root(root);
  xmlFreeDoc(x);
  return doc;
}

std::vector<std::string> schema_order_errors(const ConferenceDoc& doc) {
  std::vector<std::string> errors;
  if (!doc.well_formed) {
    errors.push_back("not well-formed: " + doc.error);
    return errors;
  }
  if (doc.root_name != "conference-info") errors.push_back("root is <" + doc.root_name + ">, not <conference-info>");
  if (doc.ns != kConferenceInfoNs) errors.push_back("namespace is '" + doc.ns + "', not " + kConferenceInfoNs);
  if (!doc.root_attributes.count("entity")) errors.push_back("root has no entity attribute");
  if (!doc.root_attributes.count("state")) errors.push_back("root has no state attribute");
  if (!doc.root_attributes.count("version")) errors.push_back("root has no version attribute");
  check_state(doc.state, "root", false, errors);
  for (const auto& e : doc.value_errors) errors.push_back(e);

  check_order(doc.root_children,
              {"conference-description", "host-info", "conference-state", "users", "sidebars-by-ref",
               "sidebars-by-val"},
              {}, "conference-info", errors);
  if (doc.state == "deleted" && !doc.root_children.empty()) errors.push_back("deleted root has children");

  if (doc.has_description) {
    check_order(doc.description_children,
                {"display-text", "subject", "free-text", "keywords", "conf-uris", "service-uris",
                 "maximum-user-count", "available-media"},
                {}, "conference-description", errors);
  }
  if (doc.has_conference_state) {
    check_order(doc.conference_state_children, {"user-count", "active", "locked"}, {}, "conference-state", errors);
  }
  if (doc.has_users) {
    check_state(doc.users_state, "users", false, errors);
    check_order(doc.users_children, {"user"}, {"user"}, "users", errors);
  }
  static const std::set<std::string> statuses = {"pending",  "dialing-out",      "dialing-in",
                                                 "alerting", "on-hold",          "connected",
                                                 "muted-via-focus", "disconnecting", "disconnected"};
  static const std::set<std::string> joining = {"dialed-in", "dialed-out", "focus-owner"};
  static const std::set<std::string> disconnection = {"departed", "booted", "failed", "busy"};
  for (const auto& u : doc.users) {
    std::string uwhere = "user " + u.entity;
    if (u.entity.empty()) errors.push_back("user without entity");
    check_state(u.state, uwhere, false, errors);
    check_order(u.children,
                {"display-text", "associated-aors", "roles", "languages", "cascaded-focus", "endpoint"}, {"endpoint"},
                uwhere, errors);
    if (u.state == "deleted" && !u.children.empty()) errors.push_back("deleted " + uwhere + " has children");
    for (const auto& e : u.endpoints) {
      std::string ewhere = "endpoint " + e.entity + " of " + uwhere;
      if (e.entity.empty()) errors.push_back("endpoint without entity in " + uwhere);
      check_state(e.state, ewhere, false, errors);
      check_order(e.children,
                  {"display-text", "referred", "status", "joining-method", "joining-info", "disconnection-method",
                   "disconnection-info", "media", "call-info"},
                  {"media"}, ewhere, errors);
      if (e.state == "deleted" && !e.children.empty()) errors.push_back("deleted " + ewhere + " has children");
      check_value(e.status, statuses, ewhere + ": status", errors);
      check_value(e.joining_method, joining, ewhere + ": joining-method", errors);
      check_value(e.disconnection_method, disconnection, ewhere + ": disconnection-method", errors);
      for (const auto& m : e.media) {
        check_order(m.children, {"display-text", "type", "label", "src-id", "status"}, {},
                    "media " + m.id + " of " + ewhere, errors);
      }
    }
  }
  return errors;
}

bool is_utc_datetime(const std::string& v) {
  // YYYY-MM-DDThh:mm:ss[.f+]Z
  if (v.size() < 20) return false;
  if (!is_digits(v, 0, 4) || v[4] != '-' || !is_digits(v, 5, 2) || v[7] != '-' || !is_digits(v, 8, 2) ||
      v[10] != 'T' || !is_digits(v, 11, 2) || v[13] != ':' || !is_digits(v, 14, 2) || v[16] != ':' ||
      !is_digits(v, 17, 2)) {
    return false;
  }
  size_t pos = 19;
  if (v[pos] == '.') {
    ++pos;
    size_t digits = 0;
    while (pos < v.size() && v[pos] >= '0' && v[pos] <= '9') {
      ++pos;
      ++digits;
    }
    if (digits == 0) return false;
  }
  if (pos + 1 != v.size() || v[pos] != 'Z') return false;
  int year = num(v, 0, 4), month = num(v, 5, 2), day = num(v, 8, 2);
  int hour = num(v, 11, 2), minute = num(v, 14, 2), second = num(v, 17, 2);
  if (month < 1 || month > 12 || day < 1) return false;
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  int max_day = days[month - 1] + (month == 2 && leap ? 1 : 0);
  if (day > max_day) return false;
  if (hour > 23 || minute > 59 || second > 60) return false;
  return true;
}

}  // namespace imserver::testclient
