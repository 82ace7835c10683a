#!/usr/bin/env bash
# The milter benchmark: every figure in one command, then a "targets" block saying for
# each target its figure, its threshold and whether it is met.  Figures, not a test.  Builds
# nothing: give it a build directory (a non-sanitized RelWithDebInfo one for figures).
#
#   tests/bench/run.sh BUILD_DIR [--smoke]
#
# What it starts, each on loopback and stopped by its PID at the end: a private NSD serving
# tests/dns/*.zone plus a localhost zone (so that Postfix's 127.0.0.1 has a forward-confirmed PTR);
# milter-ingress twice with one production-like configuration (greylisting on, every check;
# trusted_networks empty), on an inet and a unix socket; the libmilter null milter
# (tests/bench/nullmilter.c: accepts everything, adds one header at end of message as
# milter-ingress adds Authentication-Results) on inet, unix, and inet without TCP_NODELAY (the
# Nagle control); Debian's opendkim in verify mode on a unix socket (when
# installed; keys from a file, so it does no DNS at all); for the cold-cache figure a fresh
# milter-ingress behind tests/bench/slowdns.py (every DNS answer SLOW_DNS_MS late); and for the
# whole-MTA figure a private Postfix driven by smtp-source.
#
# Scenarios (tests/bench/loadgen.c drives the milter protocol; messages from tests/bench/message.py):
#   inbound-known  127.0.0.2 (PTR and HELO good.example.test), MAIL FROM bench@e2e.test (SPF pass),
#                  a 20 KiB message with an aligned DKIM signature (e2e._domainkey.e2e.test), 8
#                  recipients whose triplets the warm-up confirmed: accepted with A-R
#   inbound-new    the same client, a sender never seen (new<n>@neutral.e2e.test, SPF neutral):
#                  greylisted at RCPT (451 4.7.1), a new triplet written each time
#   submission     127.0.0.50 with {auth_authen} bench@e2e.test, sending as itself, 4 KiB unsigned
#   mixed          the three at once, 70/20/10 of the connections and of the messages
#   dmarc          inbound-known (whose From domain e2e.test publishes a DMARC record, so every
#                  message is evaluated: a pass) against milter-ingress and against a third one
#                  with dmarc = no, the runs alternated, for the cost of DMARC in the same run
#   postgresql     the store on a private PostgreSQL (tests/pg/pg-ctl.sh, then production settings:
#                  fsync, synchronous_commit = off like SQLite's synchronous = NORMAL, 256 MB of
#                  shared buffers), in the same run: greylist_bench -D at GREYLIST_ROWS from one
#                  process (PG_THREADS threads) and from three at once; inbound-known through a
#                  milter on PostgreSQL and one on a fresh SQLite file, alternated, then one
#                  connection each; the decision log's rows a message and bytes a row on both;
#                  `ingressctl why` on PG_DECISION_ROWS decisions over 30 day partitions, with the
#                  server's plan (auto_explain).  Skipped when no server is installed.
# Each measured figure is the median of REPEAT runs (all runs are printed), after one warm-up run
# per target (the DNS cache is warm).  `cat /proc/loadavg` is printed before each group: the 2 CPUs
# are shared with the load generator (and, on a developer machine, with other work).
#
# Environment: CONNS (32) concurrent connections, PER_CONN (50) messages a connection, MESSAGES
# (CONNS x PER_CONN x 4) a measured run, REPEAT (3), HOLD_CONNS (256) for the memory figures (a
# fresh milter with its DNS cache cold, and one with it warm),
# SLOW_DNS_MS (50), MTA_MESSAGES (2000), GREYLIST_ROWS (1000000), PG_THREADS (8),
# PG_DECISION_ROWS (1000000), PROFILE=1 adds a perf profile of
# inbound-known (perf record --call-graph dwarf, cost centres printed), SKIP="mta opendkim
# greylist memory cold null known others serial dkim instructions postgresql" skips parts (null: the null milter's runs;
# known: inbound-known at CONNS connections; others: inbound-new, submission, mixed; serial: the
# one-connection runs; dkim: dkim_bench, libopendkim and OpenSSL outside the milter; instructions:
# the callgrind counts, INSTR_MESSAGES (200) messages); an A/B of two builds is
# run.sh OLD and run.sh NEW alternated with the same SKIP, e.g. SKIP="mta opendkim greylist memory
# cold null others serial instructions" REPEAT=1 for inbound-known alone, or SKIP="mta opendkim
# greylist memory cold null known others serial dkim" for the instruction counts alone (these
# need no alternation: they repeat); SKIP word dmarc skips the DMARC on/off pair; console skips inbound-known
# with ingress-console hammered against it idle (the console's own figures: tests/bench/console.sh);
# CONSOLE_NICE (10) the console's nice value there, as its systemd unit sets it (0: the milter's).  --smoke: a few messages a scenario, one run, no memory, MTA,
# store or cold-cache figure; exits non-zero unless every scenario got the replies it must get
# (timing is printed, never judged, in smoke mode).  KEEP_BENCH_DIR=1 keeps the temporary folder.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 || (${2:-} != "" && ${2:-} != --smoke) ]]; then
    echo "usage: $0 BUILD_DIR [--smoke]" >&2
    exit 2
fi
BUILD=$(realpath -- "$1")
SMOKE=0
[[ ${2:-} == --smoke ]] && SMOKE=1
SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_DIR=$SRC_DIR/tests/bench
NSD_CTL=$SRC_DIR/tests/dns/nsd-ctl.sh
PYTHON=/usr/bin/python3
BENCH_NAME=bench
# shellcheck source=tests/bench/lib.sh
source "$BENCH_DIR/lib.sh"
MILTER=$BUILD/milter-ingress
LOADGEN=$BUILD/tests/loadgen
NULLMILTER=$BUILD/tests/nullmilter
CONSOLE=$BUILD/ingress-console
GREYLIST_BENCH=$BUILD/tests/greylist_bench
DKIM_BENCH=$BUILD/tests/dkim_bench
for f in "$MILTER" "$LOADGEN" "$NULLMILTER"; do
    [[ -x $f ]] || {
        echo "bench: $f is missing (build first)" >&2
        exit 2
    }
