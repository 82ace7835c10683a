#!/usr/bin/env bash
# The soak: a million messages at 64 connections, memory, descriptors and store size
# sampled as it runs.  Not in ctest (it runs for minutes).
#
#   tests/hardening/soak.sh [--asan] MILTER_BIN LOADGEN_BIN
#
# What it starts (loopback only, stopped by PID at the end): a private NSD with tests/dns/*.zone
# and milter-ingress on a unix socket with the benchmark's production-like configuration
# (tests/bench/run.sh: greylisting on, every check, submission counted without limits), except
# decision_retention = RETENTION and greylist_retry_window = RETENTION, so that the decision log
# and the unconfirmed triplets expire during the run and the store must stay bounded (greylisting's
# window is max(greylist_retry_window, greylist_delay), so 5 minutes with the default delay).  Load: the
# benchmark's three scenarios at once through tests/bench/loadgen, 70/20/10 of the connections
# (inbound-known: accepted; inbound-new: a new triplet, greylisted at RCPT; submission: accepted),
# PER_CONN messages a connection; each scenario runs loadgen again and again (CONNS x PER_CONN
# messages a run) until the finished runs hold MESSAGES messages (a few runs more at most).
#
# Every INTERVAL seconds it prints one point: seconds, VmRSS of the milter (KiB), its open
# descriptors (/proc/PID/fd), database and WAL size (KiB), rows in decisions and greylist.
# The points are split in quarters by time; the checks:
#   - every loadgen run exits 0: no protocol error, timeout or I/O error, at least MESSAGES
#     messages in all; each scenario got its reply (known and submission accepted, new greylisted);
#   - RSS flat after warm-up: the last quarter's max RSS <= the second quarter's max + RSS_SLACK %
#     (default 10);
#   - no descriptor growth: at most base + CONNS + 16 open at any point, and once the load is over
#     (idle, every connection closed) no more than before it began;
#   - store bounded by retention: the last quarter's max of database + WAL <= the second quarter's
#     max + STORE_SLACK % (default 10), and the decisions rows of the last point <= the rows of
#     RETENTION + 2 maintenance ticks at the run's own rate (x 1.5);
#   - SIGTERM ends the milter with status 0 and (--asan) its stderr holds no sanitizer report.
# The second quarter only begins after RETENTION: warm-up is the first fill of the retention window.
#
# --asan: for the ASan+UBSan build (MESSAGES defaults to 200,000; ASAN_OPTIONS get a 16 MiB
# quarantine as tests/hardening/hostile.sh does, and the RSS rule allows that quarantine on top).
# Environment: MESSAGES (1000000), CONNS (64), PER_CONN (100), INTERVAL (10), RETENTION (1m),
# KEEP_TEST_DIR=1 keeps the temporary folder (databases and logs).
set -euo pipefail
ASAN=0
if [[ ${1:-} == --asan ]]; then
    ASAN=1
    shift
fi
MILTER_BIN=$(realpath -- "${1:?usage: soak.sh [--asan] MILTER_BIN LOADGEN_BIN}")
LOADGEN_BIN=$(realpath -- "${2:?usage: soak.sh [--asan] MILTER_BIN LOADGEN_BIN}")
if [[ $ASAN == 1 ]]; then
    MESSAGES=${MESSAGES:-200000}
    export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=16:detect_leaks=1}
else
    MESSAGES=${MESSAGES:-1000000}
fi
CONNS=${CONNS:-64}
PER_CONN=${PER_CONN:-100}
INTERVAL=${INTERVAL:-10}
RETENTION=${RETENTION:-1m}
RSS_SLACK=${RSS_SLACK:-10}
STORE_SLACK=${STORE_SLACK:-10}
# shellcheck source=tests/hardening/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
hardening_init soak
start_nsd

case $RETENTION in
*m) retention_s=$((${RETENTION%m} * 60)) ;;
*h) retention_s=$((${RETENTION%h} * 3600)) ;;
*)
    echo "soak: RETENTION must be minutes (Nm) or hours (Nh)" >&2
    exit 2
    ;;
esac

"$PYTHON" "$SRC_DIR/tests/bench/message.py" "$T/signed.eml" 20
"$PYTHON" "$SRC_DIR/tests/bench/message.py" "$T/plain.eml" 4 --unsigned

# The benchmark's configuration (tests/bench/run.sh start_ingress), retention shortened.
start_milter soak "greylist = yes" "decision_retention = $RETENTION" \
    "greylist_retry_window = $RETENTION" "throttle_factor = 0" \
    "throttle_messages_per_minute = 0" "throttle_recipients_per_minute = 0" \
    "throttle_messages_per_hour = 0" "throttle_recipients_per_hour = 0" \
    "throttle_messages_per_day = 0" "throttle_recipients_per_day = 0"
