#include "config/fleet/database.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "base/file.h"
#include "base/log.h"
#include "base/text.h"

namespace sekisho::config::fleet {
namespace {

// A result that clears itself.
struct Result {
  PGresult* r;
  explicit Result(PGresult* r) : r(r) {}
  ~Result() { PQclear(r); }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  bool is(ExecStatusType s) const { return r && PQresultStatus(r) == s; }
  std::string text(int row, int col) const { return PQgetvalue(r, row, col); }
  int64_t number(int row, int col) const { return std::strtoll(PQgetvalue(r, row, col), nullptr, 10); }
  int rows() const { return PQntuples(r); }
  // "UPDATE 1" → 1
  long affected() const { return std::strtol(PQcmdTuples(r), nullptr, 10); }
};

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// libpq writes the server's notices (and a FATAL that ends the connection between queries) to
// stderr itself by default; ours go through our log, one line each.
void log_notice(void*, const char* message) { log::warning("fleet", "database notice", {{"message", trimmed(message)}}); }

// Schema versions. Never edit a released one: add the next.
const std::vector<std::string_view> kMigrations = {
    // 1: tenant documents, the fleet's generation (one row; every change bumps it under its row
    // lock), and the nodes with the generation each applied last.
    R"sql(
CREATE TABLE fleet_generation (
  one boolean PRIMARY KEY DEFAULT true CHECK (one),
  generation bigint NOT NULL
);
INSERT INTO fleet_generation (one, generation) VALUES (true, 0);
CREATE TABLE tenants (
  id text PRIMARY KEY,
  document text NOT NULL,
  version bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE nodes (
  name text PRIMARY KEY,
  applied_generation bigint NOT NULL,
  applied_at timestamptz NOT NULL,
  last_seen timestamptz NOT NULL
);
)sql",
};

}  // namespace

const std::vector<std::string_view>& migrations() { return kMigrations; }

const Document* Snapshot::find(std::string_view id) const {
  for (const auto& d : tenants)
    if (d.id == id) return &d;
  return nullptr;
}

std::string fleet_password(const FleetSettings& s, std::string& error) {
  if (!s.password_file.empty()) {
    auto bytes = base::read_file(s.password_file);
    if (!bytes) {
      error = "cannot read fleet.password_file " + s.password_file;
      return {};
    }
    return trimmed(bytes->substr(0, bytes->find('\n')));
  }
  if (!s.password_env.empty()) {
    const char* v = std::getenv(s.password_env.c_str());
    if (!v) {
      error = "fleet.password_env names " + s.password_env + ", which is not set";
      return {};
    }
    return v;
  }
  return {};
}

std::string node_name(const FleetSettings& s) {
  if (!s.node.empty()) return s.node;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) return "unknown";
  return host;
}

