#!/usr/bin/env bash
# ingressctl why for the support desk, on a real SQLite database holding decisions as the milter
# writes them: the keys it finds (queue id, reference in any case, IP, address, the header From a
# check refused, domain), newest first, --since/--until/--limit, --json, a message's recipients
# as one decision, the answers in words (greylisting, a recipient's rule, a suspension's date,
# SPF), a held message's later release, the postmaster's next command; SQL wildcards taken
# literally; bad keys; and a member of the database's group (read permission only, the milter
# stopped: no -wal, no -shm) reading it.  Needs root for the last part (setpriv).
#
#   tests/cli/why.sh INGRESSCTL_BIN
CTL_TEST=why
# shellcheck source=tests/cli/ctl-lib.sh
source "$(dirname "$0")/ctl-lib.sh"

ctl list show # applies the schema
NOW=$(date +%s)
# The decisions, as lib/policy.c writes them (one row per recipient), oldest first.
"$PYTHON" - "$DB" "$NOW" <<'PY'
import sqlite3, sys
db, now = sqlite3.connect(sys.argv[1]), int(sys.argv[2])
cols = ("time, queue_id, ref, client_ip, client_name, helo, sender, recipient, account, "
        "check_name, action, reply, detail, host")
def add(*row):
    db.execute(f"INSERT INTO decisions ({cols}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", row)
day = 86400
add(now - 3 * day, "NOQUEUE", "GREYREF1", "203.0.113.5", "unknown", "mail.example.com",
    "news@example.com", "alice@example.net", None, "greylist", "tempfail",
    "451 4.7.1 Greylisted, please retry in 300 seconds (ref GREYREF1)",
    "greylisted: network=203.0.113.0/24 from=<news@example.com> to=<alice@example.net> "
    "retry_in=300s retry_after=2026-12-03T08:05:00Z", "mx1")
add(now - 2 * day, "NOQUEUE", "SPFREF01", "198.51.100.7", "unknown", "bad.example.org",
    "ceo@example.org", "bob@example.net", None, "spf", "reject",
    "550 5.7.23 SPF: example.org does not allow [198.51.100.7] to send its mail (ref SPFREF01)",
    "spf=fail mailfrom=example.org: a mechanism matched (sender ceo@example.org, 1 DNS terms, 0 void)",
    "mx1")
add(now - 2 * day + 60, "NOQUEUE", "RULEREF1", "192.0.2.9", "unknown", "x.example",
    "promo@shop.example", "carol@example.net", None, "rules", "reject",
    "550 5.7.1 Recipient refuses mail from this sender (ref RULEREF1)",
    "rule=reject sender=@shop.example", "mx1")
add(now - 2 * day + 120, "NOQUEUE", "SUSPREF1", "192.0.2.20", "unknown", "laptop",
    "dave@example.net", None, "dave@example.net", "account", "reject",
    "554 5.7.1 Account suspended (ref SUSPREF1)",
    "account dave@example.net suspended since 1796541922: hijacked", "mx1")
add(now - 2 * day + 180, "5A1B2C3D4E", "DMARCRF1", "192.0.2.30", "unknown", "lists.example",
    "list@lists.example", "erin@example.net", None, "dmarc", "reject",
    "550 5.7.1 Rejected by the DMARC policy of bank.example (ref DMARCRF1)",
    "dmarc=fail for bank.example: the From domain bank.example publishes p=reject; header From: "
    "\"Bank\" <alerts@bank.example>", "mx1")
# The header From's address, in its column, as the milter writes it beside the detail.
db.execute("UPDATE decisions SET header_from = 'alerts@bank.example' WHERE ref = 'DMARCRF1'")
# A message to 100 recipients, accepted: 100 rows.
for i in range(100):
    add(now - day, "6F00AA1122", "MANYREF1", "203.0.113.77", "out.example.com", "out.example.com",
        "letter@example.com", f"user{i:03d}@example.net", None, "policy", "accept", None,
        "iprev=pass: PTR out.example.com confirmed", "mx1")
# A held message, released since.
add(now - 3600, "7B7B7B7B7B", "HOLDREF1", "192.0.2.40", "unknown", "pc", "frank@example.net",
    "x@example.org", "frank@example.net", "throttle", "hold", None,
    "account frank@example.net: hour: 500 messages over the limit 100", "mx1")
