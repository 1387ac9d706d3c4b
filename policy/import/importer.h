// policy/import/importer.h — reads one source (file, directory, or stdin; .gz transparently)
// through a format parser into an EntrySet, counting taken and refused lines.
//
// Every refused line is reported as "file:line: reason: text" on the diagnostics stream, so a
// user can fix the list; the import continues. The caller (CLI) decides about --strict: a
// strict import with refused > 0 writes nothing. I/O failures throw ImportError; an input that
// is no list (empty, an error page, nothing usable in it) throws UpdateRefused
// (update_guard.h). A public suffix (`com`, `co.jp`) is refused like a malformed line unless
// the source allows them (public_suffix.h).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "policy/store/categories.h"
#include "policy/store/key_format.h"
#include "policy/store/store_writer.h"

namespace sekisho::policy {

class ImportError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class Format { kDomains, kHosts, kAdblock, kRpz, kCsv, kUt1 };
std::optional<Format> parse_format(std::string_view name);
// Strips spaces, tabs and a CR (CRLF files) from both ends of a list line.
std::string_view trim_blanks(std::string_view s);
std::string_view format_name(Format f);

class PublicSuffixList;

struct ImportOptions {
  Format format = Format::kDomains;
  CategorySet categories;              // --category: default categories of block entries
  // What category slugs in the input mean (csv, ut1); it must outlive the import.
  const CategoryRegistry* registry = &CategoryRegistry::builtins();
  std::ostream* diagnostics = nullptr; // refused-line reports (nullptr: count only)
  uint64_t max_reports = 1000;         // after this many, only count
  // Public suffixes as entries: only for a source that says so (--allow-public-suffixes).
  bool allow_public_suffixes = false;
  // The suffixes refused otherwise; null: the system's list (PublicSuffixList::system()).
  const PublicSuffixList* public_suffixes = nullptr;
};

struct ImportReport {
  uint64_t lines = 0;    // input lines/records seen
  uint64_t taken = 0;    // entries produced (a hosts line naming several hosts gives several)
  uint64_t refused = 0;  // malformed or unsupported names and lines (reported)
  uint64_t ignored = 0;  // comments, blank lines, zone apex records
  uint64_t public_suffixes = 0;  // of the refused: names that are public suffixes
  std::string first_public_suffix;  // "'com' at line 3", for a message
};

// A list's name as a store key: normalised (idna.h), IPv4 literals made exact (flags). Writes
// the key to key[kMaxKeyLen] and returns its length, or 0 with `reason` set. `name` is scratch.
size_t entry_key(std::string_view raw, uint8_t& flags, std::string& name, std::string& reason, char* key);

// Collects entries for one source; formats call it once per line.
class ImportSink {
 public:
  // Throws ImportError when public suffixes are to be refused and no list can be read.
  ImportSink(EntrySet& set, ImportReport& report, const ImportOptions& options);
  void set_file(std::string_view file) { file_ = std::string(file); }
  // Parallel parsing: this sink sees the part of the text that starts at line `first`, and keeps
  // its reports in `deferred` (at most max_reports) for the caller to print in file order.
  void set_part(uint64_t first, std::vector<std::string>* deferred) {
    first_line_ = first;
    deferred_ = deferred;
  }
  uint64_t first_line() const { return first_line_; }
  // Calls f(line_number, line) for every line of `text` (without its '\n'), counting each in the
  // report; numbering starts at first_line(), so a part parsed on another thread reports the
  // line numbers of the whole file.
  template <typename F>
  void for_each_line(std::string_view text, F&& f) {
    uint64_t line_no = first_line_ - 1;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string_view::npos) nl = text.size();
      ++line_no;
      ++report_.lines;
      f(line_no, text.substr(pos, nl - pos));
      pos = nl + 1;
    }
  }
  const ImportOptions& options() const { return options_; }
  ImportReport& report() { return report_; }

  // A name from a list: normalised, validated; IPv4 literals become exact entries; public
  // suffixes refused (and counted) unless the options allow them.
  // flags: kFlagSubtree or kFlagExact. Refuses (reports) and returns false on error.
  bool add_name(std::string_view raw, uint8_t flags, CategorySet cats, uint64_t line);
  // A URL entry, "[scheme://]host[:port][/path][?query]", keyed in the canonical form
  // (policy/store/url_form.h).
  bool add_url(std::string_view raw, CategorySet cats, uint64_t line);
  void refuse(uint64_t line, std::string_view reason, std::string_view text);
  // The refusal of a file's whole text (check_list_text), thrown as UpdateRefused: UT1 reads
  // several files, and an error page in any of them means the tree is not what it claims.
  void check_text(std::string_view text, bool empty_is_fine);
  void ignore() { ++report_.ignored; }

 private:
  EntrySet& set_;
  ImportReport& report_;
  const ImportOptions& options_;
  const PublicSuffixList* suffixes_;  // null: public suffixes are taken
  std::string file_;
  uint64_t first_line_ = 1;
  std::vector<std::string>* deferred_ = nullptr;
  bool is_refused_suffix(uint64_t line, std::string_view raw);  // of name_; refuses and counts
  std::string name_, reason_;
  std::string url_key_;  // add_url's key (url_form.h)
  char key_[kMaxUrlKeyLen + 1];
};

// UT1: what a category directory's `usage` file says. Each word is a usage ("black": a list to
// block or categorise by, "white": a list of names to let through) or a keyword (its names in
// other words: "adult", "porn"); '#' starts a comment.
struct Ut1Usage {
  bool black = false, white = false;
};
Ut1Usage parse_ut1_usage(std::string_view text);
// The collection's `global_usage` catalogue: each record's `NAME:` → its `DEFAULT_TYPE:`
// ("black" or "white"), the list's primary use.
std::map<std::string, std::string, std::less<>> parse_ut1_global_usage(std::string_view text);
// Whether a category's entries are allow entries: only when white is its sole usage. A list
// usable both ways (chat, webmail, remote-control) is categorised, so a policy decides about it;
// a usage file naming neither (or none) leaves it to global_usage's DEFAULT_TYPE, and without
// that too the collection's purpose decides: black.
bool ut1_is_allow_list(const std::optional<Ut1Usage>& usage, std::optional<std::string_view> default_type);

// Reads input ("-" = stdin; directories only for ut1) into set (not yet finalized).
void import_input(const std::string& input, const ImportOptions& options, EntrySet& set,
                  ImportReport& report);

// A list already in memory (an HTTP feed's download), as import_input reads a file's text:
// checked (update_guard.h), parsed as options.format (not ut1), checked again. `file` names it
// in reports and refusals.
void import_text(const std::string& text, const std::string& file, const ImportOptions& options, EntrySet& set,
                 ImportReport& report);

// Whole file (or stdin for "-"), unpacked if it is gzip data (checked to its end: a truncated
// .gz is an ImportError, policy/import/gzip.h). Throws ImportError.
std::string read_all(const std::string& path);

// Per-format parsers (format_*.cc). `file` names the input in reports.
void parse_domains(std::string_view text, ImportSink& sink);
void parse_hosts(std::string_view text, ImportSink& sink);
void parse_adblock(std::string_view text, ImportSink& sink);
void parse_csv(std::string_view text, ImportSink& sink);
void parse_rpz(const std::string& text, ImportSink& sink);
void import_ut1(const std::string& dir, ImportSink& sink);
// The parser for `format` over text already in memory (every format but ut1, a directory).
void parse_text(Format format, const std::string& text, ImportSink& sink);

}  // namespace sekisho::policy
