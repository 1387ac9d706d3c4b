// Which rule decided what happens to a name. Verdicts carry it (policy/decide.h), and so do the
// query log's records (policy/querylog/record.h); safe_search is the rewrite the engine makes
// for a policy with safe search (policy/safe_search.h), which decide_query never returns.
#pragma once

#include <cstdint>

namespace sekisho::policy {

enum class RuleKind : uint8_t { none, category, schedule, deny_list, allow_list, cname, safe_search };

}  // namespace sekisho::policy