done

if [[ $SMOKE == 1 ]]; then
    CONNS=${CONNS:-4}
    PER_CONN=${PER_CONN:-5}
    MESSAGES=${MESSAGES:-$((CONNS * PER_CONN))}
    REPEAT=1
    SKIP="mta greylist memory cold ${SKIP:-}"
else
    CONNS=${CONNS:-32}
    PER_CONN=${PER_CONN:-50}
    MESSAGES=${MESSAGES:-$((CONNS * PER_CONN * 4))}
    REPEAT=${REPEAT:-3}
    SKIP=${SKIP:-}
fi
HOLD_CONNS=${HOLD_CONNS:-256}
SLOW_DNS_MS=${SLOW_DNS_MS:-50}
MTA_MESSAGES=${MTA_MESSAGES:-2000}
GREYLIST_ROWS=${GREYLIST_ROWS:-1000000}
command -v opendkim >/dev/null || SKIP="$SKIP opendkim"
command -v smtp-source >/dev/null && command -v postfix >/dev/null || SKIP="$SKIP mta"
[[ -x $GREYLIST_BENCH ]] || SKIP="$SKIP greylist"
[[ -x $DKIM_BENCH ]] || SKIP="$SKIP dkim"
[[ -x $CONSOLE ]] || SKIP="$SKIP console"

bench_dir ingress-bench
declare -A SOCK_PID # the process serving each milter socket, for its CPU time per run
NSD_STARTED=0
POSTFIX_CONF=""

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    [[ -n $POSTFIX_CONF ]] && postfix -c "$POSTFIX_CONF" stop >/dev/null 2>&1
    [[ $NSD_STARTED == 1 ]] && "$NSD_CTL" stop "$T/nsd" >/dev/null 2>&1
    bench_cleanup
}
trap cleanup EXIT

load() { echo "# loadavg before $1: $(cat /proc/loadavg)"; }

mapfile -t ports < <(free_ports 5)
mkdir -p "$T/zones"
cp "$SRC_DIR"/tests/dns/*.zone "$T/zones/"
cat >"$T/zones/localhost.zone" <<'EOF'
; The benchmark's own zone: Postfix's client is 127.0.0.1, whose PTR is localhost.
$ORIGIN localhost.
$TTL 300
@               IN SOA  ns.localhost. hostmaster.localhost. 1 3600 600 86400 60
@               IN NS   ns.localhost.
@               IN A    127.0.0.1
ns              IN A    127.0.0.1
EOF
DNS_PORT=$("$NSD_CTL" start "$T/nsd" "$T/zones") || die "nsd-ctl.sh start failed"
NSD_STARTED=1

"$PYTHON" "$BENCH_DIR/message.py" "$T/signed.eml" 20 || die "cannot sign the benchmark message"
"$PYTHON" "$BENCH_DIR/message.py" "$T/plain.eml" 4 --unsigned || die "cannot write the message"
"$PYTHON" "$BENCH_DIR/message.py" "$T/unsigned.eml" 20 --unsigned || die "cannot write the message"

# The command the milters below run under (the instruction counts put valgrind here).
WRAP=()

# start_ingress NAME SOCKET [DNS_PORT]: milter-ingress with a configuration of its own (plus the
# lines of EXTRA_CONF, if set).
start_ingress() {
    local name=$1 sock=$2 dns=${3:-$DNS_PORT}
    cat >"$T/$name.conf" <<EOF
# milter-ingress configuration for tests/bench/run.sh: the defaults (greylisting on), except:
socket = $sock
socket_mode = 0666
database = ${DATABASE:-$T/$name.db}
authserv_id = mx.bench.example
dns_servers = 127.0.0.1:$dns
trusted_networks =
user =
allow_root = yes
# submission: every message is counted by the throttle, none is over a limit (no static limits,
# no adaptive rule), so the scenario measures ownership + counting, not the hold queue.
throttle_factor = 0
throttle_messages_per_minute = 0
throttle_recipients_per_minute = 0
throttle_messages_per_hour = 0
throttle_recipients_per_hour = 0
throttle_messages_per_day = 0
throttle_recipients_per_day = 0
${EXTRA_CONF:-}
EOF
    "${WRAP[@]}" "$MILTER" -c "$T/$name.conf" -f 2>"$T/$name.log" &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_socket "$sock" "$LAST_PID" || die "milter-ingress ($name) does not listen on $sock"
    SOCK_PID[$sock]=$LAST_PID
}

start_null() {
    local name=$1 sock=$2
    shift 2
    "${WRAP[@]}" "$NULLMILTER" -p "$sock" "$@" 2>"$T/$name.log" &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_socket "$sock" "$LAST_PID" || die "nullmilter ($name) does not listen on $sock"
    SOCK_PID[$sock]=$LAST_PID
}

NULL_INET="inet:${ports[0]}@127.0.0.1"
NULL_NAGLE="inet:${ports[1]}@127.0.0.1"
ING_INET="inet:${ports[2]}@127.0.0.1"
ING_UNIX="unix:$T/ingress.sock"
OD_UNIX="unix:$T/opendkim.sock"
# -R: the null milter negotiates milter-ingress's reply-less steps, so both get the same exchange;
# null_all answers every step (the ceiling of a milter that negotiates nothing).
start_null null_inet "$NULL_INET" -a -D -R
start_null null_unix "unix:$T/null.sock" -a -R
start_null null_all_unix "unix:$T/null_all.sock" -a
start_null null_nagle "$NULL_NAGLE" -a
start_ingress ingress_inet "$ING_INET"
INGRESS_INET_PID=$LAST_PID
start_ingress ingress_unix "$ING_UNIX"
INGRESS_UNIX_PID=$LAST_PID
NODMARC_UNIX="unix:$T/nodmarc.sock"
if ! skipped dmarc; then
    EXTRA_CONF="dmarc = no" start_ingress ingress_nodmarc "$NODMARC_UNIX"
    INGRESS_NODMARC_PID=$LAST_PID
fi

if ! skipped opendkim; then
    # Debian's opendkim, verify mode, the key of e2e._domainkey.e2e.test from a file (no DNS), an
    # Authentication-Results header always; a bad or missing signature is rejected, so "every
    # message accepted" proves every signature verified.
    key=$(awk '/^e2e._domainkey/,/\)/' "$SRC_DIR/tests/dns/e2e.test.zone" | tr -d '\n' |
        sed 's/.*( *//; s/ *).*//; s/" *"//g; s/"//g')
    echo "e2e._domainkey.e2e.test $key" >"$T/opendkim.keys"
    cat >"$T/opendkim.conf" <<EOF
