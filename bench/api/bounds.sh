#!/usr/bin/env bash
# What this machine can do at all for the API scenario's exchange (issue 4, item 2): the
# bounds the api.md targets are judged against.
#
#   bench/api/bounds.sh [ROUNDS]      (default 3 rounds of 5 s runs; ~3 min)
#
# 1. Ceiling: the same request and response with no wait at all, at 1,000 and 10,000
#    connections, from waiter's delay_server (DELAY_MS 0) and from nginx (`return 200`,
#    one worker, no master): requests/s, the server's and wrk's CPU (% of one core).
#    With nothing to wait for, this is the most this box and `wrk -t1` on one core
#    move in this exchange; the api.md ideal (connections / 20 ms) is judged below it.
# 2. The 20 ms server under load: TCP segments per request on loopback (nstat's
#    TcpOutSegs, both directions, over the run / wrk's requests), and both CPUs. A
#    request and its response take 2 segments when each side's ACK rides on its next
#    send; 4 when every request and response is also ACKed on its own.
#
# Same placement as bench/api/run.sh: server `nice -n -20 taskset -c 1`, wrk
# `nice -n -20 taskset -c 0` (BENCH_RT=fifo: both at SCHED_FIFO 10, which keeps a busy
# neighbour's compiler out of every wake-up; no Node here to be unfair to); CPU from utime+stime in /proc/PID/stat over the run.
# Wrap it in `flock /tmp/waiter-bench.lock`. Ports 18220-18221. Raw results go to
# $CARGO_TARGET_DIR/api-bench/bounds.raw; bench/results/api_bounds.md is written from them.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
ROUNDS=${1:-3}
DUR=${BENCH_DUR:-5}
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
OUT=$TARGET/api-bench
RAW=$OUT/bounds.raw
. "$REPO/bench/api/sched.sh"
for tool in wrk taskset nstat python3 cargo; do
    command -v $tool >/dev/null || { echo "api/bounds.sh: $tool missing" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "api/bounds.sh: nginx missing (apt-get install nginx)" >&2; exit 1; }
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
mkdir -p "$OUT/bounds" bench/results
: >"$RAW"
raw() { echo "$*" >>"$RAW"; }

cargo build -q --release -p waiter-http --example delay_server
DELAY_SERVER=$TARGET/release/examples/delay_server
cat >"$OUT/bounds/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
error_log $OUT/bounds/nginx.err;
pid $OUT/bounds/nginx.pid;
events { worker_connections 20000; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    server {
        listen 127.0.0.1:18221 backlog=4096;
        location / { default_type "text/plain; charset=utf-8"; return 200 "ok\n"; }
    }
}
EOF

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # clock ticks
HZ=$(getconf CLK_TCK)

# run KIND SERVER CONNS DELAY: one wrk run against a fresh server; appends a raw line.
run() {
    local kind=$1 server=$2 conns=$3 delay=$4 port pid
    case $server in
    waiter)
        port=18220
        "${RT[@]}" taskset -c 1 "$DELAY_SERVER" $port "$delay" 2>/dev/null &
        pid=$!
        ;;
    nginx)
        port=18221
        "${RT[@]}" taskset -c 1 "$NGINX" -c "$OUT/bounds/nginx.conf" 2>/dev/null &
        pid=$!
        ;;
    esac
    local up=0
    for _ in $(seq 50); do
        if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then up=1; break; fi
        sleep 0.1
    done
    [ $up = 1 ] || { echo "api/bounds.sh: $server did not start" >&2; kill "$pid"; exit 1; }
    "${RT[@]}" taskset -c 0 wrk -t1 -c100 -d1s "http://127.0.0.1:$port/" >/dev/null
    local s0 s1 w0 w1 seg0 seg1 t0 t1
    "${RT[@]}" taskset -c 0 wrk -t1 -c"$conns" -d"${DUR}s" --timeout 5s "http://127.0.0.1:$port/" \
        >"$OUT/bounds/wrk.out" &
    local wrk=$!
    # A steady window inside the run: after connecting, before the end.
    sleep 1
    s0=$(cpu $pid) w0=$(cpu $wrk) t0=$(date +%s.%N) seg0=$(segs)
    sleep $((DUR - 2))
    s1=$(cpu $pid) w1=$(cpu $wrk) t1=$(date +%s.%N) seg1=$(segs)
    wait $wrk
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
    local rps
    rps=$(awk '/Requests\/sec/{print $2}' "$OUT/bounds/wrk.out")
    raw "RUN kind=$kind server=$server conns=$conns delay=$delay rps=$rps secs=$(echo "$t1 - $t0" | bc)" \
        "server_ticks=$((s1 - s0)) wrk_ticks=$((w1 - w0)) hz=$HZ segments=$((seg1 - seg0))"
    echo "  $kind $server c$conns: $rps req/s" >&2
}

segs() { nstat -az TcpOutSegs | awk '/TcpOutSegs/{print $2}'; }

raw "META date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
raw "META commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates bench/api || echo ' (+ uncommitted changes)')"
raw "META cpu $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo) ($(nproc) cores)"
raw "META kernel $(uname -r)"
raw "META nginx $("$NGINX" -v 2>&1 | sed 's/.*: //')"
raw "META wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
raw "META load_start $(cut -d' ' -f1-3 /proc/loadavg)"
raw "META scheduling ${RT[*]:-normal}"
raw "META rounds $ROUNDS"
raw "META dur $DUR"
for round in $(seq "$ROUNDS"); do
    echo "== round $round/$ROUNDS" >&2
    for conns in 1000 10000; do
        run ceiling waiter $conns 0
        run ceiling nginx $conns 0
        run wait20 waiter $conns 20
    done
done
raw "META load_end $(cut -d' ' -f1-3 /proc/loadavg)"
python3 bench/api/bounds_report.py "$RAW" >bench/results/api_bounds.md
echo "wrote bench/results/api_bounds.md" >&2
