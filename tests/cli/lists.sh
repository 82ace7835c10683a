#!/usr/bin/env bash
# The ingressctl verbs of the lists module: `list add|del|show|import` and `rule add|del|list`,
# on a real SQLite database, with their exit statuses (0 done, 1 nothing matched, 2 usage or
# data error), the normalization of values, the aligned and JSON output, who added an entry,
# and an import with bad lines that must import nothing.  No daemon and no DNS needed.
#
#   tests/cli/lists.sh INGRESSCTL_BIN
#
# Prints one "ok - NAME" / "not ok - NAME" line per check and "N passed, M failed" at the end;
# exits non-zero when a check failed.
set -euo pipefail

CTL_TEST=lists
# shellcheck source=tests/cli/ctl-lib.sh
source "$(dirname "$0")/ctl-lib.sh"

# ---- list -------------------------------------------------------------------------------------

ctl list show
test "$RC" -eq 1 -a -z "$OUT"
result "list show on an empty list exits 1"

ctl list add cidr 192.0.2.77/24 block --reason "spam run, ticket 42"
[ "$RC" -eq 0 ] && has "$OUT" "added cidr 192.0.2.0/24: block"
result "list add normalizes the network"

version_before=$(sql "SELECT version FROM lists_version")
ctl list add cidr 192.0.2.0/24 allow
[ "$RC" -eq 0 ] && has "$OUT" "replaced cidr 192.0.2.0/24: allow"
result "list add of the same network replaces it"
version_after=$(sql "SELECT version FROM lists_version")
test "$version_after" -gt "$version_before"
result "a change bumps lists_version (what the milter watches)"
test "$(sql "SELECT count(*) FROM list_entries")" -eq 1
result "one entry per kind and value"

ctl list add ptr_domain Dyn.Example.COM. block --expires 7d
[ "$RC" -eq 0 ] && has "$OUT" "added ptr_domain dyn.example.com: block"
result "list add ptr_domain with --expires"
expires=$(sql "SELECT expires - added_at FROM list_entries WHERE kind = 'ptr_domain'")
test "$expires" -eq 604800
result "--expires 7d is stored as added_at + 7 days"

RC=0
OUT=$(SUDO_USER=alice timeout 10 "$CTL_BIN" -d "$DB" list add sender Spammer@Example.ORG block \
    2>"$T/err") || RC=$?
ERR=$(<"$T/err")
[ "$RC" -eq 0 ] && has "$OUT" "spammer@example.org"
result "list add sender (local part folded to lower case)"
test "$(sql "SELECT added_by FROM list_entries WHERE kind = 'sender'")" = alice
result "added_by is the sudo caller"
self=$(id -un)
test "$(sql "SELECT added_by FROM list_entries WHERE kind = 'cidr'")" = "$self"
result "added_by is the invoking user without sudo"

for bad in "cidr 192.0.2.0/33 block" "cidr 192.0.2 block" "cidr example.com block" \
    "ptr_domain bad..name block" "sender nobody block" "cidr 192.0.2.1 deny" \
    "address 192.0.2.1 block" "cidr 192.0.2.1" "cidr 192.0.2.1 block --expires soon" \
    "cidr 192.0.2.1 block --colour red" "cidr 192.0.2.1 block --reason" "frob"; do
    # shellcheck disable=SC2086 # split on purpose
    ctl list add $bad
     [ "$RC" -eq 2 ] && [ "$(sql "SELECT count(*) FROM list_entries")" -eq 3 ] && [ -n "$ERR" ]
    result "list add $bad is a usage error (2) and adds nothing"
done
ctl list add cidr 192.0.2.1 block --reason $'two\nlines'
test "$RC" -eq 2
result "a reason with a line break is refused"
ctl list frobnicate
[ "$RC" -eq 2 ] && has "$ERR" "add, del, show or import"
result "an unknown list subverb is a usage error"

