#include "intercept/app.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <stdexcept>

#include "certs/ca.h"
#include "base/clock.h"
#include "base/file.h"
#include "base/log.h"
#include "base/systemd.h"

namespace sekisho::intercept {
namespace {

int64_t now_us() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

// Minted leaves: cert_cache_dir, else $STATE_DIRECTORY/certs (systemd), else the packaged path.
std::string cert_cache_root(const config::InterceptSettings& s) {
  if (!s.cert_cache_dir.empty()) return s.cert_cache_dir;
  if (std::string state = base::state_directory("certs"); !state.empty()) return state;
  return "/var/lib/sekisho-intercept/certs";
}

}  // namespace

App::App(policy::Configuration c, std::string config_path)
    : config_path_(std::move(config_path)),
      settings_(c.settings.intercept),
      mint_rate_(c.settings.intercept.limits.mints_per_second_per_client,
                 c.settings.intercept.limits.mint_burst_per_client),
      status_dir_(status_directory(c.settings)),
      started_(static_cast<int64_t>(std::time(nullptr))) {
  if (settings_.http_listen.empty() && settings_.https_listen.empty())
    throw std::runtime_error(config_path_ + ": intercept.listen has neither http nor https addresses");
  if (!c.settings.category_db.empty()) {
    // Throws StoreError with the path, also when the store's ids mean other categories.
    store_ = policy::CategoryStore::open(c.settings.category_db, {.registry = c.policies->categories.get()});
    reader_ = std::make_unique<policy::CategoryReader>(*store_);
  }
  uv_loop_init(&loop_);
  apply(c);
  net::http::Limits limits;
  limits.max_header_bytes = settings_.max_header_bytes;
  limits.max_body_bytes = settings_.max_body_bytes;
  limits.header_timeout_ms = settings_.header_timeout_ms;
  limits.idle_timeout_ms = settings_.idle_timeout_ms;
  limits.streaming = true;  // forwarded bodies flow through, never held whole (forward.h)
  ForwardOptions fo;
  fo.upstreams = c.settings.upstreams;
  fo.forwarding = c.settings.forwarding;
  fo.allow_private = settings_.allow_private;
  fo.origin_ca_file = settings_.origin_ca_file;
  fo.https_port = settings_.origin_https_port;
  fo.http_port = settings_.origin_http_port;
  fo.timeout_ms = settings_.origin_timeout_ms;
  fo.idle_ms = settings_.idle_timeout_ms;
  fo.max_header_bytes = settings_.max_header_bytes;
  forwarder_ = std::make_unique<Forwarder>(&loop_, fo, counters_);
  set_bandwidth_limits(c);
  if (!status_dir_.empty()) {
    if (const std::string error = base::make_directories(status_dir_); !error.empty())
      log::warning("intercept", "cannot create the status directory", {{"dir", status_dir_}, {"error", error}});
  }
  http_ = std::make_unique<net::http::Server>(&loop_, [this](auto ex) { handle(std::move(ex)); }, limits);
  std::string error;
  for (const auto& a : settings_.http_listen)
    if (!http_->listen(a, nullptr, error)) throw std::runtime_error("intercept.listen.http " + a.to_string() + ": " + error);
  if (!settings_.https_listen.empty()) {
    auto ctx = net::tls::ServerContext::with_selector(
        [this](SSL* ssl, std::string_view sni, const net::SocketAddress& peer) {
          return select_certificate(ssl, sni, peer);
        },
        error);
    if (!ctx) throw std::runtime_error("intercept TLS context: " + error);
    tls_.set(std::move(ctx));
    for (const auto& a : settings_.https_listen)
      if (!http_->listen(a, &tls_, error))
        throw std::runtime_error("intercept.listen.https " + a.to_string() + ": " + error);
  }
}

App::~App() {
  http_.reset();
  forwarder_.reset();
  uv_run(&loop_, UV_RUN_NOWAIT);  // let closed handles finish
  uv_loop_close(&loop_);
}

std::shared_ptr<App::Minters> App::build_minters(const policy::Configuration& c, const Minters* previous) {
  auto m = std::make_shared<Minters>();
  if (settings_.https_listen.empty()) {
    m->by_tenant.assign(c.policies->tenants.size(), nullptr);
    return m;
  }
  namespace fs = std::filesystem;
  const std::string ca_dir = c.settings.intercept.ca_dir;
  for (const auto& tenant : c.policies->tenants) {
    std::error_code ec;
    std::string dir = certs::ca_directory(ca_dir, tenant.id);
    if (!fs::exists(fs::path(dir) / certs::kCaCertFile, ec)) dir = certs::ca_directory(ca_dir, "");
    auto it = m->by_dir.find(dir);
    if (it == m->by_dir.end()) {
      std::shared_ptr<certs::LeafMinter> minter;
      if (previous) {  // keep the in-memory leaves across a reload when the CA is the same
        auto old = previous->by_dir.find(dir);
        if (old != previous->by_dir.end()) minter = old->second;
      }
      if (!minter && fs::exists(fs::path(dir) / certs::kCaCertFile, ec)) {
        try {
          std::shared_ptr<const certs::CertificateAuthority> ca = certs::CertificateAuthority::load(dir);
          certs::MinterOptions o;
          o.validity_seconds = c.settings.intercept.leaf_validity_hours * 3600;
          o.max_entries = c.settings.intercept.cert_cache_entries;
          o.max_disk_entries = c.settings.intercept.limits.cert_cache_disk_entries;
          o.max_disk_bytes = c.settings.intercept.limits.cert_cache_disk_bytes;
          o.cache_dir = cert_cache_root(c.settings.intercept) + "/" + fs::path(dir).filename().string();
          minter = std::make_shared<certs::LeafMinter>(std::move(ca), o);
          log::info("intercept", "CA loaded", {{"dir", dir}});
        } catch (const certs::CertError& e) {
          log::error("intercept", "CA unusable; its tenants get no HTTPS block page", {{"error", e.what()}});
        }
      }
      it = m->by_dir.emplace(dir, minter).first;
    }
    if (!it->second) log::warning("intercept", "no CA for tenant; HTTPS is refused for it", {{"tenant", tenant.id}, {"dir", dir}});
    m->by_tenant.push_back(it->second.get());
  }
  return m;
}

void App::apply(const policy::Configuration& c) {
  auto minters = build_minters(c, minters_.get());
  auto state = std::make_shared<State>();
  state->policies = c.policies;
  std::vector<std::string> warnings;
  state->templates = Templates::load(c.settings.intercept.template_dir, c.policies->tenant_ids(), warnings);
  for (const auto& w : warnings) log::warning("intercept", "block-page template", {{"error", w}});
  for (auto* m : minters->by_tenant) state->inspection.push_back(m != nullptr);
  minters_ = std::move(minters);
  service_.set_state(std::move(state));
}

bool App::select_certificate(SSL* ssl, std::string_view sni, const net::SocketAddress& peer) {
  const std::optional<size_t> tenant = service_.admit_sni(peer, sni, reader_.get(), now_us());
  if (!tenant) {
    ++counters_.tls_refused_name;
    log::info("intercept", "TLS refused: name not blocked or inspected for this client",
              {{"peer", peer.to_string()}, {"sni", std::string(sni)}});
    return false;
  }
  // apply() publishes the minters and the service state together on this loop, in the same
  // tenant order, so the index holds for both.
  certs::LeafMinter* minter = *tenant < minters_->by_tenant.size() ? minters_->by_tenant[*tenant] : nullptr;
  if (!minter) {
    ++counters_.tls_refused_name;
    return false;
  }
  // A leaf in memory or on disk is served whatever the client's rate; a new one only within it.
  const uint64_t now_ms = monotonic_ms();
  auto may_mint = [&] {
    if (mint_rate_.take(peer, now_ms)) {
      ++counters_.leaf_minted;
      return true;
    }
    return false;
  };
  try {
    std::shared_ptr<const certs::Leaf> leaf = minter->get(sni, may_mint);
    if (!leaf) {
      ++counters_.tls_refused_mint_rate;
      // One line per 10 s at most: a flood of names must not become a flood of log lines.
      ++mint_refusals_unlogged_;
      if (mint_refusal_logged_ms_ == 0 || now_ms - mint_refusal_logged_ms_ >= 10000) {
        log::warning("intercept", "TLS refused: client over its certificate mint rate",
                     {{"peer", peer.to_string()}, {"sni", std::string(sni)}, {"refused", mint_refusals_unlogged_},
                      {"mints_per_second_per_client", settings_.limits.mints_per_second_per_client}});
        mint_refusal_logged_ms_ = now_ms;
        mint_refusals_unlogged_ = 0;
      }
      return false;
    }
    return SSL_use_certificate(ssl, leaf->cert.get()) == 1 && SSL_use_PrivateKey(ssl, leaf->key.get()) == 1;
  } catch (const certs::CertError& e) {
    log::warning("intercept", "cannot mint a certificate", {{"sni", std::string(sni)}, {"error", e.what()}});
    return false;
  }
}

void App::handle(std::shared_ptr<net::http::Exchange> exchange) {
  const net::http::Request& req = exchange->request();
  ++counters_.requests;
  Decision d;
  net::http::Response res = service_.handle(req, reader_.get(), now_us(), &d);
  if (d.kind == Decision::inspect_allowed) {
    log::info("intercept", "request", {{"peer", req.peer.to_string()}, {"tls", req.tls ? "yes" : "no"},
                                       {"sni", req.server_name}, {"host", d.host}, {"method", req.method},
                                       {"path", req.path}, {"status", "forwarding"}});
    const std::shared_ptr<const State> state = service_.state();
    std::string tenant_id = d.tenant < state->policies->tenants.size() ? state->policies->tenants[d.tenant].id : "";
    return forwarder_->forward(std::move(exchange), d.host, req.tls, std::move(tenant_id));
  }
  std::string_view incident;
  for (const auto& h : res.headers)
    if (h.name == "x-sekisho-incident") incident = h.value;
  // Every intercepted request is logged (issue 6: safety).
  log::info("intercept", "request",
            {{"peer", req.peer.to_string()}, {"tls", req.tls ? "yes" : "no"}, {"sni", req.server_name},
             {"host", std::string(req.header("host"))}, {"method", req.method}, {"path", req.path},
             {"status", res.status}, {"incident", std::string(incident)}});
  exchange->respond(std::move(res));
}

void App::reload() {
  base::ReloadNotice notice;
  auto c = policy::load_configuration(config_path_);
  if (!c.ok()) {
    for (const auto& e : c.errors) log::error("config", e.to_string());
    log::error("intercept", "reload failed; previous configuration in use", {{"errors", c.errors.size()}});
    return;
  }
  log::set_level(c.settings.log_level);
  apply(c);
  set_bandwidth_limits(c);
  log::info("intercept", "configuration reloaded", {{"tenants", c.policies->tenants.size()}});
  notice.succeeded();
}

void App::set_bandwidth_limits(const policy::Configuration& c) {
  std::map<std::string, uint64_t> limits;
  for (const auto& t : c.settings.tenants) limits[t.id] = t.intercept_bandwidth;
  forwarder_->traffic().set_limits(std::move(limits), c.settings.intercept.limits.tenant_bytes_per_second,
                                   monotonic_ms());
}

void App::write_status() {
  if (status_dir_.empty() || !forwarder_) return;
  InterceptStatus s;
  s.time = static_cast<int64_t>(std::time(nullptr));
  s.started = started_;
  counters_.leaf_files = counters_.leaf_file_bytes = counters_.leaf_files_deleted = 0;
  for (const auto& [dir, minter] : minters_->by_dir) {
    if (!minter) continue;
    const certs::LeafMinter::Stats st = minter->stats();
    counters_.leaf_files += st.disk_files;
    counters_.leaf_file_bytes += st.disk_bytes;
    counters_.leaf_files_deleted += st.disk_deleted;
  }
  s.counters = counters_;
  s.tenants = forwarder_->traffic().report();
  base::AtomicWrite how;
  how.mode = 0644;  // sekishod reads it through the shared directory (status.h)
  if (std::string error = base::write_file_atomically(status_path(status_dir_), to_json(s), how); !error.empty())
    log::warning("intercept", "cannot write the status file", {{"error", error}});
}

void App::shutdown() {
  if (stopping_) return;
  stopping_ = true;
  sd_notify(0, "STOPPING=1");
  http_->close();
  write_status();      // the last counts
  forwarder_.reset();  // pooled origin connections close; lookups in progress are dropped
  uv_close(reinterpret_cast<uv_handle_t*>(&status_timer_), nullptr);
  for (uv_signal_t* s : {&sighup_, &sigterm_, &sigint_}) uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&watchdog_), nullptr);
}

