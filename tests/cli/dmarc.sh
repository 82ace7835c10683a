#!/usr/bin/env bash
# `ingressctl dmarc report` on a real SQLite database whose DMARC report rows are written here
# (the milter's own writing is tests/e2e's and test_dmarc_report's): the Appendix C XML checked
# by xmllint against tests/dmarc/rfc7489-appendix-c.xsd and its counts against the rows, hostile
# values escaped, and the exit statuses of bad input (2: a malformed date, a 300-character or
# invalid domain, a missing or unknown option; 1: a period without data, nothing on stdout).
#
#   tests/cli/dmarc.sh INGRESSCTL_BIN
set -euo pipefail

CTL_TEST=dmarc
# shellcheck source=tests/cli/ctl-lib.sh
source "$(dirname "$0")/ctl-lib.sh"
SCHEMA=$(dirname "$0")/../dmarc/rfc7489-appendix-c.xsd

ctl dmarc report --since 2026-01-01 --domain example.org
test "$RC" -eq 1 -a -z "$OUT" && has "$ERR" "no DMARC data for example.org"
result "a period without data exits 1 with a message and prints nothing"

# add_row DAY HEADER_FROM IP MESSAGES [DKIM]: one row of example.org's (day: YYYY-MM-DD).
add_row() {
    "$PYTHON" - "$DB" "$@" <<'PY'
import calendar, sqlite3, sys, time, uuid
db, day, header_from, ip, messages = sys.argv[1:6]
dkim = sys.argv[6] if len(sys.argv) > 6 else "pass example.org s1"
t = calendar.timegm(time.strptime(day, "%Y-%m-%d"))
c = sqlite3.connect(db)
c.execute("INSERT INTO dmarc_rows VALUES (?, ?, 'example.org', ?, 'bounce.example.org', ?, "
          "'reject', 'quarantine', 100, 'r', 's', 'reject', 'fail', 'fail', '', ?, "
          "'bounce.example.org', 'mfrom', 'softfail', ?)",
          (t, uuid.uuid4().hex, header_from, ip, dkim, int(messages)))
c.commit()
PY
}
add_row 2026-01-01 example.org 192.0.2.1 3
add_row 2026-01-02 example.org 192.0.2.1 4
add_row 2026-01-02 'mail.example.org' 2001:db8::5 2 'fail <evil>&"x"'"'"' s]]>'
add_row 2026-01-05 example.org 192.0.2.1 100

ctl dmarc report --since 2026-01-01 --until 2026-01-02 --domain EXAMPLE.org. --org-name 'A&B' \
    --email 'dmarc@receiver.example' --report-id 'r<1>'
printf '%s\n' "$OUT" >"$T/report.xml"
test "$RC" -eq 0 && xmllint --noout --schema "$SCHEMA" "$T/report.xml" 2>"$T/xmllint.err"
result "the report is valid against the RFC 7489 Appendix C schema"
counts=$(grep -o '<count>[0-9]*</count>' "$T/report.xml" | tr -dc '0-9\n' | sort -n | tr '\n' ' ')
test "$counts" = "2 7 "
result "one record per row key over the days, counts 7 (3 + 4) and 2; day 5 left out"
has "$ERR" "2 records, 9 messages"
result "the summary on stderr counts the records and messages"
has "$OUT" "<begin>1767225600</begin>" && has "$OUT" "<end>1767398399</end>"
result "date_range is the two whole days"
has "$OUT" "<domain>&lt;evil&gt;&amp;&quot;x&quot;&apos;</domain>" &&
    has "$OUT" "<selector>s]]&gt;</selector>" && has "$OUT" "<org_name>A&amp;B</org_name>" &&
    has "$OUT" "<report_id>r&lt;1&gt;</report_id>" && ! has "$OUT" "<evil>"
result "values from the network and the command line are XML-escaped"
has "$OUT" "<source_ip>2001:db8:0:0:0:0:0:5</source_ip>"
result "an IPv6 source in the eight groups the schema's pattern takes"

ctl dmarc report --since 2026-01-01 --domain example.org
test "$RC" -eq 0 && has "$ERR" "2 records, 109 messages"
result "--until defaults to today (day 5's row joins the record of its key)"

for date in 2026-13-01 2026-02-30 yesterday 2026-1-01 "2026-01-01 " 1969-12-31; do
    ctl dmarc report --since "$date" --domain example.org
    test "$RC" -eq 2 -a -z "$OUT" && has "$ERR" "is not a date (YYYY-MM-DD)"
    result "--since '$date' is a usage error (exit 2)"
done
ctl dmarc report --since 2026-01-02 --until 2026-01-01 --domain example.org
test "$RC" -eq 2 && has "$ERR" "--until is before --since"
result "--until before --since is a usage error"

long=$(printf 'a%.0s' {1..63}).$(printf 'b%.0s' {1..63}).$(printf 'c%.0s' {1..63}).$(printf 'd%.0s' {1..63}).$(printf 'e%.0s' {1..43})
test "${#long}" -eq 300
ctl dmarc report --since 2026-01-01 --domain "$long"
test "$RC" -eq 2 -a -z "$OUT" && has "$ERR" "is not a domain name (at most 253 characters"
result "a 300-character domain is a usage error (exit 2)"
ctl dmarc report --since 2026-01-01 --domain 'ex ample.org'
test "$RC" -eq 2 && has "$ERR" "is not a domain name"
result "a domain with a blank is a usage error"

ctl dmarc report --since 2026-01-01
test "$RC" -eq 2 && has "$ERR" "--domain DOMAIN are required"
result "--domain is required"
ctl dmarc report --since 2026-01-01 --domain example.org --json
test "$RC" -eq 2 && has "$ERR" "unknown argument --json"
result "an unknown option is a usage error"
ctl dmarc report --since 2026-01-01 --domain example.org --domain example.net
test "$RC" -eq 2 && has "$ERR" "--domain given twice"
result "an option given twice is a usage error"
ctl dmarc forensic
test "$RC" -eq 2 && has "$ERR" "unknown subcommand forensic"
result "an unknown subcommand is a usage error"

echo "$PASSED passed, $FAILED failed"
