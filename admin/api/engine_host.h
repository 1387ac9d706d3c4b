// The glue between sekishod's resolver::Server and the admin service: what the API reads
// (the published configuration, the category store, the query-log writer), the reload it
// triggers, and the /metrics sample. resolver/server.cc calls this once at start-up.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "admin/api/service.h"

namespace sekisho::resolver {
class Server;
}

namespace sekisho::admin {

// Null when admin.listen and admin.metrics_listen are both empty. Throws like Service().
// `reload` runs the server's SIGHUP path from the admin thread and returns the generation then
// in use.
std::unique_ptr<Service> start_admin_service(resolver::Server& server, const config::Settings& settings,
                                             const std::string& config_path, const std::string& querylog_directory,
                                             std::function<uint64_t()> reload);

}  // namespace sekisho::admin
