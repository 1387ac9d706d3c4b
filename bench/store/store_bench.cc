// bench/store/store_bench.cc — measures the category store; driven by bench/store/run.sh.
//
//   store_bench gen N FILE                     synthetic names, 2–4 labels, deterministic
//   store_bench import DB SOURCE FORMAT CAT IN import through the real importer + writer
//   store_bench open DB                        open time and RSS of a fresh process
//   store_bench lookup DB NAMES SECONDS STRAT [MIX]
//                                              lookup rate and latency percentiles on one core;
//                                              STRAT label (index, B-tree if none) | batch (the
//                                              index, 64 names per lookup_domains call) | btree | seek,
//                                              MIX uniform (default) | skewed (Zipf-like, s = 1)
//   store_bench memlat                         this machine's memory latency: dependent loads
//                                              over 256 MiB (huge pages), the floor of a lookup
//                                              that must reach memory once
// Lookups run in batches of 64 between begin_batch/end_batch, as a loop thread would. Latency:
// of single lookups; for `batch`, of whole 64-name calls (no name of a batch has its answer
// before the call returns), and that divided by 64.
#include <sys/mman.h>
#include <sys/resource.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy/import/huge_pages.h"
#include "policy/import/importer.h"
#include "policy/store/category_store.h"
#include "policy/store/store_writer.h"

using namespace sekisho::policy;
using Clock = std::chrono::steady_clock;

