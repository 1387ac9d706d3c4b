#!/usr/bin/env bash
# bench/intercept/run.sh: sekisho-intercept's two speed figures (issue 6), measured with wrk on
# loopback against Debian's nginx:
#   handshake  new TLS connection per request ("Connection: close") to the HTTPS block page of a
#              blocked name (its certificate minted once, then served from the memory cache)
#              vs nginx serving the same bytes with a static ECDSA P-256 certificate.
#              Goal: intercept/nginx >= 0.8.
#   keepalive  keep-alive requests through the intercept for an allowed URL of a deep-check host
#              vs the same nginx origin fetched directly; the overhead is printed.
# All server-side processes (nginx with one worker, sekisho-intercept, Knot) are pinned to one
# core, wrk to the other, so each pair is compared at the same server CPU budget: the proxied
# case's origin and proxy share that core, which is what the proxy costs. Rounds are interleaved
# and the median round reported, as in bench/run.sh.
#
# wrk has no --resolve and sends the URL's host as SNI and Host: it runs in a private mount
# namespace (unshare --mount, root) where a bind-mounted hosts file maps the bench names to
# 127.0.0.1. Nothing outside that namespace sees it.
#
# Environment (all optional):
#   BENCH_SECONDS=10      measured seconds per case and round
#   BENCH_ROUNDS=3        interleaved rounds
#   BENCH_THREADS=1       wrk threads (all on the load core)
#   BENCH_CONNECTIONS=16  wrk connections
#   BENCH_BODY_BYTES=4096 size of the origin's file in the keep-alive case
#   BENCH_PORT_BASE=27350 ports BASE..BASE+4 on 127.0.0.1 (BASE+5 named in the config, not bound)
#   BENCH_SERVER_CPU=1 BENCH_LOAD_CPU=0
#   BENCH_KEEP=1          keep the work dir (configs, logs)
#   BUILD_DIR=build SEKISHO_INTERCEPT=$BUILD_DIR/intercept/sekisho-intercept SEKISHO_CLI=$BUILD_DIR/admin/sekisho
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_DIR=$(dirname "$HERE")
REPO=$(dirname "$BENCH_DIR")
BENCH_TAG=bench-intercept
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
BUILD_DIR=${BUILD_DIR:-$REPO/build}
INTERCEPT=${SEKISHO_INTERCEPT:-$BUILD_DIR/intercept/sekisho-intercept}
CLI=${SEKISHO_CLI:-$BUILD_DIR/admin/sekisho}
SECONDS_PER=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
THREADS=${BENCH_THREADS:-1}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
BODY_BYTES=${BENCH_BODY_BYTES:-4096}
BASE=${BENCH_PORT_BASE:-27350}
SERVER_CPU=${BENCH_SERVER_CPU:-1}
LOAD_CPU=${BENCH_LOAD_CPU:-0}

BLOCKED=www.casino.bench  # on the tenant's deny list: the block page
DEEP=videos.bench         # deep-check host: /adult is a URL entry, /news/ is forwarded
STATIC=static.bench       # nginx's own name for the handshake case

need_tools wrk nginx knotd openssl curl taskset unshare
[[ $(id -u) == 0 ]] || die "needs root: wrk runs in its own mount namespace to see the bench host names"
[[ -x $INTERCEPT ]] || die "no sekisho-intercept at $INTERCEPT (build first, or set BUILD_DIR)"
[[ -x $CLI ]] || die "no sekisho CLI at $CLI"

WORK=$(mktemp -d /tmp/sekisho-bench-intercept.XXXXXX)
STAMP=intercept-$(date +%Y%m%d-%H%M%S)
RESULTS=$BENCH_DIR/results/$STAMP
mkdir -p "$RESULTS"
bench_machine "$RESULTS/machine.txt"

KNOT_PORT=$BASE
NGINX_STATIC=$((BASE + 1))
NGINX_ORIGIN=$((BASE + 2))
ICPT_HTTP=$((BASE + 3))
ICPT_HTTPS=$((BASE + 4))

