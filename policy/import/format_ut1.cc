// policy/import/format_ut1.cc — the Université Toulouse Capitole blacklist layout: one
// directory per category holding `domains` (one name per line; covers subdomains, squidGuard
// semantics), `urls` (host[/path], no scheme) and `usage` (black/white). Directory names are
// mapped to our slugs (agressif→violence, drogue→drugs, publicite→ads, ...); a `usage` of
// "white" makes the entries allow entries. With --category, only those categories are read.
// DIR may also be a single category directory.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "policy/import/importer.h"
#include "policy/store/entry_codec.h"

namespace fs = std::filesystem;

namespace sekisho::policy {
namespace {

std::string find_file(const fs::path& dir, const char* name) {
  for (std::string candidate : {std::string(name), std::string(name) + ".gz"})
    if (fs::is_regular_file(dir / candidate)) return (dir / candidate).string();
  return {};
}

// Every non-blank line that is not a comment, trimmed; UT1 files are never split between
// threads, so lines are numbered from 1 in each file.
template <typename F>
void each_line(const std::string& text, ImportSink& sink, F&& f) {
  sink.for_each_line(text, [&](uint64_t no, std::string_view raw) {
    std::string_view line = trim_blanks(raw);
    if (line.empty() || line.front() == '#') sink.ignore();
    else f(no, line);
  });
}

void import_category(const fs::path& dir, ImportSink& sink) {
  std::string dirname = dir.filename().string();
  const CategoryRegistry& registry = *sink.options().registry;
  auto slug = registry.ut1_directory_slug(dirname);
  if (!slug) {
    sink.set_file(dir.string());
    sink.refuse(0, "unknown UT1 category directory (no slug mapping), skipped", dirname);
    return;
  }
  const CategoryInfo* info = registry.by_slug(*slug);
  const CategorySet filter = sink.options().categories;
  if (!filter.empty() && !filter.contains(info->id)) return;
  CategorySet cats;
  cats.add(info->id);
  if (std::string usage = find_file(dir, "usage"); !usage.empty()) {
    std::string text = read_all(usage);
    if (text.find("white") != std::string::npos) cats = CategorySet{}, cats.add(allowlist_category_id());
  }
  if (std::string domains = find_file(dir, "domains"); !domains.empty()) {
    std::string text = read_all(domains);
    sink.set_file(domains);
    each_line(text, sink, [&](uint64_t no, std::string_view line) {
      sink.add_name(line, kFlagSubtree, cats, no);
    });
  }
  if (std::string urls = find_file(dir, "urls"); !urls.empty()) {
    std::string text = read_all(urls);
    sink.set_file(urls);
    each_line(text, sink, [&](uint64_t no, std::string_view line) { sink.add_url(line, cats, no); });
  }
}

}  // namespace

void import_ut1(const std::string& dir, ImportSink& sink) {
  fs::path root(dir);
  if (!find_file(root, "domains").empty() || !find_file(root, "urls").empty()) {
    import_category(fs::canonical(root), sink);
    return;
  }
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory()) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  for (const auto& d : dirs)
    if (!find_file(d, "domains").empty() || !find_file(d, "urls").empty()) import_category(d, sink);
}

}  // namespace sekisho::policy
