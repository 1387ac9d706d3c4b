// policy/import/update_guard.cc — the checks that keep a bad update from replacing a source
// (see update_guard.h).
#include "policy/import/update_guard.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "base/text.h"

namespace sekisho::policy {

std::string_view refusal_name(RefusalReason r) {
  switch (r) {
    case RefusalReason::kEmpty: return "empty";
    case RefusalReason::kMarkup: return "markup";
    case RefusalReason::kBinary: return "binary";
    case RefusalReason::kNoEntries: return "no-entries";
    case RefusalReason::kAllRefused: return "all-refused";
    case RefusalReason::kShrink: return "shrink";
    case RefusalReason::kPublicSuffix: return "public-suffix";
  }
  return "?";
}

namespace {

// ASCII whitespace as the HTML standard defines it (TAB, LF, FF, CR, SPACE).
bool html_space(char c) { return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '; }

bool ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// The first bytes of a document, printable, for a message.
std::string opening(std::string_view s) {
  s = s.substr(0, 40);
  return base::printable(s.substr(0, s.find_first_of("\r\n")));
}

}  // namespace

std::optional<Refusal> check_list_text(std::string_view text, std::string_view file) {
  const std::string f(file);
  // Every format we read is text: lists of lines, or a master file (RFC 1035 §5). A NUL byte
  // can be in none of them (gzip is unpacked before this sees the bytes).
  if (const void* nul = std::memchr(text.data(), '\0', text.size()))
    return Refusal{RefusalReason::kBinary,
                   f + ": binary data (a NUL byte at offset " +
                       std::to_string(static_cast<const char*>(nul) - text.data()) + "), not a text list"};
  // A UTF-8 byte order mark, then whitespace: what an HTML document may begin with (WHATWG
  // HTML, "Writing HTML documents": BOM, comments and whitespace, DOCTYPE, the html element).
  size_t i = 0;
  if (text.starts_with("\xEF\xBB\xBF")) i = 3;
  while (i < text.size() && html_space(text[i])) ++i;
  if (i == text.size())
    return Refusal{RefusalReason::kEmpty,
                   f + (text.empty() ? ": empty (0 bytes)" : ": holds nothing but blank lines")};
  // Markup starts where the HTML tokenizer's tag-open state does: '<' followed by a letter (an
  // element), '!' (a comment or DOCTYPE), '?' (an XML declaration) or '/'. No list format can
  // start so: in domains, hosts, csv and UT1 files a line starts with a name or an address,
  // in adblock lists with a rule, '!' or '[', and '<' is no character of a host name.
  if (text[i] == '<' && i + 1 < text.size() &&
      (ascii_alpha(text[i + 1]) || text[i + 1] == '!' || text[i + 1] == '?' || text[i + 1] == '/'))
    return Refusal{RefusalReason::kMarkup, f + ": an HTML or XML document (it starts with '" +
                                               opening(text.substr(i)) + "'), not a list (an error page?)"};
  return std::nullopt;
}

std::optional<Refusal> check_parsed(const ImportReport& report, std::string_view file) {
  const std::string f(file);
  if (report.taken > 0) return std::nullopt;
  if (report.refused > 0)
    return Refusal{RefusalReason::kAllRefused,
                   f + ": every line was refused (" + std::to_string(report.refused) + " of " +
                       std::to_string(report.lines) + "), no entry taken: not a list in this format"};
  return Refusal{RefusalReason::kNoEntries, f + ": no entries (" + std::to_string(report.lines) +
                                                " lines, all comments or blank)"};
}

std::optional<Refusal> check_public_suffixes(const ImportReport& report, std::string_view file) {
  if (report.public_suffixes == 0) return std::nullopt;
  return Refusal{RefusalReason::kPublicSuffix,
                 std::string(file) + ": " + std::to_string(report.public_suffixes) + " public suffix" +
                     (report.public_suffixes == 1 ? "" : "es") + " among the entries (first: " +
                     report.first_public_suffix +
                     "): it would classify every registrant's names under it (allow_public_suffixes: true if "
                     "the source means it)"};
}

std::optional<Refusal> check_removal(uint64_t previous, uint64_t removed, const UpdateLimits& limits) {
  if (removed == 0 || previous == 0) return std::nullopt;
  // Integers where they can be: removed / previous > share, without rounding a boundary away.
  const double allowed = std::floor(limits.max_removed_share * static_cast<double>(previous) + 1e-9);
  if (static_cast<double>(removed) <= allowed) return std::nullopt;
  const double percent = 100.0 * static_cast<double>(removed) / static_cast<double>(previous);
  char share[32];
  std::snprintf(share, sizeof share, "%.1f%%", percent);
  char limit[32];
  std::snprintf(limit, sizeof limit, "%g%%", limits.max_removed_share * 100.0);
  return Refusal{RefusalReason::kShrink,
                 "the update would remove " + std::to_string(removed) + " of the source's " +
                     std::to_string(previous) + " entries (" + share + "), more than the " + limit +
                     " allowed"};
}

WriteResult guarded_replace(StoreWriter& writer, const SourceInfo& info, const EntrySet& entries,
                            const CategoryRegistry* registry, const UpdateLimits& limits, const InTxn& also) {
  return writer.replace_source(
      info, entries, registry,
      [&](const WriteResult& r) {
        if (auto refusal = check_removal(r.previous_entries, r.removed_entries, limits)) throw UpdateRefused(*refusal);
      },
      also);
}

}  // namespace sekisho::policy
