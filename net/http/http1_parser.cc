#include "net/http/http1_parser.h"

#include <algorithm>
#include <cctype>

#include "base/text.h"

namespace sekisho::net::http {
namespace {

constexpr size_t kMaxRequestFields = 100;
// Responses: origins send many Set-Cookie and security headers; the head's byte limit bounds them.
constexpr size_t kMaxResponseFields = 1000;

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

// Field values (and reason phrases): visible ASCII, obs-text, space and tab; never CR, LF or NUL.
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

bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    if (base::equals_ignoring_case(base::trim(list.substr(0, comma)), token)) return true;
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

Http1Result complete_result() {
  Http1Result r;
  r.kind = Http1Result::complete;
  return r;
}

// Which message the header fields belong to: the rules for Transfer-Encoding and the statuses
// of errors differ.
enum class Mode { request, request_head, response };

// What the header fields say about the message's framing and its connection.
struct FieldFacts {
  std::optional<uint64_t> content_length;
  bool have_host = false;
  bool close = false;  // starts as the version's default; the last Connection field decides
  bool close_token = false;  // any Connection field said close
  bool connection_upgrade = false, have_upgrade = false;
  int transfer_encodings = 0;     // Transfer-Encoding fields
  std::string_view transfer_coding;  // the last one's value
};

// The header fields of a head (after its start line), appended to `headers` with lower-case
// names. The first error ends the parse: its status is the request's answer (responses: 502).
Http1Result parse_fields(std::string_view rest, Mode mode, std::vector<Header>& headers, FieldFacts& f) {
  const bool response = mode == Mode::response;
  auto error = [response](int status, std::string reason) { return fail(response ? 502 : status, std::move(reason)); };
  const size_t max_fields = response ? kMaxResponseFields : kMaxRequestFields;
  while (!rest.empty()) {
    const size_t eol = rest.find("\r\n");
    std::string_view field = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 2);
    if (field.empty()) continue;
    // Requests: RFC 9112 §5.2 lets a server reject. Responses: a proxy either rejects with 502
    // or unfolds; rejecting is the one that cannot be mistaken.
    if (field[0] == ' ' || field[0] == '\t') return error(400, "obsolete header line folding is not accepted");
    const size_t colon = field.find(':');
    if (colon == std::string_view::npos) return error(400, "header line without ':'");
    std::string_view name = field.substr(0, colon);
    if (!is_token(name)) return error(400, "malformed header name (no whitespace before ':')");
    std::string_view value = base::trim(field.substr(colon + 1));  // OWS: spaces and tabs
    if (!valid_value(value)) return error(400, "control characters in a header value");
    if (headers.size() >= max_fields)
      return error(431, "more than " + std::to_string(max_fields) + " header fields");
    Header h;
    h.name = base::ascii_lower(name);
    h.value.assign(value);
    if (h.name == "transfer-encoding") {
      if (mode == Mode::request)
        return fail(411, "transfer codings (chunked) are not accepted in requests; send Content-Length");
      if (mode == Mode::request_head && (value.size() != 7 || !has_token(value, "chunked")))
        return fail(501, "only the chunked transfer coding is supported");
      ++f.transfer_encodings;
      f.transfer_coding = value;
    }
    if (h.name == "upgrade") f.have_upgrade = true;
    if (h.name == "content-length") {
      // Digits only: a list ("5, 5"), a sign or spaces inside are malformed (RFC 9110 §8.6).
      if (value.empty() || value.size() > 18) return error(400, "malformed Content-Length");
      uint64_t n = 0;
      for (char c : value) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return error(400, "malformed Content-Length");
        n = n * 10 + static_cast<uint64_t>(c - '0');
      }
      if (f.content_length && n != *f.content_length) return error(400, "conflicting Content-Length headers");
      f.content_length = n;
    }
    if (h.name == "host") f.have_host = true;
    if (h.name == "connection") {
      if (has_token(value, "close")) f.close = f.close_token = true;
      else if (has_token(value, "keep-alive")) f.close = false;
      if (has_token(value, "upgrade")) f.connection_upgrade = true;
    }
    headers.push_back(std::move(h));
  }
  return complete_result();
}

// The head's end: the blank line after the fields. `start` skips leading empty lines.
// Returns npos while incomplete; `over` when the head is over the limit.
Http1Result find_head(std::string_view input, size_t start, size_t max_header_bytes, size_t& head_end,
                      std::string_view what, int status) {
  head_end = input.find("\r\n\r\n", start);
  if ((head_end == std::string_view::npos && input.size() - start > max_header_bytes) ||
      (head_end != std::string_view::npos && head_end + 4 - start > max_header_bytes))
    return fail(status, std::string(what) + " exceed " + std::to_string(max_header_bytes) + " bytes");
  if (head_end == std::string_view::npos) return {};
  return complete_result();
}

