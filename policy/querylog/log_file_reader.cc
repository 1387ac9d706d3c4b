// policy/querylog/log_file_reader.cc — see log_file_reader.h.
#include "policy/querylog/log_file_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sekisho::querylog {
namespace {

// Read in blocks this size: a search page or a seek touches a few of them; four frames of the
// largest size fit, so a frame never straddles what one read brings in.
constexpr uint64_t kBlock = 256 * 1024;
static_assert(kBlock >= 4 * kMaxFrame);

bool read_fully(int fd, uint64_t offset, uint8_t* out, size_t n) {
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd, out + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    done += static_cast<size_t>(got);
  }
  return true;
}

}  // namespace

LogFileReader::LogFileReader(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
  if (fd_ < 0) {
    error_ = std::string("cannot open: ") + std::strerror(errno);
    return;
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    error_ = std::string("cannot stat: ") + std::strerror(errno);
    return;
  }
  size_ = static_cast<uint64_t>(st.st_size);
  uint8_t header[kLogHeaderSize];
  if (size_ < kLogHeaderSize || !read_fully(fd_, 0, header, sizeof header)) {
    error_ = "not a sekisho query log (shorter than its header)";
    return;
  }
  error_ = check_log_header(header);
}

LogFileReader::~LogFileReader() {
  if (fd_ >= 0) ::close(fd_);
}

const uint8_t* LogFileReader::bytes(uint64_t lo, uint64_t hi, bool backward) {
  const uint64_t have_end = window_start_ + window_.size();
  if (lo < window_start_ || hi > have_end || window_.empty()) {
    // A new block in the direction of travel, so the next frames are in it too.
    const uint64_t start = backward ? std::max<uint64_t>(kLogHeaderSize, hi > kBlock ? hi - kBlock : 0) : lo;
    const uint64_t end = backward ? hi : std::min(size_, lo + kBlock);
    window_.resize(end - start);
    window_start_ = start;
    if (!read_fully(fd_, start, window_.data(), window_.size())) {
      window_.clear();  // shrunk under us (retention deleted it): nothing more to read
      return nullptr;
    }
  }
  return window_.data() + (lo - window_start_);
}

bool LogFileReader::previous(uint64_t& end, uint64_t& start, StoredRecord& out) {
  if (!error_.empty()) return false;
  end = std::min(end, size_);
  while (end >= kLogHeaderSize + kMinFrame) {
    const uint64_t lo = std::max<uint64_t>(kLogHeaderSize, end > kMaxFrame ? end - kMaxFrame : 0);
    const uint8_t* p = bytes(lo, end, true);
    if (!p) return false;
    const std::span<const uint8_t> span(p, end - lo);
    if (const size_t n = frame_ending_at(span)) {
      start = end - n;
      return decode_frame(span.last(n), out);
    }
    --end;
    ++skipped_;
  }
  skipped_ += end > kLogHeaderSize ? end - kLogHeaderSize : 0;
  end = kLogHeaderSize;
  return false;
}

uint64_t LogFileReader::frame_at_or_after(uint64_t offset, StoredRecord& out) {
  uint64_t start = offset, end = 0;
  return next(start, end, out) ? start : size_;
}

bool LogFileReader::next(uint64_t& start, uint64_t& next, StoredRecord& out) {
  if (!error_.empty()) return false;
  uint64_t at = std::max<uint64_t>(start, kLogHeaderSize);
  while (at + kMinFrame <= size_) {
    const uint64_t hi = std::min<uint64_t>(size_, at + kMaxFrame);
    const uint8_t* p = bytes(at, hi, false);
    if (!p) return false;
    if (const size_t n = frame_at({p, hi - at})) {
      start = at;
      next = at + n;
      return decode_frame({p, n}, out);
    }
    ++at;
    ++skipped_;
  }
  skipped_ += size_ > at ? size_ - at : 0;
  return false;
}

uint64_t valid_log_end(const std::string& path) {
  LogFileReader reader(path);
  if (!reader.error().empty()) return kLogHeaderSize;
  uint64_t start = 0, end = reader.size();
  StoredRecord last;
  // previous() steps back over a torn tail to the last whole frame, and says where it ends.
  return reader.previous(end, start, last) ? end : kLogHeaderSize;
}

}  // namespace sekisho::querylog
