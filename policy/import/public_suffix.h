// policy/import/public_suffix.h — the public suffix guard: `com`, `co.jp` or `kawasaki.jp`-style
// names are registries' zones, never a list's entry (a subtree entry there would classify every
// name under a TLD).
//
// Read with libpsl from the system's list (Debian's `publicsuffix` package; libpsl takes the
// newer of that file and its built-in copy). Only the ICANN section counts, with its wildcard
// rules and the implicit `*` rule (so any single label, a TLD the list may not know yet, is a
// suffix too): the private section names single organisations' domains under which others get
// names (github.io, duckdns.org, blogspot.com), and classifying those subtrees is what lists do
// on purpose (UT1's dynamic-dns and blog categories). Thread-safe after construction.
#pragma once

#include <string>
#include <string_view>

struct psl_ctx_st;

namespace sekisho::policy {

class PublicSuffixList {
 public:
  // The system's list, loaded on first use (once per process). Throws ImportError naming the
  // package when no list can be read.
  static const PublicSuffixList& system();
  // A list file (.dat text or .dafsa) of one's own; throws ImportError if it cannot be read.
  explicit PublicSuffixList(const std::string& file);
  ~PublicSuffixList();
  PublicSuffixList(const PublicSuffixList&) = delete;
  PublicSuffixList& operator=(const PublicSuffixList&) = delete;

  // `name`: normalised (lower case, A-labels, no trailing dot), as ImportSink holds it.
  bool is_public_suffix(std::string_view name) const;
  // Where the rules came from, for messages ("/usr/share/publicsuffix/public_suffix_list.dafsa").
  const std::string& origin() const { return origin_; }

 private:
  PublicSuffixList() = default;
  psl_ctx_st* ctx_ = nullptr;
  std::string origin_;
};

}  // namespace sekisho::policy