# --- certificates: a test CA for nginx (static leaf + origin leaf), `sekisho ca init` for the intercept
ossl() { openssl "$@" 2>>"$WORK/openssl.log" >/dev/null || die "openssl $1 failed (see $WORK/openssl.log)"; }
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-origin-ca \
    -keyout "$WORK/ca.key" -out "$WORK/ca.pem" -addext basicConstraints=critical,CA:TRUE
for name in "$STATIC" "$DEEP"; do
    ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
        -keyout "$WORK/$name.key" -out "$WORK/$name.csr"
    printf 'subjectAltName=DNS:%s\n' "$name" >"$WORK/$name.ext"
    ossl x509 -req -in "$WORK/$name.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial -days 2 \
        -extfile "$WORK/$name.ext" -out "$WORK/$name.pem"
done
"$CLI" ca init --dir "$WORK/icpt-ca" --tenant bench >/dev/null 2>"$WORK/cli.log" || die "sekisho ca init: $(cat "$WORK/cli.log")"
"$CLI" ca export --dir "$WORK/icpt-ca" --tenant bench >"$WORK/icpt-ca.pem" 2>>"$WORK/cli.log" || die "sekisho ca export failed"

# --- category store: one URL entry makes DEEP a deep-check host ---------------------------
mkdir -p "$WORK/ut1/adult"
echo "$DEEP/adult" >"$WORK/ut1/adult/urls"
"$CLI" db --db "$WORK/categories" import --source urls --format ut1 "$WORK/ut1" >>"$WORK/cli.log" 2>&1 ||
    die "sekisho db import failed: $(tail -3 "$WORK/cli.log")"

# --- Knot: the forwarder resolves DEEP through the configured upstreams ---------------------
mkdir -p "$WORK/knot"
cat >"$WORK/zone.txt" <<ZONE
\$ORIGIN bench.
\$TTL 86400
@ SOA ns hostmaster 1 3600 600 86400 86400
@ NS ns
ns A 127.0.0.1
videos A 127.0.0.1
ZONE
sed -e "s|@RUNDIR@|$WORK/knot|g" -e "s|@KNOT_PORT@|$KNOT_PORT|g" -e "s|@ZONE@|bench|g" \
    -e "s|@ZONEFILE@|$WORK/zone.txt|g" "$BENCH_DIR/conf/knot.conf.in" >"$WORK/knot.conf"
start_proc knot "$SERVER_CPU" "$WORK/knot.log" knotd -c "$WORK/knot.conf"

# --- sekisho-intercept: tenant `bench` = wrk's source address ------------------------------
# server.listen.dns is required by the shared config schema; sekisho-intercept does not bind it.
cat >"$WORK/intercept.yaml" <<CONF
server: {listen: {dns: ["127.0.0.1:$((BASE + 5))"]}}
upstreams: ["127.0.0.1:$KNOT_PORT"]
category_db: $WORK/categories
blockpage: {ipv4: 127.0.0.1, ttl: 60}
tenants:
  - {id: bench, name: "Bench", networks: ["127.0.0.1/32"], policy: office}
policies:
  office: {block: [adult], deny: [casino.bench], deep_inspection: true}
intercept:
  listen: {http: ["127.0.0.1:$ICPT_HTTP"], https: ["127.0.0.1:$ICPT_HTTPS"]}
  ca_dir: $WORK/icpt-ca
  cert_cache_dir: $WORK/icpt-certs
  allow_private: ["127.0.0.0/8"]
  origin_https_port: $NGINX_ORIGIN
  origin_ca_file: $WORK/ca.pem
CONF
start_proc intercept "$SERVER_CPU" "$WORK/intercept.log" "$INTERCEPT" --config "$WORK/intercept.yaml"

