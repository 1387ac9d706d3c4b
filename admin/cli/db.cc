// admin/cli/db.cc — `sekisho db` subcommands over policy/store and policy/import.
//
// Control plane: exceptions with context are caught once, in run_db. Every subcommand takes
// --db PATH (default /var/lib/sekisho-categories/categories, the packaged store) and --categories FILE (categories added to
// the built-ins), or --config FILE for both (category_db and categories_file of sekishod's
// YAML, so the CLI and the server cannot disagree). Imports are one write transaction: a
// --strict import with any refused line writes nothing.
#include "admin/cli/db.h"

#include <lmdb.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "admin/cli/audit.h"
#include "base/usage_error.h"
#include "config/yaml/category_file.h"
#include "config/yaml/load.h"
#include "policy/import/csv_export.h"
#include "policy/import/idna.h"
#include "policy/import/huge_pages.h"
#include "policy/import/importer.h"
#include "policy/import/update_guard.h"
#include "policy/store/category_store.h"
#include "policy/store/category_table.h"
#include "policy/store/entry_codec.h"
#include "policy/store/key_format.h"
#include "policy/store/lmdb_util.h"
#include "policy/store/name_index.h"
#include "policy/store/schema.h"
#include "policy/store/store_writer.h"
#include "policy/store/url_form.h"

