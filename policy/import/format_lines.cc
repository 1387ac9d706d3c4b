// policy/import/format_lines.cc — the line-oriented formats: domains, hosts, adblock, csv.
//
// Decisions (see policy/README.md): domains and adblock `||name^` entries cover subdomains;
// hosts entries and adblock `|name^` are exact; adblock `@@` rules and csv rows with the
// allowlist category are allow entries. Anything an adblock engine would apply to paths,
// ports, third-party context or patterns cannot be expressed at DNS level and is refused with
// the reason, never silently widened to a whole domain.
#include <string>
#include <string_view>
#include <vector>

#include "base/text.h"
#include "policy/import/importer.h"
#include "policy/store/entry_codec.h"

namespace sekisho::policy {
namespace {

inline bool has_blank(std::string_view s) {
  for (char c : s)
    if (c == ' ' || c == '\t') return true;
  return false;
}

std::string_view strip_comment(std::string_view line) {
  size_t hash = line.find('#');
  return trim_blanks(hash == std::string_view::npos ? line : line.substr(0, hash));
}

bool looks_like_address(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.' || c == ':'))
      return false;
  return s.find('.') != std::string_view::npos || s.find(':') != std::string_view::npos;
}

bool is_local_name(std::string_view n) {
  return n == "localhost" || n == "localhost.localdomain" || n == "local" || n == "broadcasthost" ||
         n == "ip6-localhost" || n == "ip6-loopback" || n == "ip6-localnet" || n == "ip6-mcastprefix" ||
         n == "ip6-allnodes" || n == "ip6-allrouters" || n == "ip6-allhosts" || n == "0.0.0.0";
}

}  // namespace

void parse_domains(std::string_view text, ImportSink& sink) {
  const CategorySet cats = sink.options().categories;
  sink.for_each_line(text, [&](uint64_t no, std::string_view raw) {
    std::string_view line = strip_comment(raw);
    if (line.empty()) return sink.ignore();
    if (has_blank(line))
      return void(sink.refuse(no, "more than one field (hosts file? use --format hosts)", raw));
    // A line with a path is a URL entry (for sekisho-intercept's deep check), as in UT1 `urls`.
    if (line.find('/') != std::string_view::npos) return void(sink.add_url(line, cats, no));
    uint8_t flags = kFlagSubtree;
    if (line.starts_with("*.")) line.remove_prefix(2);  // explicit wildcard: same meaning
    sink.add_name(line, flags, cats, no);
  });
}

void parse_hosts(std::string_view text, ImportSink& sink) {
  const CategorySet cats = sink.options().categories;
  sink.for_each_line(text, [&](uint64_t no, std::string_view raw) {
    std::string_view line = strip_comment(raw);
    if (line.empty()) return sink.ignore();
    std::vector<std::string_view> fields;
    base::for_each_word(line, [&](std::string_view field) { fields.push_back(field); });
    if (fields.size() < 2 || !looks_like_address(fields[0]))
      return void(sink.refuse(no, "expected 'ADDRESS NAME...'", raw));
    bool any = false;
    for (size_t i = 1; i < fields.size(); ++i) {
      if (is_local_name(fields[i])) continue;
      any = true;
      // Hosts files are exact by nature: they map one name to one address.
      sink.add_name(fields[i], kFlagExact, cats, no);
    }
    if (!any) sink.ignore();
  });
}

void parse_adblock(std::string_view text, ImportSink& sink) {
  const CategorySet block = sink.options().categories;
  CategorySet allow;
  allow.add(allowlist_category_id());
  sink.for_each_line(text, [&](uint64_t no, std::string_view raw) {
    std::string_view line = trim_blanks(raw);
    if (line.empty() || line.front() == '!' || line.front() == '[' ||
        (line.front() == '#' && !line.starts_with("##")))
      return sink.ignore();
    std::string_view rule = line;
    bool is_allow = rule.starts_with("@@");
    if (is_allow) rule.remove_prefix(2);
    uint8_t flags;
    if (rule.starts_with("||")) {
      flags = kFlagSubtree;
      rule.remove_prefix(2);
    } else if (rule.starts_with("|") && !rule.starts_with("|http")) {
      flags = kFlagExact;  // AdGuard DNS: |name^ matches the name only
      rule.remove_prefix(1);
    } else if (rule.starts_with("/") && rule.ends_with("/") && rule.size() > 1) {
      return void(sink.refuse(no, "regular-expression rule not supported", raw));
    } else if (rule.find("##") != std::string_view::npos || rule.find("#@#") != std::string_view::npos) {
      return void(sink.refuse(no, "cosmetic (element hiding) rule has no DNS meaning", raw));
    } else {
      return void(sink.refuse(no, "not an anchored '||name^' rule", raw));
    }
    size_t caret = rule.find('^');
    std::string_view name = rule.substr(0, caret);
    std::string_view rest = caret == std::string_view::npos ? std::string_view{} : rule.substr(caret + 1);
    if (name.find('*') != std::string_view::npos)
      return void(sink.refuse(no, "wildcard pattern in name not supported", raw));
    if (name.find(':') != std::string_view::npos)
      return void(sink.refuse(no, "port in rule not supported at DNS level", raw));
    if (name.find('/') != std::string_view::npos)
      return void(sink.refuse(no, "path in rule not supported at DNS level", raw));
    if (caret == std::string_view::npos)
      return void(sink.refuse(no, "missing '^' separator (substring rule)", raw));
    if (rest == "|") rest = {};
    if (!rest.empty()) {
      if (rest.front() == '$') {
        std::string_view mods = rest.substr(1);
        if (mods != "important")
          return void(sink.refuse(no, "modifier $" + std::string(mods.substr(0, mods.find(','))) +
                                          " not supported at DNS level", raw));
      } else {
        return void(sink.refuse(no, "pattern after '^' not supported at DNS level", raw));
      }
    }
    sink.add_name(name, flags, is_allow ? allow : block, no);
  });
}

namespace {

// The fields of one csv record (RFC 4180 §2): separated by ',', a field in double quotes may
// hold ',' and '""' for a quote (a URL path may have both). Blanks around a field are dropped.
// Sets n to the number of fields in `fields` (whose strings are reused from line to line: no
// allocation per line once they have grown). False when a quoted field is not closed or text
// follows its closing quote.
bool split_csv(std::string_view line, std::vector<std::string>& fields, size_t& n) {
  n = 0;
  size_t pos = 0;
  while (true) {
    if (fields.size() == n) fields.emplace_back();
    std::string& field = fields[n++];
    field.clear();
    while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
    if (pos < line.size() && line[pos] == '"') {
      ++pos;
      while (true) {
        if (pos >= line.size()) return false;
        if (line[pos] == '"') {
          if (pos + 1 < line.size() && line[pos + 1] == '"') {
            field += '"';
            pos += 2;
            continue;
          }
          ++pos;
          break;
        }
        field += line[pos++];
      }
      while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
      if (pos < line.size() && line[pos] != ',') return false;
    } else {
      size_t comma = line.find(',', pos);
      field = trim_blanks(line.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos));
      pos = comma == std::string_view::npos ? line.size() : comma;
    }
    if (pos >= line.size()) return true;
    ++pos;  // the ','
  }
}

}  // namespace

