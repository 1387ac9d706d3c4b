// tests/unit/policy/ut1_usage_test.cc — UT1 read as UT1 means it: a category is an allow list
// only when white is its sole usage; a list usable both ways (chat, webmail, remote-control) is
// categorised; without a usage word, global_usage's DEFAULT_TYPE decides. And a UT1 tree with an
// error page in place of a file is refused whole.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "policy/import/importer.h"
#include "policy/import/update_guard.h"
#include "policy/store/entry_codec.h"
#include "policy/store/key_format.h"
#include "tests/unit/temp_dir.h"

using namespace sekisho::policy;
using sekisho::test::TempDir;
namespace fs = std::filesystem;

TEST_CASE("ut1 usage files: usages, keywords and comments") {
  auto u = parse_ut1_usage("black\n");
  CHECK((u.black && !u.white));
  u = parse_ut1_usage("white\n");
  CHECK((!u.black && u.white));
  u = parse_ut1_usage("black\nwhite\nchat\n");
  CHECK((u.black && u.white));
  // The real phishing usage: comments first, then the usage and a keyword.
  u = parse_ut1_usage("#\tThis list is no longer maintained.\n#\tIt's only a copy of malware category \nblack\nphishing\n");
  CHECK((u.black && !u.white));
  u = parse_ut1_usage("WHITE\r\n");
  CHECK((!u.black && u.white));
  u = parse_ut1_usage("adult\nporn\n");  // keywords only
  CHECK((!u.black && !u.white));
  u = parse_ut1_usage("# white\nblack\n");  // a commented-out usage is none
  CHECK((u.black && !u.white));
  u = parse_ut1_usage("blacklist whitehall\n");  // whole words only
  CHECK((!u.black && !u.white));
}

TEST_CASE("ut1 global_usage: NAME and DEFAULT_TYPE of each record") {
  const auto g = parse_ut1_global_usage(
      "#\tNAME : name of tar blacklist\n#\tDEFAULT_TYPE : what is the primary use\n"
      "NAME:\tadult\nDEFAULT_TYPE: black\nNAME EN: Adult (X)\nNAME FR: Adulte (X)\n\n"
      "NAME:   download\nDEFAULT_TYPE: white\n\n"
      "NAME:\tpress\nDEFAULT_TYPE:\tWhite\nDESC EN: press\n\n"
      "NAME: chat\nDEFAULT_TYPE: black\n");
  CHECK(g == std::map<std::string, std::string, std::less<>>{
                 {"adult", "black"}, {"chat", "black"}, {"download", "white"}, {"press", "white"}});
}

TEST_CASE("ut1: allow list only when white is the sole usage") {
  using U = std::optional<Ut1Usage>;
  CHECK(ut1_is_allow_list(U(Ut1Usage{false, true}), std::nullopt));
  CHECK(ut1_is_allow_list(U(Ut1Usage{false, true}), "black"));  // the directory's own file decides
  CHECK_FALSE(ut1_is_allow_list(U(Ut1Usage{true, false}), "white"));
  CHECK_FALSE(ut1_is_allow_list(U(Ut1Usage{true, true}), "black"));
  CHECK_FALSE(ut1_is_allow_list(U(Ut1Usage{true, true}), "white"));  // both ways: categorised
  CHECK_FALSE(ut1_is_allow_list(U(Ut1Usage{true, true}), std::nullopt));
  CHECK(ut1_is_allow_list(U(Ut1Usage{}), "white"));  // keywords only: the catalogue decides
  CHECK_FALSE(ut1_is_allow_list(U(Ut1Usage{}), "black"));
  CHECK(ut1_is_allow_list(std::nullopt, "white"));
  CHECK_FALSE(ut1_is_allow_list(std::nullopt, std::nullopt));  // the collection is blacklists
}

namespace {

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// "name:categories" for each domain entry of the tree at `root`.
std::map<std::string, std::string> import_tree(const fs::path& root) {
  EntrySet set;
  ImportReport report;
  ImportOptions opt;
  opt.format = Format::kUt1;
  std::ostringstream diag;
  opt.diagnostics = &diag;
  import_input(root.string(), opt, set, report);
  set.finalize();
  std::map<std::string, std::string> out;
  for (const auto& i : set.domains())
    if (i.flags & (kFlagSubtree | kFlagExact))
      out[key_to_name(set.key(i))] = CategoryRegistry::builtins().slugs(set.cats(i));
  return out;
}

}  // namespace

TEST_CASE("ut1 tree: usage and global_usage decide allow entries and categories") {
  TempDir d;
  write(d.path / "global_usage",
        "NAME:\tchat\nDEFAULT_TYPE: black\n\nNAME:\tpress\nDEFAULT_TYPE:\twhite\n\nNAME: games\nDEFAULT_TYPE: black\n");
  write(d.path / "chat" / "domains", "teams.live.com\nchat.example\n");
  write(d.path / "chat" / "usage", "black\nwhite\n");  // usable both ways
  write(d.path / "liste_blanche" / "domains", "school.example\n");
  write(d.path / "liste_blanche" / "usage", "white\n");
  write(d.path / "press" / "domains", "paper.example\n");  // no usage file: DEFAULT_TYPE white
  write(d.path / "games" / "domains", "play.example\n");
  write(d.path / "games" / "usage", "games\njeux\n");  // keywords only: DEFAULT_TYPE black
  write(d.path / "dating" / "domains", "meet.example\n");  // neither: black
  const auto got = import_tree(d.path);
  CHECK(got == std::map<std::string, std::string>{{"teams.live.com", "chat"},
                                                  {"chat.example", "chat"},
                                                  {"school.example", "allowlist"},
                                                  {"paper.example", "allowlist"},
                                                  {"play.example", "games"},
                                                  {"meet.example", "dating"}});
  // One category directory alone reads its parent's global_usage.
  EntrySet set;
  ImportReport report;
  ImportOptions opt;
  opt.format = Format::kUt1;
  import_input((d.path / "press").string(), opt, set, report);
  set.finalize();
  REQUIRE(set.domains().size() == 1);
  CHECK(set.cats(set.domains()[0]).contains(allowlist_category_id()));
}

TEST_CASE("ut1 tree: an error page in any file refuses the whole tree; empty files are fine") {
  TempDir d;
  write(d.path / "gambling" / "domains", "casino.example\n");
  write(d.path / "gambling" / "usage", "black\n");
  write(d.path / "shortener" / "domains", "short.example\n");
  write(d.path / "shortener" / "urls", "");  // as in the real collection
  CHECK(import_tree(d.path).size() == 2);
  write(d.path / "malware" / "domains", "<!DOCTYPE html>\n<html><title>404 Not Found</title></html>\n");
  try {
    import_tree(d.path);
    FAIL("an error page in malware/domains was imported");
  } catch (const UpdateRefused& e) {
    CHECK(e.reason() == RefusalReason::kMarkup);
    CHECK(std::string(e.what()).find("malware/domains: an HTML or XML document") != std::string::npos);
  }
  TempDir empty;
  write(empty.path / "gambling" / "domains", "");
  try {
    import_tree(empty.path);
    FAIL("a tree with no entries was imported");
  } catch (const UpdateRefused& e) {
    CHECK(e.reason() == RefusalReason::kNoEntries);
  }
}
