// tests/unit/feed/rpz_apply_test.cc — RPZ records → store entries (rpz_rule.h, shared with the
// file importer), and a transfer applied to a real LMDB store: an AXFR replaces the source, an
// IXFR diff touches only its names (other keys keep their values byte for byte), records
// sharing a key are tracked one by one, the serial is stored with the source.
#include <doctest/doctest.h>

#include <lmdb.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "feed/rpz_apply.h"
#include "feed/xfr.h"
#include "policy/import/public_suffix.h"
#include "policy/import/rpz_rule.h"
#include "policy/import/update_guard.h"
#include "policy/store/category_store.h"
#include "policy/store/entry_codec.h"
#include "policy/store/lmdb_util.h"
#include "policy/store/store_writer.h"
#include "tests/unit/temp_dir.h"

#include <ldns/ldns.h>

using namespace sekisho;
using namespace sekisho::policy;

namespace {

feed::Rr rr(const std::string& text) {
  ldns_rr* r = nullptr;
  REQUIRE_MESSAGE(ldns_rr_new_frm_str(&r, text.c_str(), 3600, nullptr, nullptr) == LDNS_STATUS_OK, text);
  return feed::Rr(r);
}

RpzRule rule(const std::string& text, std::string_view apex = "rpz.example.") {
  feed::Rr r = rr(text);
  return rpz_rule(r.get(), apex);
}

CategorySet malware() {
  CategorySet s;
  s.add(CategoryRegistry::builtins().by_slug("malware")->id);
  return s;
}

const char* kSoa1 = "rpz.example. 60 IN SOA ns.rpz.example. admin.rpz.example. 1 3600 600 86400 60";

feed::XfrResult axfr(const std::vector<std::string>& records, uint32_t serial = 1) {
  feed::XfrResult r;
  r.kind = feed::XfrResult::Kind::axfr;
  r.soa.serial = serial;
  r.records.push_back(rr(kSoa1));
  r.records.push_back(rr("rpz.example. 60 IN NS ns.rpz.example."));
  for (const auto& t : records) r.records.push_back(rr(t));
  return r;
}

// Every domains entry: key → value bytes.
std::map<std::string, std::string> dump(StoreWriter& w) {
  std::map<std::string, std::string> out;
  TxnGuard txn(w.store().env(), MDB_RDONLY, "dump");
  MDB_cursor* cur;
  mdb_check(mdb_cursor_open(txn.get(), w.store().domains_dbi(), &cur), "cursor");
  MDB_val k, v;
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    out[std::string(from_val(k))] = std::string(from_val(v));
  mdb_cursor_close(cur);
  return out;
}

// The guard with every shrink allowed and public suffixes taken (the tests of the mapping).
feed::FeedGuard any_shrink() {
  feed::FeedGuard g;
  g.limits.max_removed_share = 1.0;
  return g;
}

// The feed's defaults: half, and the system's public suffix list.
feed::FeedGuard defaults() {
  feed::FeedGuard g;
  g.public_suffixes = &PublicSuffixList::system();
  return g;
}

std::vector<std::string> names(const char* prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(std::string(prefix) + std::to_string(i) + ".example.rpz.example. CNAME .");
  return out;
}

Match look(StoreWriter& w, const std::string& name) {
  CategoryReader r(w.store());
  REQUIRE(r.begin_batch());
  Match m = r.lookup_domain(name);
  Match copy = m;
  copy.matched_key = {};
  r.end_batch();
  return copy;
}

}  // namespace

TEST_CASE("rpz rule: name triggers relative to the apex; exact, subtree, passthru") {
  RpzRule r = rule("bad.example.rpz.example. CNAME .");
  CHECK(r.kind == RpzRule::Kind::entry);
  CHECK(r.name == "bad.example");
  CHECK(r.flags == kFlagExact);
  CHECK_FALSE(r.passthru);
  r = rule("*.bad.example.rpz.example. CNAME .");
  CHECK(r.kind == RpzRule::Kind::entry);
  CHECK(r.name == "bad.example");
  CHECK(r.flags == kFlagSubtree);
  for (const char* target : {"*.", "rpz-drop."}) {
    r = rule(std::string("x.example.rpz.example. CNAME ") + target);
    CHECK_MESSAGE(r.kind == RpzRule::Kind::entry, target);
  }
  r = rule("ok.example.rpz.example. CNAME rpz-passthru.");
  CHECK(r.kind == RpzRule::Kind::entry);
  CHECK(r.passthru);
  r = rule("MiXeD.Example.RPZ.example. CNAME .");
  CHECK(r.name == "mixed.example");
}

