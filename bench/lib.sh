# shellcheck shell=bash
# bench/lib.sh: what the benchmark scripts share, sourced (not run) by bench/run.sh,
# bench/encrypted/run.sh, bench/intercept/run.sh and bench/upstream_tls/run.sh: their test
# certificates, and the bookkeeping that stops every server they start, however the script ends.
#
# The sourcing script sets BENCH_TAG (its log prefix) first, and WORK (its scratch dir) before
# anything is started; on exit every process in PID is stopped and WORK removed unless
# BENCH_KEEP=1.

log() { printf '[%s] %s\n' "$BENCH_TAG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# need_tools TOOL...: each must be on PATH; .ci/setup installs every one the benchmarks use.
need_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool not found (bash .ci/setup installs it)"
    done
}

# make_bench_pki DIR: a throwaway CA (DIR/ca.pem) and the servers' certificate for dns.bench and
# 127.0.0.1 signed by it (DIR/server.pem, DIR/server.key); ECDSA P-256, valid two days.
make_bench_pki() {
    local d=$1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-ca \
        -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=dns.bench \
        -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:dns.bench,IP:127.0.0.1\n' >"$d/san.ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -days 2 -extfile "$d/san.ext" -out "$d/server.pem" 2>/dev/null
}

# --- process bookkeeping: everything started is stopped on exit ------------------------------
declare -A PID=()

# start_proc NAME CPU LOGFILE CMD...: pinned with taskset, which execs CMD, so $! is the
# server's own PID (the one whose /proc/PID/stat the benchmarks read).
start_proc() {
    local name=$1 cpu=$2 logf=$3; shift 3
    taskset -c "$cpu" "$@" >"$logf" 2>&1 &
    PID[$name]=$!
}

# stop_proc NAME: TERM, then KILL if it has not gone within 3 s.
stop_proc() {
    local pid=${PID[$1]:-}
    [[ -n $pid ]] || return 0
    unset "PID[$1]"
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# wait_for NAME SECONDS CMD...: runs CMD until it succeeds (0), NAME's process exits (1) or
# SECONDS pass (2); the caller says which went wrong. POLL=S between tries (default 0.2 s).
wait_for() {
    local name=$1 deadline=$((SECONDS + $2)); shift 2
    while ! "$@"; do
        kill -0 "${PID[$name]}" 2>/dev/null || return 1
        ((SECONDS < deadline)) || return 2
        sleep "${POLL:-0.2}"
    done
}

bench_cleanup() {
    local name
    for name in "${!PID[@]}"; do stop_proc "$name"; done
    [[ -n ${WORK:-} ]] || return 0
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
