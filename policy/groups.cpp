#include "policy/groups.hpp"

#include "transport/codec/sip_uri.hpp"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include <algorithm>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace imserver::policy {

bool Group::is_member(const std::string& canonical_aor) const {
  return std::any_of(members.begin(), members.end(),
                     [&](const GroupMember& m) { return m.aor == canonical_aor; });
}

bool Group::is_host(const std::string& canonical_aor) const {
  return std::any_of(members.begin(), members.end(),
                     [&](const GroupMember& m) { return m.aor == canonical_aor && m.role == "host"; });
}

namespace {

constexpr const char* kNamespace = "urn:example:imserver:groups:1";
constexpr std::size_t kMaxBytes = 16u * 1024u * 1024u;  // far above any sane groups file
constexpr int kMaxParticipants = 100000;

// Thrown inside the parser only; turned into GroupsParse::error.
struct Refused {
  std::string message;
};

struct DocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
struct CtxtFree {
  void operator()(xmlParserCtxt* c) const { xmlFreeParserCtxt(c); }
};

void ensure_libxml_initialized() {
  static std::once_flag once;
  std::call_once(once, [] { xmlInitParser(); });
}

std::string trimmed(std::string s) {
  const char* ws = " \t\r\n";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

// Attribute values quoted in messages: bounded length.
std::string shown(const std::string& v) {
  constexpr std::size_t kMax = 80;
  if (v.size() <= kMax) return "\"" + v + "\"";
  return "\"" + v.substr(0, kMax) + "...\"";
}

std::string name_of(const xmlNode* n) { return n->name ? reinterpret_cast<const char*>(n->name) : ""; }

bool in_our_namespace(const xmlNode* n) {
  return n->ns && n->ns->href && std::string_view(reinterpret_cast<const char*>(n->ns->href)) == kNamespace;
}

bool is_element(const xmlNode* n, const char* name) {
  return n->type == XML_ELEMENT_NODE && in_our_namespace(n) && name_of(n) == name;
}

std::optional<std::string> attr(const xmlNode* n, const char* name) {
  xmlChar* v = xmlGetNoNsProp(n, reinterpret_cast<const xmlChar*>(name));
  if (!v) return std::nullopt;
  std::string s(reinterpret_cast<const char*>(v));
  xmlFree(v);
  return s;
}

std::string text_of(const xmlNode* n) {
  xmlChar* c = xmlNodeGetContent(n);
  if (!c) return "";
  std::string s(reinterpret_cast<const char*>(c));
  xmlFree(c);
  return trimmed(std::move(s));
}

std::string where(const xmlNode* n) {
  return "line " + std::to_string(xmlGetLineNo(n)) + ": <" + name_of(n) + ">";
}

[[noreturn]] void refuse(const xmlNode* n, const std::string& what) { throw Refused{where(n) + ": " + what}; }

bool boolean_attr(const xmlNode* n, const char* name, bool dflt) {
  const auto v = attr(n, name);
  if (!v) return dflt;
  if (*v == "true") return true;
  if (*v == "false") return false;
  refuse(n, std::string(name) + "=" + shown(*v) + " is not \"true\" or \"false\"");
}

int max_participants_attr(const xmlNode* n) {
  const auto v = attr(n, "max-participants");
  if (!v) return 0;
  long value = 0;
  bool ok = !v->empty();
  for (char c : *v) {
    if (c < '0' || c > '9') {
      ok = false;
      break;
    }
    value = value * 10 + (c - '0');
    if (value > kMaxParticipants) {
      ok = false;
      break;
    }
  }
  if (!ok || value < 1) {
    refuse(n, "max-participants=" + shown(*v) + " is not an integer from 1 to " + std::to_string(kMaxParticipants));
  }
  return static_cast<int>(value);
}

GroupMember parse_member(const xmlNode* n) {
  const auto uri_text = attr(n, "uri");
  if (!uri_text) refuse(n, "member without a uri attribute");
  const auto uri = codec::parse_uri(*uri_text);
  if (!uri || (uri->scheme != "sip" && uri->scheme != "sips" && uri->scheme != "tel")) {
    refuse(n, "member uri=" + shown(*uri_text) + " is not a sip:, sips: or tel: URI");
  }
  GroupMember m;
  m.aor = codec::canonical_aor(*uri);
  const auto role = attr(n, "role");
  if (!role || *role == "member") {
    m.role = "member";
  } else if (*role == "host") {
    m.role = "host";
  } else {
    refuse(n, "role=" + shown(*role) + " is not \"host\" or \"member\"");
  }
  return m;
}

Group parse_group(const xmlNode* n) {
  Group g;
  const auto uri_text = attr(n, "uri");
  if (!uri_text) refuse(n, "group without a uri attribute");
  const auto uri = codec::parse_uri(*uri_text);
  if (!uri || (uri->scheme != "sip" && uri->scheme != "sips") || uri->user.empty()) {
    refuse(n, "group uri=" + shown(*uri_text) + " is not a sip: or sips: URI with a user part");
  }
  g.uri = codec::canonical_aor(*uri);
  g.max_participants = max_participants_attr(n);
  g.dialout_on_create = boolean_attr(n, "dialout-on-create", true);
  g.allow_non_members = boolean_attr(n, "allow-non-members", false);
  g.locked = boolean_attr(n, "locked", false);

  bool have_display_name = false;
  bool have_subject = false;
  std::unordered_map<std::string, std::size_t> member_index;
  for (const xmlNode* c = n->children; c; c = c->next) {
    if (is_element(c, "display-name")) {
      if (!have_display_name) g.display_name = text_of(c);
      have_display_name = true;
    } else if (is_element(c, "subject")) {
      if (!have_subject) g.subject = text_of(c);
      have_subject = true;
    } else if (is_element(c, "member")) {
      GroupMember m = parse_member(c);
      const auto it = member_index.find(m.aor);
      if (it == member_index.end()) {
        member_index.emplace(m.aor, g.members.size());
        g.members.push_back(std::move(m));
      } else if (m.role == "host") {
        g.members[it->second].role = "host";
      }
    }
    // Anything else (unknown elements, other namespaces, text, comments, PIs): ignored.
  }
  return g;
}

// SAX hook: called as soon as "<!DOCTYPE name ...>" has been read and before any internal subset
// (entity declarations) is parsed. Stops the parser, so no entity is ever declared or expanded.
struct ParseState {
  bool saw_doctype = false;
};

void on_doctype(void* ctx, const xmlChar*, const xmlChar*, const xmlChar*) {
  auto* ctxt = static_cast<xmlParserCtxt*>(ctx);
  if (auto* st = static_cast<ParseState*>(ctxt->_private)) st->saw_doctype = true;
  xmlStopParser(ctxt);
}

GroupsParse parse_unchecked(const std::string& text) {
  GroupsParse out;
  if (text.size() > kMaxBytes) {
    out.error = "groups file is larger than " + std::to_string(kMaxBytes) + " bytes";
    return out;
  }
  if (trimmed(text).empty()) {
    out.error = "groups file is empty";
    return out;
  }
  ensure_libxml_initialized();

  std::unique_ptr<xmlParserCtxt, CtxtFree> ctxt(xmlNewParserCtxt());
  if (!ctxt || !ctxt->sax) {
    out.error = "cannot create an XML parser";
    return out;
  }
  ParseState state;
  ctxt->_private = &state;
  ctxt->sax->internalSubset = on_doctype;
  ctxt->sax->externalSubset = nullptr;

  // XML_PARSE_NONET: no network access. Deliberately *without* XML_PARSE_NOENT (entity substitution),
  // XML_PARSE_DTDLOAD, XML_PARSE_DTDATTR, XML_PARSE_DTDVALID, XML_PARSE_XINCLUDE and XML_PARSE_HUGE.
  const int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_BIG_LINES;
  std::unique_ptr<xmlDoc, DocFree> doc(
      xmlCtxtReadMemory(ctxt.get(), text.data(), static_cast<int>(text.size()), "groups.xml", nullptr, options));

  if (state.saw_doctype || (doc && (doc->intSubset || doc->extSubset))) {
    out.error = "groups file has a DOCTYPE (DTDs and entity declarations are refused)";
    return out;
  }
  if (!doc) {
    const xmlError* err = xmlCtxtGetLastError(ctxt.get());
    std::string msg = err && err->message ? trimmed(err->message) : "not well-formed XML";
    if (err && err->line > 0) msg = "line " + std::to_string(err->line) + ": " + msg;
    out.error = "groups file is not well-formed XML: " + msg;
    return out;
  }

  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (!root) {
    out.error = "groups file has no root element";
    return out;
  }
  if (name_of(root) != "im-groups" || !in_our_namespace(root)) {
    const std::string ns = root->ns && root->ns->href ? reinterpret_cast<const char*>(root->ns->href) : "";
    out.error = where(root) + ": root element must be <im-groups xmlns=\"" + kNamespace + "\">" +
                (ns.empty() ? " (element has no namespace)" : " (namespace is " + shown(ns) + ")");
    return out;
  }

  try {
    std::unordered_map<std::string, long> seen;  // canonical group URI -> line of first definition
    for (const xmlNode* c = root->children; c; c = c->next) {
      if (!is_element(c, "group")) continue;
      Group g = parse_group(c);
      const auto [it, inserted] = seen.emplace(g.uri, xmlGetLineNo(c));
      if (!inserted) {
        refuse(c, "duplicate group uri " + shown(g.uri) + " (first defined on line " + std::to_string(it->second) +
                      ")");
      }
      out.groups.push_back(std::move(g));
    }
  } catch (const Refused& r) {
    out.groups.clear();
    out.error = r.message;
  }
  return out;
}

}  // namespace

GroupsParse parse_groups_xml(const std::string& text) {
  try {
    return parse_unchecked(text);
  } catch (const std::exception& e) {
    GroupsParse out;
    out.error = std::string("groups file refused: ") + e.what();
    return out;
  } catch (...) {
    GroupsParse out;
    out.error = "groups file refused: internal error";
    return out;
  }
}

}  // namespace imserver::policy
