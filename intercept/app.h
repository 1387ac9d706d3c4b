// The sekisho-intercept process: one libuv loop serving the block page (HTTP and HTTPS) through
// net/http, certificates chosen per SNI from the tenant's CA (certs/), SIGHUP reload of
// the same YAML sekishod reads, SIGTERM shutdown, sd_notify readiness and watchdog.
// A block page needs little throughput, so one thread; the category store is read through one
// CategoryReader owned by that thread.
#pragma once

#include <uv.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "policy/configuration.h"
#include "certs/leaf_minter.h"
#include "intercept/client_rate.h"
#include "intercept/forward.h"
#include "intercept/service.h"
#include "intercept/status.h"
#include "policy/store/category_store.h"
#include "net/http/server.h"
#include "net/tls/context.h"

namespace sekisho::intercept {

class App {
 public:
  // Throws std::runtime_error with context when the store, a CA, or a listener cannot be set up.
  App(policy::Configuration configuration, std::string config_path);
  ~App();
  int run();

 private:
  // Which CA signs for which tenant: <ca_dir>/<tenant> when it exists, else <ca_dir>/default.
  struct Minters {
    std::map<std::string, std::shared_ptr<certs::LeafMinter>> by_dir;
    std::vector<certs::LeafMinter*> by_tenant;  // index = tenant index; null: no CA, no HTTPS
  };

  void apply(const policy::Configuration& c);
  std::shared_ptr<Minters> build_minters(const policy::Configuration& c, const Minters* previous);
  void handle(std::shared_ptr<net::http::Exchange> exchange);
  bool select_certificate(SSL* ssl, std::string_view sni, const net::SocketAddress& peer);
  void reload();
  void shutdown();
  void set_bandwidth_limits(const policy::Configuration& c);
  void write_status();  // the status file sekishod's admin API reads (status.h)

  std::string config_path_;
  config::InterceptSettings settings_;  // listeners and limits: fixed until restart
  uv_loop_t loop_{};
  uv_signal_t sighup_{}, sigterm_{}, sigint_{};
  uv_timer_t watchdog_{}, status_timer_{};
  std::unique_ptr<policy::CategoryStore> store_;
  std::unique_ptr<policy::CategoryReader> reader_;
  Service service_;
  std::shared_ptr<Minters> minters_;
  net::tls::ContextSlot tls_;
  std::unique_ptr<net::http::Server> http_;
  std::unique_ptr<Forwarder> forwarder_;  // allowed URLs of deep-check hosts
  InterceptCounters counters_;
  ClientRate mint_rate_;                  // new leaves per client (intercept.limits)
  uint64_t mint_refusals_unlogged_ = 0;   // refusals since the last log line about them
  uint64_t mint_refusal_logged_ms_ = 0;
  std::string status_dir_;                // empty: no status file
  int64_t started_ = 0;
  bool stopping_ = false;
};

}  // namespace sekisho::intercept
