#!/usr/bin/env bash
# ingressctl check against a real NSD (tests/dns/*.zone, run under tests/dns/with-dns.sh) and a
# real SQLite database: the verdicts and replies of the live policy for the 127.0.0.N personas,
# --json, the exit statuses, bad input, and that a check writes nothing (row counts of every
# table the milter writes and the database file's mtime and size, before and after).
#
#   tests/dns/with-dns.sh tests/cli/check.sh INGRESSCTL_BIN
CTL_TEST=check
# shellcheck source=tests/cli/ctl-lib.sh
source "$(dirname "$0")/ctl-lib.sh"

[[ -n ${INGRESS_TEST_DNS:-} ]] || {
    echo "run under tests/dns/with-dns.sh" >&2
    exit 2
}
CONF=$T/milter-ingress.conf
cat >"$CONF" <<CONF
dns_servers = $INGRESS_TEST_DNS
dns_timeout = 2s
trusted_networks =
iprev_action = reject
greylist_ipv4_prefix = 32
help_text = https://help.example/{check}
CONF

# check ARG...: ingressctl check with the test's config; sets RC, OUT and ERR.
check() {
    RC=0
    timeout 20 "$CTL_BIN" -c "$CONF" -d "$DB" check "$@" >"$T/out" 2>"$T/err" </dev/null || RC=$?
    OUT=$(<"$T/out")
    ERR=$(<"$T/err")
}

# The schema, an account and two list entries, before anything is measured.
ctl account add bob@example.test
ctl list add cidr 127.0.0.11 block --reason "ticket 42"
ctl list add cidr 127.0.0.12 allow

counts() {
    local t n=""
    for t in decisions greylist autoallow throttle_buckets account_throttle held accounts \
        list_entries; do
        n+="$t=$(sql "SELECT count(*) FROM $t") "
    done
    echo "$n$(stat -c %.9Y.%s "$DB") wal=$(stat -c %.9Y.%s "$DB-wal" 2>/dev/null)"
}
before=$(counts)

# SPF pass, PTR confirmed: greylisted at end of message (an SPF-pass triplet is decided there).
check --ip 127.0.0.2 --helo good.example.test --from a@e2e.test --rcpt u@example.org
[[ $RC -eq 1 ]] && has "$OUT" "end of message: check greylist: deferred (temporary failure)" &&
    has "$OUT" "the sender would be told: 451 4.7.1 Greylisted" &&
    has "$OUT" "iprev=pass: PTR good.example.test confirmed" && has "$OUT" "verdict: deferred"
result "an unknown triplet is greylisted (exit 1, the 451, what iprev found)"

check --ip 127.0.0.2 --helo good.example.test --from a@fail.e2e.test --rcpt u@example.org
[[ $RC -eq 1 ]] && has "$OUT" "RCPT TO <u@example.org>: check spf: rejected" &&
    has "$OUT" "550 5.7.23 SPF: fail.e2e.test does not allow [127.0.0.2]" &&
    has "$OUT" "https://help.example/spf" && has "$OUT" "listing this client in the domain's SPF" &&
    has "$OUT" "spf=fail mailfrom=fail.e2e.test: the mechanism -all matched"
result "SPF fail: rejected at RCPT with the reply, its help text, the mechanism, what to do"

check --ip 127.0.0.99 --helo nowhere.example --from a@neutral.e2e.test --rcpt u@example.org
[[ $RC -eq 1 ]] && has "$OUT" "check iprev: rejected" && has "$OUT" "550 5.7.25" &&
    has "$OUT" "ingressctl list add cidr 127.0.0.0/24 allow"
result "no PTR: iprev rejects, and the allow entry to add is named"

check --ip 127.0.0.11 --helo x.example --from a@e2e.test --rcpt u@example.org
[[ $RC -eq 1 ]] && has "$OUT" "check lists: rejected" && has "$OUT" "ingressctl list show"
result "a block entry refuses the client"