Database::Database(const FleetSettings& settings, std::string_view application_name) {
  std::string why;
  const std::string password = fleet_password(settings, why);
  if (!why.empty()) {
    error_ = why;
    return;
  }
  const std::string timeout = std::to_string(std::max<uint32_t>(1, (settings.connect_timeout_ms + 999) / 1000));
  const std::string app(application_name);
  // expand_dbname: the conninfo may be a keyword string or a URI; the keywords after it win.
  std::vector<const char*> keys = {"dbname", "connect_timeout", "application_name"};
  std::vector<const char*> values = {settings.conninfo.c_str(), timeout.c_str(), app.c_str()};
  if (!password.empty()) {
    keys.push_back("password");
    values.push_back(password.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  conn_ = PQconnectdbParams(keys.data(), values.data(), 1);
  if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
    error_ = conn_ ? trimmed(PQerrorMessage(conn_)) : "out of memory";
    return;
  }
  PQsetNoticeProcessor(conn_, log_notice, nullptr);
  exec("SET client_min_messages = warning");
}

Database::~Database() {
  if (conn_) PQfinish(conn_);
}

bool Database::ok() const { return conn_ && PQstatus(conn_) == CONNECTION_OK; }

std::string Database::error() const {
  if (!error_.empty() || !conn_) return error_;
  return trimmed(PQerrorMessage(conn_));  // a failure outside our statements (the connection lost)
}

bool Database::exec(const char* sql) {
  Result r(PQexec(conn_, sql));
  if (r.is(PGRES_COMMAND_OK) || r.is(PGRES_TUPLES_OK)) return true;
  error_ = trimmed(PQerrorMessage(conn_));
  return false;
}

std::optional<int> Database::schema_version() {
  if (!ok()) return std::nullopt;
  Result exists(PQexec(conn_, "SELECT to_regclass('schema_migrations') IS NOT NULL"));
  if (!exists.is(PGRES_TUPLES_OK)) {
    error_ = trimmed(PQerrorMessage(conn_));
    return std::nullopt;
  }
  if (exists.text(0, 0) != "t") return 0;
  Result r(PQexec(conn_, "SELECT coalesce(max(version), 0) FROM schema_migrations"));
  if (!r.is(PGRES_TUPLES_OK)) {
    error_ = trimmed(PQerrorMessage(conn_));
    return std::nullopt;
  }
  return static_cast<int>(r.number(0, 0));
}

bool Database::migrate(std::vector<int>& applied) {
  if (!ok()) return false;
  if (!exec("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
            "applied_at timestamptz NOT NULL DEFAULT now())"))
    return false;
  for (size_t i = 0; i < kMigrations.size(); ++i) {
    const int version = static_cast<int>(i + 1);
    // The advisory lock is held to the end of the transaction; the version is checked under it.
    if (!exec("BEGIN") || !exec("SELECT pg_advisory_xact_lock(7355608)")) return exec("ROLLBACK"), false;
    const std::string v = std::to_string(version);
    const char* params[] = {v.c_str()};
    Result done(PQexecParams(conn_, "SELECT 1 FROM schema_migrations WHERE version = $1::integer", 1, nullptr, params,
                             nullptr, nullptr, 0));
    if (!done.is(PGRES_TUPLES_OK)) {
      error_ = trimmed(PQerrorMessage(conn_));
      exec("ROLLBACK");
      return false;
    }
    if (done.rows() > 0) {
      exec("COMMIT");
      continue;
    }
    const std::string sql(kMigrations[i]);
    if (!exec(sql.c_str())) {
      const std::string why = "migration " + v + ": " + error_;
      exec("ROLLBACK");
      error_ = why;
      return false;
    }
    Result mark(PQexecParams(conn_, "INSERT INTO schema_migrations (version) VALUES ($1::integer)", 1, nullptr, params,
                             nullptr, nullptr, 0));
    if (!mark.is(PGRES_COMMAND_OK) || !exec("COMMIT")) {
      error_ = trimmed(PQerrorMessage(conn_));
      exec("ROLLBACK");
      return false;
    }
    applied.push_back(version);
  }
  return true;
}

std::optional<Snapshot> Database::snapshot() {
  if (!ok()) return std::nullopt;
  // One consistent view of the generation and the rows.
  if (!exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")) return std::nullopt;
  Snapshot s;
  Result g(PQexec(conn_, "SELECT generation FROM fleet_generation"));
  Result t(PQexec(conn_, "SELECT id, document, version FROM tenants ORDER BY id"));
  if (!g.is(PGRES_TUPLES_OK) || g.rows() != 1 || !t.is(PGRES_TUPLES_OK)) {
    error_ = g.is(PGRES_TUPLES_OK) && g.rows() != 1 ? "fleet_generation has no row (run `sekisho fleet init`)"
                                                     : trimmed(PQerrorMessage(conn_));
    exec("ROLLBACK");
    return std::nullopt;
  }
  s.generation = g.number(0, 0);
  for (int i = 0; i < t.rows(); ++i) s.tenants.push_back(Document{t.text(i, 0), t.text(i, 1), t.number(i, 2)});
  exec("COMMIT");
  return s;
}

Database::WriteResult Database::put(const std::string& id, const std::string& text, std::optional<int64_t> expected) {
  return write(id, &text, expected);
}

Database::WriteResult Database::erase(const std::string& id, std::optional<int64_t> expected) {
  return write(id, nullptr, expected);
}

// One change: bump the generation (its row lock orders writers), change the row if its version
// is still the expected one, NOTIFY (delivered at commit), commit.
Database::WriteResult Database::write(const std::string& id, const std::string* text, std::optional<int64_t> expected) {
  WriteResult out;
  const auto fail = [&](Outcome o, std::string message) {
    exec("ROLLBACK");
    out.outcome = o;
    out.message = std::move(message);
    return out;
  };
  if (!ok()) return fail(Outcome::error, error_.empty() ? "not connected" : error_);
  if (!exec("BEGIN")) return fail(Outcome::error, error_);
  Result g(PQexec(conn_, "UPDATE fleet_generation SET generation = generation + 1 RETURNING generation"));
  if (!g.is(PGRES_TUPLES_OK) || g.rows() != 1) return fail(Outcome::error, trimmed(PQerrorMessage(conn_)));
  const int64_t generation = g.number(0, 0);
  const std::string gen = std::to_string(generation);
  const std::string want = expected ? std::to_string(*expected) : std::string();
  const char* sql = nullptr;
  std::vector<const char*> params = {id.c_str()};
  if (text) {
    params.push_back(text->c_str());
    params.push_back(gen.c_str());
    if (!expected) {
      sql = "INSERT INTO tenants (id, document, version) VALUES ($1, $2, $3::bigint) ON CONFLICT (id) DO UPDATE "
            "SET document = excluded.document, version = excluded.version, updated_at = now()";
    } else if (*expected == 0) {
      sql = "INSERT INTO tenants (id, document, version) VALUES ($1, $2, $3::bigint) ON CONFLICT (id) DO NOTHING";
    } else {
      sql = "UPDATE tenants SET document = $2, version = $3::bigint, updated_at = now() WHERE id = $1 AND version = $4::bigint";
      params.push_back(want.c_str());
    }
  } else if (!expected) {
    sql = "DELETE FROM tenants WHERE id = $1";
  } else {
    sql = "DELETE FROM tenants WHERE id = $1 AND version = $2::bigint";
    params.push_back(want.c_str());
  }
  Result changed(PQexecParams(conn_, sql, static_cast<int>(params.size()), nullptr, params.data(), nullptr, nullptr, 0));
  if (!changed.is(PGRES_COMMAND_OK)) return fail(Outcome::error, trimmed(PQerrorMessage(conn_)));
  if (changed.affected() == 0) {
    // Tell a stale version from a missing row.
    Result now(PQexecParams(conn_, "SELECT version FROM tenants WHERE id = $1", 1, nullptr, params.data(), nullptr, nullptr, 0));
    const bool exists = now.is(PGRES_TUPLES_OK) && now.rows() > 0;
    if (text && expected && *expected == 0) return fail(Outcome::conflict, "tenant '" + id + "' already exists");
    if (!exists && !expected) return fail(Outcome::not_found, "no tenant '" + id + "'");
    if (!exists) return fail(Outcome::conflict, "tenant '" + id + "' no longer exists");
    return fail(Outcome::conflict, "tenant '" + id + "' changed since it was read (now version " + now.text(0, 0) +
                                       ", ETag mismatch); read it again");
  }
  const std::string payload_sql =
      "SELECT pg_notify('" + std::string(kChannel) + "', " + gen +
      " || ' ' || floor(extract(epoch from clock_timestamp()) * 1000)::bigint)";
  if (!exec(payload_sql.c_str()) || !exec("COMMIT")) return fail(Outcome::error, error_);
  out.outcome = Outcome::ok;
  out.version = generation;
  return out;
}

Database::WriteResult Database::replace_all(const std::vector<Document>& documents) {
  WriteResult out;
  const auto fail = [&](std::string message) {
    exec("ROLLBACK");
    out.outcome = Outcome::error;
    out.message = std::move(message);
    return out;
  };
  if (!ok() || !exec("BEGIN")) return fail(error_);
  Result g(PQexec(conn_, "UPDATE fleet_generation SET generation = generation + 1 RETURNING generation"));
  if (!g.is(PGRES_TUPLES_OK) || g.rows() != 1) return fail(trimmed(PQerrorMessage(conn_)));
  const std::string gen = g.text(0, 0);
  if (!exec("DELETE FROM tenants")) return fail(error_);
  for (const auto& d : documents) {
    const char* params[] = {d.id.c_str(), d.text.c_str(), gen.c_str()};
    Result r(PQexecParams(conn_, "INSERT INTO tenants (id, document, version) VALUES ($1, $2, $3::bigint)", 3, nullptr,
                          params, nullptr, nullptr, 0));
    if (!r.is(PGRES_COMMAND_OK)) return fail("tenant '" + d.id + "': " + trimmed(PQerrorMessage(conn_)));
  }
  const std::string payload_sql = "SELECT pg_notify('" + std::string(kChannel) + "', " + gen +
                                  " || ' ' || floor(extract(epoch from clock_timestamp()) * 1000)::bigint)";
  if (!exec(payload_sql.c_str()) || !exec("COMMIT")) return fail(error_);
  out.outcome = Outcome::ok;
  out.version = std::strtoll(gen.c_str(), nullptr, 10);
  return out;
}

bool Database::listen() { return ok() && exec((std::string("LISTEN ") + kChannel).c_str()); }

bool Database::record_node(const std::string& node, int64_t generation) {
  if (!ok()) return false;
  const std::string gen = std::to_string(generation);
  const char* params[] = {node.c_str(), gen.c_str()};
  Result r(PQexecParams(conn_,
                        "INSERT INTO nodes (name, applied_generation, applied_at, last_seen) VALUES ($1, $2::bigint, now(), now()) "
                        "ON CONFLICT (name) DO UPDATE SET last_seen = now(), applied_at = CASE WHEN "
                        "nodes.applied_generation = excluded.applied_generation THEN nodes.applied_at ELSE now() END, "
                        "applied_generation = excluded.applied_generation",
                        2, nullptr, params, nullptr, nullptr, 0));
  if (r.is(PGRES_COMMAND_OK)) return true;
  error_ = trimmed(PQerrorMessage(conn_));
  return false;
}

std::optional<std::vector<Database::NodeRow>> Database::nodes() {
  if (!ok()) return std::nullopt;
  Result r(PQexec(conn_, "SELECT name, applied_generation, to_char(applied_at AT TIME ZONE 'UTC', "
                         "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), to_char(last_seen AT TIME ZONE 'UTC', "
                         "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM nodes ORDER BY name"));
  if (!r.is(PGRES_TUPLES_OK)) {
    error_ = trimmed(PQerrorMessage(conn_));
    return std::nullopt;
  }
  std::vector<NodeRow> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(NodeRow{r.text(i, 0), r.number(i, 1), r.text(i, 2), r.text(i, 3)});
  return out;
}

}  // namespace sekisho::config::fleet
