// The read-only routes: categories, check (the DNS path's decision), query-log search, stats,
// the category store's status and sekisho-intercept's traffic.
#include <lmdb.h>

#include <algorithm>
#include <charconv>

#include "admin/api/api_internal.h"
#include "admin/api/json_body.h"
#include "admin/api/querylog_search.h"
#include "base/text.h"
#include "config/schema.h"
#include "policy/decide.h"
#include "policy/domain_list.h"
#include "policy/import/idna.h"
#include "policy/querylog/format.h"
#include "policy/safe_search.h"
#include "feed/status.h"
#include "policy/store/schema.h"
#include "policy/store/store_writer.h"
#include "dns/wire.h"
#include "intercept/status.h"

namespace sekisho::admin {

using nlohmann::json;
using net::http::Request;
using net::http::Response;

// The live configuration's categories (the built-ins and those its categories file adds) and
// the groups they belong to, each listing its categories: what `block` and `block_groups` take.
Response Api::categories(Context& c) {
  const policy::CategoryRegistry& registry = *c.live.policies->categories;
  json list = json::array();
  for (const auto& info : registry.all())
    list.push_back({{"id", info.id}, {"slug", info.slug}, {"en", info.name_en}, {"ja", info.name_ja},
                    {"kind", config::category_kind_name(info.kind)}, {"group", registry.group_of(info).slug}});
  json groups = json::array();
  for (const auto& g : config::category_groups()) {
    json members = json::array();
    registry.members(g.id).for_each([&](uint8_t id) { members.push_back(registry.by_id(id)->slug); });
    groups.push_back({{"slug", g.slug}, {"en", g.name_en}, {"ja", g.name_ja}, {"kind", config::category_kind_name(g.kind)},
                      {"categories", members}});
  }
  return json_response(200, {{"categories", list}, {"groups", groups}});
}

Response Api::check(Context& c) {
  const std::string id = param(c.request, "tenant");
  const std::string raw = param(c.request, "name");
  if (id.empty()) throw ApiError(400, "which tenant? (check?tenant=ID&name=NAME)", "tenant");
  if (raw.empty()) throw ApiError(400, "which name? (check?tenant=ID&name=NAME)", "name");
  if (!c.who.may_see(id)) return error_response(404, "no tenant '" + id + "'");
  const auto& snap = *c.live.policies;
  auto t = std::find_if(snap.tenants.begin(), snap.tenants.end(), [&](const policy::Tenant& x) { return x.id == id; });
  if (t == snap.tenants.end()) return error_response(404, "no tenant '" + id + "'");
  std::string name, why;
  if (!policy::normalize_name(raw, name, why)) throw ApiError(400, "'" + raw + "' is not a domain name: " + why, "name");
  // Wire form, as the DNS path sees a lowercased question name.
  const std::string wire_name = policy::to_wire(name);
  const std::span<const uint8_t> wire(reinterpret_cast<const uint8_t*>(wire_name.data()), wire_name.size());
  const policy::CompiledPolicy& p = snap.policies[t->policy];
  std::unique_ptr<policy::CategoryReader> reader;
  if (host_.store) {
    reader = std::make_unique<policy::CategoryReader>(*host_.store);
    if (!reader->begin_batch()) reader.reset();
  }
  const policy::Verdict v = policy::decide_query(p, wire, reader.get(), now_s());
  json j = {{"tenant", id}, {"name", name}, {"policy", p.name}};
  static constexpr const char* kRules[] = {"none", "category", "schedule", "deny_list", "allow_list", "cname"};
  j["verdict"] = v.blocked()     ? "block"
                 : v.read_only() ? "read_only"
                 : v.inspected() ? "inspect"
                 : v.monitored() ? "monitor"
                                 : "resolve";
  j["rule"] = kRules[static_cast<int>(v.rule)];
  if (v.level != policy::Level::allow) j["level"] = policy::level_name(v.level);
  json cats = json::array();
  const policy::CategoryRegistry& registry = v.category_registry();
  for (const auto& info : registry.all())
    if (v.categories.contains(info.id)) cats.push_back(info.slug);
  j["categories"] = cats;
  if (const auto* info = registry.by_id(v.category)) j["category"] = info->slug;
  if (v.list_entry) j["list_entry"] = *v.list_entry;
  if (v.schedule) j["schedule"] = v.schedule->description;
  if (v.blocked() || v.inspected() || v.monitored()) {
    char text[256];
    const size_t n = policy::describe_verdict(v, id, text, sizeof text);
    j["detail"] = std::string(text, n);
  }
  if (v.blocked()) {
    j["action"] = config::name_of(p.action);
    j["ede"] = v.security() ? 15 : 17;
  } else if (v.inspected()) {
    j["ede"] = 4;
  } else if (!v.monitored() && p.safe_search && v.rule != policy::RuleKind::allow_list) {
    auto target = policy::safe_search_target(wire);
    if (!target.empty()) {
      char text[256];
      const size_t n = dns::name_to_text(target.data(), target.size(), text, sizeof text - 1);
      j["verdict"] = "rewrite";
      j["rule"] = "safe_search";
      j["detail"] = std::string(text, n);
    }
  }
  if (reader) {
    j["store_generation"] = reader->generation();
    reader->end_batch();
  }
  return json_response(200, j);
}

Response Api::querylog(Context& c) {
  LogQuery q;
  q.tenant = param(c.request, "tenant");
  if (!c.who.is_operator()) {
    if (!q.tenant.empty() && q.tenant != c.who.tenant) return error_response(404, "no tenant '" + q.tenant + "'");
    q.tenant = c.who.tenant;  // never anyone else's lines
  }
  if (host_.querylog_directory.empty())
    return error_response(409, "query-log files are not written on this server (set querylog.directory)");
  for (const char* key : {"from", "to"}) {
    const std::string text = param(c.request, key);
    if (text.empty()) continue;
    auto us = parse_instant(text);
    if (!us) throw ApiError(400, "'" + text + "' is not a time (2026-11-25T09:30:00Z, 2026-11-25 or Unix seconds)", key);
    (key[0] == 'f' ? q.from_us : q.to_us) = *us;
  }
  q.client = param(c.request, "client");
  q.device = param(c.request, "device");
  q.name = base::ascii_lower(param(c.request, "name"));
  q.action = param(c.request, "action");
  q.cursor = param(c.request, "cursor");
  q.max_lines_scanned = host_.querylog_max_lines_scanned;
  if (std::string limit = param(c.request, "limit"); !limit.empty()) {
    size_t n = 0;
    auto [p, ec] = std::from_chars(limit.data(), limit.data() + limit.size(), n);
    if (ec != std::errc() || p != limit.data() + limit.size() || n == 0 || n > 1000)
      throw ApiError(400, "limit is 1 to 1000", "limit");
    q.limit = n;
  }
  LogPage page;
  try {
    page = search_querylog(host_.querylog_directory, q);
  } catch (const std::invalid_argument& e) {
    throw ApiError(400, e.what(), "cursor");
  }
  json j = {{"records", page.records},
            {"next_cursor", page.next_cursor.empty() ? json(nullptr) : json(page.next_cursor)},
            {"scan_limited", page.scan_limited}};
  return json_response(200, j);
}

Response Api::stats(Context& c) {
  std::string id = param(c.request, "tenant");
  if (!c.who.is_operator()) {
    if (!id.empty() && id != c.who.tenant) return error_response(404, "no tenant '" + id + "'");
    id = c.who.tenant;
  }
  const std::string series = param(c.request, "series");
  if (!series.empty() && series != "hour" && series != "day") throw ApiError(400, "series is hour or day", "series");
  int64_t days = 30;
  if (std::string text = param(c.request, "days"); !text.empty()) {
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), days);
    if (ec != std::errc() || p != text.data() + text.size() || days < 1 || days > DailyStats::kKeepDays)
      throw ApiError(400, "days is 1 to " + std::to_string(DailyStats::kKeepDays), "days");
  }
  const int64_t today = querylog::utc_day(now_s() * 1000000);
  auto one = [&](const config::TenantSettings& t) {
    querylog::TenantStats s;
    if (host_.querylog) {
      if (auto found = host_.querylog->stats_by_id(t.id)) s = *found;
    }
    s.tenant_id = t.id;
    s.max_devices = t.max_devices;
    json daily = json::array();
    if (series != "hour")
      for (const DayTotal& d : daily_.series(s, today - days + 1, today))
        daily.push_back({{"date", querylog::date_text(d.day)}, {"queries", d.queries}, {"blocked", d.blocked}});
    if (series == "day") return json{{"tenant", t.id}, {"daily", daily}};
    json j = stats_to_json(s, *c.live.policies->categories);
    if (series == "hour") return json{{"tenant", t.id}, {"hourly", j["hourly"]}};
    j["daily"] = daily;
    j["configured_devices"] = t.devices.size();
    return j;
  };
  if (!id.empty()) {
    const auto* t = find_tenant(*c.live.settings, id);
    if (!t) return error_response(404, "no tenant '" + id + "'");
    return json_response(200, one(*t));
  }
  json list = json::array();
  for (const auto& t : c.live.settings->tenants) list.push_back(one(t));
  return json_response(200, {{"tenants", list}});
}

