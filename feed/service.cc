// feed/service.cc — sekisho-feed's loop: timers, NOTIFY, transfers, status (see service.h).
#include "feed/service.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <ctime>
#include <stdexcept>

#include "base/file.h"
#include "base/log.h"
#include "base/text.h"
#include "config/schema.h"
#include "feed/notify.h"
#include "policy/import/public_suffix.h"

namespace sekisho::feed {

namespace {
constexpr uint32_t kRetryBeforeFirstSoa = 60;  // seconds, until a SOA tells us its retry
// An http feed's refresh when none is set: with conditional GETs an unchanged list costs one
// 304 an hour (AdGuard Home and Pi-hole check daily; threat lists change hourly).
constexpr uint32_t kDefaultListRefresh = 3600;
int64_t unix_now() { return static_cast<int64_t>(std::time(nullptr)); }
}  // namespace

struct FeedService::Feed {
  config::FeedSettings settings;
  net::SocketAddress primary;
  std::optional<TsigKey> key;
  std::unique_ptr<RpzApplier> applier;  // rpz-xfr
  std::unique_ptr<ListFeed> list;       // http
  policy::CategorySet block;  // the feed's categories
  FeedGuard guard;
  FeedStatus status;
  int64_t next = 0;  // unix time of the next timed attempt
};

FeedService::FeedService(const config::Settings& settings)
    : notify_listen_(settings.feed_service.notify_listen), state_dir_(state_directory(settings)) {
  std::string problems;
  auto problem = [&](const std::string& text) { problems += (problems.empty() ? "" : "\n") + text; };
  registry_ = std::make_unique<policy::CategoryRegistry>(settings.categories);
  if (settings.feeds.empty()) problem(settings.source + ": no feeds configured (feeds:)");
  if (settings.category_db.empty()) problem(settings.source + ": category_db is not set");
  for (size_t i = 0; i < settings.feeds.size(); ++i) {
    const config::FeedSettings& fs = settings.feeds[i];
    const std::string at = "feeds[" + std::to_string(i) + "] (" + fs.name + ")";
    auto f = std::make_unique<Feed>();
    f->settings = fs;
    if (fs.kind == config::FeedKind::rpz_xfr) {
      std::string why;
      auto primary = net::parse_socket_address(fs.primary, 53, why);
      if (!primary) problem(at + ": primary '" + fs.primary + "': " + why);
      else f->primary = *primary;
      try {
        f->key = load_tsig_key(fs.tsig);
      } catch (const XfrError& e) {
        problem(at + ": " + e.what());
      }
    }
    for (const auto& slug : fs.categories) {
      if (const auto* c = registry_->by_slug(slug)) f->block.add(c->id);
      else problem(at + ": unknown category '" + slug + "'");
    }
    f->guard.limits.max_removed_share = fs.limits.allow_shrink ? 1.0 : fs.limits.max_shrink / 100.0;
    if (!fs.allow_public_suffixes) {
      try {
        f->guard.public_suffixes = &policy::PublicSuffixList::system();
      } catch (const std::exception& e) {
        problem(at + ": " + e.what());
      }
    }
    try {
      // A restart forgets nothing: the last success (expiry counts from there), the timers, the
      // failures in a row (the back-off goes on), the validators (it still asks conditionally).
      if (auto old = read_status(status_path(state_dir_, fs.name))) f->status = std::move(*old);
    } catch (const std::exception& e) {
      log::warning("feed", "status file unreadable; starting afresh", {{"feed", fs.name}, {"error", e.what()}});
    }
    describe(f->status, fs);
    feeds_.push_back(std::move(f));
  }
  if (!problems.empty()) throw std::runtime_error(problems);
  if (const std::string error = base::make_directories(state_dir_); !error.empty())
    throw std::runtime_error("feed state directory: " + error);
  writer_ = std::make_unique<policy::StoreWriter>(settings.category_db, *registry_);
  for (auto& f : feeds_) {
    std::optional<policy::SourceInfo> s;
    if (f->settings.kind == config::FeedKind::http) {
      f->list = std::make_unique<ListFeed>(*writer_, *registry_, f->settings, f->block, f->guard);
      s = f->list->stored();
    } else {
      f->applier = std::make_unique<RpzApplier>(*writer_, f->settings.name, f->settings.zone, f->block, f->guard);
      s = f->applier->stored();
      if (s) f->status.serial = parse_serial_version(s->version);
    }
    if (s) {
      f->status.entries = s->domain_entries + s->url_entries;
      if (f->status.last_success == 0) f->status.last_success = s->updated;
    } else {  // the store no longer holds the source (rebuilt): what the file said is gone
      f->status.entries = 0;
      f->status.serial.reset();
    }
  }
}

FeedService::~FeedService() = default;

void FeedService::save(Feed& f) {
  if (std::string err = write_status(status_path(state_dir_, f.settings.name), f.status); !err.empty())
    log::warning("feed", "cannot write the status file", {{"feed", f.settings.name}, {"error", err}});
}

void FeedService::check_expiry(Feed& f, int64_t now) {
  // RFC 1035 §3.3.13: past EXPIRE without a refresh a secondary stops answering for the zone.
  // A filter that dropped its block list would let through what it blocked, so we keep the
  // last data and raise the alert instead.
  const bool expired = f.status.expire != 0 && f.status.last_success != 0 &&
                       now > f.status.last_success + static_cast<int64_t>(f.status.expire);
  if (expired == f.status.expired) return;
  f.status.expired = expired;
  if (expired)
    log::error("feed", "feed expired: no successful refresh within the SOA expire; serving its last data",
                     {{"feed", f.settings.name},
                      {"last_success", f.status.last_success},
                      {"expire", f.status.expire},
                      {"serial", f.status.serial ? std::to_string(*f.status.serial) : std::string("-")}});
  save(f);
}

void FeedService::refresh(Feed& f, const char* why) {
  const int64_t now = unix_now();
  const auto started = std::chrono::steady_clock::now();
  auto elapsed_ms = [&] {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
  };
  f.status.last_attempt = now;
  f.status.last_trigger = why;
  auto failed = [&](const char* result, const std::string& error) {
    f.status.last_result = result;
    f.status.last_error = error;
    f.status.last_error_time = now;
    ++f.status.consecutive_failures;
    ++f.status.failures_total;
    if (f.list) {
      const uint32_t refresh = f.settings.refresh ? f.settings.refresh : kDefaultListRefresh;
      f.next = now + backoff_seconds(f.settings.retry, f.status.consecutive_failures, std::max(refresh, f.settings.retry),
                                     random_.next());
    } else {
      f.next = now + (f.status.retry ? f.status.retry : kRetryBeforeFirstSoa);
    }
    f.status.last_duration_ms = elapsed_ms();
  };
  try {
    if (f.list) refresh_list(f, why, now);
    else refresh_rpz(f, why, now);
    f.status.last_success = now;
    f.status.consecutive_failures = 0;
    f.status.last_error.clear();
    f.status.last_duration_ms = elapsed_ms();
  } catch (const policy::UpdateRefused& e) {
    // The update guard: nothing was written, the source keeps its data (and serial).
    f.status.last_refusal = std::string(policy::refusal_name(e.reason())) + ": " + e.what();
    f.status.last_refusal_time = now;
    ++f.status.refusals_total;
    failed("refused", std::string("refused (") + std::string(policy::refusal_name(e.reason())) + "): " + e.what());
    log::error("feed", "update refused; the previous data stays",
               {{"feed", f.settings.name}, {"trigger", why}, {"reason", policy::refusal_name(e.reason())},
                {"error", e.what()}});
  } catch (const std::exception& e) {
    failed("failed", e.what());
    log::error("feed", "refresh failed; the previous data stays",
               {{"feed", f.settings.name}, {"trigger", why}, {"error", e.what()},
                {"next_attempt_in_s", f.next - now}});
  }
  f.status.next_attempt = f.next;
  check_expiry(f, now);
  save(f);
}

void FeedService::refresh_list(Feed& f, const char* why, int64_t now) {
  const ListOutcome out = f.list->refresh(f.status.etag, f.status.last_modified);
  f.status.etag = out.etag;
  f.status.last_modified = out.last_modified;
  f.status.last_result = out.not_modified ? "not-modified" : "downloaded";
  if (!out.not_modified) {
    f.status.last_transfer = out.detail;
    f.status.refused_records = out.refused_lines;
    f.status.first_refusal = out.first_refused;
  }
  if (auto s = f.list->stored()) f.status.entries = s->domain_entries + s->url_entries;
  f.status.refresh = f.settings.refresh ? f.settings.refresh : kDefaultListRefresh;
  f.status.retry = f.settings.retry;
  f.next = now + f.status.refresh;
  log::info("feed", "refreshed", {{"feed", f.settings.name}, {"trigger", why}, {"result", f.status.last_result},
                                   {"entries", f.status.entries}, {"detail", out.detail}});
  if (out.refused_lines)
    log::warning("feed", "lines that map to no entry were left out",
                 {{"feed", f.settings.name}, {"refused", out.refused_lines}, {"first", out.first_refused}});
}

void FeedService::refresh_rpz(Feed& f, const char* why, int64_t now) {
  const auto started = std::chrono::steady_clock::now();
  const std::optional<uint32_t> have = f.applier->stored_serial();
  XfrRequest req;
  req.primary = f.primary;
  req.zone = f.settings.zone;
  req.key = f.key ? &*f.key : nullptr;
  req.have_serial = have;
  req.timeout_ms = f.settings.timeout_ms;
  req.max_bytes = f.settings.limits.max_transfer_bytes;
  XfrResult r;
  try {
    r = transfer(req, f.applier->sink());
  } catch (const XfrError& e) {
    if (!e.refused_ixfr()) throw;
    // RFC 1995 §4: a primary that cannot serve the delta; the whole zone then.
    log::info("feed", "IXFR refused; asking for AXFR", {{"feed", f.settings.name}, {"reason", e.what()}});
    req.have_serial.reset();
    r = transfer(req, f.applier->sink());
  }
  const uint64_t transfer_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
  std::string desc;
  ApplyReport total;
  if (r.kind == XfrResult::Kind::up_to_date) {
    desc = "up-to-date at serial " + std::to_string(r.soa.serial);
  } else if (r.kind == XfrResult::Kind::axfr) {
    total = f.applier->apply_axfr(r, f.settings.limits.max_entries);
    desc = "axfr serial " + std::to_string(r.soa.serial) + ": " + std::to_string(total.records) + " records, " +
           std::to_string(total.keys_changed) + " keys changed";
  } else {
    // The guard sees the whole IXFR before its first serial is written: a refusal keeps the
    // serial we hold, not one half way.
    f.applier->check_ixfr(r);
    uint32_t at = *have;
    for (size_t i = 0; i < r.diffs.size(); ++i) {
      const XfrDiff& d = r.diffs[i];
      if (d.from != at)
        throw XfrError("IXFR diff from serial " + std::to_string(d.from) + " while the store is at " + std::to_string(at));
      ApplyReport one = f.applier->apply_diff(r, i);  // one write transaction per serial
      total.records += one.records;
      total.refused += one.refused;
      total.keys_changed += one.keys_changed;
      if (total.first_refusal.empty()) total.first_refusal = one.first_refusal;
      at = d.to;
    }
    desc = "ixfr " + std::to_string(*have) + " -> " + std::to_string(at) + ": " + std::to_string(r.diffs.size()) +
           " diffs, " + std::to_string(total.records) + " records, " + std::to_string(total.keys_changed) +
           " keys changed";
  }
  const SoaTimers& soa = r.soa;
  f.status.refresh = f.settings.refresh ? f.settings.refresh : soa.refresh;
  f.status.retry = soa.retry;
  f.status.expire = soa.expire;
  f.status.last_result = kind_name(r.kind);
  if (r.kind != XfrResult::Kind::up_to_date) {
    f.status.last_transfer = desc;
    f.status.refused_records = total.refused;
    f.status.first_refusal = total.first_refusal;
  }
  if (auto s = f.applier->stored()) {
    f.status.entries = s->domain_entries;
    f.status.serial = parse_serial_version(s->version);
  }
  f.next = now + std::max<uint32_t>(f.status.refresh, 1);
  log::info("feed", "refreshed", {{"feed", f.settings.name}, {"trigger", why}, {"result", f.status.last_result},
                                   {"ms", static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::steady_clock::now() - started).count())},
                                   {"transfer_ms", transfer_ms}, {"bytes", r.bytes}, {"messages", r.messages},
                                   {"serial", f.status.serial ? std::to_string(*f.status.serial) : "-"},
                                   {"entries", f.status.entries}, {"detail", desc}});
  if (total.refused)
    log::warning("feed", "records that map to no entry were left out",
                 {{"feed", f.settings.name}, {"refused", total.refused}, {"first", total.first_refusal}});
}

