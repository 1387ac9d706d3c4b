// Search over the query-log files (policy/querylog/writer.h: <dir>/queries-YYYY-MM-DD.qlog, and
// the .jsonl files of before format 1, which stay searchable until retention deletes them),
// newest first, in pages. Files are only ever appended to, so a position (day, file, byte offset
// of a record) stays valid while the log grows: the cursor of a page is where the next page
// starts, and new queries arriving meanwhile never shift or repeat entries. Files are read
// backwards from the end (or from the cursor, or from the `to` time found by binary search) and
// only as far as the page needs. Binary records are filtered as records and rendered as JSON
// only when they match (querylog::append_json_line: the line the writer wrote before format 1).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sekisho::admin {

struct LogQuery {
  std::string tenant;        // exact tenant id; empty = any (operators only)
  int64_t from_us = INT64_MIN;  // inclusive
  int64_t to_us = INT64_MAX;    // exclusive
  std::string client;        // exact client address as logged
  std::string device;        // exact device name
  std::string name;          // substring of the query name (lower case)
  std::string action;        // exact action ("blocked", "resolved", …)
  size_t limit = 100;
  std::string cursor;        // from a previous page; empty = newest
  // Records one page may read: a rare name or client would otherwise scan every day on disk
  // (seconds per million lines) while the admin thread serves nobody else. A page that
  // reaches it ends early, scan_limited, with a cursor where the next page goes on.
  uint64_t max_lines_scanned = kDefaultMaxLinesScanned;
  static constexpr uint64_t kDefaultMaxLinesScanned = 1000000;
};

struct LogPage {
  std::vector<nlohmann::json> records;  // newest first (by file position within a day)
  std::string next_cursor;              // empty when there is nothing older
  bool scan_limited = false;            // ended at max_lines_scanned before filling: next_cursor goes on
  uint64_t lines_scanned = 0;
  uint64_t lines_unreadable = 0;        // JSON lines: not JSON (a torn last line is never written; counted anyway)
  uint64_t bytes_unreadable = 0;        // binary files: bytes stepped over, not a valid frame (a torn tail)
};

// Throws std::invalid_argument naming the parameter when the cursor is malformed.
LogPage search_querylog(const std::string& directory, const LogQuery& query);

}  // namespace sekisho::admin