ctl list show
[ "$RC" -eq 0 ] && has "$OUT" "192.0.2.0/24" && has "$OUT" "dyn.example.com" && has "$OUT" "spammer@example.org"
result "list show prints the entries"
# Aligned: every line has its ACTION column where the header has it.
col=$(head -1 <<<"$OUT" | awk '{ print index($0, "ACTION") }')
misaligned=$(tail -n +2 <<<"$OUT" | awk -v c="$col" 'substr($0, c, 5) !~ /^(allow|block)$/' | wc -l)
[ "$col" -gt 0 ] && [ "$misaligned" -eq 0 ]
result "list show aligns its columns"

ctl list show cidr
[ "$RC" -eq 0 ] && has "$OUT" "192.0.2.0/24" && ! has "$OUT" "dyn.example.com"
result "list show KIND shows that kind only"
ctl list show helo_domain
test "$RC" -eq 1
result "list show of an empty kind exits 1"
ctl list show nonsense
test "$RC" -eq 2
result "list show of an unknown kind is a usage error"

ctl list show --json
json_ok=0
"$PYTHON" -c 'import json, sys
rows = json.loads(sys.argv[1])
assert len(rows) == 3, rows
by = {r["kind"]: r for r in rows}
assert by["cidr"]["value"] == "192.0.2.0/24" and by["cidr"]["action"] == "allow"
assert by["cidr"]["expires"] is None and by["cidr"]["expired"] is False
assert by["ptr_domain"]["expires"] - by["ptr_domain"]["added_at"] == 604800
assert by["sender"]["added_by"] == "alice"
' "$OUT" 2>"$T/json.err" || json_ok=$?
[ "$RC" -eq 0 ] && [ "$json_ok" -eq 0 ]
result "list show --json is valid JSON with every field"

ctl list del cidr 192.0.2.9/24
[ "$RC" -eq 0 ] && has "$OUT" "deleted cidr 192.0.2.0/24"
result "list del finds the entry under another spelling"
ctl list del cidr 192.0.2.0/24
[ "$RC" -eq 1 ] && has "$ERR" "no cidr entry"
result "list del of a missing entry exits 1"
ctl list del cidr not-a-network
test "$RC" -eq 2
result "list del of a bad value is a usage error"

# ---- list import ------------------------------------------------------------------------------

count_before=$(sql "SELECT count(*) FROM list_entries")
cat >"$T/bad.list" <<'EOF'
# entries from the abuse desk
cidr 198.51.100.0/24 block botnet C&C
ptr_domain pool.example.net block dynamic addresses

cidr 198.51.100.0/33 block a typo
sender_domain partner.example allow
colour blue block nonsense
cidr 203.0.113.5
EOF
ctl list import "$T/bad.list"
test "$RC" -eq 2
result "import with bad lines exits 2"
has "$ERR" "bad.list:5:" && has "$ERR" "bad.list:7:" && has "$ERR" "bad.list:8:" && ! has "$ERR" "bad.list:2:"
result "import names every bad line by number"
has "$ERR" "3 bad lines, nothing imported"
result "import says nothing was imported"
test "$(sql "SELECT count(*) FROM list_entries")" -eq "$count_before"
result "import with bad lines imports nothing"

grep -v -e '/33' -e colour -e '^cidr 203' "$T/bad.list" >"$T/good.list"
printf 'sender Boss@Partner.Example allow   the boss, always  \r\n' >>"$T/good.list"
ctl list import "$T/good.list"
[ "$RC" -eq 0 ] && has "$OUT" "imported 4 entries"
result "import of a good file"
test "$(sql "SELECT count(*) FROM list_entries")" -eq $((count_before + 4))
result "imported entries are in the table"
test "$(sql "SELECT reason FROM list_entries WHERE kind = 'sender' AND value = 'boss@partner.example'")" = "the boss, always"
result "import keeps the reason's inner spaces, trims the ends"
test "$(sql "SELECT reason FROM list_entries WHERE value = '198.51.100.0/24'")" = "botnet C&C"
result "import keeps reasons with punctuation"
ctl list import "$T/missing.list"
test "$RC" -eq 2
result "import of a missing file exits 2"
ctl list import
test "$RC" -eq 2
result "import without a file is a usage error"