namespace sekisho::cli {
namespace {

using namespace sekisho::policy;

using command_line::UsageError;

// The command line, and what category slugs and ids mean: the built-ins plus the categories
// file (resolve_config with --config, load_categories with --categories).
struct Args : DbArgs {
  std::shared_ptr<const CategoryRegistry> registry = CategoryRegistry::builtins_shared();
};

// --config names the store and the categories file through sekishod's YAML.
void resolve_config(Args& a) {
  if (!a.config.empty()) {
    if (a.db_given || !a.categories_file.empty())
      throw UsageError("--config names the store and the categories file; drop --db/--categories");
    config::LoadResult loaded = config::load_config_file(a.config);
    if (!loaded.ok()) {
      std::string msg = a.config + " has errors:";
      for (const auto& e : loaded.errors) msg += "\n  " + e.to_string();
      throw std::runtime_error(msg);
    }
    if (loaded.settings.category_db.empty()) throw std::runtime_error(a.config + " sets no category_db");
    a.db = loaded.settings.category_db;
    a.categories_file = loaded.settings.categories_file;
    if (!loaded.settings.categories.empty())
      a.registry = std::make_shared<const CategoryRegistry>(std::move(loaded.settings.categories));
  }
}

// Before any command: the registry the store's ids are read and written with (--config has
// taken it from the configuration already).
void load_categories(Args& a) {
  if (a.categories_file.empty() || !a.config.empty()) return;
  std::vector<config::ConfigError> errors;
  auto defs = config::read_category_file(a.categories_file, errors);
  if (!errors.empty()) {
    std::string msg = "categories file " + a.categories_file + ":";
    for (const auto& e : errors) msg += "\n  " + e.to_string();
    throw std::runtime_error(msg);
  }
  a.registry = std::make_shared<const CategoryRegistry>(std::move(defs));
}

CategorySet parse_categories(const Args& a) {
  CategorySet set;
  auto [b, e] = a.options.equal_range("--category");
  for (auto it = b; it != e; ++it) {
    std::string v = it->second;
    size_t pos = 0;
    while (pos <= v.size()) {
      size_t comma = v.find(',', pos);
      std::string slug = v.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      if (!slug.empty()) {
        const CategoryInfo* c = a.registry->by_slug(slug);
        if (!c)
          throw UsageError("unknown category '" + slug + "'" +
                           (a.categories_file.empty() ? std::string(" (added categories need --categories FILE)") : ""));
        set.add(c->id);
      }
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
  }
  return set;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// "base of N keys", with " + delta of M keys (…)" while imports have written a delta over it
// (name_index.h), for the generation `txn` sees.
std::string index_summary(MDB_txn* txn, CategoryStore& store, uint64_t generation) {
  name_index::View base, delta;
  const bool have_delta = delta.load(txn, store.index_dbi(), name_index::kKindDelta, generation);
  if (!base.load(txn, store.index_dbi(), name_index::kKindBase, have_delta ? delta.base_generation() : generation))
    return "none (lookups walk the B-tree)";
  std::string s = "base of " + std::to_string(base.keys()) + " keys";
  if (have_delta)
    s += " + delta of " + std::to_string(delta.keys()) +
         " keys (every lookup checks both; `sekisho db compact` folds the delta into the base)";
  return s;
}

// "source 'x' keeps its 2689 entries", or that it has none: said with every refusal. `writer`:
// the store's, null when there is no store yet.
std::string what_stays(StoreWriter* writer, const std::string& source) {
  if (writer) {
    try {
      for (const SourceInfo& s : writer->sources())
        if (s.name == source)
          return "source '" + source + "' keeps its " + std::to_string(s.domain_entries + s.url_entries) + " entries";
    } catch (const std::exception&) {
      return "source '" + source + "' stays as it was";  // the store cannot say how much it holds
    }
  }
  return "source '" + source + "' stays as it was (it has no entries yet)";
}

// --max-shrink / --allow-shrink as the guard's limit.
UpdateLimits update_limits(const Args& a) {
  UpdateLimits limits;
  const std::string max = a.get("--max-shrink");
  if (a.flags.count("--allow-shrink")) {
    if (!max.empty()) throw UsageError("--allow-shrink allows any shrink; drop --max-shrink");
    limits.max_removed_share = 1.0;
  } else if (!max.empty()) {
    limits.max_removed_share = std::stod(max) / 100.0;  // checked as 0..100 by the parser
  }
  return limits;
}

int cmd_import(const Args& a) {
  std::string source = a.get("--source");
  std::string format_s = a.get("--format");
  if (source.empty() || format_s.empty() || a.positional.size() != 1)
    throw UsageError("import needs --source NAME, --format F and one FILE|DIR|-");
  auto format = parse_format(format_s);
  if (!format) throw UsageError("unknown format '" + format_s + "'");
  ImportOptions opt;
  opt.format = *format;
  opt.registry = a.registry.get();
  opt.categories = parse_categories(a);
  opt.diagnostics = a.flags.count("--quiet") ? nullptr : &std::cerr;
  opt.allow_public_suffixes = a.flags.count("--allow-public-suffixes") > 0;
  const UpdateLimits limits = update_limits(a);
  if (opt.categories.empty() && (opt.format == Format::kDomains || opt.format == Format::kHosts))
    throw UsageError("--format " + format_s + " needs --category");
  const std::string& input = a.positional[0];

  // An existing store is opened first, so that what is wrong with it (a categories file that
  // renumbers its ids) is said before anything about the input; a new one is made only for an
  // input worth writing.
  std::unique_ptr<StoreWriter> writer;
  std::error_code exists_ec;
  if (std::filesystem::exists(std::filesystem::path(a.db) / "data.mdb", exists_ec))
    writer = std::make_unique<StoreWriter>(a.db, *a.registry);
  auto t0 = std::chrono::steady_clock::now();
  EntrySet set;
  ImportReport report;
  auto print_read = [&] {
    std::cout << "read " << input << ": " << report.lines << " lines, " << report.taken << " taken, "
              << report.refused << " refused";
    if (report.public_suffixes) std::cout << " (" << report.public_suffixes << " public suffixes)";
    std::cout << ", " << report.ignored << " ignored (comments/blank)\n";
  };
  // A refused update writes nothing: the message says why and what the source keeps.
  auto refused = [&](const UpdateRefused& e) {
    std::cout << std::flush;
    std::cerr << "sekisho db import: refused (" << refusal_name(e.reason()) << "): " << e.what()
              << (e.reason() == RefusalReason::kShrink ? " (--max-shrink PERCENT or --allow-shrink to force it)" : "")
              << "; nothing written: " << what_stays(writer.get(), source) << "\n";
    return 1;
  };
  try {
    import_input(input, opt, set, report);
  } catch (const UpdateRefused& e) {
    if (report.lines) print_read();
    return refused(e);
  }
  set.finalize();
  double parse_s = seconds_since(t0);
  print_read();
  if (a.flags.count("--strict") && report.refused > 0) {
    std::cerr << "error: --strict: " << report.refused << " refused line(s); nothing written\n";
    return 1;
  }
  if (!writer) writer = std::make_unique<StoreWriter>(a.db, *a.registry);
  SourceInfo info;
  info.name = source;
  info.format = std::string(format_name(opt.format));
  info.origin = input == "-" ? "<stdin>" : std::filesystem::absolute(input).string();
  info.default_categories = opt.categories;
  auto t1 = std::chrono::steady_clock::now();
  WriteResult r;
  try {
    r = guarded_replace(*writer, info, set, a.registry.get(), limits);
  } catch (const UpdateRefused& e) {
    return refused(e);
  }
  double write_s = seconds_since(t1), total = seconds_since(t0);
  uint64_t entries = set.domain_entries() + set.urls().size();
  std::cout << "source " << source << " (" << info.format << "): " << set.domain_entries()
            << " domain entries, " << set.urls().size() << " url entries; new keys " << r.inserted
            << ", existing keys updated " << r.updated << ", removed " << r.removed << "; generation "
            << r.generation << "\n";
  {
    TxnGuard txn(writer->store().env(), MDB_RDONLY, a.db);
    std::cout << "lookup index: " << index_summary(txn.get(), writer->store(), r.generation) << "\n";
  }
  std::cout << std::fixed << std::setprecision(2) << "time: parse " << parse_s << " s, write "
            << write_s << " s, total " << total << " s ("
            << static_cast<uint64_t>(total > 0 ? entries / total : 0) << " entries/s)\n";
  return 0;
}

// Decoded contributions of one key (control plane, own read txn).
struct EntryDetail {
  EntryHeader header;
  std::vector<Contribution> contribs;
};

std::map<uint16_t, SourceInfo> sources_by_id(StoreWriter* w, CategoryStore& store) {
  std::map<uint16_t, SourceInfo> out;
  TxnGuard txn(store.env(), MDB_RDONLY, store.path());
  MDB_dbi dbi;
  if (mdb_dbi_open(txn.get(), schema::kDbSources, 0, &dbi) != MDB_SUCCESS) return out;
  MDB_cursor* cur;
  mdb_check(mdb_cursor_open(txn.get(), dbi, &cur), store.path() + ": sources");
  MDB_val k, v;
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    SourceInfo s;
    if (decode_source(from_val(k), from_val(v), s)) out[s.id] = s;
  }
  mdb_cursor_close(cur);
  return out;
}

bool read_detail(CategoryStore& store, MDB_dbi dbi, std::string_view key, EntryDetail& d) {
  TxnGuard txn(store.env(), MDB_RDONLY, store.path());
  MDB_val k = to_val(key), v;
  if (mdb_get(txn.get(), dbi, &k, &v) != MDB_SUCCESS) return false;
  return decode_entry(from_val(v), d.header, d.contribs);
}

std::string describe_sources(const EntryDetail& d, const std::map<uint16_t, SourceInfo>& srcs,
                             const CategoryRegistry& registry) {
  std::string out;
  for (const auto& c : d.contribs) {
    if (!out.empty()) out += "; ";
    auto it = srcs.find(c.source_id);
    out += it == srcs.end() ? "#" + std::to_string(c.source_id) : it->second.name;
    out += " (" + registry.slugs(c.cats);
    if (c.flags & kFlagSubtree) out += ", subtree";
    if (c.flags & kFlagExact) out += ", exact";
    if (c.flags & kFlagUrl) out += ", has urls";
    out += ")";
  }
  return out;
}

int cmd_lookup(const Args& a) {
  if (a.positional.empty()) throw UsageError("lookup needs NAME or URL");
  auto store = CategoryStore::open(a.db, {.registry = a.registry.get()});
  auto srcs = sources_by_id(nullptr, *store);
  CategoryReader reader(*store);
  int rc = 1;
  for (const std::string& q : a.positional) {
    // Any spelling of a URL: the reader puts it in the store's canonical form (url_form.h), as
    // sekisho-intercept's check does.
    const url::Parts parts = url::split(q);
    const std::string s(parts.host);
    const bool is_url = q.find("://") != std::string::npos || !parts.path.empty() || parts.has_query;
    std::string name, reason;
    if (!normalize_name(s, name, reason)) {
      std::cout << q << ": invalid name: " << reason << "\n";
      continue;
    }
    if (!reader.begin_batch()) throw StoreError(a.db + ": cannot start a read transaction");
    UrlMatch u = reader.lookup_url(name, parts.path, parts.query);
    Match m = u.domain;
    std::cout << "query: " << q << (name != s ? " (" + name + ")" : "") << "\n";
    if (is_url && u.found) {
      std::string mk(u.matched_key);
      auto slash = mk.find('/');
      std::cout << "url entry: " << key_to_name(mk.substr(0, slash)) << mk.substr(slash)
                << "\ncategories: " << a.registry->slugs(u.categories) << "\n";
      EntryDetail d;
      if (read_detail(*store, store->urls_dbi(), mk, d))
        std::cout << "url sources: " << describe_sources(d, srcs, *a.registry) << "\n";
      rc = 0;
    }
    if (m.found) {
      std::string mk(m.matched_key);
      std::cout << "verdict: " << (m.is_allowlisted() ? "allow-listed" : "listed") << "\n"
                << "categories: " << a.registry->slugs(m.categories) << "\n"
                << "entry: " << key_to_name(mk) << " ("
                << (m.exact_match ? "the name itself" : "parent, subtree entry") << ")\n";
      EntryDetail d;
      if (read_detail(*store, store->domains_dbi(), mk, d))
        std::cout << "sources: " << describe_sources(d, srcs, *a.registry) << "\n";
      rc = 0;
    } else if (!(is_url && u.found)) {
      std::cout << "verdict: not listed\n";
    }
    if (m.has_url_entries) std::cout << "has url entries: yes\n";
    std::cout << "generation: " << reader.generation() << "\n";
    reader.end_batch();
  }
  return rc;
}

int cmd_stats(const Args& a) {
  auto store = CategoryStore::open(a.db, {.registry = a.registry.get()});
  auto srcs = sources_by_id(nullptr, *store);
  TxnGuard txn(store->env(), MDB_RDONLY, a.db);
  auto meta = [&](const char* key) {
    MDB_val k = to_val(key), v;
    uint64_t x = 0;
    if (mdb_get(txn.get(), store->meta_dbi(), &k, &v) == MDB_SUCCESS && v.mv_size == 8) std::memcpy(&x, v.mv_data, 8);
    return x;
  };
  MDB_stat ds, us;
  mdb_stat(txn.get(), store->domains_dbi(), &ds);
  mdb_stat(txn.get(), store->urls_dbi(), &us);
  std::error_code ec;
  auto size = std::filesystem::file_size(std::filesystem::path(a.db) / "data.mdb", ec);
  time_t last = static_cast<time_t>(meta(schema::kMetaLastUpdate));
  char when[64] = "never";
  if (last) std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&last));
  std::cout << "store: " << a.db << "\nschema version: " << meta(schema::kMetaSchemaVersion)
            << "\ngeneration: " << meta(schema::kMetaGeneration) << "\nlast update: " << when
            << "\nsize on disk: " << size << " bytes (" << size / (1024 * 1024) << " MiB)"
            << "\ndomain keys: " << ds.ms_entries << "\nurl keys: " << us.ms_entries
            << "\nB-tree depth: " << ds.ms_depth
            << "\nlookup index: " << index_summary(txn.get(), *store, meta(schema::kMetaGeneration)) << "\n";
  // Per category: one sequential walk (seconds for 10M keys; stats is not on any hot path).
  std::vector<uint64_t> per_cat(kMaxCategories, 0);
  MDB_cursor* cur;
  mdb_check(mdb_cursor_open(txn.get(), store->domains_dbi(), &cur), a.db);
  MDB_val k, v;
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    EntryHeader h;
    if (!decode_header(v.mv_data, v.mv_size, h)) continue;
    h.all.for_each([&](uint8_t id) { ++per_cat[id]; });
  }
  mdb_cursor_close(cur);
  std::cout << "entries per category:\n";
  for (unsigned id = 0; id < kMaxCategories; ++id)
    if (per_cat[id])
      std::cout << "  " << a.registry->slugs(CategorySet().with(static_cast<uint8_t>(id))) << ": " << per_cat[id] << "\n";
  std::cout << "sources:\n";
  for (const auto& [id, s] : srcs) {
    time_t t = static_cast<time_t>(s.updated);
    char ts[64];
    std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    std::cout << "  " << s.name << ": id " << id << ", format " << s.format << ", "
              << s.domain_entries << " domain entries, " << s.url_entries << " url entries, categories "
              << (s.default_categories.empty() ? "-" : a.registry->slugs(s.default_categories))
              << ", updated " << ts << ", from " << s.origin << (s.version.empty() ? "" : ", " + s.version) << "\n";
  }
  return 0;
}

