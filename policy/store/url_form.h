// policy/store/url_form.h — the one canonical form of a URL, for the store's URL keys.
//
// Every importer's URL entries (ImportSink::add_url: UT1 `urls`, URL lines of domain lists),
// `sekisho db lookup` and sekisho-intercept's deep URL check turn a URL into this form, so that a listed URL matches
// however a client spells it (issue 19: `%5F` for `_`, `/x/../au/…`, `/au//market/…`,
// `/AU/market/…` all reached the origin):
//
//   * scheme, userinfo, port and fragment are dropped; the host is a store name key
//     (lower case, IDNA A-labels, no trailing dot: policy/import/idna.h, key_format.h);
//   * path: every percent-escape is decoded except those of '/', '\', '?', '#' and '%' (RFC 3986
//     §6.2.2.2 decodes unreserved characters only; nginx and Apache also decode sub-delimiters,
//     ':' and '@' before they match a location, so a spelling the origin treats alike must
//     match alike); a byte that may not appear in a path (space, controls, non-ASCII, `"<>^`{|}`)
//     is written as an escape with upper-case hex digits; '\' is '/' (browsers send it so for
//     http(s), IIS treats it so); ASCII letters are folded to lower case (IIS and every
//     case-insensitive file system serve `/AU/` and `/au/` alike: a block list must not be
//     bypassed by case); empty segments (`//`) are dropped and then `.`/`..` are resolved
//     (RFC 3986 §5.2.4), nginx's order (merge_slashes, then dot segments); no leading or
//     trailing '/';
//   * query: split at '&' into parameters; each keeps its case, unreserved escapes decoded and
//     other escapes upper-cased (§6.2.2.1-2; '+', '=' and '&' keep their meaning to the
//     application, so nothing else is decoded); an entry stores its parameters sorted, and
//     matches a request whose query holds every one of them, in any order, among others.
//
// A store key is `hostkey '/' path` or `hostkey '/' path '?' param('&' param)*`. The form is
// idempotent: canonicalising a canonical key's path or parameters gives them back unchanged.
// canonical_path and canonical_param write into the caller's buffer and never allocate (the
// intercept's request path); key_of, for importers and re-keying, allocates.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sekisho::policy::url {

// The parts of a URL as written in a list or on a command line, or of a request target:
// [scheme "://"] [userinfo "@"] host [":" port] [path] ["?" query] ["#" fragment].
struct Parts {
  std::string_view host;   // without userinfo, port or IPv6 brackets; empty for a request target
  std::string_view path;   // as written ("" or from the first '/' or '\')
  std::string_view query;  // without its '?'
  bool has_query = false;
};
Parts split(std::string_view url) noexcept;
// A request target in origin form ("/path?query#fragment"): no host part.
Parts split_target(std::string_view target) noexcept;

// The canonical path (see above) of `path` in out[0, len). When it does not fit in cap bytes,
// `truncated` is set and out holds the longest run of its whole leading segments that fits (a
// prefix of the canonical path at a segment boundary, whatever `..` segments come later).
struct PathForm {
  size_t len = 0;
  bool truncated = false;
};
PathForm canonical_path(std::string_view path, char* out, size_t cap) noexcept;

// One query parameter in canonical form in out; returns its length, 0 when it is empty or does
// not fit in cap bytes.
size_t canonical_param(std::string_view param, char* out, size_t cap) noexcept;

// Calls f(raw parameter) for every non-empty '&'-separated parameter of a query.
template <class F>
void for_each_param(std::string_view query, F&& f) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    if (amp > pos) f(query.substr(pos, amp - pos));
    pos = amp + 1;
  }
}

// The store key of an entry for a host key (key_format.h) and the path and query of p; false
// when it would be over kMaxUrlKeyLen. Control plane (allocates).
bool key_of(std::string_view host_key, const Parts& p, std::string& key);

}  // namespace sekisho::policy::url