# ---- public and internal texts, greylist_exempt, patterns -------------------------------------

ctl list add sender_domain spam.example block --reason "ticket 123: complaint" \
    --public "Contact abuse@example.test"
[ "$RC" -eq 0 ] && has "$OUT" "added sender_domain spam.example: block"
result "list add with --reason and --public"
test "$(sql "SELECT reason || '|' || public_text FROM list_entries WHERE value = 'spam.example'")" = \
    "ticket 123: complaint|Contact abuse@example.test"
result "the internal reason and the public text are stored apart"
ctl list show sender_domain --json
json_ok=0
"$PYTHON" -c 'import json, sys
rows = {r["value"]: r for r in json.loads(sys.argv[1])}
assert rows["spam.example"]["reason"] == "ticket 123: complaint", rows
assert rows["spam.example"]["public"] == "Contact abuse@example.test", rows
' "$OUT" 2>"$T/json.err" || json_ok=$?
[ "$RC" -eq 0 ] && [ "$json_ok" -eq 0 ]
result "list show --json gives reason and public apart"
count_before=$(sql "SELECT count(*) FROM list_entries")
ctl list add cidr 192.0.2.1 allow --public "welcome"
[ "$RC" -eq 2 ] && has "$ERR" "--public is the reply of a block entry"
result "--public on an allow entry is a usage error"
ctl list add cidr 192.0.2.1 block --public $'two\nlines'
[ "$RC" -eq 2 ] && has "$ERR" "the public text must be printable ASCII"
result "a public text with a line break is refused"
# The internal reason is the postmaster's text, UTF-8 allowed; the public text goes into a reply:
# ASCII only.  A UTF-8 terminal shows the reason as it was typed, any other escapes it.
ctl list add cidr 192.0.2.77 block --reason "café ✓ ticket № 42"
[ "$RC" -eq 0 ] && [ "$(sql "SELECT reason FROM list_entries WHERE value = '192.0.2.77'")" = "café ✓ ticket № 42" ]
result "a UTF-8 reason is stored as typed"
# A UTF-8 terminal: script(1) gives the command one.
RC=0
OUT=$(LC_ALL=C.UTF-8 timeout 10 script -qec "$CTL_BIN -d $DB list show cidr" /dev/null) || RC=$?
[ "$RC" -eq 0 ] && has "$OUT" "café ✓ ticket № 42"
result "list show on a UTF-8 terminal shows the reason in UTF-8"
RC=0
LC_ALL=C timeout 10 "$CTL_BIN" -d "$DB" list show cidr >"$T/out" 2>"$T/err" </dev/null || RC=$?
OUT=$(<"$T/out")
[ "$RC" -eq 0 ] && has "$OUT" 'caf\xc3\xa9'
result "list show elsewhere escapes it"
ctl list add cidr 192.0.2.78 block --reason $'caf\xc3('
[ "$RC" -eq 2 ] && has "$ERR" "printable text (UTF-8)"
result "a reason that is not UTF-8 is refused"
ctl list add cidr 192.0.2.78 block --public "café"
[ "$RC" -eq 2 ] && has "$ERR" "the public text must be printable ASCII"
result "a UTF-8 public text is refused (it would go into a reply)"
ctl list del cidr 192.0.2.77
ctl list add ptr_regex '^mail(' greylist_exempt
[ "$RC" -eq 2 ] && has "$ERR" "not a regular expression: missing closing parenthesis at offset 6"
result "a regex that does not compile is refused at list add, with PCRE2's reason and offset"
ctl list add recipient postmaster@ block
[ "$RC" -eq 2 ] && has "$ERR" "a recipient entry can only be greylist_exempt"
result "a recipient entry other than greylist_exempt is refused"
test "$(sql "SELECT count(*) FROM list_entries")" -eq "$count_before"
result "the refused entries added nothing"
ctl list add ptr_domain .Outbound.Protection.Example greylist_exempt
[ "$RC" -eq 0 ] && has "$OUT" "added ptr_domain .outbound.protection.example: greylist_exempt"
result "list add of a leading-dot PTR suffix, greylist_exempt"
ctl list add helo_regex '^(dsl|dyn)-\d+' block
[ "$RC" -eq 0 ] && test "$(sql "SELECT value FROM list_entries WHERE kind = 'helo_regex'")" = '^(dsl|dyn)-\d+'
result "list add helo_regex keeps the pattern as written"

