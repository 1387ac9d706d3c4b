#include "admin/api/service.h"

#include <future>
#include <stdexcept>
#include <thread>

#include "base/log.h"
#include "net/http/server.h"
#include "net/tls/context.h"

namespace sekisho::admin {

struct Service::State {
  static constexpr uint64_t kPersistEveryMs = 5 * 60 * 1000;
  Options options;
  std::unique_ptr<Api> api;
  uv_loop_t loop{};
  uv_async_t stop{};
  uv_timer_t persist{};  // daily statistics to disk (Api::persist_daily_stats)
  std::unique_ptr<net::http::Server> admin_http;
  std::unique_ptr<net::http::Server> metrics_http;
  net::tls::ContextSlot tls;
  std::thread thread;

  void serve_admin(const std::shared_ptr<net::http::Exchange>& ex);
  void serve_metrics(const std::shared_ptr<net::http::Exchange>& ex);
  net::http::Response metrics_response();
  // Runs on the loop thread: binds, then reports "" or the first error to start().
  void run(std::promise<std::string>& started);
};

namespace {

net::http::Response text(int status, std::string body) {
  net::http::Response r;
  r.status = status;
  r.set("content-type", "application/json; charset=utf-8");
  r.body = std::move(body);
  return r;
}

}  // namespace

net::http::Response Service::State::metrics_response() {
  net::http::Response r;
  r.set("content-type", "text/plain; version=0.0.4; charset=utf-8");
  r.set("cache-control", "no-store");
  r.body = render_metrics(options.sample ? options.sample() : resolver::EngineSample{});
  if (options.fleet) r.body += render_fleet_metrics(options.fleet->status());
  if (options.host.live) {
    const LiveConfig live = options.host.live();
    if (live.settings) {
      r.body += render_feed_metrics(feed::read_statuses(*live.settings));
      // sekisho-intercept's counters, when it has written its status file (intercept/status.h).
      if (const std::string dir = intercept::status_directory(*live.settings); !dir.empty()) {
        try {
          if (auto st = intercept::read_status(intercept::status_path(dir))) r.body += render_intercept_metrics(*st);
        } catch (const std::exception&) {
          // unreadable: no intercept series in this scrape
        }
      }
    }
  }
  return r;
}

void Service::State::serve_admin(const std::shared_ptr<net::http::Exchange>& ex) {
  const net::http::Request& req = ex->request();
  if (req.path == "/metrics") {
    net::http::Response denied;
    ex->respond(api->operator_only(req, denied) ? metrics_response() : std::move(denied));
    return;
  }
  if (req.method == "GET" || req.method == "HEAD") {
    if (const Asset* a = dashboard_asset(req.path)) {
      net::http::Response r;
      r.set("content-type", std::string(a->content_type));
      r.set("cache-control", "no-cache");
      // The dashboard loads nothing from elsewhere; say so to the browser.
      r.set("content-security-policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'");
      r.set("x-content-type-options", "nosniff");
      r.set("x-frame-options", "DENY");
      r.body = std::string(a->body);
      ex->respond(std::move(r));
      return;
    }
  }
  ex->respond(api->handle(req));
}

void Service::State::serve_metrics(const std::shared_ptr<net::http::Exchange>& ex) {
  const net::http::Request& req = ex->request();
  if (req.path == "/metrics" && (req.method == "GET" || req.method == "HEAD")) return ex->respond(metrics_response());
  if (req.path == "/healthz") return ex->respond(text(200, "{\"status\":\"ok\"}"));
  ex->respond(text(404, "{\"error\":\"this listener serves /metrics only\",\"field\":\"\"}"));
}

void Service::State::run(std::promise<std::string>& started) {
  std::string error;
  const auto& s = options.settings;
  net::http::Limits limits;
  limits.max_body_bytes = Api::kMaxBody;
  limits.max_connections = 256;
  admin_http = std::make_unique<net::http::Server>(&loop, [this](std::shared_ptr<net::http::Exchange> ex) { serve_admin(ex); }, limits);
  metrics_http = std::make_unique<net::http::Server>(&loop, [this](std::shared_ptr<net::http::Exchange> ex) { serve_metrics(ex); }, limits);
  const bool https = !s.tls.cert.empty();
  if (https && !tls.reload(s.tls.cert, s.tls.key, error)) error = "admin.tls: " + error;
  for (const auto& addr : s.listen) {
    if (!error.empty()) break;
    std::string why;
    auto bound = admin_http->listen(addr, https ? &tls : nullptr, why);
    if (!bound) error = "admin.listen " + addr.to_string() + ": " + why;
    else log::info("admin", "listening", {{"address", bound->to_string()}, {"scheme", https ? "https" : "http"}});
  }
  for (const auto& addr : s.metrics_listen) {
    if (!error.empty()) break;
    std::string why;
    auto bound = metrics_http->listen(addr, nullptr, why);
    if (!bound) error = "admin.metrics_listen " + addr.to_string() + ": " + why;
    else log::info("admin", "metrics listening", {{"address", bound->to_string()}});
  }
  // Every 5 minutes: a crash loses at most that much of today's totals; a clean stop saves all.
  persist.data = this;
  uv_timer_init(&loop, &persist);
  uv_timer_start(&persist, [](uv_timer_t* t) { static_cast<State*>(t->data)->api->persist_daily_stats(); },
                 kPersistEveryMs, kPersistEveryMs);
  stop.data = this;
  uv_async_init(&loop, &stop, [](uv_async_t* a) {
    auto* self = static_cast<State*>(a->data);
    self->api->persist_daily_stats();
    uv_close(reinterpret_cast<uv_handle_t*>(&self->persist), nullptr);
    self->admin_http->close();
    self->metrics_http->close();
    uv_close(reinterpret_cast<uv_handle_t*>(&self->stop), nullptr);
  });
  const bool ok = error.empty();
  started.set_value(error);
  if (!ok) {
    uv_close(reinterpret_cast<uv_handle_t*>(&persist), nullptr);
    admin_http->close();
    metrics_http->close();
    uv_close(reinterpret_cast<uv_handle_t*>(&stop), nullptr);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  admin_http.reset();
  metrics_http.reset();
  uv_run(&loop, UV_RUN_NOWAIT);  // close callbacks of whatever the servers released
}

Service::Service(Options options) : state_(std::make_unique<State>()) {
  state_->options = std::move(options);
  state_->api = std::make_unique<Api>(state_->options.host);
  uv_loop_init(&state_->loop);
  std::promise<std::string> started;
  auto result = started.get_future();
  state_->thread = std::thread([this, &started] { state_->run(started); });
  const std::string error = result.get();
  if (!error.empty()) {
    state_->thread.join();
    uv_loop_close(&state_->loop);
    throw std::runtime_error(error);
  }
}

Service::~Service() {
  if (state_->thread.joinable()) {
    uv_async_send(&state_->stop);
    state_->thread.join();
  }
  uv_loop_close(&state_->loop);
}

}  // namespace sekisho::admin
