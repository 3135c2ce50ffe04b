#!/usr/bin/env bash
# Can `waiter load` be trusted? It and `wrk -t1` load the same servers (nginx and
# `waiter serve`, one worker each, a 1 KiB file) at 100 and 1,000 connections, and at
# 10,000, side by side, and bench/results/load.md shows both tools' requests/s, p50 and
# p99, plus what each tool spent of its own core per request.
#
#   bench/load/compare.sh [--quick] [ROUNDS]
#       full:    ROUNDS (default 3, >= 3) rounds of 5 s runs per server, tool and scenario (~5 min)
#       --quick: 3 rounds of 3 s runs (~3 min)
#
# Servers pinned to CPU 1 (taskset -c 1), the load generators to CPU 0; the whole
# measurement holds /tmp/waiter-bench.lock so no other benchmark runs meanwhile.
# Needs root + apt-get to install what is missing (nginx, wrk); nginx's own system
# service is stopped. Environment: CARGO_TARGET_DIR (default ./target).
set -euo pipefail
cd "$(dirname "$0")/../.."

. bench/lib.sh
missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
command -v taskset >/dev/null || missing+=(util-linux)
command -v python3 >/dev/null || missing+=(python3)
command -v flock >/dev/null || missing+=(util-linux)
install_missing compare.sh "${missing[@]}"
export PATH=$PATH:/usr/sbin:/sbin
if [ -e /etc/init.d/nginx ]; then
    service nginx stop >/dev/null 2>&1 || true
    if [ -d /run/systemd/system ]; then
        systemctl disable --now nginx >/dev/null 2>&1 || true
    else
        update-rc.d nginx disable >/dev/null 2>&1 || true
    fi
fi

echo "== building waiter" >&2
cargo build -q --release -p waiter
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
ulimit -n "$(ulimit -Hn)"
echo "== waiting for /tmp/waiter-bench.lock" >&2
exec flock /tmp/waiter-bench.lock python3 bench/load/compare.py --waiter "$TARGET/release/waiter" "$@"
