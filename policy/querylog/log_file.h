// policy/querylog/log_file.h — the query log's on-disk format (version 1): a file header, then
// one self-checking frame per record. The README ("Query-log files") is the specification;
// this is the one implementation, for the writer, the search, the CLI and the tests.
//
//   file   = header frame*
//   header = "SKSHQLOG" u16 version (1) u16 header size (16) u32 zero          16 bytes
//   frame  = u16 size, u32 CRC-32C, body, u16 size                             little-endian
//            size counts the whole frame (8 + body); the CRC-32C (base/crc32c.h) covers the
//            body; the size is repeated at the end so a reader can walk backwards.
//   body   = i64 time_us, u32 latency_us, u16 qtype, u8 rcode, u8 transport, u8 action,
//            u8 log_mode, u8 rule, u8 upstream (255 none), u8 client_family (0, 4 or 6),
//            u8 qname_len, u16 tenant_len, u8 device_len, u8 rule_text_len,
//            u8 category_count                                                     27 bytes
//            client (0, 4 or 16 bytes: as logged, already cut to /24 or /48 when anonymized)
//            qname (wire form, lower case), tenant id, device, rule text,
//            category_count × (u8 id, u8 slug_len, slug)   (slug_len 0: the id had no name)
//
// Why frames check themselves: a crash can leave a torn last frame (or zeros past it); the
// sizes and the CRC reject it, so a reader skips it and never reads a partial record as a
// record. The writer cuts such a tail off when it reopens the file (valid_end). Every text a
// record names is in the frame (tenant id, category slugs), so a file reads the same after a
// reload renumbered tenants or redefined categories, and needs nothing but itself.
//
// Thread safety: free functions over caller-owned bytes; no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "policy/querylog/record.h"
#include "policy/store/categories.h"

namespace sekisho::querylog {

inline constexpr std::string_view kLogFilePrefix = "queries-";
inline constexpr std::string_view kLogFileSuffix = ".qlog";      // queries-YYYY-MM-DD.qlog
inline constexpr std::string_view kLegacyFileSuffix = ".jsonl";  // JSON lines, before format 1

inline constexpr uint16_t kLogFormatVersion = 1;
inline constexpr size_t kLogHeaderSize = 16;
inline constexpr size_t kFrameOverhead = 8;    // size, CRC, trailing size
inline constexpr size_t kFixedBody = 27;
inline constexpr size_t kMinFrame = kFrameOverhead + kFixedBody;
inline constexpr size_t kMaxFrame = 0xFFFF;
// A tenant id longer than this is cut (config ids are short; this keeps every frame in a u16).
inline constexpr size_t kMaxStoredTenantId = 1024;

// "queries-2026-12-07.qlog" (or .jsonl with the legacy suffix) for a UTC day.
std::string log_file_name(int64_t day, std::string_view suffix = kLogFileSuffix);
// The day of a file name of that form and suffix; nullopt for any other name.
std::optional<int64_t> log_file_day(std::string_view name, std::string_view suffix);

void write_log_header(uint8_t (&out)[kLogHeaderSize]);
// Empty when `bytes` start with our header; else why not ("not a sekisho query log", "format
// version 7 is newer than this program reads (1)").
std::string check_log_header(std::span<const uint8_t> bytes);

// Appends r's frame to out and returns its size. `tenant_id` is the tenant's configured id ("" =
// none); `categories` names r's category ids. The client is stored as logged: cut to /24 or /48
// when r.log_mode is anonymized, so a full address never reaches the disk. No allocation once
// `out` has room (the writer reuses its buffer).
size_t append_frame(std::string& out, const QueryRecord& r, std::string_view tenant_id,
                    const policy::CategoryRegistry& categories);

// One record read back: the fixed fields in a QueryRecord (its categories set from the stored
// ids, generation 0), the texts as views into the frame's bytes.
struct StoredRecord {
  QueryRecord record;
  std::string_view tenant_id;
  std::vector<std::pair<uint8_t, std::string_view>> categories;  // id, slug ("" = unnamed), ascending id
};

// The size of the valid frame at the start of `bytes` (sizes agree, CRC matches, body well
// formed), or 0. Never reads past `bytes`.
size_t frame_at(std::span<const uint8_t> bytes);
// The size of the valid frame that ends exactly at the end of `bytes`, or 0.
size_t frame_ending_at(std::span<const uint8_t> bytes);
// Decodes a frame frame_at accepted (exactly its bytes). False for anything else. `out` is
// reused: its category vector keeps its capacity.
bool decode_frame(std::span<const uint8_t> frame, StoredRecord& out);

}  // namespace sekisho::querylog