# ---- list import --format postgrey --------------------------------------------------------------

# The files as Debian's postgrey 1.37 ships them (tests/cli/postgrey/README.md): every line taken.
PG_DIR=$(dirname "$0")/postgrey
pg_lines=$(sed 's/#.*//' "$PG_DIR/whitelist_clients" | awk 'NF' | wc -l)
count_before=$(sql "SELECT count(*) FROM list_entries")
ctl list import --format postgrey "$PG_DIR/whitelist_clients"
[ "$RC" -eq 0 ] && has "$OUT" "imported $pg_lines entries"
result "postgrey's shipped whitelist_clients: all $pg_lines lines imported"
test "$(sql "SELECT count(*) FROM list_entries WHERE action = 'greylist_exempt' AND reason LIKE 'postgrey whitelist_clients line %'")" -eq "$pg_lines"
result "each as a greylist_exempt entry noting its line"
test "$(sql "SELECT count(*) FROM list_entries WHERE kind = 'ptr_regex' AND value = '^mail\d+\.telekom\.de\$'")" -eq 1 &&
    test "$(sql "SELECT count(*) FROM list_entries WHERE kind = 'ptr_domain' AND value = 'debian.org'")" -eq 1
result "a /regex/ line becomes ptr_regex, a name ptr_domain"
test "$(sql "SELECT value FROM list_entries WHERE kind = 'cidr' AND value = '195.235.39.0/24'")" = 195.235.39.0/24
result "a partial address (three numbers) becomes its /24"
test "$(sql "SELECT count(*) FROM list_entries WHERE kind = 'cidr' AND value = '2a01:4180:4051:800::/64'")" -eq 1
result "an IPv6 network is taken"
ctl list import --format postgrey "$PG_DIR/whitelist_recipients"
[ "$RC" -eq 0 ] && has "$OUT" "imported 2 entries" &&
    test "$(sql "SELECT group_concat(value, ' ') FROM (SELECT value FROM list_entries WHERE kind = 'recipient' ORDER BY value)")" = "abuse@ postmaster@"
result "postgrey's shipped whitelist_recipients: postmaster@ and abuse@ as recipient entries"

# CRLF line ends: postgrey reads them (its \s takes the CR), so does the import.
sed 's/$/\r/' "$PG_DIR/whitelist_clients" >"$T/whitelist_clients"
ctl list import --format postgrey "$T/whitelist_clients"
[ "$RC" -eq 0 ] && has "$OUT" "imported $pg_lines entries" &&
    test "$(sql "SELECT count(*) FROM list_entries WHERE value LIKE '%'||char(13)||'%'")" -eq 0
result "CRLF line ends: the same $pg_lines entries, no CR kept"

# Bad lines: a regex PCRE2 does not compile, a line of 100 KiB, a name with a blank inside; each
# named with its line number, exit 2, and nothing imported.
count_before=$(sql "SELECT count(*) FROM list_entries")
{
    echo "# a site's own whitelist_clients"
    echo "mail.partner.example"
    echo "/^smtp(\d+\.bad$/"
    head -c 102400 /dev/zero | tr '\0' a
    echo
    echo "two words"
    echo "198.51.100.0/24"
} >"$T/whitelist_clients.local"
ctl list import --format postgrey "$T/whitelist_clients.local"
[ "$RC" -eq 2 ] && has "$ERR" "whitelist_clients.local:3: cannot take ^smtp(\d+\.bad$ as ptr_regex: not a regular expression" &&
    has "$ERR" "whitelist_clients.local:4: line longer than" && has "$ERR" "whitelist_clients.local:5:" &&
    ! has "$ERR" "whitelist_clients.local:6:" && has "$ERR" "3 bad lines, nothing imported"
