// tests/unit/policy/formats_test.cc — every import format: good lines, malformed lines with
// file:line reasons, RPZ with and without origin, UT1 directories, gzip input.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "policy/import/importer.h"
#include "policy/store/entry_codec.h"
#include "policy/store/key_format.h"
#include "tests/unit/temp_dir.h"

using namespace sekisho::policy;
namespace fs = std::filesystem;

namespace {

struct Parsed {
  EntrySet set;
  ImportReport report;
  std::string diagnostics;
  // "key flags cats" lines, sorted.
  std::string dump() const {
    std::string out;
    for (const auto& i : set.domains()) {
      out += key_to_name(set.key(i));
      out += (i.flags & kFlagSubtree) ? " subtree " : (i.flags & kFlagExact) ? " exact " : " url-host ";
      out += CategoryRegistry::builtins().slugs(set.cats(i)) + "\n";
    }
    return out;
  }
};

CategorySet malware() {
  CategorySet s;
  s.add(CategoryRegistry::builtins().by_slug("malware")->id);
  return s;
}

Parsed parse(Format f, const std::string& text, CategorySet defaults = malware()) {
  Parsed p;
  ImportOptions opt;
  opt.format = f;
  opt.categories = defaults;
  std::ostringstream diag;
  opt.diagnostics = &diag;
  ImportSink sink(p.set, p.report, opt);
  sink.set_file("list.txt");
  parse_text(f, text, sink);
  p.set.finalize();
  p.diagnostics = diag.str();
  return p;
}

using sekisho::test::TempDir;

}  // namespace

TEST_CASE("domains format") {
  auto p = parse(Format::kDomains,
                 "# header\n\nExample.COM.\n*.wild.net\n1.2.3.4\nbad..name\ntwo fields\n_under.com # c\n");
  CHECK(p.dump() == "1.2.3.4 exact malware\n_under.com subtree malware\nexample.com subtree malware\n"
                    "wild.net subtree malware\n");
  CHECK(p.report.taken == 4);
  CHECK(p.report.refused == 2);
  CHECK(p.report.ignored == 2);
  CHECK(p.diagnostics.find("list.txt:6: empty label: bad..name") != std::string::npos);
  CHECK(p.diagnostics.find("list.txt:7: more than one field") != std::string::npos);
}

TEST_CASE("hosts format: exact entries, local names skipped") {
  auto p = parse(Format::kHosts,
                 "# c\n127.0.0.1 localhost\n0.0.0.0 a.com b.com # x\n0.0.0.0\nnot-an-ip x.com\n::1 c.com\n");
  CHECK(p.dump() == "a.com exact malware\nb.com exact malware\nc.com exact malware\n");
  CHECK(p.report.refused == 2);
  CHECK(p.diagnostics.find("list.txt:4: expected 'ADDRESS NAME...'") != std::string::npos);
}

TEST_CASE("adblock format: block, allow, exact, and refused rules with reasons") {
  auto p = parse(Format::kAdblock,
                 "! comment\n[Adblock Plus 2.0]\n||ads.com^\n@@||good.com^\n|exact.com^\n"
                 "||covertarget.com^*_*.php\n||xxuhter.ru:8040\n||teraxhif.com^third-party\n"
                 "||scelnow.xyz^$third-party\n||anet*.tradedoubler.com^\n.adonweb.ru^\n//oyy.ru^\n"
                 "://gj7.ru^\n||littel.biz\n|www.google.co.jp^$dnsrewrite=NOERROR;CNAME;x.com\n"
                 "@@||aax-*.amazon.*^\n||imp.com^$important\n");
  CHECK(p.dump() == "ads.com subtree malware\nexact.com exact malware\ngood.com subtree allowlist\n"
                    "imp.com subtree malware\n");
  CHECK(p.report.refused == 11);
  CHECK(p.report.ignored == 2);
  CHECK(p.diagnostics.find("list.txt:6: pattern after '^'") != std::string::npos);
  CHECK(p.diagnostics.find("list.txt:7: port in rule") != std::string::npos);
  CHECK(p.diagnostics.find("list.txt:9: modifier $third-party") != std::string::npos);
  CHECK(p.diagnostics.find("list.txt:10: wildcard pattern") != std::string::npos);
  CHECK(p.diagnostics.find("list.txt:14: missing '^' separator") != std::string::npos);
  CHECK(p.diagnostics.find("list.txt:15: modifier $dnsrewrite=NOERROR;CNAME;x.com") != std::string::npos);
}

TEST_CASE("adblock block rule without --category is refused; allow rules need none") {
  auto p = parse(Format::kAdblock, "@@||ok.com^\n||blocked.com^\n", CategorySet{});
  CHECK(p.dump() == "ok.com subtree allowlist\n");
  CHECK(p.report.refused == 1);
}

TEST_CASE("csv format") {
  auto p = parse(Format::kCsv,
                 "name,categories\nsite.com,adult;gambling\nx.com,ads,exact\ny.com,nosuchcat\nz.com\n",
                 CategorySet{});
  CHECK(p.dump() == "site.com subtree adult,gambling\nx.com exact ads\n");
  CHECK(p.diagnostics.find("list.txt:4: unknown category 'nosuchcat'") != std::string::npos);
  CHECK(p.report.refused == 2);
}

