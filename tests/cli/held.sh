#!/usr/bin/env bash
# The postmaster's review of held mail: `ingressctl held list|show|release|reject` and
# `account suspend|resume`, on a real SQLite database, with their exit statuses (0 done, 1 nothing
# matched, 2 usage or command error), JSON output, and the reconciliation with the MTA's queue.
#
# The MTA here is a stand-in script (fake-mta below): it records the argument vector it was run
# with and keeps a queue listing in a file, so the test can show exactly what ingressctl ran and
# that a message missing from the queue becomes "gone".  The real Postfix (postsuper, postqueue)
# is driven in tests/e2e/run.sh; this test covers the cases Postfix cannot be made to produce on
# demand (a failing command, a message that vanished from the queue).
#
#   tests/cli/held.sh INGRESSCTL_BIN
set -euo pipefail

CTL_TEST=held
# shellcheck source=tests/cli/ctl-lib.sh
source "$(dirname "$0")/ctl-lib.sh"

MTA=$T/fake-mta
QUEUE=$T/queue
MTA_LOG=$T/mta.log
cat >"$MTA" <<'FAKE'
#!/bin/sh
# fake-mta VERB [QUEUE_ID]: logs its arguments one a line between [ ]; "list" prints the queue.
d=$(dirname "$0")
for a in "$@"; do printf '[%s]' "$a"; done >>"$d/mta.log"
echo >>"$d/mta.log"
case $1 in
list) cat "$d/queue" ;;
show)
    [ "$2" = QMISSING ] && { echo "postcat: fatal: open queue file $2: No such file" >&2; exit 1; }
    printf 'From: Alice <alice@example.test>\nSubject: =?UTF-8?Q?caf=C3=A9_r=C3=A9union?=\n'
    printf '  =?ISO-8859-1?Q?_=E9t=E9?=\nTo: a@x.test\n\n'
    i=1
    while [ $i -le 25 ]; do echo "body line $i"; i=$((i + 1)); done ;;
release|delete)
    [ "$2" = QFAIL ] && { echo "fake-mta: $2: refused" >&2; exit 3; }
    grep -v "^$2\$" "$d/queue" >"$d/queue.new"; mv "$d/queue.new" "$d/queue" ;;
esac
FAKE
chmod 755 "$MTA"
printf '%s\n' Q1 Q2 Q3 QFAIL QNEW QMISSING >"$QUEUE"
CONF=$T/ctl.conf
cat >"$CONF" <<CONFIG
database = $DB
held_release_command = $MTA release {queue_id}; $MTA flushed {queue_id}
held_reject_command = $MTA delete {queue_id}
held_queue_command = $MTA list
held_show_command = $MTA show {queue_id}
CONFIG

# ctlc ARG...: ingressctl with the config above (ctl-lib's ctl uses only -d).
ctlc() {
    RC=0
    timeout 10 "$CTL_BIN" -c "$CONF" "$@" >"$T/out" 2>"$T/err" </dev/null || RC=$?
    OUT=$(<"$T/out")
    ERR=$(<"$T/err")
}

ctlc held list
test "$RC" -eq 1 -a -z "$OUT"
result "held list with nothing held exits 1"

# Rows as the milter writes them (policy_hold_commit); held_at in the past except QNEW.
now=$(date +%s)
"$PYTHON" - "$DB" "$now" <<'ROWS'
import sqlite3, sys
db, now = sys.argv[1], int(sys.argv[2])
rows = [("Q1", now - 3600, "alice@example.test", "alice@example.test", "a@x.test\nb@y.test", 2,
         "Quarterly report", 2048), ("Q2", now - 1800, "alice@example.test",
         "sales@example.test", "c@x.test", 1, "Buy now", 900),
        ("Q3", now - 600, "bob@example.test", "bob@example.test", "d@x.test", 1, "hi", 300),
        ("QFAIL", now - 600, "bob@example.test", "bob@example.test", "e@x.test", 1, "x", 300),
        ("QGONE", now - 7200, "alice@example.test", "alice@example.test", "f@x.test", 1,
         "vanished", 500),
        ("QNEW", now, "carol@example.test", "carol@example.test", "g@x.test", 1,
         "new \x1b[31m", 100)]
c = sqlite3.connect(db)
for r in rows:
    c.execute("INSERT INTO held (queue_id, held_at, account, sender, recipients, nrcpt, subject,"
              " size, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
              r + ("1m window: 31 messages > limit 30 (static)",))