int cmd_export(const Args& a) {
  auto store = CategoryStore::open(a.db, {.registry = a.registry.get()});
  std::optional<uint16_t> only;
  if (std::string name = a.get("--source"); !name.empty()) {
    for (const auto& [id, s] : sources_by_id(nullptr, *store))
      if (s.name == name) only = id;
    if (!only) throw UsageError("no source named '" + name + "'");
  }
  ExportReport r = export_csv(*store, *a.registry, only, std::cout);
  std::cout << std::flush;
  if (r.widened)
    std::cerr << "sekisho db export: " << r.widened
              << " names have exact-only categories from one source and subtree ones from another; one row"
                 " per name gives them all subtree scope (export each source with --source for an exact copy)\n";
  return 0;
}

int cmd_remove_source(const Args& a) {
  if (a.positional.size() != 1) throw UsageError("remove-source needs NAME");
  StoreWriter writer(a.db, *a.registry);
  WriteResult r = writer.remove_source(a.positional[0]);
  std::cout << "removed source " << a.positional[0] << ": " << r.removed
            << " entries lost its contribution; generation " << r.generation << "\n";
  return 0;
}

int cmd_compact(const Args& a) {
  if (!a.positional.empty()) throw UsageError("compact takes no arguments");
  StoreWriter writer(a.db, *a.registry);
  auto t0 = std::chrono::steady_clock::now();
  StoreWriter::CompactResult r = writer.compact();
  if (r.relaid)
    std::cout << "rewrote " << r.relaid << " entries of the first value layout (64-bit category sets) in the current one\n";
  if (r.delta_keys == 0) {
    std::cout << "nothing to compact: the lookup index is one base (generation " << r.generation << ")\n";
    return 0;
  }
  std::cout << "compacted: " << r.delta_keys << " keys of the delta folded into a new base of " << r.base_keys
            << " keys; generation " << r.generation << std::fixed << std::setprecision(2) << " ("
            << seconds_since(t0) << " s)\n";
  return 0;
}

