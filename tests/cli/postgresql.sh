#!/usr/bin/env bash
# ingressctl on PostgreSQL: the same verbs as on SQLite (list add/del, account add, alias add,
# why, held list), and held mail of several hosts on one database, through the same store, on the private server of tests/pg/with-pg.sh
# (INGRESS_TEST_PG_TCP: the milter's role and database over TCP, a password in the URI).  The
# decision and held rows are written as the milter writes them, with psql as the superuser.
#
#   tests/pg/with-pg.sh tests/cli/postgresql.sh INGRESSCTL_BIN
set -euo pipefail

CTL_TEST=postgresql
# shellcheck source=tests/cli/ctl-lib.sh
source "$(dirname "$0")/ctl-lib.sh"

if [[ -z ${INGRESS_TEST_PG_TCP:-} || -z ${INGRESS_TEST_PG_CTL:-} ]]; then
    echo "usage: tests/pg/with-pg.sh $0 INGRESSCTL_BIN" >&2
    exit 2
fi
DB=$INGRESS_TEST_PG_TCP
password=${DB#postgresql://ingress:}
password=${password%%@*}

# sql QUERY: the first column of the first row, from psql as the superuser on the database.
sql() {
    PG_CTL_DBNAME=ingress "$INGRESS_TEST_PG_CTL" psql "$INGRESS_TEST_PG_DIR" -At -c "$1" | head -n 1
}

ctl list add cidr 192.0.2.77/24 block --reason "spam run"
[ "$RC" -eq 0 ] && has "$OUT" "added cidr 192.0.2.0/24: block"
result "list add on PostgreSQL (the schema made by ingressctl on an empty database)"
test "$(sql "SELECT action FROM list_entries WHERE value = '192.0.2.0/24'")" = block
result "the entry is a row of PostgreSQL's list_entries"

ctl list show
[ "$RC" -eq 0 ] && has "$OUT" "192.0.2.0/24" && has "$OUT" "spam run"
result "list show reads it back"

ctl list del cidr 192.0.2.0/24
[ "$RC" -eq 0 ] && test "$(sql "SELECT count(*) FROM list_entries")" -eq 0
result "list del removes the row"
ctl list del cidr 192.0.2.0/24
test "$RC" -eq 1
result "list del of a missing entry exits 1"

ctl account add alice@example.test
[ "$RC" -eq 0 ] && test "$(sql "SELECT count(*) FROM accounts WHERE name = 'alice@example.test'")" -eq 1
result "account add on PostgreSQL"

ctl alias add alice@example.test @Example.ORG
[ "$RC" -eq 0 ] && test "$(sql "SELECT address FROM aliases WHERE account = 'alice@example.test'")" = "@example.org"
result "alias add on PostgreSQL"
ctl alias add alice@example.test @example.org
[ "$RC" -eq 0 ] && has "$OUT" "already had alias" &&
    test "$(sql "SELECT count(*) FROM aliases")" -eq 1
result "alias add of an alias already there says so and adds no row"

now=$(date +%s)
sql "INSERT INTO decisions (time, queue_id, ref, client_ip, sender, recipient, check_name, action,
     reply, detail, host) VALUES ($now, '4XyZ7', 'R1', '198.51.100.9', 'bob@example.net',
     'carol@example.test', 'spf', 'reject', '550 5.7.23 SPF fail', 'spf=fail', 'mx2.example.test')" \
    >/dev/null
ctl why 198.51.100.9
[ "$RC" -eq 0 ] && has "$OUT" "4XyZ7" && has "$OUT" "550 5.7.23 SPF fail"
result "why finds a decision by IP on PostgreSQL"
has "$OUT" "ref R1  on mx2.example.test"
result "why names the host that decided (the option host_name)"
ctl why 198.51.100.10
test "$RC" -eq 1
result "why of an unknown key exits 1"

printf '#!/bin/sh\necho QH1\n' >"$T/queue"
chmod 755 "$T/queue"
cat >"$T/ctl.conf" <<CONFIG
database = $DB
held_queue_command = $T/queue
CONFIG
sql "INSERT INTO held (queue_id, held_at, account, sender, recipients, nrcpt, subject, size,
     reason) VALUES ('QH1', $now - 3600, 'alice@example.test', 'alice@example.test',
     'dave@example.net', 1, 'Quarterly report', 2048, '1m window: 31 messages > limit 30')" \
    >/dev/null
RC=0
timeout 10 "$CTL_BIN" -c "$T/ctl.conf" held list >"$T/out" 2>"$T/err" </dev/null || RC=$?
OUT=$(<"$T/out")
ERR=$(<"$T/err")
[ "$RC" -eq 0 ] && has "$OUT" "QH1" && has "$OUT" "Quarterly report" &&
    has "$OUT" "31 messages > limit 30"
result "held list on PostgreSQL, the database a URI in the config file"

