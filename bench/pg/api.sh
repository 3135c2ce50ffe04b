#!/usr/bin/env bash
# The API-server half of bench/pg/run.sh (called by it, with the cluster running and
# WAITER_PG_* set, holding the bench lock): waiter-pg's api_server vs Node.js + pg.Pool,
# ROUNDS rounds (the order of the servers rotating), and pgbench on the /slow query
# as the database's own ceiling.
#
#   bench/pg/api.sh SLOW_SECONDS USERS_SECONDS ROUNDS OUT_DIR
#
# Servers: `waiter` (api_server as shipped: /slow through Pool::get_pipelined, two
# statements queued per connection at most), `waiter1` (api_server --pipeline 1: /slow
# through exclusive checkouts, as node-postgres and pgbench do it) and `node`;
# API_SERVERS="waiter node" runs a subset.
#
# Placement: the server under test alone on CPU 1; wrk and PostgreSQL on CPU 0. Unless
# BENCH_RT=0, PostgreSQL's processes run at real-time priority SCHED_FIFO 20 and the servers,
# wrk and pgbench at nice -20: on a machine shared with other sessions' compilers a normal
# PostgreSQL backend wakes from its 20 ms sleep milliseconds late (pgbench itself reached 80%
# of the pool bound, 97% with SCHED_FIFO), and above wrk it is not held up by wrk's 10,000
# connects. The servers are not SCHED_FIFO: Node's helper threads, pinned to the same CPU at
# the same FIFO priority, wait behind its main thread (futex waits of 2 ms; /users fell from
# 7.9k to 2.7k req/s). PostgreSQL's policy is restored on exit (the cluster may be shared).
# Ports: API_PORT (default 18400) for waiter, +1 for node, +2 for waiter1.
set -euo pipefail
slow_seconds=$1
users_seconds=$2
rounds=$3
out=$4
cd "$(dirname "$0")/../.."
: "${WAITER_PG_URL:?start the cluster first (bench/pg/run.sh does)}"
pool=50
port_waiter=${API_PORT:-18400}
port_node=$((port_waiter + 1))
port_waiter1=$((port_waiter + 2))
servers=(${API_SERVERS:-waiter waiter1 node})
ulimit -n "$(ulimit -Hn)"

if [[ ! -d bench/pg/node/node_modules/pg ]]; then
    echo "== npm install pg (bench/pg/node)"
    npm install --silent --no-audit --no-fund --prefix bench/pg/node >/dev/null
fi
api_bin=$CARGO_TARGET_DIR/release/examples/api_server
pgbench=$(dirname "$(readlink -f "$(command -v pg_ctl 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -1)")")/pgbench

rt=()
pg_policy=(-o -p 0)
if [[ ${BENCH_RT:-1} == 1 ]]; then
    rt=(nice -n -20)
    pg_policy=(-f -p 20)
fi
postmaster=$(head -1 "$WAITER_PG_DIR/data/postmaster.pid")
# place_pg CPU POLICY...: PostgreSQL's processes (backends forked later inherit it).
place_pg() {
    local cpu=$1 pid
    shift
    for pid in "$postmaster" $(ps -o pid= --ppid "$postmaster"); do
        taskset -a -cp "$cpu" "$pid" >/dev/null 2>&1 || true
        chrt -a "$@" "$pid" 2>/dev/null || true
    done
}
trap 'place_pg 0,1 -o -p 0' EXIT
place_pg 0 "${pg_policy[@]}"

wait_port() {
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$1/users/1" >/dev/null && return 0
        sleep 0.1
    done
    echo "server on port $1 did not come up" >&2
    return 1
}

# pgbench_ceiling ROUND: 50 clients looping on the /slow query, no HTTP in between.
pgbench_ceiling() {
    echo "SELECT pg_sleep(0.02);" >"$out/sleep.sql"
    "${rt[@]}" taskset -c 1 "$pgbench" -n -f "$out/sleep.sql" -c "$pool" -j 1 -T "$slow_seconds" -M prepared \
        -h 127.0.0.1 -p "$WAITER_PG_PORT" -U waiter waiter >"$out/pgbench.r$1.txt" 2>&1 || true
    grep -E "^tps" "$out/pgbench.r$1.txt" || true
}

# run NAME PORT ROUND -- server command...
run() {
    local name=$1 port=$2 round=$3
    shift 4
    "${rt[@]}" taskset -c 1 "$@" >"$out/$name.server.log" 2>&1 &
    local pid=$!
    wait_port "$port"
    # Warm the pool: 50 connections open before measuring.
    "${rt[@]}" taskset -c 0 wrk -t1 -c"$pool" -d2s "http://127.0.0.1:$port/slow" >/dev/null
    echo "== round $round, $name: /slow, 10000 connections, ${slow_seconds}s"
    # steady.lua: the responses of each second, for the steady-state rate.
    "${rt[@]}" taskset -c 0 wrk -t2 -c10000 -d"${slow_seconds}s" --timeout 30s --latency -s bench/pg/steady.lua \
        "http://127.0.0.1:$port/slow" >"$out/$name.r$round.slow.txt" 2>&1 || true
    grep -E "Requests/sec|99%|Socket errors|Non-2xx|per second" "$out/$name.r$round.slow.txt" || true
    # wrk leaves thousands of requests queued for the pool when it stops: let
    # them drain (10,000 x 20 ms / 50 = 4 s) before measuring anything else.
    sleep 6
    echo "== round $round, $name: /users/42, 100 connections, ${users_seconds}s"
    "${rt[@]}" taskset -c 0 wrk -t1 -c100 -d"${users_seconds}s" --latency \
        "http://127.0.0.1:$port/users/42" >"$out/$name.r$round.users.txt" 2>&1 || true
    grep -E "Requests/sec|99%|Socket errors|Non-2xx" "$out/$name.r$round.users.txt" || true
    grep -E "VmHWM|VmRSS" "/proc/$pid/status" >"$out/$name.r$round.rss.txt"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

waiter() { run waiter "$port_waiter" "$1" -- "$api_bin" --listen "127.0.0.1:$port_waiter" --pool "$pool" --db "$WAITER_PG_URL"; }
waiter1() {
    run waiter1 "$port_waiter1" "$1" -- "$api_bin" --listen "127.0.0.1:$port_waiter1" --pool "$pool" --pipeline 1 \
        --db "$WAITER_PG_URL"
}
node() { run node "$port_node" "$1" -- node bench/pg/node/server.js "$port_node" "$pool"; }

for round in $(seq "$rounds"); do
    echo "== round $round: pgbench, $pool clients on SELECT pg_sleep(0.02), ${slow_seconds}s"
    pgbench_ceiling "$round"
    # Rotate the order: each server goes first in one round of every ${#servers[@]}.
    n=${#servers[@]}
    for i in $(seq 0 $((n - 1))); do
        "${servers[$(((i + round - 1) % n))]}" "$round"
    done
done