# The names resolve to 127.0.0.1 for curl (--resolve) and wrk (its own hosts file, see top).
echo "127.0.0.1 $BLOCKED $DEEP $STATIC" >"$WORK/hosts"
curl_to() { # PORT NAME URL [curl args]
    local port=$1 name=$2; shift 2
    curl -sS --max-time 5 --resolve "$name:$port:127.0.0.1" "$@"
}
blockpage_served() {
    curl_to "$ICPT_HTTPS" "$BLOCKED" --cacert "$WORK/icpt-ca.pem" -o "$WORK/blockpage.html" \
        -w '%{http_code}' "https://$BLOCKED:$ICPT_HTTPS/" 2>/dev/null | grep -q 403
}
rc=0; wait_for intercept 15 blockpage_served || rc=$?
((rc != 1)) || { tail -5 "$WORK/intercept.log" >&2; die "sekisho-intercept exited"; }
((rc == 0)) || die "no HTTPS block page from sekisho-intercept within 15 s (log: $WORK/intercept.log)"

# --- nginx: one worker, the block page's bytes under a static certificate, and the origin -----
mkdir -p "$WORK/www/news" "$WORK/nginx"
cp "$WORK/blockpage.html" "$WORK/www/index.html"
head -c "$BODY_BYTES" /dev/urandom >"$WORK/www/news/file.bin"
cat >"$WORK/nginx.conf" <<CONF
user root;
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log $WORK/nginx/access.log;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    default_type application/octet-stream;
    keepalive_requests 10000;   # as sekisho-intercept's max_requests_per_connection
    ssl_protocols TLSv1.2 TLSv1.3;
    root $WORK/www;
    server {
        listen 127.0.0.1:$NGINX_STATIC ssl;
        server_name $STATIC;
        ssl_certificate $WORK/$STATIC.pem;
        ssl_certificate_key $WORK/$STATIC.key;
        location / { default_type "text/html; charset=utf-8"; }
    }
    server {
        listen 127.0.0.1:$NGINX_ORIGIN ssl;
        server_name $DEEP;
        ssl_certificate $WORK/$DEEP.pem;
        ssl_certificate_key $WORK/$DEEP.key;
    }
}
CONF
start_proc nginx "$SERVER_CPU" "$WORK/nginx.log" nginx -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx.conf"
rc=0
wait_for nginx 10 curl_to "$NGINX_STATIC" "$STATIC" --cacert "$WORK/ca.pem" -o /dev/null "https://$STATIC:$NGINX_STATIC/" 2>/dev/null ||
    rc=$?
((rc != 1)) || { cat "$WORK/nginx.log" "$WORK/nginx/error.log" >&2; die "nginx exited"; }
((rc == 0)) || die "nginx did not answer within 10 s"

# The proxied bytes must be the origin's, and the blocked path must stay blocked.
curl_to "$ICPT_HTTPS" "$DEEP" --cacert "$WORK/icpt-ca.pem" -o "$WORK/proxied.bin" "https://$DEEP:$ICPT_HTTPS/news/file.bin" ||
    die "no answer through the intercept for https://$DEEP/news/file.bin (log: $WORK/intercept.log)"
cmp -s "$WORK/proxied.bin" "$WORK/www/news/file.bin" || die "the intercept's answer for /news/file.bin differs from the origin's file"
code=$(curl_to "$ICPT_HTTPS" "$DEEP" --cacert "$WORK/icpt-ca.pem" -o /dev/null -w '%{http_code}' "https://$DEEP:$ICPT_HTTPS/adult/x")
[[ $code == 403 ]] || die "https://$DEEP/adult/x through the intercept answered $code, not the block page"