Mode v
Socket local:$T/opendkim.sock
UMask 000
Background no
Syslog no
TestPublicKeys $T/opendkim.keys
AuthservID mx.bench.example
AlwaysAddARHeader yes
On-BadSignature reject
On-KeyNotFound reject
On-DNSError reject
On-NoSignature reject
PidFile $T/opendkim.pid
EOF
    opendkim -f -x "$T/opendkim.conf" >"$T/opendkim.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_socket "$OD_UNIX" "$LAST_PID" || die "opendkim does not listen on $OD_UNIX"
    SOCK_PID[$OD_UNIX]=$LAST_PID
fi

RCPTS=$(printf 'user%d@mx.bench.example,' 1 2 3 4 5 6 7 8)
RCPTS=${RCPTS%,}
SC_KNOWN=(-a 127.0.0.2 -N good.example.test -H good.example.test -f bench@e2e.test -r "$RCPTS"
    -e "$T/signed.eml")
# inbound-known's client, sender, recipients and message without its signature: every check
# but DKIM's verification (the triplets are those inbound-known's warm-up confirmed), to tell
# what DKIM costs a message.
SC_UNSIGNED=(-a 127.0.0.2 -N good.example.test -H good.example.test -f bench@e2e.test
    -r "$RCPTS" -e "$T/unsigned.eml")
SC_NEW=(-a 127.0.0.2 -N good.example.test -H good.example.test -f 'new%n@neutral.e2e.test'
    -r "$RCPTS" -e "$T/signed.eml")
SC_SUB=(-a 127.0.0.50 -N unknown -H laptop.example -u bench@e2e.test -f bench@e2e.test
    -r someone@example.org,other@example.net -e "$T/plain.eml")

# cpu_ticks PID: the process's user + system CPU time so far, in clock ticks (proc(5) fields 14
# and 15; the command name in field 2 has no spaces here).
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || true; }

# server_ticks: the CPU time of the benchmark's PostgreSQL server so far (the postmaster, its
# processes, and those that ended), in clock ticks; nothing when it does not run.
server_ticks() {
    local postmaster
    postmaster=$(head -n 1 "$T/pg/data/postmaster.pid" 2>/dev/null) || return 0
    [[ -r /proc/$postmaster/stat ]] || return 0
    { cat "/proc/$postmaster/stat"; for p in $(pgrep -P "$postmaster"); do
        cat "/proc/$p/stat" 2>/dev/null; done; } |
        awk -v pm="$postmaster" '{ t += $14 + $15; if ($1 == pm) t += $16 + $17 } END { print t }'
}

# run NAME SOCKET CONNS PER_CONN TOTAL SCENARIO_ARGS...: one loadgen run into $T/NAME.json, and
# the CPU seconds the milter serving SOCKET spent during it into $T/NAME.cpu (and the PostgreSQL
# server's, when SERVER_CPU=1, into $T/NAME.server).
run() {
    local name=$1 sock=$2 c=$3 m=$4 n=$5 pid before server_before=""
    shift 5
    pid=${SOCK_PID[$sock]:-}
    before=""
    [[ -n $pid ]] && before=$(cpu_ticks "$pid")
    [[ ${SERVER_CPU:-0} == 1 ]] && server_before=$(server_ticks)
    "$LOADGEN" -s "$sock" -t 10000 -j -c "$c" -m "$m" -n "$n" "$@" >"$T/$name.json" ||
        die "loadgen $name against $sock failed: $(cat "$T/$name.json")"
    # No figure (rather than a wrong one) when the process is gone: the replies decide the run.
    local after
    after=$([[ -n $before ]] && cpu_ticks "$pid")
    [[ -n $after ]] && echo "$((after - before)) $CLK_TCK" >"$T/$name.cpu"
    if [[ -n $server_before ]]; then
        echo "$(($(server_ticks) - server_before)) $CLK_TCK" >"$T/$name.server"
    fi
    return 0
}

# bench NAME SOCKET CONNS PER_CONN TOTAL SCENARIO_ARGS...: a warm-up, then REPEAT measured runs
# into $T/NAME.1.json ... (the warm-up confirms inbound-known's triplets and warms the DNS cache).
bench() {
    local name=$1 sock=$2 c=$3 m=$4 n=$5 i
    shift 5
    run "$name.warm" "$sock" "$c" "$m" $((c * 2)) "$@"
    for ((i = 1; i <= REPEAT; i++)); do
        run "$name.$i" "$sock" "$c" "$m" "$n" "$@"
    done
}

