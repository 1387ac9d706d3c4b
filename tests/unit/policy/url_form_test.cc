// tests/unit/policy/url_form_test.cc — the canonical URL form (policy/store/url_form.h), one
// case per rule, and on a real store: every generated spelling of a listed URL matches it, and
// spellings of a different path or query do not (issue 19); stores in the old key form keep
// matching and are re-keyed by the next write.
#include <doctest/doctest.h>

#include <lmdb.h>
#include <malloc.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "base/text.h"
#include "policy/import/idna.h"
#include "policy/import/importer.h"
#include "policy/store/category_store.h"
#include "policy/store/entry_codec.h"
#include "policy/store/key_format.h"
#include "policy/store/lmdb_util.h"
#include "policy/store/schema.h"
#include "policy/store/store_writer.h"
#include "policy/store/url_form.h"
#include "tests/unit/temp_dir.h"

using namespace sekisho::policy;
namespace base = sekisho::base;
using sekisho::test::TempDir;

namespace {

std::string canon(std::string_view path, size_t cap = kMaxUrlKeyLen, bool* truncated = nullptr) {
  std::string out(cap, '\0');
  const url::PathForm f = url::canonical_path(path, out.data(), cap);
  if (truncated) *truncated = f.truncated;
  else CHECK_FALSE(f.truncated);
  out.resize(f.len);
  return out;
}

std::string param(std::string_view p) {
  char buf[kMaxUrlKeyLen];
  return std::string(buf, url::canonical_param(p, buf, sizeof buf));
}

CategorySet adult() {
  CategorySet s;
  s.add(CategoryRegistry::builtins().by_slug("adult")->id);
  return s;
}

// The store key an import makes of a listed URL, or "refused: " and the report.
std::string key_of(std::string_view listed) {
  EntrySet set;
  ImportReport report;
  ImportOptions opt;
  std::ostringstream diag;
  opt.diagnostics = &diag;
  ImportSink sink(set, report, opt);
  if (!sink.add_url(listed, adult(), 1)) return "refused: " + diag.str();
  set.finalize();
  REQUIRE(set.urls().size() == 1);
  return std::string(set.key(set.urls()[0]));
}

// Imports URL lines as one source (UT1 `urls` semantics through ImportSink::add_url).
void import_urls(StoreWriter& w, const std::string& source, const std::vector<std::string>& lines) {
  EntrySet set;
  ImportReport report;
  ImportOptions opt;
  ImportSink sink(set, report, opt);
  sink.set_file(source);
  uint64_t no = 0;
  for (const std::string& l : lines) REQUIRE_MESSAGE(sink.add_url(l, adult(), ++no), l);
  set.finalize();
  SourceInfo info;
  info.name = source;
  w.replace_source(info, set);
}

// What `sekisho db lookup URL` does: split, normalise the host, look up path and query.
UrlMatch lookup(CategoryReader& r, std::string_view whole_url) {
  const url::Parts p = url::split(whole_url);
  std::string name, reason;
  if (!normalize_name(p.host, name, reason)) return {};
  return r.lookup_url(name, p.path, p.query);
}

}  // namespace

TEST_CASE("url: unreserved escapes decoded, others upper-cased, disallowed bytes escaped (RFC 3986 6.2.2)") {
  CHECK(canon("/au/market/listed%5Fitem") == "au/market/listed_item");
  CHECK(canon("/%7e%2D%2e%5f") == "~-._");
  CHECK(canon("/a%3ab%40c%21%2C%3B%3D") == "a:b@c!,;=");  // sub-delims, ':' and '@' as servers decode them
  CHECK(canon("/a%2fb") == "a%2Fb");                       // an encoded '/' is no separator
  CHECK(canon("/a%5cb%3fc%23d%25e") == "a%5Cb%3Fc%23d%25e");
  CHECK(canon("/%e3%81%82") == "%E3%81%82");
  CHECK(canon("/\xe3\x81\x82") == "%E3%81%82");  // raw UTF-8 as a browser would send it
  CHECK(canon("/a b\"<>^`{|}") == "a%20b%22%3C%3E%5E%60%7B%7C%7D");
  CHECK(canon("/100%") == "100%25");    // a lone '%' is itself
  CHECK(canon("/%zz%4") == "%25zz%254");
  CHECK(canon("/%00x") == "%00x");
}

