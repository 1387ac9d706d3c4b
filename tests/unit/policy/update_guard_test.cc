// tests/unit/policy/update_guard_test.cc — an update never destroys good data: what is no list
// (empty, an HTML/XML page, binary, nothing usable) is refused before parsing or after it, and
// the shrink guard refuses, inside the write transaction, an update that removes more than its
// share of a source, leaving the store as it was. Property tests run on generated inputs from a
// fixed seed (SEKISHO_TEST_SEED overrides it), printed with every failure.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "policy/import/importer.h"
#include "policy/import/update_guard.h"
#include "policy/store/category_store.h"
#include "policy/store/entry_codec.h"
#include "policy/store/key_format.h"
#include "policy/store/lmdb_util.h"
#include "policy/store/store_writer.h"
#include "tests/unit/temp_dir.h"
#include "tests/unit/test_seed.h"

using namespace sekisho::policy;
using namespace std::literals;
using sekisho::test::TempDir;

namespace {

CategorySet slug_set(const char* slug) {
  CategorySet s;
  s.add(CategoryRegistry::builtins().by_slug(slug)->id);
  return s;
}

std::optional<RefusalReason> text_refusal(std::string_view text) {
  auto r = check_list_text(text, "list.txt");
  return r ? std::optional<RefusalReason>(r->reason) : std::nullopt;
}

// What import_input does with `text` as `format`: the refusal it throws, if any.
std::optional<RefusalReason> import_refusal(Format format, const std::string& text, ImportReport* out = nullptr) {
  TempDir d;
  const std::string file = (d.path / "list.txt").string();
  std::ofstream(file, std::ios::binary) << text;
  ImportOptions opt;
  opt.format = format;
  opt.categories = slug_set("malware");
  EntrySet set;
  ImportReport report;
  std::optional<RefusalReason> why;
  try {
    import_input(file, opt, set, report);
  } catch (const UpdateRefused& e) {
    why = e.reason();
  }
  if (out) *out = report;
  return why;
}

std::string random_label(std::mt19937_64& rng, size_t min = 1, size_t max = 12) {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  const size_t n = min + rng() % (max - min + 1);
  for (size_t i = 0; i < n; ++i) s += kChars[rng() % 36];
  return s;
}

}  // namespace

TEST_CASE("update guard: empty, blank, binary and markup texts are no lists") {
  CHECK(text_refusal("") == RefusalReason::kEmpty);
  CHECK(text_refusal(" \n\r\n\t\n") == RefusalReason::kEmpty);
  CHECK(text_refusal("\xEF\xBB\xBF\n") == RefusalReason::kEmpty);
  CHECK(text_refusal("a.example\n\0b.example\n"sv) == RefusalReason::kBinary);
  for (const char* page : {"<!DOCTYPE html>\n<html><body>503</body></html>\n",
                           "<!doctype html><title>Error</title>",
                           "\xEF\xBB\xBF  \r\n<html>\r\n<head><title>503 Service Temporarily Unavailable</title>",
                           "<!-- served by a proxy -->\n<html>",
                           "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code></Error>",
                           "\n\n<HTML><HEAD><TITLE>404 Not Found</TITLE></HEAD></HTML>",
                           "<head><meta charset=utf-8></head>", "</p>"}) {
    CAPTURE(page);
    CHECK(text_refusal(page) == RefusalReason::kMarkup);
  }
  // Lists as their formats write them start otherwise, and are not judged here.
  for (const char* list : {"example.com\n", "# header\n<b.example\n", "0.0.0.0 ads.example\n",
                           "[Adblock Plus 2.0]\n||ads.example^\n", "! Title: x\n||a.example^\n",
                           "$TTL 300\n@ SOA a. b. 1 2 3 4 5\n", "name,categories,scope\n", "< not a tag\n",
                           "<1.2.3.4\n"}) {
    CAPTURE(list);
    CHECK_FALSE(text_refusal(list).has_value());
  }
  const auto msg = check_list_text("<!DOCTYPE html>\n<html>", "feed.txt");
  REQUIRE(msg);
  CHECK(msg->message == "feed.txt: an HTML or XML document (it starts with '<!DOCTYPE html>'), not a list (an error page?)");
}