TEST_CASE("rpz rule: apex records ignored; other triggers, local data and tcp-only refused with a reason") {
  CHECK(rule(kSoa1).kind == RpzRule::Kind::ignore);
  CHECK(rule("rpz.example. NS ns.rpz.example.").kind == RpzRule::Kind::ignore);
  RpzRule r = rule("local.example.rpz.example. A 192.0.2.1");
  CHECK(r.kind == RpzRule::Kind::refuse);
  CHECK(r.reason.find("local-data A") != std::string::npos);
  r = rule("32.1.2.0.192.rpz-ip.rpz.example. CNAME .");
  CHECK(r.kind == RpzRule::Kind::refuse);
  CHECK(r.reason.find("rpz-ip trigger") != std::string::npos);
  r = rule("t.example.rpz.example. CNAME rpz-tcp-only.");
  CHECK(r.reason == "rpz-tcp-only action not supported");
  r = rule("w.example.rpz.example. CNAME walled.garden.example.");
  CHECK(r.reason.find("CNAME rewrite to walled.garden.example.") != std::string::npos);
  // Without a known apex, owners are taken whole.
  r = rule("bad.example. CNAME .", "");
  CHECK(r.name == "bad.example");
}

TEST_CASE("serial arithmetic follows RFC 1982 across the wrap") {
  CHECK(feed::serial_newer(2, 1));
  CHECK_FALSE(feed::serial_newer(1, 2));
  CHECK_FALSE(feed::serial_newer(5, 5));
  CHECK(feed::serial_newer(1, 0xffffffffu));  // wrapped
  CHECK_FALSE(feed::serial_newer(0xffffffffu, 1));
  CHECK(feed::parse_serial_version(feed::serial_version(2026120701)) == 2026120701u);
  CHECK_FALSE(feed::parse_serial_version("etag abc").has_value());
}

TEST_CASE("axfr replaces the source; ixfr touches only its names, one record of a shared key at a time") {
  test::TempDir dir;
  StoreWriter w((dir.path / "store").string());
  // Another source shares a key: its contribution must survive everything the feed does.
  {
    EntrySet other;
    char key[kMaxKeyLen];
    other.add_domain(std::string_view(key, make_name_key("shared.example", key)), kFlagExact, malware());
    other.finalize();
    SourceInfo info;
    info.name = "other";
    w.replace_source(info, other);
  }
  feed::RpzApplier a(w, "threat", "rpz.example", malware(), any_shrink());
  CHECK_FALSE(a.stored_serial().has_value());
  auto rep = a.apply_axfr(axfr({"bad.example.rpz.example. CNAME .", "*.bad.example.rpz.example. CNAME .",
                                "keep.example.rpz.example. CNAME .", "shared.example.rpz.example. CNAME rpz-drop.",
                                "ok.example.rpz.example. CNAME rpz-passthru.", "local.example.rpz.example. A 192.0.2.1"}),
                          100);
  CHECK(rep.refused == 1);
  CHECK(rep.first_refusal.find("local.example.rpz.example.") != std::string::npos);
  CHECK(rep.ignored == 2);
  CHECK(a.stored_serial() == 1u);
  CHECK(a.stored()->domain_entries == 4);
  CHECK(look(w, "www.bad.example").found);  // *.bad.example: a subtree
  CHECK(look(w, "keep.example").found);
  CHECK(look(w, "ok.example").is_allowlisted());
  CHECK_FALSE(look(w, "www.keep.example").found);  // exact only

  const auto before = dump(w);
  // Serial 2: one of bad.example's two records goes (the key stays, now exact: the subtree
  // record is gone), keep.example is untouched, new.example comes.
  feed::XfrDiff d;
  d.from = 1;
  d.to = 2;
  d.removed.push_back(rr("*.bad.example.rpz.example. CNAME ."));
  d.added.push_back(rr("new.example.rpz.example. CNAME ."));
  rep = a.apply_diff(d);
  CHECK(rep.keys_changed == 2);
  CHECK(a.stored_serial() == 2u);
  CHECK(a.stored()->domain_entries == 5);
  CHECK(look(w, "bad.example").found);
  CHECK_FALSE(look(w, "www.bad.example").found);
  CHECK(look(w, "new.example").found);
  const auto after = dump(w);
  for (const auto& [key, value] : before) {
    if (key == "example.bad") continue;
    REQUIRE_MESSAGE(after.count(key), key);
    CHECK_MESSAGE(after.at(key) == value, key);  // untouched names: the same bytes
  }

  // Serial 3: the last record of bad.example and the feed's record of the shared key go.
  feed::XfrDiff e;
  e.from = 2;
  e.to = 3;
  e.removed.push_back(rr("bad.example.rpz.example. CNAME ."));
  e.removed.push_back(rr("shared.example.rpz.example. CNAME rpz-drop."));
  a.apply_diff(e);
  CHECK_FALSE(look(w, "bad.example").found);
  CHECK(look(w, "shared.example").found);  // still the other source's
  CHECK(a.stored()->domain_entries == 3);

  // A fresh AXFR at serial 9 with one name: everything else of the feed goes, the other source stays.
  a.apply_axfr(axfr({"only.example.rpz.example. CNAME ."}, 9), 100);
  CHECK(a.stored_serial() == 9u);
  CHECK(a.stored()->domain_entries == 1);
  CHECK_FALSE(look(w, "keep.example").found);
  CHECK(look(w, "shared.example").found);
  // ... and the per-key records were replaced too: an IXFR removing a record of the old zone
  // changes nothing.
  feed::XfrDiff f;
  f.from = 9;
  f.to = 10;
  f.removed.push_back(rr("keep.example.rpz.example. CNAME ."));
  CHECK(a.apply_diff(f).keys_changed == 0);
  CHECK(a.stored()->domain_entries == 1);
}