# mixed NAME SOCKET: inbound-known, inbound-new and submission at once, 70/20/10 of the
# connections and of the messages, REPEAT times (after bench() warmed each scenario up).
mixed() {
    local name=$1 sock=$2 i
    local ck=$((CONNS * 7 / 10)) cn=$((CONNS * 2 / 10)) cs
    ((cn < 1)) && cn=1
    cs=$((CONNS - ck - cn))
    ((cs < 1)) && cs=1
    for ((i = 1; i <= REPEAT; i++)); do
        run "$name.known.$i" "$sock" "$ck" "$PER_CONN" $((MESSAGES * 7 / 10)) "${SC_KNOWN[@]}" &
        local p1=$!
        run "$name.new.$i" "$sock" "$cn" "$PER_CONN" $((MESSAGES * 2 / 10)) "${SC_NEW[@]}" &
        local p2=$!
        run "$name.sub.$i" "$sock" "$cs" "$PER_CONN" $((MESSAGES / 10)) "${SC_SUB[@]}" &
        local p3=$!
        wait "$p1" && wait "$p2" && wait "$p3" || die "mixed run $i failed"
    done
}

load "the throughput runs ($CONNS connections)"
if ! skipped null; then
    bench null_inet "$NULL_INET" "$CONNS" "$PER_CONN" "$MESSAGES" "${SC_KNOWN[@]}"
    bench null_unix "unix:$T/null.sock" "$CONNS" "$PER_CONN" "$MESSAGES" "${SC_KNOWN[@]}"
    bench null_all_unix "unix:$T/null_all.sock" "$CONNS" "$PER_CONN" "$MESSAGES" "${SC_KNOWN[@]}"
fi
skipped opendkim || bench opendkim_unix "$OD_UNIX" "$CONNS" "$PER_CONN" "$MESSAGES" "${SC_KNOWN[@]}"

PERF_PID=""
if [[ ${PROFILE:-0} == 1 ]] && command -v perf >/dev/null; then
    run known_unix.prewarm "$ING_UNIX" "$CONNS" "$PER_CONN" $((CONNS * 2)) "${SC_KNOWN[@]}"
    perf record -F 499 --call-graph dwarf,16384 -p "$INGRESS_UNIX_PID" -o "$T/perf.data" \
        >"$T/perf.log" 2>&1 &
    PERF_PID=$!
    sleep 0.5
fi
skipped known || bench known_unix "$ING_UNIX" "$CONNS" "$PER_CONN" "$MESSAGES" "${SC_KNOWN[@]}"
if [[ -n $PERF_PID ]]; then
    kill -INT "$PERF_PID"
    wait "$PERF_PID" || true
    perf script -i "$T/perf.data" 2>/dev/null >"$T/perf.txt" || true
fi
skipped known || bench known_inet "$ING_INET" "$CONNS" "$PER_CONN" "$MESSAGES" "${SC_KNOWN[@]}"
skipped known || bench unsigned_unix "$ING_UNIX" "$CONNS" "$PER_CONN" "$MESSAGES" "${SC_UNSIGNED[@]}"
# DMARC on and off: the same scenario on two milters that differ only in `dmarc`, run in turn so
# that the machine's drift falls on both alike (a warm-up each first: DNS cache, triplets).
if ! skipped dmarc; then
    load "the DMARC on/off runs"
    run dmarc_on_unix.warm "$ING_UNIX" "$CONNS" "$PER_CONN" $((CONNS * 2)) "${SC_KNOWN[@]}"
    run dmarc_off_unix.warm "$NODMARC_UNIX" "$CONNS" "$PER_CONN" $((CONNS * 2)) "${SC_KNOWN[@]}"
    for ((i = 1; i <= REPEAT; i++)); do
        run "dmarc_on_unix.$i" "$ING_UNIX" "$CONNS" "$PER_CONN" "$MESSAGES" "${SC_KNOWN[@]}"
        run "dmarc_off_unix.$i" "$NODMARC_UNIX" "$CONNS" "$PER_CONN" "$MESSAGES" "${SC_KNOWN[@]}"
    done
fi
# The console in use: inbound-known through the unix milter while ingress-console, on the same
# database, answers a support agent who never stops (tests/bench/console.py hammer: why by the
# benchmark's client IP, by its sender address and by a reference, and the held list, one call
# after another on one connection), against the same runs with the console idle, alternated.
# The client and the sender are those of every message here: each why reads the newest 10,000
# decisions and the address's also every detail, the heaviest calls a support agent can make.
# The console runs as its unit runs it, below the milter: nice 10 and best-effort I/O at 7
# (CONSOLE_NICE=0: both at the milter's).  The unit's CPUWeight=20 weighs the two services'
# cgroups against each other, which only systemd makes: here every process shares one cgroup,
# so nice alone (a weight of 110 against the milter's threads' 1024 each) ranks them.
if ! skipped console; then
    load "the console in use"
    console_port=$(free_ports 1)
    cat >"$T/console.conf" <<EOF