// `name,cat1;cat2[,exact|subtree|url]` — what `sekisho db export` writes (policy/import/
// csv_export.h). Scope `url` makes the first field a URL entry's `host/path`.
void parse_csv(std::string_view text, ImportSink& sink) {
  const CategorySet extra = sink.options().categories;
  std::vector<std::string> f;
  size_t fields = 0;
  sink.for_each_line(text, [&](uint64_t no, std::string_view raw) {
    std::string_view line = trim_blanks(raw);
    if (line.empty() || line.front() == '#') return sink.ignore();
    if (!split_csv(line, f, fields))
      return void(sink.refuse(no, "unterminated or misplaced '\"' (RFC 4180 quoting)", raw));
    if (no == 1 && (f[0] == "name" || f[0] == "domain")) return sink.ignore();  // header row
    if (fields < 2 || fields > 3)
      return void(sink.refuse(no, "expected 'name,cat1;cat2[,exact|subtree|url]'", raw));
    CategorySet cats = extra;
    std::string_view list = f[1];
    size_t p = 0;
    while (p <= list.size()) {
      size_t semi = list.find(';', p);
      std::string_view slug = trim_blanks(list.substr(p, semi == std::string_view::npos ? std::string_view::npos : semi - p));
      if (!slug.empty()) {
        const CategoryInfo* c = sink.options().registry->by_slug(slug);
        if (!c) return void(sink.refuse(no, "unknown category '" + std::string(slug) + "'", raw));
        cats.add(c->id);
      }
      if (semi == std::string_view::npos) break;
      p = semi + 1;
    }
    uint8_t flags = kFlagSubtree;
    if (fields == 3) {
      if (f[2] == "url") return void(sink.add_url(f[0], cats, no));
      if (f[2] == "exact") flags = kFlagExact;
      else if (f[2] != "subtree" && !f[2].empty())
        return void(sink.refuse(no, "third field must be 'exact', 'subtree' or 'url'", raw));
    }
    std::string_view name = f[0];
    if (name.starts_with("*.")) name.remove_prefix(2);
    sink.add_name(name, flags, cats, no);
  });
}

}  // namespace sekisho::policy
