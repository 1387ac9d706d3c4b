#include "resolver/engine.h"

#include <netinet/in.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "base/clock.h"
#include "base/log.h"
#include "base/systemd.h"
#include "resolver/worker.h"

namespace sekisho::resolver {
namespace {

// A socket of `type` bound to `addr` with SO_REUSEPORT, so every loop gets its own socket
// and the kernel spreads clients across them.
int bind_socket(const net::SocketAddress& addr, int type) {
  int fd = ::socket(addr.family(), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (addr.family() == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (type == SOCK_DGRAM) {
    // Room for bursts while the loop is busy with a batch.
    int size = 4 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  if (::bind(fd, addr.get(), addr.length) != 0) {
    int err = errno;
    ::close(fd);
    throw std::runtime_error("cannot bind " + std::string(type == SOCK_DGRAM ? "udp " : "tcp ") + addr.to_string() +
                             ": " + std::strerror(err));
  }
  return fd;
}

net::SocketAddress bound_address(int fd) {
  net::SocketAddress out;
  out.length = sizeof out.storage;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&out.storage), &out.length);
  return out;
}

// Query-log files go to querylog.directory, else $STATE_DIRECTORY/querylog (systemd's
// StateDirectory); with neither, only statistics are kept.
std::string querylog_directory_of(const config::QueryLogSettings& s) {
  if (!s.enabled) return {};
  if (!s.directory.empty()) return s.directory;
  return base::state_directory("querylog");
}

std::vector<uint32_t> tenant_max_devices(const policy::PolicySnapshot& p) {
  std::vector<uint32_t> out;
  for (const auto& t : p.tenants) out.push_back(t.max_devices);
  return out;
}

// The exit line's fields: every count of the lists in counters.h, by field name (a
// PerTransport's as udp_<field>, …; the forwarder's prefixed forwarder_), then the query log's.
class ExitTotals {
 public:
  void operator()(const CounterInfo& c, uint64_t v) { add(std::string(prefix_) + std::string(c.field), v); }
  void operator()(const CounterInfo& c, const Sampled<PerTransport>::value_type& v) {
    for (size_t t = 0; t < v.size(); ++t) add(std::string(kTransportLabels[t]) + "_" + std::string(c.field), v[t]);
  }
  // Its count is the answers counted above; the distribution is for /metrics.
  void operator()(const CounterInfo&, const HistogramSample&) {}
  void set_prefix(std::string_view prefix) { prefix_ = prefix; }
  void add(std::string key, uint64_t value) { totals_.emplace_back(std::move(key), value); }
  void log() const {
    std::vector<log::Field> fields;  // views of totals_' keys
    for (const auto& [key, value] : totals_) fields.emplace_back(key, value);
    log::write_fields(log::Level::info, "server", "stopped", fields);
  }

 private:
  std::string_view prefix_;
  std::vector<std::pair<std::string, uint64_t>> totals_;
};

void log_stopped(const EngineSample& s) {
  ExitTotals totals;
  visit_loop_counters(s, totals);
  if (s.store_configured) visit_store_counters(s, totals);
  totals.set_prefix("forwarder_");
  visit_forwarder_counters(s.forwarder, totals);
  totals.add("querylog_written", s.querylog_written);
  totals.add("querylog_dropped", s.querylog_dropped_ring + s.querylog_dropped_io);
  totals.log();
}

unsigned thread_count(unsigned configured) {
  if (configured != 0) return configured;
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

}  // namespace

Engine::Engine(config::Settings settings, std::shared_ptr<const policy::PolicySnapshot> policies)
    : initial_(settings) {
  cache_ = std::make_unique<cache::Cache>(initial_.cache.max_entries, initial_.cache.serve_stale);
  if (!initial_.category_db.empty()) {
    try {
      // The ids the store holds must mean what this configuration's categories say.
      store_ = policy::CategoryStore::open(initial_.category_db, {.registry = policies->categories.get()});
    } catch (const std::exception& e) {
      throw std::runtime_error("category store " + initial_.category_db + ": " + e.what() +
                               " (create it with: sekisho db import --db " + initial_.category_db + " ...)");
    }
    log::info("server", "category store opened", {{"path", initial_.category_db},
                                                   {"generation", store_->current_generation()}});
  }
  querylog::QueryLogWriter::Options log_options;
  querylog_directory_ = querylog_directory_of(initial_.querylog);
  log_options.directory = querylog_directory_;
  log_options.write_files = !log_options.directory.empty();
  querylog_ = std::make_unique<querylog::QueryLogWriter>(std::move(log_options));
  std::string tls_error;
  if (!load_tls(initial_, tls_error)) throw std::runtime_error(tls_error);
  install(std::move(settings), std::move(policies));
  uv_loop_init(&control_);
  uv_async_init(&control_, &stop_, [](uv_async_t* a) { static_cast<Engine*>(a->data)->begin_shutdown(); });
  stop_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&stop_));
}

// DoH and DoT need a certificate; plain DNS does not, so without those listeners none is read.
bool Engine::load_tls(const config::Settings& s, std::string& error) {
  if (s.server.doh_listen.empty() && s.server.dot_listen.empty()) return true;
  if (s.server.tls.cert.empty() || s.server.tls.key.empty()) {
    error = "server.tls.cert and server.tls.key are required when server.listen.doh or server.listen.dot is set";
    return false;
  }
  if (!tls_.reload(s.server.tls.cert, s.server.tls.key, error)) return false;
  log::info("server", "TLS certificate loaded", {{"certificate", tls_.current()->description()}});
  return true;
}

Engine::~Engine() {
  workers_.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&stop_), nullptr);
  uv_run(&control_, UV_RUN_DEFAULT);
  uv_loop_close(&control_);
}

