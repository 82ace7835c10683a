#!/usr/bin/env bash
# ingressctl store copy on a real PostgreSQL (tests/pg/with-pg.sh): an SQLite database with a row
# in every table (made with ingressctl's verbs, and the decision and held rows as the milter
# writes them) copied into PostgreSQL and back; the second SQLite file must hold the same rows,
# with the same values and types, as the first.  Then the refusals: a target with rows (exit 1,
# nothing written), --replace, FROM and TO the same, a missing source; no password in the output.
#
#   tests/pg/with-pg.sh tests/cli/copy.sh INGRESSCTL_BIN
set -euo pipefail

CTL_TEST=copy
# shellcheck source=tests/cli/ctl-lib.sh
source "$(dirname "$0")/ctl-lib.sh"

if [[ -z ${INGRESS_TEST_DATABASE:-} || -z ${INGRESS_TEST_PG_CTL:-} ]]; then
    echo "usage: tests/pg/with-pg.sh $0 INGRESSCTL_BIN" >&2
    exit 2
fi
PG=${INGRESS_TEST_DATABASE//@TEST@/t1} # an empty schema of its own
password=${INGRESS_TEST_DATABASE#*password=}
password=${password%% *}

# pg QUERY: the first column of the first row, from psql as the superuser, in schema t1.
pg() {
    PG_CTL_DBNAME=ingress "$INGRESS_TEST_PG_CTL" psql "$INGRESS_TEST_PG_DIR" -At \
        -c "SET search_path = t1" -c "$1" | tail -n 1
}

# store_copy ARG...: ingressctl store copy, bounded; sets RC, OUT and ERR.
store_copy() {
    RC=0
    timeout 60 "$CTL_BIN" store copy "$@" >"$T/out" 2>"$T/err" </dev/null || RC=$?
    OUT=$(<"$T/out")
    ERR=$(<"$T/err")
}

# dump FILE: every row of every table of an SQLite database, with each value's type, sorted; the
# lists' version counter left out (each database moves its own).
dump() {
    "$PYTHON" - "$1" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                           "'sqlite_%' AND name <> 'lists_version' ORDER BY name"):
    for row in sorted(repr(r) for r in db.execute(f"SELECT * FROM {table}")):
        print(table, row)
EOF
}

# sql_write STATEMENT: run on the source database and committed (ctl-lib.sh's sql only reads).
sql_write() {
    "$PYTHON" -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute(sys.argv[2])
db.commit()' "$DB" "$1"
}

# The source: a row in every table.
now=$(date +%s)
ctl list add cidr 192.0.2.0/24 block --reason "spam run" &&
    ctl rule add postmaster@example.test @example.org accept &&
    ctl alias add alice@example.test @example.test &&
    ctl account suspend alice@example.test --reason "hijacked" &&
    ctl account limits alice@example.test hour=50/500
sql_write "INSERT INTO decisions (time, queue_id, ref, client_ip, sender, recipient, check_name, action,
     reply, detail, host) VALUES ($now - 3 * 86400, '4XyZ7', 'R1', '198.51.100.9', 'bob@example.net',
     'carol@example.test', 'spf', 'reject', '550 5.7.23 SPF fail', 'spf=fail', 'mx1'),
     ($now, 'Q2', 'R2', '198.51.100.9', '', 'dave@example.test', 'greylist', 'tempfail', NULL, NULL,
     'mx1')" >/dev/null
sql_write "INSERT INTO held (queue_id, held_at, account, sender, recipients, nrcpt, subject, size,
     reason) VALUES ('QH1', $now, 'alice@example.test', 'alice@example.test', 'x@example.net', 1,
     'caf$(printf '\xc3\xa9')', 2048, 'rate')" >/dev/null
sql_write "INSERT INTO greylist VALUES ('198.51.100.0/24', 'bob@example.net', 'carol@example.test',
     $now - 600, $now, $now - 300, 2)" >/dev/null