// Integrity walk: every value decodes, its header equals the fold of its contributions, keys
// are canonical, every contribution's source exists and per-source counts match the records;
// and the lookup index (which matches on hashes, name_index.h) answers every stored name as
// the B-tree does.
int cmd_verify(const Args& a) {
  auto store = CategoryStore::open(a.db, {.registry = a.registry.get()});
  auto srcs = sources_by_id(nullptr, *store);
  TxnGuard txn(store->env(), MDB_RDONLY, a.db);
  uint64_t problems = 0, keys = 0, index_checked = 0;
  auto problem = [&](const std::string& what) {
    if (++problems <= 50) std::cout << "problem: " << what << "\n";
  };
  CategoryReader indexed(*store), btree(*store, LookupStrategy::kPerLabelBtree);
  // Readers take their own snapshots: compare only if they are the walk's (no import between).
  const bool check_index = indexed.begin_batch() && btree.begin_batch() &&
                           indexed.snapshot_id() == mdb_txn_id(txn.get()) &&
                           btree.snapshot_id() == mdb_txn_id(txn.get());
  auto check_name = [&](const std::string& name) {
    const Match i = indexed.lookup_domain(name);
    const std::string i_key(i.matched_key);
    const Match b = btree.lookup_domain(name);
    ++index_checked;
    if (i.found != b.found || i.categories != b.categories || i.exact_match != b.exact_match ||
        i.has_url_entries != b.has_url_entries || i.entry_flags != b.entry_flags || i_key != b.matched_key)
      problem(name + ": the lookup index answers differently from the B-tree");
  };
  std::map<uint16_t, uint64_t> domain_count, url_count;
  // URL keys in the canonical form (policy/store/url_form.h) once the store is in that form.
  uint64_t url_form = 1;
  MDB_val form_key = to_val(schema::kMetaUrlKeyForm), form_value;
  if (mdb_get(txn.get(), store->meta_dbi(), &form_key, &form_value) == MDB_SUCCESS && form_value.mv_size == 8)
    std::memcpy(&url_form, form_value.mv_data, 8);
  std::string canonical;
  auto walk = [&](MDB_dbi dbi, bool urls) {
    MDB_cursor* cur;
    mdb_check(mdb_cursor_open(txn.get(), dbi, &cur), a.db);
    MDB_val k, v;
    EntryHeader h;
    std::vector<Contribution> contribs;
    char buf[kMaxKeyLen];
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      ++keys;
      std::string key(from_val(k));
      if (!decode_entry(from_val(v), h, contribs) || contribs.empty()) {
        problem((urls ? "urls " : "domains ") + key + ": malformed value");
        continue;
      }
      EntryHeader f = fold_header(contribs);
      if (f.all != h.all || f.subtree != h.subtree || f.flags != h.flags)
        problem(key + ": header differs from its contributions");
      std::string host = urls ? key.substr(0, key.find('/')) : key;
      std::string name = key_to_name(host);
      size_t n = make_name_key(name, buf);
      if (n != host.size() || std::memcmp(buf, host.data(), n) != 0) problem(key + ": key not canonical");
      if (urls && url_form >= schema::kUrlKeyForm &&
          (host.size() >= key.size() ||
           !url::key_of(host, url::split_target(std::string_view(key).substr(host.size() + 1)), canonical) ||
           canonical != key))
        problem("urls " + key + ": not in the canonical URL form");
      if (!urls && check_index) check_name(name);
      for (const auto& c : contribs) {
        if (!srcs.count(c.source_id)) problem(key + ": contribution of unknown source #" + std::to_string(c.source_id));
        if (urls) ++url_count[c.source_id];
        else if (c.flags & (kFlagSubtree | kFlagExact)) ++domain_count[c.source_id];
      }
    }
    mdb_cursor_close(cur);
  };
  walk(store->domains_dbi(), false);
  walk(store->urls_dbi(), true);
  for (const auto& [id, s] : srcs) {
    if (domain_count[id] != s.domain_entries)
      problem("source " + s.name + ": record says " + std::to_string(s.domain_entries) +
              " domain entries, store has " + std::to_string(domain_count[id]));
    if (url_count[id] != s.url_entries)
      problem("source " + s.name + ": record says " + std::to_string(s.url_entries) +
              " url entries, store has " + std::to_string(url_count[id]));
  }
  if (check_index) {
    std::cout << "index: " << index_checked << " names answered as by the B-tree"
              << (indexed.has_lookup_index() ? "" : " (no index for this generation: the B-tree answers)") << "\n";
  } else {
    std::cout << "index: not checked (the store changed during the walk)\n";
  }
  std::cout << "verified " << keys << " keys, " << srcs.size() << " sources: "
            << (problems ? std::to_string(problems) + " problem(s)" : std::string("ok")) << "\n";
  return problems ? 1 : 0;
}