void Api::persist_daily_stats() {
  if (!host_.querylog) return;
  daily_.persist(host_.querylog->all_stats(), querylog::utc_day(now_s() * 1000000));
}

Response Api::store_status(Context& c) {
  if (!c.who.is_operator()) return error_response(403, "only operators see the category store");
  if (!host_.store) return json_response(200, {{"configured", false}});
  policy::CategoryStore& store = *host_.store;
  json j = {{"configured", true}, {"path", store.path()}, {"generation", store.current_generation()}};
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(store.env(), nullptr, MDB_RDONLY, &txn); rc != MDB_SUCCESS)
    return error_response(500, store.path() + ": cannot read: " + mdb_strerror(rc));
  MDB_stat ds{}, us{};
  mdb_stat(txn, store.domains_dbi(), &ds);
  mdb_stat(txn, store.urls_dbi(), &us);
  j["domain_keys"] = ds.ms_entries;
  j["url_keys"] = us.ms_entries;
  json sources = json::array();
  if (!sources_dbi_open_) {
    MDB_dbi dbi;
    // Opened once and kept: LMDB handles live as long as the environment.
    if (mdb_dbi_open(txn, policy::schema::kDbSources, 0, &dbi) == MDB_SUCCESS) {
      sources_dbi_ = dbi;
      sources_dbi_open_ = true;
    }
  }
  if (sources_dbi_open_) {
    MDB_cursor* cur = nullptr;
    if (mdb_cursor_open(txn, sources_dbi_, &cur) == MDB_SUCCESS) {
      MDB_val k, v;
      for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        policy::SourceInfo s;
        if (!policy::decode_source({static_cast<const char*>(k.mv_data), k.mv_size},
                                   {static_cast<const char*>(v.mv_data), v.mv_size}, s))
          continue;
        std::string updated;
        querylog::append_time(updated, s.updated * 1000000);
        sources.push_back({{"name", s.name}, {"format", s.format}, {"origin", s.origin},
                           {"domain_entries", s.domain_entries}, {"url_entries", s.url_entries},
                           {"categories", c.live.policies->categories->slugs(s.default_categories)}, {"updated", updated}});
      }
      mdb_cursor_close(cur);
    }
  }
  mdb_txn_abort(txn);
  j["sources"] = sources;
  return json_response(200, j);
}

