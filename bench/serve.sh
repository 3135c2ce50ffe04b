#!/usr/bin/env bash
# Static-file-server benchmark of issue 3 ("Benchmarks"): waiter serve side by side with
# Debian's nginx, h2o and lighttpd in the same run, then writes bench/results/serve.md.
#
#   bench/serve.sh [--quick] [ROUNDS]
#       full:    ROUNDS (default 3, >= 3) rounds of 10 s wrk runs per server and scenario (~11 min)
#       --quick: 3 rounds of 5 s wrk runs (~6 min)
#
# Every server runs in the foreground of this script with one worker, pinned to CPU 1
# (taskset -c 1), its config from bench/serve/ (filled in with a temp root and port);
# wrk -t1 runs pinned to CPU 0. Servers alternate round-robin (the order rotates every round).
# Per run: requests/s, transfer bytes/s, p99 (wrk --latency), the server's CPU seconds
# (utime+stime of its process tree from /proc/PID/stat, before/after) and CPU 1's busy time
# (/proc/stat) to show what else ran on the server's core.
# Then: syscalls per keep-alive 1 KiB request (strace -c -f -p on each server while
# wrk -t1 -c10 -d5s runs) and RSS growth per idle keep-alive connection (IDLE_CONNS, default
# 10000, opened by bench/serve_report.py idle, each after one request), each server freshly
# restarted for it.
#
# Needs root + apt-get to install what is missing (nginx h2o lighttpd wrk strace);
# the system services those packages start are stopped and disabled.
# Environment: CARGO_TARGET_DIR (default ./target), IDLE_CONNS.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

QUICK=0
ROUNDS=3
DUR=10
for a in "$@"; do
    case $a in
    --quick) QUICK=1; DUR=5 ;;
    [0-9]*) ROUNDS=$a ;;
    *) echo "usage: bench/serve.sh [--quick] [ROUNDS]" >&2; exit 2 ;;
    esac
done
DUR=${BENCH_DUR:-$DUR} # BENCH_DUR overrides the run length (smoke tests only)
[ "${BENCH_SMOKE:-0}" = 1 ] || [ "$ROUNDS" -ge 3 ] || { echo "serve.sh: ROUNDS must be >= 3" >&2; exit 2; }
IDLE_CONNS=${IDLE_CONNS:-10000}
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
OUT=$TARGET/serve-bench
RAW=$OUT/serve.raw
SERVERS=(waiter nginx h2o lighttpd)
SCENARIOS=(1k_c100 1k_c1000 100k_c100 10m_c100)
declare -A PORT=([waiter]=18181 [nginx]=18182 [h2o]=18183 [lighttpd]=18184)

# ---- packages -------------------------------------------------------------------------
. bench/lib.sh
missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v h2o >/dev/null || [ -x /usr/bin/h2o ] || missing+=(h2o)
command -v lighttpd >/dev/null || [ -x /usr/sbin/lighttpd ] || missing+=(lighttpd)
command -v wrk >/dev/null || missing+=(wrk)
command -v strace >/dev/null || missing+=(strace)
command -v taskset >/dev/null || missing+=(util-linux)
command -v python3 >/dev/null || missing+=(python3)
install_missing serve.sh "${missing[@]}"
export PATH=$PATH:/usr/sbin:/sbin
# The packages start their own services (on port 80): stop and disable them, we run our own.
for svc in nginx h2o lighttpd; do
    [ -e /etc/init.d/$svc ] || continue
    service $svc stop >/dev/null 2>&1 || true
    if [ -d /run/systemd/system ]; then
        systemctl disable --now $svc >/dev/null 2>&1 || true
    else
        update-rc.d $svc disable >/dev/null 2>&1 || true
    fi
done

