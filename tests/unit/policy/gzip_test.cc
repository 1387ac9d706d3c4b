// tests/unit/policy/gzip_test.cc — gzip input is read only when whole: a .gz cut short (a
// download or copy that stopped) is refused by `sekisho db import`'s reader instead of being
// read as a shorter list, which the shrink guard might let through and which would drop
// entries. zlib's gzread() reports such a cut as a clean end of file; read_all must not.
#include <doctest/doctest.h>

#include <zlib.h>

#include <fstream>
#include <string>

#include "policy/import/gzip.h"
#include "policy/import/importer.h"
#include "tests/unit/temp_dir.h"

using namespace sekisho::policy;
using sekisho::test::TempDir;

namespace {

std::string gzip_of(const std::string& text) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&zs, text.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zs.avail_in = static_cast<uInt>(text.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string list_of(int n) {
  std::string text;
  for (int i = 0; i < n; ++i) text += "name" + std::to_string(i) + ".example\n";
  return text;
}

}  // namespace

TEST_CASE("gunzip: whole members (one or several) unpack; a cut, trailing junk or too much is refused") {
  const std::string text = list_of(2000), gz = gzip_of(text);
  std::string out;
  CHECK(gunzip(gz, out, 1 << 20).empty());
  CHECK(out == text);
  CHECK(gunzip(gz + gzip_of("more.example\n"), out, 1 << 20).empty());  // RFC 1952 §2.2: members in a row
  CHECK(out == text + "more.example\n");
  for (size_t cut : {gz.size() - 1, gz.size() - 8, gz.size() / 2, size_t{10}}) {
    CAPTURE(cut);
    CHECK(gunzip(gz.substr(0, cut), out, 1 << 20).find("truncated") != std::string::npos);
  }
  CHECK(gunzip(gz + "junk", out, 1 << 20).find("after the last gzip member") != std::string::npos);
  std::string bad = gz;
  bad[bad.size() - 6] ^= 0x55;  // the CRC-32
  CHECK(gunzip(bad, out, 1 << 20).find("corrupt") != std::string::npos);
  CHECK(gunzip(gz, out, text.size() - 1).find("unpacks to more than") != std::string::npos);
  CHECK(gunzip(gz, out, text.size()).empty());
}

TEST_CASE("read_all and import refuse a truncated .gz; a whole one reads as its text") {
  TempDir d;
  const std::string text = list_of(5000), gz = gzip_of(text);
  const std::string whole = (d.path / "list.txt.gz").string(), cut = (d.path / "cut.txt.gz").string();
  std::ofstream(whole, std::ios::binary) << gz;
  std::ofstream(cut, std::ios::binary) << gz.substr(0, gz.size() * 2 / 3);
  CHECK(read_all(whole) == text);
  CHECK_THROWS_WITH_AS(read_all(cut), doctest::Contains("truncated"), ImportError);
  ImportOptions opt;
  opt.categories.add(CategoryRegistry::builtins().by_slug("malware")->id);
  EntrySet set;
  ImportReport report;
  CHECK_THROWS_WITH_AS(import_input(cut, opt, set, report), doctest::Contains("cut.txt.gz: gzip: truncated"),
                       ImportError);
  CHECK(report.taken == 0);
}
