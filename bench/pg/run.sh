#!/usr/bin/env bash
# waiter-pg benchmarks against a throwaway PostgreSQL; writes bench/results/pg.md.
#
#   bench/pg/run.sh [--quick]      # --quick: 20,000 queries, 3 runs, API scenario 10 s -> 5 s
#
# 1. Raw client: QUERIES x `SELECT $1::int` over one connection, sequential
#    and pipelined (64 in flight), waiter-pg vs tokio-postgres (benches/raw_client.rs).
# 2. API server (bench/pg/api.sh): the first seed's scenario, 10,000 connections
#    on GET /slow (pg_sleep(0.02)) with a pool of 50, waiter-pg's api_server vs
#    Node.js + pg.Pool; GET /users/{id} too.
#
# PostgreSQL is pinned to CPU 1, the raw client to CPU 0 (api.sh: the server under
# test alone on CPU 1); the whole run holds /tmp/waiter-bench.lock.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
# Hold the bench lock for the whole run (one wait, no other helper's load in between).
if [[ -z ${WAITER_PG_BENCH_LOCKED:-} ]]; then
    exec env WAITER_PG_BENCH_LOCKED=1 flock /tmp/waiter-bench.lock "$0" "$@"
fi

quick=false
[[ ${1:-} == --quick ]] && quick=true
queries=100000
runs=5
if $quick; then queries=20000; runs=3; fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
raw_dir=bench/results/raw/pg
mkdir -p "$raw_dir"

eval "$(scripts/pg/cluster.sh start --hold $$)"
postmaster=$(head -1 "$WAITER_PG_DIR/data/postmaster.pid")
# Backends fork from the postmaster and inherit its CPU.
taskset -a -cp 1 "$postmaster" >/dev/null

echo "== building"
cargo build --release -q -p waiter-pg --bench raw_client --example api_server
bench_bin=$(ls -t "$CARGO_TARGET_DIR"/release/deps/raw_client-* | grep -v '\.d$' | head -1)

echo "== raw client: $queries queries x $runs runs"
: >"$raw_dir/raw_client.txt"
# One process per scenario, the order alternating between runs, so neither
# driver always goes first (a fresh backend, a cold cache).
scenarios=("waiter-pg sequential" "tokio-postgres sequential" "waiter-pg pipelined" "tokio-postgres pipelined")
for i in $(seq "$runs"); do
    order=("${scenarios[@]}")
    if (( i % 2 == 0 )); then order=("${scenarios[1]}" "${scenarios[0]}" "${scenarios[3]}" "${scenarios[2]}"); fi
    for s in "${order[@]}"; do
        taskset -c 0 "$bench_bin" "$queries" 64 "$s" | tee -a "$raw_dir/raw_client.txt"
    done
done

seconds=10
$quick && seconds=5
bash bench/pg/api.sh "$seconds" "$raw_dir"

python3 bench/pg/report.py "$raw_dir" "$queries" "$runs" "$($quick && echo quick || echo full)" >bench/results/pg.md
echo "== wrote bench/results/pg.md"