DB=$T/soak.db

RCPTS=$(printf 'user%d@mx.bench.example,' 1 2 3 4 5 6 7 8)
RCPTS=${RCPTS%,}
SC_KNOWN=(-a 127.0.0.2 -N good.example.test -H good.example.test -f bench@e2e.test -r "$RCPTS"
    -e "$T/signed.eml")
SC_NEW=(-a 127.0.0.2 -N good.example.test -H good.example.test -f 'new%n@neutral.e2e.test'
    -r "$RCPTS" -e "$T/signed.eml")
# shellcheck disable=SC2054 # the commas are loadgen's list separator
SC_SUB=(-a 127.0.0.50 -N unknown -H laptop.example -u bench@e2e.test -f bench@e2e.test
    -r someone@example.org,other@example.net -e "$T/plain.eml")

# Warm-up as the benchmark's: confirms inbound-known's triplets, warms the DNS cache.
if ! "$LOADGEN_BIN" -s "unix:$MILTER_SOCK" -t 10000 -j -c 8 -m 2 -n 16 "${SC_KNOWN[@]}" \
    >"$T/warm.json" 2>&1; then
    echo "soak: the warm-up failed: $(cat "$T/warm.json")" >&2
    exit 1
fi
sleep 1
fd_base=$(fd_count "$MILTER_PID")

ck=$((CONNS * 7 / 10))
cn=$((CONNS * 2 / 10))
cs=$((CONNS - ck - cn))
echo "# $MESSAGES messages at $CONNS connections ($PER_CONN a connection): inbound-known on $ck," \
    "inbound-new on $cn, submission on $cs; retention $RETENTION; a point every ${INTERVAL}s"
echo "# loadavg at start: $(cat /proc/loadavg)"

# count KEY FILE...: the sum of a number of loadgen's JSON objects (0 when absent).
count() {
    local key=$1 f
    shift
    for f in "$@"; do
        [[ -e $f ]] || continue
        grep -o "\"$key\":[0-9]*" -- "$f" | head -n 1 | cut -d: -f2 || true
    done | awk '{ s += $1 } END { print s + 0 }'
}

# scenario NAME CONNS ARGS...: loadgen runs of CONNS x PER_CONN messages, one after another,
# while the messages of every finished run of every scenario are fewer than MESSAGES; so the mix
# stays 70/20/10 for the whole run (each scenario runs at its own speed).  A failed run ends it.
scenario() {
    local name=$1 c=$2 i=0
    shift 2
    while (($(count messages "$T"/run-*.json) < MESSAGES)); do
        i=$((i + 1))
        "$LOADGEN_BIN" -s "unix:$MILTER_SOCK" -t 10000 -j -c "$c" -m "$PER_CONN" \
            -n $((c * PER_CONN)) "$@" >"$T/part-$name-$i.json" 2>&1 || {
            mv -- "$T/part-$name-$i.json" "$T/failed-$name-$i.json"
            return 1
        }
        mv -- "$T/part-$name-$i.json" "$T/run-$name-$i.json"
    done
}

started=$SECONDS
LOADS=()
scenario known "$ck" "${SC_KNOWN[@]}" &
LOADS+=($!)
scenario new "$cn" "${SC_NEW[@]}" &
LOADS+=($!)
scenario sub "$cs" "${SC_SUB[@]}" &
LOADS+=($!)
PIDS+=("${LOADS[@]}")

size_kib() { # size_kib FILE: 0 when missing
    local b
    b=$(stat -c %s -- "$1" 2>/dev/null || echo 0)
    echo $((b / 1024))
}

rows() { # rows TABLE: its row count, or -1 when the database is busy
    sqlite3 -cmd '.timeout 2000' "$DB" "SELECT count(*) FROM $1;" 2>/dev/null || echo -1
}

POINTS=$T/points.txt
sample() {
    printf '%d %d %d %d %d %d %d\n' $((SECONDS - started)) "$(rss_kib "$MILTER_PID")" \
        "$(fd_count "$MILTER_PID")" "$(size_kib "$DB")" "$(size_kib "$DB-wal")" \
        "$(rows decisions)" "$(rows greylist)" | tee -a "$POINTS"
}

running() {
    local pid
    for pid in "${LOADS[@]}"; do
        kill -0 "$pid" 2>/dev/null && return 0
    done
    return 1
}

echo "# seconds rss_kib fds db_kib wal_kib decisions greylist"
next=$((SECONDS + INTERVAL))
while running; do
    if ((SECONDS >= next)); then
        sample
        next=$((next + INTERVAL))
    fi
    sleep 1
