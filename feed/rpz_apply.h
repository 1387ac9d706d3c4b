// feed/rpz_apply.h — a transferred RPZ into the category store: an AXFR replaces the feed's
// source whole; each IXFR diff (one serial step) is one write transaction that touches only the
// names the diff changes.
//
// Why state beside the entries: an RPZ owner may hold several records (a CNAME policy at
// `name` and another at `*.name` both map to the store key of `name`), and an IXFR deletes
// single records. To know what a key's contribution becomes when one record goes, the feed
// keeps, per store key, the records that map to it: the feed-records DB (policy/store/schema.h),
// key "<source>\0<store key>", value 17-byte items (FNV-1a of the record's owner, type and rdata;
// flags; categories) sorted by hash. It is written in the same transaction as the entries, so
// the two never disagree; the zone serial goes into the source record (SourceInfo::version).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "feed/xfr.h"
#include "policy/import/rpz_rule.h"
#include "policy/import/update_guard.h"
#include "policy/store/categories.h"
#include "policy/store/store_writer.h"

namespace sekisho::feed {

struct ApplyReport {
  uint64_t records = 0;   // records seen
  uint64_t entries = 0;   // records mapped to an entry
  uint64_t refused = 0;   // records that do not map (reported, not written)
  uint64_t ignored = 0;   // apex SOA/NS
  uint64_t public_suffixes = 0;  // of the refused: added names that are public suffixes
  std::string first_public_suffix;
  uint64_t keys_changed = 0;  // store keys whose contribution changed
  std::string first_refusal;  // "owner: reason" of the first refused record
  policy::WriteResult write;
};

// The update guard (policy/import/update_guard.h) as a feed applies it: the same checks as
// `sekisho db import`, with the feed's own limits.
struct FeedGuard {
  policy::UpdateLimits limits;
  // Public suffixes refused as entries (the update is refused); null: the feed allows them.
  const policy::PublicSuffixList* public_suffixes = nullptr;
};

// The records of one transfer, mapped to store keys as they arrive (the transfer's sink): per
// record only its key (in one arena) and its 17-byte item are kept, never the record itself.
class RpzRecords : public XfrSink {
 public:
  // `public_suffixes`: added names that are public suffixes are refused as entries, counted in
  // the step's report (null: none are).
  RpzRecords(std::string apex, policy::CategorySet block, policy::CategorySet allow,
             const policy::PublicSuffixList* public_suffixes = nullptr);
  void clear() override;
  void record(Part part, size_t diff, const XfrRecord& rr) override;

  struct Mapped {
    uint64_t prefix, prefix2;  // key bytes [0,16) big endian, zero-padded: the sort's first words
    uint64_t hash;             // the record's identity (owner, type, rdata)
    bool passthru;             // an allow entry (rpz-passthru): the allow categories, else the block ones
    uint32_t offset;           // key in the arena
    uint16_t size;
    uint8_t flags;
  };
  // One AXFR (index 0) or one IXFR diff: its mapped records and what was seen.
  struct Step {
    std::vector<Mapped> removed, added;  // an AXFR's records are `added`
    ApplyReport seen;
  };
  std::string_view key(const Mapped& m) const { return {arena_.data() + m.offset, m.size}; }
  policy::CategorySet categories(const Mapped& m) const { return m.passthru ? allow_ : block_; }
  const Step& step(size_t diff) const;
  // The applier sorts a step's records in place.
  Step& step(size_t diff);
  size_t arena_bytes() const { return arena_.size(); }

 private:
  std::string apex_;
  policy::CategorySet block_, allow_;
  std::string arena_;
  std::vector<Step> steps_;
  const policy::PublicSuffixList* public_suffixes_;
  policy::RpzRule rule_;          // reused: no allocation per record
  std::string name_, reason_;
};

class RpzApplier {
 public:
  // `block`: the feed's categories; rpz-passthru entries get the allow-list category instead.
  RpzApplier(policy::StoreWriter& writer, std::string source, std::string zone, policy::CategorySet block,
             FeedGuard guard);

  // The stored serial ("serial N" in the source's version), if the source exists.
  std::optional<uint32_t> stored_serial();
  // The source's record, if it exists.
  std::optional<policy::SourceInfo> stored();

  // Where transfer() puts the records that the apply calls below then write.
  XfrSink& sink() { return records_; }
  // AXFR: the source becomes exactly the transferred records. Throws (nothing written) XfrError
  // over max_entries, policy::UpdateRefused when the guard refuses: no entries, every record
  // refused, a public suffix, or more of the source removed than the limits allow.
  ApplyReport apply_axfr(const XfrResult& axfr, uint64_t max_entries);
  // An IXFR's diffs before any is applied: throws policy::UpdateRefused when they add a public
  // suffix or, together, remove more of the source's entries than the limits allow (counted
  // from the feed's records of each key they touch, as the diffs would leave them).
  void check_ixfr(const XfrResult& ixfr);
  // IXFR diff `index` of `ixfr`, in one write transaction; the source's version becomes
  // "serial <diff.to>".
  ApplyReport apply_diff(const XfrResult& ixfr, size_t index);

 private:
  std::string source_, apex_;
  policy::CategorySet block_, allow_;
  policy::StoreWriter& writer_;
  FeedGuard guard_;
  RpzRecords records_;
};

// "serial 2026120701" ↔ 2026120701.
std::string serial_version(uint32_t serial);
std::optional<uint32_t> parse_serial_version(const std::string& version);

}  // namespace sekisho::feed