TEST_CASE("update guard: every format refuses an error page, an empty file, and a file of refused lines") {
  const std::string page = "<html>\n<head><title>503 Service Unavailable</title></head>\n<body>busy</body>\n</html>\n";
  for (Format f : {Format::kDomains, Format::kHosts, Format::kAdblock, Format::kCsv, Format::kRpz}) {
    CAPTURE(format_name(f));
    CHECK(import_refusal(f, page) == RefusalReason::kMarkup);
    CHECK(import_refusal(f, "") == RefusalReason::kEmpty);
  }
  ImportReport r;
  CHECK(import_refusal(Format::kDomains, "# only\n# comments\n\n", &r) == RefusalReason::kNoEntries);
  CHECK(import_refusal(Format::kHosts, "this is not\na hosts file\n", &r) == RefusalReason::kAllRefused);
  CHECK(r.refused == 2);
  CHECK(import_refusal(Format::kDomains, "{\"error\": \"rate limited\"}\n", &r) == RefusalReason::kAllRefused);
  // One usable line is a list (the shrink guard judges what it would remove).
  CHECK_FALSE(import_refusal(Format::kHosts, "junk line\n0.0.0.0 ok.example\n", &r).has_value());
  CHECK(r.taken == 1);
}

TEST_CASE("update guard property: generated lists pass, generated pages are refused") {
  const uint64_t seed = sekisho::test::test_seed(0x5e415b0);
  INFO(sekisho::test::seed_note(seed));
  std::mt19937_64 rng(seed);
  const char* openings[] = {"<!DOCTYPE html>", "<!doctype HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\">", "<html>",
                            "<HTML lang=en>", "<!-- x -->", "<?xml version='1.0'?>", "<body>", "<title>"};
  for (int round = 0; round < 300; ++round) {
    CAPTURE(round);
    std::string list;
    if (rng() % 2) list += "# generated list " + random_label(rng) + "\n\n";
    const size_t lines = 1 + rng() % 20;
    for (size_t i = 0; i < lines; ++i) list += random_label(rng) + "." + random_label(rng, 2, 6) + "\n";
    CHECK_FALSE(text_refusal(list).has_value());
    std::string page;
    if (rng() % 3 == 0) page += "\xEF\xBB\xBF";
    page += std::string(rng() % 4, rng() % 2 ? ' ' : '\n');
    page += openings[rng() % std::size(openings)];
    page += "\n" + list;  // whatever follows, the document is markup
    CHECK(text_refusal(page) == RefusalReason::kMarkup);
  }
}

TEST_CASE("shrink guard: the limit in whole entries, as a percentage of the source") {
  // removed * 100 > percent * previous, in integers: the rule, said another way than the code.
  for (uint64_t previous = 1; previous <= 60; ++previous) {
    for (uint64_t removed = 0; removed <= previous; ++removed) {
      for (int percent : {0, 10, 25, 50, 70, 99, 100}) {
        CAPTURE(previous);
        CAPTURE(removed);
        CAPTURE(percent);
        const bool refused = check_removal(previous, removed, UpdateLimits{percent / 100.0}).has_value();
        CHECK(refused == (removed * 100 > static_cast<uint64_t>(percent) * previous));
      }
    }
  }
  CHECK_FALSE(check_removal(0, 0, {}).has_value());  // a new source removes nothing
  auto r = check_removal(2689, 1689, {});
  REQUIRE(r);
  CHECK(r->reason == RefusalReason::kShrink);
  CHECK(r->message == "the update would remove 1689 of the source's 2689 entries (62.8%), more than the 50% allowed");
}

namespace {

// The source's entries as the store holds them: names, and "hostkey/path url" for URL entries.
std::set<std::string> source_entries(StoreWriter& w, const std::string& source) {
  std::set<std::string> out;
  uint16_t id = 0;
  for (const auto& s : w.sources())
    if (s.name == source) id = s.id;
  CategoryStore& store = w.store();
  TxnGuard txn(store.env(), MDB_RDONLY, store.path());
  EntryHeader h;
  std::vector<Contribution> contribs;
  for (bool urls : {false, true}) {
    MDB_cursor* cur;
    REQUIRE(mdb_cursor_open(txn.get(), urls ? store.urls_dbi() : store.domains_dbi(), &cur) == 0);
    MDB_val k, v;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      REQUIRE(decode_entry(from_val(v), h, contribs));
      for (const auto& c : contribs) {
        if (c.source_id != id) continue;
        if (urls) out.insert(std::string(from_val(k)) + " url");
        else if (c.flags & (kFlagSubtree | kFlagExact)) out.insert(key_to_name(from_val(k)));
      }
    }
    mdb_cursor_close(cur);
  }
  return out;
}

}  // namespace