int App::run() {
  for (uv_signal_t* s : {&sighup_, &sigterm_, &sigint_}) {
    uv_signal_init(&loop_, s);
    s->data = this;
  }
  uv_signal_start(&sighup_, [](uv_signal_t* s, int) { static_cast<App*>(s->data)->reload(); }, SIGHUP);
  uv_signal_start(&sigterm_, [](uv_signal_t* s, int) { static_cast<App*>(s->data)->shutdown(); }, SIGTERM);
  uv_signal_start(&sigint_, [](uv_signal_t* s, int) { static_cast<App*>(s->data)->shutdown(); }, SIGINT);
  uv_timer_init(&loop_, &watchdog_);
  uint64_t watchdog_usec = 0;
  if (sd_watchdog_enabled(0, &watchdog_usec) > 0) {
    watchdog_.data = this;
    const uint64_t every_ms = watchdog_usec / 2000;
    uv_timer_start(&watchdog_, [](uv_timer_t*) { sd_notify(0, "WATCHDOG=1"); }, every_ms, every_ms);
  }
  uv_timer_init(&loop_, &status_timer_);
  status_timer_.data = this;
  if (!status_dir_.empty()) {
    write_status();
    const uint64_t every = settings_.limits.status_interval_ms;
    uv_timer_start(&status_timer_, [](uv_timer_t* t) { static_cast<App*>(t->data)->write_status(); }, every, every);
  }
  sd_notifyf(0, "READY=1\nSTATUS=serving block pages on %zu address(es)\nMAINPID=%lu",
             settings_.http_listen.size() + settings_.https_listen.size(), static_cast<unsigned long>(getpid()));
  log::info("intercept", "serving", {{"http", settings_.http_listen.size()}, {"https", settings_.https_listen.size()}});
  uv_run(&loop_, UV_RUN_DEFAULT);
  log::info("intercept", "stopped");
  return 0;
}

}  // namespace sekisho::intercept
