#!/usr/bin/env bash
# The ingressctl verbs of sender ownership (issue 4): `alias add|del|list` and
# `account add|show|list`, on a real SQLite database, with their exit statuses (0 done, 1 nothing
# matched, 2 usage error), the normalization of aliases, and the aligned and JSON output.  No
# daemon and no DNS needed.
#
#   tests/cli/accounts.sh INGRESSCTL_BIN
#
# Prints one "ok - NAME" / "not ok - NAME" line per check and "N passed, M failed" at the end;
# exits non-zero when a check failed.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 INGRESSCTL_BIN" >&2
    exit 2
fi
CTL_BIN=$(realpath -- "$1")
PYTHON=/usr/bin/python3

T=$(mktemp -d /tmp/ingress-cli-accounts.XXXXXX)
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

# ---- account ----------------------------------------------------------------------------------

ctl account list
test "$RC" -eq 1 -a -z "$OUT"
result "account list with no accounts exits 1"

ctl account add alice@example.test
[ "$RC" -eq 0 ] && has "$OUT" "added account alice@example.test"
result "account add creates the account"

ctl account add ALICE@example.test
[ "$RC" -eq 0 ] && has "$OUT" "already had account"
result "account names compare without case"

ctl account show nobody
test "$RC" -eq 1
result "account show of an unknown account exits 1"

ctl account add "two words"
test "$RC" -eq 2
result "an account name with a space is a usage error"

# ---- alias ------------------------------------------------------------------------------------

ctl alias add alice@example.test "<Sales@Example.NET>"
[ "$RC" -eq 0 ] && has "$OUT" "added alias alice@example.test Sales@example.net"
result "alias add lowers the domain, keeps the local part"

ctl alias add alice@example.test Sales@example.net
[ "$RC" -eq 0 ] && has "$OUT" "already had alias"
result "alias add of the same alias changes nothing"

ctl alias add alice@example.test @Shop.Example
[ "$RC" -eq 0 ] && has "$OUT" "added alias alice@example.test @shop.example"
result "alias add of a whole domain"

ctl alias add bob@example.test bob.smith@example.test
[ "$RC" -eq 0 ]
result "alias add for a new account"
test "$(sql "SELECT count(*) FROM accounts WHERE name = 'bob@example.test'")" -eq 1
result "alias add creates the account it names"

ctl alias add alice@example.test "not an address"
[ "$RC" -eq 2 ] && has "$ERR" "an address or @domain"
result "alias add of a non-address is a usage error"

ctl alias add alice@example.test "<>"
test "$RC" -eq 2
result "the null sender cannot be an alias"

ctl alias list alice@example.test
[ "$RC" -eq 0 ] && has "$OUT" "ACCOUNT" && has "$OUT" "@shop.example" && has "$OUT" "Sales@example.net" &&
    ! has "$OUT" "bob.smith"
result "alias list ACCOUNT shows that account's aliases"

ctl alias list --json
[ "$RC" -eq 0 ] && "$PYTHON" -c 'import json, sys; d = json.loads(sys.argv[1]); assert len(d) == 3, d' "$OUT"
result "alias list --json is JSON with every alias"

ctl account show alice@example.test
[ "$RC" -eq 0 ] && has "$OUT" "SUSPENDED" && has "$OUT" "@shop.example"
result "account show gives the account and its aliases"

ctl account list --json
[ "$RC" -eq 0 ] && "$PYTHON" -c 'import json, sys
d = {a["account"]: a for a in json.loads(sys.argv[1])}
assert d["alice@example.test"]["aliases"] == 2 and d["alice@example.test"]["suspended"] is None, d' "$OUT"
result "account list --json counts the aliases"

ctl alias del alice@example.test @SHOP.example
[ "$RC" -eq 0 ] && has "$OUT" "deleted alias alice@example.test @shop.example"
result "alias del normalizes like alias add"

ctl alias del alice@example.test @shop.example
test "$RC" -eq 1
result "alias del of a missing alias exits 1"

ctl alias list nobody
test "$RC" -eq 1
result "alias list of an account without aliases exits 1"

ctl alias frob
test "$RC" -eq 2
result "an unknown alias subverb is a usage error"

ctl account add
test "$RC" -eq 2
result "account add without an account is a usage error"

ctl alias add a@example.test b@example.test extra
test "$RC" -eq 2
result "alias add with too many arguments is a usage error"

# ---- help -------------------------------------------------------------------------------------

ctl -h
has "$OUT" "alias add ACCOUNT ADDRESS" && has "$OUT" "account show ACCOUNT"
result "the help lists the alias and account verbs"

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
