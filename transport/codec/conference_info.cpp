#include "transport/codec/conference_info.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <utility>

namespace imserver::codec {

namespace {

using namespace std::string_view_literals;

// ---------------------------------------------------------------------------------------------------------------
// Escaping (XML 1.0 fifth edition §2.2 Char, §2.4 character data, §3.1 attribute values, §4.1 character references)
// ---------------------------------------------------------------------------------------------------------------

// true for every byte that cannot be copied as is: the five markup characters, C0 controls (TAB/LF/CR are
// written as references, the rest are dropped), and every non-ASCII byte (checked as UTF-8).
constexpr std::array<bool, 256> make_special_table() {
  std::array<bool, 256> t{};
  for (size_t c = 0; c < 0x20; ++c) t[c] = true;
  for (size_t c = 0x80; c < 0x100; ++c) t[c] = true;
  t['&'] = t['<'] = t['>'] = t['"'] = t['\''] = true;
  return t;
}
constexpr std::array<bool, 256> kSpecial = make_special_table();

// Word-at-a-time test for the same set, 8 bytes at once (exact "is any byte special", independent of byte order).
constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHigh = 0x8080808080808080ULL;
inline uint64_t has_zero_byte(uint64_t v) { return (v - kOnes) & ~v & kHigh; }
inline bool block_is_plain(const char* p) {
  uint64_t x;
  std::memcpy(&x, p, sizeof x);
  const uint64_t special = (((x - kOnes * 0x20) | x) & kHigh)              // < 0x20 or >= 0x80
                           | has_zero_byte(x ^ (kOnes * '"'))              // 0x22
                           | has_zero_byte((x | kOnes) ^ (kOnes * '\''))   // 0x26 '&' or 0x27 '\''
                           | has_zero_byte((x | (kOnes * 2)) ^ (kOnes * '>'));  // 0x3C '<' or 0x3E '>'
  return special == 0;
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER

inline bool is_cont(unsigned char c) { return c >= 0x80 && c <= 0xBF; }

// Length of the well-formed UTF-8 sequence at s[pos] (lead byte >= 0x80), following Unicode §3.9 Table 3-7 (no
// overlong forms, no surrogates, nothing above U+10FFFF). Returns 0 when ill-formed; `bad` is then set to the
// length of the maximal ill-formed subpart (>= 1), which is replaced by one U+FFFD.
size_t utf8_sequence(std::string_view s, size_t pos, size_t& bad) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  size_t need;                      // total length
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;        // overlong
    if (b0 == 0xED) hi = 0x9F;        // surrogates D800..DFFF
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;        // overlong
    if (b0 == 0xF4) hi = 0x8F;        // above U+10FFFF
  } else {
    bad = 1;                          // 80..C1 (continuation / overlong lead) or F5..FF
    return 0;
  }
  size_t i = 1;
  for (; i < need; ++i) {
    if (pos + i >= s.size()) break;
    const auto c = static_cast<unsigned char>(s[pos + i]);
    if (i == 1 ? (c < lo || c > hi) : !is_cont(c)) break;
  }
  if (i == need) return need;
  bad = i;
  return 0;
}

// Output buffer: one std::string sized up front (from estimate_size) and written through a raw pointer, so each
// piece of markup is an inlined bounds check plus a fixed-size memcpy instead of a library call. Grows by doubling
// if the estimate was short (long escaped values).
class Writer {
 public:
  explicit Writer(size_t estimate) {
    buf_.resize(estimate);
    p_ = buf_.data();
    end_ = p_ + buf_.size();
  }

  void raw(const char* s, size_t n) {
    need(n);
    std::memcpy(p_, s, n);
    p_ += n;
  }
  void raw(std::string_view s) { raw(s.data(), s.size()); }
  void ch(char c) {
    need(1);
    *p_++ = c;
  }
  void number(uint32_t v) {
    need(10);
    p_ = std::to_chars(p_, p_ + 10, v).ptr;
  }
  void escaped(std::string_view s);

  std::string finish() && {
    buf_.resize(static_cast<size_t>(p_ - buf_.data()));
    return std::move(buf_);
  }

