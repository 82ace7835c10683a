#!/usr/bin/env bash
# A PostgreSQL primary fails over to its streaming-replication standby under a running milter:
#
#   tests/hardening/pg-failover.sh MILTER_BIN HOSTILE_BIN
#
# A primary and a standby made from it with pg_basebackup -R (tests/pg/pg-ctl.sh, each in a
# directory of its own, on free ports); the milter on a libpq multi-host conninfo naming both, with
# target_session_attrs=read-write (greylist = yes, greylist_delay = 0: every message writes).
# The primary is stopped, the standby promoted (pg_ctl promote); messages are sent one after
# another until one is accepted again, by the same milter process.  Checks that it is, within
# FAILOVER_BOUND_S, that what was written before the fail-over is there after it, and prints the
# time from the primary's stop to the first accepted message (`# figure:`).
set -euo pipefail
MILTER_BIN=$(realpath -- "${1:?usage: pg-failover.sh MILTER_BIN HOSTILE_BIN}")
HOSTILE_BIN=$(realpath -- "${2:?usage: pg-failover.sh MILTER_BIN HOSTILE_BIN}")
# shellcheck source=tests/hardening/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
PG_CTL=$SRC_DIR/tests/pg/pg-ctl.sh
BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
if [[ ! -x $BINDIR/pg_basebackup ]]; then
    if [[ $EUID -eq 0 ]]; then
        echo "pg-failover: no PostgreSQL server in $BINDIR: run contrib/install-deps.sh" >&2
        exit 1
    fi
    echo "pg-failover: SKIPPED: no PostgreSQL server in $BINDIR" >&2
    exit 77
fi
# How long the milter may take to write again after the primary stops: the promotion (about a
# second here) and the milter's next connection; generous for a loaded 2-CPU machine.
FAILOVER_BOUND_S=30
BUSY_MS=1000

stop_servers() {
    "$PG_CTL" stop "$T/standby" >/dev/null 2>&1 || true
    "$PG_CTL" stop "$T/primary" >/dev/null 2>&1 || true
}
CLEANUP_HOOK=stop_servers
hardening_init pg-failover
start_nsd

as_owner() { # as pg-ctl.sh runs the server's programs: as postgres when we are root
    if [[ $EUID -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}
ms() { date +%s%3N; }

"$PG_CTL" start "$T/primary" >/dev/null
PRIMARY_PORT=$(<"$T/primary/port")
PASSWORD=$("$PYTHON" -c 'import secrets; print(secrets.token_hex(12))')
printf '%s\n' "CREATE ROLE ingress LOGIN PASSWORD '$PASSWORD';" \
    "CREATE DATABASE ingress OWNER ingress;" | "$PG_CTL" psql "$T/primary" >/dev/null

# The standby: a base backup of the primary that follows it (-R: standby.signal and
# primary_conninfo), then its own port and socket directory (pg-ctl.sh start writes them).
mkdir -p "$T/standby/sock"
chmod 0755 "$T/standby"
if [[ $EUID -eq 0 ]]; then
    touch "$T/standby/server.log"
    chown postgres: "$T/standby" "$T/standby/sock" "$T/standby/server.log"
fi
as_owner "$BINDIR/pg_basebackup" -h "$T/primary/sock" -p "$PRIMARY_PORT" -D "$T/standby/data" \
    -R -X stream -c fast >"$T/basebackup.log" 2>&1 || {
    cat "$T/basebackup.log" >&2
    exit 1
}
[[ $EUID -ne 0 ]] || chown root: "$T/standby"
"$PG_CTL" start "$T/standby" >/dev/null
STANDBY_PORT=$(<"$T/standby/port")
for ((i = 0; i < 100; i++)); do
    [[ $("$PG_CTL" psql "$T/primary" -At -c \
        "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == 1 ]] && break
    sleep 0.1
done
check "the standby streams from the primary" test "$i" -lt 100

start_milter failover \
    "database = host=127.0.0.1,127.0.0.1 port=$PRIMARY_PORT,$STANDBY_PORT dbname=ingress user=ingress password=$PASSWORD target_session_attrs=read-write" \
    "store_busy_timeout = ${BUSY_MS}ms" "greylist = yes" "greylist_delay = 0"
milter_pid=$MILTER_PID
probe_no=0
probe() { # one message to a new recipient; true when accepted
    probe_no=$((probe_no + 1))
    PROBE_RCPT="failover-$probe_no@example.test"
    PROBE=$("$HOSTILE_BIN" -s "unix:$MILTER_SOCK" -r "<$PROBE_RCPT>" -t 20000 -p 2>&1)
}
check "a message is accepted with the primary up" probe
before=$PROBE_RCPT

t_stop=$(ms)
"$PG_CTL" stop "$T/primary"
t_stopped=$(ms)
if probe; then
    not_ok "primary stopped, standby not promoted yet: the message is refused" "$PROBE"
else
    check "primary stopped, standby not promoted yet: 451 4.3.0 (the standby is read-only)" \
        test "${PROBE#*4.3.0}" != "$PROBE"
fi
as_owner "$BINDIR/pg_ctl" -D "$T/standby/data" -w promote >"$T/promote.log" 2>&1
t_promoted=$(ms)
accepted=0
while (($(ms) - t_stop < FAILOVER_BOUND_S * 1000)); do
    if probe; then
        accepted=1
        break
    fi
    sleep 0.1
done
t_back=$(ms)
if [[ $accepted == 1 ]]; then
    ok "after the promotion the same milter writes again, $((t_back - t_stop)) ms after the primary stopped"
else
    not_ok "after the promotion the milter writes again within $FAILOVER_BOUND_S s" "$PROBE"
fi
echo "# figure: fail-over: the primary's fast shutdown took $((t_stopped - t_stop)) ms, the promotion $((t_promoted - t_stopped)) ms; the first message accepted $((t_back - t_stop)) ms after the stop began, $((t_back - t_promoted)) ms after pg_ctl promote returned (store_busy_timeout ${BUSY_MS} ms)"
check "the milter was not restarted" test "$MILTER_PID" = "$milter_pid"
check "the milter is still running" kill -0 "$MILTER_PID"

# What was confirmed on the primary is on the promoted standby, and the new message's row too.
rows=$(PG_CTL_DBNAME=ingress "$PG_CTL" psql "$T/standby" -At -c \
    "SELECT count(DISTINCT recipient) FROM greylist WHERE sender = 'probe@e2e.test' AND confirmed_at IS NOT NULL
     AND recipient IN ('$before', '$PROBE_RCPT')")
check "both confirmations (before and after the fail-over) are in the new primary" test "$rows" = 2
stop_milter
check "SIGTERM stops the milter with status 0" test "$MILTER_RC" = 0
check "one log line when the primary went" \
    test "$(grep -c 'PostgreSQL cannot be used' "$MILTER_LOG")" = 1
check "one log line when a writable server was back" \
    test "$(grep -c 'PostgreSQL reachable again' "$MILTER_LOG")" = 1
check "no sanitizer report" sanitizer_clean "$MILTER_LOG"
finish
