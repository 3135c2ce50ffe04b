#!/usr/bin/env bash
# A perf profile of one server under the API scenario's load, for comparing per-request work.
#
#   bench/api/profile.sh NAME PORT CONNS -- SERVER_CMD...    env: PROF_DUR (s, default 4)
#
# Starts SERVER_CMD pinned to CPU 1 (nice -20), drives it with `wrk -t1 -cCONNS` pinned to
# CPU 0 for PROF_DUR + 3 s, and over PROF_DUR s in the middle records, for the server's
# process: `perf stat` (task-clock, context switches, syscalls by raw_syscalls:sys_enter)
# and `perf record -g`, then prints the per-request figures (from wrk's rate over the
# window) and the top of `perf report` by symbol. Output files go to
# /tmp/api-profile.NAME.*. Wrap in `flock /tmp/waiter-bench.lock` on a shared machine.
set -euo pipefail
NAME=$1 PORT=$2 C=$3
shift 3
[ "${1:-}" = "--" ] && shift
DUR=${PROF_DUR:-4}
OUT=/tmp/api-profile.$NAME
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; true; }
trap cleanup EXIT
nice -n -20 taskset -c 1 "$@" 2>"$OUT.server.err" &
PID=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
nice -n -20 taskset -c 0 wrk -t1 -c"$C" -d"$((DUR + 3))s" --latency --timeout 5s "http://127.0.0.1:$PORT/" >"$OUT.wrk" 2>&1 &
W=$!
sleep 1.5
perf stat -e task-clock,context-switches,raw_syscalls:sys_enter -p "$PID" -o "$OUT.stat" -- sleep "$((DUR / 2))" 2>/dev/null
perf record -F 1999 -g -p "$PID" -o "$OUT.data" -- sleep "$((DUR / 2))" 2>/dev/null >/dev/null
wait "$W" || true
rps=$(awk '/^Requests\/sec/ {print $2}' "$OUT.wrk")
echo "profile.sh: $NAME c$C: wrk $rps req/s, load $(cut -d' ' -f1 /proc/loadavg); perf stat over $((DUR / 2)) s:"
awk -v r="$rps" -v d="$((DUR / 2))" '
    $2 == "msec" && $3 == "task-clock" { gsub(",", "", $1); printf "  CPU %.1f%%, %.2f us per request\n", $1 / d / 10, $1 * 1000 / (r * d) }
    $2 == "context-switches" { gsub(",", "", $1); printf "  context switches %.3f per request\n", $1 / (r * d) }
    $2 == "raw_syscalls:sys_enter" { gsub(",", "", $1); printf "  syscalls %.2f per request\n", $1 / (r * d) }' "$OUT.stat"
perf report -i "$OUT.data" --no-children -g none --sort dso,symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -"${PROF_TOP:-30}"