TEST_CASE("rpz: actions, triggers, and the same entries with or without origin") {
  const std::string body =
      "nx.example CNAME .\n*.nx.example CNAME .\nnodata.example CNAME *.\ndrop.example CNAME rpz-drop.\n"
      "pass.example CNAME rpz-passthru.\ntcp.example CNAME rpz-tcp-only.\nlocal.example A 192.0.2.1\n"
      "CaSe.SeNSiTiVe CNAME .\n"
      "24.0.0.0.127.rpz-client-ip CNAME rpz-drop.\nns.rpz-nsdname CNAME .\n";
  auto without = parse(Format::kRpz, "$TTL 30\n@ IN SOA localhost. root.localhost. 1 2 3 4 5\n NS localhost.\n" + body);
  auto with = parse(Format::kRpz,
                    "$ORIGIN rpz.example.\n$TTL 30\n@ IN SOA localhost. root.localhost. 1 2 3 4 5\n NS localhost.\n" + body);
  const std::string expected =
      "drop.example exact malware\nnodata.example exact malware\nnx.example subtree malware\n"
      "pass.example exact allowlist\ncase.sensitive exact malware\n";  // reversed-key order
  CHECK(without.dump() == expected);
  CHECK(with.dump() == expected);
  CHECK(with.report.refused == 4);
  CHECK(with.diagnostics.find("rpz-tcp-only action not supported") != std::string::npos);
  CHECK(with.diagnostics.find("local-data A record not supported") != std::string::npos);
  CHECK(with.diagnostics.find("rpz-client-ip trigger not supported") != std::string::npos);
  auto broken = parse(Format::kRpz, "ok.com CNAME .\nbad.com CNAME\n");
  CHECK(broken.report.taken == 1);
  CHECK(broken.report.refused == 1);
}

TEST_CASE("read_all: plain files byte for byte, empty files, and pipes") {
  TempDir d;
  std::string bytes = "a.example\r\n# note\n\n";
  for (int i = 0; i < 100000; ++i) bytes += "n" + std::to_string(i) + ".example\n";
  bytes += "last.example";  // no final newline
  { std::ofstream(d.path / "plain.txt", std::ios::binary) << bytes; }
  CHECK(read_all((d.path / "plain.txt").string()) == bytes);
  { std::ofstream(d.path / "empty.txt"); }
  CHECK(read_all((d.path / "empty.txt").string()).empty());
  // Not a regular file (a pipe, as from `<(zcat …)`): read as a stream.
  const fs::path fifo = d.path / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::thread writer([&] { std::ofstream(fifo, std::ios::binary) << bytes; });
  std::string got = read_all(fifo.string());
  writer.join();
  CHECK(got == bytes);
}

TEST_CASE("ut1 directories, usage white, --category filter, and gzip input") {
  TempDir d;
  fs::create_directories(d.path / "agressif");
  fs::create_directories(d.path / "liste_blanche");
  fs::create_directories(d.path / "unknowncat");
  std::ofstream(d.path / "agressif" / "domains") << "_video-bagarre.com\n1.2.3.4\nbad..x\n";
  std::ofstream(d.path / "agressif" / "urls") << "example.com/hate/page\n";
  std::ofstream(d.path / "agressif" / "usage") << "black\naggressive\n";
  std::ofstream(d.path / "liste_blanche" / "domains") << "good.fr\n";
  std::ofstream(d.path / "liste_blanche" / "usage") << "white\n";
  std::ofstream(d.path / "unknowncat" / "domains") << "x.com\n";
  {
    gzFile gz = gzopen((d.path / "agressif" / "extra.gz").c_str(), "wb");
    gzputs(gz, "gz.example\n");
    gzclose(gz);
  }
  EntrySet set;
  ImportReport report;
  ImportOptions opt;
  opt.format = Format::kUt1;
  std::ostringstream diag;
  opt.diagnostics = &diag;
  import_input(d.path.string(), opt, set, report);
  set.finalize();
  std::string keys;
  for (const auto& i : set.domains())
    keys += key_to_name(set.key(i)) + ":" + CategoryRegistry::builtins().slugs(set.cats(i)) + " ";
  CHECK(keys == "1.2.3.4:violence _video-bagarre.com:violence example.com: good.fr:allowlist ");
  REQUIRE(set.urls().size() == 1);
  CHECK(set.key(set.urls()[0]) == "com.example/hate/page");
  CHECK(report.refused == 2);  // bad..x and the unknown directory
  CHECK(diag.str().find("agressif/domains:3: empty label") != std::string::npos);

  opt.categories.add(CategoryRegistry::builtins().by_slug("allowlist")->id);
  EntrySet only;
  ImportReport r2;
  import_input(d.path.string(), opt, only, r2);
  CHECK(only.domains().size() == 1);

  CHECK(read_all((d.path / "agressif" / "extra.gz").string()) == "gz.example\n");
  CHECK_THROWS_AS(read_all((d.path / "missing").string()), ImportError);
}

TEST_CASE("a refused line is shown with its control bytes escaped") {
  // A feed's bytes reach the operator's terminal and the journal: an escape sequence or a CR in
  // a line must not clear the screen or forge a line of its own.
  auto p = parse(Format::kDomains, "ok.example\nevil\x1b[2J\rname.example\n");
  CHECK(p.report.refused == 1);
  CHECK(p.diagnostics.find('\x1b') == std::string::npos);
  CHECK(p.diagnostics.find('\r') == std::string::npos);
  CHECK(p.diagnostics.find("list.txt:2: bad character '\\x1b': evil\\x1b[2J\\x0dname.example") != std::string::npos);
}
