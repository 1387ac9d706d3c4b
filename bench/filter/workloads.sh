# bench/filter/workloads.sh: the filtering workloads, sourced by bench/run.sh
# (BENCH_WORKLOAD_FILES).  bench/filter/run.sh prepares FILTER_DIR first:
#   FILTER_DIR/store             the category store (synthetic names + blocked.txt)
#   FILTER_DIR/blocked.txt       b0..b{K-1}.bench.example, category malware
#   FILTER_DIR/local-zones.conf  Unbound: the same blocked names plus synthetic ones,
#                                UNBOUND_N in all, as `local-zone: "..." always_null`
# The blocked names live under the benchmark zone and Knot serves them too, so
# sekishod with filtering off answers the very same queries from its cache: the
# on/off ratio is the cost of filtering and nothing else.
# Uses write_zone, ZONE_NAME, BENCH_NAMES and BENCH_DIR from bench/run.sh.

: "${FILTER_DIR:?run bench/filter/run.sh, which prepares FILTER_DIR}"
FILTER_BLOCKED=${FILTER_BLOCKED:-$(wc -l <"$FILTER_DIR/blocked.txt")}

# filter_zone DIR: the allowed names n*, and every blocked name b* with its www.b*.
filter_zone() {
    write_zone "$1/zone.txt" "$BENCH_NAMES"
    awk -v k="$FILTER_BLOCKED" 'BEGIN { for (j = 0; j < k; j++)
        printf "b%d A 10.250.%d.%d\nwww.b%d A 10.251.%d.%d\n", j, int(j / 256) % 256, j % 256, j, int(j / 256) % 256, j % 256 }' \
        >>"$1/zone.txt"
}

# filter_queries FILE ALLOWED_PERCENT: BENCH_NAMES queries; ALLOWED_PERCENT of them are
# allowed n* names, the rest blocked: four in five a listed b* name, one in five its
# www. subdomain (covered by the listed name's subtree entry / local zone).
filter_queries() {
    awk -v n="$BENCH_NAMES" -v a="$2" -v k="$FILTER_BLOCKED" -v z="$ZONE_NAME" 'BEGIN {
        blocked = 0
        for (i = 0; i < n; i++) {
            if ((i * 7919) % 100 < a) { printf "n%d.%s A\n", i, z; continue }
            j = (blocked * 104729) % k
            if (blocked % 5 == 4) printf "www.b%d.%s A\n", j, z; else printf "b%d.%s A\n", j, z
            blocked++
        }
    }' >"$1"
}

# filter_configs DIR: sekishod with a tenant whose policy blocks malware (the blocked
# names' category) and logs every query; sekishod_nolog the same with `log: none`;
# sekishod_off_log the same tenant and log with a policy that blocks nothing (filtering off,
# every query logged: against sekishod, the cost of filtering with the log held equal);
# sekishod_off without tenants (no filtering, no query log); Unbound with the local zones.
filter_configs() {
    local d=$1
    mkdir -p "$d/querylog"
    {
        cat "$BENCH_DIR/conf/sekishod.yaml.in"
        cat <<YAML
category_db: $FILTER_DIR/store
blockpage:
  ipv4: 0.0.0.0
  ipv6: "::"
  ttl: 60
querylog:
  directory: $d/querylog
tenants:
  - id: bench
    networks: ["127.0.0.0/8"]
    policy: office
policies:
  office:
    block: [malware, phishing, adult]
    action: blockpage
    log: full
YAML
    } >"$d/sekishod.yaml.in"
    # the same filtering without the query log: what the log costs, apart from the filtering
    sed 's/^    log: full$/    log: none/' "$d/sekishod.yaml.in" >"$d/sekishod_nolog.yaml.in"
    # a policy that blocks nothing skips the category lookup (policy/decide.cc): filtering off
    sed 's/^    block: \[malware, phishing, adult\]$/    block: []/' "$d/sekishod.yaml.in" >"$d/sekishod_off_log.yaml.in"
    grep -q '^    block: \[\]$' "$d/sekishod_off_log.yaml.in" || { echo "filter_configs: policy block line not found" >&2; return 1; }
    {
        cat "$BENCH_DIR/conf/sekishod.yaml.in"
        echo "category_db: $FILTER_DIR/store"
        echo "querylog:"
        echo "  enabled: false"
    } >"$d/sekishod_off.yaml.in"
    sed "s|^server:\$|server:\n    include: \"$FILTER_DIR/local-zones.conf\"|" \
        "$BENCH_DIR/conf/unbound.conf.in" >"$d/unbound.conf.in"
}

wl_filter_setup() {
    filter_zone "$1"
    filter_queries "$1/queries.txt" 80
    filter_configs "$1"
}

wl_blocked_setup() {
    filter_zone "$1"
    filter_queries "$1/queries.txt" 0
    filter_configs "$1"
}
