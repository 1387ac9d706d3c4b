// Plain settings structs: what the YAML says, after validation. The engine sees only these,
// never YAML. Defaults here are the documented defaults (README "Configuration").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "resolver/base/log.h"
#include "resolver/net/address.h"

namespace sekisho::config {

enum class UpstreamTransport { udp, tcp };

struct UpstreamSettings {
  net::SocketAddress address;
  UpstreamTransport transport = UpstreamTransport::udp;  // udp falls back to tcp on TC=1
};

struct TcpSettings {
  uint32_t idle_timeout_ms = 10000;   // RFC 7766 §6.2.3 suggests seconds, not minutes
  uint32_t max_connections = 1024;    // across all threads; more are accepted and closed
  uint32_t max_pipelined = 128;       // unanswered queries per connection before reading pauses
};

struct ServerSettings {
  unsigned threads = 0;  // 0 = one per core
  std::vector<net::SocketAddress> dns_listen;
  TcpSettings tcp;
  uint32_t drain_timeout_ms = 3000;
};

struct ForwardingSettings {
  uint32_t timeout_ms = 1000;  // per attempt
  uint32_t attempts = 3;       // per query, on different upstreams when there are several
};

struct CacheSettings {
  uint64_t max_entries = 1000000;
  uint32_t serve_stale = 86400;      // RFC 8767 §5 suggests 1–3 days; 0 = off
  uint32_t min_ttl = 0;
  uint32_t max_ttl = 86400;
  uint32_t negative_max_ttl = 3600;  // RFC 2308 §5 cap on negative answers
};

struct Settings {
  std::string source;  // file the settings came from, for messages
  ServerSettings server;
  std::vector<UpstreamSettings> upstreams;
  ForwardingSettings forwarding;
  CacheSettings cache;
  log::Level log_level = log::Level::info;
  std::string category_db;  // LMDB category store directory; empty = no store
};

}  // namespace sekisho::config
