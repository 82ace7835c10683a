#!/usr/bin/env bash
# Bytes from the network that are not UTF-8, through the real milter into a PostgreSQL database
# whose encoding is UTF8 (tests/pg/with-pg.sh), which refuses them (SQLSTATE 22021):
#
#   tests/pg/with-pg.sh tests/hardening/pg-poison.sh MILTER_BIN HOSTILE_BIN INGRESSCTL_BIN
#
# One message each with a HELO holding 0xFF, a client name (the MTA's reverse lookup) holding a
# surrogate (ED A0 80), a MAIL FROM and header From whose local part holds an overlong '/' (C0 AF),
# a HELO that starts with a lone continuation byte (0x80), and a client (127.0.0.16) whose PTR
# name, served by NSD, holds 0xFF; then an ordinary message.  Every message has its decision row,
# the bad bytes shown as '?' (the store makes text valid UTF-8 before any row), the PTR name in
# ASCII (the resolver gives the byte as \255), the writer never logs a batch it cannot write,
# the queue drains, and `ingressctl why --json` answers for such a row.
set -euo pipefail
MILTER_BIN=$(realpath -- "${1:?usage: pg-poison.sh MILTER_BIN HOSTILE_BIN INGRESSCTL_BIN}")
HOSTILE_BIN=$(realpath -- "${2:?usage: pg-poison.sh MILTER_BIN HOSTILE_BIN INGRESSCTL_BIN}")
INGRESSCTL_BIN=$(realpath -- "${3:?usage: pg-poison.sh MILTER_BIN HOSTILE_BIN INGRESSCTL_BIN}")
if [[ -z ${INGRESS_TEST_PG_TCP:-} || -z ${INGRESS_TEST_PG_CTL:-} ]]; then
    echo "usage: tests/pg/with-pg.sh $0 MILTER_BIN HOSTILE_BIN INGRESSCTL_BIN" >&2
    exit 2
fi
# shellcheck source=tests/hardening/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
hardening_init pg-poison
start_nsd

sql() { # sql QUERY: the rows, columns split by '|', psql as the superuser on the database
    PG_CTL_DBNAME=ingress "$INGRESS_TEST_PG_CTL" psql "$INGRESS_TEST_PG_DIR" -At -c "$1"
}

# The database refuses such bytes: what the milter must never send as they are.
if sql "SELECT convert_from('\\xff'::bytea, 'UTF8')" >/dev/null 2>"$T/refused.err" ||
    ! grep -q 'invalid byte sequence for encoding "UTF8"' "$T/refused.err"; then
    not_ok "the test server refuses invalid UTF-8" "$(cat "$T/refused.err")"
fi

start_milter poison "database = $INGRESS_TEST_PG_TCP"

n=0
# send OPTIONS...: one message through `hostile -p` to rcpt-N@example.test, N counted from 1.
send() {
    n=$((n + 1))
    "$HOSTILE_BIN" -s "unix:$MILTER_SOCK" -r "<rcpt-$n@example.test>" -t 20000 "$@" -p \
        >"$T/probe-$n.out" 2>&1 || true
}
send -H $'bad\xffhelo.example.test'
send -N $'ptr\xed\xa0\x80.example.test'
send -f $'<lo\xc0\xafcal@e2e.test>'
send -H $'\x80helo.example.test'
# A PTR name with a byte 0xFF in a label, served by NSD (tests/dns: 127.0.0.16).
send -a 127.0.0.16
send

# rows: the decision rows of the n recipients, one line each "recipient|helo|client_name|sender".
rows() {
    sql "SELECT recipient || '|' || coalesce(helo, '') || '|' || coalesce(client_name, '') ||
                '|' || coalesce(sender, '') FROM decisions
         WHERE recipient LIKE 'rcpt-%@example.test' ORDER BY recipient"
}
# Within 30 s (the writer runs every second; a loaded machine needs margin).
for ((i = 0; i < 300; i++)); do
    [[ $(rows | wc -l) -ge $n ]] && break
    sleep 0.1
done
rows >"$T/rows"
missing=()
for ((i = 1; i <= n; i++)); do
    grep -q "^rcpt-$i@example.test|" "$T/rows" || missing+=("rcpt-$i: $(cat "$T/probe-$i.out")")
done
if ((${#missing[@]} == 0)); then
    ok "every message, the ordinary one after the bad bytes too, has its decision row"
else
    not_ok "every message has its decision row" "${missing[@]}" "$(grep -i 'decision log' "$MILTER_LOG" | head -n 3)"
fi

expect_row() { # expect_row WHAT LINE: the row of rows() is LINE
    if grep -qxF -- "$2" "$T/rows"; then ok "$1: $2"; else not_ok "$1: $2" "$(cat "$T/rows")"; fi
}
expect_row "HELO 0xFF shown as '?'" "rcpt-1@example.test|bad?helo.example.test|good.example.test|probe@e2e.test"
expect_row "client name with a surrogate, each byte shown as '?'" "rcpt-2@example.test|good.example.test|ptr???.example.test|probe@e2e.test"
expect_row "HELO with a lone continuation byte" "rcpt-4@example.test|?helo.example.test|good.example.test|probe@e2e.test"
if grep -q "^rcpt-3@example.test|good.example.test|good.example.test|lo??cal@e2e.test$" "$T/rows"; then
    ok "MAIL FROM with an overlong form: the sender shown with '?'"
else
    not_ok "MAIL FROM with an overlong form: the sender shown with '?'" "$(grep '^rcpt-3@' "$T/rows")"
fi

# The resolver (c-ares) gives a PTR name's odd bytes as "\DDD", and iprev's detail escapes the
# backslash: the row names the name in ASCII, the byte never reaches PostgreSQL as it came.
ptr=$(sql "SELECT check_name || ' ' || action || ' ' || coalesce(detail, '') FROM decisions
           WHERE recipient = 'rcpt-5@example.test'")
if [[ $ptr == *'PTR bad\x5c255ptr.example.test '* ]]; then
    ok "a PTR name with 0xFF from DNS: $ptr"
else
    not_ok "a PTR name with 0xFF from DNS, named in ASCII" "$ptr"
fi

if grep -q "cannot write a batch" "$MILTER_LOG"; then
    not_ok "the writer never fails a batch" "$(grep 'cannot write a batch' "$MILTER_LOG" | head -n 2)"
else
    ok "the writer never fails a batch"
fi

# ingressctl why --json on the row of the bad HELO: answers, valid JSON, the '?' in it.
ref=$(sql "SELECT ref FROM decisions WHERE recipient = 'rcpt-1@example.test' LIMIT 1")
rc=0
"$INGRESSCTL_BIN" -c "$T/poison.conf" why --json "$ref" >"$T/why.json" 2>"$T/why.err" || rc=$?
if [[ $rc == 0 ]] && "$PYTHON" -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert "bad?helo.example.test" in json.dumps(d), d' "$T/why.json" 2>>"$T/why.err"; then
    ok "ingressctl why --json answers for the row"
else
    not_ok "ingressctl why --json answers for the row (exit $rc)" "$(cat "$T/why.err")"
fi

stop_milter
if grep -qE "decisions lost at close" "$MILTER_LOG"; then
    not_ok "nothing lost at close" "$(grep 'lost at close' "$MILTER_LOG")"
else
    ok "nothing lost at close"
fi
sanitizer_clean "$MILTER_LOG" || not_ok "no sanitizer report" "$(grep -m3 -E 'Sanitizer|runtime error' "$MILTER_LOG")"
finish
