#!/usr/bin/env bash
# The ingressctl verbs of sender ownership (ARCHITECTURE.md "Submission"): `alias add|del|list` and
# `account add|show|list`, on a real SQLite database, with their exit statuses (0 done, 1 nothing
# matched, 2 usage error), the normalization of aliases, and the aligned and JSON output.  No
# daemon and no DNS needed.
#
#   tests/cli/accounts.sh INGRESSCTL_BIN
#
# Prints one "ok - NAME" / "not ok - NAME" line per check and "N passed, M failed" at the end;
# exits non-zero when a check failed.
set -euo pipefail

CTL_TEST=accounts
# shellcheck source=tests/cli/ctl-lib.sh
source "$(dirname "$0")/ctl-lib.sh"

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

# The account's rates now, beside its baseline and limits: the buckets the milter would have
# written (this minute: 3 messages to 7 recipients; two days ago, an hour of 48 messages).
ctl account add rates@example.test
"$PYTHON" - "$DB" "$(date +%s)" <<'BUCKETS'
import sqlite3, sys
c, now = sqlite3.connect(sys.argv[1]), int(sys.argv[2])
for width, start, msgs, rcpts, minutes in ((60, now // 60 * 60, 3, 7, 1),
                                           (3600, now // 3600 * 3600 - 2 * 86400, 48, 96, 60)):
    c.execute("INSERT INTO throttle_buckets (account, width, start, msgs, rcpts, minutes)"
              " VALUES ('rates@example.test', ?, ?, ?, ?, ?)", (width, start, msgs, rcpts, minutes))
c.commit()
BUCKETS
ctl account show rates@example.test
[[ $RC -eq 0 ]] && has "$OUT" "rates now:" &&
    has "$OUT" "hour   3 messages, 7 recipients; baseline 48.0, 96.0; limits: static 200, 500"
result "account show gives the rates now per window, the baseline and the limits"
ctl account show rates@example.test --json
[[ $RC -eq 0 ]] && "$PYTHON" -c 'import json, sys
r = json.load(sys.stdin)[0]["rates"]["hour"]
assert r["messages"] == 3 and r["recipients"] == 7 and r["baseline_messages"] == 48.0, r
assert r["static_limit_messages"] == 200 and r["adaptive_limit_messages"] == 240.0, r' <"$T/out"
result "account show --json gives the same rates"

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
