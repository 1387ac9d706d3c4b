// Stage 3, decide: what a tenant's policy says about one name, in the documented order:
//   allow list → deny list → categories blocked now (levels block and unblock + active
//   schedules) → read_only categories (steered to the intercept) → monitor categories →
//   deep inspection (policy deep_inspection, the store marks the host "has URL entries") → resolve.
// A policy in mode monitor turns every block and steer into monitor (README "Levels").
// And for answers: the CNAME chain's names go through the same deny/category checks, which
// defeats CNAME cloaking. Pure functions over the immutable snapshot and a store reader:
// no allocation, no locks, no exceptions.
#pragma once

#include <cstdint>
#include <span>

#include "policy/policy.h"
#include "policy/rule_kind.h"
#include "policy/store/category_store.h"

namespace sekisho::policy {

// inspect: the name is answered with the intercept address (the block-page address, where
// sekisho-intercept listens) so that each URL is checked there; nothing is blocked yet.
// monitor: resolved as if allowed, recorded as `monitored` with what would have decided.
enum class VerdictKind : uint8_t { resolve, block, inspect, monitor };

struct Verdict {
  VerdictKind kind = VerdictKind::resolve;
  RuleKind rule = RuleKind::none;
  uint16_t category = kNoCategory;      // the category that decided (category, schedule, cname)
  // The deciding category's level: block or unblock for a block, read_only for a read-only
  // steer (an inspect verdict), monitor for a monitored one; the level enforce would have
  // applied under mode monitor. allow otherwise (lists, deep inspection).
  Level level = Level::allow;
  CategorySet categories;               // every category the store gave the deciding name
  const std::string* list_entry = nullptr;       // allow/deny pattern that matched
  const CompiledSchedule* schedule = nullptr;    // schedule window that blocked
  const uint8_t* cname = nullptr;       // chain name that was blocked (wire, inside the answer's chain)
  uint8_t cname_len = 0;
  // The registry the policy was compiled with, which names `category` and gives its group
  // (decide_* set it; null: the built-ins).
  const CategoryRegistry* registry = nullptr;

  bool blocked() const { return kind == VerdictKind::block; }
  bool inspected() const { return kind == VerdictKind::inspect; }
  bool monitored() const { return kind == VerdictKind::monitor; }
  bool read_only() const { return kind == VerdictKind::inspect && level == Level::read_only; }
  // RFC 8914: security categories are the operator's protection (15 Blocked); content
  // categories and deny lists are the tenant's own choice (17 Filtered).
  bool security() const;
  const CategoryRegistry& category_registry() const { return registry ? *registry : CategoryRegistry::builtins(); }
};

// `reader` may be null (no category store configured). `wire` is the lowercased qname.
Verdict decide_query(const CompiledPolicy& policy, std::span<const uint8_t> wire, CategoryReader* reader,
                     int64_t now_utc);

// `chain` holds concatenated lowercased wire names (CNAME targets in answer order).
Verdict decide_chain(const CompiledPolicy& policy, std::span<const uint8_t> chain, CategoryReader* reader,
                     int64_t now_utc);

// Writes the EDE EXTRA-TEXT for a blocked or inspected verdict, e.g. "category=gambling tenant=acme",
// "inspect=url tenant=acme". The block page shows the same text, so page and DNS agree.
// Returns the length (truncated to cap).
size_t describe_verdict(const Verdict& v, std::string_view tenant_id, char* out, size_t cap);

}  // namespace sekisho::policy