namespace {

long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

const char* kTlds[] = {"com", "com", "com", "com", "com", "net", "org", "jp", "co.jp", "ru", "de",
                       "xyz", "info", "io", "fr", "cn", "top", "uk", "br", "ne.jp"};
const char* kSyll[] = {"ka", "to", "mi", "ra", "ne", "so", "lu", "vi", "de", "xo", "ban", "cor",
                       "tel", "web", "net", "shop", "cloud", "mail", "app", "go", "my", "top",
                       "best", "pro", "cdn", "img", "api", "tech", "zen", "sun"};

std::string word(std::mt19937_64& rng) {
  std::string w;
  int n = 2 + static_cast<int>(rng() % 4);
  for (int i = 0; i < n; ++i) w += kSyll[rng() % std::size(kSyll)];
  if (rng() % 4 == 0) w += std::to_string(rng() % 1000);
  return w;
}

// 2–4 labels: 55% "word.tld", 35% "sub.word.tld", 10% "a.b.word.tld".
std::string synthetic_name(std::mt19937_64& rng) {
  std::string name = word(rng) + "." + kTlds[rng() % std::size(kTlds)];
  unsigned r = rng() % 100;
  if (r >= 55) name = word(rng) + "." + name;
  if (r >= 90) name = word(rng) + "." + name;
  return name;
}

int gen(long n, const char* path) {
  std::mt19937_64 rng(42);
  FILE* f = std::fopen(path, "w");
  if (!f) return 1;
  std::string s;
  for (long i = 0; i < n; ++i) {
    s = synthetic_name(rng);
    s += '\n';
    std::fwrite(s.data(), 1, s.size(), f);
  }
  std::fclose(f);
  return 0;
}

int import(const char* db, const char* source, const char* format, const char* cat, const char* in) {
  auto t0 = Clock::now();
  ImportOptions opt;
  opt.format = *parse_format(format);
  if (std::strcmp(cat, "-") != 0) opt.categories.add(CategoryRegistry::builtins().by_slug(cat)->id);
  EntrySet set;
  ImportReport report;
  import_input(in, opt, set, report);
  auto tp = Clock::now();
  set.finalize();
  auto t1 = Clock::now();
  if (std::getenv("SEKISHO_STORE_TIMING"))
    std::fprintf(stderr, "  parse %.2f s, sort %.2f s\n", std::chrono::duration<double>(tp - t0).count(),
                 std::chrono::duration<double>(t1 - tp).count());
  StoreWriter w(db);
  SourceInfo info;
  info.name = source;
  info.format = format;
  info.origin = in;
  w.replace_source(info, set);
  auto t2 = Clock::now();
  double parse = std::chrono::duration<double>(t1 - t0).count();
  double write = std::chrono::duration<double>(t2 - t1).count();
  uint64_t n = set.domain_entries() + set.urls().size();
  std::printf("import %s: %lu entries (%lu refused) parse+sort %.2f s, write %.2f s, %.0f entries/s\n",
              source, (unsigned long)n, (unsigned long)report.refused, parse, write, n / (parse + write));
  return 0;
}

int open_store(const char* db) {
  long rss0 = rss_kib();
  auto t0 = Clock::now();
  auto store = CategoryStore::open(db);
  CategoryReader r(*store);
  r.begin_batch();
  Match m = r.lookup_domain("www.example.com");
  r.end_batch();
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  std::printf("open_ms %.3f rss_before_kib %ld rss_after_kib %ld found %d\n", ms, rss0, rss_kib(), m.found);
  return 0;
}

int lookup(const char* db, const char* names_path, double seconds, const char* strat, const char* mix) {
  // Query mix of 3–5 labels: subdomains of stored names (subtree hits), random misses under
  // popular-looking parents, and exact stored 3-label names.
  std::vector<std::string> stored;
  {
    std::ifstream f(names_path);
    std::string line;
    while (stored.size() < 2000000 && std::getline(f, line)) stored.push_back(line);
  }
  std::mt19937_64 rng(7);
  std::vector<std::string> queries;
  const bool skewed = std::strcmp(mix, "skewed") == 0;
  // Skewed: the base name has rank r with P(r) ~ 1/r (r = N^u - 1, u uniform), as popular names
  // dominate real query streams; the shape of the query around it is the same as uniform.
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto pick = [&]() -> size_t {
    if (!skewed) return rng() % stored.size();
    size_t r = static_cast<size_t>(std::pow(static_cast<double>(stored.size()), unit(rng))) - 1;
    return std::min(r, stored.size() - 1);
  };
  // SEKISHO_BENCH_QUERIES=N: fewer distinct queries (diagnosis: query strings in cache).
  const int nq = std::getenv("SEKISHO_BENCH_QUERIES") ? std::atoi(std::getenv("SEKISHO_BENCH_QUERIES")) : 1000000;
  for (int i = 0; i < nq; ++i) {
    const std::string& base = stored[pick()];
    unsigned r = rng() % 100;
    std::string q;
    if (r < 40) q = "www." + base;
    else if (r < 55) q = "cdn." + word(rng) + "." + base;
    else q = word(rng) + "." + synthetic_name(rng);  // mostly misses
    size_t labels = std::count(q.begin(), q.end(), '.') + 1;
    while (labels < 3) q = "a." + q, ++labels;
    while (labels > 5) q = q.substr(q.find('.') + 1), --labels;
    queries.push_back(q);
  }
  auto store = CategoryStore::open(db);
  const bool batch = std::strcmp(strat, "batch") == 0;
  LookupStrategy s = std::strcmp(strat, "seek") == 0    ? LookupStrategy::kSeekRange
                     : std::strcmp(strat, "btree") == 0 ? LookupStrategy::kPerLabelBtree
                                                        : LookupStrategy::kPerLabel;
  CategoryReader r(*store, s);
  constexpr size_t kBatch = CategoryReader::kMaxBatch;
  // The names lie back to back in one buffer, read in order: a server reads each name from the
  // datagram it has just received, not from a string somewhere on the heap. (A million separate
  // strings put one extra cache miss in front of every lookup.)
  std::string arena;
  for (const std::string& q : queries) arena += q;
  std::vector<std::string_view> views;
  views.reserve(queries.size());
  for (size_t off = 0; const std::string& q : queries) {
    views.emplace_back(arena.data() + off, q.size());
    off += q.size();
  }
  Match results[kBatch];
  // One receive batch: names [i, i + 64) between begin_batch and end_batch; returns the hits.
  auto run_batch = [&](size_t i) -> uint64_t {
    const size_t m = std::min(kBatch, views.size() - i);
    uint64_t found = 0;
    r.begin_batch();
    if (batch) {
      r.lookup_domains(std::span(views).subspan(i, m), std::span(results, m));
      for (size_t j = 0; j < m; ++j) found += results[j].found;
    } else {
      for (size_t j = i; j < i + m; ++j) found += r.lookup_domain(views[j]).found;
    }
    r.end_batch();
    return found;
  };
  // Warm-up pass so the measured run sees the steady state of a long-running server.
  uint64_t hits = 0;
  for (size_t i = 0; i < views.size(); i += kBatch) hits += run_batch(i);
  // Throughput.
  uint64_t n = 0;
  hits = 0;
  // CPU time too: on a shared machine the wall-clock rate drops with everyone else's load,
  // the rate per CPU second much less (it still pays for caches others evict). And the rate in
  // windows of 1024 lookups during which the thread ran all along (CPU time >= 98 % of wall
  // time): what the lookups cost when the core is ours, though other cores still share L3.
  const double cpu0 = thread_cpu_seconds();
  auto t0 = Clock::now();
  double elapsed = 0;
  uint64_t clean_n = 0, windows = 0, clean_windows = 0;
  double clean_wall = 0;
  constexpr size_t kWindow = 1024;
  while (elapsed < seconds) {
    for (size_t w = 0; w < views.size(); w += kWindow) {
      const double wc0 = thread_cpu_seconds();
      const auto wt0 = Clock::now();
      const size_t end = std::min(views.size(), w + kWindow);
      for (size_t i = w; i < end; i += kBatch) hits += run_batch(i);
      const double wall = std::chrono::duration<double>(Clock::now() - wt0).count();
      ++windows;
      if (thread_cpu_seconds() - wc0 >= 0.98 * wall) {
        ++clean_windows;
        clean_n += end - w;
        clean_wall += wall;
      }
    }
    n += views.size();
    elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  const double cpu = thread_cpu_seconds() - cpu0;
  // Latency (timer overhead ~20 ns included): single lookups, or whole batches.
  std::vector<uint32_t> ns;
  ns.reserve(views.size());
  if (batch) {
    for (size_t i = 0; i + kBatch <= views.size(); i += kBatch) {
      r.begin_batch();
      auto a = Clock::now();
      r.lookup_domains(std::span(views).subspan(i, kBatch), std::span(results, kBatch));
      ns.push_back(static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - a).count()));
      r.end_batch();
    }
  } else {
    r.begin_batch();
    for (size_t i = 0; i < views.size(); ++i) {
      if (i % kBatch == 0) r.end_batch(), r.begin_batch();
      auto a = Clock::now();
      volatile bool f = r.lookup_domain(views[i]).found;
      (void)f;
      ns.push_back(static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - a).count()));
    }
    r.end_batch();
  }
  std::sort(ns.begin(), ns.end());
  const uint32_t p50 = ns[ns.size() / 2], p99 = ns[ns.size() * 99 / 100], p999 = ns[ns.size() * 999 / 1000];
  std::printf("lookup strategy %s, %s mix: %.0f lookups/s, %.0f per CPU second, %.0f/s unpreempted (%lu of %lu windows), "
              "hit ratio %.2f, ",
              strat, mix, n / elapsed, n / cpu, clean_wall > 0 ? clean_n / clean_wall : 0.0,
              (unsigned long)clean_windows, (unsigned long)windows, double(hits) / n);
  if (batch)
    std::printf("per %zu-name call p50 %u ns, p99 %u ns, p99.9 %u ns (per name: p50 %u ns, p99 %u ns), ", kBatch, p50,
                p99, p999, static_cast<unsigned>(p50 / kBatch), static_cast<unsigned>(p99 / kBatch));
  else
    std::printf("p50 %u ns, p99 %u ns, p99.9 %u ns, ", p50, p99, p999);
  std::printf("rss_kib %ld\n", rss_kib());
  return 0;
}

