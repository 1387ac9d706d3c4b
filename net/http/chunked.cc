#include "net/http/chunked.h"

#include <algorithm>
#include <cstdio>

#include "base/text.h"

namespace sekisho::net::http {
namespace {

constexpr size_t kMaxLine = 4096;      // a chunk extension or trailer line longer than this is an attack
constexpr size_t kMaxSizeDigits = 15;  // < 2^60: no overflow

}  // namespace

size_t ChunkedDecoder::feed(std::string_view in, std::string& out) {
  size_t i = 0;
  while (i < in.size() && state_ != State::done && state_ != State::failed) {
    const char c = in[i];
    switch (state_) {
      case State::size:
        if (const int v = base::hex_value(c); v >= 0) {
          if (++digits_ > kMaxSizeDigits) {
            state_ = State::failed;
            break;
          }
          remaining_ = remaining_ * 16 + static_cast<uint64_t>(v);
          ++i;
        } else if (digits_ == 0) {
          state_ = State::failed;
        } else if (c == '\r') {
          state_ = State::size_lf;
          ++i;
        } else if (c == ';' || c == ' ' || c == '\t') {
          state_ = State::extension;
          line_bytes_ = 0;
          ++i;
        } else {
          state_ = State::failed;
        }
        break;
      case State::extension:
        if (c == '\r') state_ = State::size_lf;
        else if (c == '\n' || ++line_bytes_ > kMaxLine) state_ = State::failed;
        ++i;
        break;
      case State::size_lf:
        if (c != '\n') {
          state_ = State::failed;
          break;
        }
        ++i;
        digits_ = 0;
        if (remaining_ == 0) {
          state_ = State::trailer;
          line_bytes_ = 0;
          trailer_empty_ = true;
        } else {
          state_ = State::data;
        }
        break;
      case State::data: {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, in.size() - i));
        out.append(in.data() + i, n);
        i += n;
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::data_cr;
        break;
      }
      case State::data_cr:
        state_ = c == '\r' ? State::data_lf : State::failed;
        ++i;
        break;
      case State::data_lf:
        state_ = c == '\n' ? State::size : State::failed;
        ++i;
        break;
      case State::trailer:  // trailer fields until an empty line
        if (c == '\r') {
          state_ = State::trailer_lf;
        } else if (c == '\n' || ++line_bytes_ > kMaxLine) {
          state_ = State::failed;
        } else {
          trailer_empty_ = false;
        }
        ++i;
        break;
      case State::trailer_lf:
        if (c != '\n') {
          state_ = State::failed;
          break;
        }
        ++i;
        if (trailer_empty_) {
          state_ = State::done;
        } else {
          state_ = State::trailer;
          line_bytes_ = 0;
          trailer_empty_ = true;
        }
        break;
      case State::done:
      case State::failed:
        break;
    }
  }
  return i;
}

void append_chunk(std::string& out, std::string_view data) {
  if (data.empty()) return;
  char size[24];
  const int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  out.append(size, static_cast<size_t>(n));
  out.append(data);
  out += "\r\n";
}

}  // namespace sekisho::net::http