int cmd_categories(const Args& a) {
  std::vector<StoredCategory> stored;
  std::error_code ec;
  if (std::filesystem::is_directory(a.db, ec)) {
    auto store = CategoryStore::open(a.db, {.registry = a.registry.get()});  // checks the registry against the store
    TxnGuard txn(store->env(), MDB_RDONLY, a.db);
    stored = read_category_table(txn.get());
    txn.commit(a.db + ": read categories");
  }
  std::cout << "id  slug  kind  group  en  ja  defined in  in store\n";
  std::set<uint8_t> listed;
  for (const auto& c : a.registry->all()) {
    bool in_store = std::any_of(stored.begin(), stored.end(), [&](const StoredCategory& s) { return s.id == c.id; });
    std::cout << int(c.id) << "  " << c.slug << "  " << config::category_kind_name(c.kind) << "  "
              << a.registry->group_of(c).slug << "  " << c.name_en << "  " << c.name_ja << "  "
              << (c.defined_at.empty() ? std::string("built-in") : std::string(c.defined_at)) << "  "
              << (in_store ? "yes" : "no") << "\n";
    listed.insert(c.id);
  }
  // Ids the store holds that no registry entry names any more (their entries print as #id).
  for (const auto& s : stored)
    if (!listed.count(s.id))
      std::cout << int(s.id) << "  " << s.slug << "  " << s.group << "  -  " << s.name_en << "  " << s.name_ja
                << "  store only (not in the categories file)  yes\n";
  // What `import --format ut1` makes of each directory of the UT1 collection.
  std::cout << "UT1 directories:\n";
  for (const auto& [dir, slug] : CategoryRegistry::ut1_directories()) std::cout << "  " << dir << " -> " << slug << "\n";
  return 0;
}

}  // namespace