int FeedService::run_once() {
  int failed = 0;
  for (auto& f : feeds_) {
    refresh(*f, "once");
    failed += f->status.last_result == "failed" || f->status.last_result == "refused";
  }
  return failed;
}

void FeedService::run(volatile std::sig_atomic_t& stop, const std::function<void()>& ready) {
  const NotifySockets sockets = open_notify_sockets(notify_listen_);
  std::vector<NotifyTarget> targets;
  for (auto& f : feeds_) {
    // An http feed holds a target no NOTIFY matches (no zone), so indexes stay the feeds'.
    std::string zone = base::ascii_lower(f->settings.zone);
    if (!zone.empty() && zone.back() != '.') zone += '.';
    targets.push_back(NotifyTarget{zone, f->primary, f->key ? &*f->key : nullptr});
  }
  if (ready) ready();
  std::vector<pollfd> pfds;
  for (int fd : sockets.udp) pfds.push_back(pollfd{fd, POLLIN, 0});
  const size_t first_tcp = pfds.size();
  for (int fd : sockets.tcp) pfds.push_back(pollfd{fd, POLLIN, 0});
  while (!stop) {
    int64_t now = unix_now();
    for (auto& f : feeds_)
      if (f->next <= now && !stop)
        refresh(*f, f->next == 0 ? "start" : f->status.consecutive_failures ? "retry" : "timer");
    now = unix_now();
    int64_t wait_s = 1;  // at least once a second: expiry, and the stop flag
    for (auto& f : feeds_) wait_s = std::min(wait_s, std::max<int64_t>(f->next - now, 0));
    for (auto& p : pfds) p.revents = 0;
    int n = ::poll(pfds.data(), pfds.size(), static_cast<int>(wait_s * 1000));
    if (n < 0 && errno != EINTR) throw std::runtime_error(base::errno_text("poll", errno));
    for (size_t k = 0; k < pfds.size(); ++k) {
      if (!(pfds[k].revents & POLLIN)) continue;
      std::string why;
      auto i = k < first_tcp ? handle_notify_udp(pfds[k].fd, targets, why) : handle_notify_tcp(pfds[k].fd, targets, why);
      if (i) {
        log::info("feed", "NOTIFY from the primary; refreshing", {{"feed", feeds_[*i]->settings.name}});
        refresh(*feeds_[*i], "notify");
      } else if (!why.empty()) {
        log::warning("feed", "NOTIFY refused", {{"reason", why}});
      }
    }
    now = unix_now();
    for (auto& f : feeds_) check_expiry(*f, now);
  }
  for (int fd : sockets.udp) ::close(fd);
  for (int fd : sockets.tcp) ::close(fd);
}

}  // namespace sekisho::feed
