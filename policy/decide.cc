#include "policy/decide.h"

#include <cstdio>

#include "resolver/dns/wire.h"

namespace sekisho::policy {
namespace {

// The deciding category of a blocked set: a security category first (it names the threat),
// else the first content category in registry order.
uint8_t pick_category(CategorySet hit) {
  uint8_t first = 0xFF;
  for (uint8_t id = 0; id < kMaxCategories; ++id) {
    if (!hit.contains(id)) continue;
    const CategoryInfo* info = category_by_id(id);
    if (info && info->group == CategoryGroup::kSecurity) return id;
    if (first == 0xFF) first = id;
  }
  return first;
}

// Categories the policy blocks at this instant, and the schedule that adds `probe` if any.
CategorySet blocked_now(const CompiledPolicy& p, int64_t now, CategorySet probe, const CompiledSchedule** by) {
  CategorySet blocked = p.block;
  for (const auto& s : p.schedule) {
    if ((s.block.bits() & probe.bits() & ~p.block.bits()) == 0) continue;  // cannot change the outcome
    if (!s.active_at(now)) continue;
    blocked |= s.block;
    if (by && !*by) *by = &s;
  }
  return blocked;
}

// Category check of one name (shared by queries and chain members). `url_entries` (optional)
// learns whether the store has URL entries for the name, from the same read.
bool check_categories(const CompiledPolicy& p, std::span<const uint8_t> wire, CategoryReader* reader, int64_t now,
                      Verdict& v, bool* url_entries = nullptr) {
  if (!reader || (p.block.empty() && p.schedule.empty())) return false;
  Match m = reader->lookup_wire(wire);
  if (m.is_allowlisted()) return false;
  if (url_entries) *url_entries = m.has_url_entries;
  if (!m.found) return false;
  const CompiledSchedule* by = nullptr;
  CategorySet hit(blocked_now(p, now, m.categories, &by).bits() & m.categories.bits());
  if (hit.empty()) return false;
  v.kind = VerdictKind::block;
  v.categories = m.categories;
  v.category = pick_category(hit);
  const bool from_schedule = by && !p.block.contains(v.category);
  v.rule = from_schedule ? RuleKind::schedule : RuleKind::category;
  v.schedule = from_schedule ? by : nullptr;
  return true;
}

}  // namespace

bool Verdict::security() const {
  if (category == 0xFF) return false;
  const CategoryInfo* info = category_by_id(category);
  return info && info->group == CategoryGroup::kSecurity;
}

Verdict decide_query(const CompiledPolicy& policy, std::span<const uint8_t> wire, CategoryReader* reader,
                     int64_t now_utc) {
  Verdict v;
  if (const std::string* e = policy.allow.match(wire.data(), wire.size())) {
    v.rule = RuleKind::allow_list;
    v.list_entry = e;
    return v;
  }
  if (const std::string* e = policy.deny.match(wire.data(), wire.size())) {
    v.kind = VerdictKind::block;
    v.rule = RuleKind::deny_list;
    v.list_entry = e;
    return v;
  }
  bool url_entries = false;
  if (check_categories(policy, wire, reader, now_utc, v, &url_entries)) return v;
  // The host marker carries no categories of its URL entries (policy/store), so any URL entry
  // qualifies once the policy blocks something; sekisho-intercept judges each URL against the
  // tenant's blocked categories and forwards the rest.
  if (url_entries && policy.deep_inspection) {
    v.kind = VerdictKind::inspect;
    v.rule = RuleKind::none;
  }
  return v;
}

Verdict decide_chain(const CompiledPolicy& policy, std::span<const uint8_t> chain, CategoryReader* reader,
                     int64_t now_utc) {
  Verdict v;
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
    if (const std::string* e = policy.deny.match(name.data(), name.size())) {
      member.kind = VerdictKind::block;
      member.list_entry = e;
    } else if (!check_categories(policy, name, reader, now_utc, member)) {
      continue;
    }
    member.rule = RuleKind::cname;
    member.cname = name.data();
    member.cname_len = static_cast<uint8_t>(name.size());
    return member;
  }
  return v;
}

size_t describe_verdict(const Verdict& v, std::string_view tenant_id, char* out, size_t cap) {
  char name[256];
  size_t n = 0;
  const int tenant_len = static_cast<int>(tenant_id.size());
  const char* category = v.category != 0xFF && category_by_id(v.category) ? category_by_id(v.category)->slug.data() : "";
  const int category_len =
      v.category != 0xFF && category_by_id(v.category) ? static_cast<int>(category_by_id(v.category)->slug.size()) : 0;
  int w = 0;
  if (v.inspected()) {
    w = std::snprintf(out, cap, "inspect=url tenant=%.*s", tenant_len, tenant_id.data());
    return w < 0 ? 0 : std::min(static_cast<size_t>(w), cap == 0 ? 0 : cap - 1);
  }
  switch (v.rule) {
    case RuleKind::deny_list:
      w = std::snprintf(out, cap, "list=deny rule=%s tenant=%.*s", v.list_entry ? v.list_entry->c_str() : "", tenant_len,
                        tenant_id.data());
      break;
    case RuleKind::schedule:
      w = std::snprintf(out, cap, "category=%.*s schedule=\"%s\" tenant=%.*s", category_len, category,
                        v.schedule ? v.schedule->description.c_str() : "", tenant_len, tenant_id.data());
      break;
    case RuleKind::cname:
      n = dns::name_to_text(v.cname, v.cname_len, name, sizeof name - 1);
      name[n] = '\0';
      if (v.list_entry) {
        w = std::snprintf(out, cap, "list=deny rule=%s cname=%s tenant=%.*s", v.list_entry->c_str(), name, tenant_len,
                          tenant_id.data());
      } else {
        w = std::snprintf(out, cap, "category=%.*s cname=%s tenant=%.*s", category_len, category, name, tenant_len,
                          tenant_id.data());
      }
      break;
    default:
      w = std::snprintf(out, cap, "category=%.*s tenant=%.*s", category_len, category, tenant_len, tenant_id.data());
      break;
  }
  if (w < 0) return 0;
  return std::min(static_cast<size_t>(w), cap == 0 ? 0 : cap - 1);
}

}  // namespace sekisho::policy
