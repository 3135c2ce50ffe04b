#!/usr/bin/env bash
# The first seed's API scenario (issue 4, items 1 and 2): every request is answered after a
# 20 ms wait, at many concurrent keep-alive connections, by three twins with the same bytes:
#   waiter  crates/waiter-http/examples/delay_server.rs (waiter_http::app, one loop, one thread)
#   node    bench/api/node_delay.js (Node.js http module, setTimeout(20), one process)
#   thread  bench/baselines thread_per_connection (std threads, blocking I/O, thread::sleep(20ms))
#
#   bench/api/run.sh [--quick] [ROUNDS]
#       full:    connections 100 1000 5000 10000, 10 s wrk runs, ROUNDS (default 3, >= 3) rounds;
#                waiter load next to wrk at 1000 and 10000                       (~9 min)
#       --quick: connections 1000 10000, 2 s runs, 3 rounds, waiter load at 1000 (~1.5 min)
#
# Each server runs pinned to CPU 1 (taskset -c 1), the load generator to CPU 0, both at
# nice -20 (BENCH_RT=nice, the default). BENCH_RT=fifo runs them at SCHED_FIFO 10 instead,
# which keeps a busy neighbour out of every wake-up on a shared machine (waiter at 1,000
# connections: 11k req/s at nice 0 beside other sessions' compilers, 41k at FIFO) but is
# unfair to Node: its GC and platform threads, pinned to the same CPU at the same FIFO
# priority, cannot preempt the busy main thread, which then stalls waiting for them
# (measured side by side on a quiet machine, 5 s wrk runs: Node 10.4-13.0k req/s at FIFO,
# 15.7-19.6k at nice -20; waiter 38.9-43.2k and 32.8-39.7k). So the default is nice, on a
# machine kept quiet; the report says which was used. BENCH_RT=0: neither.
# Every run starts a fresh server, warmed up by 1 s of wrk at 100 connections. Per run: wrk's requests/s and p50/p99, the server's CPU
# seconds (utime+stime from /proc/PID/stat), VmRSS and thread count sampled near the end of
# the run (under load), VmHWM, CPU 1's busy time not charged to the server, the load average.
# Raw results go to $CARGO_TARGET_DIR/api-bench/api.raw, then bench/report.py api writes
# bench/results/api.md, threads.md and the SVGs. Wrap the call in
# `flock /tmp/waiter-bench.lock` on a shared machine (bench/run does).
# Ports: 18200 (thread), 18201 (waiter), 18202 (node).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD

QUICK=0
ROUNDS=3
for a in "$@"; do
    case $a in
    --quick) QUICK=1 ;;
    [0-9]*) ROUNDS=$a ;;
    *) echo "usage: bench/api/run.sh [--quick] [ROUNDS]" >&2; exit 2 ;;
    esac
done
[ "$ROUNDS" -ge 3 ] || { echo "api/run.sh: ROUNDS must be >= 3" >&2; exit 2; }
if [ $QUICK = 1 ]; then
    CONNS=(1000 10000); DUR=2; LOAD_CONNS=(1000)
else
    CONNS=(100 1000 5000 10000); DUR=10; LOAD_CONNS=(1000 10000)
fi
CONNS=(${BENCH_CONNS:-${CONNS[@]}})
DUR=${BENCH_DUR:-$DUR}
DELAY_MS=20
SERVERS=(waiter node thread)
declare -A PORT=([thread]=18200 [waiter]=18201 [node]=18202)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
OUT=$TARGET/api-bench
RAW=$OUT/api.raw
. "$REPO/bench/api/sched.sh"

for tool in wrk taskset node python3 cargo; do
    command -v $tool >/dev/null || { echo "api/run.sh: $tool missing (bench/run installs it)" >&2; exit 1; }
done
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
rm -rf "$OUT/run" && mkdir -p "$OUT/run" bench/results
: >"$RAW"
raw() { echo "$*" >>"$RAW"; }

echo "== building the twins and waiter load" >&2
cargo build -q --release -p waiter-http --example delay_server
cargo build -q --release -p baselines --bin thread_per_connection
cargo build -q --release -p waiter
WAITER=$TARGET/release/waiter

server_cmd() { # server_cmd NAME -> the command line
    case $1 in
    waiter) echo "$TARGET/release/examples/delay_server ${PORT[waiter]} $DELAY_MS" ;;
    node) echo "node bench/api/node_delay.js ${PORT[node]} $DELAY_MS" ;;
    thread) echo "$TARGET/release/thread_per_connection ${PORT[thread]} $DELAY_MS" ;;
    esac
}

SERVER_PID=
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true; }
trap cleanup EXIT