TEST_CASE("url: path letters folded to lower case, escapes' hex digits upper") {
  CHECK(canon("/AU/Market/%4C%69sted") == "au/market/listed");
  CHECK(canon("/%c3%A9T%C3%a9") == "%C3%A9t%C3%A9");
}

TEST_CASE("url: dot segments removed (RFC 3986 5.2.4), encoded dots too") {
  CHECK(canon("/a/b/c/./../../g") == "a/g");
  CHECK(canon("mid/content=5/../6") == "mid/6");
  CHECK(canon("/x/../au/market") == "au/market");
  CHECK(canon("/..") == "");
  CHECK(canon("/../../a") == "a");
  CHECK(canon("/a/%2e%2E/b/%2E") == "b");
  CHECK(canon("/a/.../b/..c/c..") == "a/.../b/..c/c..");  // only whole "." and ".." segments
  CHECK(canon("/a/.%2F./b") == "a/.%2F./b");
}

TEST_CASE("url: repeated slashes merged before dot segments, backslash is a slash, no edge slashes") {
  CHECK(canon("//au///market//") == "au/market");
  CHECK(canon("/au\\market\\\\x") == "au/market/x");
  CHECK(canon("/a//../b") == "b");  // nginx: merge_slashes, then dot segments
  CHECK(canon("") == "");
  CHECK(canon("/") == "");
}

TEST_CASE("url: a path over the buffer keeps its whole leading segments, dot segments resolved past the cut") {
  bool t = false;
  CHECK(canon("/aaa/bbbbbbbbbb/c", 8, &t) == "aaa");
  CHECK(t);
  CHECK(canon("/aaa/bbbbbbbbbb/../c", 8, &t) == "aaa/c");
  CHECK_FALSE(t);
  CHECK(canon("/" + std::string(600, 'x') + "/../listed", 16, &t) == "listed");
  CHECK_FALSE(t);
  CHECK(canon("/a/bbbbbbbbbbbbbb/ccccccccccc/../../d", 6, &t) == "a/d");
  CHECK_FALSE(t);
  CHECK(canon("/abcdefg", 7, &t) == "abcdefg");
  CHECK_FALSE(t);
  CHECK(canon("/ab/cdefg", 7, &t) == "ab");
  CHECK(t);
}

TEST_CASE("url: query parameters keep their case, unreserved escapes decoded, others upper-cased") {
  CHECK(param("v=%41b%2fc") == "v=Ab%2Fc");
  CHECK(param("q=a+b%20c") == "q=a+b%20c");
  CHECK(param("k=/x?y") == "k=/x?y");
  CHECK(param("k=a b") == "k=a%20b");
  CHECK(param("") == "");
  char small[4];
  CHECK(url::canonical_param("abcdef", small, sizeof small) == 0);
}

TEST_CASE("url: the form is idempotent") {
  std::mt19937 rng(19);
  const std::string alphabet = "aZ09-._~!$&'()*+,;=:@%/\\?#2eEfF5 \x80\xff";
  for (int i = 0; i < 20000; ++i) {
    std::string in;
    for (int n = rng() % 24; n > 0; --n) in += alphabet[rng() % alphabet.size()];
    const url::Parts p = url::split_target(in);
    const std::string once = canon(p.path);
    CHECK_MESSAGE(canon(once) == once, in);
    url::for_each_param(p.query, [&](std::string_view raw) {
      const std::string c = param(raw);
      CHECK_MESSAGE(param(c) == c, in);
    });
  }
}

TEST_CASE("url: split drops scheme, userinfo, port and fragment") {
  url::Parts p = url::split("HTTPS://user:pw@Example.COM.:8443/a/b?c=1&d#frag/x?y");
  CHECK(p.host == "Example.COM.");
  CHECK(p.path == "/a/b");
  CHECK(p.query == "c=1&d");
  CHECK(p.has_query);
  p = url::split("example.com");
  CHECK((p.host == "example.com" && p.path.empty() && !p.has_query));
  p = url::split("[2001:db8::1]:80/x");
  CHECK((p.host == "2001:db8::1" && p.path == "/x"));
  p = url::split("example.com?q#f");
  CHECK((p.host == "example.com" && p.path.empty() && p.query == "q"));
  p = url::split_target("/a#b?c");
  CHECK((p.path == "/a" && !p.has_query));
}

