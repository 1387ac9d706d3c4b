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

namespace sekisho::admin {
namespace {

// Records in a file are in the writer's order, which follows arrival time except that the
// loops' batches interleave (one 50 ms writer pass; a busy writer a little more). Seeking by
// time and stopping early assume no record is more than this far out of place.
constexpr int64_t kDisorderUs = 60 * 1000000;
constexpr size_t kBlock = 256 * 1024;

struct Cursor {
  int64_t day = INT64_MAX;
  uint64_t offset = UINT64_MAX;  // continue with the lines that start before this byte
};

Cursor parse_cursor(const std::string& text) {
  Cursor c;
  if (text.empty()) return c;
  const size_t colon = text.find(':');
  auto day = colon == std::string::npos ? std::nullopt : querylog::parse_date(std::string_view(text).substr(0, colon));
  uint64_t offset = 0;
  const char* begin = text.data() + (colon == std::string::npos ? 0 : colon + 1);
  auto [ptr, ec] = std::from_chars(begin, text.data() + text.size(), offset);
  if (!day || ec != std::errc() || ptr != text.data() + text.size())
    throw std::invalid_argument("cursor: expected the next_cursor of a previous page");
  c.day = *day;
  c.offset = offset;
  return c;
}

std::string time_text(int64_t us) {
  std::string out;
  querylog::append_time(out, us);
  return out;
}

// The days with a file, newest first, within [from, to].
std::vector<int64_t> days_on_disk(const std::string& directory, int64_t first, int64_t last) {
  std::vector<int64_t> days;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(directory, ec)) {
    const std::string name = e.path().filename().string();
    constexpr std::string_view prefix = "queries-", suffix = ".jsonl";
    if (name.size() != prefix.size() + 10 + suffix.size() || name.rfind(prefix, 0) != 0 ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    auto day = querylog::parse_date(std::string_view(name).substr(prefix.size(), 10));
    if (day && *day >= first && *day <= last) days.push_back(*day);
  }
  std::sort(days.rbegin(), days.rend());
  return days;
}

bool matches(const nlohmann::json& r, const LogQuery& q, const std::string& from, const std::string& to) {
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

}  // namespace

LogPage search_querylog(const std::string& directory, const LogQuery& query) {
  LogPage page;
  const Cursor cursor = parse_cursor(query.cursor);
  const size_t limit = std::max<size_t>(query.limit, 1);
  const uint64_t max_scan = std::max<uint64_t>(query.max_lines_scanned, 1);
  // Times in the files are fixed-width UTC text, so comparing text compares instants.
  const std::string from = query.from_us == INT64_MIN ? std::string() : time_text(query.from_us);
  const std::string to = query.to_us == INT64_MAX ? std::string() : time_text(query.to_us);
  const std::string stop_before = query.from_us == INT64_MIN ? std::string() : time_text(query.from_us - kDisorderUs);
  const std::string seek_to = query.to_us == INT64_MAX ? std::string() : time_text(query.to_us + kDisorderUs);
  const int64_t first_day = query.from_us == INT64_MIN ? INT64_MIN : querylog::utc_day(query.from_us);
  const int64_t last_day = std::min(cursor.day, query.to_us == INT64_MAX ? INT64_MAX : querylog::utc_day(query.to_us - 1));
  // Cheap pre-filters before parsing JSON: a line without these bytes cannot match. Only for
  // values JSON never escapes, so the raw line holds them exactly as the parsed record does.
  std::vector<std::string> needles;
  auto plain = [](const std::string& v) {
    return std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':'; });
  };
  for (const auto& [key, value] : {std::pair{"tenant", &query.tenant}, std::pair{"client", &query.client},
                                   std::pair{"device", &query.device}, std::pair{"action", &query.action}})
    if (!value->empty() && plain(*value)) needles.push_back("\"" + std::string(key) + "\":\"" + *value + "\"");
  if (!query.name.empty() && plain(query.name)) needles.push_back(query.name);

  const std::vector<int64_t> days = days_on_disk(directory, first_day, last_day);
  for (size_t d = 0; d < days.size(); ++d) {
    const int64_t day = days[d];
    DayFile file(directory + "/queries-" + querylog::date_text(day) + ".jsonl");
    // Newest first means from the end backwards, a block at a time. A page stops the read as
    // soon as it is full, and a time range only reads its own part of the file.
    uint64_t end = std::min<uint64_t>(file.size(), day == cursor.day ? cursor.offset : UINT64_MAX);
    if (!seek_to.empty()) end = std::min(end, file.seek_before(seek_to, end));
    std::string tail;  // bytes after the current block up to `end`: the start of a line we have not completed yet
    bool at_end = true;  // the bytes just before `end` may be a line still being written
    uint64_t pos = end;
    bool stop = false;
    std::string block;
    while (!stop && (pos > 0 || !tail.empty())) {
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
        if (page.lines_scanned >= max_scan) {
          // This line is the next page's first: the cursor is the end of it (the start of
          // the line scanned last), and the next page reads everything before that.
          page.next_cursor = querylog::date_text(day) + ":" + std::to_string(pos + stop_at);
          page.scan_limited = true;
          return page;
        }
        const std::string_view line(block.data() + start, stop_at - 1 - start);
        const uint64_t line_offset = pos + start;
        stop_at = start;
        ++page.lines_scanned;
        if (!stop_before.empty()) {
          const std::string_view t = line_time(line);
          if (!t.empty() && t < stop_before) {
            stop = true;
            break;
          }
        }
        if (std::any_of(needles.begin(), needles.end(), [&](const std::string& n) { return line.find(n) == std::string_view::npos; }))
          continue;
        nlohmann::json r = nlohmann::json::parse(line, nullptr, false);
        if (r.is_discarded() || !r.is_object()) {
          ++page.lines_unreadable;
          continue;
        }
        if (!matches(r, query, from, to)) continue;
        page.records.push_back(std::move(r));
        if (page.records.size() >= limit) {
          // Nothing older exists only when this was the first line of the oldest file.
          if (line_offset > 0 || d + 1 < days.size())
            page.next_cursor = querylog::date_text(day) + ":" + std::to_string(line_offset);
          return page;
        }
      }
      tail = block.substr(0, stop_at);
      if (pos == 0 && stop_at == 0) break;
    }
  }
  return page;
}

}  // namespace sekisho::admin
