// policy/import/importer.cc — input reading (plain, .gz, stdin), the per-line sink shared by all
// formats, and format dispatch.
#include "policy/import/importer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <thread>

#include "base/text.h"
#include "policy/import/gzip.h"
#include "policy/import/idna.h"
#include "policy/import/public_suffix.h"
#include "policy/import/update_guard.h"
#include "policy/store/entry_codec.h"
#include "policy/store/url_form.h"

namespace sekisho::policy {

std::optional<Format> parse_format(std::string_view name) {
  if (name == "domains") return Format::kDomains;
  if (name == "hosts") return Format::kHosts;
  if (name == "adblock") return Format::kAdblock;
  if (name == "rpz") return Format::kRpz;
  if (name == "csv") return Format::kCsv;
  if (name == "ut1") return Format::kUt1;
  return std::nullopt;
}

std::string_view format_name(Format f) {
  switch (f) {
    case Format::kDomains: return "domains";
    case Format::kHosts: return "hosts";
    case Format::kAdblock: return "adblock";
    case Format::kRpz: return "rpz";
    case Format::kCsv: return "csv";
    case Format::kUt1: return "ut1";
  }
  return "?";
}

ImportSink::ImportSink(EntrySet& set, ImportReport& report, const ImportOptions& options)
    : set_(set),
      report_(report),
      options_(options),
      suffixes_(options.allow_public_suffixes ? nullptr
                : options.public_suffixes     ? options.public_suffixes
                                              : &PublicSuffixList::system()) {}

void ImportSink::check_text(std::string_view text, bool empty_is_fine) {
  auto refusal = check_list_text(text, file_);
  if (refusal && !(empty_is_fine && refusal->reason == RefusalReason::kEmpty)) throw UpdateRefused(*refusal);
}

void ImportSink::refuse(uint64_t line, std::string_view reason, std::string_view text) {
  ++report_.refused;
  if (!options_.diagnostics) return;
  if (report_.refused > options_.max_reports) {
    if (report_.refused == options_.max_reports + 1 && !deferred_)
      *options_.diagnostics << file_ << ": further refused lines are counted, not shown\n";
    return;
  }
  // The line as read may hold anything a feed sent: shown cut and with its control bytes escaped.
  std::string m = file_ + ':' + std::to_string(line) + ": " + std::string(reason) + ": " +
                  base::printable(text.substr(0, 120)) + '\n';
  if (deferred_) {
    deferred_->push_back(std::move(m));
  } else {
    *options_.diagnostics << m;
  }
}

bool ImportSink::is_refused_suffix(uint64_t line, std::string_view raw) {
  if (!suffixes_ || !suffixes_->is_public_suffix(name_)) return false;
  if (report_.public_suffixes++ == 0)
    report_.first_public_suffix = "'" + std::string(raw.substr(0, 120)) + "' at line " + std::to_string(line);
  refuse(line, "a public suffix, not an entry: it would cover every registrant's names under it "
               "(a source that means it allows public suffixes)", raw);
  return true;
}

namespace {
constexpr const char* kNotADomainName = "not a domain name";
}  // namespace

size_t entry_key(std::string_view raw, uint8_t& flags, std::string& name, std::string& reason, char* key) {
  if (!normalize_name(raw, name, reason)) return 0;
  // IPv4 literals: exact entries only ("1.2.3.4" has no subdomains). See policy/README.md.
  if (is_ipv4_literal(name)) flags = kFlagExact;
  size_t n = make_name_key(name, key);
  if (n == 0) reason = kNotADomainName;
  return n;
}

bool ImportSink::add_name(std::string_view raw, uint8_t flags, CategorySet cats, uint64_t line) {
  size_t n = entry_key(raw, flags, name_, reason_, key_);
  const bool normalized = n != 0 || reason_ == kNotADomainName;
  if (!normalized || (n == 0 && !cats.empty())) {  // the name's problem first, as always
    refuse(line, reason_, raw);
    return false;
  }
  if (cats.empty()) {
    refuse(line, "no category for this entry (give --category)", raw);
    return false;
  }
  if (!is_ipv4_literal(name_) && is_refused_suffix(line, raw)) return false;
  set_.add_domain(std::string_view(key_, n), flags, cats);
  ++report_.taken;
  return true;
}

bool ImportSink::add_url(std::string_view raw, CategorySet cats, uint64_t line) {
  // The store's one canonical URL form (policy/store/url_form.h): scheme, userinfo, port and
  // fragment dropped here, the path and query put in form by key_of.
  const url::Parts parts = url::split(raw);
  if (!normalize_name(parts.host, name_, reason_)) {
    refuse(line, "bad URL host: " + reason_, raw);
    return false;
  }
  if (!is_ipv4_literal(name_) && is_refused_suffix(line, raw)) return false;
  if (cats.empty()) {
    refuse(line, "no category for this entry (give --category)", raw);
    return false;
  }
  size_t n = make_name_key(name_, key_);
  if (n == 0 || !url::key_of(std::string_view(key_, n), parts, url_key_)) {
    refuse(line, "URL too long", raw);
    return false;
  }
  set_.add_url(std::string_view(key_, n), std::string_view(url_key_).substr(n + 1), cats);
  ++report_.taken;
  return true;
}

namespace {

// The whole of `fd`: a regular file read(2) straight into a string of its size (gzread or a
// doubling string would copy every byte again: 1.4 s for a 217 MB list, 0.1 s this way), a
// pipe or stdin read to its end.
void read_fd(int fd, const std::string& path, std::string& out) {
  struct stat st;
  size_t size_hint = 1 << 16;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) size_hint = static_cast<size_t>(st.st_size);
  out.resize(size_hint);
  size_t have = 0;
  while (true) {
    if (have == out.size()) out.resize(have + std::max<size_t>(have / 2, 1 << 16));  // a stream, or a file that grew
    ssize_t n = ::read(fd, out.data() + have, out.size() - have);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw ImportError(path + ": read error: " + std::strerror(errno));
    }
    if (n == 0) break;
    have += static_cast<size_t>(n);
  }
  out.resize(have);
}