# ingress-console for tests/bench/run.sh: the unix milter's database
database = $T/ingress_unix.db
console_listen = 127.0.0.1:$console_port
console_users_file = $T/console-users
EOF
    echo bench-password-1 | "$BUILD/ingressctl" -c "$T/console.conf" console-user add bench \
        --role support >/dev/null || die "ingressctl console-user add failed"
    console_prio=()
    [[ ${CONSOLE_NICE:-10} == 0 ]] || console_prio=(nice -n "${CONSOLE_NICE:-10}" ionice -c 2 -n 7)
    echo "${CONSOLE_NICE:-10}" >"$T/console_nice"
    "${console_prio[@]}" "$CONSOLE" -c "$T/console.conf" 2>"$T/console.log" &
    CONSOLE_PID=$!
    PIDS+=("$CONSOLE_PID")
    wait_socket "inet:$console_port@127.0.0.1" "$CONSOLE_PID" || die "ingress-console does not listen"
    console_keys='{"ip": "127.0.0.2", "address": "bench@e2e.test", "ref": "7QK2M9XA"}'
    run console_idle_unix.warm "$ING_UNIX" "$CONNS" "$PER_CONN" $((CONNS * 2)) "${SC_KNOWN[@]}"
    for ((i = 1; i <= REPEAT; i++)); do
        run "console_idle_unix.$i" "$ING_UNIX" "$CONNS" "$PER_CONN" "$MESSAGES" "${SC_KNOWN[@]}"
        "$PYTHON" "$BENCH_DIR/console.py" hammer "$console_port" bench bench-password-1 \
            "$console_keys" "$T/console_busy_unix.$i.calls" 2>"$T/hammer.log" &
        hammer_pid=$!
        # Logged in and calling: it says so once its SIGTERM handler is in place (a fixed sleep
        # was too short on a loaded host, and the early SIGTERM ended it with nothing to say).
        for ((t = 0; t < WAIT_TENTHS * 3; t++)); do
            [[ -e $T/console_busy_unix.$i.calls.ready ]] && break
            kill -0 "$hammer_pid" 2>/dev/null || break
            sleep 0.1
        done
        [[ -e $T/console_busy_unix.$i.calls.ready ]] ||
            die "the console's client did not log in: $(cat "$T/hammer.log")"
        console_before=$(cpu_ticks "$CONSOLE_PID")
        hammer_before=$(cpu_ticks "$hammer_pid")
        run_start=$(date +%s.%N)
        run "console_busy_unix.$i" "$ING_UNIX" "$CONNS" "$PER_CONN" "$MESSAGES" "${SC_KNOWN[@]}"
        # The console's CPU during the run, against the run's wall time: what it took from the
        # milter and the load generator on the shared CPUs; then its client's (a browser that a
        # real host would not run, here on the same CPUs).
        echo "$(($(cpu_ticks "$CONSOLE_PID") - console_before)) $CLK_TCK $run_start $(date +%s.%N)" \
            "$(($(cpu_ticks "$hammer_pid") - hammer_before))" \
            >"$T/console_busy_unix.$i.console_cpu"
        kill -TERM "$hammer_pid"
        wait "$hammer_pid" || die "the console's client failed: $(cat "$T/hammer.log")"
    done
    stop "$CONSOLE_PID"
fi
if ! skipped others; then
    load "the other scenarios"
    bench new_unix "$ING_UNIX" "$CONNS" "$PER_CONN" "$MESSAGES" "${SC_NEW[@]}"
    bench sub_unix "$ING_UNIX" "$CONNS" "$PER_CONN" "$MESSAGES" "${SC_SUB[@]}"
    mixed mixed_unix "$ING_UNIX"
fi

# What DKIM verification of the benchmark message costs in libopendkim, and the OpenSSL steps any
# verifier needs (tests/bench/dkim_bench.c), into $T/dkim_bench.txt.
if ! skipped dkim && [[ $SMOKE == 0 ]]; then
    load "the DKIM figures"
    dkim_key=$(awk '/^e2e._domainkey/,/\)/' "$SRC_DIR/tests/dns/e2e.test.zone" | tr -d '\n' |
        sed 's/.*p=//; s/ *).*//; s/" *"//g; s/"//g')
    "$DKIM_BENCH" -m "$T/signed.eml" -k "$dkim_key" -t "$CONNS" >"$T/dkim_bench.txt" ||
        die "dkim_bench failed: $(cat "$T/dkim_bench.txt")"
fi

# Instructions a message, counted by valgrind's callgrind: the same inbound-known message through
# a fresh milter-ingress and a fresh null milter (same steps), each under callgrind, counted from
# after a warm-up to the end of INSTR_MESSAGES messages on 4 connections.  Unlike the rates above
# these counts repeat within about 1% whatever else the machine does (threads interleave
# differently: batch sizes, lock spins), so an A/B of two builds needs no alternation.  They do not
# weigh system calls, caches or waiting; and under valgrind OpenSSL hashes without the SHA
# instructions, so SHA-256 counts several times its real share.  callgrind_annotate's list of
# each function's own instructions goes into $T/NAME.annotate, which report.py sums by library.
INSTR_MESSAGES=${INSTR_MESSAGES:-200}
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null || SKIP="$SKIP instructions"
# instructions_figure NAME START_FUNCTION ARGS...: START_FUNCTION NAME ARGS... under callgrind.
instructions_figure() {
    local name=$1 start=$2 sock=$3 pid dump
    shift 2
    WRAP=(valgrind --tool=callgrind "--callgrind-out-file=$T/$name.callgrind.%p")
    WAIT_TENTHS=600
    "$start" "$name" "$@"
    WRAP=()
    WAIT_TENTHS=100
    pid=$LAST_PID
    run "$name.warm" "$sock" 4 10 40 "${SC_KNOWN[@]}"
    callgrind_control -z "$pid" >/dev/null || die "callgrind_control -z $pid failed"
    run "$name" "$sock" 4 $((INSTR_MESSAGES / 4)) "$INSTR_MESSAGES" "${SC_KNOWN[@]}"
    callgrind_control -d "$pid" >/dev/null || die "callgrind_control -d $pid failed"
    stop "$pid"
    dump=$T/$name.callgrind.$pid.1
    [[ -s $dump ]] || die "no callgrind dump $dump"
    callgrind_annotate --threshold=100 --auto=no "$dump" >"$T/$name.annotate" 2>/dev/null ||
        die "callgrind_annotate $dump failed"
    echo "$INSTR_MESSAGES" >"$T/$name.messages"
}
if ! skipped instructions && [[ $SMOKE == 0 ]]; then
    load "the instruction counts"
    instructions_figure instr_null start_null "unix:$T/instr_null.sock" -a -R
    instructions_figure instr_ingress start_ingress "unix:$T/instr_ingress.sock"
    skipped dmarc || EXTRA_CONF="dmarc = no" instructions_figure instr_nodmarc start_ingress \
        "unix:$T/instr_nodmarc.sock"
fi

