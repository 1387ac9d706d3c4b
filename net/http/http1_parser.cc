#include "net/http/http1_parser.h"

#include <cctype>

namespace sekisho::net::http {
namespace {

constexpr size_t kMaxHeaderFields = 100;

// RFC 9110 §5.6.2 tchar.
bool is_tchar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-': case '.':
    case '^': case '_': case '`': case '|': case '~': return true;
    default: return false;
  }
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

// Field values: visible ASCII, obs-text, space and tab; never CR, LF or NUL.
bool valid_value(std::string_view s) {
  for (unsigned char c : s)
    if ((c < 0x20 && c != '\t') || c == 0x7F) return false;
  return true;
}

bool valid_target(std::string_view s) {
  if (s.empty() || s[0] != '/') return false;
  for (unsigned char c : s)
    if (c <= 0x20 || c >= 0x7F) return false;
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = trim_ows(list.substr(0, comma));
    if (item.size() == token.size()) {
      bool same = true;
      for (size_t i = 0; i < item.size() && same; ++i)
        same = std::tolower(static_cast<unsigned char>(item[i])) == token[i];
      if (same) return true;
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

Http1Result fail(int status, std::string reason) {
  Http1Result r;
  r.kind = Http1Result::error;
  r.status = status;
  r.reason = std::move(reason);
  return r;
}

Http1Result parse(std::string_view input, size_t max_header_bytes, size_t max_body_bytes, Request& request,
                  bool head_only) {
  size_t start = 0;
  while (input.size() - start >= 2 && input[start] == '\r' && input[start + 1] == '\n') start += 2;
  const size_t head_end = input.find("\r\n\r\n", start);
  if (head_end == std::string_view::npos) {
    if (input.size() - start > max_header_bytes) return fail(431, "request line and headers exceed " + std::to_string(max_header_bytes) + " bytes");
    return {};
  }
  if (head_end + 4 - start > max_header_bytes)
    return fail(431, "request line and headers exceed " + std::to_string(max_header_bytes) + " bytes");
  std::string_view head = input.substr(start, head_end - start);

  // Request line: method SP request-target SP HTTP-version.
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return fail(400, "malformed request line (expected: METHOD /path HTTP/1.1)");
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method)) return fail(400, "malformed method in request line");
  if (!valid_target(target)) return fail(400, "request target must be an absolute path (origin form)");
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      !std::isdigit(static_cast<unsigned char>(version[5])) || !std::isdigit(static_cast<unsigned char>(version[7])))
    return fail(400, "malformed HTTP version in request line");
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return fail(505, "only HTTP/1.1 and HTTP/1.0 are supported");

  request.method.assign(method);
  const size_t q = target.find('?');
  request.path.assign(target.substr(0, q));
  request.query.assign(q == std::string_view::npos ? std::string_view{} : target.substr(q + 1));
  request.version = version == "HTTP/1.1" ? 11 : 10;
  request.headers.clear();
  request.body.clear();

  // Header fields.
  std::string_view rest = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
  bool have_length = false, have_host = false, close = request.version == 10;
  bool chunked = false, connection_upgrade = false, have_upgrade = false;
  size_t content_length = 0;
  while (!rest.empty()) {
    eol = rest.find("\r\n");
    std::string_view field = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 2);
    if (field.empty()) continue;
    if (field[0] == ' ' || field[0] == '\t') return fail(400, "obsolete header line folding is not accepted");
    const size_t colon = field.find(':');
    if (colon == std::string_view::npos) return fail(400, "header line without ':'");
    std::string_view name = field.substr(0, colon);
    if (!is_token(name)) return fail(400, "malformed header name (no whitespace before ':')");
    std::string_view value = trim_ows(field.substr(colon + 1));
    if (!valid_value(value)) return fail(400, "control characters in a header value");
    if (request.headers.size() >= kMaxHeaderFields) return fail(431, "more than 100 header fields");
    Header h;
    h.name.resize(name.size());
    for (size_t i = 0; i < name.size(); ++i) h.name[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
    h.value.assign(value);
    if (h.name == "transfer-encoding") {
      if (!head_only) return fail(411, "transfer codings (chunked) are not accepted in requests; send Content-Length");
      if (value.size() != 7 || !has_token(value, "chunked"))
        return fail(501, "only the chunked transfer coding is supported");
      chunked = true;
    }
    if (h.name == "upgrade") have_upgrade = true;
    if (h.name == "content-length") {
      if (value.empty() || value.size() > 18) return fail(400, "malformed Content-Length");
      size_t n = 0;
      for (char c : value) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return fail(400, "malformed Content-Length");
        n = n * 10 + static_cast<size_t>(c - '0');
      }
      if (have_length && n != content_length) return fail(400, "conflicting Content-Length headers");
      have_length = true;
      content_length = n;
    }
    if (h.name == "host") have_host = true;
    if (h.name == "connection") {
      if (has_token(value, "close")) close = true;
      else if (has_token(value, "keep-alive")) close = false;
      if (has_token(value, "upgrade")) connection_upgrade = true;
    }
    request.headers.push_back(std::move(h));
  }
  if (request.version == 11 && !have_host) return fail(400, "HTTP/1.1 request without Host header");
  if (content_length > max_body_bytes)
    return fail(413, "request body of " + std::to_string(content_length) + " bytes exceeds " +
                         std::to_string(max_body_bytes));

  const size_t body_start = head_end + 4;
  if (head_only) {
    if (chunked && have_length) return fail(400, "both Transfer-Encoding and Content-Length");
    Http1Result r;
    r.kind = Http1Result::complete;
    r.consumed = body_start;
    r.keep_alive = !close;
    r.content_length = content_length;
    r.chunked = chunked;
    r.upgrade = connection_upgrade && have_upgrade && request.version == 11;
    return r;
  }
  if (input.size() - body_start < content_length) return {};
  request.body.assign(input.substr(body_start, content_length));
  Http1Result r;
  r.kind = Http1Result::complete;
  r.consumed = body_start + content_length;
  r.keep_alive = !close;
  return r;
}

}  // namespace

Http1Result parse_http1_request(std::string_view input, size_t max_header_bytes, size_t max_body_bytes,
                                Request& request) {
  return parse(input, max_header_bytes, max_body_bytes, request, false);
}

Http1Result parse_http1_head(std::string_view input, size_t max_header_bytes, size_t max_body_bytes,
                             Request& request) {
  return parse(input, max_header_bytes, max_body_bytes, request, true);
}

}  // namespace sekisho::net::http