// gzip data unpacks to at most this: far over any real list (the biggest we know, 217 MB),
// and a bound for a small file crafted to unpack to all of memory.
constexpr uint64_t kMaxUnpacked = uint64_t{16} << 30;

}  // namespace

std::string read_all(const std::string& path) {
  const int fd = path == "-" ? ::dup(STDIN_FILENO) : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ImportError(path + ": cannot open: " + std::strerror(errno));
  std::string raw;
  try {
    read_fd(fd, path, raw);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  if (!is_gzip(raw)) return raw;
  // Checked to its end (gzip.h): a cut-off .gz is refused, not read as a shorter list.
  std::string out;
  if (std::string why = gunzip(raw, out, kMaxUnpacked); !why.empty()) throw ImportError(path + ": gzip: " + why);
  return out;
}

namespace {

std::string file_note(const std::string& input) { return input == "-" ? "<stdin>" : input; }

void parse_lines(Format format, std::string_view text, ImportSink& sink) {
  switch (format) {
    case Format::kDomains: parse_domains(text, sink); break;
    case Format::kHosts: parse_hosts(text, sink); break;
    case Format::kAdblock: parse_adblock(text, sink); break;
    case Format::kCsv: parse_csv(text, sink); break;
    default: break;
  }
}

}  // namespace

void import_input(const std::string& input, const ImportOptions& options, EntrySet& set,
                  ImportReport& report) {
  if (options.format == Format::kUt1) {
    if (input == "-" || !std::filesystem::is_directory(input))
      throw ImportError(input + ": ut1 format needs a directory");
    ImportSink sink(set, report, options);
    import_ut1(input, sink);
    if (auto refusal = check_parsed(report, input)) throw UpdateRefused(*refusal);
    return;
  }
  if (input != "-" && std::filesystem::is_directory(input))
    throw ImportError(input + ": is a directory (only --format ut1 reads directories)");
  import_text(read_all(input), file_note(input), options, set, report);
}

void import_text(const std::string& text, const std::string& file, const ImportOptions& options, EntrySet& set,
                 ImportReport& report) {
  if (options.format == Format::kUt1) throw ImportError(file + ": ut1 format needs a directory");
  ImportSink sink(set, report, options);
  sink.set_file(file);
  sink.check_text(text, false);
  // Line formats are parsed on two threads (one per core) above a few MB: the second half of
  // the text, from a line start, goes into its own EntrySet with deferred reports, which are
  // printed after the first half's, with the same limit, so the output is that of one pass.
  const bool lines = options.format == Format::kDomains || options.format == Format::kHosts ||
                     options.format == Format::kAdblock || options.format == Format::kCsv;
  if (lines && text.size() >= (size_t{4} << 20)) {
    std::string_view all(text);
    size_t split = all.find('\n', all.size() / 2);
    if (split != std::string_view::npos && split + 1 < all.size()) {
      std::string_view first = all.substr(0, split + 1), second = all.substr(split + 1);
      const uint64_t second_line = 1 + static_cast<uint64_t>(std::count(first.begin(), first.end(), '\n'));
      EntrySet set2;
      ImportReport report2;
      std::vector<std::string> deferred;
      ImportSink sink2(set2, report2, options);
      sink2.set_file(file);
      sink2.set_part(second_line, &deferred);
      set.reserve(first.size() / 20, first.size());
      set2.reserve(second.size() / 20, second.size());
      std::exception_ptr error2;
      std::thread t([&] {
        try {
          parse_lines(options.format, second, sink2);
        } catch (...) {
          error2 = std::current_exception();
        }
      });
      try {
        parse_lines(options.format, first, sink);
      } catch (...) {
        t.join();
        throw;
      }
      t.join();
      if (error2) std::rethrow_exception(error2);
      const uint64_t total_refused = report.refused + report2.refused;
      const bool noted = report.refused > options.max_reports;  // the first part said "further"
      uint64_t count = report.refused;
      for (const std::string& m : deferred) {
        if (++count > options.max_reports) break;
        *options.diagnostics << m;
      }
      if (options.diagnostics && !noted && total_refused > options.max_reports)
        *options.diagnostics << file << ": further refused lines are counted, not shown\n";
      report.refused = total_refused;
      report.lines += report2.lines;
      report.taken += report2.taken;
      report.ignored += report2.ignored;
      report.public_suffixes += report2.public_suffixes;
      if (report.first_public_suffix.empty()) report.first_public_suffix = report2.first_public_suffix;
      set.append(std::move(set2));
      if (auto refusal = check_parsed(report, file)) throw UpdateRefused(*refusal);
      return;
    }
  }
  set.reserve(text.size() / 20, text.size());
  parse_text(options.format, text, sink);
  if (auto refusal = check_parsed(report, file)) throw UpdateRefused(*refusal);
}

void parse_text(Format format, const std::string& text, ImportSink& sink) {
  if (format == Format::kRpz) {
    parse_rpz(text, sink);
    return;
  }
  parse_lines(format, text, sink);  // ut1 is a directory: nothing to parse here
}

std::string_view trim_blanks(std::string_view s) { return base::trim(s, " \t\r"); }

}  // namespace sekisho::policy
