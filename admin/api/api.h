// The admin API under /api/v1: a function from one HTTP request to one HTTP response, with no
// sockets, so every handler is unit-tested directly (tests/unit/admin/api_*_test.cc) and the
// service (service.h) only has to move bytes. One Api is used from one thread at a time (the
// admin loop), which serialises every change: read, validate, write, reload, audit.
//
// Roles: an operator token sees and changes everything; a tenant-admin token sees only its
// tenant. Anything of another tenant answers 404 exactly as if it did not exist, so a
// tenant-admin cannot even learn which tenant ids exist.
//
// Changes go to tenants.d/<tenant>.yaml through admin/tenant_files/tenant_file.h (validated with the
// real loader and compile_policies, written atomically, guarded by ETag / If-Match), then the
// server's reload path publishes them, so the next DNS query already sees them.
//
// Files: api.cc (auth, routing, reload), tenant_routes.cc (tenants, policies, devices),
// report_routes.cc (categories, check, query log, stats, store status, intercept traffic).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "admin/api/audit.h"
#include "admin/api/auth.h"
#include "admin/api/daily_stats.h"
#include "admin/api/querylog_search.h"
#include "admin/tenant_files/tenant_file.h"
#include "config/settings.h"
#include "policy/policy.h"
#include "policy/querylog/writer.h"
#include "policy/store/category_store.h"
#include "net/http/message.h"

namespace sekisho::admin {

// The configuration the DNS path uses right now.
struct LiveConfig {
  std::shared_ptr<const config::Settings> settings;
  std::shared_ptr<const policy::PolicySnapshot> policies;
  uint64_t generation = 0;
};

// What the API needs from the running server. Tests build it from real objects.
struct ApiHost {
  std::string config_path;                 // the main YAML file; tenants.d is beside it
  // Where tenants are written instead of tenants.d files (a fleet node's database); null: files.
  std::shared_ptr<config::TenantDocumentStore> documents;
  std::function<LiveConfig()> live;        // thread-safe
  // Re-reads the configuration and publishes it (the SIGHUP path). Returns the generation in
  // use afterwards; unchanged means the reload was refused (the server logged why).
  std::function<uint64_t()> reload;
  policy::CategoryStore* store = nullptr;  // null: no category store configured
  querylog::QueryLogWriter* querylog = nullptr;
  std::string querylog_directory;          // empty: no query-log files
  uint64_t querylog_max_lines_scanned = LogQuery::kDefaultMaxLinesScanned;  // per search page
  std::string stats_directory;             // daily totals (daily_stats.h); empty: memory only
  std::function<int64_t()> now_s;          // wall clock; empty = system clock
};

class Api {
 public:
  explicit Api(ApiHost host, Authenticator::Limits limits = {});
  ~Api();

  net::http::Response handle(const net::http::Request& request);

  // Checks a request's token for the service's own routes (e.g. /metrics on the admin
  // listener): nullptr and `denied` filled when it is not an operator's.
  bool operator_only(const net::http::Request& request, net::http::Response& denied);

  // Saves the tenants' daily totals (daily_stats.h). The service calls it from its loop every
  // few minutes and at shutdown, never while handling a request.
  void persist_daily_stats();

  static constexpr size_t kMaxBody = 64 * 1024;

 private:
  struct Context;
  net::http::Response route(Context& c);
  net::http::Response tenants(Context& c);
  net::http::Response tenant(Context& c, const std::string& id);
  net::http::Response create_tenant(Context& c);
  net::http::Response patch_tenant(Context& c, const std::string& id);
  net::http::Response delete_tenant(Context& c, const std::string& id);
  net::http::Response tenant_policy(Context& c, const std::string& id);
  net::http::Response put_tenant_policy(Context& c, const std::string& id);
  net::http::Response devices(Context& c, const std::string& id);
  net::http::Response add_device(Context& c, const std::string& id);
  net::http::Response revoke_device(Context& c, const std::string& id, const std::string& device);
  net::http::Response device_profile(Context& c, const std::string& id, const std::string& device);
  net::http::Response policies(Context& c);
  net::http::Response categories(Context& c);
  net::http::Response templates(Context& c);
  // A body's "template": the policy template it names (removed from the body), or nothing;
  // an unknown one is a 400.
  std::optional<config::PolicySettings> take_template(nlohmann::json& body);
  net::http::Response check(Context& c);
  net::http::Response querylog(Context& c);
  net::http::Response stats(Context& c);
  net::http::Response store_status(Context& c);
  net::http::Response intercept_traffic(Context& c);
  net::http::Response feeds(Context& c);
  net::http::Response reload(Context& c);
  // After a tenant file was written: publish it and record who changed what.
  void apply_change(Context& c, const std::string& what, const std::string& tenant, const nlohmann::json& before,
                    const nlohmann::json& after);
  int64_t now_s() const;

  ApiHost host_;
  Authenticator auth_;
  AuditLog audit_;
  std::string audit_path_;
  DailyStats daily_;
  uint32_t sources_dbi_ = 0;
  bool sources_dbi_open_ = false;
};

}  // namespace sekisho::admin