TEST_CASE("url: entry keys: host IDNA-mapped and lower-cased without its dot, parameters sorted") {
  CHECK(key_of("etsy.com/au/market/listed_item") == "com.etsy/au/market/listed_item");
  CHECK(key_of("http://Etsy.COM.:80/AU//market/./listed%5fitem/?z=1&a=2&z=1#top") ==
        "com.etsy/au/market/listed_item?a=2&z=1");
  CHECK(key_of("日本語.jp/パス") == "jp.xn--wgv71a119e/%E3%83%91%E3%82%B9");
  CHECK(key_of("example.com") == "com.example/");
  CHECK(key_of("example.com/?") == "com.example/");
  CHECK(key_of("bad host.com/x").find("bad URL host: bad character ' '") != std::string::npos);
  CHECK(key_of("example.com/" + std::string(600, 'a')).find(": URL too long: example.com/aaa") != std::string::npos);
  CHECK(key_of("example.com/a?" + std::string(600, 'a')).find(": URL too long") != std::string::npos);
  CHECK(key_of("example.com/a?x=" + std::string(400, 'a') + "&y=" + std::string(400, 'b')).find(": URL too long") !=
        std::string::npos);
}

TEST_CASE("url: the issue's spellings of a listed etsy URL all match in the store; other paths do not") {
  TempDir dir;
  StoreWriter w(dir.path.string());
  import_urls(w, "u", {"etsy.com/au/market/listed_item"});
  auto store = CategoryStore::open(dir.path.string());
  CategoryReader r(*store);
  REQUIRE(r.begin_batch());
  for (const char* spelling :
       {"etsy.com/au/market/listed_item", "etsy.com/au/market/listed%5Fitem", "etsy.com/x/../au/market/listed_item",
        "etsy.com/au//market/listed_item", "etsy.com/AU/market/listed_item", "https://ETSY.com.:443/au/market/listed_item/",
        "etsy.com/au/./market/listed_item?ref=x#reviews", "etsy.com/%61u/market/listed_item/more",
        "etsy.com/au\\market\\listed_item", "http://u@etsy.com/au/market/x/%2e%2e/listed_item"}) {
    const UrlMatch u = lookup(r, spelling);
    CHECK_MESSAGE(u.found, spelling);
    CHECK_MESSAGE(u.matched_key == "com.etsy/au/market/listed_item", spelling);
  }
  for (const char* other : {"etsy.com/au/market/listed_items", "etsy.com/au/market%2Flisted_item",
                            "etsy.com/au/market/listed_item/../other", "etsy.com/au/market", "etsy.com/au/marketlisted_item",
                            "etsy.com/au/market/listed%2Ditem", "etsy.com/au/market/listed_item%3F"})
    CHECK_FALSE_MESSAGE(lookup(r, other).found, other);
  r.end_batch();
}

namespace {

// A listed URL of the property test, on a host of its own (so that a miss is a miss of this entry).
struct Listed {
  std::string host;
  std::vector<std::string> segs;    // as listed (mixed case, pchar only)
  std::vector<std::string> params;  // "k=v" as listed (case kept)
  std::string key;                  // expected store key
};

const std::string kSegChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$'()*+,;=:@";

struct Gen {
  std::mt19937 rng;
  bool chance(unsigned percent) { return rng() % 100 < percent; }
  size_t below(size_t n) { return rng() % n; }
  char letter() { return static_cast<char>('a' + below(26)); }

  std::string segment() {
    std::string s(1, chance(50) ? letter() : static_cast<char>(letter() - 32));  // never all dots
    for (size_t n = below(8); n > 0; --n) s += kSegChars[below(kSegChars.size())];
    return s;
  }
  std::string escape(unsigned char c) {
    const char* hex = chance(50) ? "0123456789ABCDEF" : "0123456789abcdef";
    return std::string{'%', hex[c >> 4], hex[c & 15]};
  }
  // Same canonical segment: letters in any case, characters percent-encoded at random.
  std::string respell(std::string_view seg) {
    std::string out;
    for (char c : seg) {
      if (std::isalpha(static_cast<unsigned char>(c)) && chance(50)) c = static_cast<char>(c ^ 0x20);
      out += chance(20) ? escape(static_cast<unsigned char>(c)) : std::string(1, c);
    }
    return out;
  }
  std::string sep() {
    switch (below(6)) {
      case 0: return "//";
      case 1: return "\\";
      case 2: return "/./";
      case 3: return "/" + segment() + (chance(50) ? "/../" : "/%2E%2e/");
      case 4: return "/%2e/";
      default: return "/";
    }
  }
  std::string host(const std::string& h) {
    std::string out;
    for (char c : h) out += std::isalpha(static_cast<unsigned char>(c)) && chance(30) ? static_cast<char>(c - 32) : c;
    if (chance(20)) out += '.';
    static const char* prefixes[] = {"", "http://", "HTTPS://", "http://user:pw@", "https://x@"};
    std::string pre = prefixes[below(5)];
    if (!pre.empty() && chance(40)) out += ":" + std::to_string(1 + below(65535));
    return pre + out;
  }
};

}  // namespace

