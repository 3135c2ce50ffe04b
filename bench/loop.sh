#!/usr/bin/env bash
# Builds and runs waiter's loop benchmarks side by side with tokio (current_thread) and libuv,
# then writes bench/results/loop.md, tick_cost.svg and loop_ratios.svg.
#
#   bench/loop.sh [RUNS]        # RUNS timed runs per implementation, default 5 (≥ 3)
#
# Needs: cargo, and from Debian cc, libc's and libuv's headers, python3 and taskset
# (gcc libc6-dev libuv1-dev python3 util-linux): run as root, it installs what is missing
# with apt-get; otherwise it says what to install and exits 1.
# Environment: CARGO_TARGET_DIR (default ./target), BENCH_CPU (the core to pin to, default 1).
# Each benchmark process runs one warm-up round and one timed round; the processes of the
# three implementations alternate RUNS times, so drift on a shared machine spreads over all.
# About 5 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-5}
CPU=${BENCH_CPU:-1}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
OUT=$TARGET/loop-bench
RAW=$OUT/loop.raw
RUST_BENCHES=(million_timers next_tick spawn_await tcp_ping_pong tick_cost)
C_BENCHES=(million_timers immediate tcp_ping_pong tick_cost)

if ! command -v cargo >/dev/null; then
    echo "loop.sh: cargo missing: install Rust (https://rustup.rs)" >&2
    exit 1
fi
. bench/lib.sh
missing=() # Debian packages for what is not here
command -v cc >/dev/null || missing+=(gcc)
[ -e /usr/include/stdio.h ] || missing+=(libc6-dev)
[ -e /usr/include/uv.h ] || missing+=(libuv1-dev)
command -v python3 >/dev/null || missing+=(python3)
command -v taskset >/dev/null || missing+=(util-linux)
install_missing loop.sh "${missing[@]}"

mkdir -p "$OUT" bench/results
: >"$RAW"

echo "== building" >&2
bench_flags=()
for b in "${RUST_BENCHES[@]}"; do bench_flags+=(--bench "$b"); done
cargo bench -q -p waiter-loop "${bench_flags[@]}" --no-run
echo "CMD cargo bench -q -p waiter-loop ${bench_flags[*]} --no-run" >>"$RAW"
for c in "${C_BENCHES[@]}"; do
    cc -O2 -Wall -Wextra -o "$OUT/$c" "bench/libuv/$c.c" -luv
    echo "CMD cc -O2 -Wall -Wextra -o \$OUT/$c bench/libuv/$c.c -luv" >>"$RAW"
done

meta() { echo "META $1 $2" >>"$RAW"; }
other=$((1 - CPU))
cpu_busy() { # jiffies busy and total of one CPU, from /proc/stat
    awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- crates 2>/dev/null || echo ' + uncommitted changes')"
meta nproc "$(nproc)"
meta cpu_model "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
meta kernel "$(uname -sr)"
meta rustc "$(rustc --version)"
meta cc "$(cc --version | head -1)"
meta tokio "$(awk '/^name = "tokio"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)"
meta libuv "$(pkg-config --modversion libuv 2>/dev/null || dpkg-query -W -f '${Version}' libuv1-dev)"
meta cpu "$CPU"
meta other_cpu "$other"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
read -r busy0 total0 < <(cpu_busy "$other")

run() { # runs a pinned benchmark command, keeping its RESULT/INFO lines
    echo "+ $*" >&2
    "$@" | tee -a "$RAW" | grep -E '^(RESULT|INFO)' >&2 || true
}

for ((r = 1; r <= RUNS; r++)); do
    echo "== round $r of $RUNS" >&2
    for b in "${RUST_BENCHES[@]}"; do
        run taskset -c "$CPU" cargo bench -q -p waiter-loop --bench "$b" -- --runs 1
    done
    for c in "${C_BENCHES[@]}"; do
        run taskset -c "$CPU" "$OUT/$c" 1
    done
done

read -r busy1 total1 < <(cpu_busy "$other")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
meta load_before "$load_before"
meta load_after "$load_after"
busy_pct=$(( (busy1 - busy0) * 100 / (total1 - total0 + 1) ))
meta other_cpu_busy "${busy_pct}%"
if [ "$busy_pct" -ge 20 ]; then
    meta busy "the machine was busy: cpu$other, which no benchmark uses, was ${busy_pct}% busy during the run (other engineers' builds), so cpu$CPU was likely shared too. Re-run on a quiet machine before quoting these numbers."
fi
echo "CMD # $RUNS rounds; each runs the pinned commands below once, in this order (OUT=$OUT):" >>"$RAW"
for b in "${RUST_BENCHES[@]}"; do
    echo "CMD taskset -c $CPU cargo bench -q -p waiter-loop --bench $b -- --runs 1" >>"$RAW"
done
for c in "${C_BENCHES[@]}"; do
    echo "CMD taskset -c $CPU \$OUT/$c 1" >>"$RAW"
done
echo "CMD python3 bench/loop_report.py \$OUT/loop.raw bench/results" >>"$RAW"

python3 bench/loop_report.py "$RAW" bench/results
echo "== wrote bench/results/loop.md, tick_cost.svg, loop_ratios.svg (raw: $RAW)" >&2