 private:
  void need(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) grow(n);
  }
  void grow(size_t n) {
    const size_t used = static_cast<size_t>(p_ - buf_.data());
    buf_.resize(std::max(buf_.size() * 2, used + n));
    p_ = buf_.data() + used;
    end_ = buf_.data() + buf_.size();
  }

  std::string buf_;
  char* p_ = nullptr;
  char* end_ = nullptr;
};

void Writer::escaped(std::string_view s) {
  const char* const data = s.data();
  const size_t n = s.size();
  if (n == 0) return;  // data may be null
  size_t run = 0;  // start of the pending run of bytes copied unchanged
  size_t i = 0;
  while (i < n) {
    // Skip plain 8-byte blocks; look at the first block that is not plain (or the tail) byte by byte.
    size_t limit = n;
    if (n - i >= 8) {
      if (block_is_plain(data + i)) {
        i += 8;
        continue;
      }
      limit = i + 8;
    }
    while (i < limit) {  // a UTF-8 sequence may take i past limit, which is fine
      const auto c = static_cast<unsigned char>(data[i]);
      if (!kSpecial[c]) {
        ++i;
        continue;
      }
      if (c >= 0x80) {
        size_t bad = 0;
        const size_t len = utf8_sequence(s, i, bad);
        if (len == 3 && c == 0xEF && static_cast<unsigned char>(data[i + 1]) == 0xBF &&
            static_cast<unsigned char>(data[i + 2]) >= 0xBE) {
          raw(data + run, i - run);  // U+FFFE / U+FFFF are not XML Chars: drop
          i += 3;
          run = i;
        } else if (len != 0) {
          i += len;                  // valid: stays in the run
        } else {
          raw(data + run, i - run);
          raw(kReplacement);
          i += bad;
          run = i;
        }
        continue;
      }
      raw(data + run, i - run);
      switch (c) {
        case '&': raw("&amp;"sv); break;
        case '<': raw("&lt;"sv); break;
        case '>': raw("&gt;"sv); break;  // also keeps "]]>" out of character data (XML §2.4)
        case '"': raw("&quot;"sv); break;
        case '\'': raw("&apos;"sv); break;
        case '\t': raw("&#9;"sv); break;
        case '\n': raw("&#10;"sv); break;
        case '\r': raw("&#13;"sv); break;
        default: break;                  // other C0 controls are not XML 1.0 Chars: drop
      }
      ++i;
      run = i;
    }
  }
  raw(data + run, n - run);
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering helpers
// ---------------------------------------------------------------------------------------------------------------

constexpr std::string_view kNamespace = "urn:ietf:params:xml:ns:conference-info";  // RFC 4575 §5

std::string_view state_name(ElementState s) {
  switch (s) {
    case ElementState::Full: return "full";
    case ElementState::Partial: return "partial";
    case ElementState::Deleted: return "deleted";
    case ElementState::Unset: break;
  }
  return {};
}

// ` state="..."`, or nothing for Unset (RFC 4575 §4.4: absent means "full").
void state_attr(Writer& w, ElementState s) {
  if (s == ElementState::Unset) return;
  w.raw(" state=\""sv);
  w.raw(state_name(s));
  w.ch('"');
}

// `<name>escaped value</name>`; nothing when the value is empty (optional elements are left out).
void text_element(Writer& w, std::string_view open, std::string_view close, std::string_view value) {
  if (value.empty()) return;
  w.raw(open);
  w.escaped(value);
  w.raw(close);
}

// Bytes taken by an optional element holding `value` (left out when empty), `markup` being the length of its tags.
size_t optional_size(std::string_view value, size_t markup) { return value.empty() ? 0 : value.size() + markup; }
size_t state_size(ElementState s) { return s == ElementState::Unset ? 0 : 16; }  // ` state="partial"`

// Output size when no value needs escaping, plus some slack for escapes, so the render normally allocates once.
// Each constant is the length of the fixed markup written by the functions below (attribute values at their
// longest: 10-digit numbers, "false").
size_t estimate_size(const ConferenceInfo& ci) {
  size_t n = 170 + ci.entity.size();  // declaration, root start tag, root end tag
  if (ci.description) {
    const ConfDescription& d = *ci.description;
    n += 49 + optional_size(d.subject, 19) + 51;  // <conference-description>, <subject>, <maximum-user-count>
    if (!d.conf_uris.empty()) n += 23;
    for (const auto& u : d.conf_uris) n += 26 + u.uri.size() + optional_size(u.purpose, 19);
  }
  if (ci.conference_state) n += 116;
  n += 31;  // <users state="partial"></users>
  for (const auto& u : ci.users) {
    n += 23 + state_size(u.state) + u.entity.size() + optional_size(u.display_text, 29);
    for (const auto& e : u.endpoints) {
      const bool disc_info =
          !e.disconnection_when.empty() || !e.disconnection_reason.empty() || !e.disconnection_by.empty();
      n += 31 + state_size(e.state) + e.entity.size() + (disc_info ? 41 : 0) + optional_size(e.display_text, 29) +
           optional_size(e.referred_by, 30) + optional_size(e.status, 17) + optional_size(e.joining_method, 33) +
           optional_size(e.joining_when, 42) + optional_size(e.disconnection_method, 45) +
           optional_size(e.disconnection_when, 13) + optional_size(e.disconnection_reason, 17) +
           optional_size(e.disconnection_by, 9);
      for (const auto& m : e.media) n += 51 + m.id.size() + m.type.size() + m.status.size();
    }
  }
  return n + n / 16 + 64;  // slack for a few escaped characters
}

// <conference-description>: [display-text], subject, [free-text, keywords], conf-uris, [service-uris],
// maximum-user-count (RFC 4575 §6 conference-description-type order).
void render_description(Writer& w, const ConfDescription& d) {
  if (d.subject.empty() && d.conf_uris.empty() && !d.maximum_user_count) {
    w.raw("<conference-description/>"sv);
    return;
  }
  w.raw("<conference-description>"sv);
  text_element(w, "<subject>"sv, "</subject>"sv, d.subject);
  if (!d.conf_uris.empty()) {
    w.raw("<conf-uris>"sv);
    for (const auto& u : d.conf_uris) {
      // uri-type: uri (mandatory, so written even when empty), [display-text], purpose.
      w.raw("<entry><uri>"sv);
      w.escaped(u.uri);
      w.raw("</uri>"sv);
      text_element(w, "<purpose>"sv, "</purpose>"sv, u.purpose);
      w.raw("</entry>"sv);
    }
    w.raw("</conf-uris>"sv);
  }
  if (d.maximum_user_count) {
    w.raw("<maximum-user-count>"sv);
    w.number(*d.maximum_user_count);
    w.raw("</maximum-user-count>"sv);
  }
  w.raw("</conference-description>"sv);
}

// <conference-state>: user-count, active, locked, all three always (PROTOCOL.md §4.2: it is replaced as a unit).
void render_state(Writer& w, const ConfStateBlock& s) {
  w.raw("<conference-state><user-count>"sv);
  w.number(s.user_count);
  w.raw("</user-count><active>"sv);
  w.raw(s.active ? "true"sv : "false"sv);
  w.raw("</active><locked>"sv);
  w.raw(s.locked ? "true"sv : "false"sv);
  w.raw("</locked></conference-state>"sv);
}

// <media id>: [display-text], type, [label, src-id], status.
void render_media(Writer& w, const ConfMedia& m) {
  w.raw("<media id=\""sv);
  w.escaped(m.id);
  w.ch('"');
  if (m.type.empty() && m.status.empty()) {
    w.raw("/>"sv);
    return;
  }
  w.ch('>');
  text_element(w, "<type>"sv, "</type>"sv, m.type);
  text_element(w, "<status>"sv, "</status>"sv, m.status);
  w.raw("</media>"sv);
}

// <endpoint entity state>: display-text, referred, status, joining-method, joining-info, disconnection-method,
// disconnection-info, media (PROTOCOL.md §4.2; RFC 4575 §6 endpoint-type). `referred`, `joining-info` and
// `disconnection-info` are execution-type: when, reason, by.
void render_endpoint(Writer& w, const ConfEndpoint& e) {
  w.raw("<endpoint entity=\""sv);
  w.escaped(e.entity);
  w.ch('"');
  state_attr(w, e.state);
  const bool has_disc_info =
      !e.disconnection_when.empty() || !e.disconnection_reason.empty() || !e.disconnection_by.empty();
  // RFC 4575 §4.4: a deleted element carries no content.
  if (e.state == ElementState::Deleted ||
      (e.display_text.empty() && e.referred_by.empty() && e.status.empty() && e.joining_method.empty() &&
       e.joining_when.empty() && e.disconnection_method.empty() && !has_disc_info && e.media.empty())) {
    w.raw("/>"sv);
    return;
  }
  w.ch('>');
  text_element(w, "<display-text>"sv, "</display-text>"sv, e.display_text);
  // RFC 4575 §5.7.2: populated from the Referred-By header.
  text_element(w, "<referred><by>"sv, "</by></referred>"sv, e.referred_by);
  text_element(w, "<status>"sv, "</status>"sv, e.status);  // RFC 4575 §5.7.3
  text_element(w, "<joining-method>"sv, "</joining-method>"sv, e.joining_method);
  text_element(w, "<joining-info><when>"sv, "</when></joining-info>"sv, e.joining_when);
  text_element(w, "<disconnection-method>"sv, "</disconnection-method>"sv, e.disconnection_method);  // §5.7.6
  if (has_disc_info) {
    w.raw("<disconnection-info>"sv);
    text_element(w, "<when>"sv, "</when>"sv, e.disconnection_when);
    text_element(w, "<reason>"sv, "</reason>"sv, e.disconnection_reason);
    text_element(w, "<by>"sv, "</by>"sv, e.disconnection_by);
    w.raw("</disconnection-info>"sv);
  }
  for (const auto& m : e.media) render_media(w, m);
  w.raw("</endpoint>"sv);
}

// <user entity state>: display-text, [associated-aors, roles, languages, cascaded-focus], endpoint*.
void render_user(Writer& w, const ConfUser& u) {
  w.raw("<user entity=\""sv);
  w.escaped(u.entity);
  w.ch('"');
  state_attr(w, u.state);
  if (u.state == ElementState::Deleted || (u.display_text.empty() && u.endpoints.empty())) {
    w.raw("/>"sv);  // PROTOCOL.md §4.3 purge: <user entity="..." state="deleted"/>
    return;
  }
  w.ch('>');
  text_element(w, "<display-text>"sv, "</display-text>"sv, u.display_text);
  for (const auto& e : u.endpoints) render_endpoint(w, e);
  w.raw("</user>"sv);
}

}  // namespace