db.execute("INSERT INTO held (queue_id, held_at, account, sender, recipients, nrcpt, subject, "
           "size, reason, state, decided_by, decided_at, decision_reason) VALUES "
           "('7B7B7B7B7B', ?, 'frank@example.net', 'frank@example.net', 'x@example.org', 1, 'hi', "
           "100, 'hour: 500 messages', 'released', 'alice', ?, 'newsletter, known')",
           (now - 3600, now - 1800))
# Addresses that SQL wildcards would match if they were patterns.
add(now - 600, "NOQUEUE", "WILDREF1", "192.0.2.50", "unknown", "w", "axb@example.com",
    "g@example.net", None, "iprev", "reject", "550 5.7.25 no PTR (ref WILDREF1)",
    "iprev=fail: no PTR record", "mx1")
db.commit()
PY

ctl why greyref1
has "$OUT" "check greylist: deferred (temporary failure)" &&
    has "$OUT" "the first attempt from network 203.0.113.0/24 for mail from <news@example.com>" &&
    has "$OUT" "after 2026-12-03 08:05:00 UTC" && ! has "$OUT" "retry_in=" &&
    has "$OUT" "the sender was told: 451 4.7.1 Greylisted"
result "why REF in lower case: greylisting in words, with the date a retry passes"

ctl why 198.51.100.7
has "$OUT" "check spf: rejected" && has "$OUT" "the sender was told: 550 5.7.23" &&
    has "$OUT" "ingressctl list add cidr 198.51.100.0/24 allow"
result "why IP: an SPF refusal and the allow entry that would let the client through"

ctl why carol@example.net
has "$OUT" "the recipient's own rule (ingressctl rule) for <carol@example.net> refuses mail from the domain shop.example" &&
    has "$OUT" "ingressctl rule del carol@example.net @shop.example"
result "why RCPT: a recipient's rule says it was the recipient's own"

ctl why dave@example.net
has "$OUT" "suspended since 2026-12-06 " && ! has "$OUT" "1796541922" &&
    has "$OUT" "ingressctl account resume dave@example.net"
result "why ACCOUNT: a suspension shows a date, not an epoch"

ctl why 203.0.113.77
[[ $RC -eq 0 && $(grep -c "check policy" <<<"$OUT") -eq 1 ]] &&
    has "$OUT" "to 100 recipients: <user000@example.net>" && has "$OUT" "and 95 more"
result "why IP: a 100-recipient message is one decision with its recipients"

ctl why 7B7B7B7B7B
has "$OUT" "check throttle: held for review" &&
    has "$OUT" "later released by alice at " && has "$OUT" "newsletter, known"
result "why QUEUEID of a held message: released since, by whom, when and why"

ctl why alerts@bank.example
has "$OUT" "check dmarc: rejected" && has "$OUT" "DMARC policy of bank.example"
result "why ADDRESS finds the decision by its header From address"

ctl why @example.org
has "$OUT" "ceo@example.org" && has "$OUT" "x@example.org" && ! has "$OUT" "example.com>"
ok_domain=$?
ctl why EXAMPLE.ORG
[[ $ok_domain -eq 0 && $RC -eq 0 ]] && has "$OUT" "ceo@example.org"
result "why DOMAIN (@example.org, or the name in any case): the senders' and recipients' domain"

ctl why @example.net --limit 2
[[ $(grep -c "^20[0-9][0-9]-" <<<"$OUT") -eq 2 ]] && has "$OUT" "(only the newest 2 shown" &&
    [[ $(grep -m1 "^20" <<<"$OUT") == *WILDREF1* ]]
result "--limit 2: the two newest decisions, newest first"

ctl why @example.net --since 36h --until 2h
has "$OUT" "MANYREF1" && ! has "$OUT" "WILDREF1" && ! has "$OUT" "SPFREF01"
result "--since 36h --until 2h: only the decisions of that period"

ctl why @example.net --since "$(date -u -d @$((NOW - 86400 - 60)) +%Y-%m-%dT%H:%M)" --json
"$PYTHON" -c 'import json, sys
d = json.load(open(sys.argv[1]))
refs = [x["ref"] for x in d]
assert refs == ["WILDREF1", "HOLDREF1", "MANYREF1"], refs
many = d[2]
assert len(many["recipients"]) == 100 and many["words"] == "accepted", many
assert d[1]["held"]["state"] == "released" and d[1]["held"]["decided_by"] == "alice", d[1]' "$T/out"
result "--json, --since a UTC date: the decisions newest first, recipients and the held fate"

