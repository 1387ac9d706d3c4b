// Plain settings structs: what the YAML says, after validation. The engine sees only these,
// never YAML. Defaults here are the documented defaults (README "Configuration").
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "config/categories.h"
#include "config/error.h"
#include "config/local_names.h"
#include "net/address.h"

namespace sekisho::config {

enum class UpstreamTransport { udp, tcp, tls, https };
enum class EcsMode : uint8_t { strip, forward };

struct UpstreamSettings {
  net::SocketAddress address;
  UpstreamTransport transport = UpstreamTransport::udp;  // udp falls back to tcp on TC=1
  // transport: tls (DNS over TLS, RFC 7858) and https (DNS over HTTPS, RFC 8484) only.
  std::string tls_name;     // SNI and the name the certificate must carry (https: the URL's host by default)
  std::string ca_file;      // PEM trust anchors; empty = the system store
  std::string spki_sha256;  // 32 bytes: the leaf's SubjectPublicKeyInfo digest (RFC 7469); set = the pin decides
  // transport: https only: `url` as written, and what its requests carry from it.
  std::string url;
  std::string http_authority;  // host[:port]
  std::string http_path;       // "/dns-query"
};

struct TcpSettings {
  uint32_t idle_timeout_ms = 10000;   // RFC 7766 §6.2.3 suggests seconds, not minutes
  uint32_t max_connections = 1024;    // across all threads; more are accepted and closed
  uint32_t max_pipelined = 128;       // unanswered queries per connection before reading pauses
  // From a frame's first byte (its length, or a TLS record carrying it) to its last: a client
  // trickling bytes is closed at this deadline whatever the idle timeout (dnsdist's
  // setTCPRecvTimeout default, 2 s).
  uint32_t frame_timeout_ms = 2000;
  // TCP and DoT connections open at once from one client (an IPv4 address, an IPv6 /64); more
  // are accepted and closed at once. 0 = no cap.
  uint32_t max_connections_per_address = 64;
};

// A certificate chain and its key (PEM files), re-read on SIGHUP.
struct TlsSettings {
  std::string cert;
  std::string key;
};

struct ServerSettings {
  unsigned threads = 0;  // 0 = one per core
  std::vector<net::SocketAddress> dns_listen;
  std::vector<net::SocketAddress> doh_listen;  // DNS over HTTPS (RFC 8484), default port 443
  std::vector<net::SocketAddress> dot_listen;  // DNS over TLS (RFC 7858), default port 853
  TlsSettings tls;                              // required when doh or dot listen
  std::string public_name;  // the name clients reach us by: DoT SNI "{token}.{public_name}", profiles, DDR
  TcpSettings tcp;
  uint32_t drain_timeout_ms = 3000;
};

struct ForwardingSettings {
  uint32_t timeout_ms = 1000;  // per attempt
  uint32_t attempts = 3;       // per query, on different upstreams when there are several
  // Kept-open TCP connections to each upstream (upstream/tcp_pool.h), per loop.
  uint32_t tcp_connections_per_upstream = 4;
  uint32_t tcp_idle_timeout_ms = 10000;  // a connection with nothing in flight closes after this
  // UDP sockets one loop holds open toward upstreams (one per attempt in flight); a query that
  // would need another is answered SERVFAIL. The engine lowers it to the loop's share of the
  // descriptor limit (RLIMIT_NOFILE). Unbound's outgoing-range: 4096.
  uint32_t max_upstream_sockets = 4096;
};

// Abuse resistance (README "Rate limits and quotas"): what one client or one tenant may take.
// Every tenant gets these unless it sets its own (TenantSettings, 0 there = these values).
struct LimitSettings {
  // Response rate limiting of UDP answers (RRL, as BIND and Knot): answers per second per
  // client prefix and kind of answer (positive, NODATA, NXDOMAIN, error); 0 = off. Over it,
  // every `rrl_slip`th answer goes out empty with TC=1 (the client retries over TCP) and the
  // others are dropped; slip 0 drops every one, 1 truncates every one.
  uint32_t rrl_responses_per_second = 0;
  uint32_t rrl_slip = 2;
  uint32_t rrl_ipv4_prefix = 24;
  uint32_t rrl_ipv6_prefix = 56;
  uint32_t tenant_queries_per_second = 0;  // per tenant, across threads; over it: REFUSED + EDE 18; 0 = none
  // Queries waiting on an upstream at once, per client (an IPv4 address, an IPv6 /64) and per
  // tenant, across threads; over either: stale data, else SERVFAIL + EDE 0 saying which. 0 = no cap.
  uint32_t upstream_queries_per_client = 256;
  uint32_t upstream_queries_per_tenant = 2048;
  // The largest UDP answer to a source nothing has verified (every UDP client: no DNS cookies);
  // larger answers are TC=1. Caps the client's EDNS size and our 1232.
  uint32_t unverified_udp_size = 1232;
};

struct CacheSettings {
  uint64_t max_entries = 1000000;
  uint32_t serve_stale = 86400;      // RFC 8767 §5 suggests 1–3 days; 0 = off
  uint32_t min_ttl = 0;
  uint32_t max_ttl = 86400;
  uint32_t negative_max_ttl = 3600;  // RFC 2308 §5 cap on negative answers
  // Names per serving loop whose category-store match is remembered until the store changes
  // (policy/store/name_memo.h); 0 = look every name up in the store. 64 bytes each.
  uint32_t category_memo = 32768;
};

// An IP network in CIDR form; `address` holds 4 (IPv4) or 16 (IPv6) meaningful bytes.
struct NetworkSettings {
  int family = AF_INET;
  uint8_t address[16] = {};
  uint8_t prefix_length = 0;
  std::string text;
  SourceMark mark;
};

struct BlockpageSettings {
  std::optional<in_addr> ipv4;
  std::optional<in6_addr> ipv6;
  uint32_t ttl = 60;
};

enum class BlockAction { blockpage, nxdomain, nodata, refused };
// uint8_t: the query log copies it into every fixed-size record (policy/querylog/record.h).
enum class LogMode : uint8_t { full, anonymized, none };

// A whole policy enforced, or only watched: monitor resolves what enforce would block or steer
// and records it as `monitored` (README "Levels").
enum class PolicyMode : uint8_t { enforce, monitor };

// Which national holidays a policy's schedules count as day `holiday` (policy/holidays.h).
enum class HolidayRule : uint8_t { none, jp };

struct ScheduleSettings {
  std::vector<std::string> block;  // category slugs
  // bit 0 = Monday … bit 6 = Sunday, bit 7 = a holiday (the policy's `holidays` and
  // `calendar`): a holiday is day `holiday`, not its weekday. Every bit: every day.
  uint8_t days = 0xff;
  uint16_t from_minute = 0;        // minutes after local midnight
  uint16_t to_minute = 24 * 60;    // exclusive; from > to wraps past midnight
  std::string timezone = "UTC";    // IANA name, read from the system zoneinfo
  // Local dates (YYYY-MM-DD, inclusive) outside which the entry does nothing: an override with
  // an expiry ("block games until 2027-03-31"). Empty = open.
  std::string since;
  std::string until;
  SourceMark mark;
  SourceMark timezone_mark;
};

struct ListEntrySettings {
  std::string pattern;  // "example.com" (name and subdomains) or "*.example.com" (subdomains only)
  SourceMark mark;
};

struct PolicySettings {
  std::string name;
  std::vector<std::string> block;         // category slugs
  std::vector<SourceMark> block_marks;
  std::vector<std::string> block_groups;  // group slugs (config/categories.h): every category in them
  std::vector<SourceMark> block_group_marks;
  // The other levels (README "Levels"), by category and by group like block: a category's own
  // level beats its group's. allow_categories lifts a category out of its group's level.
  std::vector<std::string> monitor, monitor_groups, read_only, read_only_groups, unblock, unblock_groups,
      allow_categories;
  std::vector<SourceMark> monitor_marks, monitor_group_marks, read_only_marks, read_only_group_marks, unblock_marks,
      unblock_group_marks, allow_category_marks;
  PolicyMode mode = PolicyMode::enforce;
  HolidayRule holidays = HolidayRule::none;
  std::vector<std::string> calendar;  // the organisation's own holidays: "2026-12-28", "2026-12-28..2027-01-05"
  std::vector<SourceMark> calendar_marks;
  std::vector<ListEntrySettings> allow;  // filtering exclusions
  std::vector<ListEntrySettings> deny;
  std::vector<ScheduleSettings> schedule;
  bool safe_search = false;
  BlockAction action = BlockAction::blockpage;
  LogMode log = LogMode::full;
  bool deep_inspection = false;  // hosts with URL entries in a blocked category go to the intercept server
  SourceMark mark;
};

// A device reaching us over DoH/DoT; its token names it (and its tenant) in the DoH path or
// the DoT server name.
struct DeviceSettings {
  std::string name;
  std::string token;  // 8–32 characters of [a-z0-9]; unique across all tenants
  SourceMark mark;
};

struct TenantSettings {
  std::string id;
  std::string name;
  std::string contact;  // shown on the block page ("IT desk, ext. 1234")
  std::vector<DeviceSettings> devices;
  std::vector<NetworkSettings> networks;
  std::string policy;
  uint32_t max_devices = 0;  // 0 = no limit
  // EDNS Client Subnet (RFC 7871) toward the upstreams: strip (never send one) or forward the
  // client's address cut to /24 (IPv4) or /56 (IPv6).
  EcsMode ecs = EcsMode::strip;
  // This tenant's limits (LimitSettings); 0 = the global `limits` value.
  uint32_t queries_per_second = 0;
  uint32_t rrl_responses_per_second = 0;
  uint32_t upstream_queries = 0;
  uint32_t upstream_queries_per_client = 0;
  uint32_t unverified_udp_size = 0;
  // sekisho-intercept's forwarding for this tenant's clients, bytes a second both ways together
  // (token bucket; over it the tenant's connections are slowed, not cut). 0: the intercept's
  // limits.tenant_bytes_per_second.
  uint64_t intercept_bandwidth = 0;
  // The tenant's own names (config/local_names.h): answered here, or asked of its resolvers.
  std::vector<LocalRecordSettings> local_records;
  std::vector<std::string> local_zones;
  std::vector<SourceMark> local_zone_marks;
  std::vector<ForwardZoneSettings> forward_zones;
  SourceMark mark;
  SourceMark policy_mark;
};

struct QueryLogSettings {
  std::string directory;  // empty: $STATE_DIRECTORY/querylog, else /var/lib/sekisho/querylog
  bool enabled = true;
};

// The admin service (admin/api). Tokens are kept only as SHA-256 digests: the YAML (and a
// leaked copy of it) never holds a usable credential.
enum class AdminRole { operator_role, tenant_admin };

struct AdminTokenSettings {
  std::string name;    // who, in the audit log
  AdminRole role = AdminRole::operator_role;
  std::string tenant;  // tenant_admin only: the one tenant it may see
  std::string sha256;  // 64 lower-case hex digits of SHA-256(token)
  SourceMark mark;
};

struct AdminSettings {
  std::vector<net::SocketAddress> listen;          // empty: no admin service
  TlsSettings tls;                                 // both set: HTTPS
  std::vector<AdminTokenSettings> tokens;
  std::string audit_log;                           // JSON lines; empty: audit lines go to stderr
  std::vector<net::SocketAddress> metrics_listen;  // /metrics without a token; empty: admin listen + operator token
};

// sekisho-intercept's abuse limits (issue 19): the minted-certificate disk cache's bounds, mints
// per client, and the default bandwidth of a tenant's forwarded connections.
struct InterceptLimitsSettings {
  uint32_t cert_cache_disk_entries = 20000;             // minted leaves kept on disk, oldest deleted first
  uint64_t cert_cache_disk_bytes = 64ull * 1024 * 1024;  // and their total size
  uint32_t mints_per_second_per_client = 2;             // new leaves minted for one client (IPv4, IPv6 /64); 0 = no limit
  uint32_t mint_burst_per_client = 20;                  // minted at once before the rate applies
  uint64_t tenant_bytes_per_second = 0;                 // each tenant's forwarding, both ways; 0 = no limit
  uint32_t status_interval_ms = 2000;                   // how often the status file is rewritten
};

// sekisho-intercept (intercept/): the block page over HTTP and HTTPS, and deep URL inspection.
// sekishod ignores this section (but reads the intercept's status file, status_directory); the
// intercept service is the only holder of CA keys.
struct InterceptSettings {
  std::vector<net::SocketAddress> http_listen;   // block page in clear (80 in production)
  std::vector<net::SocketAddress> https_listen;  // block page and inspection with minted certificates (443)
  std::string ca_dir = "/var/lib/sekisho-intercept/ca";  // <ca_dir>/<tenant>/ca.{crt,key}; else <ca_dir>/default
  std::string cert_cache_dir;  // minted leaves; empty: $STATE_DIRECTORY/certs or /var/lib/sekisho-intercept/certs
  std::string template_dir;                      // per-tenant block pages <template_dir>/<tenant>.<en|ja>.html
  std::string origin_ca_file;                    // trust store for origins (PEM); empty: the system store
  std::vector<NetworkSettings> allow_private;    // private destinations forwarding may still reach
  uint32_t max_header_bytes = 16 * 1024;
  uint32_t max_body_bytes = 64 * 1024 * 1024;
  uint32_t header_timeout_ms = 10000;
  uint32_t idle_timeout_ms = 30000;
  uint32_t origin_timeout_ms = 10000;
  uint16_t origin_https_port = 443;              // where inspected origins are reached (tests: a local origin)
  uint16_t origin_http_port = 80;
  uint32_t leaf_validity_hours = 168;            // minted certificates: 7 days, renewed a day before expiry
  uint32_t cert_cache_entries = 10000;           // minted certificates kept in memory
  InterceptLimitsSettings limits;
  // The status file (counters, bytes per tenant and destination) sekishod's admin API reads;
  // empty: "intercept-status" beside the category store (the directory the `sekisho` group shares).
  std::string status_directory;
};

// Category feeds (issue 18), kept current by sekisho-feed (feed/): each writes one source of the
// category store. sekishod ignores this section.
enum class FeedKind { rpz_xfr, http };
// What an http feed's download is: the formats of `sekisho db import` that are one text (a UT1
// collection is a directory tree; its category files are `domains` lists).
enum class ListFormat { domains, hosts, adblock, rpz, csv };
// RFC 8945 §6 algorithms ldns signs and verifies with.
enum class TsigAlgorithm { hmac_sha256, hmac_sha384, hmac_sha512, hmac_sha224, hmac_sha1 };

struct TsigSettings {
  std::string name;         // the key's name, as the primary knows it
  TsigAlgorithm algorithm = TsigAlgorithm::hmac_sha256;
  std::string secret_file;  // base64 secret (one line): kept out of the YAML, which many can read
  SourceMark mark;
};

struct FeedLimitsSettings {
  uint64_t max_entries = 10000000;          // a transfer bringing more is refused
  uint64_t max_transfer_bytes = 1ull << 30; // wire bytes of one transfer (rpz-xfr)
  uint64_t max_bytes = 256ull << 20;        // an http download, unpacked: more is refused (http)
  // The update guard (policy/import/update_guard.h), as `sekisho db import --max-shrink` and
  // `--allow-shrink`: an update (AXFR, IXFR, download) may remove at most this percentage of
  // the source's entries.
  uint32_t max_shrink = 50;
  bool allow_shrink = false;                // any shrink (max_shrink 100)
  SourceMark mark;
};

struct FeedSettings {
  std::string name;  // the store's source name
  FeedKind kind = FeedKind::rpz_xfr;
  std::string primary;  // "192.0.2.1:53", "[2001:db8::1]:53": where the zone is transferred from
  std::string zone;     // the RPZ's apex
  // kind http: the list's URL (http:// or https://), its format, and a CA bundle to verify the
  // server with (empty: the system's CAs; TLS is always verified).
  std::string url;
  ListFormat format = ListFormat::domains;
  std::string ca_file;
  bool allow_public_suffixes = false;  // entries like `com` taken (else the update is refused)
  TsigSettings tsig;    // no name: transfers unsigned
  std::vector<std::string> categories;  // block entries get these (rpz-passthru ones are allow entries)
  std::vector<SourceMark> category_marks;
  uint32_t refresh = 0;        // seconds between checks; 0: the SOA's refresh (retry after failures)
  uint32_t timeout_ms = 10000; // connect, and each read of a transfer (http: no byte for this long)
  uint32_t download_timeout_ms = 300000;  // http: a whole download
  uint32_t retry = 60;         // http: seconds before the first retry after a failure, doubled each time
  FeedLimitsSettings limits;
  SourceMark mark;
};

struct FeedServiceSettings {
  std::vector<net::SocketAddress> notify_listen;  // RFC 1996 NOTIFY (UDP); empty: timers only
  std::string state_directory;  // status files; empty: "feed-status" beside the category store
};

// `fleet:` — this node takes its tenants (policies and devices with them) from a PostgreSQL
// database shared by every node (config/fleet/). Absent (no conninfo): tenants.d files, as a
// single node always did.
struct FleetSettings {
  std::string conninfo;       // libpq connection string or URI, without the password
  std::string node;           // this node's name in the database and in logs; default: the host name
  std::string password_file;  // the password's file (first line); never logged
  std::string password_env;   // or the environment variable holding it
  std::string snapshot;       // last good snapshot; default $STATE_DIRECTORY/fleet-snapshot.json,
                              // else fleet-snapshot.json beside the main configuration file
  uint32_t connect_timeout_ms = 3000;   // one connection attempt (libpq's connect_timeout, ≥ 1 s)
  uint32_t retry_max_ms = 10000;        // reconnect back-off doubles from 250 ms up to this
  SourceMark mark;
  bool enabled() const { return !conninfo.empty(); }
};

struct Settings {
  std::string source;  // file the settings came from, for messages
  ServerSettings server;
  std::vector<UpstreamSettings> upstreams;
  ForwardingSettings forwarding;
  LimitSettings limits;
  CacheSettings cache;
  log::Level log_level = log::Level::info;
  std::string category_db;  // LMDB category store directory; empty = no store
  SourceMark category_db_mark;
  std::string categories_file;  // YAML/CSV adding categories to the built-ins (config/yaml/category_file.h)
  std::vector<CategoryDefinition> categories;  // what the source read from categories_file
  BlockpageSettings blockpage;
  // Where the tenants.d files are (the admin API's and `sekisho device`'s writes): empty is
  // tenants.d beside the main file; a relative path is taken from the main file's directory.
  // The packaged configuration sets /var/lib/sekisho/tenants.d, because /etc is read-only to
  // the service (README "Installing the package").
  std::string tenants_dir;
  std::vector<TenantSettings> tenants;           // main file first, then tenants_dir's *.yaml by name
  std::map<std::string, PolicySettings> policies;
  QueryLogSettings querylog;
  InterceptSettings intercept;
  AdminSettings admin;
  std::vector<FeedSettings> feeds;
  FeedServiceSettings feed_service;
  FleetSettings fleet;
};

}  // namespace sekisho::config
