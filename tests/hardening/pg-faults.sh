#!/usr/bin/env bash
# milter-ingress on PostgreSQL when things go wrong, on the private server of tests/pg/with-pg.sh:
#
#   tests/pg/with-pg.sh tests/hardening/pg-faults.sh MILTER_BIN HOSTILE_BIN LOADGEN_BIN
#
# 1. Start-up: a malformed URI, a wrong password, a server too old (a fake one: see below), a
#    database whose `greylist` table belongs to another application, a server that accepts the
#    connection and never answers, and this host's clock 5 minutes off the server's (libfaketime):
#    each exits 2 within the bound, naming what is wrong, never showing the password.
# 2. Run time (greylist = yes, greylist_delay = 0: every RCPT is a store transaction;
#    store_busy_timeout = 1s): the server stopped gives 451 4.3.0 within the bound, one log line;
#    started again, the next message is accepted without a restart, one log line.  The server
#    frozen (SIGSTOP: it holds its connections and never answers) gives 451 within the bound.
#    With fail_open = yes the server stopped accepts.
# 3. kill -9 of the milter under load (tests/hardening/crash.sh's round on PostgreSQL): every
#    greylist confirmation a message was accepted for is in the database.
# 4. The server restarted under load: the milter stays up, and every message accepted (the load's
#    and the probes') has its decision row once the server is back (the decision log keeps its
#    queue while it cannot write, and refuses, 451, only when the queue is full).
# Prints the figures (`# figure:`): how long until the error, and until mail is accepted again.
set -euo pipefail
MILTER_BIN=$(realpath -- "${1:?usage: pg-faults.sh MILTER_BIN HOSTILE_BIN LOADGEN_BIN}")
HOSTILE_BIN=$(realpath -- "${2:?usage: pg-faults.sh MILTER_BIN HOSTILE_BIN LOADGEN_BIN}")
LOADGEN_BIN=$(realpath -- "${3:?usage: pg-faults.sh MILTER_BIN HOSTILE_BIN LOADGEN_BIN}")
if [[ -z ${INGRESS_TEST_PG_TCP:-} || -z ${INGRESS_TEST_PG_CTL:-} ]]; then
    echo "usage: tests/pg/with-pg.sh $0 MILTER_BIN HOSTILE_BIN LOADGEN_BIN" >&2
    exit 2
fi
# shellcheck source=tests/hardening/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
hardening_init pg-faults
start_nsd

