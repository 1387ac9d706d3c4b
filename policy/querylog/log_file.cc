// policy/querylog/log_file.cc — see log_file.h for the format. Integers are written byte by byte
// in little-endian order (the compiler makes one move of each on little-endian hosts), so a file
// reads the same on any host.
#include "policy/querylog/log_file.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "base/crc32c.h"
#include "policy/querylog/format.h"

namespace sekisho::querylog {
namespace {

constexpr uint8_t kMagic[8] = {'S', 'K', 'S', 'H', 'Q', 'L', 'O', 'G'};
constexpr uint8_t kFamilyV4 = 4, kFamilyV6 = 6;  // not AF_*: those differ between systems
constexpr size_t kMaxStoredCategories = 255;      // a u8 count; a record never has more in practice

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint32_t checksum(const uint8_t* data, size_t n) { return base::crc32c(data, n); }

template <size_t N>
std::string_view bounded(const char (&text)[N]) {
  return {text, strnlen(text, N)};
}

template <class T>
T* put_bytes(T* p, const void* data, size_t n) {
  if (n != 0) std::memcpy(p, data, n);  // data may be null when n is 0
  return p + n;
}

// Reads a body's variable part, checking that its lengths add up to the body exactly and that
// every field is one this version writes. `out` null: check only.
bool parse_body(const uint8_t* b, size_t n, StoredRecord* out) {
  if (n < kFixedBody) return false;
  const uint8_t transport = b[15], action = b[16], log_mode = b[17], rule = b[18], family = b[20];
  const size_t qname_len = b[21], tenant_len = get16(b + 22), device_len = b[24], rule_text_len = b[25];
  const size_t category_count = b[26];
  if (transport > static_cast<uint8_t>(Transport::doh) || action > static_cast<uint8_t>(kLastQueryAction) ||
      log_mode > static_cast<uint8_t>(LogMode::none) || rule > static_cast<uint8_t>(RuleKind::safe_search))
    return false;
  if (family != 0 && family != kFamilyV4 && family != kFamilyV6) return false;
  const size_t client_len = family == kFamilyV4 ? 4 : family == kFamilyV6 ? 16 : 0;
  if (device_len >= sizeof QueryRecord::device || rule_text_len >= sizeof QueryRecord::rule_text ||
      tenant_len > kMaxStoredTenantId)
    return false;
  size_t at = kFixedBody;
  const size_t texts = client_len + qname_len + tenant_len + device_len + rule_text_len;
  if (n - at < texts) return false;
  const uint8_t* client = b + at;
  const uint8_t* qname = client + client_len;
  const uint8_t* tenant = qname + qname_len;
  const uint8_t* device = tenant + tenant_len;
  const uint8_t* rule_text = device + device_len;
  at += texts;
  if (out) out->categories.clear();
  policy::CategorySet ids;
  int previous = -1;
  for (size_t i = 0; i < category_count; ++i) {
    if (n - at < 2) return false;
    const uint8_t id = b[at], slug_len = b[at + 1];
    if (id <= previous || n - at - 2 < slug_len) return false;  // ascending, like CategorySet::for_each
    previous = id;
    ids.add(id);
    if (out) out->categories.emplace_back(id, std::string_view(reinterpret_cast<const char*>(b + at + 2), slug_len));
    at += 2 + size_t{slug_len};
  }
  if (at != n) return false;
  if (!out) return true;
  QueryRecord& r = out->record;
  r = QueryRecord{};
  r.time_us = static_cast<int64_t>(get64(b));
  r.latency_us = get32(b + 8);
  r.qtype = get16(b + 12);
  r.rcode = b[14];
  r.transport = static_cast<Transport>(transport);
  r.action = static_cast<QueryAction>(action);
  r.log_mode = static_cast<LogMode>(log_mode);
  r.rule = static_cast<RuleKind>(rule);
  r.upstream = b[19];
  r.client_family = family == kFamilyV4 ? AF_INET : family == kFamilyV6 ? AF_INET6 : 0;
  put_bytes(r.client, client, client_len);
  r.qname_len = static_cast<uint8_t>(qname_len);
  put_bytes(r.qname, qname, qname_len);
  put_bytes(r.device, device, device_len);
  put_bytes(r.rule_text, rule_text, rule_text_len);
  r.categories = ids;
  out->tenant_id = std::string_view(reinterpret_cast<const char*>(tenant), tenant_len);
  return true;
}

}  // namespace

std::string log_file_name(int64_t day, std::string_view suffix) {
  return std::string(kLogFilePrefix) + date_text(day) + std::string(suffix);
}

std::optional<int64_t> log_file_day(std::string_view name, std::string_view suffix) {
  if (name.size() != kLogFilePrefix.size() + 10 + suffix.size() || !name.starts_with(kLogFilePrefix) ||
      !name.ends_with(suffix))
    return std::nullopt;
  return parse_date(name.substr(kLogFilePrefix.size(), 10));
}

void write_log_header(uint8_t (&out)[kLogHeaderSize]) {
  std::memcpy(out, kMagic, sizeof kMagic);
  put16(out + 8, kLogFormatVersion);
  put16(out + 10, kLogHeaderSize);
  put32(out + 12, 0);
}

std::string check_log_header(std::span<const uint8_t> bytes) {
  if (bytes.size() < kLogHeaderSize || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    return "not a sekisho query log (no SKSHQLOG header)";
  const uint16_t version = get16(bytes.data() + 8);
  if (version != kLogFormatVersion)
    return "query-log format version " + std::to_string(version) + " (this program reads version " +
           std::to_string(kLogFormatVersion) + ")";
  if (get16(bytes.data() + 10) != kLogHeaderSize) return "query-log header of an unexpected size";
  return {};
}

size_t append_frame(std::string& out, const QueryRecord& r, std::string_view tenant_id,
                    const policy::CategoryRegistry& categories) {
  uint8_t client[16];
  const size_t client_len = logged_address(r, r.log_mode == LogMode::anonymized, client);
  tenant_id = tenant_id.substr(0, kMaxStoredTenantId);
  const std::string_view device = bounded(r.device), rule_text = bounded(r.rule_text);
  size_t category_count = 0, slug_bytes = 0;
  r.categories.for_each([&](uint8_t id) {
    if (category_count == kMaxStoredCategories) return;
    ++category_count;
    if (const auto* info = categories.by_id(id)) slug_bytes += 2 + std::min<size_t>(info->slug.size(), 255);
    else slug_bytes += 2;
  });
  const size_t body = kFixedBody + client_len + r.qname_len + tenant_id.size() + device.size() + rule_text.size() + slug_bytes;
  const size_t size = kFrameOverhead + body;  // at most ~10 KB: see kMaxStoredTenantId
  const size_t start = out.size();
  out.resize(start + size);
  uint8_t* const frame = reinterpret_cast<uint8_t*>(out.data()) + start;
  uint8_t* const b = frame + 6;
  put64(b, static_cast<uint64_t>(r.time_us));
  put32(b + 8, r.latency_us);
  put16(b + 12, r.qtype);
  b[14] = r.rcode;
  b[15] = static_cast<uint8_t>(r.transport);
  b[16] = static_cast<uint8_t>(r.action);
  b[17] = static_cast<uint8_t>(r.log_mode);
  b[18] = static_cast<uint8_t>(r.rule);
  b[19] = r.upstream;
  b[20] = r.client_family == AF_INET ? kFamilyV4 : r.client_family == AF_INET6 ? kFamilyV6 : 0;
  b[21] = r.qname_len;
  put16(b + 22, static_cast<uint16_t>(tenant_id.size()));
  b[24] = static_cast<uint8_t>(device.size());
  b[25] = static_cast<uint8_t>(rule_text.size());
  b[26] = static_cast<uint8_t>(category_count);
  uint8_t* p = b + kFixedBody;
  p = put_bytes(p, client, client_len);
  p = put_bytes(p, r.qname, r.qname_len);
  p = put_bytes(p, tenant_id.data(), tenant_id.size());
  p = put_bytes(p, device.data(), device.size());
  p = put_bytes(p, rule_text.data(), rule_text.size());
  size_t written = 0;
  r.categories.for_each([&](uint8_t id) {
    if (written++ == kMaxStoredCategories) return;
    const auto* info = categories.by_id(id);
    const size_t n = info ? std::min<size_t>(info->slug.size(), 255) : 0;
    *p++ = id;
    *p++ = static_cast<uint8_t>(n);
    p = put_bytes(p, info ? info->slug.data() : nullptr, n);
  });
  put16(frame, static_cast<uint16_t>(size));
  put32(frame + 2, checksum(b, body));
  put16(frame + size - 2, static_cast<uint16_t>(size));
  return size;
}

size_t frame_at(std::span<const uint8_t> bytes) {
  if (bytes.size() < kMinFrame) return 0;
  const size_t size = get16(bytes.data());
  if (size < kMinFrame || size > bytes.size() || get16(bytes.data() + size - 2) != size) return 0;
  const uint8_t* body = bytes.data() + 6;
  const size_t body_len = size - kFrameOverhead;
  if (checksum(body, body_len) != get32(bytes.data() + 2) || !parse_body(body, body_len, nullptr)) return 0;
  return size;
}

size_t frame_ending_at(std::span<const uint8_t> bytes) {
  if (bytes.size() < kMinFrame) return 0;
  const size_t size = get16(bytes.data() + bytes.size() - 2);
  if (size < kMinFrame || size > bytes.size()) return 0;
  return frame_at(bytes.last(size)) == size ? size : 0;
}

bool decode_frame(std::span<const uint8_t> frame, StoredRecord& out) {
  if (frame.size() < kMinFrame || get16(frame.data()) != frame.size()) return false;
  return parse_body(frame.data() + 6, frame.size() - kFrameOverhead, &out);
}

}  // namespace sekisho::querylog