# One connection at a time: the latency a message costs without queueing behind the others.
SERIAL=$((SMOKE ? 10 : 500))
if ! skipped serial; then
    load "the one-connection runs"
    skipped null || bench null_inet_1 "$NULL_INET" 1 "$SERIAL" "$SERIAL" "${SC_KNOWN[@]}"
    skipped null || bench null_unix_1 "unix:$T/null.sock" 1 "$SERIAL" "$SERIAL" "${SC_KNOWN[@]}"
    skipped null || bench null_nagle_1 "$NULL_NAGLE" 1 20 20 "${SC_KNOWN[@]}"
    bench known_inet_1 "$ING_INET" 1 "$SERIAL" "$SERIAL" "${SC_KNOWN[@]}"
    bench known_unix_1 "$ING_UNIX" 1 "$SERIAL" "$SERIAL" "${SC_KNOWN[@]}"
fi

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
RSS_AFTER=$(rss_kib "$INGRESS_INET_PID")
# memory_figure NAME PORT WARM: a fresh milter-ingress: idle (after one message first when WARM
# is 1, so its DNS cache holds the client's answers), then HOLD_CONNS connections opened together,
# each idle 3 s after HELO, then one inbound-known message each.  Sets MEM_BASE (idle after start),
# MEM_IDLE (all connections open and idle, sampled at 2.5 s) and MEM_PEAK, in KiB; copies smaps
# at the idle point into $T/NAME.smaps.
memory_figure() {
    local name=$1 sock="inet:$2@127.0.0.1" warm=$3 i r hold_pid
    start_ingress "$name" "$sock"
    local pid=$LAST_PID
    sleep 0.5
    [[ $warm == 1 ]] && run "$name.warm" "$sock" 1 1 1 "${SC_KNOWN[@]}"
    MEM_BASE=$(rss_kib "$pid")
    MEM_IDLE=0
    MEM_PEAK=0
    "$LOADGEN" -s "$sock" -t 20000 -j -c "$HOLD_CONNS" -m 1 -w 3000 "${SC_KNOWN[@]}" \
        >"$T/$name.json" &
    hold_pid=$!
    for ((i = 0; i < 40; i++)); do
        sleep 0.1
        r=$(rss_kib "$pid")
        ((r > MEM_PEAK)) && MEM_PEAK=$r
        if ((i == 24)); then
            MEM_IDLE=$r
            cp "/proc/$pid/smaps" "$T/$name.smaps" 2>/dev/null || true
        fi
    done
    wait "$hold_pid" || die "loadgen with $HOLD_CONNS held connections failed: $(cat "$T/$name.json")"
    stop "$pid"
}
MEMORY_COLD="0 0 0"
MEMORY_WARM="0 0 0"
if ! skipped memory; then
    load "the memory figures"
    memory_figure hold "${ports[3]}" 0
    MEMORY_COLD="$MEM_BASE $MEM_IDLE $MEM_PEAK"
    memory_figure hold_warm "${ports[3]}" 1
    MEMORY_WARM="$MEM_BASE $MEM_IDLE $MEM_PEAK"
fi

if ! skipped cold; then
    # Cold cache: a milter-ingress just started (empty DNS cache) whose every DNS answer comes
    # SLOW_DNS_MS late; one connection, one inbound-known message; slowdns.py logs each query.
    # Then the same with the answers on time (the cold cost over loopback NSD).
    load "the cold-cache figure"
    "$PYTHON" "$BENCH_DIR/slowdns.py" "$T/slowdns.port" "$DNS_PORT" "$SLOW_DNS_MS" \
        "$T/slowdns.queries" 2>"$T/slowdns.log" &
    PIDS+=("$!")
    for ((i = 0; i < 50; i++)); do
        [[ -s $T/slowdns.port ]] && break
        sleep 0.1
    done
    [[ -s $T/slowdns.port ]] || die "slowdns.py did not start"
    start_ingress cold_slow "unix:$T/cold_slow.sock" "$(cat "$T/slowdns.port")"
    run cold_slow "unix:$T/cold_slow.sock" 1 1 1 "${SC_KNOWN[@]}"
    run cold_slow_warm "unix:$T/cold_slow.sock" 1 1 1 "${SC_KNOWN[@]}"
    stop "$LAST_PID"
    start_ingress cold "unix:$T/cold.sock"
    run cold "unix:$T/cold.sock" 1 1 1 "${SC_KNOWN[@]}"
    stop "$LAST_PID"
fi

if ! skipped greylist; then
    load "the store figure"
    "$GREYLIST_BENCH" -r "$GREYLIST_ROWS" -d "$T" >"$T/greylist_bench.txt" 2>&1 ||
        die "greylist_bench failed: $(tail -5 "$T/greylist_bench.txt")"
fi