TEST_CASE("shrink guard property: refused exactly when too much goes, and then nothing changes") {
  const uint64_t seed = sekisho::test::test_seed(0x5e415b0);
  INFO(sekisho::test::seed_note(seed));
  std::mt19937_64 rng(seed);
  TempDir dir;
  const std::string path = dir.path.string();
  // A pool of names the updates draw from; another source shares some of them, and its
  // contributions must never count as the guarded source's.
  std::vector<std::string> pool;
  for (int i = 0; i < 120; ++i) pool.push_back("n" + std::to_string(i) + "." + random_label(rng, 3, 8) + ".example");
  StoreWriter w(path);
  {
    EntrySet other;
    char key[kMaxUrlKeyLen + 1];
    for (int i = 0; i < 120; i += 3) other.add_domain(std::string_view(key, make_name_key(pool[i], key)), kFlagSubtree, slug_set("ads"));
    other.finalize();
    SourceInfo info;
    info.name = "other";
    w.replace_source(info, other);
  }
  std::set<std::string> current;  // what the guarded source holds
  for (int round = 0; round < 60; ++round) {
    CAPTURE(round);
    // A new version: keep each current entry with a chance, add new ones; some URL entries.
    std::set<std::string> next;
    const unsigned keep = static_cast<unsigned>(rng() % 101);
    for (const auto& e : current)
      if (rng() % 100 < keep) next.insert(e);
    const size_t add = rng() % 15;
    for (size_t i = 0; i < add; ++i) {
      const std::string& name = pool[rng() % pool.size()];
      if (rng() % 4 == 0) next.insert(name + "/p" + std::to_string(rng() % 5) + " url");
      else next.insert(name);
    }
    if (next.empty()) next.insert(pool[rng() % pool.size()]);
    EntrySet set;
    char key[kMaxUrlKeyLen + 1];
    for (const auto& e : next) {
      if (e.ends_with(" url")) {
        const std::string url = e.substr(0, e.size() - 4);
        const size_t slash = url.find('/');
        const size_t n = make_name_key(url.substr(0, slash), key);
        set.add_url(std::string_view(key, n), url.substr(slash + 1), slug_set("adult"));
      } else {
        set.add_domain(std::string_view(key, make_name_key(e, key)), kFlagSubtree, slug_set("malware"));
      }
    }
    set.finalize();
    // The stored form of the URL entries (host key + path) to compare with source_entries.
    std::set<std::string> next_stored;
    for (const auto& e : next) {
      if (!e.ends_with(" url")) {
        next_stored.insert(e);
        continue;
      }
      const std::string url = e.substr(0, e.size() - 4);
      const size_t slash = url.find('/');
      const size_t n = make_name_key(url.substr(0, slash), key);
      next_stored.insert(std::string(key, n) + url.substr(slash) + " url");
    }
    uint64_t removed = 0;
    for (const auto& e : current) removed += next_stored.count(e) == 0;
    const int percent = static_cast<int>(rng() % 101);
    CAPTURE(current.size());
    CAPTURE(removed);
    CAPTURE(percent);
    SourceInfo info;
    info.name = "guarded";
    bool refused = false;
    try {
      WriteResult r = guarded_replace(w, info, set, nullptr, UpdateLimits{percent / 100.0});
      CHECK(r.removed_entries == removed);
      CHECK(r.previous_entries == current.size());
    } catch (const UpdateRefused& e) {
      refused = true;
      CHECK(e.reason() == RefusalReason::kShrink);
    }
    CHECK(refused == (removed * 100 > static_cast<uint64_t>(percent) * current.size()));
    const auto stored = source_entries(w, "guarded");
    if (refused) {
      CHECK(stored == current);  // the previous data stays, entry for entry
    } else {
      CHECK(stored == next_stored);
      current = next_stored;
    }
  }
}
