#!/bin/bash
# pg-ctl.sh: a private PostgreSQL (Debian's, 15 by default) in a directory of its own, for the
# tests.
#
#   pg-ctl.sh start DIR   the first time: initdb in DIR/data, a postgresql.conf that listens on
#                         127.0.0.1 and on a unix socket in DIR/sock, on a free port, and a
#                         pg_hba.conf of our own (peer for the superuser, scram-sha-256 for every
#                         other role); then starts the server and prints the superuser's conninfo
#                         ("host=DIR/sock port=PORT user=NAME dbname=postgres").  Again on a DIR
#                         that has a stopped server: starts it on the same port (a restart).
#   pg-ctl.sh stop DIR    stops the server of DIR by the PID in its postmaster.pid (SIGINT: fast
#                         shutdown; SIGQUIT, immediate, after 10 s) and waits for it to exit
#   pg-ctl.sh pid DIR     prints the PID of the running server (it changes at each start)
#   pg-ctl.sh psql DIR [ARGS...]
#                         runs psql -X as the superuser on DIR's server (ARGS: psql's, e.g. -c SQL),
#                         on the database PG_CTL_DBNAME (default postgres)
#
# initdb and pg_ctl refuse root: as root they run as the `postgres` user (runuser), which must be
# able to enter DIR; otherwise as the calling user.  The superuser is that user.  Nothing of the
# system's own clusters (postgresql-common, port 5432) is used or started.
set -euo pipefail

bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
python=/usr/bin/python3

die() {
    echo "pg-ctl: $*" >&2
    exit 1
}

as_owner() {
    if [[ $EUID -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

owner_name() {
    if [[ $EUID -eq 0 ]]; then echo postgres; else id -un; fi
}

free_port() {
    "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

server_pid() {
    local file=$1/data/postmaster.pid pid
    [[ -f $file ]] || return 1
    pid=$(head -n 1 "$file")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

conninfo() {
    echo "host=$1/sock port=$(<"$1/port") user=$(owner_name) dbname=${PG_CTL_DBNAME:-postgres}"
}

init() {
    local dir=$1 user
    user=$(owner_name)
    mkdir -p "$dir/data" "$dir/sock"
    chmod 0755 "$dir"
    chmod 0700 "$dir/data"
    if [[ $EUID -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || die "no postgres user (install the postgresql package)"
        touch "$dir/server.log"
        chown postgres: "$dir/data" "$dir/sock" "$dir/server.log"
    fi
    as_owner "$bindir/initdb" -D "$dir/data" -U "$user" -A peer -E UTF8 --locale=C.UTF-8 \
        --no-sync >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        die "initdb failed (log above)"
    }
    # Peer for the superuser (the harness's psql), a password for every other role, over the
    # socket and over TCP on 127.0.0.1: what the milter's role is given.
    cat >"$dir/pg_hba.conf" <<HBA
local   all          $user                 peer
local   replication  $user                 peer
local   all          all                   scram-sha-256
host    all          all   127.0.0.1/32    scram-sha-256
host    replication  all   127.0.0.1/32    scram-sha-256
HBA
    cat "$dir/pg_hba.conf" >"$dir/data/pg_hba.conf"
}

write_port() {
    local dir=$1 port=$2
    echo "$port" >"$dir/port"
    # The last setting of a name wins: appended again at each try of a port.  fsync off: a test's
    # server does not outlive a crash of the machine.  synchronous_commit stays on: a commit the
    # server acknowledged is written (not synced) before it says so, and survives the server's
    # own crash, which the stop below may cause; off, the last fraction of a second of
    # acknowledged commits would be lost with it, and a test that checks what was acknowledged
    # would fail for the harness's sake.
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/sock'
max_connections = 60
shared_buffers = 16MB
fsync = off
full_page_writes = off
logging_collector = off
CONF
}

start() {
    local dir attempt port
    mkdir -p "$1"
    dir=$(cd "$1" && pwd)
    if server_pid "$dir" >/dev/null; then
        conninfo "$dir"
        return 0
    fi
    [[ -f $dir/data/PG_VERSION ]] || init "$dir"
    # A restart keeps its port; a first start retries on another port when the one picked was
    # taken between the pick and the server's bind.
    for ((attempt = 0; attempt < 10; attempt++)); do
        if [[ ! -f $dir/port || $attempt -gt 0 ]]; then
            port=$(free_port)
            write_port "$dir" "$port"
        fi
        if as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start \
            >>"$dir/pg_ctl.log" 2>&1; then
            conninfo "$dir"
            return 0
        fi
        [[ -f $dir/started ]] && break # a restart on its own port: do not move it
    done
    tail -n 20 "$dir/server.log" >&2 || true
    die "PostgreSQL did not start (log above)"
}

# Waits up to about 10 s for PID to exit; true when it did.
wait_exit() {
    local pid=$1 i
    for ((i = 0; i < 200; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.05
    done
    return 1
}

# A fast shutdown (SIGINT); one that has not ended after about 10 s becomes an immediate one
# (SIGQUIT: every server process stops at once, and the next start recovers from the WAL), said
# on stderr.  Never SIGKILL to the postmaster: its children would live on without it.
stop() {
    local dir=$1 pid
    pid=$(server_pid "$dir") || return 0
    kill -INT "$pid" 2>/dev/null || return 0
    wait_exit "$pid" || {
        echo "pg-ctl: PostgreSQL (pid $pid) still up 10 s after a fast shutdown: immediate" >&2
        kill -QUIT "$pid" 2>/dev/null || true
        wait_exit "$pid" || die "PostgreSQL (pid $pid) does not exit"
    }
}

case "${1:-}" in
start) [[ $# -eq 2 ]] || die "usage: $0 start DIR"; start "$2" && touch "$2/started" ;;
stop) [[ $# -eq 2 ]] || die "usage: $0 stop DIR"; stop "$2" ;;
pid) [[ $# -eq 2 ]] || die "usage: $0 pid DIR"; server_pid "$(cd "$2" && pwd)" ;;
psql)
    [[ $# -ge 2 ]] || die "usage: $0 psql DIR [ARGS...]"
    dir=$(cd "$2" && pwd)
    as_owner "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$(conninfo "$dir")" "${@:3}"
    ;;
*) die "usage: $0 start DIR | stop DIR | pid DIR | psql DIR [ARGS...]" ;;
esac
