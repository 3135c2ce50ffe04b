#!/usr/bin/env bash
# Where the API scenario's TCP segments come from: which end sends the pure ACKs.
#
#   bench/api/segs.sh BIN [CONNS] [DELAY_MS]     env: SEGS_DUR (s, default 6), SEGS_PORT (18410)
#
# Runs BIN PORT DELAY_MS pinned to CPU 1 (nice -20) and `wrk -t1 -cCONNS` pinned to CPU 0,
# and reads, over a window from 2 s to SEGS_DUR - 2 s into the run (wrk goes on 8 s more):
# - `ss -tin` for every established socket of the port, both ends: segments and data
#   segments sent, so pure ACKs (segs_out - data_segs_out) per side, per request (a request
#   being a data segment the server received);
# - nstat's TCP counters over the same window (delayed ACKs fired, quick-ack mode, ...);
# - the server's CPU seconds.
# Wrap in `flock /tmp/waiter-bench.lock` on a shared machine.
set -euo pipefail
BIN=$1
C=${2:-10000}
DELAY=${3:-20}
DUR=${SEGS_DUR:-6}
PORT=${SEGS_PORT:-18410}
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
TMP=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

nice -n -20 taskset -c 1 "$BIN" "$PORT" "$DELAY" 2>"$TMP/server.err" &
PID=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
# wrk runs 8 s past the window: `ss -i` over 20,000 sockets takes seconds, and the
# second sample must still find them established.
nice -n -20 taskset -c 0 wrk -t1 -c"$C" -d"$((DUR + 8))s" --latency --timeout 5s "http://127.0.0.1:$PORT/" >"$TMP/wrk" 2>&1 &
W=$!
# ss sums per side: "server" sockets have the local port PORT, "client" ones the peer port.
sample() {
    ss -tinH state established "( sport = :$PORT or dport = :$PORT )" | awk -v p=":$PORT" '
        /^ *[0-9]/ { side = ($3 ~ p"$") ? "server" : "client"; next }
        {
            for (i = 1; i <= NF; i++) {
                split($i, kv, ":")
                if (kv[1] == "segs_out") so[side] += kv[2]
                if (kv[1] == "data_segs_out") dso[side] += kv[2]
                if (kv[1] == "segs_in") si[side] += kv[2]
                if (kv[1] == "data_segs_in") dsi[side] += kv[2]
            }
            n[side]++
        }
        END { for (s in n) printf "%s %d %d %d %d %d\n", s, n[s], so[s], dso[s], si[s], dsi[s] }'
}
sleep 2
nstat -n >/dev/null
sample >"$TMP/ss0"
c0=$(awk '{print $14 + $15}' "/proc/$PID/stat"); t0=$(date +%s.%N)
sleep $((DUR - 4))
sample >"$TMP/ss1"
c1=$(awk '{print $14 + $15}' "/proc/$PID/stat"); t1=$(date +%s.%N)
nstat >"$TMP/nstat"
wait "$W" || true
rps=$(awk '/^Requests\/sec/ {print $2}' "$TMP/wrk")
win=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')
reqs=$(awk -v r="$rps" -v w="$win" 'BEGIN {print r * w}')
echo "segs.sh: $(date -u +%FT%TZ) $BIN c$C delay ${DELAY}ms: wrk $rps req/s; window ${win}s ~${reqs%.*} requests; server CPU $(awk -v c=$((c1 - c0)) -v w="$win" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.0f%%", 100 * c / hz / w}'); load $(cut -d' ' -f1 /proc/loadavg)"
echo "per request over the window (ss: sums over the sockets established at each sample; a request is a data segment the server received):"
awk 'FNR == NR { n0[$1] = $2; so0[$1] = $3; dso0[$1] = $4; dsi0[$1] = $6; next }
    { n1[$1] = $2; so[$1] = $3 - so0[$1]; dso[$1] = $4 - dso0[$1]; dsi[$1] = $6 - dsi0[$1] }
    END {
        r = dsi["server"]
        if (r <= 0) { print "  (no request seen)"; exit }
        printf "  requests in the window (server data segments in): %d\n", r
        for (s in n1) printf "  %-6s sockets %5d -> %5d  segments out %.2f  data segments out %.2f  pure ACKs (and FIN/SYN) out %.2f\n",
            s, n0[s], n1[s], so[s] / r, dso[s] / r, (so[s] - dso[s]) / r }' "$TMP/ss0" "$TMP/ss1"
[ -s "$TMP/ss1" ] || echo "  (ss saw no socket: $(wc -l <"$TMP/ss0") lines at the start)"
echo "nstat over the window, per request:"
awk -v r="$reqs" '$1 ~ /^(TcpOutSegs|TcpInSegs|TcpExtDelayedACKs|TcpExtDelayedACKLocked|TcpExtTCPHPAcks|TcpExtTCPPureAcks|TcpExtTCPHPHits|TcpExtTCPAutoCorking|TcpExtTCPOrigDataSent|TcpExtTCPDelivered|TcpRetransSegs|TcpExtTCPLossProbes)$/ {
    printf "  %-24s %10d  %.3f\n", $1, $2, $2 / r }' "$TMP/nstat"
grep -E "Latency|Req/Sec|50%|99%" "$TMP/wrk" | sed 's/^/  wrk: /'
