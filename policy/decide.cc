#include "policy/decide.h"

#include <algorithm>
#include <cstring>

#include "dns/wire.h"

namespace sekisho::policy {
namespace {

// The deciding category of a blocked set (not empty): a security category first (it names the
// threat), else the first category in id order.
uint8_t pick_category(const CategorySet& hit, const CategorySet& security) {
  const CategorySet threats = hit & security;
  return static_cast<uint8_t>(threats.empty() ? hit.first() : threats.first());
}

// Categories the policy blocks at this instant, and the schedule that adds `probe` if any.
CategorySet blocked_now(const CompiledPolicy& p, int64_t now, const CategorySet& probe, const CompiledSchedule** by) {
  CategorySet blocked = p.block;
  for (const auto& s : p.schedule) {
    uint64_t adds = 0;  // ids the schedule would add to the policy's own blocks, among probe's
    for (unsigned i = 0; i < CategorySet::kWords; ++i) adds |= s.block.word(i) & probe.word(i) & ~p.block.word(i);
    if (adds == 0) continue;  // cannot change the outcome
    if (!s.active_at(now, p.holidays)) continue;
    blocked |= s.block;
    if (by && !*by) *by = &s;
  }
  return blocked;
}

// Category check of one name (shared by queries and chain members): blocked now, else
// read_only, else monitor. `url_entries` (optional) learns whether the store has URL entries for
// the name, from the same read.
bool check_categories(const CompiledPolicy& p, std::span<const uint8_t> wire, CategoryReader* reader, int64_t now,
                      Verdict& v, bool* url_entries = nullptr) {
  if (!reader || (p.watched.empty() && p.schedule.empty())) return false;
  Match m = reader->lookup_wire(wire);
  if (m.is_allowlisted()) return false;
  if (url_entries) *url_entries = m.has_url_entries;
  if (!m.found) return false;
  const CompiledSchedule* by = nullptr;
  const CategorySet hit = blocked_now(p, now, m.categories, &by) & m.categories;
  v.categories = m.categories;
  v.rule = RuleKind::category;
  if (!hit.empty()) {
    v.kind = VerdictKind::block;
    // A category at level block decides before one at unblock: lifting an unblock-level category
    // must never let through a name that another category of it blocks.
    const CategorySet hard = hit.without(p.unblock);
    v.category = pick_category(hard.empty() ? hit : hard, p.categories->security());
    const bool from_schedule = by && !p.block.contains(static_cast<uint8_t>(v.category));
    v.rule = from_schedule ? RuleKind::schedule : RuleKind::category;
    v.schedule = from_schedule ? by : nullptr;
    v.level = !from_schedule && p.unblock.contains(static_cast<uint8_t>(v.category)) ? Level::unblock : Level::block;
    return true;
  }
  if (const CategorySet ro = p.read_only & m.categories; !ro.empty()) {
    v.kind = VerdictKind::inspect;
    v.level = Level::read_only;
    v.category = ro.first();
    return true;
  }
  if (const CategorySet watch = p.monitor & m.categories; !watch.empty()) {
    v.kind = VerdictKind::monitor;
    v.level = Level::monitor;
    v.category = watch.first();
    return true;
  }
  v.categories = {};
  v.rule = RuleKind::none;
  return false;
}

// Mode monitor: what enforce would block or steer is resolved and recorded instead.
Verdict& watched_only(const CompiledPolicy& p, Verdict& v) {
  if (p.monitor_mode && (v.kind == VerdictKind::block || v.kind == VerdictKind::inspect)) v.kind = VerdictKind::monitor;
  return v;
}

}  // namespace

bool Verdict::security() const {
  return category < kMaxCategories && category_registry().security().contains(static_cast<uint8_t>(category));
}

Verdict decide_query(const CompiledPolicy& policy, std::span<const uint8_t> wire, CategoryReader* reader,
                     int64_t now_utc) {
  Verdict v;
  v.registry = policy.categories;
  if (const std::string* e = policy.allow.match(wire.data(), wire.size())) {
    v.rule = RuleKind::allow_list;
    v.list_entry = e;
    return v;
  }
  if (const std::string* e = policy.deny.match(wire.data(), wire.size())) {
    v.kind = VerdictKind::block;
    v.rule = RuleKind::deny_list;
    v.level = Level::block;
    v.list_entry = e;
    return watched_only(policy, v);
  }
  bool url_entries = false;
  if (check_categories(policy, wire, reader, now_utc, v, &url_entries)) return watched_only(policy, v);
  // The host marker carries no categories of its URL entries (policy/store), so any URL entry
  // qualifies once the policy blocks something; sekisho-intercept judges each URL against the
  // tenant's blocked categories and forwards the rest. Not under mode monitor: it steers.
  if (url_entries && policy.deep_inspection && !policy.monitor_mode) {
    v.kind = VerdictKind::inspect;
    v.rule = RuleKind::none;
  }
  return v;
}

Verdict decide_chain(const CompiledPolicy& policy, std::span<const uint8_t> chain, CategoryReader* reader,
                     int64_t now_utc) {
  Verdict v;
  v.registry = policy.categories;
  size_t pos = 0;
  while (pos < chain.size()) {
    // Each name ends at its root label.
    size_t end = pos;
    while (end < chain.size() && chain[end] != 0) end += 1 + chain[end];
    if (end >= chain.size()) break;
    std::span<const uint8_t> name = chain.subspan(pos, end + 1 - pos);
    pos = end + 1;
    if (policy.allow.match(name.data(), name.size())) continue;
    Verdict member;
    member.registry = policy.categories;
    if (const std::string* e = policy.deny.match(name.data(), name.size())) {
      member.kind = VerdictKind::block;
      member.level = Level::block;
      member.list_entry = e;
    } else if (!check_categories(policy, name, reader, now_utc, member) || member.inspected()) {
      // A read-only target is not steered: the intercept judges the Host asked, not the target.
      continue;
    }
    member.rule = RuleKind::cname;
    member.cname = name.data();
    member.cname_len = static_cast<uint8_t>(name.size());
    return watched_only(policy, member);
  }
  return v;
}

namespace {

// Pieces appended up to cap - 1 characters and NUL-terminated, as snprintf would, without its
// format parsing (a blocked answer writes this text on the query path).
class VerdictText {
 public:
  VerdictText(char* out, size_t cap) : out_(out), room_(cap == 0 ? 0 : cap - 1), has_nul_(cap > 0) {}
  VerdictText& operator<<(std::string_view piece) {
    const size_t n = std::min(piece.size(), room_ - len_);
    std::memcpy(out_ + len_, piece.data(), n);
    len_ += n;
    return *this;
  }
  size_t finish() {
    if (has_nul_) out_[len_] = '\0';
    return len_;
  }