# ---- the store on PostgreSQL: the same figures, beside the SQLite ones of this run ----
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
[[ -x $PG_BINDIR/initdb ]] || SKIP="$SKIP postgresql"
PG_THREADS=${PG_THREADS:-8}
PG_DECISION_ROWS=${PG_DECISION_ROWS:-1000000}
# pg_psql ARGS...: psql as the server's superuser on the milters' database, values only (-At).
pg_psql() { PG_CTL_DBNAME=ingress_mx "$PG_CTL" psql "$T/pg" -At "$@"; }
if ! skipped postgresql && [[ $SMOKE == 0 ]]; then
    load "the PostgreSQL figures"
    pg_start_production "max_connections = 200"
    # Two databases: greylist_bench's million triplets (dated 2023) in one, and the milters' in
    # the other, which their maintenance would otherwise be busy expiring during their runs.
    PG_DB=$(pg_database ingress)
    PG_MX_DB=$(pg_database ingress_mx)

    # Greylisting at GREYLIST_ROWS triplets: one milter (PG_THREADS threads checking at once),
    # then three processes at once on the same rows, as three milters of a fleet.
    if ! skipped greylist; then
        pg_ops=200000
        # The server's CPU during each part (the fill included in the first), for CPU a check.
        server_before=$(server_ticks)
        "$GREYLIST_BENCH" -D "$PG_DB" -r "$GREYLIST_ROWS" -n "$pg_ops" -t "$PG_THREADS" \
            >"$T/greylist_pg.txt" 2>&1 ||
            die "greylist_bench on PostgreSQL failed: $(tail -n 5 "$T/greylist_pg.txt")"
        echo "$(($(server_ticks) - server_before)) $CLK_TCK" >"$T/greylist_pg.server"
        load "three greylist_bench at once on PostgreSQL"
        pg3=()
        server_before=$(server_ticks)
        start=$(date +%s.%N)
        for i in 1 2 3; do
            "$GREYLIST_BENCH" -D "$PG_DB" -r "$GREYLIST_ROWS" -n "$pg_ops" -t "$PG_THREADS" -N -E \
                -o $((i * pg_ops)) >"$T/greylist_pg3.$i.txt" 2>&1 &
            pg3+=("$!")
        done
        for pid in "${pg3[@]}"; do
            wait "$pid" || die "greylist_bench (three at once) failed"
        done
        echo "$((3 * pg_ops)) $start $(date +%s.%N)" >"$T/greylist_pg3.wall"
        echo "$(($(server_ticks) - server_before)) $CLK_TCK" >"$T/greylist_pg3.server"
    fi

    # inbound-known with the store on PostgreSQL against the same milter on a fresh SQLite file,
    # the runs alternated (the machine's drift falls on both alike), then one connection each for
    # the latency a message.  Both milters are fresh and get inbound-known only, so that their
    # decision logs hold these messages' rows alone (rows a message, bytes a row, below).
    DATABASE=$PG_MX_DB start_ingress ingress_pg "unix:$T/pg_ingress.sock"
    INGRESS_PG_PID=$LAST_PID
    start_ingress ingress_sq "unix:$T/sq_ingress.sock"
    INGRESS_SQ_PID=$LAST_PID
    # What the empty decision log takes (its partitions and their indexes), taken off its size.
    pg_decisions_size="SELECT COALESCE(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits
        WHERE inhparent = 'decisions'::regclass"
    pg_empty=$(pg_psql -c "$pg_decisions_size") || die "cannot size the decision log"
    load "inbound-known on PostgreSQL and SQLite"
    run known_pg_unix.warm "unix:$T/pg_ingress.sock" "$CONNS" "$PER_CONN" $((CONNS * 2)) "${SC_KNOWN[@]}"
    run known_sq_unix.warm "unix:$T/sq_ingress.sock" "$CONNS" "$PER_CONN" $((CONNS * 2)) "${SC_KNOWN[@]}"
    for ((i = 1; i <= REPEAT; i++)); do
        SERVER_CPU=1 run "known_pg_unix.$i" "unix:$T/pg_ingress.sock" "$CONNS" "$PER_CONN" "$MESSAGES" "${SC_KNOWN[@]}"
        run "known_sq_unix.$i" "unix:$T/sq_ingress.sock" "$CONNS" "$PER_CONN" "$MESSAGES" "${SC_KNOWN[@]}"
    done
    SERVER_CPU=1 bench known_pg_unix_1 "unix:$T/pg_ingress.sock" 1 500 500 "${SC_KNOWN[@]}"
    bench known_sq_unix_1 "unix:$T/sq_ingress.sock" 1 500 500 "${SC_KNOWN[@]}"
    stop "$INGRESS_PG_PID" # both write what their decision log still queues
    stop "$INGRESS_SQ_PID"
    # Rows and bytes of each decision log: PostgreSQL's partitions with their indexes and TOAST,
    # less the empty table's; SQLite's pages of the table and its indexes (dbstat), less the one
    # page each has empty.
    {
        echo "postgresql $(pg_psql -c "SELECT count(*) FROM decisions")" \
            "$(($(pg_psql -c "$pg_decisions_size") - pg_empty))"
        "$PYTHON" - "$T/ingress_sq.db" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT count(*) FROM decisions").fetchone()[0]
names = "(SELECT name FROM sqlite_master WHERE tbl_name = 'decisions')"
size = db.execute(f"SELECT sum(pgsize) FROM dbstat WHERE name IN {names}").fetchone()[0]
objects = db.execute(f"SELECT count(*) FROM {names}").fetchone()[0]
page = db.execute("PRAGMA page_size").fetchone()[0]
print(f"sqlite {rows} {size - objects * page}")
EOF
    } >"$T/decision_sizes.txt" || die "cannot size the decision logs"

    # `ingressctl why` on a decision log of PG_DECISION_ROWS rows over 30 days, a partition a day
    # (copies of the rows above, their queue ids and references made unique): the plan the server
    # chose for its statement (auto_explain, for the role's sessions during this one call) and
    # how long the call took.
    today=$(($(date +%s) / 86400 * 86400))
    pg_psql >/dev/null <<EOF || die "cannot fill the decision log"
SELECT decisions_add_day(d) FROM generate_series($((today - 30 * 86400)), $today, 86400) d;
CREATE TEMP TABLE sample AS SELECT * FROM decisions ORDER BY id LIMIT 1000;
INSERT INTO decisions (time, queue_id, ref, client_ip, client_name, helo, sender, recipient,
        account, check_name, action, reply, detail, host)
    SELECT $today - n::bigint * (30 * 86400 - 1) / $PG_DECISION_ROWS, d.queue_id || to_hex(n),
        d.ref || to_hex(n), d.client_ip,
        d.client_name, d.helo, d.sender, d.recipient, d.account, d.check_name, d.action, d.reply,
        d.detail, d.host
    FROM generate_series(1, $PG_DECISION_ROWS) n
    JOIN (SELECT *, row_number() OVER (ORDER BY id) - 1 AS k FROM sample) d
        ON d.k = n % (SELECT count(*) FROM sample);
