#!/usr/bin/env bash
# The console benchmark: how fast ingress-console answers the calls a support agent's pages make,
# on a store the size of a busy site's, on SQLite and on PostgreSQL.  Figures, not a test: each
# call's p50 / p95 / max are printed beside the 200 ms target, never judged.  Builds nothing: give
# it a build directory (a non-sanitized RelWithDebInfo one for figures).
#
#   tests/bench/console.sh BUILD_DIR [--smoke]
#
# For each backend: a fresh store (a SQLite file; a private PostgreSQL started by
# tests/pg/pg-ctl.sh with run.sh's production settings), its schema applied by ingressctl, then
# filled in one go by tests/bench/console.py (one transaction, or one COPY a table): DECISIONS
# decisions over 30 days (a partition a day on PostgreSQL), HELD held messages, 2,000 list
# entries.  Then ingress-console on it (loopback, a free port), a support user made with
# `ingressctl console-user add`, and tests/bench/console.py measure: login, why by ref, queue id,
# IP, address, a header From and domain, the held list (its first page of 100, and whole) and one
# held message, the lists, and whichever of the other pages' endpoints this build has
# (console.py's CALLS; an absent one is listed as absent).
#
# Environment: DECISIONS (1000000), HELD (10000), REQUESTS (50) a call, SKIP="sqlite postgresql"
# skips a backend.  --smoke: DECISIONS=10000, HELD=100, REQUESTS=3 (the suite runs this: it proves
# the script and every call work, and exits non-zero when a call fails; its times mean nothing).
# The milter's throughput while the console is used is run.sh's part "console".
# KEEP_BENCH_DIR=1 keeps the temporary folder.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 || (${2:-} != "" && ${2:-} != --smoke) ]]; then
    echo "usage: $0 BUILD_DIR [--smoke]" >&2
    exit 2
fi
BUILD=$(realpath -- "$1")
SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
PYTHON=/usr/bin/python3
BENCH=$SRC_DIR/tests/bench/console.py
BENCH_NAME="console bench"
# shellcheck source=tests/bench/lib.sh
source "$SRC_DIR/tests/bench/lib.sh"
CTL=$BUILD/ingressctl
CONSOLE=$BUILD/ingress-console
if [[ ${2:-} == --smoke ]]; then
    DECISIONS=${DECISIONS:-10000}
    HELD=${HELD:-100}
    REQUESTS=${REQUESTS:-3}
else
    DECISIONS=${DECISIONS:-1000000}
    HELD=${HELD:-10000}
    REQUESTS=${REQUESTS:-50}
fi
SKIP=${SKIP:-}
for f in "$CTL" "$CONSOLE"; do
    [[ -x $f ]] || {
        echo "console bench: $f is missing (build first)" >&2
        exit 2
    }
done
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
[[ -x $PG_BINDIR/initdb ]] || SKIP="$SKIP postgresql"

bench_dir ingress-console-bench
CONSOLE_PID=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    [[ -n $CONSOLE_PID ]] && stop "$CONSOLE_PID"
    bench_cleanup
}
trap cleanup EXIT

# measure LABEL DATABASE FILL_BACKEND FILL_TARGET: the store's schema, the fill, the console on
# it, the figures.
measure() {
    local label=$1 database=$2 backend=$3 target=$4 port started keys rc=0
    port=$(free_ports 1)
    cat >"$T/console.conf" <<EOF
# ingress-console for tests/bench/console.sh
database = $database
console_listen = 127.0.0.1:$port
console_users_file = $T/console-users
EOF
    # The schema, as on a first `ingressctl` call (status 1: no entries yet; 2: an error).
    local st=0
    "$CTL" -c "$T/console.conf" list show >/dev/null 2>"$T/init.log" || st=$?
    [[ $st -le 1 ]] || die "ingressctl could not apply the schema: $(cat "$T/init.log")"
    echo bench-password-1 | "$CTL" -c "$T/console.conf" console-user add bench --role support >/dev/null ||
        die "ingressctl console-user add failed"
    echo "# $label: filling $DECISIONS decisions, $HELD held messages; loadavg $(cat /proc/loadavg)"
    started=$SECONDS
    keys=$("$PYTHON" "$BENCH" fill "$backend" "$target" "$DECISIONS" "$HELD") || die "the fill failed"
    echo "# filled in $((SECONDS - started)) s; keys: $keys"
    "$CONSOLE" -c "$T/console.conf" 2>"$T/console.log" &
    CONSOLE_PID=$!
    wait_socket "inet:$port@127.0.0.1" "$CONSOLE_PID" || die "ingress-console does not listen"
    "$PYTHON" "$BENCH" measure "$port" bench bench-password-1 "$keys" "$REQUESTS" \
        "$label, $DECISIONS decisions, $HELD held (loadavg $(cut -d' ' -f1-3 /proc/loadavg))" || rc=$?
    kill -TERM "$CONSOLE_PID"
    wait "$CONSOLE_PID" || die "ingress-console did not stop cleanly"
    CONSOLE_PID=""
    return "$rc"
}

echo "# machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo);" \
    "commit $(git -C "$SRC_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)"
status=0
if ! skipped sqlite; then
    touch "$T/ingress.db"
    measure SQLite "$T/ingress.db" sqlite "$T/ingress.db" || status=1
fi
if ! skipped postgresql; then
    # shellcheck disable=SC2119 # run.sh's production settings, nothing more
    pg_start_production
    conninfo=$(pg_database ingress)
    export PG_CTL_DBNAME=ingress
    measure PostgreSQL "$conninfo" pg "$PG_CTL psql $T/pg" || status=1
fi
exit "$status"