// A pointer chase through a random cyclic permutation of 4M cache lines: every load waits for
// the one before, as a single lookup waits for its index line.
int memlat() {
  const size_t lines = (size_t{256} << 20) / 64;
  void* mem = mmap(nullptr, lines * 64, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return 1;
  madvise(mem, lines * 64, MADV_HUGEPAGE);  // as the store's index is mapped (PMD mappings)
  auto* next = static_cast<uint64_t*>(mem);
  std::vector<uint32_t> order(lines);
  for (size_t i = 0; i < lines; ++i) order[i] = static_cast<uint32_t>(i);
  std::mt19937_64 rng(7);
  std::shuffle(order.begin(), order.end(), rng);
  for (size_t i = 0; i < lines; ++i) next[order[i] * 8] = order[(i + 1) % lines];
  uint64_t at = order[0];
  const int steps = 4000000;
  for (int i = 0; i < steps / 4; ++i) at = next[at * 8];  // warm the TLB and the mappings
  auto t0 = Clock::now();
  for (int i = 0; i < steps; ++i) at = next[at * 8];
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / steps;
  std::printf("memory latency %.0f ns (dependent loads over 256 MiB): one lookup at a time is bounded "
              "by about %.1fM/s here (end %lu)\n", ns, 1e3 / ns, static_cast<unsigned long>(at));
  munmap(mem, lines * 64);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "gen" && argc == 4) return gen(std::stol(argv[2]), argv[3]);
    if (cmd == "import" && argc == 7) {
      reexec_with_huge_page_malloc(argv);  // as `sekisho db import` does
      return import(argv[2], argv[3], argv[4], argv[5], argv[6]);
    }
    if (cmd == "open" && argc == 3) return open_store(argv[2]);
    if (cmd == "memlat" && argc == 2) return memlat();
    if (cmd == "lookup" && (argc == 6 || argc == 7))
      return lookup(argv[2], argv[3], std::stod(argv[4]), argv[5], argc == 7 ? argv[6] : "uniform");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "store_bench: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "usage: see bench/store/store_bench.cc\n");
  return 2;
}
