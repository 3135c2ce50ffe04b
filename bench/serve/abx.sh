#!/usr/bin/env bash
# A/B of waiter binaries (or one binary under different environment settings) beside the
# anchors, on one scenario of the static-file benchmark (issue 3):
#
#   bench/serve/abx.sh ROUNDS DUR CONNS PATH CONFIG...
#       CONFIG = NAME:BIN[:ENV=V,ENV=V...]   a waiter binary, run with those variables set
#              | nginx | h2o | lighttpd     an anchor, with its config from bench/serve/
#   e.g. bench/serve/abx.sh 8 5 100 /1k.bin old:/tmp/old/waiter new:/tmp/new/waiter lighttpd
#
# Every server serves one temp root (1k.bin, 100k.bin, 10m.bin), pinned to CPU 1, on port
# AB_PORT+i (AB_PORT defaults to 18100: pick your own block when others benchmark too); each
# round runs taskset -c 0 wrk -t1 -cCONNS -dDURs --latency against every server in turn, the
# order rotated every round. One line per run (also kept in the raw file it names):
#   round name req/s MiB/s p99_ms server_cpu_ticks cpu1_other_ticks req_per_server_cpu_s load
#   sleeps_per_req cpu0_us_per_req [perf counts]
# (CPU ticks of the server's process tree from /proc/PID/stat; "other" = CPU 1 busy time not
# charged to the server; sleeps = voluntary context switches of the server's threads;
# cpu0_us_per_req = CPU 0's busy time per request, i.e. what one response costs the load
# generator, wrk being alone there), then the median [min-max] of each column per server.
# Ratios belong to pairs of the same round: with anchors in the run, each waiter build's
# ratio to the best anchor of each round follows (rounds where a server's run had more than
# AB_OTHER_MAX, default 10, % of CPU 1 busy with other work are left out and counted).
# AB_PERF=1 adds, per request, counts from `perf stat` of the server (srv_*) and of wrk
# (wrk_*): epoll waits, reads, writes, epoll_ctl and context switches (srv_waits_per_req
# below 1 means several requests per epoll_wait; writes = write/writev/sendmsg/sendfile, sockopt =
# setsockopt), and from `nstat` (the whole host's TCP, so
# only meaningful with nothing else on the network): segments sent, segments that had to wait
# in a socket's backlog because its owner held the lock, and delayed/pure ACKs.
# Hold the bench lock: flock /tmp/waiter-bench.lock bench/serve/abx.sh ...
set -euo pipefail
[ $# -ge 5 ] || { echo "usage: bench/serve/abx.sh ROUNDS DUR CONNS PATH CONFIG..." >&2; exit 2; }
ROUNDS=$1 DUR=$2 C=$3 P=$4; shift 4
CONFS=("$@")
REPO=$(cd "$(dirname "$0")/../.." && pwd)
PORT0=${AB_PORT:-18100}
TMP=$(mktemp -d /tmp/serve-abx.XXXXXX); chmod 755 $TMP
ROOT=$TMP/root; mkdir -p $ROOT
head -c 1024 /dev/urandom >"$ROOT/1k.bin"
head -c $((100 * 1024)) /dev/urandom >"$ROOT/100k.bin"
head -c $((10 * 1024 * 1024)) /dev/urandom >"$ROOT/10m.bin"
chmod 755 "$ROOT" && chmod 644 "$ROOT"/*
ulimit -n 20000
export PATH=$PATH:/usr/sbin:/sbin
PIDS=(); NAMES=()
cleanup() { for p in "${PIDS[@]}"; do kill $p 2>/dev/null || true; done; sleep 0.3; rm -rf "$TMP"; }
trap cleanup EXIT
for i in "${!CONFS[@]}"; do
    c=${CONFS[$i]} port=$((PORT0 + i))
    case $c in
    nginx|h2o|lighttpd)
        sed -e "s|@TMP@|$TMP|g" -e "s|@ROOT@|$ROOT|g" -e "s|@PORT@|$port|g" $REPO/bench/serve/$c.conf >$TMP/$c.conf
        case $c in
        nginx) cmd=(nginx -c $TMP/nginx.conf) ;;
        h2o) cmd=(h2o -c $TMP/h2o.conf) ;;
        lighttpd) cmd=(lighttpd -D -f $TMP/lighttpd.conf) ;;
        esac
        name=$c envs="" ;;
    *)
        IFS=: read -r name bin envs <<<"$c"
        cmd=("$bin" serve "$ROOT" --listen "127.0.0.1:$port" --workers 1 --max-requests 100000 --max-connections 19000) ;;
    esac
    ( [ -n "$envs" ] && export $(echo "$envs" | tr ',' ' '); exec taskset -c 1 "${cmd[@]}" ) >/dev/null 2>&1 &
    PIDS+=($!); NAMES+=("$name")
done
sleep 1
for i in "${!CONFS[@]}"; do curl -sf -o /dev/null "http://127.0.0.1:$((PORT0 + i))$P" || { echo "server $i (${NAMES[$i]}) not answering" >&2; exit 1; }; done
tree() { local p=$1 c; echo "$p"; for c in $(pgrep -P "$p" || true); do tree "$c"; done; }
cpu() { local t=0 p v; for p in $(tree $1); do v=$(sed 's/.*) //' /proc/$p/stat | awk '{print $12 + $13}'); t=$((t + v)); done; echo $t; }
csw() { local t=0 p f v; for p in $(tree $1); do for f in /proc/$p/task/*/status; do v=$(awk '/^voluntary_ctxt_switches/ {print $2}' $f 2>/dev/null || echo 0); t=$((t + ${v:-0})); done; done; echo $t; }
busy1() { awk '$1 == "cpu1" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
busy0() { awk '$1 == "cpu0" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
PERF=${AB_PERF:-0}
EVS=syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait2,syscalls:sys_enter_read,syscalls:sys_enter_recvfrom,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_sendmsg,syscalls:sys_enter_sendfile64,syscalls:sys_enter_setsockopt,syscalls:sys_enter_epoll_ctl,context-switches
# "name=count name=count ..." per request from a perf stat -x, file: waits reads writes
# (write, writev, sendmsg, sendfile) setsockopt ctl cs.
perfcols() {
    awk -F, -v n="$2" -v pre="$3" '
        $3 ~ /epoll_wait|epoll_pwait2/ {w += $1} $3 ~ /enter_read$|recvfrom/ {r += $1}
        $3 ~ /enter_write$|writev|sendmsg|sendfile/ {x += $1} $3 ~ /setsockopt/ {o += $1}
        $3 ~ /epoll_ctl/ {c += $1} $3 ~ /context-switches/ {s += $1}
        END {printf "%swaits=%.3f %sreads=%.3f %swrites=%.3f %ssockopt=%.3f %sctl=%.3f %scs=%.4f",
             pre, w/n, pre, r/n, pre, x/n, pre, o/n, pre, c/n, pre, s/n}' "$1"
}
OUT=${AB_RAW:-$(mktemp /tmp/serve-abx-raw.XXXXXX)}; echo "raw: $OUT" >&2
n=${#CONFS[@]}
for i in "${!CONFS[@]}"; do taskset -c 0 wrk -t1 -c$C -d1s "http://127.0.0.1:$((PORT0 + i))$P" >/dev/null; done
for r in $(seq $ROUNDS); do
    for k in $(seq 0 $((n - 1))); do
        i=$(((k + r) % n))
        pre=(); spid=
        if [ "$PERF" = 1 ]; then
            perf stat -x, -o $TMP/srv.stat -e $EVS -p "$(tree ${PIDS[$i]} | paste -sd,)" -- sleep $DUR 2>/dev/null &
            spid=$!
            pre=(perf stat -x, -o $TMP/wrk.stat -e $EVS --)
            NSTAT_HISTORY=$TMP/nstat.hist nstat -n
        fi
        a=$(cpu ${PIDS[$i]}); b0=$(busy1); s0=$(csw ${PIDS[$i]}); z0=$(busy0)
        w=$(timeout $((DUR + 15)) taskset -c 0 "${pre[@]}" wrk -t1 -c$C -d${DUR}s --latency "http://127.0.0.1:$((PORT0 + i))$P")
        b=$(cpu ${PIDS[$i]}); b1=$(busy1); s1=$(csw ${PIDS[$i]}); z1=$(busy0)
        [ -z "$spid" ] || wait $spid
        rps=$(awk '/Requests\/sec/ {print $2}' <<<"$w")
        tr=$(awk '/Transfer\/sec/ {v=$2; u=substr(v,length(v)-1); x=substr(v,1,length(v)-2)+0; if(u=="GB") x*=1024; if(u=="KB") x/=1024; print x}' <<<"$w")
        p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) x=substr(v,1,length(v)-2)/1000; else if (v ~ /ms$/) x=substr(v,1,length(v)-2)+0; else x=substr(v,1,length(v)-1)*1000; print x}' <<<"$w")
        other=$(( (b1 - b0) - (b - a) ))
        line="$r ${NAMES[$i]} $rps $tr $p99 $((b - a)) $other $(python3 -c "print(round($rps * $DUR / (($b - $a) / 100)) if $b > $a else 0)") $(cut -d' ' -f1 /proc/loadavg) $(python3 -c "print(round(($s1 - $s0) / ($rps * $DUR), 4), round(($z1 - $z0) * 1e4 / ($rps * $DUR), 3))")"
        if [ "$PERF" = 1 ]; then
            nreq=$(python3 -c "print($rps * $DUR)")
            line="$line $(perfcols $TMP/srv.stat $nreq srv_) $(perfcols $TMP/wrk.stat $nreq wrk_)"
            line="$line $(NSTAT_HISTORY=$TMP/nstat.hist nstat -z | awk -v n=$nreq '
                $1 == "TcpOutSegs" {o = $2} $1 == "TcpExtTCPBacklogCoalesce" {b = $2} $1 == "TcpExtTCPBacklogDrop" {b += 0}
                $1 == "TcpExtDelayedACKs" {d = $2} $1 == "TcpExtTCPPureAcks" {p = $2}
                END {printf "segs=%.3f backlogged=%.4f delacks=%.4f pureacks=%.4f", o/n, b/n, d/n, p/n}')"
        fi
        echo "$line" | tee -a $OUT
        sleep 0.3
    done
done
python3 - $OUT $DUR "${AB_OTHER_MAX:-10}" <<'PY'
import collections, statistics as st, sys
runs = collections.defaultdict(lambda: collections.defaultdict(list))
order = []
by_round = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    f = line.split()
    name = f[1]
    by_round[f[0]][name] = f
    if name not in order: order.append(name)
    for k, v in zip(["rps", "MiB/s", "p99ms", "cpu_ticks", "other_ticks", "req_per_cpu_s", "load", "sleeps_per_req", "cpu0_us_per_req"], f[2:11]):
        runs[name][k].append(float(v))
    for kv in f[11:]:
        k, v = kv.split("=")
        runs[name][k].append(float(v))
def fmt(x):
    return f"{x:,.1f}" if abs(x) >= 100 else f"{x:.4g}"
for name in order:
    d = runs[name]
    print(name + ": " + "; ".join(f"{k} {fmt(st.median(v))} [{fmt(min(v))}-{fmt(max(v))}]" for k, v in d.items()) + f" ({len(d['rps'])} runs)")
anchors = [n for n in order if n in ("nginx", "h2o", "lighttpd")]
limit = float(sys.argv[3]) / 100 * float(sys.argv[2]) * 100  # CPU 1 other ticks allowed per run
# column, index, higher is better
cols = [("rps", 2, True), ("MiB/s", 3, True), ("req_per_cpu_s", 7, True), ("cpu0_us_per_req", 10, False)]
for name in (n for n in order if n not in anchors) if anchors else []:
    ratios, skipped = collections.defaultdict(list), 0
    for rnd in by_round.values():
        if name not in rnd or not any(a in rnd for a in anchors):
            continue
        if any(float(rnd[n][6]) > limit for n in rnd):
            skipped += 1
            continue
        for col, i, up in cols:
            vals = [float(rnd[a][i]) for a in anchors if a in rnd]
            best = max(vals) if up else min(vals)
            ratios[col].append(float(rnd[name][i]) / best if best else 0)
    if ratios:
        print(f"{name} / best anchor of each round: " + "; ".join(
            f"{col} {st.median(v):.3f} [{min(v):.3f}-{max(v):.3f}]" for col, v in ratios.items())
            + f" ({len(ratios['rps'])} rounds, {skipped} disturbed left out; cpu0_us_per_req: lower is cheaper for wrk)")
PY