result "postgrey import: a bad regex, a 100 KiB line and a bad name are named by line, exit 2"
test "$(sql "SELECT count(*) FROM list_entries")" -eq "$count_before"
result "postgrey import with bad lines imports nothing"
printf '/^list-.*@example\\.org$/\n' >"$T/whitelist_recipients"
ctl list import --format postgrey "$T/whitelist_recipients"
[ "$RC" -eq 2 ] && has "$ERR" "whitelist_recipients:1: a /regex/ of recipients has no list kind"
result "a recipient /regex/ is reported as a line it cannot take"
printf 'example.org\n' >"$T/some.list"
ctl list import --format postgrey "$T/some.list"
[ "$RC" -eq 2 ] && has "$ERR" "--format postgrey-clients or --format postgrey-recipients"
result "--format postgrey on a file of another name asks which one it is"
ctl list import --format csv "$T/some.list"
[ "$RC" -eq 2 ] && has "$ERR" "unknown --format csv"
result "an unknown --format is a usage error"

# ---- rule -------------------------------------------------------------------------------------

ctl rule list
test "$RC" -eq 1
result "rule list with no rules exits 1"
ctl rule add Alice@Example.test @Shop.test reject
[ "$RC" -eq 0 ] && has "$OUT" "added rule alice@example.test @shop.test: reject"
result "rule add for a domain"
ctl rule add alice@example.test orders@shop.test accept
test "$RC" -eq 0
result "rule add for an address"
ctl rule add bob@example.test friend@mail.test accept
ctl rule add alice@example.test @shop.test accept
[ "$RC" -eq 0 ] && has "$OUT" "replaced"
result "rule add of the same pair replaces it"
ctl rule list
[ "$RC" -eq 0 ] && [ "$(grep -c example.test <<<"$OUT")" -eq 3 ]
result "rule list shows every rule"
ctl rule list ALICE@example.test
[ "$RC" -eq 0 ] && [ "$(grep -c alice@ <<<"$OUT")" -eq 2 ] && ! has "$OUT" bob@
result "rule list RCPT shows that recipient's rules"
ctl rule list carol@example.test
test "$RC" -eq 1
result "rule list of a recipient without rules exits 1"
ctl rule list --json
json_ok=0
"$PYTHON" -c 'import json, sys
rows = json.loads(sys.argv[1])
assert len(rows) == 3 and {r["action"] for r in rows} == {"accept"}, rows
' "$OUT" 2>"$T/json.err" || json_ok=$?
[ "$RC" -eq 0 ] && [ "$json_ok" -eq 0 ]
result "rule list --json is valid JSON"
for bad in "alice@example.test shop.test accept" "alice example.test accept" \
    "alice@example.test @shop.test maybe" "alice@example.test @shop.test" "x y z w v"; do
    # shellcheck disable=SC2086
    ctl rule add $bad
    test "$RC" -eq 2
    result "rule add $bad is a usage error"
done
ctl rule del alice@example.test @SHOP.test
[ "$RC" -eq 0 ] && has "$OUT" "deleted rule alice@example.test @shop.test"
result "rule del"
ctl rule del alice@example.test @shop.test
test "$RC" -eq 1
result "rule del of a missing rule exits 1"
ctl rule frob
test "$RC" -eq 2
result "an unknown rule subverb is a usage error"

# ---- help -------------------------------------------------------------------------------------

ctl -h
has "$OUT" "list import [--format native|postgrey] FILE" && has "$OUT" "rule add RCPT SENDER accept|reject"
result "the help lists the list and rule verbs"

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
