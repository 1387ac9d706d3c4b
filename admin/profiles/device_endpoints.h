// Where a device reaches this server: the DoH URL and DoT host name that profiles, the device
// CLI and the admin API hand out. Derived from server.public_name and the first DoH listen
// address's port (omitted when 443, the https default).
#pragma once

#include <string>

#include "config/settings.h"

namespace sekisho::profiles {

// "https://{public_name}[:port]/dns-query/{token}"; "" without public_name.
std::string doh_url(const config::ServerSettings& server, const std::string& token);

// "{token}.{public_name}": what an Android user types as the Private DNS host name; "" without
// public_name.
std::string dot_hostname(const config::ServerSettings& server, const std::string& token);

}  // namespace sekisho::profiles
