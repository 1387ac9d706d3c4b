// policy/import/update_guard.h — an update never destroys good data.
//
// A source's entries are replaced only by an update that looks like a list: what arrives in
// place of a feed after a failed download (an empty body, an HTTP error page, a file of which no
// line is usable) or one that would take more than a set share of the source away is refused,
// and the source keeps what it had. `sekisho db import` uses it; so does any feed before it
// replaces a source:
//
//   1. check_list_text(text, file)  before parsing: empty, markup (an HTML/XML page), binary.
//      import_input() calls it for every file it reads (every format, each file of a UT1 tree).
//   2. check_parsed(report, file)   after parsing: no entries, or every line refused.
//      import_input() calls it too, once for the whole input.
//   3. guarded_replace(...)         the write itself: refused inside the write transaction, once
//      the exact number of entries the update removes is known, before anything is committed.
//
// Each check returns a Refusal (why, and a message naming the file) or nothing; import_input and
// guarded_replace throw it as UpdateRefused (an ImportError), and nothing is written. A feed that
// gets its data some other way (an RPZ zone transfer) calls check_parsed with its own counts and
// guarded_replace, or check_removal when it applies changes itself (an IXFR's deletions).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "policy/import/importer.h"
#include "policy/store/store_writer.h"

namespace sekisho::policy {

enum class RefusalReason {
  kEmpty,       // no bytes, or only blank lines
  kMarkup,      // an HTML or XML document (an error page), not a list
  kBinary,      // NUL bytes: no list format is binary
  kNoEntries,   // only comments and blank lines
  kAllRefused,  // every line was refused
  kShrink,      // would remove more of the source than allowed
  kPublicSuffix,  // a feed's update lists a public suffix (`com`) and the feed does not allow them
};
std::string_view refusal_name(RefusalReason r);  // "empty", "markup", …, "shrink"

struct Refusal {
  RefusalReason reason;
  std::string message;  // "list.txt: an HTML document (starts with '<!DOCTYPE html>'), not a list"
};

class UpdateRefused : public ImportError {
 public:
  explicit UpdateRefused(Refusal r) : ImportError(r.message), reason_(r.reason) {}
  RefusalReason reason() const { return reason_; }

 private:
  RefusalReason reason_;
};

struct UpdateLimits {
  // Share of the source's entries (domain and URL entries) one update may remove; more is
  // refused. 0.5 by default; 1.0 allows any shrink (`--allow-shrink`), 0 refuses every removal.
  double max_removed_share = 0.5;
};

// Text that is no list in any format. `file` names it in the message.
std::optional<Refusal> check_list_text(std::string_view text, std::string_view file);
// A parsed input that yields nothing usable.
std::optional<Refusal> check_parsed(const ImportReport& report, std::string_view file);
// A feed's update naming public suffixes (ImportReport::public_suffixes, the lines the sink
// refused as such). `sekisho db import` refuses only those lines, which its user sees; a feed
// runs unattended, and a list that suddenly names `com` is broken or hostile: the whole update
// is refused so that the status says so, instead of applying the rest.
std::optional<Refusal> check_public_suffixes(const ImportReport& report, std::string_view file);
// An update that removes `removed` of the `previous` entries of a source.
std::optional<Refusal> check_removal(uint64_t previous, uint64_t removed, const UpdateLimits& limits);

// replace_source under check_removal: throws UpdateRefused (kShrink), the transaction aborted,
// when the update would remove too much. `also`: a caller's own work in the same transaction
// (a feed's transfer state).
WriteResult guarded_replace(StoreWriter& writer, const SourceInfo& info, const EntrySet& entries,
                            const CategoryRegistry* registry, const UpdateLimits& limits, const InTxn& also = {});

}  // namespace sekisho::policy
