// policy/import/format_ut1.cc — the Université Toulouse Capitole blacklist layout: one
// directory per category holding `domains` (one name per line; covers subdomains, squidGuard
// semantics), `urls` (host[/path], no scheme) and `usage` (black and/or white, and keywords),
// with the catalogue `global_usage` at the top. Directory names are mapped to our slugs
// (agressif→violence, drogue→drugs, publicite→ads, ...); a category whose sole usage is white
// (liste_blanche) gives allow entries, every other one entries of its category (see
// ut1_is_allow_list). With --category, only those categories are read. DIR may also be a single
// category directory (its parent's global_usage is read when there is one).
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "base/text.h"
#include "policy/import/importer.h"
#include "policy/store/entry_codec.h"

namespace fs = std::filesystem;

namespace sekisho::policy {

Ut1Usage parse_ut1_usage(std::string_view text) {
  Ut1Usage u;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    base::for_each_word(
        line,
        [&](std::string_view word) {
          if (base::equals_ignoring_case(word, "black")) u.black = true;
          if (base::equals_ignoring_case(word, "white")) u.white = true;
        },
        " \t\r");
  }
  return u;
}

std::map<std::string, std::string, std::less<>> parse_ut1_global_usage(std::string_view text) {
  std::map<std::string, std::string, std::less<>> out;
  std::string current;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = trim_blanks(text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (line.starts_with("#")) continue;
    // "NAME:" opens a record; "NAME EN:" and the like are display names within it.
    if (line.starts_with("NAME:")) {
      current = std::string(trim_blanks(line.substr(5)));
    } else if (line.starts_with("DEFAULT_TYPE:") && !current.empty()) {
      out[current] = base::ascii_lower(trim_blanks(line.substr(13)));
    }
  }
  return out;
}

bool ut1_is_allow_list(const std::optional<Ut1Usage>& usage, std::optional<std::string_view> default_type) {
  if (usage && (usage->black || usage->white)) return usage->white && !usage->black;
  return default_type && *default_type == "white";
}

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

using GlobalUsage = std::map<std::string, std::string, std::less<>>;

GlobalUsage read_global_usage(const fs::path& dir) {
  std::string file = find_file(dir, "global_usage");
  return file.empty() ? GlobalUsage{} : parse_ut1_global_usage(read_all(file));
}

void import_category(const fs::path& dir, const GlobalUsage& global, ImportSink& sink) {
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
  std::optional<Ut1Usage> usage;
  if (std::string file = find_file(dir, "usage"); !file.empty()) usage = parse_ut1_usage(read_all(file));
  std::optional<std::string_view> default_type;
  if (auto it = global.find(dirname); it != global.end()) default_type = it->second;
  CategorySet cats;
  cats.add(ut1_is_allow_list(usage, default_type) ? allowlist_category_id() : info->id);
  // An empty file is a category with no names of that kind (shortener/urls); an HTML page in
  // any file means the tree is not what it claims to be.
  if (std::string domains = find_file(dir, "domains"); !domains.empty()) {
    std::string text = read_all(domains);
    sink.set_file(domains);
    sink.check_text(text, true);
    each_line(text, sink, [&](uint64_t no, std::string_view line) {
      sink.add_name(line, kFlagSubtree, cats, no);
    });
  }
  if (std::string urls = find_file(dir, "urls"); !urls.empty()) {
    std::string text = read_all(urls);
    sink.set_file(urls);
    sink.check_text(text, true);
    each_line(text, sink, [&](uint64_t no, std::string_view line) { sink.add_url(line, cats, no); });
  }
}

}  // namespace

void import_ut1(const std::string& dir, ImportSink& sink) {
  fs::path root(dir);
  if (!find_file(root, "domains").empty() || !find_file(root, "urls").empty()) {
    const fs::path category = fs::canonical(root);
    import_category(category, read_global_usage(category.parent_path()), sink);
    return;
  }
  const GlobalUsage global = read_global_usage(root);
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory()) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  for (const auto& d : dirs)
    if (!find_file(d, "domains").empty() || !find_file(d, "urls").empty()) import_category(d, global, sink);
}

}  // namespace sekisho::policy
