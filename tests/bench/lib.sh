# shellcheck shell=bash
# What the benchmarks (tests/bench/run.sh, tests/bench/console.sh) share to run servers on loopback:
# a temporary folder, free ports, waiting for a socket, stopping by PID, a private PostgreSQL with
# a production server's settings, and the cleanup of all of it.  Sourced, after SRC_DIR, PYTHON and
# BENCH_NAME (the word that starts an error line) are set.

PIDS=() # what cleanup stops, by PID
PG_STARTED=0
PG_CTL=$SRC_DIR/tests/pg/pg-ctl.sh
# shellcheck source=tests/lib/procs.sh
source "$SRC_DIR/tests/lib/procs.sh" # free_ports, stop_pids

# bench_dir PREFIX: T, a new temporary folder that others may enter (Postfix's smtpd and
# PostgreSQL, run as their own users when we are root, reach sockets and data in it).
bench_dir() {
    T=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    chmod 755 "$T"
}

# bench_cleanup: every PID of PIDS stopped (SIGTERM, then waited for), the private PostgreSQL
# stopped, T removed (kept with KEEP_BENCH_DIR=1).
bench_cleanup() {
    stop_pids "${PIDS[@]}"
    [[ $PG_STARTED == 1 ]] && "$PG_CTL" stop "$T/pg" >/dev/null 2>&1
    if [[ ${KEEP_BENCH_DIR:-0} == 1 ]]; then
        echo "# kept $T" >&2
    else
        rm -rf -- "$T"
    fi
}

# die MESSAGE...: the message and the end of each log in T, then exit 1.
die() {
    echo "$BENCH_NAME: $*" >&2
    local f
    for f in "$T"/*.log; do
        [[ -s $f ]] && { echo "---- $f" >&2; tail -n 20 "$f" >&2; }
    done
    exit 1
}

skipped() { [[ " $SKIP " == *" $1 "* ]]; }


# wait_socket SPEC PID: wait up to WAIT_TENTHS tenths of a second (10 s) until SPEC
# (inet:PORT@127.0.0.1 or unix:PATH) listens; fails at once when PID has ended.
WAIT_TENTHS=100
wait_socket() {
    local spec=$1 pid=$2 i
    for ((i = 0; i < WAIT_TENTHS; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        case $spec in
        inet:*)
            local port=${spec#inet:}
            port=${port%@*}
            [[ -n $(ss -Hltn "sport = :$port" 2>/dev/null) ]] && return 0
            ;;
        unix:*) [[ -S ${spec#unix:} ]] && return 0 ;;
        esac
        sleep 0.1
    done
    return 1
}

# stop PID: SIGTERM and wait (the milter finishes what is in flight and flushes its decision log).
stop() {
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# pg_start_production [LINE...]: a private server in T/pg (tests/pg/pg-ctl.sh), then the settings
# of a production server instead of the test harness's: durable (fsync, full page writes), with
# synchronous_commit = off, which is what SQLite's synchronous = NORMAL in WAL mode gives the
# SQLite figures (a crash may lose the last commits, never corrupt), a shared_buffers that holds a
# million rows, and each LINE; then the role ingress, its new password in PG_PASSWORD.
pg_start_production() {
    "$PG_CTL" start "$T/pg" >/dev/null || die "PostgreSQL did not start"
    PG_STARTED=1
    printf '%s\n' "fsync = on" "full_page_writes = on" "synchronous_commit = off" \
        "shared_buffers = 256MB" "$@" >>"$T/pg/data/postgresql.conf"
    if ! "$PG_CTL" stop "$T/pg" || ! "$PG_CTL" start "$T/pg" >/dev/null; then
        die "PostgreSQL did not restart"
    fi
    PG_PASSWORD=$("$PYTHON" -c 'import secrets; print(secrets.token_hex(12))')
    printf "CREATE ROLE ingress LOGIN PASSWORD '%s';\n" "$PG_PASSWORD" |
        "$PG_CTL" psql "$T/pg" >/dev/null || die "cannot create the role"
}

# pg_database NAME: a database NAME owned by ingress; prints its conninfo over the unix socket.
pg_database() {
    echo "CREATE DATABASE $1 OWNER ingress;" | "$PG_CTL" psql "$T/pg" >/dev/null ||
        die "cannot create the database $1"
    echo "host=$T/pg/sock port=$(<"$T/pg/port") dbname=$1 user=ingress password=$PG_PASSWORD"
}
