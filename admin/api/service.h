// The admin service: its own thread and libuv loop inside sekishod, serving the API (api.h),
// the dashboard (admin/dashboard) and /metrics over HTTP/1.1 and HTTP/2 (net/http/server.h),
// HTTPS when admin.tls is set. Nothing here runs on the DNS loops: a slow request (a query-log
// search) delays other admin requests only.
//
// Routes: /healthz (no token), /api/v1/... (api.h), /metrics (operator token on the admin
// listener; no token on admin.metrics_listen, which serves nothing else), / and /assets/...
// (the dashboard's static files: they hold no data, every datum comes from the API with a token).
#pragma once

#include <memory>
#include <string>

#include "admin/api/api.h"
#include "admin/api/metrics.h"

namespace sekisho::admin {

class Service {
 public:
  struct Options {
    config::AdminSettings settings;
    ApiHost host;
    std::function<resolver::EngineSample()> sample;  // thread-safe; for /metrics
    std::shared_ptr<const config::fleet::FleetState> fleet;  // a fleet node's; null otherwise
  };

  // Binds every admin and metrics address and starts the thread. Throws std::runtime_error
  // naming the address (or the TLS file) when that fails.
  explicit Service(Options options);
  // Stops listening, closes connections and joins the thread.
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The dashboard file for a request path ("/" → index.html), or null. admin/dashboard/, embedded
// at build time.
struct Asset {
  std::string_view content_type;
  std::string_view body;
};
const Asset* dashboard_asset(std::string_view path);

}  // namespace sekisho::admin
