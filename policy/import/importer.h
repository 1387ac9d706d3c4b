// policy/import/importer.h — reads one source (file, directory, or stdin; .gz transparently)
// through a format parser into an EntrySet, counting taken and refused lines.
//
// Every refused line is reported as "file:line: reason: text" on the diagnostics stream, so a
// user can fix the list; the import continues. The caller (CLI) decides about --strict: a
// strict import with refused > 0 writes nothing. I/O failures throw ImportError.
#pragma once

#include <cstdint>
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

struct ImportOptions {
  Format format = Format::kDomains;
  CategorySet categories;              // --category: default categories of block entries
  // What category slugs in the input mean (csv, ut1); it must outlive the import.
  const CategoryRegistry* registry = &CategoryRegistry::builtins();
  std::ostream* diagnostics = nullptr; // refused-line reports (nullptr: count only)
  uint64_t max_reports = 1000;         // after this many, only count
};

struct ImportReport {
  uint64_t lines = 0;    // input lines/records seen
  uint64_t taken = 0;    // lines that produced an entry
  uint64_t refused = 0;  // malformed or unsupported lines (reported)
  uint64_t ignored = 0;  // comments, blank lines, zone apex records
};

// Collects entries for one source; formats call it once per line.
class ImportSink {
 public:
  ImportSink(EntrySet& set, ImportReport& report, const ImportOptions& options)
      : set_(set), report_(report), options_(options) {}
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

  // A name from a list: normalised, validated; IPv4 literals become exact entries.
  // flags: kFlagSubtree or kFlagExact. Refuses (reports) and returns false on error.
  bool add_name(std::string_view raw, uint8_t flags, CategorySet cats, uint64_t line);
  // "host[/path]" (no scheme) for URL lists.
  bool add_url(std::string_view raw, CategorySet cats, uint64_t line);
  void refuse(uint64_t line, std::string_view reason, std::string_view text);
  void ignore() { ++report_.ignored; }

 private:
  EntrySet& set_;
  ImportReport& report_;
  const ImportOptions& options_;
  std::string file_;
  uint64_t first_line_ = 1;
  std::vector<std::string>* deferred_ = nullptr;
  std::string name_, reason_;
  char key_[kMaxUrlKeyLen + 1];
};

// Reads input ("-" = stdin; directories only for ut1) into set (not yet finalized).
void import_input(const std::string& input, const ImportOptions& options, EntrySet& set,
                  ImportReport& report);

// Whole file (or stdin for "-"), gunzipped if compressed. Throws ImportError.
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
