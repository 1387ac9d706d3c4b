#include "config/advice.h"

#include "net/address.h"

namespace sekisho::config {

std::vector<std::string> risky_settings(const Settings& settings) {
  std::vector<std::string> out;
  const AdminSettings& admin = settings.admin;
  const bool tls = !admin.tls.cert.empty() && !admin.tls.key.empty();
  if (!tls) {
    // Bearer tokens and tenants' query logs would cross the network in clear.
    for (const net::SocketAddress& a : admin.listen)
      if (!net::is_loopback(a))
        out.push_back("admin.listen " + a.to_string() +
                      " serves the admin API over plain HTTP beyond this host: tokens and query logs cross the network "
                      "in clear (set admin.tls, or listen on loopback behind a TLS proxy)");
  }
  return out;
}

}  // namespace sekisho::config
