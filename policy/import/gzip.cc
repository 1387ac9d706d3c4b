// policy/import/gzip.cc — see gzip.h.
#include "policy/import/gzip.h"

#include <zlib.h>

#include <algorithm>
#include <climits>

namespace sekisho::policy {

bool is_gzip(std::string_view data) {
  return data.size() >= 2 && static_cast<unsigned char>(data[0]) == 0x1f && static_cast<unsigned char>(data[1]) == 0x8b;
}

std::string gunzip(std::string_view in, std::string& out, uint64_t max_out) {
  out.clear();
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return "cannot start zlib";  // 16+: gzip framing only
  struct End {
    z_stream* zs;
    ~End() { inflateEnd(zs); }
  } end{&zs};
  size_t pos = 0;
  // Unpacked sizes are unknown up front (ISIZE is mod 2^32 and trusts the sender); grow by
  // doubling from a guess of four times the input.
  out.resize(static_cast<size_t>(std::min<uint64_t>(max_out + 1, std::max<uint64_t>(in.size() * 4, 1 << 16))));
  size_t have = 0;
  while (true) {
    const size_t in_chunk = std::min<size_t>(in.size() - pos, UINT_MAX);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + pos));
    zs.avail_in = static_cast<uInt>(in_chunk);
    if (have == out.size()) {
      if (have > max_out) break;
      out.resize(static_cast<size_t>(std::min<uint64_t>(max_out + 1, uint64_t{out.size()} * 2)));
    }
    const size_t out_chunk = std::min<size_t>(out.size() - have, UINT_MAX);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + have);
    zs.avail_out = static_cast<uInt>(out_chunk);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    pos += in_chunk - zs.avail_in;
    have += out_chunk - zs.avail_out;
    if (have > max_out) break;
    if (rc == Z_STREAM_END) {
      if (pos == in.size()) {
        out.resize(have);
        return "";
      }
      // Another member follows (`cat a.gz b.gz`); anything else after a member is not gzip.
      if (!is_gzip(in.substr(pos)))
        return std::to_string(in.size() - pos) + " bytes after the last gzip member (not gzip data)";
      if (inflateReset(&zs) != Z_OK) return "cannot restart zlib";
      continue;
    }
    if (rc == Z_BUF_ERROR && pos == in.size() && zs.avail_out != 0)
      return "truncated (the gzip data ends inside a member: a cut-off download or file)";
    if (rc != Z_OK && rc != Z_BUF_ERROR)
      return std::string("corrupt gzip data: ") + (zs.msg ? zs.msg : "inflate error " + std::to_string(rc));
  }
  return "unpacks to more than " + std::to_string(max_out) + " bytes";
}

}  // namespace sekisho::policy
