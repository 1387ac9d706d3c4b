// policy/import/gzip.h — gzip (RFC 1952) data unpacked whole and checked to its end.
//
// A list that arrives compressed (a `.gz` file given to `sekisho db import`, an HTTP feed's
// `Content-Encoding: gzip` or `.gz` body) is read only when every member ends with its trailer
// (CRC-32 and length checked by zlib): a download cut short is a shorter list, and a shorter
// list would remove good entries. zlib's gzread() reports such a cut as an ordinary end of
// file (only gzclose() says Z_BUF_ERROR), so the importer does not use it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sekisho::policy {

// The two bytes every gzip member starts with.
bool is_gzip(std::string_view data);

// Unpacks `in` (one or more gzip members, as RFC 1952 §2.2 allows) into `out`. Returns "" on
// success, else why not: "truncated (the gzip data ends inside a member)", "corrupt: …",
// "unpacks to more than N bytes", "N bytes after the last gzip member". `max_out` bounds what
// it unpacks to (a small download must not unpack to gigabytes).
std::string gunzip(std::string_view in, std::string& out, uint64_t max_out);

}  // namespace sekisho::policy