# CPU time (user+system, µs) of a set of pids, from /proc/PID/stat (all threads).
cpu_us() {
    local total=0 p
    for p in "$@"; do
        [[ -r /proc/$p/stat ]] || continue
        total=$((total + $(awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.0f\n", ($12 + $13) * 1000000 / hz }' "/proc/$p/stat")))
    done
    echo "$total"
}
# nginx's worker does the work; its master only forks it.
NGINX_WORKER=$(pgrep -P "${PID[nginx]}" | head -1)
[[ -n $NGINX_WORKER ]] || die "nginx has no worker process"
declare -A URL=(
    [handshake-nginx]="https://$STATIC:$NGINX_STATIC/"
    [handshake-intercept]="https://$BLOCKED:$ICPT_HTTPS/"
    [keepalive-direct]="https://$DEEP:$NGINX_ORIGIN/news/file.bin"
    [keepalive-intercept]="https://$DEEP:$ICPT_HTTPS/news/file.bin"
)
declare -A SERVER_PIDS=(
    [handshake-nginx]="$NGINX_WORKER"
    [handshake-intercept]="${PID[intercept]}"
    [keepalive-direct]="$NGINX_WORKER"
    [keepalive-intercept]="${PID[intercept]} $NGINX_WORKER ${PID[knot]}"
)
CASES="handshake-nginx handshake-intercept keepalive-direct keepalive-intercept"

# wrk's summary as one line of key=value (latency in µs).
cat >"$WORK/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK requests=%d duration_us=%d connect_errors=%d read_errors=%d write_errors=%d " ..
    "timeouts=%d non2xx=%d mean_us=%.1f p50_us=%d p99_us=%d\n", summary.requests, summary.duration,
    e.connect, e.read, e.write, e.timeout, e.status, latency.mean, latency:percentile(50), latency:percentile(99)))
end
LUA
# Busy CPU time of the whole machine (µs): user nice system irq softirq steal of every core.
machine_busy_us() {
    awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" { printf "%.0f\n", ($2 + $3 + $4 + $7 + $8 + $9) * 1000000 / hz; exit }' /proc/stat
}
# run_wrk CASE SECONDS → prints "rps mean_us p99_us errors non2xx server_cpu_us_per_request other_pct"
# other_pct: CPU that processes other than the servers and wrk used during the run, in % of one
# core (builds of a shared machine); above 10 the figures are disturbed.
run_wrk() {
    local case=$1 secs=$2 extra=() out before after busy0 busy1
    [[ $case == handshake-* ]] && extra=(-H "Connection: close")
    before=$(cpu_us ${SERVER_PIDS[$case]})
    busy0=$(machine_busy_us)
    # `times` in the same subshell: its second line is wrk's own CPU (unshare and taskset exec it).
    out=$({ unshare --mount --propagation private sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$WORK/hosts" \
            taskset -c "$LOAD_CPU" wrk -t "$THREADS" -c "$CONNECTIONS" -d "${secs}s" --timeout 5s \
            -s "$WORK/report.lua" "${extra[@]}" "${URL[$case]}" 2>&1 || true; }; times)
    busy1=$(machine_busy_us)
    after=$(cpu_us ${SERVER_PIDS[$case]})
    echo "$out" >>"$RESULTS/wrk.txt"
    local line wrk_cpu
    line=$(grep '^WRK ' <<<"$out" | tail -1)
    wrk_cpu=$(tail -1 <<<"$out" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } print int(t * 1e6) }')
    [[ -n $line ]] || { log "wrk failed for $case: $(tail -4 <<<"$out" | head -3)"; echo "0 0 0 ? ? 0 ?"; return; }
    awk -v cpu=$((after - before)) -v other=$((busy1 - busy0 - (after - before) - wrk_cpu)) '{
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        rps = v["duration_us"] > 0 ? v["requests"] * 1e6 / v["duration_us"] : 0
        errs = v["connect_errors"] + v["read_errors"] + v["write_errors"] + v["timeouts"]
        printf "%.0f %.0f %d %d %d %.1f %.0f\n", rps, v["mean_us"], v["p99_us"], errs, v["non2xx"],
               (v["requests"] > 0 ? cpu / v["requests"] : 0), (other > 0 ? other : 0) * 100 / v["duration_us"]
    }' <<<"$line"
}

# Warm-up: TLS contexts, the minted certificate (already in memory), nginx's open-file paths.
for c in $CASES; do run_wrk "$c" 1 >/dev/null; done

SUMMARY=$RESULTS/summary.tsv
printf 'case\tround\trps\tmean_us\tp99_us\terrors\tnon2xx\tserver_cpu_us_per_req\tother_pct\n' >"$SUMMARY"
log "$ROUNDS round(s) x 4 cases x ${SECONDS_PER} s; wrk -t$THREADS -c$CONNECTIONS on core $LOAD_CPU, servers on core $SERVER_CPU"
for ((r = 1; r <= ROUNDS; r++)); do
    for c in $CASES; do
        read -r rps mean p99 errs non2xx cpu other < <(run_wrk "$c" "$SECONDS_PER")
        printf '%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$r" "$rps" "$mean" "$p99" "$errs" "$non2xx" "$cpu" "$other" |
            tee -a "$SUMMARY" >&2
    done
done
kill -0 "${PID[intercept]}" 2>/dev/null || die "sekisho-intercept died during the run (log: $WORK/intercept.log)"
cp "$WORK/intercept.yaml" "$WORK/nginx.conf" "$RESULTS/"

# Ratios within each round (drift hits both sides of a pair alike), median over rounds.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : 0) }'; }
col() { awk -v c="$1" -v k="$2" -F'\t' 'NR > 1 && $1 == c { print $k }' "$SUMMARY"; }
ratio_per_round() { # A B COLUMN
    paste <(col "$1" "$3") <(col "$2" "$3") | awk '{ print ($2 > 0 ? $1 / $2 : 0) }' | median
}
{
    printf '%-20s %8s %9s %9s %7s %7s %11s %12s %7s\n' case req/s mean_us p99_us errors non2xx cpu_us/req server_core% other%
    for c in $CASES; do
        m=$(col "$c" 3 | median)
        row=$(awk -F'\t' -v c="$c" -v m="$m" '$1 == c && $3 == m { print; exit }' "$SUMMARY")
        awk -F'\t' '{ printf "%-20s %8s %9s %9s %7s %7s %11s %12.0f %7s\n", $1, $3, $4, $5, $6, $7, $8, $3 * $8 / 1e4, $9 }' <<<"$row"
    done
    echo
    hs=$(ratio_per_round handshake-intercept handshake-nginx 3)
    hs_cpu=$(ratio_per_round handshake-nginx handshake-intercept 8)
    ka=$(ratio_per_round keepalive-intercept keepalive-direct 3)
    ka_cpu=$(ratio_per_round keepalive-intercept keepalive-direct 8)
    awk -v r="$hs" -v n="$ROUNDS" 'BEGIN { printf "ratio handshakes/s intercept/nginx: %.2f (median of %d rounds)\n", r, n }'
    awk -v r="$hs_cpu" 'BEGIN { printf "ratio handshake capacity intercept/nginx (nginx CPU per handshake / intercept CPU per handshake): %.2f (goal >= 0.8: %s)\n", r, (r >= 0.8 ? "met" : "NOT met") }'
    awk -v r="$ka" 'BEGIN { printf "ratio keep-alive req/s proxied/direct: %.2f (proxy overhead: %.0f%% fewer requests/s)\n", r, (1 - r) * 100 }'
    awk -v r="$ka_cpu" 'BEGIN { printf "ratio server CPU per keep-alive request proxied/direct: %.1f\n", r }'
} | tee "$RESULTS/ratios.txt"
# A server core far from busy means wrk was the bottleneck: req/s then compare the client's
# cost more than the servers', and the CPU-per-request ratios are the ones that compare servers.
awk -F'\t' 'NR > 1 && $1 ~ /^handshake/ { if ($3 * $8 / 1e4 < 80) low = 1 } END { exit !low }' "$SUMMARY" &&
    log "note: the server core was under 80% busy in a handshake run: wrk or other processes limited req/s; the CPU-per-request ratios are the ones that compare the servers"
awk -F'\t' 'NR > 1 && $9 > 10 { busy = 1 } END { exit !busy }' "$SUMMARY" &&
    log "warning: other processes used more than 10% of a core during some runs (other_pct in summary.tsv): req/s are depressed"
errors=$(awk -F'\t' 'NR > 1 { s += $6 } END { print s + 0 }' "$SUMMARY")
((errors == 0)) || log "warning: wrk counted $errors socket errors/timeouts (see $RESULTS/wrk.txt)"
ln -sfn "$STAMP" "$BENCH_DIR/results/latest-intercept"
log "results: $RESULTS"
