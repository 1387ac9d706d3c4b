#include "admin/cli/feed.h"

#include <cstdio>
#include <ctime>
#include <iostream>

#include "base/usage_error.h"
#include "feed/status.h"
#include "policy/configuration.h"

namespace sekisho::cli {
namespace {

std::string when(int64_t t) {
  if (t == 0) return "never";
  char buf[32];
  const time_t tt = static_cast<time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

int run_feed_status(const FeedArgs& args) {
  auto loaded = policy::load_configuration(args.config);
  for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
  if (!loaded.ok()) return 1;
  const auto& s = loaded.settings;
  const std::string dir = feed::state_directory(s);
  bool found = false, healthy = true;
  std::string json_out = "[";
  for (const auto& f : s.feeds) {
    if (!args.name.empty() && f.name != args.name) continue;
    found = true;
    std::optional<feed::FeedStatus> st;
    try {
      st = feed::read_status(feed::status_path(dir, f.name));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "sekisho feed status: %s\n", e.what());
    }
    if (!st) {
      healthy = false;
      feed::FeedStatus none;
      none.name = f.name;
      none.zone = f.zone;
      none.primary = f.primary;
      st = none;
    }
    healthy = healthy && st->last_result != "failed" && !st->expired && st->last_success != 0;
    if (args.json) {
      if (json_out.size() > 1) json_out += ",";
      json_out += feed::to_json(*st);
      continue;
    }
    std::cout << "feed " << f.name << " (" << st->kind << " " << f.zone << " from " << f.primary << ")\n"
              << "  last attempt:  " << when(st->last_attempt) << (st->last_result.empty() ? "" : " (" + st->last_result + ")")
              << "\n"
              << "  last success:  " << when(st->last_success) << "\n"
              << "  serial:        " << (st->serial ? std::to_string(*st->serial) : "-") << "\n"
              << "  entries:       " << st->entries << "\n";
    if (!st->last_transfer.empty()) std::cout << "  last transfer: " << st->last_transfer << "\n";
    if (st->refused_records)
      std::cout << "  refused:       " << st->refused_records << " records (first: " << st->first_refusal << ")\n";
    std::cout << "  last error:    " << (st->last_error.empty() ? "-" : st->last_error + " (" + when(st->last_error_time) + ")")
              << "\n"
              << "  failures:      " << st->consecutive_failures << " in a row, " << st->failures_total << " in all\n"
              << "  timers:        refresh " << st->refresh << " s, retry " << st->retry << " s, expire " << st->expire
              << " s; next attempt " << when(st->next_attempt) << "\n";
    if (st->expired)
      std::cout << "  EXPIRED:       no successful refresh within the SOA expire; the last data is still served\n";
  }
  if (!found)
    throw command_line::UsageError(args.name.empty() ? args.config + " configures no feeds"
                                                     : "no feed '" + args.name + "' in " + args.config);
  if (args.json) std::cout << json_out << "]\n";
  return healthy ? 0 : 1;
}

}  // namespace sekisho::cli