c.commit()
ROWS

ctlc held list
[ "$RC" -eq 0 ] && has "$OUT" "QUEUE ID" && has "$OUT" "Q1" && has "$OUT" "Quarterly report" &&
    has "$OUT" "1m window: 31 messages > limit 30" && ! has "$OUT" "QGONE"
result "held list shows the held messages with their reason"

has "$ERR" "QGONE is no longer in the MTA's queue: marked gone" &&
    [ "$(sql "SELECT state FROM held WHERE queue_id = 'QGONE'")" = gone ]
result "a held message the MTA's queue no longer has is marked gone"

has "$OUT" "QNEW" && [ "$(sql "SELECT state FROM held WHERE queue_id = 'QNEW'")" = held ]
result "a message held in the last minute is not marked gone (the MTA may not have queued it yet)"

! grep -q $'\x1b' "$T/out"
result "held list escapes control characters of a subject"

ctlc held list --all
[ "$RC" -eq 0 ] && grep -E 'QGONE +[0-9]+h +alice@example.test .* gone' <<<"$OUT" >/dev/null
result "held list --all shows the gone message with its state"

ctlc held list --account bob@example.test
[ "$RC" -eq 0 ] && has "$OUT" "Q3" && ! has "$OUT" "Q1"
result "held list --account shows only that account's messages"

ctlc held list --json
[ "$RC" -eq 0 ] && "$PYTHON" -c 'import json, sys
rows = json.load(sys.stdin)
q1 = [r for r in rows if r["queue_id"] == "Q1"][0]
assert q1["recipients"] == ["a@x.test", "b@y.test"], q1
assert q1["nrcpt"] == 2 and q1["state"] == "held" and q1["decided_at"] is None
assert "QGONE" not in [r["queue_id"] for r in rows]' <"$T/out"
result "held list --json is a JSON array with the recipients as a list"

ctlc held show Q1
[ "$RC" -eq 0 ] && has "$OUT" "<a@x.test>" && has "$OUT" "<b@y.test>" && has "$OUT" "2048 bytes" &&
    has "$OUT" "state:       held"
result "held show gives the recipients, size and state"

# The message itself through held_show_command: the header with the Subject's encoded words
# decoded (UTF-8 and Latin-1), the first 20 lines of the body; escaped when not on a terminal.
ctlc held show Q1
[ "$RC" -eq 0 ] && has "$OUT" "Subject: caf\xc3\xa9 r\xc3\xa9union \xc3\xa9t\xc3\xa9" &&
    has "$OUT" "From: Alice <alice@example.test>" && has "$OUT" "| body line 20" &&
    ! has "$OUT" "body line 21" && has "$OUT" "(5 more lines of the body)" &&
    has "$OUT" "rates now:   minute 0 messages, 0 recipients; baseline 0.0, 0.0; limits: static 30"
result "held show prints the account's rates, the header, the subject decoded, the body's start"

# On a UTF-8 terminal (script(1) gives it one), UTF-8 is shown as UTF-8.
RC=0
OUT=$(LC_ALL=C.UTF-8 timeout 10 script -qec "$CTL_BIN -c $CONF held show Q1" /dev/null) || RC=$?
[ "$RC" -eq 0 ] && has "$OUT" "Subject: café réunion été"
result "held show on a UTF-8 terminal shows the decoded subject as UTF-8"

"$PYTHON" - "$DB" <<'ROW'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("INSERT INTO held (queue_id, held_at, account, sender, recipients, nrcpt, subject, size,"
          " reason) VALUES ('QMISSING', 1, 'erin@example.test', 'erin@example.test', 'x@x.test',"
          " 1, 's', 1, 'r')")
c.commit()
ROW
ctlc held show QMISSING
[ "$RC" -eq 2 ] && has "$OUT" "queue id:    QMISSING" &&
    has "$ERR" "held show QMISSING: the message cannot be shown" && has "$ERR" "exit"
result "held show of a message the MTA no longer has: the row, a clear message, exit 2"

sed 's|^held_show_command = .*|held_show_command = /nonexistent/postcat -q {queue_id}|' \
    "$CONF" >"$T/nopostcat.conf"
