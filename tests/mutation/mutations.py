"""The mutations tests/mutation/run.py plants, one at a time, in a scratch copy of the repository.

Each entry is a small bug a reviewer would plant to see whether the tests notice:

    id      short name, used by --only
    file    path from the repository root; every edit is in this file
    breaks  what the bug breaks, in a user's or the README's terms
    edits   (old, new) pairs applied in order; `old` must occur exactly once in the file as it
            stands at that point, otherwise the mutation is reported STALE: when the code moves,
            the list fails loudly instead of silently testing nothing
    tests   ctest -R patterns (joined with '|'): the entries expected to catch the bug, chosen
            narrow so that one mutation costs a couple of minutes. A pattern naming an entry that
            does not exist yet is allowed (run.py warns about it); one matching nothing at all
            makes the mutation NO TESTS.

Names: a unit case is `unit.<dir>/<file stem>: <case name>` (tests/unit/register_cases.py), an
end-to-end file is `e2e.<file stem>` (tests/CMakeLists.txt).
"""

MUTATIONS = [
    # --- issue 23: survivors of the first reviewer round, and the case ctest never ran ---
    {
        "id": "device-token-dup-across-tenants",
        "file": "policy/policy.cc",
        "breaks": "a device token used by devices of two different tenants is accepted (tokens must be unique across all tenants)",
        "edits": [("      if (!fresh)\n        errors.push_back(error_at(dev.mark,",
                   "      if (!fresh && it->second.tenant == tenant_index)\n        errors.push_back(error_at(dev.mark,")],
        "tests": [r"^unit\.policy/rules: ", r"^unit\.admin/devices: "],
    },
    {
        "id": "safe-search-off",
        "file": "policy/safe_search.cc",
        "breaks": "safe search rewrites nothing: no search engine name has a strict-mode target any more",
        "edits": [("  if (!split(qname, l) || l.count < 2) return {};",
                   "  if (split(qname, l) || l.count < 2) return {};")],
        "tests": [r"^unit\.policy/rules: safe search", r"^e2e\.test_safe_search$"],
    },
    {
        "id": "upstream-never-down",
        "file": "resolver/upstream/upstreams.cc",
        "breaks": "three consecutive failures no longer mark an upstream down for 5 s (its back-off ends the moment it starts)",
        "edits": [("    u.down_until_ms.store(now_ms + kDownForMs, std::memory_order_relaxed);",
                   "    u.down_until_ms.store(now_ms, std::memory_order_relaxed);")],
        "tests": [r"^e2e\.test_upstream_health$", r"^e2e\.test_upstream_failures$"],
    },
    {
        "id": "tcp-output-cap-4096x",
        "file": "resolver/transport/tcp.cc",
        "breaks": "a TCP client that does not read its answers is cut off after 4 GiB of queued output instead of 1 MiB",
        "edits": [("uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&handle_)) > kMaxWriteQueue) {",
                   "uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&handle_)) > kMaxWriteQueue * 4096) {")],
        "tests": [r"^e2e\.test_tcp_output_cap$", r"^e2e\.test_transport$"],
    },
    {
        "id": "watchdog-pings-while-stuck",
        "file": "resolver/engine.cc",
        "breaks": "the systemd watchdog is pinged although an event loop is stuck (the error is logged, the ping still sent)",
        "edits": [('{{"worker", w->index()}});\n      return;',
                   '{{"worker", w->index()}});\n      break;')],
        "tests": [r"^e2e\.test_watchdog$"],
    },
    {
        "id": "dot-revoked-device-kept",
        "file": "resolver/transport/tcp.cc",
        "breaks": "an open DoT connection keeps its device identity across a reload after the device was revoked (a failed re-lookup keeps the old one)",
        "edits": [("  device_.state = ref ? OriginDevice::State::known : OriginDevice::State::unknown;",
                   "  if (ref || device_.state == OriginDevice::State::none)\n"
                   "    device_.state = ref ? OriginDevice::State::known : OriginDevice::State::unknown;")],
        "tests": [r"^e2e\.test_dot_revocation$", r"^e2e\.test_dot$", r"^e2e\.test_devices$"],
    },
    {
        "id": "schedule-end-inclusive",
        "file": "policy/policy.cc",
        "breaks": "a schedule window still blocks in its 'to' minute (09:00-18:00 blocks at 18:00)",
        "edits": [("return day_on(weekday) && minute >= from_minute && minute < to_minute;",
                   "return day_on(weekday) && minute >= from_minute && minute <= to_minute;")],
        "tests": [r"^unit\.policy/", r"^e2e\.test_schedule_window$"],
    },
    {
        "id": "schedule-overnight-end-inclusive",
        "file": "policy/policy.cc",
        "breaks": "a window past midnight (22:00-06:00) still blocks in its 'to' minute the next morning",
        "edits": [("(day_on((weekday + 6) % 7) && minute < to_minute);",
                   "(day_on((weekday + 6) % 7) && minute <= to_minute);")],
        "tests": [r"^unit\.policy/", r"^e2e\.test_schedule_window$"],
    },
    {
        "id": "safe-search-allow-list-rewritten",
        "file": "resolver/pipeline.cc",
        "breaks": "an allow-listed search engine is rewritten to its strict mode anyway (the allow list exempts a name from all filtering)",
        "edits": [("    id.inspect_chain = false;\n    return Step::next;\n  }\n  rewrite_safe_search(query);",
                   "    id.inspect_chain = false;\n  }\n  rewrite_safe_search(query);")],
        "tests": [r"^e2e\.test_safe_search$"],
    },
    {
        "id": "upstream-round-robin-stuck",
        "file": "resolver/upstream/upstreams.cc",
        "breaks": "the first healthy upstream gets every query (round robin does not advance)",
        "edits": [("      round_robin = static_cast<uint32_t>(i + 1);\n", "")],
        "tests": [r"^e2e\.test_upstream_health$"],
    },
    {
        "id": "upstream-all-down-not-earliest",
        "file": "resolver/upstream/upstreams.cc",
        "breaks": "with every upstream down, the first one is tried instead of the one whose back-off ends first",
        "edits": [("    if (until < fallback_until) {", "    if (fallback == n) {")],
        "tests": [r"^e2e\.test_upstream_health$"],
    },
    {
        "id": "dot-device-not-relooked-up",
        "file": "resolver/transport/tcp.cc",
        "breaks": "an open DoT connection never looks its device up again after a reload (a device still configured is refused once the generation moves on)",
        "edits": [("  if (device_.state != OriginDevice::State::none && device_.generation == rt.generation) return;",
                   "  if (device_.state != OriginDevice::State::none) return;")],
        "tests": [r"^e2e\.test_dot_revocation$"],
    },
    # --- decisions, EDE and the query path ---
    {
        "id": "ede-security-content-swapped",
        "file": "resolver/pipeline.cc",
        "breaks": "blocked answers carry EDE 17 (Filtered) for security categories and 15 (Blocked) for content categories and deny lists",
        "edits": [(": v.security() ? dns::EdeCode::blocked : dns::EdeCode::filtered",
                   ": v.security() ? dns::EdeCode::filtered : dns::EdeCode::blocked")],
        "tests": [r"^e2e\.test_policy$", r"^unit\.resolver/no_allocation: "],
    },
    {
        "id": "allow-list-ignored",
        "file": "policy/decide.cc",
        "breaks": "the policy's allow list exempts nothing: allow-listed names are blocked by the deny list and categories",
        "edits": [("  if (const std::string* e = policy.allow.match(wire.data(), wire.size())) {",
                   "  if (const std::string* e = nullptr) {")],
        "tests": [r"^unit\.policy/rules: ", r"^e2e\.test_policy$"],
    },
    {
        "id": "deny-list-ignored",
        "file": "policy/decide.cc",
        "breaks": "the policy's deny list blocks nothing (queried names only; CNAME targets still checked)",
        "edits": [("  if (const std::string* e = policy.deny.match(wire.data(), wire.size())) {",
                   "  if (const std::string* e = nullptr) {")],
        "tests": [r"^unit\.policy/rules: ", r"^e2e\.test_policy$"],
    },
    {
        "id": "cname-inspection-off",
        "file": "resolver/pipeline.cc",
        "breaks": "CNAME cloaking goes through: answers' CNAME targets are no longer checked against the deny list and categories",
        "edits": [("  id.inspect_chain = id.policy != nullptr;",
                   "  id.inspect_chain = false;")],
        "tests": [r"^e2e\.test_policy$"],
    },
    {
        "id": "tenant-most-specific-not-preferred",
        "file": "policy/tenants.cc",
        "breaks": "a network starting at an existing range boundary (its parent's first address, the end of an adjacent network) is not painted: the broader tenant, or none, wins",
        "edits": [("  bounds[start] = tenant;",
                   "  bounds.emplace(start, tenant);")],
        "tests": [r"^unit\.policy/rules: tenant table"],
    },
    {
        "id": "querylog-anonymized-full-address",
        "file": "policy/querylog/format.cc",
        "breaks": "a policy with log: anonymized writes full client addresses to the query log",
        "edits": [("write_client_text(client, r, r.log_mode == LogMode::anonymized)",
                   "write_client_text(client, r, r.log_mode == LogMode::none)")],
        "tests": [r"^unit\.policy/querylog_", r"^e2e\.test_querylog$"],
    },
    {
        "id": "negative-ttl-cap-ignored",
        "file": "resolver/cache/answer.cc",
        "breaks": "cache.negative_max_ttl no longer caps NXDOMAIN/NODATA TTLs",
        "edits": [("ttl = soa_ttl == UINT32_MAX ? 0 : std::min(soa_ttl, limits.negative_max_ttl);",
                   "ttl = soa_ttl == UINT32_MAX ? 0 : soa_ttl;")],
        "tests": [r"^unit\.resolver/cache: ", r"^e2e\.test_cache$"],
    },
    {
        "id": "udp-limit-4096",
        "file": "resolver/respond.cc",
        "breaks": "UDP answers up to 4096 bytes are sent whole instead of TC=1 above 1232",
        "edits": [("  return std::min<size_t>(q.edns.udp_payload, dns::kAdvertisedUdpPayload);",
                   "  return std::min<size_t>(q.edns.udp_payload, 4096);")],
        "tests": [r"^unit\.resolver/respond: ", r"^e2e\.test_edns$", r"^e2e\.test_transport$"],
    },
    {
        "id": "nxdomain-counted-as-failure",
        "file": "resolver/upstream/forwarder.cc",
        "breaks": "an upstream's NXDOMAIN counts as a failed attempt: other upstreams are asked, then stale data or SERVFAIL is served although an upstream answered",
        "edits": [("  if (rcode != dns::Rcode::noerror && rcode != dns::Rcode::nxdomain) {",
                   "  if (rcode != dns::Rcode::noerror) {")],
        "tests": [r"^e2e\.test_cache$", r"^e2e\.test_upstream_failures$"],
    },
    {
        "id": "upstream-wrong-id-accepted",
        "file": "resolver/upstream/response_check.cc",
        "breaks": "an upstream answer with the wrong DNS ID is accepted (RFC 5452 anti-spoofing)",
        "edits": [("if (!h.qr() || h.id != id || h.opcode() != dns::Opcode::query",
                   "if (!h.qr() || h.opcode() != dns::Opcode::query")],
        "tests": [r"^e2e\.test_upstream_failures$"],
    },
    {
        "id": "edns-version-1-accepted",
        "file": "resolver/decode.cc",
        "breaks": "a query with EDNS version 1 is answered normally instead of BADVERS (only version 2 and up are refused)",
        "edits": [("  if (out.edns.present && out.edns.version != 0) return DecodeResult::badvers;",
                   "  if (out.edns.present && out.edns.version > 1) return DecodeResult::badvers;")],
        "tests": [r"^unit\.resolver/decode: ", r"^e2e\.test_edns$"],
    },
    {
        "id": "doh-base64url-padding-accepted",
        "file": "base/base64url.cc",
        "breaks": "a DoH GET whose dns= parameter carries '=' padding is decoded instead of answered 400",
        "edits": [("    const int v = value_of(c);\n",
                   "    if (c == '=') break;\n    const int v = value_of(c);\n")],
        "tests": [r"^unit\.base/base64url: ", r"^e2e\.test_doh$"],
    },
    {
        "id": "store-subtree-not-label-boundary",
        "file": "policy/store/category_store.cc",
        "breaks": "the seek-range lookup takes the common prefix with the preceding key as an ancestor: example.com's subtree entry matches examplefoo.com",
        "edits": [("  size_t cand = shorter(key, len);\n  while (cand > lcp) cand = shorter(key, cand);",
                   "  size_t cand = lcp;")],
        "tests": [r"^unit\.policy/category_store: ", r"^unit\.policy/store_index: "],
    },
    # --- admin API, devices, intercept ---
    {
        "id": "if-match-stale-accepted",
        "file": "admin/tenant_files/tenant_file.cc",
        "breaks": "a write with a stale If-Match overwrites the tenant file (lost update) instead of 412",
        "edits": [("    if (!expected->empty() && tenant_file_etag(*current) != *expected)\n"
                   "      return failure(TenantFileStatus::conflict, path, path + \" changed since it was read (ETag mismatch); read it again\");\n",
                   "")],
        "tests": [r"^unit\.admin/api_changes: ", r"^unit\.admin/tenant_file: ", r"^e2e\.test_admin$"],
    },
    {
        "id": "tenant-admin-sees-other-tenants",
        "file": "admin/api/api.cc",
        "breaks": "a tenant-admin token reads and changes other tenants under /api/v1/tenants/{id}/...",
        "edits": [("    if (!c.who.may_see(id) || !find_tenant(*c.live.settings, id))",
                   "    if (!find_tenant(*c.live.settings, id))")],
        "tests": [r"^unit\.admin/api_auth: ", r"^e2e\.test_admin$"],
    },
    {
        "id": "admin-auth-failures-not-counted",
        "file": "admin/api/auth.cc",
        "breaks": "failed admin logins are never counted: no 429 after 10 wrong tokens from one address",
        "edits": [("  ++it->second.count;\n", "")],
        "tests": [r"^unit\.admin/api_auth: ", r"^e2e\.test_admin$"],
    },
    {
        "id": "max-devices-off-by-one",
        "file": "admin/tenant_files/devices.cc",
        "breaks": "adding a device when a tenant already has max_devices is not refused with the max_devices message",
        "edits": [("  if (t.max_devices != 0 && t.devices.size() >= t.max_devices)",
                   "  if (t.max_devices != 0 && t.devices.size() > t.max_devices)")],
        "tests": [r"^unit\.admin/devices: ", r"^unit\.admin/api_changes: ", r"^e2e\.test_device_limit$"],
    },
    {
        "id": "intercept-private-origin-allowed",
        "file": "intercept/origin_address.cc",
        "breaks": "inspection forwards to loopback/RFC 1918 origins unless allow_private covers them (inverted: refused only when covered)",
        "edits": [("!why.empty() && !allowed_private(allow_private, family, bytes)",
                   "!why.empty() && allowed_private(allow_private, family, bytes)")],
        "tests": [r"^unit\.intercept/origin_address: ", r"^e2e\.test_intercept$"],
    },
    {
        "id": "intercept-embedded-v4-not-judged",
        "file": "intercept/special_address.cc",
        "breaks": "an origin resolving to NAT64 64:ff9b::a9fe:a9fe or 6to4 2002:7f00:1:: (the metadata service, loopback) is dialled",
        "edits": [("  c.refused_by = first_match(AF_INET, c.embedded_v4);\n", "")],
        "tests": [r"^unit\.intercept/special_address: ", r"^e2e\.test_intercept_origin_address$"],
    },
    # --- issue 19, item 3: connections and descriptors under attack ---
    {
        "id": "frame-deadline-renewed-by-bytes",
        "file": "resolver/transport/tcp.cc",
        "breaks": "every read renews a TCP/DoT frame's deadline, so bytes trickled in hold a connection for ever (slowloris)",
        "edits": [("  if (frame_started_ms_ != 0 && frames_ == frames_before) return;  // the same frame, still unfinished\n",
                   "")],
        "tests": [r"^e2e\.test_connection_limits$"],
    },
    {
        "id": "per-address-cap-off-by-one",
        "file": "net/per_address_limit.cc",
        "breaks": "one connection more than server.tcp.max_connections_per_address is taken from a client",
        "edits": [("  if (limit != 0 && n >= limit) return false;", "  if (limit != 0 && n > limit) return false;")],
        "tests": [r"^unit\.net/per_address_limit: ", r"^e2e\.test_connection_limits$"],
    },
    {
        "id": "tcp-client-outside-tenants-kept",
        "file": "resolver/transport/tcp.cc",
        "breaks": "a plain TCP client in no tenant's networks is kept (refused query by query) instead of closed on accept",
        "edits": [("  if (transport == Transport::tcp && !in_some_tenant(rt, c->peer_)) {",
                   "  if (false && transport == Transport::tcp && !in_some_tenant(rt, c->peer_)) {")],
        "tests": [r"^e2e\.test_connection_limits$"],
    },
    {
        "id": "upstream-socket-limit-ignored",
        "file": "resolver/upstream/forwarder.cc",
        "breaks": "uncached queries open upstream sockets without bound: a flood takes every descriptor, silently",
        "edits": [("        !f->over_tcp && counters_.upstream_sockets_open.load() >= limit) {",
                   "        !f->over_tcp && counters_.upstream_sockets_open.load() >= limit + 1000000) {")],
        "tests": [r"^e2e\.test_connection_limits$"],
    },
]
