// feed/service.cc — sekisho-feed's loop: timers, NOTIFY, transfers, status (see service.h).
#include "feed/service.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <ctime>
#include <filesystem>
#include <stdexcept>

#include "base/log.h"
#include "base/text.h"
#include "config/schema.h"
#include "feed/notify.h"

namespace sekisho::feed {

namespace {
constexpr uint32_t kRetryBeforeFirstSoa = 60;  // seconds, until a SOA tells us its retry
int64_t unix_now() { return static_cast<int64_t>(std::time(nullptr)); }
}  // namespace

struct FeedService::Feed {
  config::FeedSettings settings;
  net::SocketAddress primary;
  std::optional<TsigKey> key;
  std::unique_ptr<RpzApplier> applier;
  policy::CategorySet block;  // the feed's categories
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
    std::string why;
    auto primary = net::parse_socket_address(fs.primary, 53, why);
    if (!primary) problem(at + ": primary '" + fs.primary + "': " + why);
    else f->primary = *primary;
    for (const auto& slug : fs.categories) {
      if (const auto* c = registry_->by_slug(slug)) f->block.add(c->id);
      else problem(at + ": unknown category '" + slug + "'");
    }
    try {
      f->key = load_tsig_key(fs.tsig);
    } catch (const XfrError& e) {
      problem(at + ": " + e.what());
    }
    f->status.name = fs.name;
    f->status.kind = std::string(config::name_of(fs.kind));
    f->status.zone = fs.zone;
    f->status.primary = fs.primary;
    try {
      if (auto old = read_status(status_path(state_dir_, fs.name))) {
        // What a restart must not forget: when it last worked (expiry counts from there) and the timers.
        f->status.last_success = old->last_success;
        f->status.failures_total = old->failures_total;
        f->status.refresh = old->refresh;
        f->status.retry = old->retry;
        f->status.expire = old->expire;
        f->status.expired = old->expired;
      }
    } catch (const std::exception& e) {
      log::warning("feed", "status file unreadable; starting afresh", {{"feed", fs.name}, {"error", e.what()}});
    }
    feeds_.push_back(std::move(f));
  }
  if (!problems.empty()) throw std::runtime_error(problems);
  std::error_code ec;
  std::filesystem::create_directories(state_dir_, ec);
  if (ec) throw std::runtime_error("feed state directory " + state_dir_ + ": " + ec.message());
  writer_ = std::make_unique<policy::StoreWriter>(settings.category_db, *registry_);
  for (auto& f : feeds_) {
    f->applier = std::make_unique<RpzApplier>(*writer_, f->settings.name, f->settings.zone, f->block);
    if (auto s = f->applier->stored()) {
      f->status.entries = s->domain_entries;
      f->status.serial = parse_serial_version(s->version);
      if (f->status.last_success == 0) f->status.last_success = s->updated;
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
  try {
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
    const uint64_t transfer_ms = elapsed_ms();
    std::string desc;
    ApplyReport total;
    if (r.kind == XfrResult::Kind::up_to_date) {
      desc = "up-to-date at serial " + std::to_string(r.soa.serial);
    } else if (r.kind == XfrResult::Kind::axfr) {
      total = f.applier->apply_axfr(r, f.settings.limits.max_entries, guard_);
      desc = "axfr serial " + std::to_string(r.soa.serial) + ": " + std::to_string(total.records) + " records, " +
             std::to_string(total.keys_changed) + " keys changed";
    } else {
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
    f.status.last_success = now;
    f.status.last_result = kind_name(r.kind);
    if (r.kind != XfrResult::Kind::up_to_date) {
      f.status.last_transfer = desc;
      f.status.refused_records = total.refused;
      f.status.first_refusal = total.first_refusal;
    }
    f.status.consecutive_failures = 0;
    f.status.last_error.clear();
    if (auto s = f.applier->stored()) {
      f.status.entries = s->domain_entries;
      f.status.serial = parse_serial_version(s->version);
    }
    f.next = now + std::max<uint32_t>(f.status.refresh, 1);
    f.status.last_duration_ms = elapsed_ms();
    log::info("feed", "refreshed", {{"feed", f.settings.name}, {"trigger", why}, {"result", f.status.last_result},
                                     {"ms", f.status.last_duration_ms}, {"transfer_ms", transfer_ms},
                                     {"bytes", r.bytes}, {"messages", r.messages},
                                           {"serial", f.status.serial ? std::to_string(*f.status.serial) : "-"},
                                           {"entries", f.status.entries}, {"detail", desc}});
    if (total.refused)
      log::warning("feed", "records that map to no entry were left out",
                         {{"feed", f.settings.name}, {"refused", total.refused}, {"first", total.first_refusal}});
  } catch (const std::exception& e) {
    f.status.last_result = "failed";
    f.status.last_error = e.what();
    f.status.last_error_time = now;
    ++f.status.consecutive_failures;
    ++f.status.failures_total;
    f.next = now + (f.status.retry ? f.status.retry : kRetryBeforeFirstSoa);
    f.status.last_duration_ms = elapsed_ms();
    log::error("feed", "refresh failed; the previous data stays",
                     {{"feed", f.settings.name}, {"trigger", why}, {"error", e.what()}});
  }
  f.status.next_attempt = f.next;
  check_expiry(f, now);
  save(f);
}

int FeedService::run_once() {
  int failed = 0;
  for (auto& f : feeds_) {
    refresh(*f, "once");
    failed += f->status.last_result == "failed";
  }
  return failed;
}

void FeedService::run(volatile std::sig_atomic_t& stop, const std::function<void()>& ready) {
  const NotifySockets sockets = open_notify_sockets(notify_listen_);
  std::vector<NotifyTarget> targets;
  for (auto& f : feeds_) {
    std::string zone = base::ascii_lower(f->settings.zone);
    if (zone.back() != '.') zone += '.';
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
      if (f->next <= now && !stop) refresh(*f, f->next == 0 ? "start" : "timer");
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