RC=0
timeout 10 "$CTL_BIN" -c "$T/nopostcat.conf" held show Q1 >"$T/out" 2>"$T/err" || RC=$?
OUT=$(<"$T/out") ERR=$(<"$T/err")
[ "$RC" -eq 2 ] && has "$ERR" "the message cannot be shown" && has "$ERR" "/nonexistent/postcat"
result "held show when the command is missing: a clear message, exit 2"

ctlc held show QNONE
test "$RC" -eq 1
result "held show of an unknown queue id exits 1"

ctlc held show 'Q1;id'
test "$RC" -eq 2
result "held show of something that is not a queue id is a usage error"

: >"$MTA_LOG"
ctlc held release Q1 --by pm
[ "$RC" -eq 0 ] && has "$OUT" "released Q1" &&
    grep -qx '\[release\]\[Q1\]' "$MTA_LOG" && grep -qx '\[flushed\]\[Q1\]' "$MTA_LOG" &&
    [ "$(sql "SELECT state || ',' || decided_by FROM held WHERE queue_id = 'Q1'")" = released,pm ]
result "held release runs each release command with the queue id as one argument, records it"

ctlc held release Q1
[ "$RC" -eq 1 ] && has "$ERR" "Q1: not held"
result "releasing a message that is no longer held exits 1"

ctlc held reject Q2
[ "$RC" -eq 2 ] && has "$ERR" "--reason TEXT is required"
result "held reject without --reason is a usage error"

: >"$MTA_LOG"
ctlc held reject Q2 --reason "phishing, account hijacked" --by pm
[ "$RC" -eq 0 ] && has "$OUT" "rejected Q2" && grep -qx '\[delete\]\[Q2\]' "$MTA_LOG" &&
    [ "$(sql "SELECT state || '|' || decided_by || '|' || decision_reason FROM held
              WHERE queue_id = 'Q2'")" = "rejected|pm|phishing, account hijacked" ] &&
    ! grep -qx Q2 "$QUEUE"
result "held reject deletes through the MTA and records who and why"

: >"$MTA_LOG"
ctlc held release --account bob@example.test
[ "$RC" -eq 2 ] && has "$OUT" "released Q3" && has "$ERR" "QFAIL: not released" &&
    has "$ERR" "exited with status 3" &&
    [ "$(sql "SELECT state FROM held WHERE queue_id = 'Q3'")" = released ] &&
    [ "$(sql "SELECT state FROM held WHERE queue_id = 'QFAIL'")" = held ]
result "held release --account: a failing MTA command leaves that message held, exit 2"

! grep -q 'flushed.*QFAIL' "$MTA_LOG"
result "after a failing command the next command of the template is not run"

ctlc held release 'Q1;reboot'
test "$RC" -eq 2
result "a queue id with a ';' is a usage error, nothing is run"

ctlc held release Q1 --account bob@example.test
test "$RC" -eq 2
result "queue ids and --account together are a usage error"

ctlc held show Q2 --json
[ "$RC" -eq 0 ] && "$PYTHON" -c 'import json, sys
r = json.load(sys.stdin)[0]
assert r["state"] == "rejected" and r["decided_by"] == "pm" and r["decided_at"] > 0, r' <"$T/out"
result "held show --json has the decision"

# ---- account suspend / resume ----------------------------------------------------------------

ctl account suspend alice@example.test
test "$RC" -eq 2
result "account suspend without --reason is a usage error"

ctl account suspend alice@example.test --reason "password leaked"
[ "$RC" -eq 0 ] && has "$OUT" "suspended alice@example.test"
result "account suspend suspends (creating the account row)"

ctl account show alice@example.test
[ "$RC" -eq 0 ] && has "$OUT" "password leaked"
result "account show gives the suspension's reason"

ctl account suspend alice@example.test --reason "again"
[ "$RC" -eq 0 ] && has "$OUT" "already suspended" &&
    [ "$(sql "SELECT suspend_reason LIKE 'password leaked (by %)' FROM accounts WHERE name = 'alice@example.test'")" = 1 ]
result "suspending a suspended account keeps the first reason (and who gave it)"

ctl account resume alice@example.test
[ "$RC" -eq 0 ] && has "$OUT" "resumed alice@example.test" &&
    [ "$(sql "SELECT suspended IS NULL FROM accounts WHERE name = 'alice@example.test'")" = 1 ]
result "account resume lifts the suspension"

ctl account resume alice@example.test
test "$RC" -eq 1
result "resuming an account that is not suspended exits 1"

# ---- text that is not ASCII in --json --------------------------------------------------------

