#include "transport/codec/resource_list.hpp"

#include "transport/codec/conference_info.hpp"  // xml_escape
#include "transport/codec/sip_uri.hpp"
#include "transport/codec/text_util.hpp"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include <climits>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace imserver::codec {

namespace {

using namespace std::string_view_literals;

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

std::string_view name_of(const xmlNode* n) {
  return n->name ? std::string_view(reinterpret_cast<const char*>(n->name)) : std::string_view();
}

std::string_view ns_of(const xmlNode* n) {
  return n->ns && n->ns->href ? std::string_view(reinterpret_cast<const char*>(n->ns->href)) : std::string_view();
}

// An element of RFC 4826's namespace with the given local name.
bool is_rl(const xmlNode* n, std::string_view local) {
  return n->type == XML_ELEMENT_NODE && ns_of(n) == kResourceListsNamespace && name_of(n) == local;
}

std::optional<std::string> take(xmlChar* v) {
  if (!v) return std::nullopt;
  std::string s(reinterpret_cast<const char*>(v));
  xmlFree(v);
  return s;
}

std::optional<std::string> attr_no_ns(const xmlNode* n, const char* name) {
  return take(xmlGetNoNsProp(n, reinterpret_cast<const xmlChar*>(name)));
}

std::optional<std::string> attr_ns(const xmlNode* n, const char* name, std::string_view ns) {
  const std::string href(ns);
  return take(xmlGetNsProp(n, reinterpret_cast<const xmlChar*>(name), reinterpret_cast<const xmlChar*>(href.c_str())));
}

std::string text_of(const xmlNode* n) {
  auto s = take(xmlNodeGetContent(n));
  return s ? std::string(detail::trim(*s)) : std::string();
}

CopyControl copy_control_of(const xmlNode* entry) {
  const auto v = attr_ns(entry, "copyControl", kCopyControlNamespace);
  if (!v) return CopyControl::Bcc;
  const auto t = detail::trim(*v);
  if (detail::iequals(t, "to")) return CopyControl::To;
  if (detail::iequals(t, "cc")) return CopyControl::Cc;
  return CopyControl::Bcc;  // "bcc" or anything unknown: the least visible choice
}

bool anonymize_of(const xmlNode* entry) {
  const auto v = attr_ns(entry, "anonymize", kCopyControlNamespace);
  if (!v) return false;
  const auto t = detail::trim(*v);
  return t == "true" || t == "1";  // xs:boolean
}

std::string display_name_of(const xmlNode* entry) {
  for (const xmlNode* c = entry->children; c; c = c->next)
    if (is_rl(c, "display-name")) return text_of(c);
  return "";
}

// Printable ASCII only, bounded: safe for any log line.
std::string sanitized(std::string_view s) {
  constexpr std::size_t kMax = 160;
  std::string out;
  for (char c : s) {
    if (out.size() >= kMax) {
      out += "...";
      break;
    }
    out.push_back(c >= 0x20 && c < 0x7f ? c : ' ');
  }
  return std::string(detail::trim(out));
}

ListParse failure(int status, std::string reason, std::string why) {
  ListParse out;
  out.status = status;
  out.reason = std::move(reason);
  out.detail = sanitized(why);
  return out;
}

ListParse bad_list(std::string why) { return failure(400, "Bad resource list", std::move(why)); }

// Called as soon as "<!DOCTYPE name ...>" has been read, before any internal subset (and so before any entity
// declaration) is parsed: stops the parser.
struct ParseState {
  bool saw_doctype = false;
};

void on_doctype(void* ctx, const xmlChar*, const xmlChar*, const xmlChar*) {
  auto* ctxt = static_cast<xmlParserCtxt*>(ctx);
  if (auto* st = static_cast<ParseState*>(ctxt->_private)) st->saw_doctype = true;
  xmlStopParser(ctxt);
}

// Rules 2-5 for one <entry>, merging into `out`.
class Collector {
 public:
  Collector(const ListExclude& exclude, std::size_t max) : exclude_(exclude), max_(max) {}