// sekisho-intercept's forwarded bytes per tenant and destination, from its status file
// (intercept/status.h: written every few seconds by that process). A tenant-admin sees its own
// tenant only; `tenant=` narrows an operator's answer. A tenant with nothing forwarded yet is
// listed with zeros, so "no traffic" and "no such tenant" are told apart.
Response Api::intercept_traffic(Context& c) {
  const std::string wanted = param(c.request, "tenant");
  if (!wanted.empty() && (!c.who.may_see(wanted) || !find_tenant(*c.live.settings, wanted)))
    return error_response(404, "no tenant '" + wanted + "'");
  const std::string dir = intercept::status_directory(*c.live.settings);
  std::optional<intercept::InterceptStatus> status;
  if (!dir.empty()) {
    try {
      status = intercept::read_status(intercept::status_path(dir));
    } catch (const std::exception&) {
      return error_response(503, "sekisho-intercept's status file cannot be read");
    }
  }
  auto dest = [](const std::vector<intercept::DestinationBytes>& list) {
    json out = json::array();
    for (const auto& d : list) out.push_back({{"host", d.host}, {"bytes_in", d.bytes_in}, {"bytes_out", d.bytes_out}});
    return out;
  };
  json tenants = json::array();
  for (const auto& t : c.live.settings->tenants) {
    if (!c.who.may_see(t.id) || (!wanted.empty() && t.id != wanted)) continue;
    intercept::TenantTraffic traffic;
    if (status)
      for (const auto& x : status->tenants)
        if (x.tenant == t.id) traffic = x;
    const uint64_t limit = t.intercept_bandwidth ? t.intercept_bandwidth
                                                 : c.live.settings->intercept.limits.tenant_bytes_per_second;
    tenants.push_back({{"tenant", t.id},
                       {"bytes_in", traffic.bytes_in},
                       {"bytes_out", traffic.bytes_out},
                       {"limit_bytes_per_second", limit},
                       {"bandwidth_pauses", traffic.bandwidth_pauses},
                       {"last_limited", traffic.last_limited},
                       {"limited_by", dest(traffic.limited_by)},
                       {"destinations", dest(traffic.destinations)}});
  }
  // The time says how fresh the counts are; null when the intercept has not written a status.
  return json_response(200, {{"time", status ? json(status->time) : json(nullptr)},
                             {"started", status ? json(status->started) : json(nullptr)},
                             {"tenants", tenants}});
}

// The feeds as sekisho-feed last left them: the status files `sekisho feed status` and /metrics
// read, through the same reader (feed::read_statuses). Operators only: URLs and errors name
// the operator's sources.
Response Api::feeds(Context& c) {
  if (!c.who.is_operator()) return error_response(403, "only operators see the feeds");
  json out = {{"feeds", json::array()}, {"problems", json::array()}};
  if (!c.live.settings) return json_response(200, out);
  std::vector<std::string> problems;
  for (const feed::FeedStatus& st : feed::read_statuses(*c.live.settings, &problems))
    out["feeds"].push_back(json::parse(feed::to_json(st)));
  for (auto& p : problems) out["problems"].push_back(without_server_paths(p, host_.config_path));
  return json_response(200, out);
}

}  // namespace sekisho::admin