DB=$INGRESS_TEST_PG_TCP
PASSWORD=${DB#postgresql://ingress:}
PASSWORD=${PASSWORD%%@*}
PG_PORT=$(<"$INGRESS_TEST_PG_DIR/port")
BUSY_MS=1000
# The promised bound: the busy timeout and one second more (a store call that waited it once
# is not tried again: lib/store/pg.c), and 1.5 s of margin for a loaded 2-CPU machine: less than
# a second wait, so that a message that waits twice fails.
BOUND_MS=$((BUSY_MS + 1000 + 1500))

sql() { # sql QUERY: the first column of the first row, psql as the superuser on the database
    PG_CTL_DBNAME=ingress "$INGRESS_TEST_PG_CTL" psql "$INGRESS_TEST_PG_DIR" -At -c "$1" | head -n 1
}
ms() { date +%s%3N; }

# ---- 1. start-up ----

# start_fails NAME DATABASE [WRAPPER...]: milter-ingress -f on DATABASE (under WRAPPER) exits;
# sets RC, ERR (its stderr) and TOOK (ms).
start_fails() {
    local name=$1 database=$2
    shift 2
    cat >"$T/$name.conf" <<EOF
socket = unix:$T/$name.sock
database = $database
store_busy_timeout = ${BUSY_MS}ms
dns_servers = 127.0.0.1:$DNS_PORT
user =
allow_root = yes
EOF
    local t0
    t0=$(ms)
    RC=0
    timeout 30 "$@" "$MILTER_BIN" -c "$T/$name.conf" -f >/dev/null 2>"$T/$name.err" </dev/null ||
        RC=$?
    TOOK=$(($(ms) - t0))
    ERR=$(<"$T/$name.err")
}

# expect_exit2 NAME WHAT...: RC is 2, within the bound, stderr has each WHAT, never the password,
# and no sanitizer report.
expect_exit2() {
    local name=$1 what
    shift
    local problems=()
    [[ $RC == 2 ]] || problems+=("exit status $RC, not 2")
    ((TOOK < BOUND_MS)) || problems+=("took $TOOK ms (bound $BOUND_MS ms)")
    for what in "$@"; do
        grep -qF -- "$what" "$T/$name.err" || problems+=("no \"$what\" in the error")
    done
    if grep -qF -- "$PASSWORD" "$T/$name.err" || grep -qF -- "s3cret" "$T/$name.err"; then
        problems+=("the password is shown")
    fi
    sanitizer_clean "$T/$name.err" || problems+=("a sanitizer report")
    if ((${#problems[@]} == 0)); then
        ok "start-up, $name: exit 2 in $TOOK ms"
        sed 's/^/#   /' "$T/$name.err"
    else
        not_ok "start-up, $name: exit 2 naming what is wrong" "${problems[@]}" "$ERR"
    fi
}

start_fails malformed-uri "postgresql://ingress:s3cret@127.0.0.1:$PG_PORT/ingress?sslmode"
expect_exit2 malformed-uri "cannot be parsed" "sslmode"

start_fails wrong-password "postgresql://ingress:wr0ng-s3cret@127.0.0.1:$PG_PORT/ingress"
expect_exit2 wrong-password "password authentication failed for user \"ingress\""

# A server too old: Debian 12 packages no PostgreSQL older than 15, and the oldest the schema runs
# on is 11, so no real old server can be run here.  The fake answers the start-up of libpq as a
# trusting PostgreSQL 9.6 would (AuthenticationOk, server_version 9.6.24, ReadyForQuery), which is
# all the version check reads.
"$PYTHON" - "$T/old.port" <<'PY' &
import socket, struct, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(4)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
def msg(kind, body):
    return kind + struct.pack("!I", len(body) + 4) + body
while True:
    c, _ = s.accept()
    c.recv(4096)
    c.sendall(msg(b"R", struct.pack("!I", 0)) +
              msg(b"S", b"server_version\x009.6.24\x00") +
              msg(b"S", b"client_encoding\x00UTF8\x00") +
              msg(b"K", struct.pack("!II", 1, 2)) + msg(b"Z", b"I"))
    while c.recv(4096):
        pass
    c.close()
PY
PIDS+=($!)
# A server that accepts connections and never answers a byte.
"$PYTHON" - "$T/silent.port" <<'PY' &
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held = []
while True:
    held.append(s.accept()[0])
PY
PIDS+=($!)
for f in old.port silent.port; do
    for ((i = 0; i < 100; i++)); do [[ -s $T/$f ]] && break; sleep 0.05; done
done

start_fails too-old "host=127.0.0.1 port=$(<"$T/old.port") dbname=ingress user=ingress sslmode=disable gssencmode=disable"
expect_exit2 too-old "the server is PostgreSQL 9.6, too old: milter-ingress needs 11 or later"

start_fails never-answers "postgresql://ingress:s3cret@127.0.0.1:$(<"$T/silent.port")/ingress?sslmode=disable&gssencmode=disable"
expect_exit2 never-answers "no answer from the server within the busy timeout"
echo "# figure: a server that never answers: exit 2 after $TOOK ms (store_busy_timeout ${BUSY_MS} ms)"

# Another application's database: a `greylist` table of its own shape in the schema the milter is
# given (search_path).  Its table is left as it was.
sql "CREATE SCHEMA other AUTHORIZATION ingress;
     CREATE TABLE other.greylist (id serial PRIMARY KEY, note text);
     ALTER TABLE other.greylist OWNER TO ingress;
     INSERT INTO other.greylist (note) VALUES ('theirs');" >/dev/null
start_fails other-application "$DB?options=-c%20search_path%3Dother"
expect_exit2 other-application "\"greylist\" already exists" "not made by milter-ingress"
check "start-up, other-application: its greylist table is untouched (1 row, no schema of ours)" \
    test "$(sql "SELECT (SELECT count(*) FROM other.greylist)::text || ' ' ||
                 (to_regclass('other.milter_ingress_schema') IS NULL)::text")" = "1 true"

# This host's clock 5 minutes behind the server's (libfaketime moves the milter's wall clock only).
# Not under AddressSanitizer: its interceptors call clock_gettime before libfaketime has found the
# real one ("Unexpected recursive calls to clock_gettime()"), and the milter then sometimes hangs
# at start; the plain and ThreadSanitizer builds run these cases.
FAKETIME_LIB=$(find /usr/lib -name libfaketime.so.1 -path '*faketime*' 2>/dev/null | head -n 1)
FAKETIME_SKIP=
grep -q __asan_init "$MILTER_BIN" && FAKETIME_SKIP=AddressSanitizer
if [[ -n $FAKETIME_SKIP ]]; then
    echo "# SKIP start-up, clock-skew: libfaketime and $FAKETIME_SKIP can deadlock at start"
elif [[ -n $FAKETIME_LIB ]]; then
    start_fails clock-skew "$DB" env LD_PRELOAD="$FAKETIME_LIB" FAKETIME="-5m" \
        FAKETIME_DONT_FAKE_MONOTONIC=1 FAKETIME_DONT_RESET=1
    expect_exit2 clock-skew "the clock of this host is 300 s behind the PostgreSQL server's" "NTP"
else
    not_ok "start-up, clock-skew: libfaketime (Debian's faketime) is installed"
fi

# --init on the (already migrated) database: it says "ready" with the schema version, and shows
# the database without its password (the value holds one; a package's postinst or an admin runs
# this, and its output may land in a log).
cat >"$T/init.conf" <<EOF
database = $DB
store_busy_timeout = ${BUSY_MS}ms
user =
allow_root = yes
EOF
init_rc=0
init_out=$("$MILTER_BIN" -c "$T/init.conf" --init 2>&1) || init_rc=$?
if [[ $init_rc == 0 && $init_out == *": ready, schema version "* ]] &&
    ! grep -qF -- "$PASSWORD" <<<"$init_out"; then
    ok "--init on PostgreSQL: ready, the schema version, no password in its output"
else
    not_ok "--init on PostgreSQL: ready, the schema version, no password in its output" \
        "status $init_rc"
fi

# ---- 2. run time ----

PG_OPTS=("database = $DB" "store_busy_timeout = ${BUSY_MS}ms" "greylist = yes"
    "greylist_delay = 0")
start_milter run "${PG_OPTS[@]}"
probe_no=0
# probe: one message through `hostile -p` to a new recipient; PROBE is its outcome line, PROBE_MS
# how long it took; true when accepted.
probe() {
    local t0 rc=0
    probe_no=$((probe_no + 1))
    PROBE_RCPT="probe-$probe_no@example.test"
    t0=$(ms)
    PROBE=$("$HOSTILE_BIN" -s "unix:$MILTER_SOCK" -r "<$PROBE_RCPT>" -t 20000 -p 2>&1) || rc=$?
    PROBE_MS=$(($(ms) - t0))
    return $rc
}
check "run time: a message is accepted while the server runs" probe

"$INGRESS_TEST_PG_CTL" stop "$INGRESS_TEST_PG_DIR"
probe && rc=0 || rc=$?
if [[ $rc != 0 && $PROBE == *"4.3.0"* ]] && ((PROBE_MS < BOUND_MS)); then
    ok "run time, server stopped: 451 4.3.0 in $PROBE_MS ms"
else
    not_ok "run time, server stopped: 451 4.3.0 within $BOUND_MS ms" "$PROBE ($PROBE_MS ms)"
fi
down_ms=$PROBE_MS
probe || true
check "run time, server stopped: a second message is refused too" test "${PROBE#*4.3.0}" != "$PROBE"
check "run time, server stopped: one log line says the server went" \
    test "$(grep -c 'PostgreSQL cannot be used' "$MILTER_LOG")" = 1

t0=$(ms)
"$INGRESS_TEST_PG_CTL" start "$INGRESS_TEST_PG_DIR" >/dev/null
started_ms=$(($(ms) - t0))
if probe; then
    ok "run time, server started again: the next message is accepted, no restart"
else
    not_ok "run time, server started again: the next message is accepted" "$PROBE" \
        "$(grep -E 'PostgreSQL|decision log' "$MILTER_LOG")"
fi
echo "# figure: server stopped: 451 after $down_ms ms; started again (pg_ctl start took $started_ms ms): the next message accepted in $PROBE_MS ms"
check "run time: one log line says the server is back" \
    test "$(grep -c 'PostgreSQL reachable again' "$MILTER_LOG")" = 1

# Frozen: every process of the server stopped (SIGSTOP), connections open and never answered.
pg_pids() {
    local main
    main=$("$INGRESS_TEST_PG_CTL" pid "$INGRESS_TEST_PG_DIR")
    echo "$main"
    ps -o pid= --ppid "$main"
}
mapfile -t frozen < <(pg_pids)
kill -STOP "${frozen[@]}"
probe && rc=0 || rc=$?
kill -CONT "${frozen[@]}"
if [[ $rc != 0 && $PROBE == *"4.3.0"* ]] && ((PROBE_MS < BOUND_MS)); then
    ok "run time, server frozen (answers nothing): 451 4.3.0 in $PROBE_MS ms"
else
    not_ok "run time, server frozen: 451 4.3.0 within $BOUND_MS ms" "$PROBE ($PROBE_MS ms)"
fi
echo "# figure: server frozen (SIGSTOP): 451 after $PROBE_MS ms"
check "run time, server frozen: one log line says it does not answer" \
    test "$(grep -c 'PostgreSQL cannot be used: no answer from the server' "$MILTER_LOG")" = 1
# While the server is down one call tries it every 100 ms (lib/store/pg.c), the others fail at
# once: a message right after the thaw may still get 451.
thawed() {
    local i
    for ((i = 0; i < 10; i++)); do
        probe && return 0
        sleep 0.1
    done
    return 1
}
check "run time, server thawed: accepted again within a second" thawed
check "run time, server thawed: one more log line says the server is back" \
    test "$(grep -c 'PostgreSQL reachable again' "$MILTER_LOG")" = 2
stop_milter
check "run time: SIGTERM stops the milter with status 0" test "$MILTER_RC" = 0
check "run time: no sanitizer report" sanitizer_clean "$MILTER_LOG"

start_milter open "${PG_OPTS[@]}" "fail_open = yes"
"$INGRESS_TEST_PG_CTL" stop "$INGRESS_TEST_PG_DIR"
if probe && ((PROBE_MS < BOUND_MS)); then
    ok "run time, server stopped, fail_open = yes: accepted in $PROBE_MS ms"
else
    not_ok "run time, server stopped, fail_open = yes: accepted within the bound" "$PROBE ($PROBE_MS ms)"
fi
check "run time, fail_open: the log says the server went" grep -q 'PostgreSQL cannot be used' "$MILTER_LOG"
"$INGRESS_TEST_PG_CTL" start "$INGRESS_TEST_PG_DIR" >/dev/null
stop_milter

# A skew that appears while the milter runs (libfaketime reading its offset from a file): the
# next connection finds it, logs it once, and mail goes on (the clocks are refused at start-up
# only).
if [[ -n $FAKETIME_SKIP ]]; then
    echo "# SKIP run time, the skew: libfaketime and $FAKETIME_SKIP can deadlock at start"
elif [[ -n $FAKETIME_LIB ]]; then
    echo "+0" >"$T/offset"
    MILTER_WRAP=(env LD_PRELOAD="$FAKETIME_LIB" FAKETIME_TIMESTAMP_FILE="$T/offset"
        FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1)
    start_milter skew "${PG_OPTS[@]}"
    check "run time, clocks agree: accepted" probe
    echo "-5m" >"$T/offset"
    "$INGRESS_TEST_PG_CTL" stop "$INGRESS_TEST_PG_DIR"
    "$INGRESS_TEST_PG_CTL" start "$INGRESS_TEST_PG_DIR" >/dev/null
    check "run time, the host's clock 5 minutes behind after a reconnection: still accepted" thawed
    check "run time, the skew: one log line naming it" \
        test "$(grep -c 'the clock of this host is 300 s behind the PostgreSQL server' "$MILTER_LOG")" = 1
    stop_milter
    MILTER_WRAP=()
fi

# ---- 3. kill -9 under load ----

ACKED=$T/acked.txt
: >"$ACKED"
start_milter crash "${PG_OPTS[@]}"
"$LOADGEN_BIN" -s "unix:$MILTER_SOCK" -a 127.0.0.2 -N good.example.test -H good.example.test \
    -f load@e2e.test -r "load-crash@example.test" -c 8 -m 20 -n 1000000 -t 5000 -j \
    >"$T/loadgen-crash.out" 2>&1 &
load_pid=$!
PIDS+=("$load_pid")
end=$((SECONDS + 3))
while ((SECONDS < end)); do
    probe && echo "$PROBE_RCPT" >>"$ACKED"
done
kill -KILL "$MILTER_PID"
wait "$MILTER_PID" 2>/dev/null || true
wait "$load_pid" 2>/dev/null || true
load=$(grep -o '"continue_accept":[0-9]*' "$T/loadgen-crash.out" || true)
missing=$(sql "SELECT count(*) FROM unnest(string_to_array('$(tr '\n' ' ' <"$ACKED")', ' ')) r
               WHERE r <> '' AND NOT EXISTS (SELECT 1 FROM greylist g WHERE g.sender =
               'probe@e2e.test' AND g.recipient = r AND g.confirmed_at IS NOT NULL)")
acked=$(wc -l <"$ACKED")
if [[ $missing == 0 && $acked -gt 0 ]]; then
    ok "kill -9 under load: all $acked acknowledged greylist confirmations are in PostgreSQL ($load)"
else
    not_ok "kill -9 under load: acknowledged greylist confirmations survived" \
        "$missing of $acked missing"
fi
start_milter crash "${PG_OPTS[@]}"
check "kill -9: restarted, a message is accepted" probe
stop_milter

# ---- 4. the server restarted under load ----

: >"$ACKED"
start_milter restart "${PG_OPTS[@]}"
# The load in runs of 400 messages until told to stop, so that each run's counts are printed.
(
    run=0
    while [[ ! -e $T/load.stop ]]; do
        run=$((run + 1))
        "$LOADGEN_BIN" -s "unix:$MILTER_SOCK" -a 127.0.0.2 -N good.example.test \
            -H good.example.test -f load@e2e.test -r "load-restart@example.test" -I "R${run}X" \
            -c 8 -m 20 -n 400 -t 10000 -j >"$T/loadgen-restart-$run.out" 2>&1 || true
    done
) &
load_pid=$!
PIDS+=("$load_pid")
refused=0
end=$((SECONDS + 2))
while ((SECONDS < end)); do probe && echo "$PROBE_RCPT" >>"$ACKED" || refused=$((refused + 1)); done
"$INGRESS_TEST_PG_CTL" stop "$INGRESS_TEST_PG_DIR"
end=$((SECONDS + 3)) # more than one tick of the lists' reload (1 s) and of the expiry (2 s)
while ((SECONDS < end)); do probe && echo "$PROBE_RCPT" >>"$ACKED" || refused=$((refused + 1)); done
"$INGRESS_TEST_PG_CTL" start "$INGRESS_TEST_PG_DIR" >/dev/null
end=$((SECONDS + 2))
while ((SECONDS < end)); do probe && echo "$PROBE_RCPT" >>"$ACKED" || refused=$((refused + 1)); done
touch "$T/load.stop"
wait "$load_pid" 2>/dev/null || true
check "restart under load: the milter is still running" kill -0 "$MILTER_PID"
stop_milter # writes what the decision log still holds
check "restart under load: SIGTERM stops the milter with status 0" test "$MILTER_RC" = 0
check "restart under load: one line each from the lists' reload and from expiry while it was away" \
    test "$(grep -c 'reading the block/allow lists' "$MILTER_LOG") $(grep -cE 'expiry: .*said once|cannot keep the expiry turn' "$MILTER_LOG")" = "1 1"
check "restart under load: no decisions lost at close" \
    test "$(grep -c 'decisions lost at close' "$MILTER_LOG")" = 0
acked=$(wc -l <"$ACKED")
missing=$(sql "SELECT count(*) FROM unnest(string_to_array('$(tr '\n' ' ' <"$ACKED")', ' ')) r
               WHERE r <> '' AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.recipient = r
               AND d.check_name = 'policy' AND d.action = 'accept')")
if [[ $missing == 0 && $acked -gt 0 ]]; then
    ok "restart under load: all $acked accepted probe messages have their decision row ($refused refused while the server was away)"
else
    not_ok "restart under load: accepted probe messages have their decision row" \
        "$missing of $acked missing"
fi
load_count() { # load_count KEY: the sum of KEY over the load's runs
    cat "$T"/loadgen-restart-*.out | grep -o "\"$1\":[0-9]*" | awk -F: '{ n += $2 } END { print n + 0 }'
}
accepted=$(load_count continue_accept)
rows=$(sql "SELECT count(*) FROM decisions WHERE recipient = 'load-restart@example.test'
            AND check_name = 'policy' AND action = 'accept'")
if [[ $accepted -gt 0 && $rows -ge $accepted ]]; then
    ok "restart under load: the load's $accepted accepted messages have $rows decision rows"
else
    not_ok "restart under load: every accepted message of the load has its decision row" \
        "$accepted accepted, $rows rows"
fi
echo "# figure: restart under load: $acked probe messages accepted, $refused refused; load: $(load_count messages) messages, $accepted accepted, $(load_count tempfail_4xx) deferred"
check "restart under load: no sanitizer report" sanitizer_clean "$MILTER_LOG"
finish