void Engine::stop() { uv_async_send(&stop_); }

uint64_t Engine::install(config::Settings settings, std::shared_ptr<const policy::PolicySnapshot> policies) {
  std::lock_guard lock(runtime_mutex_);
  const uint64_t gen = generation_.load() + 1;
  querylog_->set_tenant_names(policies->tenant_ids(), tenant_max_devices(*policies));
  querylog_->add_category_registry(gen, policies->categories);
  runtime_ = std::make_shared<const Runtime>(std::move(settings), std::move(policies), gen);
  generation_.store(gen, std::memory_order_release);
  return gen;
}

std::shared_ptr<const Runtime> Engine::current() const {
  std::lock_guard lock(runtime_mutex_);
  return runtime_;
}

std::shared_ptr<const Runtime> Engine::runtime_if_changed(uint64_t& seen) {
  if (generation_.load(std::memory_order_acquire) == seen) return nullptr;
  std::lock_guard lock(runtime_mutex_);
  seen = runtime_->generation;
  return runtime_;
}

void Engine::bind_sockets() {
  const unsigned threads = thread_count(initial_.server.threads);
  for (unsigned i = 0; i < threads; ++i) {
    workers_.push_back(std::make_unique<Worker>(*this, i));
    workers_.back()->set_querylog_ring(querylog_->add_ring(), !querylog_directory_.empty());
  }
  for (net::SocketAddress addr : initial_.server.dns_listen) {
    // Port 0 asks the kernel for a port; every later socket for this address reuses it so
    // UDP and TCP, and all loops, share one port.
    int first = bind_socket(addr, SOCK_DGRAM);
    addr = bound_address(first);
    workers_[0]->add_udp_socket(first);
    for (unsigned i = 1; i < threads; ++i) workers_[i]->add_udp_socket(bind_socket(addr, SOCK_DGRAM));
    for (unsigned i = 0; i < threads; ++i) {
      int fd = bind_socket(addr, SOCK_STREAM);
      workers_[i]->add_tcp_socket(fd);
    }
    log::info("server", "listening", {{"transport", "udp+tcp"}, {"address", addr.to_string()}, {"threads", threads}});
  }
  // DoT and DoH: one SO_REUSEPORT socket per loop, like TCP.
  for (const auto& [list, transport] : {std::pair{&initial_.server.dot_listen, "dot"}, std::pair{&initial_.server.doh_listen, "doh"}}) {
    for (net::SocketAddress addr : *list) {
      int first = bind_socket(addr, SOCK_STREAM);
      addr = bound_address(first);
      for (unsigned i = 0; i < threads; ++i) {
        int fd = i == 0 ? first : bind_socket(addr, SOCK_STREAM);
        if (std::string_view(transport) == "dot") workers_[i]->add_dot_socket(fd);
        else workers_[i]->add_doh_socket(fd);
      }
      log::info("server", "listening", {{"transport", transport}, {"address", addr.to_string()}, {"threads", threads}});
    }
  }
}