TEST_CASE("url: property: every spelling of a listed URL matches it, spellings of another path or query do not") {
  Gen g{std::mt19937(20261207)};
  std::vector<Listed> listed;
  std::vector<std::string> lines;
  for (int i = 0; i < 200; ++i) {
    Listed l;
    l.host = "h" + std::to_string(i) + ".example";
    for (size_t n = 1 + g.below(4); n > 0; --n) l.segs.push_back(g.segment());
    if (i % 4 == 0)  // a quarter of the entries name a query (YouTube-style video ids: case matters)
      for (size_t n = 1 + g.below(3); n > 0; --n) l.params.push_back("p" + std::to_string(n) + "=" + g.segment());
    std::string line = l.host, path;
    for (const auto& s : l.segs) line += "/" + s, path += (path.empty() ? "" : "/") + std::string(s);
    for (size_t j = 0; j < l.params.size(); ++j) line += (j ? "&" : "?") + l.params[j];
    std::string lower = path;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) { return static_cast<char>(std::tolower(c)); });
    std::vector<std::string> sorted = l.params;
    std::sort(sorted.begin(), sorted.end());
    l.key = "example.h" + std::to_string(i) + "/" + lower;
    for (size_t j = 0; j < sorted.size(); ++j) l.key += (j ? "&" : "?") + sorted[j];
    lines.push_back(line);
    listed.push_back(std::move(l));
  }
  TempDir dir;
  StoreWriter w(dir.path.string());
  import_urls(w, "prop", lines);
  auto store = CategoryStore::open(dir.path.string());
  CategoryReader r(*store);
  REQUIRE(r.begin_batch());
  size_t spellings = 0, others = 0;
  for (const Listed& l : listed) {
    for (int k = 0; k < 25; ++k) {
      std::string u = g.host(l.host);
      for (const auto& s : l.segs) u += g.sep() + g.respell(s);
      if (l.params.empty()) {
        if (g.chance(30)) u += "/" + g.segment();  // an entry is a prefix at '/'
        if (g.chance(30)) u += g.chance(50) ? "/" : "/.";
        if (g.chance(40)) u += "?" + g.segment() + "=1&x=" + g.segment();
      } else {
        std::vector<std::string> ps = l.params;
        if (g.chance(50)) ps.push_back("utm=" + g.segment());
        std::shuffle(ps.begin(), ps.end(), g.rng);
        if (g.chance(30)) u += "/";
        for (size_t j = 0; j < ps.size(); ++j) u += (j ? "&" : "?") + ps[j];
      }
      if (g.chance(30)) u += "#" + g.segment() + "/x?y";
      const UrlMatch m = lookup(r, u);
      CHECK_MESSAGE(m.found, u);
      CHECK_MESSAGE(m.matched_key == l.key, u);
      ++spellings;
    }
    // Other paths and queries: none of these may match (no over-blocking).
    std::vector<std::string> miss;
    std::string stem = l.host;
    for (size_t j = 0; j + 1 < l.segs.size(); ++j) stem += "/" + l.segs[j];
    const std::string& last = l.segs.back();
    const std::string full_query = [&] {
      std::string q;
      for (size_t j = 0; j < l.params.size(); ++j) q += (j ? "&" : "?") + l.params[j];
      return q;
    }();
    miss.push_back(stem + "/" + last + g.letter() + full_query);       // a longer last segment
    miss.push_back(stem + full_query);                                  // the parent
    std::string elsewhere = g.segment();
    while (base::ascii_lower(elsewhere) == base::ascii_lower(last)) elsewhere = g.segment();
    miss.push_back(stem + "/" + last + "/../" + elsewhere + full_query);  // dot segments leading elsewhere
    if (l.segs.size() > 1) {
      std::string joined = l.host + "/" + l.segs[0];
      for (size_t j = 1; j < l.segs.size(); ++j) joined += (j + 1 == l.segs.size() ? "%2F" : "/") + l.segs[j];
      miss.push_back(joined + full_query);  // an encoded '/' is not a separator
    }
    {
      std::string changed = last;
      size_t pos = 0;  // the first letter: segments start with one
      changed[pos] = static_cast<char>(((std::tolower(changed[pos]) - 'a' + 1 + g.below(25)) % 26) + 'a');
      miss.push_back(stem + "/" + changed + full_query);
    }
    if (!l.params.empty()) {
      miss.push_back(stem + "/" + last);                 // no query
      miss.push_back(stem + "/" + last + "?other=1");    // another query
      std::string swapped = l.params[0];                 // the value in another case
      const size_t eq = swapped.find('=');
      swapped[eq + 1] = static_cast<char>(swapped[eq + 1] ^ 0x20);
      miss.push_back(stem + "/" + last + "?" + swapped);
      if (l.params.size() > 1) miss.push_back(stem + "/" + last + "?" + l.params[1]);  // only some parameters
      miss.push_back(stem + "/" + last + "/" + l.params[0]);  // the parameter as a path segment
    }
    for (const std::string& u : miss) {
      const UrlMatch m = lookup(r, u);
      CHECK_FALSE_MESSAGE(m.found, (u + " matched " + std::string(m.matched_key)));
      ++others;
    }
  }
  CHECK(spellings == 5000);
  CHECK(others >= 1000);
  r.end_batch();
}

