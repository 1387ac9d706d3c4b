# shellcheck shell=bash
# bench/lib.sh: what the benchmark scripts share, sourced (not run) by every bench/*/run.sh and
# bench/run.sh: the machine a result was measured on (bench_machine), their test certificates,
# and the bookkeeping that stops every server they start, however the script ends.
#
# The sourcing script sets BENCH_TAG (its log prefix) first, and WORK (its scratch dir) before
# anything is started; on exit every process in PID is stopped and WORK removed unless
# BENCH_KEEP=1. A script with its own EXIT trap sets it after sourcing (it replaces this one's).

log() { printf '[%s] %s\n' "$BENCH_TAG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# need_tools TOOL...: each must be on PATH; .ci/setup installs every one the benchmarks use.
need_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool not found (bash .ci/setup installs it)"
    done
}

# bench_machine [FILE]: what a result was measured on, as "key: value" lines on stderr and in
# FILE (each benchmark writes RESULTS/machine.txt and prints it first): ratios between servers
# moved by 2.4x between two VMs of the same size (issue 24), so a figure without its machine
# says little. CPU model, cores and the set this script may use, kernel, memory, load average
# when the run started, the compiler and sekisho commit of the build, and the version of every
# peer and tool installed (absent ones are said so, never guessed).
bench_machine() {
    local out=${1:-/dev/null} repo
    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    {
        printf 'date: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        printf 'cpu: %s\n' "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
        printf 'cores: %s online, %s usable by this script (%s)\n' "$(grep -c ^processor /proc/cpuinfo)" \
            "$(nproc)" "$(taskset -pc $$ 2>/dev/null | sed 's/.*: //')"
        local virt
        virt=$(systemd-detect-virt 2>/dev/null) || virt=none
        grep -qw hypervisor /proc/cpuinfo && virt="$virt, under a hypervisor (cpuinfo flag)"
        printf 'virtualization: %s\n' "$virt"
        printf 'kernel: %s\n' "$(uname -srm)"
        printf 'os: %s\n' "$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
        printf 'memory: %s MiB\n' "$(awk '/^MemTotal/ { printf "%d", $2 / 1024 }' /proc/meminfo)"
        printf 'load average at start: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
        printf 'sekisho: %s%s\n' "$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
            "$(git -C "$repo" diff --quiet HEAD 2>/dev/null || echo ' (uncommitted changes)')"
        local cache=${BUILD_DIR:-$repo/build}/CMakeCache.txt
        local type
        type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$cache" 2>/dev/null)
        printf 'build: %s, %s\n' "${type:-RelWithDebInfo (the CMakeLists default)}" \
            "$( (c++ --version 2>/dev/null || echo 'c++ unknown') | head -1)"
        local tool version
        for tool in unbound knotd kdig dnsperf nginx wrk openssl curl valgrind; do
            if ! command -v "$tool" >/dev/null; then
                version="not installed"
            else
                # Some print their version with a failing status (wrk -v): never fatal under set -e.
                version=$(
                    set +e +o pipefail
                    case $tool in
                    unbound) unbound -V 2>&1 | sed -n 's/^Version //p' | head -1 ;;
                    knotd | kdig) "$tool" --version 2>&1 | head -1 ;;
                    dnsperf) dnsperf -h 2>&1 | sed -n 's/^DNS Performance Testing Tool //p; s/.*[Vv]ersion \([0-9.]*\).*/\1/p' | head -1 ;;
                    nginx) nginx -v 2>&1 | sed 's/^nginx version: //' ;;
                    wrk) wrk -v 2>&1 | head -1 ;;
                    openssl) openssl version ;;
                    curl) curl --version | head -1 | cut -d' ' -f1-2 ;;
                    valgrind) valgrind --version ;;
                    esac
                    true
                )
            fi
            printf '%s: %s\n' "$tool" "${version:-unknown}"
        done
    } | tee "$out" >&2
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
