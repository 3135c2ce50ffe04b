#!/usr/bin/env bash
# waiter-pg benchmarks against a throwaway PostgreSQL; writes bench/results/pg.md.
#
#   bench/pg/run.sh [--quick|--raw]   # about 14 min; --quick: 20,000 queries, 3 runs, /slow 10 s
#                                     # (about 6 min); --raw: step 1 only (about 3 min), the page's
#                                     # API section kept from the previous run (the page says so)
#
# 1. Raw client: QUERIES x `SELECT $1::int` over one connection, sequential
#    and pipelined (64 in flight), waiter-pg vs tokio-postgres (benches/raw_client.rs),
#    RUNS (9) runs per mode. Each run is one process holding one connection per
#    driver and running each driver's QUERIES in BLOCKS (20) alternating blocks, so
#    that both drivers see the same seconds of this shared machine; the per-query
#    CPU and context switches of both clients and of their backends are recorded
#    too (RAW_CLIENT_STATS).
# 2. API server (bench/pg/api.sh), 3 rounds: the first seed's scenario, 10,000
#    connections on GET /slow (pg_sleep(0.02)) with a pool of 50 for 30 s (wrk's
#    first second or so goes on opening the 10,000 connections, while the pool has
#    little to do: the longer run makes that a smaller share), waiter-pg's api_server
#    (as shipped and with --pipeline 1) vs Node.js + pg.Pool; GET /users/{id} too;
#    pgbench on the /slow query as the ceiling of a client that does not pipeline.
#
# PostgreSQL is pinned to CPU 1, the raw client to CPU 0 (api.sh: the server under
# test alone on CPU 1); unless BENCH_RT=0, PostgreSQL at SCHED_FIFO 20 and the rest at
# nice -20 (api.sh says why);
# the whole run holds /tmp/waiter-bench.lock.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
# Hold the bench lock for the whole run (one wait, no other helper's load in between).
if [[ -z ${WAITER_PG_BENCH_LOCKED:-} ]]; then
    exec env WAITER_PG_BENCH_LOCKED=1 flock /tmp/waiter-bench.lock "$0" "$@"
fi

quick=false
raw_only=false
[[ ${1:-} == --quick ]] && quick=true
[[ ${1:-} == --raw ]] && raw_only=true
queries=100000
runs=9
blocks=20
slow_seconds=30
if $quick; then queries=20000; runs=3; slow_seconds=10; fi
rt=()
[[ ${BENCH_RT:-1} == 1 ]] && rt=(nice -n -20)

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
raw_dir=bench/results/raw/pg
mkdir -p "$raw_dir"

eval "$(scripts/pg/cluster.sh start --hold $$)"
postmaster=$(head -1 "$WAITER_PG_DIR/data/postmaster.pid")
# Backends fork from the postmaster and inherit its CPU and policy (restored on exit:
# the cluster may be shared with a test run).
taskset -a -cp 1 "$postmaster" >/dev/null
if [[ ${#rt[@]} -gt 0 ]]; then chrt -a -f -p 20 "$postmaster"; fi
trap 'chrt -a -o -p 0 "$postmaster" 2>/dev/null; taskset -a -cp 0,1 "$postmaster" >/dev/null 2>&1 || true' EXIT

echo "== building"
cargo build --release -q -p waiter-pg --bench raw_client --example api_server
bench_bin=$(ls -t "$CARGO_TARGET_DIR"/release/deps/raw_client-* | grep -v '\.d$' | head -1)

echo "== raw client: $queries queries x $runs runs, $blocks blocks each"
: >"$raw_dir/raw_client.txt"
: >"$raw_dir/raw_stats.txt"
# The load of the machine around the step (other sessions share it).
{ echo "start $(date -u +%H:%M) $(cut -d' ' -f1-3 /proc/loadavg)"; } >"$raw_dir/raw_load.txt"
for i in $(seq "$runs"); do
    for mode in sequential pipelined; do
        RAW_CLIENT_STATS=1 "${rt[@]}" taskset -c 0 "$bench_bin" "$queries" 64 "$mode" "$blocks" \
            2>>"$raw_dir/raw_stats.txt" | tee -a "$raw_dir/raw_client.txt"
    done
done
echo "end $(date -u +%H:%M) $(cut -d' ' -f1-3 /proc/loadavg)" >>"$raw_dir/raw_load.txt"

rounds=3
kind=$($quick && echo quick || echo full)
if $raw_only; then
    kind=raw
    # The API section is carried over from the page as it stands.
    cp bench/results/pg.md "$raw_dir/previous_pg.md"
else
    rm -f "$raw_dir"/*.r[0-9]*.txt
    bash bench/pg/api.sh "$slow_seconds" 10 "$rounds" "$raw_dir"
fi

python3 bench/pg/report.py "$raw_dir" "$queries" "$runs" "$rounds" "$slow_seconds" \
    "$kind" "$([[ ${#rt[@]} -gt 0 ]] && echo rt || echo cfs)" "$blocks" >"$raw_dir/pg.md"
mv "$raw_dir/pg.md" bench/results/pg.md
echo "== wrote bench/results/pg.md"