# ---- limits, files, build -------------------------------------------------------------
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
mkdir -p "$OUT" bench/results
rm -rf "$OUT"/run && mkdir -p "$OUT"/run
: >"$RAW"
TMP=$(mktemp -d /tmp/servebench.XXXXXX)
chmod 755 "$TMP"
ROOT=$TMP/root
mkdir -p "$ROOT"
head -c 1024 /dev/urandom >"$ROOT/1k.bin"
head -c $((100 * 1024)) /dev/urandom >"$ROOT/100k.bin"
head -c $((10 * 1024 * 1024)) /dev/urandom >"$ROOT/10m.bin"
echo '<!doctype html><title>bench</title>' >"$ROOT/index.html"
chmod 755 "$ROOT" && chmod 644 "$ROOT"/*

echo "== building waiter" >&2
cargo build -q --release -p waiter
WAITER=$TARGET/release/waiter

raw() { echo "$*" >>"$RAW"; }
raw "META mode $([ $QUICK = 1 ] && echo quick || echo full)"
raw "META rounds $ROUNDS"
raw "META duration ${DUR}s"
raw "META date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
raw "META cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
raw "META nproc $(nproc)"
raw "META mem $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
raw "META kernel $(uname -r)"
raw "META os $(. /etc/os-release; echo "$PRETTY_NAME")"
raw "META waiter_rev $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates Cargo.toml Cargo.lock || echo ' (+ uncommitted changes)')"
raw "META rustc $(rustc -V)"
raw "META nginx $(nginx -v 2>&1)"
raw "META h2o $(h2o --version 2>&1 | head -1)"
raw "META lighttpd $(lighttpd -v 2>&1 | head -1)"
raw "META wrk $(wrk -v 2>&1 | head -1)"
raw "META strace $(strace -V | head -1)"
raw "META ulimit_n $(ulimit -n)"
raw "META load_start $(cut -d' ' -f1-3 /proc/loadavg)"
raw "META top_start $(ps -eo pcpu,comm --sort=-pcpu --no-headers | head -5 | awk '{printf "%s %s%%; ", $2, $1}')"

# ---- servers --------------------------------------------------------------------------
declare -A PID
cleanup() {
    local s
    for s in "${!PID[@]}"; do
        kill "${PID[$s]}" 2>/dev/null || true
    done
    for s in "${!PID[@]}"; do
        wait "${PID[$s]}" 2>/dev/null || true
    done
    [ -n "${STRACE_PID:-}" ] && kill "$STRACE_PID" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

conf() { # conf SERVER -> path of its filled-in config
    sed -e "s|@TMP@|$TMP|g" -e "s|@ROOT@|$ROOT|g" -e "s|@PORT@|${PORT[$1]}|g" \
        "bench/serve/$1.conf" >"$TMP/$1.conf"
    echo "$TMP/$1.conf"
}
start() {
    local s=$1 cmd
    case $s in
    waiter) cmd=("$WAITER" serve "$ROOT" --listen "127.0.0.1:${PORT[$s]}" --workers 1 \
        --max-requests 100000 --max-connections 19000) ;;
    nginx) cmd=(nginx -c "$(conf nginx)") ;;
    h2o) cmd=(h2o -c "$(conf h2o)") ;;
    lighttpd) cmd=(lighttpd -D -f "$(conf lighttpd)") ;;
    esac
    taskset -c 1 "${cmd[@]}" >>"$OUT/run/$s.stdout" 2>>"$OUT/run/$s.stderr" &
    PID[$s]=$!
    [ "${RESTARTING:-0}" = 1 ] || raw "CMD $s taskset -c 1 ${cmd[*]//$TMP/\$TMP}"
    local i
    for i in $(seq 100); do
        if curl -sf -o /dev/null "http://127.0.0.1:${PORT[$s]}/1k.bin"; then break; fi
        kill -0 "${PID[$s]}" 2>/dev/null || { echo "serve.sh: $s died:" >&2; cat "$OUT/run/$s.stderr" >&2; exit 1; }
        sleep 0.1
    done
    local f size
    for f in 1k 100k 10m; do
        size=$(curl -sf -o /dev/null -w '%{size_download}' "http://127.0.0.1:${PORT[$s]}/$f.bin")
        [ "$size" = "$(stat -c %s "$ROOT/$f.bin")" ] || { echo "serve.sh: $s served $f.bin wrong ($size bytes)" >&2; exit 1; }
    done
}
tree() { # the PID and its descendants
    local p=$1 c
    echo "$p"
    for c in $(pgrep -P "$p" || true); do tree "$c"; done
}
cputicks() { # utime+stime of a process tree, in clock ticks
    local p t=0 v
    for p in $(tree "$1"); do
        v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || v=0
        t=$((t + ${v:-0}))
    done
    echo "$t"
}
cpubusy() { # busy ticks of cpuN from /proc/stat
    awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}

for s in "${SERVERS[@]}"; do start "$s"; done
raw "META clk_tck $(getconf CLK_TCK)"

wrk_args() { # wrk_args SCENARIO
    case $1 in
    1k_c100) echo "-t1 -c100 -d${DUR}s --latency /1k.bin" ;;
    1k_c1000) echo "-t1 -c1000 -d${DUR}s --latency /1k.bin" ;;
    100k_c100) echo "-t1 -c100 -d${DUR}s --latency /100k.bin" ;;
    10m_c100) echo "-t1 -c100 -d${DUR}s --latency /10m.bin" ;;
    esac
}
for sc in "${SCENARIOS[@]}"; do
    a=$(wrk_args "$sc")
    raw "WRKCMD $sc taskset -c 0 wrk ${a% *} http://127.0.0.1:PORT${a##* }"
done

echo "== warm-up" >&2
for s in "${SERVERS[@]}"; do
    for f in 1k 100k 10m; do
        taskset -c 0 wrk -t1 -c10 -d1s "http://127.0.0.1:${PORT[$s]}/$f.bin" >/dev/null
    done
done

# ---- throughput rounds ----------------------------------------------------------------
n=${#SERVERS[@]}
for r in $(seq "$ROUNDS"); do
    for sc in "${SCENARIOS[@]}"; do
        a=$(wrk_args "$sc")
        for i in $(seq 0 $((n - 1))); do
            s=${SERVERS[$(((i + r - 1) % n))]}
            url="http://127.0.0.1:${PORT[$s]}${a##* }"
            f="$OUT/run/r$r.$sc.$s.wrk"
            echo "== round $r/$ROUNDS $sc $s" >&2
            c0=$(cputicks "${PID[$s]}"); b0=$(cpubusy 1); o0=$(cpubusy 0); t0=$(date +%s.%N)
            # shellcheck disable=SC2086
            taskset -c 0 wrk ${a% *} "$url" >"$f" 2>&1
            t1=$(date +%s.%N); c1=$(cputicks "${PID[$s]}"); b1=$(cpubusy 1); o1=$(cpubusy 0)
            raw "RUN $r $sc $s $((c1 - c0)) $((b1 - b0)) $((o1 - o0)) $(awk "BEGIN {print $t1 - $t0}") $(cut -d' ' -f1 /proc/loadavg) $f"
            sleep 0.5
        done
    done
done

# ---- syscalls per keep-alive 1 KiB request --------------------------------------------
for s in "${SERVERS[@]}"; do
    echo "== strace $s" >&2
    pargs=()
    for p in $(tree "${PID[$s]}"); do pargs+=(-p "$p"); done
    strace -c -f "${pargs[@]}" -o "$OUT/run/strace.$s.txt" &
    STRACE_PID=$!
    sleep 1
    taskset -c 0 wrk -t1 -c10 -d5s "http://127.0.0.1:${PORT[$s]}/1k.bin" >"$OUT/run/strace.$s.wrk" 2>&1
    sleep 0.5
    kill -INT "$STRACE_PID"
    wait "$STRACE_PID" || true
    STRACE_PID=
    raw "STRACE $s $OUT/run/strace.$s.txt $OUT/run/strace.$s.wrk"
done
raw "STRACECMD strace -c -f -p PID... (every process of the server) while: taskset -c 0 wrk -t1 -c10 -d5s http://127.0.0.1:PORT/1k.bin"

# ---- RSS per idle keep-alive connection -----------------------------------------------
# Each server is restarted first, so the growth is measured on a fresh process: one that
# had served the 1,000-connection runs would reuse the heap it freed (waiter's figure was
# flattered to 64 B that way, against ~330 B on a fresh process).
stop() { # stop SERVER: ends the process this script started, by its PID
    kill "${PID[$1]}" 2>/dev/null || true
    wait "${PID[$1]}" 2>/dev/null || true
    unset "PID[$1]"
}
RESTARTING=1
for s in "${SERVERS[@]}"; do
    echo "== idle connections $s (fresh process)" >&2
    stop "$s"
    sleep 0.5
    start "$s"
    sleep 1
    python3 bench/serve_report.py idle "${PORT[$s]}" "$IDLE_CONNS" /1k.bin \
        "$(tree "${PID[$s]}" | tr '\n' ' ')" >"$OUT/run/idle.$s.txt"
    raw "IDLE $s $(cat "$OUT/run/idle.$s.txt")"
    sleep 1
done
raw "IDLECMD python3 bench/serve_report.py idle PORT $IDLE_CONNS /1k.bin PIDS (on a freshly restarted server that has answered only the start-up checks: VmRSS of the server's processes before the connections are opened, and after all are open and idle for 1 s)"

raw "META load_end $(cut -d' ' -f1-3 /proc/loadavg)"
raw "META top_end $(ps -eo pcpu,comm --sort=-pcpu --no-headers | head -5 | awk '{printf "%s %s%%; ", $2, $1}')"
raw "META command bench/serve.sh $*"
python3 bench/serve_report.py report "$RAW" bench/results/serve.md
echo "== wrote bench/results/serve.md (raw data: $RAW)" >&2