  // false once the limit is exceeded.
  bool add(const xmlNode* entry) {
    const auto uri_attr = attr_no_ns(entry, "uri");
    if (!uri_attr) return true;  // RFC 4826 requires it; nothing to invite
    const std::string original(detail::trim(*uri_attr));
    auto uri = parse_uri(original);
    if (!uri || (uri->scheme != "sip" && uri->scheme != "sips" && uri->scheme != "tel")) return true;  // rule 2
    std::string aor = canonical_aor(*uri);                                                             // rule 3
    if (exclude_ && exclude_(aor)) return true;

    const CopyControl copy = copy_control_of(entry);
    const bool anonymize = anonymize_of(entry);
    std::string display_name = display_name_of(entry);

    const auto it = index_.find(aor);
    if (it != index_.end()) {  // rule 4
      Invitee& inv = invitees_[it->second];
      if (copy < inv.copy) inv.copy = copy;
      inv.anonymize = inv.anonymize || anonymize;
      if (inv.display_name.empty()) inv.display_name = std::move(display_name);
      return true;
    }
    if (invitees_.size() >= max_) return false;  // this would be one distinct invitee too many (C7)

    // Request-URI form: no URI headers, no `method` parameter (RFC 3261 §19.1.1 table 1).
    uri->headers.clear();
    for (auto p = uri->params.begin(); p != uri->params.end();) {
      p = detail::iequals(p->first, "method") ? uri->params.erase(p) : p + 1;
    }
    Invitee inv;
    inv.uri = aor;
    inv.target = to_string(*uri);
    inv.original = original;
    inv.display_name = std::move(display_name);
    inv.copy = copy;
    inv.anonymize = anonymize;
    index_.emplace(std::move(aor), invitees_.size());
    invitees_.push_back(std::move(inv));
    return true;
  }

  std::vector<Invitee> take() { return std::move(invitees_); }

 private:
  const ListExclude& exclude_;
  std::size_t max_;
  std::vector<Invitee> invitees_;
  std::unordered_map<std::string, std::size_t> index_;
};

ListParse parse_unchecked(std::string_view xml, const ListExclude& exclude, const ListLimits& limits) {
  if (xml.size() > limits.max_bytes || xml.size() > static_cast<std::size_t>(INT_MAX)) {
    return failure(413, "Resource list too large",
                   "list part is " + std::to_string(xml.size()) + " octets, limit " + std::to_string(limits.max_bytes));
  }
  if (detail::trim(xml).empty()) return bad_list("list part is empty");
  ensure_libxml_initialized();

  std::unique_ptr<xmlParserCtxt, CtxtFree> ctxt(xmlNewParserCtxt());
  if (!ctxt || !ctxt->sax) return failure(500, "Server Internal Error", "cannot create an XML parser");
  ParseState state;
  ctxt->_private = &state;
  ctxt->sax->internalSubset = on_doctype;
  ctxt->sax->externalSubset = nullptr;

  // XML_PARSE_NONET: no network access. Deliberately without XML_PARSE_NOENT (entity substitution),
  // XML_PARSE_DTDLOAD, XML_PARSE_DTDATTR, XML_PARSE_DTDVALID, XML_PARSE_XINCLUDE and XML_PARSE_HUGE.
  const int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
  std::unique_ptr<xmlDoc, DocFree> doc(xmlCtxtReadMemory(ctxt.get(), xml.data(), static_cast<int>(xml.size()),
                                                         "resource-list.xml", nullptr, options));

  if (state.saw_doctype || (doc && (doc->intSubset || doc->extSubset))) {
    return bad_list("list has a DOCTYPE (DTDs and entity declarations are refused)");
  }
  if (!doc || !ctxt->wellFormed || !ctxt->nsWellFormed) {  // nsWellFormed: e.g. an undeclared prefix
    const xmlError* err = xmlCtxtGetLastError(ctxt.get());
    std::string why = "not well-formed XML";
    if (err && err->message) why += ": " + std::string(err->message);
    if (err && err->line > 0) why += " (line " + std::to_string(err->line) + ")";
    return bad_list(why);
  }
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (!root) return bad_list("no root element");
  if (!is_rl(root, "resource-lists")) {
    return bad_list("root element is <" + std::string(name_of(root)) + "> in namespace \"" +
                    std::string(ns_of(root)) + "\", not <resource-lists xmlns=\"" +
                    std::string(kResourceListsNamespace) + "\">");
  }

  // Rule 1, depth-first in document order without recursion. Each stack slot holds the next sibling to visit at
  // that depth; depth 0 is the root's children, where only <list> counts.
  Collector collector(exclude, limits.max_entries);
  std::vector<const xmlNode*> stack{root->children};
  while (!stack.empty()) {
    const xmlNode* n = stack.back();
    if (!n) {
      stack.pop_back();
      continue;
    }
    stack.back() = n->next;
    if (is_rl(n, "list")) {
      stack.push_back(n->children);
    } else if (stack.size() > 1 && is_rl(n, "entry")) {
      if (!collector.add(n)) {
        return failure(403, "Too many invitees",
                       "more than " + std::to_string(limits.max_entries) + " distinct invitees");
      }
    }
    // <entry-ref>, <external>, <display-name>, other namespaces, text, comments, PIs: ignored.
  }
  ListParse out;
  out.invitees = collector.take();
  return out;
}

}  // namespace

