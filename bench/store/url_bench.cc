// bench/store/url_bench.cc — what the canonical URL form costs on sekisho-intercept's request
// path: CategoryReader::lookup_url (canonical form of path and query in the reader's buffer, then
// the store's reads) for the listed spelling of every URL of a list, a messy spelling of it, a
// spelling with a query, and a path that is not listed, in a temporary store of that list.
//
// usage: url_bench URLS_FILE [SECONDS_PER_CASE]    (URLS_FILE: UT1 `urls` lines, host/path)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "policy/import/importer.h"
#include "policy/store/category_store.h"
#include "policy/store/store_writer.h"
#include "policy/store/url_form.h"

using namespace sekisho::policy;
using Clock = std::chrono::steady_clock;

namespace {

struct Request {
  std::string host, target;
};

// "/AU//Market/x/../Listed%5Fitem": the same URL as a bypass attempt would spell it.
std::string messy(std::string_view path) {
  std::string out = "/x/..";
  for (char c : path) {
    if (c == '/') out += "//";
    else if (c == '_') out += "%5F";
    else if (c >= 'a' && c <= 'z') out += static_cast<char>(c - 32);
    else out += c;
  }
  return out;
}

double run(CategoryReader& r, const std::vector<Request>& reqs, double seconds, uint64_t& found) {
  uint64_t n = 0;
  found = 0;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    // A batch per 64 requests, as the intercept takes one read snapshot per request.
    for (size_t i = 0; i < reqs.size(); ++i) {
      if (i % 64 == 0) {
        if (i) r.end_batch();
        r.begin_batch();
      }
      const bool hit = r.lookup_url(reqs[i].host, reqs[i].target).found;
      if (n == 0) found += hit;  // of one pass
    }
    r.end_batch();
    n += reqs.size();
  }
  return std::chrono::duration<double, std::nano>(Clock::now() - start).count() / static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: url_bench URLS_FILE [SECONDS_PER_CASE]\n";
    return 2;
  }
  const double seconds = argc > 2 ? std::stod(argv[2]) : 2.0;
  std::ifstream in(argv[1]);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);)
    if (!l.empty() && l[0] != '#') lines.push_back(l);
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("sekisho-url-bench-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  EntrySet set;
  ImportReport report;
  ImportOptions opt;
  opt.categories.add(CategoryRegistry::builtins().by_slug("adult")->id);
  ImportSink sink(set, report, opt);
  uint64_t no = 0;
  for (const auto& l : lines) sink.add_url(l, opt.categories, ++no);
  set.finalize();
  {
    StoreWriter w(dir.string());
    SourceInfo info;
    info.name = "urls";
    w.replace_source(info, set);
  }
  std::vector<Request> listed, spelt, query, miss;
  for (const auto& l : lines) {
    const url::Parts p = url::split(l);
    if (p.host.empty() || p.path.size() < 2) continue;
    const std::string host(p.host), path(p.path);
    listed.push_back({host, path});
    spelt.push_back({host, messy(path)});
    query.push_back({host, path + "?utm_source=x&ref=12345"});
    miss.push_back({host, path + "zz/more"});
  }
  auto store = CategoryStore::open(dir.string());
  CategoryReader r(*store);
  std::printf("%zu URL entries (%llu lines taken), %zu requests per case\n", set.urls().size(),
              static_cast<unsigned long long>(report.taken), listed.size());
  for (auto [name, reqs] : {std::pair{"listed spelling", &listed}, std::pair{"messy spelling", &spelt},
                            std::pair{"with a query", &query}, std::pair{"not listed", &miss}}) {
    uint64_t found = 0;
    const double ns = run(r, *reqs, seconds, found);
    std::printf("%-16s %7.0f ns per lookup_url, %5.2fM/s, %llu of them found\n", name, ns, 1e3 / ns,
                static_cast<unsigned long long>(found));
  }
  // The canonical form alone, for the share of it in a lookup.
  char buf[kMaxUrlKeyLen];
  for (auto [name, reqs] : {std::pair{"listed spelling", &listed}, std::pair{"messy spelling", &spelt}}) {
    uint64_t n = 0, bytes = 0;
    const auto start = Clock::now();
    while (Clock::now() - start < std::chrono::duration<double>(seconds / 2)) {
      for (const Request& q : *reqs) bytes += url::canonical_path(q.target, buf, sizeof buf).len;
      n += reqs->size();
    }
    const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count() / static_cast<double>(n);
    std::printf("canonical_path of the %s alone: %.0f ns (%llu bytes out)\n", name, ns,
                static_cast<unsigned long long>(bytes / (n / reqs->size())));
  }
  std::filesystem::remove_all(dir);
  return 0;
}
