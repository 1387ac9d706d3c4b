// policy/querylog/log_file_reader.h — reads a query-log file (log_file.h) forward (the CLI, the
// tests), backward from a position (the admin search: newest first) or from the first frame at
// or after a position (the search's seek by time), skipping what is not a whole valid frame.
//
// A reader never trusts a byte it has not checked: every record it hands out is a frame whose
// sizes agree and whose CRC matches. Bytes that are not — a torn tail after a crash, the end of a
// write still under way, a damaged sector — are stepped over one byte at a time until a valid
// frame boundary is found again, and counted (skipped_bytes). The file may grow while a reader
// reads it: size() is the size at open, and nothing past it is read.
//
// Not thread-safe: one reader per thread (each keeps its own window of the file).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "policy/querylog/log_file.h"

namespace sekisho::querylog {

class LogFileReader {
 public:
  explicit LogFileReader(const std::string& path);
  ~LogFileReader();
  LogFileReader(const LogFileReader&) = delete;
  LogFileReader& operator=(const LogFileReader&) = delete;

  // Empty when the file is open and its header is ours; else why it cannot be read.
  const std::string& error() const { return error_; }
  uint64_t size() const { return size_; }
  // Bytes stepped over because no valid frame was there (see the file comment).
  uint64_t skipped_bytes() const { return skipped_; }

  // The frame that ends at `end` or, when none does, the nearest valid one that ends before it.
  // Returns false when there is none (the start of the file). On true, `end` is where it ends,
  // `start` its first byte (the `end` of the record before it) and `out` holds it.
  bool previous(uint64_t& end, uint64_t& start, StoredRecord& out);
  // The first valid frame that starts at or after `offset`: its start (size() when none).
  uint64_t frame_at_or_after(uint64_t offset, StoredRecord& out);
  // The frame starting at `start` (a value previous or frame_at_or_after gave), or the next valid
  // one after it; false at the end. On true, `start` is where it begins and `next` where it ends.
  bool next(uint64_t& start, uint64_t& next, StoredRecord& out);

 private:
  // Makes the window hold [lo, hi) (hi <= size_; at most kMaxFrame bytes); returns a pointer to lo.
  const uint8_t* bytes(uint64_t lo, uint64_t hi, bool backward);

  int fd_ = -1;
  uint64_t size_ = 0;
  std::string error_;
  uint64_t skipped_ = 0;
  std::vector<uint8_t> window_;
  uint64_t window_start_ = 0;  // file offset of window_[0]
};

// The end of the last whole frame of the file at `path` (its header checked by the caller): where
// the writer appends after a crash, anything past it being a torn tail. kLogHeaderSize when the
// file holds no valid frame.
uint64_t valid_log_end(const std::string& path);

}  // namespace sekisho::querylog