std::string xml_escape(std::string_view s) {
  Writer w(s.size() + s.size() / 8 + 8);
  w.escaped(s);
  return std::move(w).finish();
}

std::string render_conference_info(const ConferenceInfo& ci) {
  Writer w(estimate_size(ci));
  w.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<conference-info xmlns=\""sv);
  w.raw(kNamespace);
  w.raw("\" entity=\""sv);
  w.escaped(ci.entity);
  // The root always says its state (SESSIONS.md §0.3 finding 8); absent would mean "full" (RFC 4575 §4.4).
  w.raw("\" state=\""sv);
  w.raw(ci.state == ElementState::Unset ? "full"sv : state_name(ci.state));
  w.raw("\" version=\""sv);  // RFC 4575 §4.3: on the root only, always present
  w.number(ci.version);
  w.ch('"');

  // RFC 4575 §4.6 / PROTOCOL.md §4.4 example 5: a deleted conference is the bare root.
  if (ci.state == ElementState::Deleted || (!ci.description && !ci.conference_state && !ci.has_users)) {
    w.raw("/>"sv);
    return std::move(w).finish();
  }
  w.ch('>');
  // Root children in schema order: conference-description, host-info (not used), conference-state, users.
  if (ci.description) render_description(w, *ci.description);
  if (ci.conference_state) render_state(w, *ci.conference_state);
  if (ci.has_users) {
    w.raw("<users"sv);
    state_attr(w, ci.users_state);
    if (ci.users_state == ElementState::Deleted || ci.users.empty()) {
      w.raw("/>"sv);
    } else {
      w.ch('>');
      for (const auto& u : ci.users) render_user(w, u);
      w.raw("</users>"sv);
    }
  }
  w.raw("</conference-info>"sv);
  return std::move(w).finish();
}

}  // namespace imserver::codec
