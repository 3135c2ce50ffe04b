#!/usr/bin/env bash
# Old vs new: two delay_server binaries (or any two servers taking PORT DELAY_MS) in
# alternating rounds of the API scenario, in the same run, so a change is measured against
# the same machine state.
#
#   bench/api/ab.sh OLD_BIN NEW_BIN [ROUNDS] [CONNS...]
#       env: AB_DUR (s, default 5), AB_DELAY (ms, default 20), AB_PORT (default 18400),
#            BENCH_RT (nice, the default; fifo; 0: as bench/api/run.sh)
#
# Per run: a fresh server pinned to CPU 1, 1 s of wrk at 100 connections to warm it up, then
# `wrk -t1 -cN -dAB_DURs --latency` pinned to CPU 0. Printed per run and as medians
# [min-max] per binary and connection count: wrk's requests/s, p50/p99, the server's CPU
# seconds (utime+stime from /proc/PID/stat), requests per server CPU-second, and TCP
# segments per request (nstat TcpOutSegs over the run, both ends; needs nstat). The order
# alternates (ABBA...) so neither binary always runs first. Wrap in
# `flock /tmp/waiter-bench.lock` on a shared machine.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: bench/api/ab.sh OLD_BIN NEW_BIN [ROUNDS] [CONNS...]" >&2; exit 2; }
OLD=$1 NEW=$2
shift 2
ROUNDS=${1:-3}
shift || true
CONNS=("$@")
[ ${#CONNS[@]} -gt 0 ] || CONNS=(1000 10000)
DUR=${AB_DUR:-5}
DELAY=${AB_DELAY:-20}
PORT=${AB_PORT:-18400}
case ${BENCH_RT:-nice} in
    nice) RT=(nice -n -20) ;;
    fifo | 1) RT=(chrt -f 10) ;;
    0 | none) RT=() ;;
    *) echo "ab.sh: BENCH_RT must be nice, fifo or 0" >&2; exit 2 ;;
esac
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
TMP=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
HZ=$(getconf CLK_TCK)
segs() { nstat -az TcpOutSegs 2>/dev/null | awk '$1 == "TcpOutSegs" {print $2}'; }

run() { # run LABEL BIN CONNS
    local label=$1 bin=$2 c=$3 c0 c1 s0 s1 out rps p50 p99
    "${RT[@]}" taskset -c 1 "$bin" "$PORT" "$DELAY" 2>"$TMP/server.err" &
    PID=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
    "${RT[@]}" taskset -c 0 wrk -t1 -c100 -d1s "http://127.0.0.1:$PORT/" >/dev/null 2>&1 || true
    c0=$(awk '{print $14 + $15}' "/proc/$PID/stat"); s0=$(segs)
    out=$("${RT[@]}" taskset -c 0 wrk -t1 -c"$c" -d"${DUR}s" --latency --timeout 5s "http://127.0.0.1:$PORT/" 2>&1)
    c1=$(awk '{print $14 + $15}' "/proc/$PID/stat"); s1=$(segs)
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
    sleep 0.5
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    local total
    total=$(awk '/requests in/ {print $1}' <<<"$out")
    awk -v l="$label" -v c="$c" -v r="$rps" -v p50="$p50" -v p99="$p99" -v t="$((c1 - c0))" \
        -v hz="$HZ" -v n="$total" -v s="$(( ${s1:-0} - ${s0:-0} ))" -v load="$(cut -d' ' -f1 /proc/loadavg)" \
        'BEGIN { cpu = t / hz; printf "RUN %s c%d rps %.0f p50 %s p99 %s cpu_s %.2f req_per_cpu_s %.0f segs_per_req %.2f load %s\n",
                 l, c, r, p50, p99, cpu, (cpu > 0 ? n / cpu : 0), (n > 0 ? s / n : 0), load }' | tee -a "$TMP/runs"
}

echo "ab.sh: $(date -u +%FT%TZ) old=$OLD new=$NEW rounds=$ROUNDS conns=${CONNS[*]} dur=${DUR}s rt=${RT[*]:-none} load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
    for c in "${CONNS[@]}"; do
        if [ $((r % 2)) = 1 ]; then run old "$OLD" "$c"; run new "$NEW" "$c"; else run new "$NEW" "$c"; run old "$OLD" "$c"; fi
    done
done
echo "ab.sh: medians [min-max] (load end $(cut -d' ' -f1-3 /proc/loadavg))"
python3 - "$TMP/runs" <<'EOF'
import sys, statistics, collections
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    f = line.split()
    d = dict(zip(f[3::2], f[4::2]))
    runs[(f[2], f[1])].append(d)
def ms(v):
    return float(v[:-2]) if v.endswith("ms") else float(v[:-2]) / 1000 if v.endswith("us") else float(v[:-1]) * 1000
def fmt(xs, p=0):
    return f"{statistics.median(xs):,.{p}f} [{min(xs):,.{p}f}-{max(xs):,.{p}f}]"
for (c, label), ds in sorted(runs.items(), key=lambda k: (int(k[0][0][1:]), k[0][1] != "old")):
    print(f"{c:>7} {label:4} req/s {fmt([float(d['rps']) for d in ds])}  req/CPU-s {fmt([float(d['req_per_cpu_s']) for d in ds])}"
          f"  p99 {fmt([ms(d['p99']) for d in ds], 1)} ms  p50 {fmt([ms(d['p50']) for d in ds], 1)} ms"
          f"  segs/req {fmt([float(d['segs_per_req']) for d in ds], 2)}")
EOF