ANALYZE decisions;
ALTER ROLE ingress SET session_preload_libraries = 'auto_explain';
ALTER ROLE ingress SET auto_explain.log_min_duration = 0;
ALTER ROLE ingress SET auto_explain.log_analyze = on;
EOF
    why_key=$(pg_psql -c "SELECT queue_id FROM decisions WHERE time >= $((today - 86400)) LIMIT 1")
    pg_psql -c "SELECT count(*) FROM decisions" >"$T/why_rows.txt"
    log_from=$(wc -c <"$T/pg/server.log")
    start=$(date +%s.%N)
    "$BUILD/ingressctl" -d "$PG_MX_DB" why "$why_key" >"$T/why_output.txt" 2>&1 ||
        die "ingressctl why $why_key failed: $(cat "$T/why_output.txt")"
    echo "$start $(date +%s.%N) $why_key" >"$T/why_time.txt"
    pg_psql -c "ALTER ROLE ingress RESET ALL" >/dev/null
    tail -c +$((log_from + 1)) "$T/pg/server.log" >"$T/why_plan.txt"
fi

if ! skipped mta; then
    # Postfix on loopback: smtpd with and without milter-ingress (the inet one) in smtpd_milters,
    # smtp-source sending the signed message (LF line ends: smtp-source appends CRLF) from
    # 127.0.0.1 with HELO localhost (PTR localhost., forward-confirmed by the bench's localhost zone; SPF pass for
    # e2e.test); mail for mx.bench.example is discarded once queued.
    load "the whole-MTA figure"
    tr -d '\r' <"$T/signed.eml" >"$T/signed-lf.eml"
    POSTFIX_CONF=$T/postfix
    mkdir -p "$POSTFIX_CONF" "$T/pfqueue" "$T/pfdata"
    chown postfix "$T/pfdata"
    cat >"$POSTFIX_CONF/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $T/pfqueue
data_directory = $T/pfdata
maillog_file = /dev/stdout
myhostname = mx.bench.example
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
smtpd_peername_lookup = no
smtputf8_enable = no
alias_maps =
alias_database =
relay_domains = mx.bench.example
transport_maps = static:discard:benchmark
smtpd_relay_restrictions = reject_unauth_destination
smtpd_milters =
milter_default_action = tempfail
milter_protocol = 6
default_process_limit = 200
EOF
    cat >"$POSTFIX_CONF/master.cf" <<EOF
127.0.0.1:${ports[4]} inet n - n - - smtpd
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
    timeout 60 postfix -c "$POSTFIX_CONF" check || die "postfix check failed"
    # mta NAME MILTERS: (re)start Postfix with smtpd_milters = MILTERS, a warm-up, REPEAT runs.
    mta() {
        local name=$1 milters=$2 i start end
        postconf -c "$POSTFIX_CONF" -e "smtpd_milters = $milters"
        postfix -c "$POSTFIX_CONF" stop >/dev/null 2>&1 || true
        for ((i = 0; i < 100; i++)); do
            [[ -z $(ss -Hltn "sport = :${ports[4]}" 2>/dev/null) ]] && break
            sleep 0.1
        done
        setsid postfix -c "$POSTFIX_CONF" start-fg >>"$T/postfix.log" 2>&1 </dev/null &
        for ((i = 0; i < 100; i++)); do
            [[ -n $(ss -Hltn "sport = :${ports[4]}" 2>/dev/null) ]] && break
            sleep 0.1
        done
        local src=(smtp-source -s "$CONNS" -M localhost -f bench@e2e.test
            -t user1@mx.bench.example -F "$T/signed-lf.eml")
        local to=127.0.0.1:${ports[4]}
        timeout 300 "${src[@]}" -m $((CONNS * 4)) "$to" || die "smtp-source warm-up failed ($name)"
        for ((i = 1; i <= REPEAT; i++)); do
            start=$(date +%s.%N)
            timeout 600 "${src[@]}" -m "$MTA_MESSAGES" "$to" || die "smtp-source failed ($name)"
            end=$(date +%s.%N)
            echo "$MTA_MESSAGES $start $end" >"$T/$name.$i.mta"
        done
    }
    mta mta_none ""
    mta mta_ingress "inet:127.0.0.1:${ports[2]}" # Postfix writes inet:HOST:PORT
    mta mta_ingress_unix "unix:$T/ingress.sock"
    # The same through the null milter (same steps): what any milter costs Postfix here.  Its
    # socket has the umask's mode: smtpd runs as postfix.
    chmod 666 "$T/null.sock"
    mta mta_null_unix "unix:$T/null.sock"
    postfix -c "$POSTFIX_CONF" stop >/dev/null 2>&1 || true
    POSTFIX_CONF=""
    grep -c "milter-reject\|milter-discard" "$T/postfix.log" >"$T/mta_rejects" || true
fi

# Stop the milters: each logs its decision-log counts at close.
stop "$INGRESS_INET_PID"
stop "$INGRESS_UNIX_PID"
skipped dmarc || stop "$INGRESS_NODMARC_PID"

echo "# machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
    "$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)"
# The commit of the tree the build was configured from (an A/B's OLD build is another worktree).
BUILT_FROM=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$BUILD/CMakeCache.txt" 2>/dev/null)
[[ -n $BUILT_FROM && -d $BUILT_FROM ]] || BUILT_FROM=$SRC_DIR
echo "# commit: $(git -C "$BUILT_FROM" rev-parse HEAD 2>/dev/null || echo unknown)" \
    "$(git -C "$BUILT_FROM" status --porcelain 2>/dev/null | grep -q . && echo "(with uncommitted changes)")" \
    "(source tree of $BUILD: $BUILT_FROM)"
echo "# $CONNS connections, $PER_CONN messages a connection, $MESSAGES messages a run," \
    "median of $REPEAT runs after a warm-up; loadavg now: $(cat /proc/loadavg)"
rc=0
"$PYTHON" "$BENCH_DIR/report.py" "$T" "$SMOKE" "$REPEAT" "$SLOW_DNS_MS" "$HOLD_CONNS" \
    "$RSS_AFTER" "$MEMORY_COLD" "$MEMORY_WARM" "$SKIP" || rc=$?
exit "$rc"
