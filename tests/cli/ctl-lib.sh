# Shared set-up of the ingressctl verb tests (tests/cli/lists.sh, tests/cli/accounts.sh): argument
# check, a temporary directory with an empty database, ok/not_ok/result counters, ctl and sql.
# Sourced after setting CTL_TEST to the test's name; leaves "set +e" on, so checks run on.
# shellcheck shell=bash disable=SC2034
if [[ $# -ne 1 ]]; then
    echo "usage: $0 INGRESSCTL_BIN" >&2
    exit 2
fi
CTL_BIN=$(realpath -- "$1")
PYTHON=/usr/bin/python3

T=$(mktemp -d "/tmp/ingress-cli-$CTL_TEST.XXXXXX")
DB=$T/ingress.db
PASSED=0
FAILED=0

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if [[ $rc -ne 0 || $FAILED -ne 0 ]]; then
        echo "# test directory kept: $T"
    else
        rm -rf -- "$T"
    fi
    [[ $rc -ne 0 ]] || [[ $FAILED -eq 0 ]] || rc=1
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ok() {
    PASSED=$((PASSED + 1))
    echo "ok - $1"
}

not_ok() {
    FAILED=$((FAILED + 1))
    echo "not ok - $1"
    printf 'exit %s\nstdout: %s\nstderr: %s\n' "$RC" "$OUT" "$ERR" | sed 's/^/#   /'
}

# ctl ARG...: runs ingressctl on the test database, bounded to 10 s; sets RC, OUT and ERR.
ctl() {
    RC=0
    timeout 10 "$CTL_BIN" -d "$DB" "$@" >"$T/out" 2>"$T/err" </dev/null || RC=$?
    OUT=$(<"$T/out")
    ERR=$(<"$T/err")
}

has() {
    [[ $1 == *"$2"* ]]
}

# CONDITION; result NAME: ok when the condition just run succeeded (checks run without set -e).
result() {
    if [[ $? -eq 0 ]]; then ok "$1"; else not_ok "$1"; fi
}

# sql QUERY: the first column of the first row, from Python's sqlite3 (no sqlite3 shell needed).
sql() {
    "$PYTHON" -c 'import sqlite3, sys
row = sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()
print(row[0] if row else "")' "$DB" "$1"
}

# An empty file is an empty database: ingressctl applies the schema to it (it refuses to create a
# missing one, which only the milter does).
: >"$DB"
set +e