sql_write "INSERT INTO autoallow VALUES ('198.51.100.0/24', 5, $now - 86400, $now)" >/dev/null
sql_write "INSERT INTO throttle_buckets VALUES ('alice@example.test', 60, $now / 60 * 60, 3, 9, 1)" \
    >/dev/null
sql_write "INSERT INTO greylist_sweep VALUES (1, '198.51.100.0/24', 'a', 'b')" >/dev/null
test "$(sql "SELECT count(*) FROM decisions")" -eq 2
result "the source has a row in every table"

store_copy "$DB" "$PG"
[ "$RC" -eq 0 ] && has "$OUT" "copied $DB into" && has "$OUT" "decisions" &&
    grep -qE '^decisions +2 +2$' <<<"$OUT" && grep -qE '^list_entries +1 +1$' <<<"$OUT" &&
    grep -qE '^held +1 +1$' <<<"$OUT"
result "SQLite into PostgreSQL: exit 0, every table's counts printed"
! has "$OUT$ERR" "$password"
result "the PostgreSQL password is not printed"
test "$(pg "SELECT count(*) FROM decisions")" -eq 2 &&
    test "$(pg "SELECT subject FROM held")" = "caf$(printf '\xc3\xa9')"
result "the rows are PostgreSQL's, the UTF-8 subject as it was"
day=$(((now - 3 * 86400) / 86400 * 86400))
test "$(pg "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'decisions'::regclass AND c.relname = 'decisions_$(date -u -d "@$day" +%Y%m%d)'")" -eq 1 &&
    test "$(pg "SELECT count(*) FROM decisions_other")" -eq 0
result "an old decision's day has its partition (none in the default one)"
RC=0
timeout 10 "$CTL_BIN" -d "$PG" why 198.51.100.9 >"$T/out" 2>"$T/err" </dev/null || RC=$?
OUT=$(<"$T/out")
[ "$RC" -eq 0 ] && has "$OUT" "4XyZ7" && has "$OUT" "550 5.7.23 SPF fail"
result "why reads the copied decisions from PostgreSQL"

store_copy "$DB" "$PG"
[ "$RC" -eq 1 ] && has "$ERR" "not empty" && has "$ERR" "--replace" &&
    test "$(pg "SELECT count(*) FROM decisions")" -eq 2
result "a target with rows: exit 1, nothing written"

RC=0
timeout 10 "$CTL_BIN" -d "$PG" list add cidr 203.0.113.0/24 block >/dev/null 2>&1 || RC=$?
[ "$RC" -eq 0 ] && test "$(pg "SELECT count(*) FROM list_entries")" -eq 2
result "the target takes new rows after the copied ones (its ids past them)"
store_copy "$DB" "$PG" --replace
[ "$RC" -eq 0 ] && test "$(pg "SELECT count(*) FROM list_entries")" -eq 1
result "--replace: the target's rows replaced by the source's"

store_copy "$PG" "$T/back.db"
[ "$RC" -eq 0 ] && grep -qE '^decisions +2 +2$' <<<"$OUT"
result "PostgreSQL into a new SQLite file: exit 0"
dump "$DB" >"$T/source.dump"
dump "$T/back.db" >"$T/back.dump"
diff "$T/source.dump" "$T/back.dump" >&2 && test "$(wc -l <"$T/source.dump")" -ge 11
result "there and back: every row of every table, values and types, as in the source"

store_copy "$DB" "$DB"
[ "$RC" -eq 2 ] && has "$ERR" "the same database"
result "FROM and TO the same: exit 2"
store_copy "$T/missing.db" "$T/other.db"
[ "$RC" -eq 2 ] && has "$ERR" "the source" && [[ ! -e $T/missing.db && ! -e $T/other.db ]]
result "a missing source: exit 2, no file created"
store_copy copy
[ "$RC" -eq 2 ]
result "store copy without TO: a usage error, exit 2"

echo "$PASSED passed, $FAILED failed"