done
elapsed=$((SECONDS - started))
load_ok=1
for pid in "${LOADS[@]}"; do
    wait "$pid" || load_ok=0
done
sample
echo "# loadavg at the end: $(cat /proc/loadavg)"
sleep 3 # the connections' threads end, the decision log's last batch is written
fd_after=$(fd_count "$MILTER_PID")

for f in "$T"/failed-*.json; do
    [[ -e $f ]] && echo "# failed run ${f##*/}: $(cat "$f")"
done
total=$(count messages "$T"/run-*.json)
errors=$(count errors "$T"/run-*.json "$T"/failed-*.json)
echo "# $total messages in ${elapsed}s: $((total / (elapsed > 0 ? elapsed : 1))) a second"
for s in known new sub; do
    echo "# $s: $(count messages "$T"/run-$s-*.json) messages, replies:" \
        "$(count continue_accept "$T"/run-$s-*.json) accept," \
        "$(count tempfail_4xx "$T"/run-$s-*.json) 4xx, $(count reject_5xx "$T"/run-$s-*.json) 5xx," \
        "milter connections $(count milter_connections "$T"/run-$s-*.json)"
done
if [[ $load_ok == 1 && $errors == 0 && $total -ge $MESSAGES ]]; then
    ok "$total messages, no protocol error, timeout or I/O error"
else
    not_ok "$MESSAGES messages with no protocol error" "$total messages, $errors errors," \
        "every loadgen run ok: $load_ok"
fi
check "inbound-known: every message accepted" \
    test "$(count continue_accept "$T"/run-known-*.json)" = "$(count messages "$T"/run-known-*.json)"
check "inbound-new: every message greylisted (4xx)" \
    test "$(count tempfail_4xx "$T"/run-new-*.json)" = "$(count messages "$T"/run-new-*.json)"
check "submission: every message accepted" \
    test "$(count continue_accept "$T"/run-sub-*.json)" = "$(count messages "$T"/run-sub-*.json)"

# The judgement of the curve: quarters by time, the second one starting after the retention.
verdict=$("$PYTHON" - "$POINTS" "$elapsed" "$retention_s" "$RSS_SLACK" "$STORE_SLACK" "$ASAN" \
    "$fd_base" "$CONNS" "$total" <<'PY'
import sys
points = [tuple(int(x) for x in line.split()) for line in open(sys.argv[1]) if line.strip()]
elapsed, retention, rss_slack, store_slack, asan, fd_base, conns, total = map(int, sys.argv[2:])
q = elapsed / 4
second = [p for p in points if q <= p[0] < 2 * q]
last = [p for p in points if p[0] >= 3 * q]
if q < retention:
    print("fail too short: a quarter (%ds) is shorter than the retention (%ds)" % (q, retention))
    sys.exit()
if not second or not last:
    print("fail too few points")
    sys.exit()
rss2, rss4 = max(p[1] for p in second), max(p[1] for p in last)
allow = rss2 * (100 + rss_slack) // 100 + (16 * 1024 if asan else 0)
print(("ok" if rss4 <= allow else "fail") +
      " rss: last quarter max %d KiB, second quarter max %d KiB, allowed %d" % (rss4, rss2, allow))
fdmax = max(p[2] for p in points)
print(("ok" if fdmax <= fd_base + conns + 16 else "fail") +
      " fds: max %d under load, %d before it, %d connections" % (fdmax, fd_base, conns))
st2, st4 = max(p[3] + p[4] for p in second), max(p[3] + p[4] for p in last)
allow = st2 * (100 + store_slack) // 100
print(("ok" if st4 <= allow else "fail") +
      " store: last quarter max db+wal %d KiB, second quarter max %d KiB, allowed %d" % (st4, st2, allow))
rate = total / max(elapsed, 1)
rows = points[-1][5]
bound = int(rate * (retention + 4) * 1.5)
print(("ok" if 0 <= rows <= bound else "fail") +
      " decisions: %d rows at the end, bound %d (%.0f messages/s x (retention + 2 ticks) x 1.5)"
      % (rows, bound, rate))
PY
)
while IFS= read -r line; do
    if [[ $line == ok* ]]; then ok "${line#ok }"; else not_ok "${line#fail }"; fi
done <<<"$verdict"
check "no descriptor left after the load: $fd_after idle, $fd_base before" \
    test "$fd_after" -le "$fd_base"

stop_milter
check "SIGTERM stops the milter with status 0" test "$MILTER_RC" = 0
check "no sanitizer report in the milter's stderr" sanitizer_clean "$MILTER_LOG"
check "integrity_check ok" test "$(sqlite3 "$DB" 'PRAGMA integrity_check;')" = ok
finish
