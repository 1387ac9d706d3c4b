// The fleet's PostgreSQL database (libpq): one connection, the versioned schema, and the few
// statements the fleet runs. Tenants are stored as their tenants.d documents — the YAML text
// config/yaml/write.h renders from config/schema.h — so the loader that reads files reads the
// database's rows too, with the same checks and messages, and the schema stays defined once.
//
// Every change is one transaction that bumps the fleet's generation (a one-row table, which
// also serialises writers), sets the tenant row's version to it, and NOTIFYs channel
// `sekisho_config` with "<generation> <commit time in ms>"; nodes LISTEN and re-read.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/settings.h"

typedef struct pg_conn PGconn;

namespace sekisho::config::fleet {

inline constexpr const char* kChannel = "sekisho_config";

struct Document {
  std::string id;        // tenant id
  std::string text;      // the tenant's tenants.d document
  int64_t version = 0;   // the generation that last wrote it: the API's ETag
};

// Every tenant document as of one generation.
struct Snapshot {
  int64_t generation = 0;
  std::vector<Document> tenants;  // by id
  const Document* find(std::string_view id) const;
};

// The password of `s` (password_file's first line, or password_env's value; "" when neither is
// set: the conninfo or ~/.pgpass may supply one). Sets `error` when the file or variable is
// missing. The password is passed to libpq as a separate parameter and never logged.
std::string fleet_password(const FleetSettings& s, std::string& error);

// The node name: fleet.node, else the host name.
std::string node_name(const FleetSettings& s);

class Database {
 public:
  // Connects (blocking, at most connect_timeout_ms). Never throws: see ok() and error().
  Database(const FleetSettings& settings, std::string_view application_name);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  bool ok() const;  // connected and the connection is still good
  std::string error() const;
  PGconn* connection() { return conn_; }

  // The schema version (0: not initialised). nullopt on a database error.
  std::optional<int> schema_version();
  // Applies every migration above the current version, each in its own transaction (under an
  // advisory lock, so two nodes migrating at once do not collide). Returns the versions
  // applied; false on an error (what was applied before it stays).
  bool migrate(std::vector<int>& applied);

  std::optional<Snapshot> snapshot();

  enum class Outcome { ok, conflict, not_found, error };
  struct WriteResult {
    Outcome outcome = Outcome::error;
    int64_t version = 0;  // ok: the new version (also the new generation)
    std::string message;  // conflict, not_found, error: why
  };
  // Stores tenant `id`'s document. `expected`: nullopt = unconditionally; 0 = the tenant must
  // not exist yet; else its current version (optimistic concurrency).
  WriteResult put(const std::string& id, const std::string& text, std::optional<int64_t> expected);
  WriteResult erase(const std::string& id, std::optional<int64_t> expected);
  // Replaces every document at once (import-yaml): one transaction, one generation.
  WriteResult replace_all(const std::vector<Document>& documents);

  bool listen();
  // Records that `node` runs `generation` (also its heartbeat).
  bool record_node(const std::string& node, int64_t generation);
  struct NodeRow {
    std::string name;
    int64_t generation = 0;
    std::string applied_at, last_seen;
  };
  std::optional<std::vector<NodeRow>> nodes();

 private:
  bool exec(const char* sql);
  WriteResult write(const std::string& id, const std::string* text, std::optional<int64_t> expected);

  PGconn* conn_ = nullptr;
  std::string error_;
};

// The migrations, one SQL text per schema version (index 0 = version 1).
const std::vector<std::string_view>& migrations();

}  // namespace sekisho::config::fleet