Http1Result parse(std::string_view input, size_t max_header_bytes, size_t max_body_bytes, Request& request,
                  bool head_only) {
  size_t start = 0;
  while (input.size() - start >= 2 && input[start] == '\r' && input[start + 1] == '\n') start += 2;
  size_t head_end = 0;
  if (Http1Result found = find_head(input, start, max_header_bytes, head_end, "request line and headers", 431);
      found.kind != Http1Result::complete)
    return found;
  std::string_view head = input.substr(start, head_end - start);

  // Request line: method SP request-target SP HTTP-version.
  const size_t eol = head.find("\r\n");
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

  FieldFacts f;
  f.close = request.version == 10;
  Http1Result fields = parse_fields(eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2),
                                    head_only ? Mode::request_head : Mode::request, request.headers, f);
  if (fields.kind == Http1Result::error) return fields;
  if (request.version == 11 && !f.have_host) return fail(400, "HTTP/1.1 request without Host header");
  const uint64_t content_length = f.content_length.value_or(0);
  if (content_length > max_body_bytes)
    return fail(413, "request body of " + std::to_string(content_length) + " bytes exceeds " +
                         std::to_string(max_body_bytes));

  const size_t body_start = head_end + 4;
  Http1Result r;
  r.keep_alive = !f.close;
  if (head_only) {
    const bool chunked = f.transfer_encodings > 0;
    if (chunked && f.content_length) return fail(400, "both Transfer-Encoding and Content-Length");
    r.kind = Http1Result::complete;
    r.consumed = body_start;
    r.content_length = f.content_length;
    r.framing = chunked ? Framing::chunked : content_length > 0 ? Framing::length : Framing::none;
    r.upgrade = f.connection_upgrade && f.have_upgrade && request.version == 11;
    return r;
  }
  if (input.size() - body_start < content_length) return {};
  request.body.assign(input.substr(body_start, content_length));
  r.kind = Http1Result::complete;
  r.consumed = body_start + content_length;
  r.content_length = f.content_length;
  r.framing = content_length > 0 ? Framing::length : Framing::none;
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

Http1Result parse_http1_response_head(std::string_view input, size_t max_header_bytes,
                                      std::string_view request_method, Response& response) {
  size_t head_end = 0;
  if (Http1Result found = find_head(input, 0, max_header_bytes, head_end, "status line and headers", 502);
      found.kind != Http1Result::complete)
    return found;
  std::string_view head = input.substr(0, head_end);

  // Status line: HTTP-version SP 3DIGIT SP [reason-phrase] (RFC 9112 §4). The SP before an empty
  // reason is often left out; nothing depends on it, so both forms are accepted.
  const size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  if (line.size() < 12 || line.substr(0, 5) != "HTTP/" || line[8] != ' ' || (line.size() > 12 && line[12] != ' '))
    return fail(502, "malformed status line (expected: HTTP/1.1 200 OK)");
  std::string_view version = line.substr(0, 8);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return fail(502, "unsupported HTTP version " + std::string(version));
  const std::string_view code = line.substr(9, 3);
  if (code[0] < '1' || code[0] > '5' || !std::isdigit(static_cast<unsigned char>(code[1])) ||
      !std::isdigit(static_cast<unsigned char>(code[2])))
    return fail(502, "malformed status code in status line");
  if (line.size() > 12 && !valid_value(line.substr(13))) return fail(502, "control characters in the reason phrase");
  response.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  response.headers.clear();
  response.body.clear();

  FieldFacts f;
  f.close = version == "HTTP/1.0";
  Http1Result fields = parse_fields(eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2),
                                    Mode::response, response.headers, f);
  if (fields.kind == Http1Result::error) return fields;

  Http1Result r;
  r.kind = Http1Result::complete;
  r.consumed = head_end + 4;
  // A connection the origin said it closes is never pooled, whatever another field says.
  r.keep_alive = !f.close && !f.close_token;
  r.content_length = f.content_length;
  r.upgrade = f.connection_upgrade && f.have_upgrade;
  // RFC 9112 §6.3, in its order. 1: no body whatever the fields say.
  const int status = response.status;
  if (request_method == "HEAD" || status < 200 || status == 204 || status == 304) {
    r.framing = Framing::none;
    return r;
  }
  if (f.transfer_encodings > 0) {
    // 3: both is the shape of response splitting; a proxy must not pass it on as it came.
    if (f.content_length) return fail(502, "both Transfer-Encoding and Content-Length");
    // 4: only chunked can be decoded here and sent on without the coding.
    if (f.transfer_encodings > 1 || !base::equals_ignoring_case(f.transfer_coding, "chunked"))
      return fail(502, "unsupported transfer coding \"" + std::string(f.transfer_coding) + "\" (only chunked)");
    r.framing = Framing::chunked;
    return r;
  }
  if (f.content_length) {  // 6 (5, an invalid one, failed in parse_fields)
    r.framing = Framing::length;
    return r;
  }
  r.framing = Framing::until_close;  // 8
  r.keep_alive = false;
  return r;
}

void BodyDecoder::take(std::string& buffer, std::string& out) {
  switch (framing_) {
    case Framing::none:
      return;
    case Framing::length: {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, buffer.size()));
      remaining_ -= n;
      if (n == buffer.size() && out.empty()) {
        out.swap(buffer);
      } else {
        out.append(buffer, 0, n);
        buffer.erase(0, n);
      }
      return;
    }
    case Framing::chunked:
      buffer.erase(0, chunks_.feed(buffer, out));
      return;
    case Framing::until_close:
      if (out.empty()) out.swap(buffer);
      else out.append(buffer);
      buffer.clear();
      return;
  }
}

bool BodyDecoder::done() const {
  switch (framing_) {
    case Framing::none: return true;
    case Framing::length: return remaining_ == 0;
    case Framing::chunked: return chunks_.done();
    case Framing::until_close: return false;
  }
  return false;
}

}  // namespace sekisho::net::http
