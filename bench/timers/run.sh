#!/usr/bin/env bash
# The second seed's timers (issue 4, item 5): Promise.all([sleep(1000), sleep(2000), sleep(3000)])
# in Node.js (crates/waiter-loop/examples/js/three_sleeps.js) against its Rust twin on waiter
# (crates/waiter-loop/examples/three_sleeps.rs).
#
#   bench/timers/run.sh [ROUNDS]     ROUNDS (default 3) untraced runs of each for the total time,
#                                    then one run of each under strace (~25 s in all)
#
# strace -f -T -e trace=epoll_wait,epoll_pwait,epoll_pwait2 shows each wait's timeout and how
# long it slept. Raw results: $CARGO_TARGET_DIR/timers-bench/timers.raw; bench/report.py timers
# writes bench/results/timers.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
OUT=$TARGET/timers-bench
RAW=$OUT/timers.raw
mkdir -p "$OUT" bench/results
: >"$RAW"
for tool in strace node cargo python3; do
    command -v $tool >/dev/null || { echo "timers/run.sh: $tool missing (bench/run installs it)" >&2; exit 1; }
done
cargo build -q --release -p waiter-loop --example three_sleeps
RUST=(env WAITER_BACKEND=epoll "$TARGET/release/examples/three_sleeps")
NODE=(node crates/waiter-loop/examples/js/three_sleeps.js)
python3 bench/report.py meta >>"$RAW"
echo "CMD waiter $TARGET/release/examples/three_sleeps" | sed "s|$TARGET|\$CARGO_TARGET_DIR|" >>"$RAW"
echo "CMD node ${NODE[*]}" >>"$RAW"
echo "STRACECMD strace -f -T -e trace=epoll_wait,epoll_pwait,epoll_pwait2 -o FILE COMMAND" >>"$RAW"
for r in $(seq "$ROUNDS"); do
    for s in node waiter; do
        echo "== timers round $r/$ROUNDS $s" >&2
        if [ $s = node ]; then cmd=("${NODE[@]}"); else cmd=("${RUST[@]}"); fi
        t0=$(date +%s.%N)
        "${cmd[@]}" >/dev/null
        t1=$(date +%s.%N)
        echo "TOTAL $r $s $(awk "BEGIN {print $t1 - $t0}")" >>"$RAW"
    done
done
for s in node waiter; do
    echo "== timers strace $s" >&2
    if [ $s = node ]; then cmd=("${NODE[@]}"); else cmd=("${RUST[@]}"); fi
    t0=$(date +%s.%N)
    strace -f -T -e trace=epoll_wait,epoll_pwait,epoll_pwait2 -o "$OUT/strace.$s.txt" "${cmd[@]}" >/dev/null
    t1=$(date +%s.%N)
    echo "STRACE $s $(awk "BEGIN {print $t1 - $t0}") $OUT/strace.$s.txt" >>"$RAW"
done
python3 bench/report.py timers "$RAW" bench/results
