#include "admin/api/querylog_search.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "policy/querylog/format.h"
#include "policy/querylog/log_file.h"
#include "policy/querylog/log_file_reader.h"

namespace sekisho::admin {
namespace {

// Records in a file are in the writer's order, which follows arrival time except that the
// loops' batches interleave (one 50 ms writer pass; a busy writer a little more). Seeking by
// time and stopping early assume no record is more than this far out of place.
constexpr int64_t kDisorderUs = 60 * 1000000;
constexpr size_t kBlock = 256 * 1024;

// "2026-11-24:123" is a place in that day's binary file, "2026-11-24:j:123" in its JSON-lines
// file (written before format 1; a day has both only around the upgrade, the JSON lines older).
struct Cursor {
  int64_t day = INT64_MAX;
  bool legacy = false;
  uint64_t offset = UINT64_MAX;  // continue with the records that start before this byte
};

Cursor parse_cursor(const std::string& text) {
  Cursor c;
  if (text.empty()) return c;
  const size_t colon = text.find(':');
  auto day = colon == std::string::npos ? std::nullopt : querylog::parse_date(std::string_view(text).substr(0, colon));
  uint64_t offset = 0;
  size_t at = colon == std::string::npos ? 0 : colon + 1;
  if (text.compare(at, 2, "j:") == 0) {
    c.legacy = true;
    at += 2;
  }
  const char* begin = text.data() + std::min(at, text.size());
  auto [ptr, ec] = std::from_chars(begin, text.data() + text.size(), offset);
  if (!day || ec != std::errc() || ptr != text.data() + text.size())
    throw std::invalid_argument("cursor: expected the next_cursor of a previous page");
  c.day = *day;
  c.offset = offset;
  return c;
}

std::string cursor_text(int64_t day, bool legacy, uint64_t offset) {
  return querylog::date_text(day) + (legacy ? ":j:" : ":") + std::to_string(offset);
}

std::string time_text(int64_t us) {
  std::string out;
  querylog::append_time(out, us);
  return out;
}

// One file of the log: a day's binary file, or its JSON-lines file of before format 1.
struct Source {
  int64_t day;
  bool legacy;
  bool operator<(const Source& o) const { return day != o.day ? day > o.day : legacy < o.legacy; }  // newest first
};

// The files within [first, last], newest first (of one day, the binary file first: it is the newer).
std::vector<Source> sources_on_disk(const std::string& directory, int64_t first, int64_t last) {
  std::vector<Source> sources;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(directory, ec)) {
    const std::string name = e.path().filename().string();
    for (const bool legacy : {false, true}) {
      auto day = querylog::log_file_day(name, legacy ? querylog::kLegacyFileSuffix : querylog::kLogFileSuffix);
      if (day && *day >= first && *day <= last) sources.push_back({*day, legacy});
    }
  }
  std::sort(sources.begin(), sources.end());
  return sources;
}

bool json_matches(const nlohmann::json& r, const LogQuery& q, const std::string& from, const std::string& to) {
  auto str = [&](const char* key) -> std::string {
    auto it = r.find(key);
    return it != r.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (!q.tenant.empty() && str("tenant") != q.tenant) return false;
  const std::string time = str("time");
  if (!from.empty() && time < from) return false;
  if (!to.empty() && time >= to) return false;
  if (!q.client.empty() && str("client") != q.client) return false;
  if (!q.device.empty() && str("device") != q.device) return false;
  if (!q.action.empty() && str("action") != q.action) return false;
  if (!q.name.empty() && str("name").find(q.name) == std::string::npos) return false;
  return true;
}

// The "time" text of a line without parsing it (fixed-width UTC, so text order is time order);
// empty when the line has none.
std::string_view line_time(std::string_view line) {
  constexpr std::string_view key = "\"time\":\"";
  const size_t at = line.find(key);
  if (at == std::string_view::npos) return {};
  const size_t start = at + key.size(), end = line.find('"', start);
  return end == std::string_view::npos ? std::string_view() : line.substr(start, end - start);
}

class DayFile {
 public:
  explicit DayFile(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    struct stat st {};
    if (fd_ >= 0 && ::fstat(fd_, &st) == 0) size_ = static_cast<uint64_t>(st.st_size);
  }
  ~DayFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  DayFile(const DayFile&) = delete;
  DayFile& operator=(const DayFile&) = delete;
  uint64_t size() const { return size_; }

  bool read_at(uint64_t offset, size_t n, std::string& out) const {
    out.resize(n);
    size_t done = 0;
    while (done < n) {
      const ssize_t got = ::pread(fd_, out.data() + done, n - done, static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break;
      done += static_cast<size_t>(got);
    }
    out.resize(done);
    return done == n;
  }

  // The start of the first whole line at or after `offset` (size() when none), and its time.
  uint64_t line_at_or_after(uint64_t offset, std::string& time) const {
    std::string buf;
    uint64_t start = offset;
    if (offset > 0) {  // offset is a line start only when the byte before it ends a line
      for (uint64_t at = offset - 1;; at += buf.size()) {
        if (at >= size_ || !read_at(at, std::min<uint64_t>(4096, size_ - at), buf) || buf.empty()) return size_;
        const size_t nl = buf.find('\n');
        if (nl != std::string::npos) {
          start = at + nl + 1;
          break;
        }
      }
    }
    if (start >= size_ || !read_at(start, std::min<uint64_t>(4096, size_ - start), buf)) return size_;
    time = std::string(line_time(std::string_view(buf).substr(0, buf.find('\n'))));
    return start;
  }

  // A line start at or before which every line has time < limit, give or take kDisorderUs
  // (the caller passes limit already widened by it): binary search on the lines' times.
  uint64_t seek_before(const std::string& limit, uint64_t hi) const {
    uint64_t lo = 0;  // invariant: the line starting at or after lo has time < limit (or lo = 0)
    while (hi - lo > 4096) {
      const uint64_t mid = lo + (hi - lo) / 2;
      std::string time;
      const uint64_t line = line_at_or_after(mid, time);
      if (line >= hi) {
        hi = mid;
      } else if (time.empty() || time < limit) {  // a line without a time never cuts the range short
        lo = line + 1;
      } else {
        hi = line;
      }
    }
    // [lo, hi) is small: the backwards scan reads it; hi itself starts a line or is the end.
    std::string time;
    return hi >= size_ ? size_ : line_at_or_after(hi, time);
  }

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
};

// One search: the query, what it implies (texts to compare with the JSON lines' times, needles),
// and the page it fills. scan_binary and scan_legacy each read one file and return true when
// the page is complete (full, or ended at the scan budget).
class Search {
 public:
  Search(const std::string& directory, const LogQuery& query) : directory_(directory), q_(query) {
    limit_ = std::max<size_t>(query.limit, 1);
    max_scan_ = std::max<uint64_t>(query.max_lines_scanned, 1);
    // JSON lines: times are fixed-width UTC text, so comparing text compares instants.
    if (query.from_us != INT64_MIN) {
      from_ = time_text(query.from_us);
      stop_before_ = time_text(query.from_us - kDisorderUs);
    }
    if (query.to_us != INT64_MAX) {
      to_ = time_text(query.to_us);
      seek_to_ = time_text(query.to_us + kDisorderUs);
    }
    // Cheap pre-filters before parsing JSON: a line without these bytes cannot match. Only for
    // values JSON never escapes, so the raw line holds them exactly as the parsed record does.
    auto plain = [](const std::string& v) {
      return std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':'; });
    };
    for (const auto& [key, value] : {std::pair{"tenant", &query.tenant}, std::pair{"client", &query.client},
                                     std::pair{"device", &query.device}, std::pair{"action", &query.action}})
      if (!value->empty() && plain(*value)) needles_.push_back("\"" + std::string(key) + "\":\"" + *value + "\"");
    if (!query.name.empty() && plain(query.name)) needles_.push_back(query.name);
  }

  LogPage& page() { return page_; }

  bool scan_binary(int64_t day, uint64_t end, bool last_source);
  bool scan_legacy(int64_t day, uint64_t end, bool last_source);

 private:
  bool matches(const querylog::StoredRecord& s);
  // Adds a match; true when the page is now full (next_cursor set unless nothing is older).
  bool add(nlohmann::json record, int64_t day, bool legacy, uint64_t offset, bool first_of_last_source);

  const std::string& directory_;
  const LogQuery& q_;
  size_t limit_;
  uint64_t max_scan_;
  std::string from_, to_, stop_before_, seek_to_;
  std::vector<std::string> needles_;
  LogPage page_;
  std::string line_;  // rendered JSON, reused
};

bool Search::add(nlohmann::json record, int64_t day, bool legacy, uint64_t offset, bool first_of_last_source) {
  page_.records.push_back(std::move(record));
  if (page_.records.size() < limit_) return false;
  if (!first_of_last_source) page_.next_cursor = cursor_text(day, legacy, offset);
  return true;
}

// The JSON line's filters, on the record itself: its fields are what the line would say.
bool Search::matches(const querylog::StoredRecord& s) {
  const querylog::QueryRecord& r = s.record;
  if (r.time_us < q_.from_us || r.time_us >= q_.to_us) return false;
  if (!q_.tenant.empty() && s.tenant_id != q_.tenant) return false;
  if (!q_.action.empty() && querylog::action_name(r.action) != q_.action) return false;
  if (!q_.device.empty() && std::string_view(r.device, strnlen(r.device, sizeof r.device)) != q_.device) return false;
  if (!q_.client.empty()) {
    char text[querylog::kMaxClientText];
    if (std::string_view(text, querylog::write_client_text(text, r, r.log_mode == querylog::LogMode::anonymized)) != q_.client)
      return false;
  }
  if (!q_.name.empty()) {
    char text[querylog::kMaxPresentationName];
    if (std::string_view(text, querylog::write_presentation_name(text, r.qname, r.qname_len)).find(q_.name) ==
        std::string_view::npos)
      return false;
  }
  return true;
}

bool Search::scan_binary(int64_t day, uint64_t end, bool last_source) {
  querylog::LogFileReader file(directory_ + "/" + querylog::log_file_name(day));
  if (!file.error().empty()) return false;  // not ours (moved aside by the writer) or gone
  querylog::StoredRecord record;
  end = std::min(end, file.size());
  if (q_.to_us != INT64_MAX) {
    // A binary search on the records' times for the last one before `to` (give or take the
    // disorder): the page reads backwards from there.
    const int64_t limit = q_.to_us + kDisorderUs;
    uint64_t lo = querylog::kLogHeaderSize, hi = end;
    while (hi - lo > 4096) {
      const uint64_t mid = lo + (hi - lo) / 2;
      const uint64_t at = file.frame_at_or_after(mid, record);
      if (at >= hi) {
        hi = mid;
      } else if (record.record.time_us < limit) {
        lo = at + 1;
      } else {
        hi = at;
      }
    }
    if (hi < end) end = file.frame_at_or_after(hi, record);
  }
  uint64_t start = 0;
  const uint64_t skipped_before = file.skipped_bytes();
  for (;;) {
    if (page_.lines_scanned >= max_scan_) {
      page_.next_cursor = cursor_text(day, false, end);  // the next page goes on with the record ending here
      page_.scan_limited = true;
      return true;
    }
    uint64_t frame_end = end;
    if (!file.previous(frame_end, start, record)) break;
    end = start;
    ++page_.lines_scanned;
    const querylog::QueryRecord& r = record.record;
    if (q_.from_us != INT64_MIN && r.time_us < q_.from_us - kDisorderUs) break;
    if (!matches(record)) continue;
    line_.clear();
    querylog::append_json_line(line_, record);
    if (add(nlohmann::json::parse(line_), day, false, start, last_source && start <= querylog::kLogHeaderSize)) {
      page_.bytes_unreadable += file.skipped_bytes() - skipped_before;
      return true;
    }
  }
  page_.bytes_unreadable += file.skipped_bytes() - skipped_before;
  return false;
}

bool Search::scan_legacy(int64_t day, uint64_t end_limit, bool last_source) {
  DayFile file(directory_ + "/" + querylog::log_file_name(day, querylog::kLegacyFileSuffix));
  // Newest first means from the end backwards, a block at a time. A page stops the read as
  // soon as it is full, and a time range only reads its own part of the file.
  uint64_t end = std::min<uint64_t>(file.size(), end_limit);
  if (!seek_to_.empty()) end = std::min(end, file.seek_before(seek_to_, end));
  std::string tail;  // bytes after the current block up to `end`: the start of a line we have not completed yet
  bool at_end = true;  // the bytes just before `end` may be a line still being written
  uint64_t pos = end;
  std::string block;
  while (pos > 0 || !tail.empty()) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kBlock, pos));
    pos -= n;
    if (n > 0 && !file.read_at(pos, n, block)) break;  // truncated under us (retention): stop here
    if (n == 0) block.clear();
    block += tail;
    // Lines end at '\n'. The last piece before `end` without one is still being written: skipped.
    size_t line_end = block.size();
    if (at_end) {
      const size_t nl = block.rfind('\n');
      if (nl == std::string::npos && pos > 0) {
        tail = std::move(block);
        continue;
      }
      line_end = nl == std::string::npos ? 0 : nl + 1;
      at_end = false;
    }
    // Walk the complete lines of block[..line_end) from the last; the first piece is whole
    // only at the start of the file.
    size_t stop_at = line_end;
    while (stop_at > 0) {
      const size_t prev_nl = stop_at >= 2 ? block.rfind('\n', stop_at - 2) : std::string::npos;
      const size_t start = prev_nl == std::string::npos ? 0 : prev_nl + 1;
      if (start == 0 && pos > 0) break;  // the line may begin in the previous block
      if (page_.lines_scanned >= max_scan_) {
        // This line is the next page's first: the cursor is the end of it (the start of
        // the line scanned last), and the next page reads everything before that.
        page_.next_cursor = cursor_text(day, true, pos + stop_at);
        page_.scan_limited = true;
        return true;
      }
      const std::string_view line(block.data() + start, stop_at - 1 - start);
      const uint64_t line_offset = pos + start;
      stop_at = start;
      ++page_.lines_scanned;
      if (!stop_before_.empty()) {
        const std::string_view t = line_time(line);
        if (!t.empty() && t < stop_before_) return false;
      }
      if (std::any_of(needles_.begin(), needles_.end(), [&](const std::string& n) { return line.find(n) == std::string_view::npos; }))
        continue;
      nlohmann::json r = nlohmann::json::parse(line, nullptr, false);
      if (r.is_discarded() || !r.is_object()) {
        ++page_.lines_unreadable;
        continue;
      }
      if (!json_matches(r, q_, from_, to_)) continue;
      // Nothing older exists only when this was the first line of the oldest file.
      if (add(std::move(r), day, true, line_offset, last_source && line_offset == 0)) return true;
    }
    tail = block.substr(0, stop_at);
    if (pos == 0 && stop_at == 0) break;
  }
  return false;
}

}  // namespace

LogPage search_querylog(const std::string& directory, const LogQuery& query) {
  const Cursor cursor = parse_cursor(query.cursor);
  const int64_t first_day = query.from_us == INT64_MIN ? INT64_MIN : querylog::utc_day(query.from_us);
  const int64_t last_day = std::min(cursor.day, query.to_us == INT64_MAX ? INT64_MAX : querylog::utc_day(query.to_us - 1));
  Search search(directory, query);
  const std::vector<Source> sources = sources_on_disk(directory, first_day, last_day);
  for (size_t i = 0; i < sources.size(); ++i) {
    const Source& s = sources[i];
    uint64_t end = UINT64_MAX;
    if (s.day == cursor.day) {
      if (cursor.legacy && !s.legacy) continue;  // the page before ended in the older file of the day
      if (cursor.legacy == s.legacy) end = cursor.offset;
    }
    const bool last = i + 1 == sources.size();
    if (s.legacy ? search.scan_legacy(s.day, end, last) : search.scan_binary(s.day, end, last)) break;
  }
  return std::move(search.page());
}

}  // namespace sekisho::admin