// Each loop's share of the descriptors (RLIMIT_NOFILE) for upstream UDP sockets, which every
// uncached query's attempt holds until its answer or timeout: what is left after the descriptors
// open now, the client connections the settings allow (TCP and DoT share max_connections; DoH
// allows as many per loop), the upstream TCP pools, and a reserve for the admin service, the
// query log and reloads. A flood of uncached names then gets SERVFAIL from the forwarder
// (counted, logged) instead of taking the descriptors accept() and the files need. The soft
// limit is first raised to the hard one, as Unbound and nginx do for their own needs.
void Engine::share_descriptors() {
  constexpr uint64_t kReserve = 64;
  constexpr uint32_t kFloor = 16;
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  if (rl.rlim_cur == RLIM_INFINITY) return;
  uint64_t open_now = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec))
    ++open_now;
  const config::Settings& s = initial_;
  const uint64_t threads = workers_.size();
  const uint64_t clients = uint64_t{s.server.tcp.max_connections} * (s.server.doh_listen.empty() ? 1 : 1 + threads);
  const uint64_t pools = threads * s.upstreams.size() * s.forwarding.tcp_connections_per_upstream;
  const uint64_t reserved = open_now + clients + pools + kReserve;
  const uint64_t left = rl.rlim_cur > reserved ? rl.rlim_cur - reserved : 0;
  const uint32_t share = static_cast<uint32_t>(std::clamp<uint64_t>(left / std::max<uint64_t>(threads, 1), kFloor, UINT32_MAX));
  for (auto& w : workers_) w->forwarder().set_descriptor_share(share);
  const uint32_t effective = std::min(share, s.forwarding.max_upstream_sockets);
  if (left / std::max<uint64_t>(threads, 1) < kFloor)
    log::warning("server", "the descriptor limit leaves too few for upstream sockets; raise LimitNOFILE or lower server.tcp.max_connections",
                 {{"descriptor_limit", static_cast<uint64_t>(rl.rlim_cur)}, {"reserved", reserved}, {"upstream_sockets_per_thread", effective}});
  else
    log::info("server", "upstream sockets", {{"per_thread", effective}, {"descriptor_limit", static_cast<uint64_t>(rl.rlim_cur)},
                                             {"max_upstream_sockets", s.forwarding.max_upstream_sockets}});
}

