// tests/unit/feed/rpz_apply_test.cc — RPZ records → store entries (rpz_rule.h, shared with the
// file importer), and a transfer applied to a real LMDB store: an AXFR replaces the source, an
// IXFR diff touches only its names (other keys keep their values byte for byte), records
// sharing a key are tracked one by one, the serial is stored with the source; names read from the
// wire print exactly as ldns prints them.
#include <doctest/doctest.h>

#include <lmdb.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dns/wire.h"
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

using Rr = std::unique_ptr<ldns_rr, void (*)(ldns_rr*)>;

Rr rr(const std::string& text) {
  ldns_rr* r = nullptr;
  REQUIRE_MESSAGE(ldns_rr_new_frm_str(&r, text.c_str(), 3600, nullptr, nullptr) == LDNS_STATUS_OK, text);
  return Rr(r, ldns_rr_free);
}

RpzRule rule(const std::string& text, std::string_view apex = "rpz.example.") {
  Rr r = rr(text);
  return rpz_rule(r.get(), apex);
}

CategorySet malware() {
  CategorySet s;
  s.add(CategoryRegistry::builtins().by_slug("malware")->id);
  return s;
}

const char* kSoa1 = "rpz.example. 60 IN SOA ns.rpz.example. admin.rpz.example. 1 3600 600 86400 60";

// What transfer() hands the sink for a record given as zone-file text: its presentation form,
// lowercased, as ldns prints it (the wire reader's text is checked against ldns's in
// xfr_test.cc).
void give(feed::XfrSink& sink, feed::XfrSink::Part part, const std::string& text, size_t diff = 0) {
  Rr r = rr(text);
  const std::string owner = rpz_rdf_text(ldns_rr_owner(r.get()));
  const auto type = static_cast<uint16_t>(ldns_rr_get_type(r.get()));
  const bool one = type == LDNS_RR_TYPE_CNAME && ldns_rr_rd_count(r.get()) == 1;
  const std::string target = one ? rpz_rdf_text(ldns_rr_rdf(r.get(), 0)) : std::string();
  sink.record(part, diff, feed::XfrRecord{owner, type, one, target});
}

// An AXFR of the zone's SOA, NS and `records`, as the applier's sink receives it.
feed::XfrResult axfr(feed::RpzApplier& a, const std::vector<std::string>& records, uint32_t serial = 1) {
  feed::XfrResult r;
  r.kind = feed::XfrResult::Kind::axfr;
  r.soa.serial = serial;
  a.sink().clear();
  give(a.sink(), feed::XfrSink::Part::axfr, kSoa1);
  give(a.sink(), feed::XfrSink::Part::axfr, "rpz.example. 60 IN NS ns.rpz.example.");
  for (const auto& t : records) give(a.sink(), feed::XfrSink::Part::axfr, t);
  return r;
}

// One serial step of an IXFR, as zone-file text.
struct Diff {
  uint32_t from = 0, to = 0;
  std::vector<std::string> removed, added;
};

// An IXFR of `diffs`, in order, as the applier's sink receives it.
feed::XfrResult ixfr(feed::RpzApplier& a, const std::vector<Diff>& diffs) {
  feed::XfrResult r;
  r.kind = feed::XfrResult::Kind::ixfr;
  r.soa.serial = diffs.empty() ? 0 : diffs.back().to;
  a.sink().clear();
  for (size_t i = 0; i < diffs.size(); ++i) {
    r.diffs.push_back(feed::XfrDiff{diffs[i].from, diffs[i].to});
    for (const auto& t : diffs[i].removed) give(a.sink(), feed::XfrSink::Part::removed, t, i);
    for (const auto& t : diffs[i].added) give(a.sink(), feed::XfrSink::Part::added, t, i);
  }
  return r;
}