namespace {

int run_db_command(Args& a, char** process_argv) {
  try {
    resolve_config(a);
    if (a.command == "import" || a.command == "compact") reexec_with_huge_page_malloc(process_argv);
    load_categories(a);
    if (a.command == "import") return cmd_import(a);
    if (a.command == "lookup") return cmd_lookup(a);
    if (a.command == "stats") return cmd_stats(a);
    if (a.command == "export") return cmd_export(a);
    if (a.command == "remove-source") return cmd_remove_source(a);
    if (a.command == "verify") return cmd_verify(a);
    if (a.command == "compact") return cmd_compact(a);
    if (a.command == "categories") return cmd_categories(a);
    throw UsageError("unknown command '" + a.command + "'");
  } catch (const UsageError&) {
    throw;  // reported by main, with exit status 2
  } catch (const std::exception& e) {
    std::cerr << "sekisho db: error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace

int run_db(DbArgs args, char** process_argv) {
  Args a{std::move(args)};
  const int rc = run_db_command(a, process_argv);
  // The commands that change the store, in --config's audit log (admin/cli/audit.h).
  const nlohmann::json store = {{"db", a.db}};
  if (a.command == "import")
    audit_command(a.config, "import into the category store", "", nullptr,
                  {{"db", a.db}, {"source", a.get("--source")}, {"format", a.get("--format")},
                   {"input", a.positional.empty() ? "" : a.positional[0]}},
                  rc);
  if (a.command == "remove-source")
    audit_command(a.config, "remove a source from the category store", "",
                  {{"db", a.db}, {"source", a.positional.empty() ? "" : a.positional[0]}}, nullptr, rc);
  if (a.command == "compact") audit_command(a.config, "compact the category store", "", store, store, rc);
  return rc;
}

}  // namespace sekisho::cli