int Engine::run(Hooks hooks) {
  hooks_ = std::move(hooks);
  bind_sockets();
  share_descriptors();
  // Before any thread starts, so that what the composition root starts here (the admin
  // service) failing to bind fails start-up like a bad DNS address.
  if (hooks_.started) hooks_.started();

  querylog_->start();
  for (auto& w : workers_) w->start();

  uv_signal_init(&control_, &sighup_);
  uv_signal_init(&control_, &sigterm_);
  uv_signal_init(&control_, &sigint_);
  sighup_.data = sigterm_.data = sigint_.data = this;
  uv_signal_start(&sighup_, [](uv_signal_t* s, int) {
    auto* e = static_cast<Engine*>(s->data);
    if (e->hooks_.reload) e->hooks_.reload();
  }, SIGHUP);
  uv_signal_start(&sigterm_, [](uv_signal_t* s, int) { static_cast<Engine*>(s->data)->begin_shutdown(); }, SIGTERM);
  uv_signal_start(&sigint_, [](uv_signal_t* s, int) { static_cast<Engine*>(s->data)->begin_shutdown(); }, SIGINT);

  uv_timer_init(&control_, &watchdog_);
  watchdog_.data = this;
  if (sd_watchdog_enabled(0, &watchdog_usec_) > 0 && watchdog_usec_ > 0) {
    const uint64_t every_ms = std::max<uint64_t>(watchdog_usec_ / 2000, 1);
    uv_timer_start(&watchdog_, [](uv_timer_t* t) { static_cast<Engine*>(t->data)->watchdog_tick(); }, every_ms, every_ms);
  }

  sd_notifyf(0, "READY=1\nSTATUS=serving on %zu address(es) with %zu thread(s)\nMAINPID=%lu",
             initial_.server.dns_listen.size(), workers_.size(), static_cast<unsigned long>(getpid()));
  log::info("server", "ready");

  uv_run(&control_, UV_RUN_DEFAULT);

  for (auto& w : workers_) w->join();
  querylog_->stop();  // after the loops: everything they recorded is written
  log_stopped(sample());
  return 0;
}

void Engine::announce(uint64_t loops, const Announcement& announcement) {
  for (size_t i = 0; i < workers_.size() && i < 64; ++i) {
    if (!((loops >> i) & 1)) continue;
    Announcement copy = announcement;
    workers_[i]->post(std::move(copy));
  }
}

uint64_t Engine::publish(config::Settings s, std::shared_ptr<const policy::PolicySnapshot> policies) {
  std::lock_guard publish_lock(publish_mutex_);
  bool listen_same = s.server.dns_listen.size() == initial_.server.dns_listen.size();
  for (size_t i = 0; listen_same && i < s.server.dns_listen.size(); ++i)
    listen_same = s.server.dns_listen[i] == initial_.server.dns_listen[i];
  if (!listen_same || s.server.threads != initial_.server.threads)
    log::warning("server", "server.listen and server.threads change only on restart");
  if (s.cache.max_entries != initial_.cache.max_entries)
    log::warning("server", "cache.max_entries changes only on restart");
  if (s.category_db != initial_.category_db) log::warning("server", "category_db changes only on restart");
  if (s.server.doh_listen != initial_.server.doh_listen || s.server.dot_listen != initial_.server.dot_listen)
    log::warning("server", "server.listen.doh and server.listen.dot change only on restart");
  // A certificate that fails to load leaves the running one in place; new connections keep
  // getting it, and the reason is logged so the files can be fixed and SIGHUP sent again.
  std::string tls_error;
  if (!load_tls(s, tls_error))
    log::error("server", "TLS certificate reload failed, keeping the running certificate", {{"error", tls_error}});
  cache_->set_serve_stale(s.cache.serve_stale);
  log::set_level(s.log_level);
  return install(std::move(s), std::move(policies));
}

void Engine::begin_shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  sd_notify(0, "STOPPING=1");
  if (hooks_.stopping) hooks_.stopping();
  log::info("server", "draining", {{"timeout_ms", initial_.server.drain_timeout_ms}});
  for (auto& w : workers_) w->request_drain();
  uv_close(reinterpret_cast<uv_handle_t*>(&sighup_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&watchdog_), nullptr);
}

void Engine::watchdog_tick() {
  // Ping only while every loop is turning: a wedged loop must get us restarted.
  const uint64_t now = monotonic_ms();
  const uint64_t limit_ms = watchdog_usec_ / 1000;
  for (auto& w : workers_) {
    if (now - w->heartbeat_ms() > limit_ms / 2) {
      log::error("server", "worker loop not responding; withholding watchdog ping", {{"worker", w->index()}});
      return;
    }
  }
  sd_notify(0, "WATCHDOG=1");
}

}  // namespace sekisho::resolver