// One IXFR diff from -> to.
feed::XfrResult ixfr(feed::RpzApplier& a, uint32_t from, uint32_t to, const std::vector<std::string>& removed,
                     const std::vector<std::string>& added) {
  return ixfr(a, {Diff{from, to, removed, added}});
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
  auto rep = a.apply_axfr(axfr(a, {"bad.example.rpz.example. CNAME .", "*.bad.example.rpz.example. CNAME .",
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
  rep = a.apply_diff(ixfr(a, 1, 2, {"*.bad.example.rpz.example. CNAME ."}, {"new.example.rpz.example. CNAME ."}), 0);
  CHECK(rep.keys_changed == 2);
  CHECK(a.stored_serial() == 2u);
  CHECK(a.stored()->domain_entries == 5);
  CHECK(look(w, "bad.example").found);
  CHECK_FALSE(look(w, "www.bad.example").found);
  CHECK(look(w, "new.example").found);
  const auto after = dump(w);
  for (const auto& entry : before) {
    // Named, not a structured binding: doctest's messages are lambdas, and clang 14 (the
    // sanitizer trees' compiler) cannot capture a binding.
    const std::string& key = entry.first;
    if (key == "example.bad") continue;
    REQUIRE_MESSAGE(after.count(key), key);
    CHECK_MESSAGE(after.at(key) == entry.second, key);  // untouched names: the same bytes
  }

  // Serial 3: the last record of bad.example and the feed's record of the shared key go.
  a.apply_diff(ixfr(a, 2, 3, {"bad.example.rpz.example. CNAME .", "shared.example.rpz.example. CNAME rpz-drop."}, {}),
               0);
  CHECK_FALSE(look(w, "bad.example").found);
  CHECK(look(w, "shared.example").found);  // still the other source's
  CHECK(a.stored()->domain_entries == 3);

  // A fresh AXFR at serial 9 with one name: everything else of the feed goes, the other source stays.
  a.apply_axfr(axfr(a, {"only.example.rpz.example. CNAME ."}, 9), 100);
  CHECK(a.stored_serial() == 9u);
  CHECK(a.stored()->domain_entries == 1);
  CHECK_FALSE(look(w, "keep.example").found);
  CHECK(look(w, "shared.example").found);
  // ... and the per-key records were replaced too: an IXFR removing a record of the old zone
  // changes nothing.
  CHECK(a.apply_diff(ixfr(a, 9, 10, {"keep.example.rpz.example. CNAME ."}, {}), 0).keys_changed == 0);
  CHECK(a.stored()->domain_entries == 1);
}

TEST_CASE("axfr over max_entries, or refused by the guard, writes nothing") {
  test::TempDir dir;
  StoreWriter w((dir.path / "store").string());
  feed::RpzApplier a(w, "threat", "rpz.example.", malware(), defaults());
  a.apply_axfr(axfr(a, {"a.example.rpz.example. CNAME .", "b.example.rpz.example. CNAME ."}), 10);
  CHECK_THROWS_WITH_AS(a.apply_axfr(axfr(a, {"c.example.rpz.example. CNAME .", "d.example.rpz.example. CNAME .",
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
  CHECK(refusal(axfr(a, {}, 3)) == RefusalReason::kNoEntries);
  CHECK(refusal(axfr(a, {"x.example.rpz.example. A 192.0.2.1"}, 3)) == RefusalReason::kAllRefused);
  CHECK(refusal(axfr(a, {"a.example.rpz.example. CNAME .", "b.example.rpz.example. CNAME .", "com.rpz.example. CNAME ."},
                     3)) == RefusalReason::kPublicSuffix);
  CHECK(refusal(axfr(a, {"*.co.jp.rpz.example. CNAME .", "a.example.rpz.example. CNAME .", "b.example.rpz.example. CNAME ."},
                     3)) == RefusalReason::kPublicSuffix);
  CHECK(refusal(axfr(a, {"c.example.rpz.example. CNAME ."}, 3)) == RefusalReason::kShrink);  // both go: 100 % > 50 %
  CHECK(a.stored_serial() == 1u);
  CHECK(a.stored()->domain_entries == 2);
  CHECK(look(w, "a.example").found);
  CHECK_FALSE(look(w, "com").found);
  // Half may go (the limit is inclusive, as `sekisho db import`'s).
  CHECK_FALSE(refusal(axfr(a, {"a.example.rpz.example. CNAME .", "c.example.rpz.example. CNAME ."}, 4)).has_value());
  CHECK(a.stored_serial() == 4u);
}

TEST_CASE("an ixfr removing more than the share is refused before any serial is written; allowed with allow_shrink") {
  test::TempDir dir;
  StoreWriter w((dir.path / "store").string());
  feed::RpzApplier a(w, "threat", "rpz.example.", malware(), defaults());
  a.apply_axfr(axfr(a, names("n", 10)), 100);
  REQUIRE(a.stored()->domain_entries == 10);
  // Two diffs, each removing 3 names: 6 of 10 together, over half, though neither alone is.
  const std::vector<std::string> n = names("n", 10);
  std::vector<Diff> diffs = {{1, 2, {n[0], n[1], n[2]}, {}}, {2, 3, {n[3], n[4], n[5]}, {}}};
  CHECK_THROWS_AS(a.check_ixfr(ixfr(a, diffs)), UpdateRefused);
  // A name removed and added back within the IXFR is no removal: only 5 then, allowed.
  diffs[1].added.push_back(n[3]);
  CHECK_NOTHROW(a.check_ixfr(ixfr(a, diffs)));
  diffs[1].added.clear();
  try {
    a.check_ixfr(ixfr(a, diffs));
    FAIL_CHECK("an IXFR removing 6 of 10 entries was let through");
  } catch (const UpdateRefused& e) {
    CHECK(e.reason() == RefusalReason::kShrink);
    CHECK(std::string(e.what()).find("remove 6 of the source's 10 entries") != std::string::npos);
  }
  CHECK(a.stored_serial() == 1u);
  // An added public suffix refuses the IXFR; a removed one never does.
  CHECK_THROWS_AS(a.check_ixfr(ixfr(a, 1, 2, {}, {"com.rpz.example. CNAME ."})), UpdateRefused);
  CHECK_NOTHROW(a.check_ixfr(ixfr(a, 1, 2, {"com.rpz.example. CNAME ."}, {})));
  // The feed's allow_shrink: the same IXFR passes and is applied.
  feed::RpzApplier forced(w, "threat", "rpz.example.", malware(), any_shrink());
  const feed::XfrResult x = ixfr(forced, diffs);
  CHECK_NOTHROW(forced.check_ixfr(x));
  for (size_t i = 0; i < x.diffs.size(); ++i) forced.apply_diff(x, i);
  CHECK(forced.stored_serial() == 3u);
  CHECK(forced.stored()->domain_entries == 4);
}

TEST_CASE("names read from the wire print as ldns prints them: stored record identities stay valid") {
  // The feed-records DB names records by a hash of their presentation text; stores written when
  // the feed parsed with ldns must match what the wire reader (dns::expand_name, lowercased, then
  // dns::name_to_text) gives now, for every byte a label may hold.
  for (int b = 0; b < 256; ++b) {
    CAPTURE(b);
    const std::vector<uint8_t> wire = {3, 'a', static_cast<uint8_t>(b), 'C', 2, 'E', 'x', 0};
    ldns_rdf* rdf = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, wire.size(), wire.data());
    REQUIRE(rdf);
    const std::string ldns_text = rpz_rdf_text(rdf);
    ldns_rdf_deep_free(rdf);
    uint8_t lower[dns::kMaxNameWire];
    size_t len = 0;
    REQUIRE(dns::expand_name(wire, 0, lower, len));
    char text[4 * dns::kMaxNameWire];
    CHECK(std::string(text, dns::name_to_text(lower, len, text, sizeof text)) == ldns_text);
  }
}

TEST_CASE("a feed of a category above 63: entries and per-record items keep it through axfr and ixfr") {
  // The transfer's records carry only an allow/block bit; the applier's categories (here
  // dynamic_dns, id 97, past the items' narrow 64-bit form) are what the store and the
  // feed's per-key records must hold.
  test::TempDir dir;
  StoreWriter w((dir.path / "store").string());
  CategorySet dyn;
  const auto* info = CategoryRegistry::builtins().by_slug("dynamic_dns");
  REQUIRE(info);
  REQUIRE(info->id >= 64);
  dyn.add(info->id);
  feed::RpzApplier a(w, "dyn", "rpz.example", dyn, any_shrink());
  a.apply_axfr(axfr(a, {"ddns.example.rpz.example. CNAME .", "*.ddns.example.rpz.example. CNAME .",
                        "other.example.rpz.example. CNAME ."}),
               100);
  Match m = look(w, "host.ddns.example");
  REQUIRE(m.found);
  CHECK(m.categories == dyn);
  // One of the key's two records goes: the item read back from feed_records keeps id 97.
  a.apply_diff(ixfr(a, 1, 2, {"*.ddns.example.rpz.example. CNAME ."}, {"new.example.rpz.example. CNAME ."}), 0);
  m = look(w, "ddns.example");
  REQUIRE(m.found);
  CHECK(m.categories == dyn);
  CHECK_FALSE(look(w, "host.ddns.example").found);
  CHECK(look(w, "new.example").categories == dyn);
  a.apply_diff(ixfr(a, 2, 3, {"ddns.example.rpz.example. CNAME ."}, {}), 0);
  CHECK_FALSE(look(w, "ddns.example").found);
  CHECK(look(w, "other.example").categories == dyn);
}
