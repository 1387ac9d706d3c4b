// tests/unit/policy/public_suffix_test.cc — public suffixes are never entries unless the source
// allows them: the system's list (Debian's publicsuffix, through libpsl) as the guard reads it,
// every format refusing and counting them, and a property test over generated lists (fixed
// seed, SEKISHO_TEST_SEED overrides it, printed with every failure).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "policy/import/importer.h"
#include "policy/import/public_suffix.h"
#include "policy/store/entry_codec.h"
#include "policy/store/key_format.h"
#include "tests/unit/temp_dir.h"
#include "tests/unit/test_seed.h"

using namespace sekisho::policy;
using sekisho::test::TempDir;

namespace {

struct Parsed {
  EntrySet set;
  ImportReport report;
  std::string diagnostics;
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& i : set.domains())
      if (i.flags & (kFlagSubtree | kFlagExact)) out.push_back(key_to_name(set.key(i)));
    return out;
  }
};

Parsed parse(Format f, const std::string& text, bool allow = false) {
  Parsed p;
  ImportOptions opt;
  opt.format = f;
  opt.categories.add(CategoryRegistry::builtins().by_slug("malware")->id);
  opt.allow_public_suffixes = allow;
  std::ostringstream diag;
  opt.diagnostics = &diag;
  ImportSink sink(p.set, p.report, opt);
  sink.set_file("list.txt");
  parse_text(f, text, sink);
  p.set.finalize();
  p.diagnostics = diag.str();
  return p;
}

}  // namespace

TEST_CASE("public suffixes: the system's list, ICANN section and the implicit '*' rule") {
  const PublicSuffixList& psl = PublicSuffixList::system();
  for (const char* suffix : {"com", "net", "jp", "co.jp", "ne.jp", "tokyo.jp", "uk", "co.uk", "xn--p1ai", "example",
                             "lan"}) {
    CAPTURE(suffix);
    CHECK(psl.is_public_suffix(suffix));
  }
  // Registrable names, and the private section (one organisation's domain under which others
  // get names, which lists classify on purpose: UT1's dynamic-dns and blog categories).
  for (const char* name : {"example.com", "google.co.jp", "www.example.co.uk", "casino.example", "github.io",
                           "duckdns.org", "blogspot.com", "xn--wgv71a119e.jp"}) {
    CAPTURE(name);
    CHECK_FALSE(psl.is_public_suffix(name));
  }
}

TEST_CASE("public suffixes: a list file of one's own") {
  TempDir d;
  const std::string file = (d.path / "psl.dat").string();
  std::ofstream(file) << "// ===BEGIN ICANN DOMAINS===\nzz\nregistry.zz\n// ===END ICANN DOMAINS===\n";
  PublicSuffixList psl(file);
  CHECK(psl.is_public_suffix("registry.zz"));
  CHECK_FALSE(psl.is_public_suffix("shop.registry.zz"));
  CHECK_THROWS_AS(PublicSuffixList((d.path / "missing.dat").string()), ImportError);
}

TEST_CASE("public suffixes: every format refuses and counts them; a source may allow them") {
  auto domains = parse(Format::kDomains, "com\nco.jp\nexample.com\n*.net\nCOM.\n1.2.3.4\n");
  CHECK(domains.names() == std::vector<std::string>{"1.2.3.4", "example.com"});
  CHECK(domains.report.public_suffixes == 4);
  CHECK(domains.report.refused == 4);
  CHECK(domains.diagnostics.find("list.txt:1: a public suffix, not an entry") != std::string::npos);
  CHECK(domains.diagnostics.find("list.txt:2: a public suffix") != std::string::npos);

  auto hosts = parse(Format::kHosts, "0.0.0.0 co.uk ads.example.co.uk\n");
  CHECK(hosts.names() == std::vector<std::string>{"ads.example.co.uk"});
  CHECK(hosts.report.public_suffixes == 1);
  auto adblock = parse(Format::kAdblock, "||jp^\n@@||com^\n||ads.example.jp^\n");
  CHECK(adblock.names() == std::vector<std::string>{"ads.example.jp"});
  CHECK(adblock.report.public_suffixes == 2);
  auto csv = parse(Format::kCsv, "org,ads\nok.org,ads\nne.jp/path,adult,url\nok.ne.jp/path,adult,url\n");
  CHECK(csv.names() == std::vector<std::string>{"ok.org"});
  CHECK(csv.set.urls().size() == 1);
  CHECK(csv.report.public_suffixes == 2);
  auto rpz = parse(Format::kRpz, "$ORIGIN rpz.test.\n*.com CNAME .\nbad.com CNAME .\n");
  CHECK(rpz.names() == std::vector<std::string>{"bad.com"});
  CHECK(rpz.report.public_suffixes == 1);

  auto allowed = parse(Format::kDomains, "com\nco.jp\n", true);
  auto taken = allowed.names();
  std::sort(taken.begin(), taken.end());
  CHECK(taken == std::vector<std::string>{"co.jp", "com"});
  CHECK(allowed.report.refused == 0);
}

TEST_CASE("public suffix property: generated lists lose exactly their suffix lines") {
  const uint64_t seed = sekisho::test::test_seed(0x95151);
  INFO(sekisho::test::seed_note(seed));
  std::mt19937_64 rng(seed);
  // Suffixes whose status no edition of the list changes: TLDs and registry second levels.
  const std::vector<std::string> suffixes = {"com", "net", "org", "jp", "co.jp", "or.jp", "ac.jp", "uk", "co.uk",
                                             "de", "fr", "com.au", "xn--p1ai", "io", "ne.jp", "gov.uk"};
  for (int round = 0; round < 200; ++round) {
    CAPTURE(round);
    std::string text;
    uint64_t expected_suffixes = 0;
    std::vector<std::string> expected;
    const size_t lines = 1 + rng() % 30;
    for (size_t i = 0; i < lines; ++i) {
      const std::string& suffix = suffixes[rng() % suffixes.size()];
      switch (rng() % 4) {
        case 0:
          text += (rng() % 2 ? "*." : "") + suffix + (rng() % 2 ? "." : "") + "\n";
          ++expected_suffixes;
          break;
        default: {
          std::string name = "n" + std::to_string(i) + "r" + std::to_string(round);
          if (rng() % 2) name = "www." + name;
          text += name + "." + suffix + "\n";
          expected.push_back(name + "." + suffix);
        }
      }
    }
    CAPTURE(text);
    auto p = parse(Format::kDomains, text);
    CHECK(p.report.public_suffixes == expected_suffixes);
    CHECK(p.report.refused == expected_suffixes);
    CHECK(p.report.taken == expected.size());
    auto names = p.names();
    std::sort(names.begin(), names.end());
    std::sort(expected.begin(), expected.end());
    expected.erase(std::unique(expected.begin(), expected.end()), expected.end());
    CHECK(names == expected);
    auto allowed = parse(Format::kDomains, text, true);
    CHECK(allowed.report.refused == 0);
    CHECK(allowed.report.taken == lines);
  }
}
