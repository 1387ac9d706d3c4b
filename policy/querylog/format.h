// policy/querylog/format.h — QueryRecord → one JSON line, and the text helpers it needs.
//
// No shared state: called where the log is read (search, CLI; the writer stores binary frames,
// log_file.h) and by stats for client and name keys; the
// line formatter keeps a little text per thread (the current second, recurring "how it went"
// stretches) and its output depends only on its arguments. Output is always valid JSON: names are presentation text (RFC 1035 §5.1: \DDD for
// non-printable bytes, \. for a dot inside a label), and JSON strings escape control characters
// and replace invalid UTF-8 with U+FFFD, so a hostile name or rule text cannot break a line.
//
// Speed: until format 1 the writer thread formatted every logged query, so append_json_line
// builds the line in a stack buffer with hand-written digits and no temporary strings (one
// append to `out` per line); the write_* variants below let stats do the same. The
// std::string-returning helpers are for the control plane.
#pragma once

#include "base/civil_date.h"

#include <netinet/in.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "policy/querylog/record.h"
#include "policy/store/categories.h"

namespace sekisho::querylog {

// Appends one JSON object and a '\n'. `tenant_id` is the tenant's configured id ("" = none);
// `categories` names r.categories (the registry of the configuration that decided the query).
// Honours r.log_mode == anonymized (client /24 or /48); the caller never passes `none` records.
void append_json_line(std::string& out, const QueryRecord& r, std::string_view tenant_id,
                      const policy::CategoryRegistry& categories = policy::CategoryRegistry::builtins());
// The same line for a record read back from a query-log file (log_file.h): the tenant id and
// category slugs are the ones stored with it. The line is the one the writer would have written
// as JSON lines (before format 1), byte for byte.
struct StoredRecord;
void append_json_line(std::string& out, const StoredRecord& stored);

// "www.example.com" (no trailing dot; the root is "."). Stops at the first inconsistent label.
void append_presentation_name(std::string& out, const uint8_t* wire, size_t len);
std::string presentation_name(const QueryRecord& r);
// The same into a caller's buffer (a wire name of at most 255 octets needs at most 4 × 255
// characters: "\DDD" per octet); returns the length. Longer wire input is cut at 255 octets.
inline constexpr size_t kMaxPresentationName = 4 * 255;
size_t write_presentation_name(char (&out)[kMaxPresentationName], const uint8_t* wire, size_t len) noexcept;

// The client address as logged, into out: truncated to /24 or /48 when anonymized. Returns its
// length: 4, 16, or 0 for an unknown family. Inline: the writer's statistics key every record
// by it.
inline size_t logged_address(const QueryRecord& r, bool anonymize, uint8_t (&out)[16]) noexcept {
  if (r.client_family == AF_INET) {
    std::memcpy(out, r.client, 4);
    if (anonymize) out[3] = 0;  // /24
    return 4;
  }
  if (r.client_family == AF_INET6) {
    std::memcpy(out, r.client, 16);
    if (anonymize) std::memset(out + 6, 0, 10);  // /48
    return 16;
  }
  return 0;
}
// "192.0.2.1" / "2001:db8::1"; anonymized truncates to /24 or /48; unknown family → "".
std::string client_text(const QueryRecord& r, bool anonymize);
inline constexpr size_t kMaxClientText = INET6_ADDRSTRLEN;
size_t write_client_text(char (&out)[kMaxClientText], const QueryRecord& r, bool anonymize) noexcept;

std::string qtype_name(uint16_t qtype);        // "A", "HTTPS", "TYPE123"
std::string rcode_name(uint8_t rcode);         // "NOERROR", "RCODE12"
std::string_view action_name(QueryAction a);   // "blocked"
std::string_view rule_name(RuleKind k);        // "deny_list"
std::string_view transport_name(Transport t);  // "doh"

// UTC calendar helpers. Days are counted from 1970-01-01 (may be negative).
int64_t utc_day(int64_t time_us);
std::string date_text(int64_t day);                       // "2026-11-25"
using base::parse_date;                                    // inverse of date_text
void append_time(std::string& out, int64_t time_us);      // "2026-11-25T04:35:29.123456Z"

// JSON string body escaping (no surrounding quotes).
void append_json_escaped(std::string& out, std::string_view text);

}  // namespace sekisho::querylog
