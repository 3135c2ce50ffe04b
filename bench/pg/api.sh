#!/usr/bin/env bash
# The API-server half of bench/pg/run.sh (called by it, with the cluster running and
# WAITER_PG_* set, holding the bench lock): waiter-pg's api_server vs Node.js + pg.Pool,
# each alone on CPU 1, wrk on CPU 0 with PostgreSQL.
#
#   bench/pg/api.sh SECONDS OUT_DIR
set -euo pipefail
seconds=$1
out=$2
cd "$(dirname "$0")/../.."
: "${WAITER_PG_URL:?start the cluster first (bench/pg/run.sh does)}"
pool=50
port_waiter=15080
port_node=15081
ulimit -n "$(ulimit -Hn)"

if [[ ! -d bench/pg/node/node_modules/pg ]]; then
    echo "== npm install pg (bench/pg/node)"
    npm install --silent --no-audit --no-fund --prefix bench/pg/node >/dev/null
fi
api_bin=$CARGO_TARGET_DIR/release/examples/api_server
# PostgreSQL moves to CPU 0 beside wrk: CPU 1 is the server under test's alone.
postmaster=$(head -1 "$WAITER_PG_DIR/data/postmaster.pid")
for pid in "$postmaster" $(ps -o pid= --ppid "$postmaster"); do
    taskset -a -cp 0 "$pid" >/dev/null
done

wait_port() {
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$1/users/1" >/dev/null && return 0
        sleep 0.1
    done
    echo "server on port $1 did not come up" >&2
    return 1
}

# run NAME PORT -- server command...
run() {
    local name=$1 port=$2
    shift 3
    taskset -c 1 "$@" >"$out/$name.server.log" 2>&1 &
    local pid=$!
    wait_port "$port"
    # Warm the pool: 50 connections open before measuring.
    taskset -c 0 wrk -t1 -c"$pool" -d2s "http://127.0.0.1:$port/slow" >/dev/null
    echo "== $name: /slow, 10000 connections, ${seconds}s"
    taskset -c 0 wrk -t2 -c10000 -d"${seconds}s" --timeout 30s --latency \
        "http://127.0.0.1:$port/slow" >"$out/$name.slow.txt" 2>&1 || true
    grep -E "Requests/sec|99%|Socket errors|Non-2xx" "$out/$name.slow.txt" || true
    # wrk leaves thousands of requests queued for the pool when it stops: let
    # them drain (10,000 x 20 ms / 50 = 4 s) before measuring anything else.
    sleep 6
    echo "== $name: /users/42, 100 connections, ${seconds}s"
    taskset -c 0 wrk -t1 -c100 -d"${seconds}s" --latency \
        "http://127.0.0.1:$port/users/42" >"$out/$name.users.txt" 2>&1 || true
    grep -E "Requests/sec|99%|Socket errors|Non-2xx" "$out/$name.users.txt" || true
    grep -E "VmHWM|VmRSS" "/proc/$pid/status" >"$out/$name.rss.txt"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

run waiter "$port_waiter" -- "$api_bin" --listen "127.0.0.1:$port_waiter" --pool "$pool" --db "$WAITER_PG_URL"
run node "$port_node" -- node bench/pg/node/server.js "$port_node" "$pool"