std::string_view copy_control_name(CopyControl c) {
  switch (c) {
    case CopyControl::To:
      return "to";
    case CopyControl::Cc:
      return "cc";
    case CopyControl::Bcc:
      break;
  }
  return "bcc";
}

ListParse parse_resource_list(std::string_view xml, const ListExclude& exclude, const ListLimits& limits) {
  try {
    return parse_unchecked(xml, exclude, limits);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    return failure(500, "Server Internal Error", std::string("resource list refused: ") + e.what());
  } catch (...) {
    return failure(500, "Server Internal Error", "resource list refused: internal error");
  }
}

ListParse parse_resource_list(std::string_view xml, const std::vector<std::string>& exclude,
                              const ListLimits& limits) {
  const std::unordered_set<std::string> set(exclude.begin(), exclude.end());
  const ListExclude pred = [&set](const std::string& aor) { return set.count(aor) != 0; };
  return parse_resource_list(xml, pred, limits);
}

bool has_recipient_list_history(const std::vector<Invitee>& invitees) {
  for (const auto& inv : invitees)
    if (inv.copy != CopyControl::Bcc) return true;
  return false;
}

std::string render_recipient_list_history(const std::vector<Invitee>& invitees) {
  if (!has_recipient_list_history(invitees)) return "";
  std::string out;
  out.reserve(160 + invitees.size() * 80);
  out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<resource-lists xmlns=\"";
  out += kResourceListsNamespace;
  out += "\" xmlns:cp=\"";
  out += kCopyControlNamespace;
  out += "\"><list>";
  for (const auto& inv : invitees) {
    if (inv.copy == CopyControl::Bcc) continue;
    const std::string_view uri = inv.anonymize ? kAnonymousUri : std::string_view(inv.target.empty() ? inv.uri : inv.target);
    out += "<entry uri=\"";
    out += xml_escape(uri);
    out += "\" cp:copyControl=\"";
    out += copy_control_name(inv.copy);
    out += '"';
    if (!inv.anonymize && !inv.display_name.empty()) {
      out += "><display-name>";
      out += xml_escape(inv.display_name);
      out += "</display-name></entry>";
    } else {
      out += "/>";
    }
  }
  out += "</list></resource-lists>";
  return out;
}

}  // namespace imserver::codec