# A row whose texts are not UTF-8, as an SQLite database written before the store made them valid
# holds (SQLite keeps any byte): 0xFF in the HELO, a surrogate in the client name, a lone
# continuation byte in the detail.  --json still answers, valid JSON (jansson refuses invalid
# UTF-8, so the output reads each stray byte as its Latin-1 character), and so does the text.
"$PYTHON" - "$DB" "$NOW" <<'PY'
import sqlite3, sys
db, now = sqlite3.connect(sys.argv[1]), int(sys.argv[2])
db.execute("INSERT INTO decisions (time, queue_id, ref, client_ip, client_name, helo, sender,"
           " recipient, check_name, action, reply, detail, host) VALUES (?, 'NOQUEUE', 'BYTEREF1',"
           " '192.0.2.77', CAST(? AS TEXT), CAST(? AS TEXT), 'a@example.org', 'b@example.net',"
           " 'iprev', 'reject', '550 5.7.25 no PTR (ref BYTEREF1)', CAST(? AS TEXT), 'mx1')",
           (now - 60, b"ptr\xed\xa0\x80.example", b"bad\xffhelo", b"seen \x80 here"))
db.commit()
PY
ctl why BYTEREF1 --json
[[ $RC -eq 0 ]] && "$PYTHON" -c 'import json, sys
d = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
assert len(d) == 1 and d[0]["ref"] == "BYTEREF1", d
text = json.dumps(d, ensure_ascii=False)
assert "bad\u00ffhelo" in text and "ptr\u00ed\u00a0\u0080.example" in text, text' "$T/out"
result "--json on a row whose texts are not UTF-8: valid JSON, each stray byte as its character"
ctl why BYTEREF1
[[ $RC -eq 0 ]] && has "$OUT" "BYTEREF1"
result "the text output on that row"

# SQL wildcards are the characters themselves.
ctl why "%"
[[ $RC -eq 1 ]] && has "$ERR" "nothing recorded about %"
result "why %: nothing (not every decision), exit 1"
ctl why "a_b@example.com"
[[ $RC -eq 1 ]]
result "why a_b@example.com does not find axb@example.com"
ctl why "%@example.com"
[[ $RC -eq 1 ]]
result "why %@example.com: nothing, exit 1"

# Bad keys: a usage error, exit 2, one line saying what is wrong.
ctl why ""
[[ $RC -eq 2 ]] && has "$ERR" "is empty"
result "an empty key: exit 2"
ctl why "$(head -c 10240 /dev/zero | tr '\0' a)"
[[ $RC -eq 2 ]] && has "$ERR" "longer than"
result "10 KiB of key: exit 2"
ctl why "$(printf 'a%.0s' {1..296}).com"
[[ $RC -eq 2 ]] && has "$ERR" "a domain name has at most 253 characters"
result "a domain of 300 characters: exit 2"
ctl why @example.net --since yesterday
[[ $RC -eq 2 ]] && has "$ERR" "--since wants a duration"
result "a bad --since: exit 2"
ctl why @example.net --limit 0
[[ $RC -eq 2 ]] && has "$ERR" "--limit wants a number"
result "a bad --limit: exit 2"

# A member of the database's group, who may only read, with the milter stopped (no -wal, no
# -shm beside the file, a directory it may not write).
if [[ $(id -u) -eq 0 ]] && getent group mail >/dev/null && id daemon >/dev/null 2>&1; then
    chmod 755 "$T"
    mkdir "$T/state"
    cp "$DB" "$T/state/ingress.db"
    chown -R nobody:mail "$T/state"
    chmod 750 "$T/state"
    chmod 640 "$T/state/ingress.db"
    RC=0
    OUT=$(setpriv --reuid=daemon --regid=mail --clear-groups "$CTL_BIN" -d "$T/state/ingress.db" \
        why hOlDrEf1 2>&1) || RC=$?
    ERR=""
    [[ $RC -eq 0 ]] && has "$OUT" "later released by alice" && [[ ! -e $T/state/ingress.db-shm ]]
    result "a user of the database's group (read only, the milter stopped) asks why"
else
    echo "ok - # SKIP not root: the read-only group member is not tried"
fi

echo "$PASSED passed, $FAILED failed"
