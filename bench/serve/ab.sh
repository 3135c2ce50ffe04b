#!/usr/bin/env bash
# Old/new A/B of waiter binaries on the static-file benchmark's request (issue 3):
#
#   bench/serve/ab.sh ROUNDS DUR CONNS PATH BIN...     e.g. bench/serve/ab.sh 5 5 100 /1k.bin old/waiter new/waiter
#
# Every binary serves the same temp root (1k.bin, 100k.bin) pinned to CPU 1, on ports AB_PORT+i
# (AB_PORT defaults to 18240; pick your own port block when others run benchmarks too);
# each round runs taskset -c 0 wrk -t1 -cCONNS -dDURs against each binary in turn, the order
# rotated every round, so that what else the machine does falls on all of them alike. Per run:
# round, binary, requests/s, the server's CPU ticks (utime+stime from /proc/PID/stat, 10 ms),
# requests per server CPU-second; then the median [min-max] of each binary. Hold the bench lock:
#   flock /tmp/waiter-bench.lock bench/serve/ab.sh ...
set -euo pipefail
[ $# -ge 5 ] || { echo "usage: bench/serve/ab.sh ROUNDS DUR CONNS PATH BIN..." >&2; exit 2; }
ROUNDS=$1 DUR=$2 C=$3 P=$4
shift 4
BINS=("$@")
PORT0=${AB_PORT:-18240}
ROOT=$(mktemp -d /tmp/serve-ab.XXXXXX)
head -c 1024 /dev/urandom >"$ROOT/1k.bin"
head -c $((100 * 1024)) /dev/urandom >"$ROOT/100k.bin"
chmod 755 "$ROOT" && chmod 644 "$ROOT"/*
ulimit -n 20000
PIDS=()
cleanup() {
    kill "${PIDS[@]}" 2>/dev/null || true
    rm -rf "$ROOT"
}
trap cleanup EXIT
for i in "${!BINS[@]}"; do
    taskset -c 1 "${BINS[$i]}" serve "$ROOT" --listen "127.0.0.1:$((PORT0 + i))" --workers 1 \
        --max-requests 100000 --max-connections 19000 >/dev/null 2>&1 &
    PIDS+=($!)
done
sleep 0.5
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
OUT=$(mktemp)
n=${#BINS[@]}
for r in $(seq "$ROUNDS"); do
    for k in $(seq 0 $((n - 1))); do
        i=$(((k + r) % n))
        a=$(cpu "${PIDS[$i]}")
        rps=$(timeout $((DUR + 10)) taskset -c 0 wrk -t1 -c"$C" -d"${DUR}s" "http://127.0.0.1:$((PORT0 + i))$P" |
            awk '/Requests\/sec/ {print $2}')
        b=$(cpu "${PIDS[$i]}")
        echo "$r ${BINS[$i]} $rps $((b - a)) $(python3 -c "print(round($rps * $DUR / (($b - $a) / 100)) if $b > $a else 0)")" |
            tee -a "$OUT"
    done
done
python3 - "$OUT" <<'PY'
import collections, statistics as st, sys
runs = collections.defaultdict(lambda: ([], []))
for line in open(sys.argv[1]):
    _, name, rps, _, per_cpu = line.split()
    runs[name][0].append(float(rps))
    runs[name][1].append(float(per_cpu))
for name, (rps, per_cpu) in runs.items():
    print(f"{name}: req/s {st.median(rps):,.0f} [{min(rps):,.0f}-{max(rps):,.0f}], "
          f"req per server CPU-s {st.median(per_cpu):,.0f} [{min(per_cpu):,.0f}-{max(per_cpu):,.0f}] ({len(rps)} runs)")
PY
rm -f "$OUT"