TEST_CASE("axfr over max_entries, or refused by the guard, writes nothing") {
  test::TempDir dir;
  StoreWriter w((dir.path / "store").string());
  feed::RpzApplier a(w, "threat", "rpz.example.", malware(), defaults());
  a.apply_axfr(axfr({"a.example.rpz.example. CNAME .", "b.example.rpz.example. CNAME ."}), 10);
  CHECK_THROWS_WITH_AS(a.apply_axfr(axfr({"c.example.rpz.example. CNAME .", "d.example.rpz.example. CNAME .",
                                          "e.example.rpz.example. CNAME ."}, 2),
                                    2),
                       doctest::Contains("over limits.max_entries"), feed::XfrError);
  auto refusal = [&](const feed::XfrResult& x) -> std::optional<RefusalReason> {
    try {
      a.apply_axfr(x, 10);
    } catch (const UpdateRefused& e) {
      return e.reason();
    }
    return std::nullopt;
  };
  // A zone with no policy records, one whose every record is refused, one naming a public
  // suffix, one that keeps one of the two names: the importer's checks, nothing written.
  CHECK(refusal(axfr({}, 3)) == RefusalReason::kNoEntries);
  CHECK(refusal(axfr({"x.example.rpz.example. A 192.0.2.1"}, 3)) == RefusalReason::kAllRefused);
  CHECK(refusal(axfr({"a.example.rpz.example. CNAME .", "b.example.rpz.example. CNAME .", "com.rpz.example. CNAME ."},
                     3)) == RefusalReason::kPublicSuffix);
  CHECK(refusal(axfr({"*.co.jp.rpz.example. CNAME .", "a.example.rpz.example. CNAME .", "b.example.rpz.example. CNAME ."},
                     3)) == RefusalReason::kPublicSuffix);
  CHECK(refusal(axfr({"c.example.rpz.example. CNAME ."}, 3)) == RefusalReason::kShrink);  // both go: 100 % > 50 %
  CHECK(a.stored_serial() == 1u);
  CHECK(a.stored()->domain_entries == 2);
  CHECK(look(w, "a.example").found);
  CHECK_FALSE(look(w, "com").found);
  // Half may go (the limit is inclusive, as `sekisho db import`'s).
  CHECK_FALSE(refusal(axfr({"a.example.rpz.example. CNAME .", "c.example.rpz.example. CNAME ."}, 4)).has_value());
  CHECK(a.stored_serial() == 4u);
}

TEST_CASE("an ixfr removing more than the share is refused before any serial is written; allowed with allow_shrink") {
  test::TempDir dir;
  StoreWriter w((dir.path / "store").string());
  feed::RpzApplier a(w, "threat", "rpz.example.", malware(), defaults());
  a.apply_axfr(axfr(names("n", 10)), 100);
  REQUIRE(a.stored()->domain_entries == 10);
  // Two diffs, each removing 3 names: 6 of 10 together, over half, though neither alone is.
  std::vector<feed::XfrDiff> diffs(2);
  for (int d = 0; d < 2; ++d) {
    diffs[d].from = 1 + d;
    diffs[d].to = 2 + d;
    for (int i = 0; i < 3; ++i) diffs[d].removed.push_back(rr(names("n", 10)[d * 3 + i]));
  }
  // A name removed and added back within the IXFR is no removal: only 5 then, allowed.
  CHECK_THROWS_AS(a.check_ixfr(diffs), UpdateRefused);
  diffs[1].added.push_back(rr(names("n", 10)[3]));
  CHECK_NOTHROW(a.check_ixfr(diffs));
  diffs[1].added.clear();
  try {
    a.check_ixfr(diffs);
  } catch (const UpdateRefused& e) {
    CHECK(e.reason() == RefusalReason::kShrink);
    CHECK(std::string(e.what()).find("remove 6 of the source's 10 entries") != std::string::npos);
  }
  CHECK(a.stored_serial() == 1u);
  // An added public suffix refuses the IXFR; a removed one never does.
  std::vector<feed::XfrDiff> ps(1);
  ps[0].from = 1;
  ps[0].to = 2;
  ps[0].added.push_back(rr("com.rpz.example. CNAME ."));
  CHECK_THROWS_AS(a.check_ixfr(ps), UpdateRefused);
  std::swap(ps[0].added, ps[0].removed);
  CHECK_NOTHROW(a.check_ixfr(ps));
  // The feed's allow_shrink: the same IXFR passes and is applied.
  feed::RpzApplier forced(w, "threat", "rpz.example.", malware(), any_shrink());
  CHECK_NOTHROW(forced.check_ixfr(diffs));
  for (const auto& d : diffs) forced.apply_diff(d);
  CHECK(forced.stored_serial() == 3u);
  CHECK(forced.stored()->domain_entries == 4);
}