check --ip 127.0.0.12 --helo x.example --from a@neutral.e2e.test --rcpt u@example.org
[[ $RC -eq 0 ]] && has "$OUT" "verdict: accepted"
result "an allow entry accepts (exit 0)"

check --ip 127.0.0.2 --helo good.example.test --from a@neutral.e2e.test --rcpt u@example.org \
    --json
[[ $RC -eq 1 ]] && "$PYTHON" -c 'import json, sys
d = json.load(open(sys.argv[1]))
s = d["steps"][1]
assert d["verdict"] == "deferred", d
assert s["stage"] == "RCPT TO" and s["check"] == "greylist" and s["action"] == "tempfail", s
assert s["reply"].startswith("451 4.7.1 Greylisted"), s
assert any(f["check"] == "iprev" for f in d["findings"]), d' "$T/out"
result "--json: the steps, the reply and the findings"

check --ip 127.0.0.2 --auth bob@example.test --from bob@example.test --rcpt u@example.org
[[ $RC -eq 0 ]] && has "$OUT" "authenticated as bob@example.test" && has "$OUT" "verdict: accepted"
result "an authenticated submission of the account's own address is accepted"

# --message: the end-of-message checks read the file's header (folded lines joined): a From the
# account does not own is refused there, and the same message with the account's own From passes.
printf 'From: Mallory\r\n <ceo@bank.example>\r\nSubject: hi\r\n\r\nbody\r\n' >"$T/foreign.eml"
check --ip 127.0.0.2 --auth bob@example.test --from bob@example.test --rcpt u@example.org \
    --message "$T/foreign.eml"
[[ $RC -eq 1 ]] && has "$OUT" "end of message: check sender: rejected" &&
    has "$OUT" "header_from=<ceo@bank.example> not owned by account=bob@example.test"
result "--message: a From header the account does not own is refused at end of message"
printf 'From: Bob <bob@example.test>\nSubject: hi\n\nbody\n' >"$T/own.eml"
check --ip 127.0.0.2 --auth bob@example.test --from bob@example.test --rcpt u@example.org \
    --message "$T/own.eml"
[[ $RC -eq 0 ]] && has "$OUT" "verdict: accepted"
result "--message: the account's own From header passes"

after=$(counts)
RC=0 OUT="before: $before" ERR="after:  $after"
[[ $before == "$after" ]]
result "the checks wrote nothing: the same rows in every table, the database file untouched"

# Bad input: a usage error (exit 2) that says what is wrong, and nothing run.
check --ip 300.1.2.3 --rcpt u@example.org
[[ $RC -eq 2 ]] && has "$ERR" "--ip is not an IPv4 or IPv6 address: 300.1.2.3"
result "a malformed IP: exit 2"
check --rcpt u@example.org
[[ $RC -eq 2 ]] && has "$ERR" "--ip IP is required"
result "no --ip: exit 2"
check --ip 127.0.0.2 --from 'a@@b' --rcpt u@example.org
[[ $RC -eq 2 ]] && has "$ERR" "--from is not an address"
result "a malformed --from: exit 2"
check --ip 127.0.0.2 --rcpt 'no-at-sign'
[[ $RC -eq 2 ]] && has "$ERR" "--rcpt is not an address"
result "a malformed --rcpt: exit 2"
check --ip 127.0.0.2 --rcpt u@example.org --message "$T/missing.eml"
[[ $RC -eq 2 ]] && has "$ERR" "missing.eml: No such file"
result "a missing message file: exit 2"
printf 'Subject: hi\nthis is not a header\n\nbody\n' >"$T/bad.eml"
check --ip 127.0.0.2 --rcpt u@example.org --message "$T/bad.eml"
[[ $RC -eq 2 ]] && has "$ERR" "neither a header field nor its continuation"
result "a message file with a broken header section: exit 2"
check --ip 127.0.0.2 --bogus x
[[ $RC -eq 2 ]] && has "$ERR" "unknown option: --bogus"
result "an unknown option: exit 2"

echo "$PASSED passed, $FAILED failed"