start() { # start NAME: runs it pinned, waits until it accepts
    # shellcheck disable=SC2046
    "${RT[@]}" taskset -c 1 $(server_cmd "$1") 2>"$OUT/run/$1.stderr" &
    SERVER_PID=$!
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/${PORT[$1]}") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "api/run.sh: $1 did not start: $(cat "$OUT/run/$1.stderr")" >&2
    exit 1
}
stop() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    sleep 0.3 # let the sockets of the run close
}
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
cpubusy() { awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
status_field() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

python3 bench/report.py meta >>"$RAW"
raw "META mode $([ $QUICK = 1 ] && echo quick || echo full)"
raw "META rounds $ROUNDS"
raw "META duration ${DUR}s"
raw "META delay_ms $DELAY_MS"
raw "META clk_tck $(getconf CLK_TCK)"
raw "META rt ${RT[*]:-none}"
for s in "${SERVERS[@]}"; do raw "CMD $s ${RT[*]} taskset -c 1 $(server_cmd "$s" | sed "s|$TARGET|\$CARGO_TARGET_DIR|")"; done
raw "WRKCMD ${RT[*]} taskset -c 0 wrk -t1 -cN -d${DUR}s --latency --timeout 5s http://127.0.0.1:PORT/"
raw "LOADCMD ${RT[*]} taskset -c 0 waiter load -cN -d${DUR}s --timeout 5s --json http://127.0.0.1:PORT/"

total=$(( ROUNDS * ${#CONNS[@]} * ${#SERVERS[@]} ))
for c in "${LOAD_CONNS[@]}"; do [[ " ${CONNS[*]} " == *" $c "* ]] && total=$(( total + ROUNDS * ${#SERVERS[@]} )); done
done_runs=0
began=$(date +%s)

measure() { # measure TOOL ROUND CONNS SERVER
    local tool=$1 r=$2 c=$3 s=$4 f pid w c0 b0 t0 c1 b1 t1 rss thr hwm
    f="$OUT/run/r$r.c$c.$s.$tool"
    done_runs=$((done_runs + 1))
    local el=$(( $(date +%s) - began ))
    local eta=$(( done_runs > 1 ? el * (total - done_runs + 1) / (done_runs - 1) : total * (DUR + 3) ))
    printf '== api %d/%d  round %d  %5d connections  %-6s  %-4s  elapsed %ds  eta %ds\n' \
        "$done_runs" "$total" "$r" "$c" "$s" "$tool" "$el" "$eta" >&2
    start "$s"
    pid=$SERVER_PID
    # Warm-up (Node's JIT compiles the handler): 1 s at 100 connections, not measured.
    "${RT[@]}" taskset -c 0 wrk -t1 -c100 -d1s "http://127.0.0.1:${PORT[$s]}/" >/dev/null 2>&1 || true
    c0=$(cputicks "$pid"); b0=$(cpubusy 1); t0=$(date +%s.%N)
    if [ "$tool" = wrk ]; then
        "${RT[@]}" taskset -c 0 wrk -t1 -c"$c" -d"${DUR}s" --latency --timeout 5s "http://127.0.0.1:${PORT[$s]}/" >"$f" 2>&1 &
    else
        "${RT[@]}" taskset -c 0 "$WAITER" load -c"$c" -d"${DUR}s" --timeout 5s --json "http://127.0.0.1:${PORT[$s]}/" >"$f" 2>"$f.stderr" &
    fi
    w=$!
    # Sample memory and threads under load, near the end of the run.
    sleep "$(awk "BEGIN {print $DUR * 0.8}")"
    rss=$(status_field "$pid" VmRSS); thr=$(status_field "$pid" Threads)
    wait "$w" || true
    t1=$(date +%s.%N); c1=$(cputicks "$pid"); b1=$(cpubusy 1)
    hwm=$(status_field "$pid" VmHWM)
    stop
    raw "RUN $tool $r $c $s $((c1 - c0)) $((b1 - b0)) $(awk "BEGIN {print $t1 - $t0}") ${rss:-0} ${hwm:-0} ${thr:-0} $(cut -d' ' -f1 /proc/loadavg) $f"
}

for r in $(seq "$ROUNDS"); do
    for c in "${CONNS[@]}"; do
        n=${#SERVERS[@]}
        for i in $(seq 0 $((n - 1))); do
            s=${SERVERS[$(((i + r - 1) % n))]} # the order rotates every round
            measure wrk "$r" "$c" "$s"
            if [[ " ${LOAD_CONNS[*]} " == *" $c "* ]]; then measure load "$r" "$c" "$s"; fi
        done
    done
done
raw "META load_end $(cut -d' ' -f1-3 /proc/loadavg)"
raw "META top_end $(ps -eo pcpu,comm --sort=-pcpu --no-headers | head -5 | awk '{printf "%s %s%%; ", $2, $1}')"
raw "META command ${BENCH_CONNS:+BENCH_CONNS=\"$BENCH_CONNS\" }${BENCH_DUR:+BENCH_DUR=$BENCH_DUR }bench/api/run.sh $*"
python3 bench/report.py api "$RAW" bench/results