# Several hosts: messages held on mx1 and mx2, ingressctl run as mx2's (host_name).  The MTA's
# commands are scripts that log what they were given; the release waits a second, so that two
# releases started together overlap.
cat >"$T/mta" <<'SCRIPT'
#!/bin/sh
echo "[$(basename "$0")][$*]" >>"${0%/*}/mta.log"
[ "$1" = release ] && sleep 1
exit 0
SCRIPT
chmod 755 "$T/mta"
ln -s mta "$T/remote"
printf '#!/bin/sh\necho QH1 QM2\n' >"$T/queue"
cat >"$T/mx2.conf" <<CONFIG
database = $DB
host_name = mx2.example.test
held_queue_command = $T/queue
held_release_command = $T/mta release {queue_id}
held_reject_command = $T/mta reject {queue_id}
CONFIG
cp "$T/mx2.conf" "$T/mx2-remote.conf"
echo "held_remote_command = $T/remote {host} {action} {queue_id}" >>"$T/mx2-remote.conf"
for q in QM1:mx1 QM2:mx2 QM3:mx1; do
    sql "INSERT INTO held (queue_id, held_at, account, sender, recipients, nrcpt, subject, size,
         reason, host) VALUES ('${q%%:*}', $now - 3600, 'flood@example.test', 'flood@example.test',
         'x@example.net', 1, 'spread', 100, 'over the limit', '${q#*:}.example.test')" >/dev/null
done
# ctlh CONFIG ARG...: ingressctl with that config file.
ctlh() {
    local conf=$1
    shift
    RC=0
    timeout 10 "$CTL_BIN" -c "$T/$conf" "$@" >"$T/out" 2>"$T/err" </dev/null || RC=$?
    OUT=$(<"$T/out")
    ERR=$(<"$T/err")
}

ctlh mx2.conf held list
[ "$RC" -eq 0 ] && has "$OUT" "HOST" && grep -q "QM1 *mx1.example.test" "$T/out" &&
    grep -q "QM2 *mx2.example.test" "$T/out" && grep -q "QM3 *mx1.example.test" "$T/out"
result "held list on one host shows every host's held messages with the host"
[ "$(sql "SELECT count(*) FROM held WHERE queue_id IN ('QM1', 'QM3') AND state = 'held'")" = 2 ]
result "its reconciliation leaves the messages of other hosts (not in this MTA's queue) held"
ctlh mx2.conf held show QM1
[ "$RC" -eq 0 ] && has "$OUT" "held on:     mx1.example.test" && has "$OUT" "in the queue of mx1.example.test"
result "held show says which host holds it, and that its message is read there"
ctlh mx2.conf held list --json
[ "$RC" -eq 0 ] && has "$OUT" '"host": "mx1.example.test"'
result "held list --json has the host"

ctlh mx2.conf held release QM1
[ "$RC" -eq 2 ] && has "$ERR" "QM1: not released: held on mx1.example.test" &&
    has "$ERR" "ingressctl held release QM1\` on mx1.example.test" && [ ! -e "$T/mta.log" ] &&
    [ "$(sql "SELECT state FROM held WHERE queue_id = 'QM1'")" = held ]
result "release of another host's message without held_remote_command: says where, exit 2, stays held"
ctlh mx2-remote.conf held reject QM3 --reason "a flood"
[ "$RC" -eq 0 ] && has "$OUT" "rejected QM3" &&
    grep -qx '\[remote\]\[mx1.example.test reject QM3\]' "$T/mta.log" &&
    [ "$(sql "SELECT state FROM held WHERE queue_id = 'QM3'")" = rejected ]
result "with held_remote_command: that host's command with {host} {action} {queue_id}, recorded"

: >"$T/mta.log"
(ctlh mx2.conf held release QM2 && echo "$RC" >"$T/rc1") &
(ctlh mx2-remote.conf held release QM2 && echo "$RC" >"$T/rc2") &
wait
rcs=$(sort "$T/rc1" "$T/rc2" | tr '\n' ' ')
[ "$rcs" = "0 1 " ] && [ "$(grep -c 'release QM2' "$T/mta.log")" -eq 1 ] &&
    [ "$(sql "SELECT state FROM held WHERE queue_id = 'QM2'")" = released ]
result "two releases of one message at once: one runs the MTA's command, the other exits 1"

sed -i "s|^held_release_command = .*|held_release_command = /bin/false {queue_id}|" "$T/mx2.conf"
sql "UPDATE held SET state = 'held', decided_at = NULL WHERE queue_id = 'QM2'" >/dev/null
ctlh mx2.conf held release QM2
[ "$RC" -eq 2 ] && has "$ERR" "QM2: not released: held_release_command" &&
    [ "$(sql "SELECT state || ',' || decided_by FROM held WHERE queue_id = 'QM2'")" = held, ]
result "a release whose command fails is taken back: the message is held again"

RC=0
timeout 10 "$CTL_BIN" -d "postgresql://ingress:wr0ng-s3cret@${DB#*@}" list show \
    >"$T/out" 2>"$T/err" </dev/null || RC=$?
ERR=$(<"$T/err")
[ "$RC" -eq 2 ] && has "$ERR" "password authentication failed" && ! has "$ERR" "wr0ng-s3cret" &&
    ! has "$ERR" "$password"
result "a wrong password: exit 2, the reason, no password shown"

echo "$PASSED passed, $FAILED failed"