# A UTF-8 subject, one in 8-bit Latin-1 (not valid UTF-8) and a control character, held just now
# (so never marked gone): --json keeps UTF-8 as it is and reads a stray byte as Latin-1, so both
# subjects read back as "café"; the control character is escaped, and the output stays JSON.
"$PYTHON" - "$DB" "$(date +%s)" <<'ROWS'
import sqlite3, sys
db, now = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
for qid, subject in (("QUTF8", "caf\u00e9 \u2713".encode()), ("QLATIN", b"caf\xe9"),
                     ("QCTRL", b"a\x01b")):
    c.execute("INSERT INTO held (queue_id, held_at, account, sender, recipients, nrcpt, subject,"
              " size, reason) VALUES (?, ?, 'dora@example.test', 'dora@example.test',"
              " 'h@x.test', 1, CAST(? AS TEXT), 100, 'r')", (qid, now, subject))
c.commit()
ROWS
ctlc held list --account dora@example.test --json
[ "$RC" -eq 0 ] && "$PYTHON" -c 'import json, sys
raw = sys.stdin.buffer.read()
subjects = {r["queue_id"]: r["subject"] for r in json.loads(raw.decode("utf-8"))}
assert subjects == {"QUTF8": "caf\u00e9 \u2713", "QLATIN": "caf\u00e9", "QCTRL": "a\x01b"}, subjects
assert "caf\u00e9 \u2713".encode() in raw, raw' <"$T/out"
result "held list --json writes a UTF-8 subject as UTF-8, a Latin-1 byte as its character"

ctlc held show QUTF8 --json
[ "$RC" -eq 0 ] && "$PYTHON" -c 'import json, sys
r = json.loads(sys.stdin.buffer.read().decode("utf-8"))[0]
assert r["subject"] == "caf\u00e9 \u2713", r' <"$T/out"
result "held show --json writes a UTF-8 subject as UTF-8"

# ---- a message of a client that did not authenticate (held for DMARC) ------------------------

# As the milter writes it (policy_hold_commit): the empty account, and a decision row whose
# account is NULL; held just now, so never marked gone.
"$PYTHON" - "$DB" "$(date +%s)" <<'ROWS'
import sqlite3, sys
db, now = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
c.execute("INSERT INTO held (queue_id, held_at, account, sender, recipients, nrcpt, subject, size,"
          " reason) VALUES ('QDMARC', ?, '', 'news@bank.example', 'i@x.test', 1, 'alert', 100,"
          " 'dmarc=fail for bank.example: p=quarantine')", (now,))
c.execute("INSERT INTO decisions (time, queue_id, ref, client_ip, client_name, helo, sender,"
          " recipient, account, check_name, action, reply, detail, host) VALUES (?, 'QDMARC',"
          " 'DMARCHLD', '192.0.2.60', 'unknown', 'mx.bank.example', 'news@bank.example',"
          " 'i@x.test', NULL, 'dmarc', 'hold', NULL, 'dmarc=fail for bank.example', 'mx1')", (now,))
c.commit()
ROWS
ctlc held list
[ "$RC" -eq 0 ] && grep -E '^QDMARC +[^ ]* *[0-9]+s +\(inbound\) +news@bank\.example ' <<<"$OUT" >/dev/null
result "held list shows (inbound) as the account of a message of an unauthenticated client"

ctlc held show QDMARC
[ "$RC" -eq 0 ] && has "$OUT" "account:     (inbound): not an authenticated session" &&
    ! has "$OUT" "rates now:"
result "held show says the message is inbound, with no account's rates"

ctlc held list --json
json_list=$OUT json_list_rc=$RC
ctlc held show QDMARC --json
json_show=$OUT json_show_rc=$RC
ctlc why QDMARC --json
[ "$json_list_rc$json_show_rc$RC" = 000 ] && "$PYTHON" -c 'import json, sys
rows = {r["queue_id"]: r for r in json.loads(sys.argv[1])}
assert rows["QDMARC"]["account"] is None, rows["QDMARC"]
assert rows["QFAIL"]["account"] == "bob@example.test", rows["QFAIL"]
assert json.loads(sys.argv[2])[0]["account"] is None, sys.argv[2]
why = json.loads(sys.argv[3])[0]
assert "account" in why and why["account"] is None and why["held"]["state"] == "held", why' \
    "$json_list" "$json_show" "$OUT"
result "held list, held show and why --json: the account of an inbound message is null"

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
