#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for waiter-pg's tests, examples and benchmarks.
#
#   scripts/pg/cluster.sh start [--hold PID]   # init (once) and start; prints the env lines
#   scripts/pg/cluster.sh env                  # the env lines of the running cluster
#   scripts/pg/cluster.sh stop                 # stop it and delete its directory
#
#   eval "$(scripts/pg/cluster.sh start)"; psql "$WAITER_PG_URL"
#
# Installs Debian's `postgresql` when `initdb` is missing. The cluster lives in a
# temporary directory (WAITER_PG_DIR, default /tmp/waiter-pg-<hash of this script>, so an
# edited script never reuses a cluster set up by an older one), owned by the unprivileged
# `postgres` user (initdb refuses root), listening on 127.0.0.1:PORT (WAITER_PG_PORT, else
# 15432 if free, else a free port in 15400-15499) and on a Unix socket in DIR/sock. Users, all with database
# `waiter`:
#
#   waiter         superuser, trust (the default URL)
#   waiter_trust   trust
#   waiter_clear   password `clear-secret`,  pg_hba method `password` (cleartext)
#   waiter_md5     password `md5-secret`,    pg_hba method `md5` (md5-hashed verifier)
#   waiter_scram   password `scram-secret`,  pg_hba method `scram-sha-256`
#
# `--hold PID` registers PID as a user and starts a reaper: once no registered process
# has been alive for 30 s, the reaper stops the cluster and deletes the directory. That is
# how the Rust tests share one cluster across all the processes of a nextest run (each
# test is a process; initdb costs seconds) and still leave nothing behind. A cluster
# started without --hold runs until `stop`.
set -euo pipefail

script=$(readlink -f "$0")
hash=$(sha1sum "$script" | cut -c1-10)
dir=${WAITER_PG_DIR:-/tmp/waiter-pg-$hash}
data=$dir/data
sock=$dir/sock
run_as=postgres
idle_seconds=${WAITER_PG_IDLE:-30}

bindir() {
    if command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v initdb)")"
        return
    fi
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    if [[ -z $d || ! -x $d/initdb ]]; then
        echo "== installing postgresql (Debian)" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >&2 && apt-get install -y -q postgresql >&2
        d=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    fi
    echo "$d"
}

as_pg() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u "$run_as" -- "$@"
    else
        "$@"
    fi
}

