#include "daemon/daemon.h"

#include "admin/api/audit.h"
#include "admin/api/service.h"
#include "admin/tenant_files/fleet_documents.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/log.h"
#include "base/systemd.h"
#include "config/advice.h"
#include "config/fleet/follower.h"
#include "config/fleet/source.h"
#include "config/yaml/load.h"

namespace sekisho::daemon {

Daemon::Daemon(std::unique_ptr<config::ConfigSource> source, policy::Configuration first)
    : source_(std::move(source)), startup_(first.settings),
      engine_(std::move(first.settings), std::move(first.policies)) {
  if (const auto* fleet = dynamic_cast<const config::fleet::FleetSource*>(source_.get())) fleet_ = fleet->state();
}

Daemon::~Daemon() = default;

int Daemon::run() {
  log::info("server", "configuration", {{"source", source_->describe()}});
  for (const std::string& w : config::risky_settings(startup_)) log::warning("server", w);
  if (const auto* file = dynamic_cast<const config::YamlFileSource*>(source_.get())) {
    // A tenants.d write cut short by a crash leaves a hidden temporary file holding device
    // tokens, which no loader reads and nothing else would remove.
    const std::string dir = config::tenants_dir(file->path()).string();
    if (size_t n = base::remove_abandoned_temporaries(dir))
      log::info("server", "removed temporary files a crashed writer left", {{"directory", dir}, {"files", n}});
  }
  resolver::Engine::Hooks hooks;
  hooks.reload = [this] { reload_by_signal(); };
  hooks.started = [this] {
    start_admin_service();
    // The database is followed from its own thread once the loops serve: DNS never waits on it.
    if (fleet_)
      follower_ = std::make_unique<config::fleet::Follower>(fleet_, [this] {
        const uint64_t before = engine_.current()->generation;
        return reload() != before;
      });
  };
  hooks.stopping = [this] {
    follower_.reset();
    admin_.reset();
  };
  return engine_.run(std::move(hooks));
}

uint64_t Daemon::reload() {
  std::string outcome;
  return reload(outcome);
}

uint64_t Daemon::reload(std::string& outcome) {
  std::lock_guard lock(reload_mutex_);
  if (!source_->reloadable()) {
    log::warning("server", "reload ignored: running on embedded defaults, no file to read");
    outcome = "ignored: running on embedded defaults, no file to read";
    return engine_.current()->generation;
  }
  base::ReloadNotice notice;
  policy::Configuration loaded = policy::load_configuration(*source_);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) log::error("config", e.to_string());
    log::error("server", "reload failed, keeping the running configuration", {{"errors", loaded.errors.size()}});
    outcome = "refused: " + std::to_string(loaded.errors.size()) + " error(s) in the configuration (first: " +
              loaded.errors.front().to_string() + "); the running one stays";
    return engine_.current()->generation;
  }
  const size_t upstreams = loaded.settings.upstreams.size();
  const size_t tenants = loaded.policies->tenants.size();
  const uint64_t generation = engine_.publish(std::move(loaded.settings), std::move(loaded.policies));
  log::info("server", "configuration reloaded", {{"generation", generation}, {"upstreams", upstreams},
                                                 {"tenants", tenants}});
  notice.succeeded();
  outcome = "ok";
  return generation;
}

void Daemon::reload_by_signal() {
  const uint64_t before = engine_.current()->generation;
  std::string outcome;
  const uint64_t after = reload(outcome);
  // The log named by the configuration now in use (a reload may have moved it).
  admin::AuditLog audit;
  audit.set_path(engine_.current()->settings.admin.audit_log);
  const int64_t now_us = ClockReading::now().wall_us;
  // libuv's signal handling does not pass on the sender (si_pid, si_uid): the signal is the who.
  audit.record("SIGHUP", "signal", "reload", "", before, after == before ? nullptr : nlohmann::json(after), outcome,
               now_us);
}

// The admin service sees the engine only through ApiHost's functions and Engine::sample().
// Null when admin.listen and admin.metrics_listen are both empty; throws like Service().
void Daemon::start_admin_service() {
  if (startup_.admin.listen.empty() && startup_.admin.metrics_listen.empty()) return;
  admin::Service::Options o;
  o.settings = startup_.admin;
  // Changes through the API are written as tenants.d files, which only a YAML file source has;
  // on any other source the API's writes answer that there is no file to write.
  if (const auto* file = dynamic_cast<const config::YamlFileSource*>(source_.get())) o.host.config_path = file->path();
  // A fleet node writes tenants to the database instead (validated against the same main file).
  if (fleet_) {
    o.host.config_path = fleet_->main_config();
    o.host.documents = std::make_shared<config::FleetDocuments>(fleet_);
    o.fleet = fleet_;
  }
  o.host.live = [this] {
    const auto rt = engine_.current();
    admin::LiveConfig live;
    live.settings = std::shared_ptr<const config::Settings>(rt, &rt->settings);
    live.policies = rt->policies;
    live.generation = rt->generation;
    return live;
  };
  o.host.reload = [this] { return reload(); };
  o.host.store = engine_.category_store();
  o.host.querylog = engine_.querylog();
  o.host.querylog_directory = engine_.querylog_directory();
  o.host.stats_directory = admin::daily_stats_directory(engine_.querylog_directory());
  o.sample = [this] { return engine_.sample(); };
  admin_ = std::make_unique<admin::Service>(std::move(o));
}

}  // namespace sekisho::daemon