TEST_CASE("url: a store in the old key form keeps matching, and the next write re-keys it") {
  TempDir dir;
  StoreWriter w(dir.path.string());
  import_urls(w, "old", {"etsy.com/placeholder"});
  SourceInfo old_source;
  for (const SourceInfo& x : w.sources())
    if (x.name == "old") old_source = x;
  // Make it a store as written before the canonical form: keys as listed, no url_key_form.
  {
    TxnGuard txn(w.store().env(), 0, "test");
    MDB_val k = to_val("com.etsy/placeholder"), v;
    REQUIRE(mdb_get(txn.get(), w.store().urls_dbi(), &k, &v) == MDB_SUCCESS);
    const std::string value(static_cast<const char*>(v.mv_data), v.mv_size);
    REQUIRE(mdb_del(txn.get(), w.store().urls_dbi(), &k, nullptr) == MDB_SUCCESS);
    for (const char* old : {"com.etsy/AU/market/listed%5fitem", "com.etsy/au/market/listed_item", "com.etsy/AU/Shop"}) {
      MDB_val ok = to_val(old), ov = to_val(value);
      REQUIRE(mdb_put(txn.get(), w.store().urls_dbi(), &ok, &ov, 0) == MDB_SUCCESS);
    }
    MDB_val fk = to_val(schema::kMetaUrlKeyForm);
    REQUIRE(mdb_del(txn.get(), w.store().meta_dbi(), &fk, nullptr) == MDB_SUCCESS);
    old_source.url_entries = 3;
    MDB_dbi sources;
    REQUIRE(mdb_dbi_open(txn.get(), schema::kDbSources, 0, &sources) == MDB_SUCCESS);
    const std::string rec = encode_source(old_source);
    MDB_val sk = to_val(old_source.name), sv = to_val(rec);
    REQUIRE(mdb_put(txn.get(), sources, &sk, &sv, 0) == MDB_SUCCESS);
    txn.commit("test");
  }
  auto store = CategoryStore::open(dir.path.string());
  CategoryReader r(*store);
  REQUIRE(r.begin_batch());
  // As before the change: an old key matches the path spelt as it was listed...
  CHECK(r.lookup_url("etsy.com", "/AU/Shop/x").matched_key == "com.etsy/AU/Shop");
  // ... and a key that was already canonical matches every spelling.
  CHECK(r.lookup_url("etsy.com", "/au//market/listed%5Fitem/x").matched_key == "com.etsy/au/market/listed_item");
  r.end_batch();

  // Any write (here an import of another source) re-keys the urls DB in its transaction.
  import_urls(w, "new", {"example.org/x"});
  REQUIRE(r.begin_batch());
  for (const char* spelling : {"/AU/market/listed%5fitem", "/au//market/listed_item", "/x/../au/market/listed_item"})
    CHECK_MESSAGE(r.lookup_url("etsy.com", spelling).matched_key == "com.etsy/au/market/listed_item", spelling);
  CHECK(r.lookup_url("etsy.com", "/au/SHOP").matched_key == "com.etsy/au/shop");
  r.end_batch();
  {
    TxnGuard txn(w.store().env(), MDB_RDONLY, "test");
    MDB_stat st;
    REQUIRE(mdb_stat(txn.get(), w.store().urls_dbi(), &st) == MDB_SUCCESS);
    CHECK(st.ms_entries == 3);  // the two market keys became one; the shop; example.org/x
    MDB_val fk = to_val(schema::kMetaUrlKeyForm), fv;
    REQUIRE(mdb_get(txn.get(), w.store().meta_dbi(), &fk, &fv) == MDB_SUCCESS);
    uint64_t form = 0;
    std::memcpy(&form, fv.mv_data, 8);
    CHECK(form == schema::kUrlKeyForm);
  }
  bool seen = false;
  for (const SourceInfo& s : w.sources())
    if (s.name == "old") {
      seen = true;
      CHECK(s.url_entries == 2);  // recounted after the merge
    }
  CHECK(seen);
}