port_free() {
    # Free when nothing accepts a connection there (bash's /dev/tcp: no python needed).
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_port() {
    if [[ -n ${WAITER_PG_PORT:-} ]]; then
        echo "$WAITER_PG_PORT"
        return
    fi
    local p
    # 15432 first: the API server example's built-in default URL names it.
    for p in 15432 $(seq 15400 15499); do
        if port_free "$p"; then
            echo "$p"
            return
        fi
    done
    echo "no free port in 15400-15499" >&2
    exit 1
}

print_env() {
    local port
    port=$(cat "$dir/port")
    echo "export WAITER_PG_DIR=$dir"
    echo "export WAITER_PG_HOST=127.0.0.1"
    echo "export WAITER_PG_PORT=$port"
    echo "export WAITER_PG_SOCKET_DIR=$sock"
    echo "export WAITER_PG_URL=postgres://waiter@127.0.0.1:$port/waiter"
}

running() {
    [[ -f $dir/port ]] && as_pg "$(bindir)/pg_ctl" -D "$data" status >/dev/null 2>&1
}

init() {
    local bin=$1 port
    # A half-initialised cluster from an interrupted start may still run.
    if [[ -f $data/postmaster.pid ]]; then
        as_pg "$bin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    mkdir -p "$dir" "$sock" "$dir/holders"
    if [[ $(id -u) -eq 0 ]]; then
        # Debian's package creates the user; a bare initdb install may not have.
        id "$run_as" >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash "$run_as"
        chown "$run_as": "$dir" "$sock"
    fi
    chmod 700 "$dir"
    chmod 777 "$dir/holders"
    as_pg "$bin/initdb" -D "$data" -U waiter --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    port=$(pick_port)
    cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
max_connections = 300
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
EOF
    cat >"$data/pg_hba.conf" <<EOF
local all waiter_clear                password
local all waiter_md5                  md5
local all waiter_scram                scram-sha-256
local all all                         trust
host  all waiter_clear  127.0.0.1/32  password
host  all waiter_md5    127.0.0.1/32  md5
host  all waiter_scram  127.0.0.1/32  scram-sha-256
host  all all           127.0.0.1/32  trust
EOF
    echo "$port" >"$dir/port"
    start_server "$bin"
    as_pg "$bin/psql" -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U waiter -d postgres >/dev/null <<'EOF'
CREATE DATABASE waiter OWNER waiter;
CREATE ROLE waiter_trust LOGIN;
CREATE ROLE waiter_clear LOGIN PASSWORD 'clear-secret';
SET password_encryption = 'md5';
CREATE ROLE waiter_md5 LOGIN PASSWORD 'md5-secret';
SET password_encryption = 'scram-sha-256';
CREATE ROLE waiter_scram LOGIN PASSWORD 'scram-secret';
GRANT ALL ON DATABASE waiter TO waiter_trust, waiter_clear, waiter_md5, waiter_scram;
EOF
    as_pg "$bin/psql" -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U waiter -d waiter >/dev/null <<'EOF'
GRANT ALL ON SCHEMA public TO PUBLIC;
EOF
    touch "$dir/ready"
}

start_server() {
    as_pg "$1/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start </dev/null >/dev/null 2>&1 9>&- || {
        cat "$dir/server.log" >&2
        exit 1
    }
}

reap() {
    local idle=0 alive pid f
    while sleep 2; do
        [[ -d $dir/holders ]] || exit 0
        [[ -f $dir/manual ]] && exit 0
        alive=0
        for f in "$dir"/holders/*; do
            [[ -e $f ]] || continue
            pid=${f##*/}
            if kill -0 "$pid" 2>/dev/null; then alive=1; else rm -f "$f"; fi
        done
        if [[ $alive -eq 1 ]]; then idle=0; else idle=$((idle + 2)); fi
        if [[ $idle -ge $idle_seconds ]]; then
            exec 9>"$dir.lock"
            flock 9
            # A holder may have registered while we waited for the lock.
            if compgen -G "$dir/holders/*" >/dev/null; then idle=0; continue; fi
            stop_cluster
            exit 0
        fi
    done
}

stop_cluster() {
    if [[ -d $data ]]; then
        as_pg "$(bindir)/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

cmd=${1:-}
shift || true
case $cmd in
    start)
        hold=""
        if [[ ${1:-} == --hold ]]; then hold=${2:?--hold needs a PID}; fi
        exec 9>"$dir.lock"
        flock 9
        bin=$(bindir)
        if [[ ! -f $dir/ready ]]; then
            init "$bin"
        elif ! running; then
            start_server "$bin"
        fi
        if [[ -n $hold ]]; then
            touch "$dir/holders/$hold"
            if ! { [[ -f $dir/reaper ]] && kill -0 "$(cat "$dir/reaper")" 2>/dev/null; }; then
                # 9>&-: the reaper must not inherit (and so hold) the lock.
                setsid nohup "$script" reap </dev/null >/dev/null 2>&1 9>&- &
                echo $! >"$dir/reaper"
            fi
        else
            touch "$dir/manual"
        fi
        print_env
        ;;
    env)
        running || { echo "no cluster running in $dir (scripts/pg/cluster.sh start)" >&2; exit 1; }
        print_env
        ;;
    stop)
        exec 9>"$dir.lock"
        flock 9
        stop_cluster
        ;;
    reap)
        reap
        ;;
    *)
        sed -n '2,8p' "$script" >&2
        exit 2
        ;;
esac