 private:
  char* out_;
  size_t room_, len_ = 0;
  bool has_nul_;
};

}  // namespace

size_t describe_verdict(const Verdict& v, std::string_view tenant_id, char* out, size_t cap) {
  VerdictText text(out, cap);
  const CategoryInfo* info = v.category_registry().by_id(v.category);
  const std::string_view category = info ? info->slug : std::string_view();
  if (v.read_only()) return (text << "inspect=read_only category=" << category << " tenant=" << tenant_id).finish();
  if (v.inspected()) return (text << "inspect=url tenant=" << tenant_id).finish();
  const std::string_view entry = v.list_entry ? std::string_view(*v.list_entry) : std::string_view();
  switch (v.rule) {
    case RuleKind::deny_list:
      text << "list=deny rule=" << entry;
      break;
    case RuleKind::schedule:
      text << "category=" << category << " schedule=\"" << (v.schedule ? std::string_view(v.schedule->description) : "")
           << "\"";
      break;
    case RuleKind::cname: {
      char name[256];
      const size_t n = dns::name_to_text(v.cname, v.cname_len, name, sizeof name - 1);
      if (v.list_entry) text << "list=deny rule=" << entry;
      else text << "category=" << category;
      text << " cname=" << std::string_view(name, n);
      break;
    }
    default:
      text << "category=" << category;
      break;
  }
  // The level a later temporary unblock (issue 21 item 2) will key on.
  if (v.level == Level::unblock) text << " level=unblock";
  return (text << " tenant=" << tenant_id).finish();
}

}  // namespace sekisho::policy