TEST_CASE("url: compact re-keys an old store without a delta to fold") {
  TempDir dir;
  StoreWriter w(dir.path.string());
  import_urls(w, "old", {"etsy.com/placeholder"});
  {
    TxnGuard txn(w.store().env(), 0, "test");
    MDB_val k = to_val("com.etsy/placeholder"), v;
    REQUIRE(mdb_get(txn.get(), w.store().urls_dbi(), &k, &v) == MDB_SUCCESS);
    const std::string value(static_cast<const char*>(v.mv_data), v.mv_size);
    REQUIRE(mdb_del(txn.get(), w.store().urls_dbi(), &k, nullptr) == MDB_SUCCESS);
    MDB_val ok = to_val("com.etsy/AU/Market"), ov = to_val(value);
    REQUIRE(mdb_put(txn.get(), w.store().urls_dbi(), &ok, &ov, 0) == MDB_SUCCESS);
    MDB_val fk = to_val(schema::kMetaUrlKeyForm);
    REQUIRE(mdb_del(txn.get(), w.store().meta_dbi(), &fk, nullptr) == MDB_SUCCESS);
    txn.commit("test");
  }
  const auto r = w.compact();
  CHECK(r.delta_keys == 0);
  auto store = CategoryStore::open(dir.path.string());
  CategoryReader reader(*store);
  REQUIRE(reader.begin_batch());
  CHECK(reader.lookup_url("etsy.com", "/au/MARKET/item").matched_key == "com.etsy/au/market");
  reader.end_batch();
}

TEST_CASE("url: lookups of any spelling hold no memory afterwards (no allocation per request)") {
  TempDir dir;
  StoreWriter w(dir.path.string());
  import_urls(w, "u", {"etsy.com/au/market/listed_item", "etsy.com/watch?v=AbC&list=x", "etsy.com/watch?v=Other"});
  CategoryReader r(w.store());
  REQUIRE(r.begin_batch());
  CHECK(r.lookup_url("etsy.com", "/watch?list=x&v=AbC").found);  // opens the URL cursor, kept for good
  r.end_batch();
  // As in store_index_test: mallinfo2 sees anything a lookup left allocated.
  const char* targets[] = {"/AU//market/x/../listed%5Fitem/more?utm=1", "/%77atch?utm=2&list=x&v=AbC#t",
                           "/watch?v=abc", "/nothing/here?a=1&b=2&c=3", "/" };
  uint64_t found = 0;
  const struct mallinfo2 before = mallinfo2();
  for (int i = 0; i < 10000; ++i) {
    if (i % 64 == 0) {
      if (i) r.end_batch();
      REQUIRE(r.begin_batch());
    }
    found += r.lookup_url("etsy.com", targets[i % 5]).found;
  }
  r.end_batch();
  const struct mallinfo2 after = mallinfo2();
  CHECK(after.uordblks == before.uordblks);
  CHECK(after.hblkhd == before.hblkhd);
  CHECK(found == 4000);
}
