#!/usr/bin/env bash
# End-to-end test: a real NSD serving tests/dns/*.zone, milter-ingress in the foreground, and a
# private Postfix instance on loopback, driven by swaks from the 127.0.0.N test personas
# (tests/dns/README.md).  Everything lives under one temporary directory; everything started is
# stopped by its PID on exit, whatever happens.
#
# Phase 1 (cases a-h, v): greylisting off, no DNSBL: iprev, Authentication-Results, exempt
# recipients, `ingressctl why` and `ingressctl check` (asked before cases a, c, j, k, l and o are
# sent: its answer must be the reply Postfix then gives), DMARC (v), then NSD stopped (v6: DMARC temperror, g: iprev
# temperror, g2: SPF temperror).
# Phase 2 (SIGHUP with a new configuration, NSD on a new port; cases j-p): SPF fail, greylisting
# at RCPT and at end of DATA, the SPF+DKIM bypass, block/allow lists, DNSBL, postmaster@ through
# all of them, the greylisting retry and auto-allow (real waits of a few seconds).  Cases s:
# submission on a second listener with SASL AUTH (Cyrus sasldb): the sender must be owned by the
# account.  i comes last.
# Sender domains and the DKIM key are in tests/dns/e2e.test.zone.
#
#   tests/e2e/run.sh MILTER_BIN INGRESSCTL_BIN
#
# Prints one "ok - NAME" / "not ok - NAME" line per check and "N passed, M failed" at the end;
# exits non-zero when a check failed or the set-up broke.  Needs root, postfix, nsd, swaks, ss,
# saslpasswd2 (sasl2-bin) and the Cyrus PLAIN/LOGIN mechanisms (libsasl2-modules).
# KEEP_E2E_DIR=1 keeps the temporary directory (it is always kept when something failed).
set -euo pipefail

SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
source "$SRC_DIR/tests/e2e/lib.sh"
e2e_args "$@"
e2e_require postfix postconf swaks nsd ss timeout setsid saslpasswd2
e2e_dir e2e
postfix_dirs
LOG_FILES=("$MILTER_LOG" "$PF_LOG")
stop_mta() { stop_postfix; }

# ---------------------------------------------------------------------------------------------
# Set-up: ports, NSD, milter-ingress, Postfix.

mapfile -t ports < <(free_ports 3)
SMTP_PORT=${ports[0]}
MILTER_PORT=${ports[1]:-}
SUB_PORT=${ports[2]:-}
[[ -n $MILTER_PORT && -n $SUB_PORT ]] || die "could not pick free ports"

start_nsd
say "NSD on 127.0.0.1:$DNS_PORT, milter on $MILTER_PORT, smtpd on $SMTP_PORT," \
    "submission (SASL) on $SUB_PORT, directory $T"

# write_conf PHASE: the milter's configuration.  Phase 1 (cases a-h): greylisting off and no
# DNSBL, so the iprev cases keep their meaning.  Phase 2 (cases j-q, loaded by SIGHUP): greylisting
# with a short delay and the DNSBL of tests/dns/dnsbl.test.zone.  In both, each 127.0.0.N persona
# is a greylisting network of its own.
GREY_DELAY=3
write_conf() {
    cat >"$CONF.new" <<EOF
# milter-ingress configuration for tests/e2e/run.sh, phase $1
$(milter_conf_common)
# The private Postfix's queue (cases t): postsuper and postqueue need its configuration directory.
held_release_command = postsuper -c $PF_CONF -H {queue_id}; postqueue -c $PF_CONF -i {queue_id}
held_reject_command = postsuper -c $PF_CONF -d {queue_id}
held_queue_command = postqueue -c $PF_CONF -j
held_show_command = postcat -c $PF_CONF -h -b -q {queue_id}
EOF
    if [[ $1 == 1 ]]; then
        # spf_fail_action = log: an SPF fail reaches DMARC, where an aligned DKIM pass rescues it
        # (case v5); quarantine.e2e.test's failures are held rather than marked (case v2).
        cat >>"$CONF.new" <<EOF
greylist = no
spf_fail_action = log
dmarc_domain_actions = quarantine.e2e.test:hold
EOF
    else
        # autoallow_after = 1: a network's deliveries count at most once an hour
        # (GREYLIST_AUTOALLOW_SPACING in lib/greylist.h), so 2 could not be reached in a test run.
        cat >>"$CONF.new" <<EOF
greylist = yes
greylist_delay = ${GREY_DELAY}s
autoallow_after = 1
dnsbl_zones = dnsbl.test:127.0.0.2-127.0.0.11
EOF
    fi
    mv -f -- "$CONF.new" "$CONF"
}
write_conf 1

start_milter

# The maildir belongs to the virtual delivery agent's user.
chown postfix "$PF_DATA"
chown nobody:nogroup "$MAIL_DIR"

# SASL for the submission listener: a Cyrus sasldb with one account, read by smtpd (which runs as
# postfix) through the auxprop plugin.  Debian's Postfix reads the application file
# sasl/smtpd.conf from its configuration directory; without it AUTH fails with 454.  The login is
# alice@example.test (cases s), bob@example.test (the throttle and suspension cases t, u).
SASL_DB=$T/sasldb2
mkdir -p "$PF_CONF/sasl"
sasl_setup "$SASL_DB" "$PF_CONF/sasl/smtpd.conf"
chown postfix "$SASL_DB"

{
    echo "# Private Postfix instance for tests/e2e/run.sh."
    postfix_main_cf "inet:127.0.0.1:$MILTER_PORT"
    postfix_sasl_main_cf
} >"$PF_CONF/main.cf"

# No chroot anywhere: the queue directory is ours and holds no copy of /etc.
postfix_master_cf >"$PF_CONF/master.cf"

postfix_start "$SMTP_PORT" "$SUB_PORT"
SETUP_DONE=1

# ---------------------------------------------------------------------------------------------
# Helpers for the cases.

# accepted_pm CASE LABEL: the transaction CASE (to postmaster@) was accepted at RCPT and at the
# end of DATA, and delivered.
accepted_pm() {
    local r r2
    r=$(reply "$1" "RCPT TO")
    r2=$(reply "$1" .)
    if [[ $r == 250* && $r2 == 250* ]] && delivered "$1" >/dev/null; then
        ok "$2 ($r2)"
    else
        not_ok "$2" "$(transcript "$1")"
    fi
}

# check_before CASE IP HELO RCPT: `ingressctl check` on the transaction CASE is about to send (the
# sender is FROM), asked before it is sent; check_agrees CASE CMD then compares its answer with
# Postfix's reply to CMD ("RCPT TO" or "." for the end of DATA): 250 with exit 0, or a refusal
# with exit 1 and the same SMTP code and enhanced code.
declare -A CHECK_RC CHECK_OUT
check_before() {
    ctl check --ip "$2" --helo "$3" --from "$FROM" --rcpt "$4"
    CHECK_RC[$1]=$CTL_RC
    CHECK_OUT[$1]=$CTL_OUT
}
check_agrees() {
    local r told
    r=$(reply "$1" "$2")
    told=$(sed -n 's/^  the sender would be told: \([0-9]\{3\} [0-9.]*\) .*/\1/p' \
        <<<"${CHECK_OUT[$1]}" | head -n 1)
    if [[ ($r == 250* && ${CHECK_RC[$1]} -eq 0) ||
        ($r != 250* && -n $told && $r == "$told "* && ${CHECK_RC[$1]} -eq 1) ]]; then
        ok "$1: ingressctl check answered what Postfix replied (${told:-250, exit 0})"
    else
        not_ok "$1: ingressctl check answered what Postfix replied to $2" "Postfix: $r" \
            "check (exit ${CHECK_RC[$1]}):" "${CHECK_OUT[$1]}"
    fi
}

# What our Authentication-Results says about a message from 127.0.0.2 HELO good.example.test,
# MAIL FROM sender@e2e.test, without a DKIM signature.
AR_ID='mx.test.example'
AR_IPREV='iprev=pass policy.iprev=127.0.0.2 (good.example.test)'
AR_SPF='spf=pass smtp.mailfrom=e2e.test'
AR_HELO='spf=none smtp.helo=good.example.test'
AR_DKIM='dkim=none'
REJECT_PREFIX='550 5.7.25'

# ---------------------------------------------------------------------------------------------
# a. A good client is accepted and its mail gets our Authentication-Results.

check_before a 127.0.0.2 good.example.test user@example.net
smtp a 127.0.0.2 good.example.test user@example.net
check_agrees a .
r=$(reply a .)
QID_A=$(sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' <<<"$r")
if [[ $r == 250* && -n $QID_A ]]; then
    ok "a: 127.0.0.2 HELO good.example.test is accepted at end of DATA ($r)"
else
    not_ok "a: 127.0.0.2 HELO good.example.test is accepted at end of DATA" "$(transcript a)"
fi
if f=$(delivered a); then
    h=$(headers "$f")
    ar=$(our_ar "$h")
    if [[ $(grep -c . <<<"$ar") -eq 1 ]] &&
        ar_has "$ar" "$AR_ID" "$AR_IPREV" "$AR_SPF" "$AR_HELO" "$AR_DKIM"; then
        ok "a: our Authentication-Results has '$AR_IPREV', '$AR_SPF', '$AR_HELO', '$AR_DKIM'"
    else
        not_ok "a: our Authentication-Results has iprev=pass, spf=pass (mailfrom, helo), dkim" \
            "headers:" "$h"
    fi
    first_ar=$(grep -i -m1 '^Authentication-Results:' <<<"$h" || true)
    if [[ -n $ar && $first_ar == "$ar" ]]; then
        ok "a: our Authentication-Results is the first one"
    else
        not_ok "a: our Authentication-Results is the first one" "first: $first_ar"
    fi
else
    not_ok "a: our Authentication-Results" "no message with X-E2E-Case: a in $MAIL_DIR"
fi

# ---------------------------------------------------------------------------------------------
# b. A forged Authentication-Results claiming our authserv-id is removed, another id's is kept.

FORGED='Authentication-Results: mx.test.example; iprev=pass policy.iprev=192.0.2.66 (forged.example)'
OTHER='Authentication-Results: other.example; spf=pass smtp.mailfrom=example.org'
smtp b 127.0.0.2 good.example.test user@example.net --add-header "$FORGED" --add-header "$OTHER"
r=$(reply b .)
if [[ $r == 250* ]]; then
    ok "b: the message with forged headers is accepted ($r)"
else
    not_ok "b: the message with forged headers is accepted" "$(transcript b)"
fi
if f=$(delivered b); then
    h=$(headers "$f")
    ar=$(our_ar "$h")
    ours=$(grep -c . <<<"$ar" || true)
    if [[ $ours -eq 1 ]] && ar_has "$ar" "$AR_IPREV" "$AR_SPF"; then
        ok "b: exactly one Authentication-Results with our id, and it is ours"
    else
        not_ok "b: exactly one Authentication-Results with our id, and it is ours" \
            "found $ours; headers:" "$h"
    fi
    if grep -qxF -- "$OTHER" <<<"$h"; then
        ok "b: the Authentication-Results of other.example is kept"
    else
        not_ok "b: the Authentication-Results of other.example is kept" "headers:" "$h"
    fi
else
    not_ok "b: forged Authentication-Results removed" "no message with X-E2E-Case: b in $MAIL_DIR"
fi

# ---------------------------------------------------------------------------------------------
# c. No PTR: rejected at RCPT with 5.7.25, a reference and the help text.

check_before c 127.0.0.4 nohost.example.test user@example.net
smtp c 127.0.0.4 nohost.example.test user@example.net
check_agrees c "RCPT TO"
r=$(reply c "RCPT TO")
REF_C=$(sed -n 's/.*(ref \([^)]*\)).*/\1/p' <<<"$r")
if [[ $r == "$REJECT_PREFIX"* ]]; then
    ok "c: 127.0.0.4 (no PTR) is rejected at RCPT with $REJECT_PREFIX ($r)"
else
    not_ok "c: 127.0.0.4 (no PTR) is rejected at RCPT with $REJECT_PREFIX" "$(transcript c)"
fi
if [[ -n $REF_C && $r == *"https://help.example/iprev"* ]]; then
    ok "c: the reply carries a reference ($REF_C) and the help text"
else
    not_ok "c: the reply carries a reference and the help text" "reply: $r"
fi

# ---------------------------------------------------------------------------------------------
# d. postmaster@ is exempt (RFC 5321 4.5.1).

smtp d 127.0.0.4 nohost.example.test postmaster@example.net
r=$(reply d "RCPT TO")
r2=$(reply d .)
if [[ $r == 250* && $r2 == 250* ]]; then
    ok "d: 127.0.0.4 to postmaster@ is accepted ($r2)"
else
    not_ok "d: 127.0.0.4 to postmaster@ is accepted" "$(transcript d)"
fi
if delivered d >/dev/null; then
    ok "d: the mail to postmaster@ is delivered"
else
    not_ok "d: the mail to postmaster@ is delivered" "no message with X-E2E-Case: d in $MAIL_DIR"
fi

# ---------------------------------------------------------------------------------------------
# e. PTR not confirmed; HELO resolving to the client; HELO resolving elsewhere.

smtp e1 127.0.0.3 mismatch.example.test user@example.net
r=$(reply e1 "RCPT TO")
if [[ $r == "$REJECT_PREFIX"* ]]; then
    ok "e: 127.0.0.3 (PTR not forward-confirmed) is rejected with $REJECT_PREFIX"
else
    not_ok "e: 127.0.0.3 (PTR not forward-confirmed) is rejected with $REJECT_PREFIX" \
        "$(transcript e1)"
fi

smtp e2 127.0.0.6 helo-other.example.test user@example.net
r=$(reply e2 .)
if [[ $r == 250* ]]; then
    ok "e: 127.0.0.6 HELO helo-other.example.test (resolves to the client) is accepted"
else
    not_ok "e: 127.0.0.6 HELO helo-other.example.test (resolves to the client) is accepted" \
        "$(transcript e2)"
fi

smtp e3 127.0.0.6 wrong.example.test user@example.net
r=$(reply e3 "RCPT TO")
if [[ $r == "$REJECT_PREFIX"* ]]; then
    ok "e: 127.0.0.6 HELO wrong.example.test (resolves elsewhere) is rejected with $REJECT_PREFIX"
else
    not_ok "e: 127.0.0.6 HELO wrong.example.test (resolves elsewhere) is rejected" \
        "$(transcript e3)"
fi

# ---------------------------------------------------------------------------------------------
# e2. Hostile HELO: 1,000 characters.  A defined reply (iprev_fail, the HELO is not a host name),
# and the milter stays up.

LONG_HELO=$(printf 'a%.0s' {1..1000})
smtp e2 127.0.0.2 "$LONG_HELO" user@example.net
r=$(reply e2 "RCPT TO")
if [[ $r == "$REJECT_PREFIX"* ]] && alive "$MILTER_PID"; then
    ok "e2: a 1000-character HELO gets $REJECT_PREFIX and the milter stays up"
else
    not_ok "e2: a 1000-character HELO gets $REJECT_PREFIX and the milter stays up" \
        "$(transcript e2)"
fi

# ---------------------------------------------------------------------------------------------
# f. ingressctl why, by IP, queue id and reference.

sleep 0.5 # the decision log is written in batches every 200 ms (README, "Decision log")

ctl why 127.0.0.4
if [[ $CTL_RC -eq 0 ]] && grep -qi 'iprev' <<<"$CTL_OUT" &&
    grep -qF "$REJECT_PREFIX" <<<"$CTL_OUT" && grep -qi 'no PTR' <<<"$CTL_OUT"; then
    ok "f: ingressctl why 127.0.0.4 names iprev, $REJECT_PREFIX and the reason (no PTR)"
else
    not_ok "f: ingressctl why 127.0.0.4 names iprev, $REJECT_PREFIX and the reason (no PTR)" \
        "exit $CTL_RC; output:" "$CTL_OUT"
fi

if [[ -n $QID_A ]]; then
    ctl why "$QID_A"
    if [[ $CTL_RC -eq 0 ]] && grep -qiE 'accept|pass' <<<"$CTL_OUT"; then
        ok "f: ingressctl why $QID_A (case a's queue id) shows the accept/pass"
    else
        not_ok "f: ingressctl why QUEUEID shows the accept/pass" "exit $CTL_RC; output:" \
            "$CTL_OUT"
    fi
else
    not_ok "f: ingressctl why QUEUEID shows the accept/pass" "no queue id from case a"
fi

if [[ -n $REF_C ]]; then
    ctl why "$REF_C"
    if [[ $CTL_RC -eq 0 ]] && grep -qF '127.0.0.4' <<<"$CTL_OUT" &&
        grep -qi 'iprev' <<<"$CTL_OUT"; then
        ok "f: ingressctl why $REF_C (case c's reference) finds the rejection"
    else
        not_ok "f: ingressctl why REF finds the rejection" "exit $CTL_RC; output:" "$CTL_OUT"
    fi
else
    not_ok "f: ingressctl why REF finds the rejection" "no reference in case c's reply"
fi

ctl why 127.0.0.250
if [[ $CTL_RC -eq 1 ]]; then
    ok "f: ingressctl why 127.0.0.250 (never seen) exits 1"
else
    not_ok "f: ingressctl why 127.0.0.250 (never seen) exits 1" "exit $CTL_RC; output:" \
        "$CTL_OUT"
fi

# ---------------------------------------------------------------------------------------------
# v. DMARC at the end of DATA (records in tests/dns/e2e.test.zone: e2e.test p=none sp=quarantine,
# reject.e2e.test p=reject, quarantine.e2e.test p=quarantine).  The mailing list
# lists.example.test gets SPF pass for every persona but does not align with e2e.test.

# dmarc_signed FILE FROM CASE [altered]: a message From FROM signed by e2e.test (selector e2e,
# tests/dkim/keys/rsa2048.pem), into FILE; "altered" changes the body after signing.
dmarc_signed() {
    "$PYTHON" - "$SRC_DIR/tests/dkim/keys/rsa2048.pem" "$@" <<'EOF'
import sys
import dkim
key_file, out, sender, case = sys.argv[1:5]
with open(key_file, "rb") as f:
    key = f.read()
msg = (b"From: CEO <" + sender.encode() + b">\r\n"
       b"To: user@example.net\r\n"
       b"Subject: e2e DMARC case " + case.encode() + b"\r\n"
       b"Date: Mon, 23 Nov 2026 09:00:00 +0000\r\n"
       b"Message-ID: <" + case.encode() + b"@e2e.test>\r\n"
       b"X-E2E-Case: " + case.encode() + b"\r\n"
       b"\r\n"
       b"Please pay the attached invoice today.\r\n")
sig = dkim.sign(msg, b"e2e", b"e2e.test", key, canonicalize=(b"relaxed", b"relaxed"),
                include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
if len(sys.argv) > 5:
    msg = msg.replace(b"today", b"now, to account 666")
with open(out, "wb") as f:
    f.write(sig + msg)
EOF
}

# v1. p=reject spoofed through the list: DKIM of e2e.test broken by a changed body, SPF passes
# for an unaligned domain: 550 5.7.1 naming DMARC and the domain; `why` says which identity
# failed how.
FROM=news@lists.example.test
if dmarc_signed "$T/v1.eml" ceo@reject.e2e.test v1 altered; then
    smtp_file v1 127.0.0.2 good.example.test user@example.net "$T/v1.eml"
    r=$(reply v1 .)
    if [[ $r == "550 5.7.1"* && $r == *"DMARC policy of reject.e2e.test"* &&
        $r == *"https://help.example/dmarc"* ]]; then
        ok "v1: a p=reject From (reject.e2e.test) that nothing aligned authenticates: 550 5.7.1 ($r)"
    else
        not_ok "v1: a p=reject From that nothing aligned authenticates gets 550 5.7.1" \
            "$(transcript v1)"
    fi
    why_has v1 news@lists.example.test dmarc "550 5.7.1"
    V1_WHY="the From domain reject.e2e.test publishes p=reject; SPF passed for lists.example.test,"
    V1_WHY="$V1_WHY which does not align; DKIM failed for e2e.test (body hash did not verify"
    V1_WHY="$V1_WHY (body changed))"
    if grep -qF "$V1_WHY" <<<"$CTL_OUT"; then
        ok "v1: ingressctl why says p=reject, SPF passed unaligned, DKIM failed (body changed)"
    else
        not_ok "v1: ingressctl why explains the DMARC failure" "$CTL_OUT"
    fi
else
    not_ok "v1: signing the message with $PYTHON and python3-dkim"
fi

# v2. p=quarantine, held by dmarc_domain_actions: accepted into Postfix's hold queue.
smtp v2 127.0.0.2 good.example.test user@example.net --header "From: x@quarantine.e2e.test"
r=$(reply v2 .)
QID_V2=$(sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' <<<"$r")
queue=$(postqueue -c "$PF_CONF" -j 2>/dev/null || true)
if [[ $r == 250* && -n $QID_V2 ]] &&
    grep -F "\"$QID_V2\"" <<<"$queue" | grep -qF '"queue_name": "hold"'; then
    ok "v2: a p=quarantine failure is held (dmarc_domain_actions = quarantine.e2e.test:hold) ($r)"
else
    not_ok "v2: a p=quarantine failure is held in Postfix's hold queue" "$(transcript v2)" \
        "postqueue -j: $queue"
fi

# v3. A subdomain without a record of its own gets e2e.test's sp=quarantine; the default
# dmarc_quarantine_action delivers it with a header users' filters can act on.
V3_RESULT="fail (p=quarantine dis=quarantine) header.from=sub.e2e.test"
smtp v3 127.0.0.2 good.example.test user@example.net --header "From: x@sub.e2e.test"
if f=$(delivered v3); then
    h=$(headers "$f")
    if ar_has "$(our_ar "$h")" "dmarc=$V3_RESULT" && grep -qxF "X-Ingress-DMARC: $V3_RESULT" <<<"$h"
    then
        ok "v3: sub.e2e.test falls under sp=quarantine: delivered with X-Ingress-DMARC, dmarc=fail"
    else
        not_ok "v3: sp=quarantine gives X-Ingress-DMARC and dmarc=fail" "headers:" "$h"
    fi
else
    not_ok "v3: the sp=quarantine failure is delivered" "$(transcript v3)"
fi

# v4. p=none: delivered with dmarc=fail; an X-Ingress-DMARC the sender wrote is removed.
smtp v4 127.0.0.2 good.example.test user@example.net --header "From: x@e2e.test" \
    --add-header "X-Ingress-DMARC: pass (forged)"
if f=$(delivered v4); then
    h=$(headers "$f")
    if ar_has "$(our_ar "$h")" "dmarc=fail (p=none dis=none) header.from=e2e.test" &&
        ! grep -qi '^X-Ingress-DMARC:' <<<"$h"; then
        ok "v4: p=none is delivered with dmarc=fail, the forged X-Ingress-DMARC removed"
    else
        not_ok "v4: p=none is delivered with dmarc=fail, no X-Ingress-DMARC" "headers:" "$h"
    fi
else
    not_ok "v4: the p=none failure is delivered" "$(transcript v4)"
fi

# v5. A forwarded message: SPF fails (fail.e2e.test allows only 192.0.2.1), DKIM of e2e.test
# verifies and aligns with reject.e2e.test: DMARC pass, delivered.
FROM=sender@fail.e2e.test
if dmarc_signed "$T/v5.eml" ceo@reject.e2e.test v5; then
    smtp_file v5 127.0.0.2 good.example.test user@example.net "$T/v5.eml"
    if f=$(delivered v5); then
        h=$(headers "$f")
        if ar_has "$(our_ar "$h")" "spf=fail smtp.mailfrom=fail.e2e.test" \
            "dkim=pass header.d=e2e.test" \
            "dmarc=pass (p=reject dis=none) header.from=reject.e2e.test"; then
            ok "v5: an aligned DKIM pass over an SPF fail passes DMARC (p=reject): delivered"
        else
            not_ok "v5: an aligned DKIM pass over an SPF fail passes DMARC" "headers:" "$h"
        fi
    else
        not_ok "v5: an aligned DKIM pass over an SPF fail is delivered" "$(transcript v5)"
    fi
else
    not_ok "v5: signing the message with $PYTHON and python3-dkim"
fi
FROM=sender@e2e.test

# v7. The DMARC aggregate report (RFC 7489 Appendix C) of the cases above, from `ingressctl dmarc
# report`: valid against the Appendix C schema, and its records and counts those of the messages
# sent: reject.e2e.test got v1 (rejected) and v5 (passed); e2e.test's report holds v3, whose From
# sub.e2e.test has no record of its own.  The milter writes its counts after a round of its
# decision writer (200 ms): tried for up to 3 s.
# dmarc_report DOMAIN FILE: the report on FILE, its stderr on FILE.err; the exit status.
dmarc_report() {
    "$CTL_BIN" -c "$CONF" dmarc report --since "$(date -u -d yesterday +%F)" --domain "$1" \
        --org-name "e2e receiver" --email postmaster@e2e.test >"$2" 2>"$2.err"
}
# dmarc_records FILE: the policy, then one line per record, its fields in a fixed order.
dmarc_records() {
    "$PYTHON" - "$1" <<'EOF'
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
pp = root.find("policy_published")
print("policy", *(pp.findtext(k) for k in ("domain", "p", "sp", "pct", "adkim", "aspf")))
for r in root.iter("record"):
    row, pe, ids = r.find("row"), r.find("row/policy_evaluated"), r.find("identifiers")
    dkim = ",".join("%s/%s/%s" % (d.findtext("domain"), d.findtext("selector"), d.findtext("result"))
                    for d in r.findall("auth_results/dkim"))
    spf = r.find("auth_results/spf")
    print(row.findtext("source_ip"), row.findtext("count"), pe.findtext("disposition"),
          "dkim=" + pe.findtext("dkim"), "spf=" + pe.findtext("spf"),
          ids.findtext("envelope_from"), ids.findtext("header_from"), dkim,
          "%s/%s/%s" % (spf.findtext("domain"), spf.findtext("scope"), spf.findtext("result")))
EOF
}
V7_WANT="policy reject.e2e.test reject reject 100 r r
127.0.0.2 1 none dkim=pass spf=fail fail.e2e.test reject.e2e.test e2e.test/e2e/pass fail.e2e.test/mfrom/fail
127.0.0.2 1 reject dkim=fail spf=fail lists.example.test reject.e2e.test e2e.test/e2e/fail lists.example.test/mfrom/pass"
for ((i = 0; i < 30; i++)); do
    rc=0
    dmarc_report reject.e2e.test "$T/dmarc-reject.xml" || rc=$?
    got=$(dmarc_records "$T/dmarc-reject.xml" 2>&1 | { read -r p; echo "$p"; sort; } || true)
    [[ $rc -eq 0 && $got == "$V7_WANT" ]] && break
    sleep 0.1
done
if [[ $rc -eq 0 ]] && xmllint --noout --schema "$SRC_DIR/tests/dmarc/rfc7489-appendix-c.xsd" \
    "$T/dmarc-reject.xml" 2>"$T/xmllint.err"; then
    ok "v7: ingressctl dmarc report reject.e2e.test is valid against RFC 7489 Appendix C"
else
    not_ok "v7: the DMARC report is valid against RFC 7489 Appendix C" "exit $rc" \
        "$(cat "$T/dmarc-reject.xml.err" "$T/xmllint.err" 2>/dev/null)"
fi
if [[ $got == "$V7_WANT" ]]; then
    ok "v7: reject.e2e.test's report has v1 (rejected) and v5 (passed), one message each"
else
    not_ok "v7: reject.e2e.test's report has v1 and v5, one message each" "want:" "$V7_WANT" \
        "got:" "$got"
fi
rc=0
dmarc_report e2e.test "$T/dmarc-e2e.xml" || rc=$?
v7_sub="127.0.0.2 1 quarantine dkim=fail spf=fail lists.example.test sub.e2e.test"
v7_sub="$v7_sub  lists.example.test/mfrom/pass"
if [[ $rc -eq 0 ]] && dmarc_records "$T/dmarc-e2e.xml" | grep -qxF "$v7_sub"; then
    ok "v7: e2e.test's report counts v3 (From sub.e2e.test, sp=quarantine) under e2e.test"
else
    not_ok "v7: e2e.test's report counts v3 under e2e.test" "exit $rc" \
        "$(dmarc_records "$T/dmarc-e2e.xml" 2>&1)"
fi
rc=0
dmarc_report late.e2e.test "$T/dmarc-late.xml" || rc=$?
if [[ $rc -eq 1 && ! -s $T/dmarc-late.xml ]] &&
    grep -qF "no DMARC data for late.e2e.test" "$T/dmarc-late.xml.err"; then
    ok "v7: a domain without data gets exit 1 and no report"
else
    not_ok "v7: a domain without data gets exit 1 and no report" "exit $rc" \
        "$(cat "$T/dmarc-late.xml" "$T/dmarc-late.xml.err")"
fi

# ---------------------------------------------------------------------------------------------
# g. DNS down: a client never looked up before gets 451 4.7.25 at RCPT.

stop_nsd

# v6. DNS down for DMARC: 127.0.0.2, its HELO and lists.example.test's SPF are cached since the
# cases above, _dmarc.late.e2e.test was never asked: dmarc=temperror, and the default
# dmarc_temperror_action defers (451 4.7.1), never a rejection.
FROM=news@lists.example.test
smtp v6 127.0.0.2 good.example.test user@example.net --header "From: x@late.e2e.test"
FROM=sender@e2e.test
r=$(reply v6 .)
if [[ $r == "451 4.7.1"* && $r == *"DMARC policy of late.e2e.test could not be looked up"* ]]; then
    ok "v6: with NSD stopped the DMARC record lookup fails: 451 4.7.1 at end of DATA ($r)"
else
    not_ok "v6: with NSD stopped the DMARC record lookup fails: 451 4.7.1" "$(transcript v6)"
fi
why_has v6 news@lists.example.test dmarc "451 4.7.1"
if grep -qF "dmarc=temperror for late.e2e.test" <<<"$CTL_OUT"; then
    ok "v6: ingressctl why says dmarc=temperror"
else
    not_ok "v6: ingressctl why says dmarc=temperror" "$CTL_OUT"
fi
case_dns_down g

# ---------------------------------------------------------------------------------------------
# g2. DNS down, SPF: 127.0.0.2 HELO good.example.test, whose PTR and HELO answers are cached since
# cases a and b, with a sender domain never looked up before: SPF temperror, 451 4.7.24 at RCPT.

FROM=sender@late.e2e.test
smtp g2 127.0.0.2 good.example.test user@example.net
FROM=sender@e2e.test
r=$(reply g2 "RCPT TO")
if [[ $r == "451 4.7.24"* && $r == *late.e2e.test* ]]; then
    ok "g2: with NSD stopped, sender@late.e2e.test from 127.0.0.2 gets 451 4.7.24 at RCPT ($r)"
else
    not_ok "g2: with NSD stopped, sender@late.e2e.test from 127.0.0.2 gets 451 4.7.24 at RCPT" \
        "$(transcript g2)"
fi
why_has g2 sender@late.e2e.test spf "451 4.7.24"

# ---------------------------------------------------------------------------------------------
# h. Log lines: queue id (or NOQUEUE) first, then key=value pairs.

# The message part of each line, without the "TIMESTAMP LEVEL: " prefix of -f logging.
log_messages() {
    sed -E 's/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z [a-z]+: //' "$MILTER_LOG"
}
# (Pipelines ending in grep -q could fail on SIGPIPE under pipefail: grep a variable instead.)
msgs=$(log_messages)
qid_lines=$(grep -E "^${QID_A:-no-queue-id}[:[:space:]]" <<<"$msgs" || true)
noqueue_lines=$(grep -E '^NOQUEUE[:[:space:]]' <<<"$msgs" || true)
# An accepted message is logged as the combined decision (check=policy action=accept) with the
# iprev result in its detail; a check's own line (check=iprev) would do as well.
if [[ -n $QID_A ]] && grep -qE 'check=iprev|iprev=pass' <<<"$qid_lines"; then
    ok "h: the milter log has a line starting with $QID_A giving the iprev result"
else
    not_ok "h: the milter log has a line starting with case a's queue id giving the iprev result" \
        "queue id: ${QID_A:-none}" "$(grep -F -- "${QID_A:-no queue id}" "$MILTER_LOG" || true)"
fi
if [[ $(grep 'check=iprev' <<<"$noqueue_lines" | grep -c '127\.0\.0\.4') -gt 0 ]]; then
    ok "h: the milter log has a NOQUEUE line with check=iprev for 127.0.0.4"
else
    not_ok "h: the milter log has a NOQUEUE line with check=iprev for 127.0.0.4" \
        "$(grep -F 'NOQUEUE' "$MILTER_LOG" | tail -n 5 || true)"
fi

# ---------------------------------------------------------------------------------------------
# Phase 2.  NSD starts again (on a new port) and SIGHUP loads a configuration with that port,
# greylisting (delay GREY_DELAY seconds, autoallow_after = 1) and the DNSBL dnsbl.test.  The
# reload also starts an empty DNS cache.  127.0.0.2 is listed on dnsbl.test (RFC 5782 test entry):
# phase 2 does not use it.

start_nsd
say "NSD again on 127.0.0.1:$DNS_PORT; reloading milter-ingress with greylisting on"
write_conf 2
reloads=$(grep -c 'configuration reloaded' "$MILTER_LOG" || true)
kill -HUP "$MILTER_PID"
for ((i = 0; i < 100; i++)); do
    [[ $(grep -c 'configuration reloaded' "$MILTER_LOG" || true) -gt $reloads ]] && break
    sleep 0.1
done
if [[ $(grep -c 'configuration reloaded' "$MILTER_LOG" || true) -gt $reloads ]] &&
    alive "$MILTER_PID"; then
    ok "reload: SIGHUP reloads the configuration and the milter stays up"
else
    not_ok "reload: SIGHUP reloads the configuration and the milter stays up" \
        "$(grep -iE 'reload|SIGHUP' "$MILTER_LOG" | tail -n 5 || true)"
fi

# ---------------------------------------------------------------------------------------------
# j. SPF fail: 127.0.0.6 (PTR mx.example.test, iprev pass) for sender@fail.e2e.test, whose
# record allows only 192.0.2.1: 550 5.7.23 at RCPT; postmaster@ still gets the mail.

FROM=sender@fail.e2e.test
check_before j 127.0.0.6 mx.example.test user@example.net
smtp j 127.0.0.6 mx.example.test user@example.net
check_agrees j "RCPT TO"
smtp j-pm 127.0.0.6 mx.example.test postmaster@example.net
FROM=sender@e2e.test
r=$(reply j "RCPT TO")
if [[ $r == "550 5.7.23"* && $r == *fail.e2e.test* && $r == *"https://help.example/spf"* ]]; then
    ok "j: SPF fail (sender@fail.e2e.test from 127.0.0.6) gets 550 5.7.23 at RCPT ($r)"
else
    not_ok "j: SPF fail (sender@fail.e2e.test from 127.0.0.6) gets 550 5.7.23 at RCPT" \
        "$(transcript j)"
fi
accepted_pm j-pm "j: postmaster@ gets the SPF-failing mail"
why_has j 127.0.0.6 spf "550 5.7.23"

# ---------------------------------------------------------------------------------------------
# k. An unknown sender (SPF neutral) from 127.0.0.9 (alias.example.test): greylisted at RCPT
# (the retry, the auto-allowed network: below, after the delay); postmaster@ is not greylisted.

FROM=someone@neutral.e2e.test
check_before k 127.0.0.9 alias.example.test user@example.net
smtp k 127.0.0.9 alias.example.test user@example.net
check_agrees k "RCPT TO"
smtp k-pm 127.0.0.9 alias.example.test postmaster@example.net
FROM=sender@e2e.test
GREY_START=$SECONDS
r=$(reply k "RCPT TO")
secs=$(sed -n 's/.*retry in \([0-9][0-9]*\) seconds.*/\1/p' <<<"$r")
if [[ $r == "451 4.7.1"* && -n $secs && $secs -ge 1 && $secs -le $GREY_DELAY ]]; then
    ok "k: SPF neutral from 127.0.0.9 is greylisted at RCPT, retry in $secs seconds ($r)"
else
    not_ok "k: SPF neutral from 127.0.0.9 is greylisted at RCPT with 451 4.7.1, retry in N seconds" \
        "$(transcript k)"
fi
accepted_pm k-pm "k: postmaster@ is not greylisted"
why_has k 127.0.0.9 greylist "451 4.7.1"

# ---------------------------------------------------------------------------------------------
# l. SPF pass without DKIM from a new client, 127.0.0.11: RCPT accepted, greylisted at the end of
# DATA (the reply to the final ".").  Its own sender: the signed message of case m confirms the
# triplet of sender@e2e.test also on the SPF domain, whatever the network.

FROM=nodkim@e2e.test
check_before l 127.0.0.11 good11.example.test user@example.net
smtp l 127.0.0.11 good11.example.test user@example.net
check_agrees l .
FROM=sender@e2e.test
GREY_START=$SECONDS
r=$(reply l "RCPT TO")
r2=$(reply l .)
if [[ $r == 250* && $r2 == "451 4.7.1"* && $r2 == *"retry in"* ]]; then
    ok "l: SPF pass without DKIM from 127.0.0.11 passes RCPT and is greylisted at end of DATA ($r2)"
else
    not_ok "l: SPF pass without DKIM from 127.0.0.11 is greylisted at end of DATA, not at RCPT" \
        "$(transcript l)"
fi
why_has l nodkim@e2e.test greylist "451 4.7.1"

# ---------------------------------------------------------------------------------------------
# m. SPF pass and a valid DKIM signature aligned with the MAIL FROM domain, from a client never
# seen (127.0.0.10): accepted at its first attempt; the delivered copy says dkim=pass.  Signed now
# with tests/dkim/keys/rsa2048.pem, published as e2e._domainkey.e2e.test.

SIGNED=$T/signed.eml
if "$PYTHON" - "$SRC_DIR/tests/dkim/keys/rsa2048.pem" "$SIGNED" <<'EOF'; then
import sys
import dkim
with open(sys.argv[1], "rb") as f:
    key = f.read()
msg = (b"From: Sender <sender@e2e.test>\r\n"
       b"To: user@example.net\r\n"
       b"Subject: e2e signed message\r\n"
       b"Date: Mon, 23 Nov 2026 09:00:00 +0000\r\n"
       b"Message-ID: <signed@e2e.test>\r\n"
       b"X-E2E-Case: m\r\n"
       b"\r\n"
       b"This message is signed by e2e.test.\r\n")
sig = dkim.sign(msg, b"e2e", b"e2e.test", key, canonicalize=(b"relaxed", b"relaxed"),
                include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
with open(sys.argv[2], "wb") as f:
    f.write(sig + msg)
EOF
    smtp_file m 127.0.0.10 dual.example.test user@example.net "$SIGNED"
    r=$(reply m "RCPT TO")
    r2=$(reply m .)
    if [[ $r == 250* && $r2 == 250* ]]; then
        ok "m: SPF pass + aligned DKIM from 127.0.0.10 (never seen) is accepted at once ($r2)"
    else
        not_ok "m: SPF pass + aligned DKIM from 127.0.0.10 (never seen) is accepted at once" \
            "$(transcript m)"
    fi
    if f=$(delivered m); then
        h=$(headers "$f")
        ar=$(our_ar "$h")
        if ar_has "$ar" "$AR_ID" "iprev=pass" "spf=pass smtp.mailfrom=e2e.test" \
            "dkim=pass header.d=e2e.test"; then
            ok "m: the delivered copy's Authentication-Results says dkim=pass header.d=e2e.test"
        else
            not_ok "m: the delivered copy's Authentication-Results says dkim=pass" "headers:" "$h"
        fi
    else
        not_ok "m: the signed message is delivered" "no message with X-E2E-Case: m in $MAIL_DIR"
    fi
else
    not_ok "m: signing the message with $PYTHON and python3-dkim"
fi

# ---------------------------------------------------------------------------------------------
# n. A blocked CIDR (127.0.0.12/30): 554 5.7.1 with the entry's public text, never its internal
# reason; postmaster@ still gets the mail; a /32 allow inside the block lets 127.0.0.12 through
# (no greylisting either).  The milter reloads its lists snapshot at most once per
# lists_reload_interval (1 s): wait a bit.  Every internal reason of this test holds the word
# INTERNAL, which no SMTP reply of the whole run may carry (checked before i).

ctl list add cidr 127.0.0.12/30 block --reason "e2e INTERNAL ticket 4711" \
    --public "e2e blocked range"
[[ $CTL_RC -eq 0 ]] || not_ok "n: ingressctl list add cidr 127.0.0.12/30 block" "$CTL_OUT"
sleep 1.5
smtp n 127.0.0.12 good12.example.test user@example.net
smtp n-pm 127.0.0.12 good12.example.test postmaster@example.net
r=$(reply n "RCPT TO")
if [[ $r == "554 5.7.1 Client [127.0.0.12] blocked by local policy: e2e blocked range"* &&
    $r == *"https://help.example/lists"* && $r != *INTERNAL* ]]; then
    ok "n: 127.0.0.12 in a blocked /30 gets 554 5.7.1 with the public text, not the reason ($r)"
else
    not_ok "n: 127.0.0.12 in a blocked /30 gets 554 5.7.1 with the public text, not the reason" \
        "$(transcript n)"
fi
accepted_pm n-pm "n: postmaster@ gets the blocked client's mail"
why_has n 127.0.0.12 lists "554 5.7.1"

ctl list add cidr 127.0.0.12/32 allow --reason "e2e allowed host"
[[ $CTL_RC -eq 0 ]] || not_ok "n: ingressctl list add cidr 127.0.0.12/32 allow" "$CTL_OUT"
sleep 1.5
smtp n-allow 127.0.0.12 good12.example.test user@example.net
r=$(reply n-allow "RCPT TO")
r2=$(reply n-allow .)
if [[ $r == 250* && $r2 == 250* ]] && delivered n-allow >/dev/null; then
    ok "n: with a /32 allow inside the blocked /30, 127.0.0.12 is accepted at once ($r2)"
else
    not_ok "n: with a /32 allow inside the blocked /30, 127.0.0.12 is accepted at once" \
        "$(transcript n-allow)"
fi

# ---------------------------------------------------------------------------------------------
# n2. A sender_domain block says the sender is refused, not the client: 550 5.7.1 with the reply
# table's text alone (no public text), and without its internal reason.

ctl list add sender_domain blocked.e2e.test block --reason "e2e INTERNAL ticket 4712"
[[ $CTL_RC -eq 0 ]] || not_ok "n2: ingressctl list add sender_domain blocked.e2e.test block" "$CTL_OUT"
sleep 1.5
FROM=someone@mail.blocked.e2e.test
smtp n2 127.0.0.2 good.example.test user@example.net
FROM=sender@e2e.test
r=$(reply n2 "RCPT TO")
if [[ $r == "550 5.7.1 Mail from domain blocked.e2e.test refused by local policy"* &&
    $r != *Client* && $r != *INTERNAL* ]]; then
    ok "n2: a sender_domain block refuses the sender with 550 5.7.1, not the client ($r)"
else
    not_ok "n2: a sender_domain block refuses the sender with 550 5.7.1, not the client" \
        "$(transcript n2)"
fi

# ---------------------------------------------------------------------------------------------
# w. greylist_exempt (postgrey's whitelist_clients brought over): 127.0.0.6 (mx.example.test) is
# greylisted for a new triplet; with a ptr_regex exemption a new triplet passes at once, and SPF
# still refuses its failing sender (every other check still runs).  Before p: p's auto-allow
# covers the whole test network.

FROM=someone@neutral.e2e.test
smtp w-before 127.0.0.6 mx.example.test w-before@example.net
r=$(reply w-before "RCPT TO")
if [[ $r == "451 4.7.1"* ]]; then
    ok "w: without an exemption 127.0.0.6 is greylisted ($r)"
else
    not_ok "w: without an exemption 127.0.0.6 is greylisted" "$(transcript w-before)"
fi
ctl list add ptr_regex '^mx\.example\.test$' greylist_exempt --reason "e2e INTERNAL postgrey"
[[ $CTL_RC -eq 0 ]] || not_ok "w: ingressctl list add ptr_regex greylist_exempt" "$CTL_OUT"
sleep 1.5
smtp w 127.0.0.6 mx.example.test w-after@example.net
r=$(reply w "RCPT TO")
r2=$(reply w .)
if [[ $r == 250* && $r2 == 250* ]] && delivered w >/dev/null; then
    ok "w: with a ptr_regex greylist_exempt entry a new triplet is accepted at once ($r2)"
else
    not_ok "w: with a ptr_regex greylist_exempt entry a new triplet is accepted at once" \
        "$(transcript w)"
fi
FROM=sender@fail.e2e.test
smtp w-spf 127.0.0.6 mx.example.test w-spf@example.net
FROM=sender@e2e.test
r=$(reply w-spf "RCPT TO")
if [[ $r == "550 5.7.23"* ]]; then
    ok "w: the exempt client's SPF-failing sender is still refused ($r)"
else
    not_ok "w: the exempt client's SPF-failing sender is still refused" "$(transcript w-spf)"
fi
ctl list del ptr_regex '^mx\.example\.test$'

# ---------------------------------------------------------------------------------------------
# o. A client on the DNSBL (127.0.0.20 on dnsbl.test, TXT "listed for testing"): 554 5.7.1 with
# the zone and its TXT; postmaster@ still gets the mail.

check_before o 127.0.0.20 twenty.example.test user@example.net
smtp o 127.0.0.20 twenty.example.test user@example.net
check_agrees o "RCPT TO"
smtp o-pm 127.0.0.20 twenty.example.test postmaster@example.net
r=$(reply o "RCPT TO")
if [[ $r == "554 5.7.1"* && $r == *dnsbl.test* && $r == *"listed for testing"* ]]; then
    ok "o: 127.0.0.20 listed on dnsbl.test gets 554 5.7.1 with the TXT ($r)"
else
    not_ok "o: 127.0.0.20 listed on dnsbl.test gets 554 5.7.1 with the TXT" "$(transcript o)"
fi
accepted_pm o-pm "o: postmaster@ gets the DNSBL-listed client's mail"
why_has o 127.0.0.20 dnsbl "554 5.7.1"

# ---------------------------------------------------------------------------------------------
# p. After the greylisting delay: the triplets of k and l pass on retry; 127.0.0.9's network,
# now with autoallow_after (1) delivery, takes a new sender and recipient at the first attempt.

while ((SECONDS < GREY_START + GREY_DELAY + 2)); do
    sleep 0.2
done

FROM=someone@neutral.e2e.test
smtp p-k 127.0.0.9 alias.example.test user@example.net
FROM=sender@e2e.test
r=$(reply p-k "RCPT TO")
r2=$(reply p-k .)
if [[ $r == 250* && $r2 == 250* ]] && delivered p-k >/dev/null; then
    ok "p: case k's triplet retried after the delay is accepted and delivered ($r2)"
else
    not_ok "p: case k's triplet retried after the delay is accepted and delivered" \
        "$(transcript p-k)"
fi

FROM=nodkim@e2e.test
smtp p-l 127.0.0.11 good11.example.test user@example.net
FROM=sender@e2e.test
r2=$(reply p-l .)
if [[ $r2 == 250* ]] && delivered p-l >/dev/null; then
    ok "p: case l's triplet retried after the delay is accepted at end of DATA ($r2)"
else
    not_ok "p: case l's triplet retried after the delay is accepted at end of DATA" \
        "$(transcript p-l)"
fi

FROM=newcomer@none.e2e.test
smtp p-auto 127.0.0.9 alias.example.test other@example.net
FROM=sender@e2e.test
r=$(reply p-auto "RCPT TO")
r2=$(reply p-auto .)
if [[ $r == 250* && $r2 == 250* ]] && delivered p-auto >/dev/null; then
    ok "p: 127.0.0.9 auto-allowed: a new sender (SPF none) and recipient pass at once ($r2)"
else
    not_ok "p: 127.0.0.9 auto-allowed: a new sender (SPF none) and recipient pass at once" \
        "$(transcript p-auto)"
fi

# ---------------------------------------------------------------------------------------------
# s. Submission: the second Postfix listener ($SUB_PORT) takes SASL AUTH PLAIN against the sasldb
# of the set-up; {auth_authen} is the login, alice@example.test.  An authenticated session skips
# iprev, SPF and greylisting, so 127.0.0.40 (no PTR) is fine; the account must own the MAIL FROM
# (553 5.7.1 at MAIL FROM otherwise) and every address of the one From header (553 5.7.1 as the
# reply to the final "." otherwise).  It owns its login and its aliases (ingressctl alias add).

# submit NAME MAIL_FROM [SWAKS_ARG...]: one authenticated transaction to user@example.net, like
# smtp above.
submit() {
    local name=$1 from=$2
    shift 2
    timeout 90 swaks --server "127.0.0.1:$SUB_PORT" --timeout 30 \
        --local-interface 127.0.0.40 --ehlo submit.example.test \
        --auth PLAIN --auth-user "$SASL_USER" --auth-password "$SASL_PASS" \
        --from "$from" --to user@example.net \
        --add-header "X-E2E-Case: $name" "$@" >"$SMTP_DIR/$name.txt" 2>&1 || true
}

case_unowned_sender s1

ctl alias add "$SASL_USER" sales@example.test
if [[ $CTL_RC -eq 0 ]]; then
    submit s2 sales@example.test
    r=$(reply s2 "MAIL FROM")
    r2=$(reply s2 .)
    if [[ $r == 250* && $r2 == 250* ]] && delivered s2 >/dev/null; then
        ok "s2: with the alias sales@example.test, $SASL_USER sends as it and it is delivered ($r2)"
    else
        not_ok "s2: with the alias sales@example.test, $SASL_USER sends as it and it is delivered" \
            "$(transcript s2)"
    fi
else
    not_ok "s2: ingressctl alias add $SASL_USER sales@example.test" "exit $CTL_RC; output:" \
        "$CTL_OUT"
fi

submit s3 "$SASL_USER" --header 'From: boss@example.test'
r=$(reply s3 "MAIL FROM")
r2=$(reply s3 .)
if [[ $r == 250* && $r2 == "553 5.7.1"* ]]; then
    ok "s3: a From header boss@example.test not owned by $SASL_USER gets 553 5.7.1 after DATA ($r2)"
else
    not_ok "s3: a From header not owned by the account gets 553 5.7.1 as the reply to the final ." \
        "$(transcript s3)"
fi

submit s4 "$SASL_USER"
r2=$(reply s4 .)
if [[ $r2 == 250* ]] && delivered s4 >/dev/null; then
    ok "s4: $SASL_USER sending as its own login is accepted and delivered ($r2)"
else
    not_ok "s4: $SASL_USER sending as its own login is accepted and delivered" "$(transcript s4)"
fi

# The null sender after login, and a message with two From headers (RFC 5322 3.6: exactly one).
submit s6 '<>'
r=$(reply s6 "MAIL FROM")
if [[ $r == "553 5.7.1"* ]]; then
    ok "s6: the null sender after login gets 553 5.7.1 at MAIL FROM ($r)"
else
    not_ok "s6: the null sender after login gets 553 5.7.1 at MAIL FROM" "$(transcript s6)"
fi

submit s7 "$SASL_USER" --add-header "From: $SASL_USER"
r2=$(reply s7 .)
if [[ $r2 == "550 5.6.0"* ]]; then
    ok "s7: two From headers (both owned) get 550 5.6.0 after DATA ($r2)"
else
    not_ok "s7: two From headers get 550 5.6.0 as the reply to the final ." "$(transcript s7)"
fi

# why matches a decision's queue id, reference, client IP, sender or recipient (not the account):
# by sender, alice@example.test finds case s3's rejection, other@example.test case s1's.
why_has s5 "$SASL_USER" sender "553 5.7.1"
why_has s5 other@example.test sender "553 5.7.1"
if grep -qF "authenticated as $SASL_USER" <<<"$CTL_OUT"; then
    ok "s5: ingressctl why other@example.test says the session was authenticated as $SASL_USER"
else
    not_ok "s5: ingressctl why other@example.test says authenticated as $SASL_USER" "$CTL_OUT"
fi

# ---------------------------------------------------------------------------------------------
# t. Submission throttle: bob@example.test may send 3 messages an hour
# (`ingressctl account limits`).  Two go through; the milter restarts; the third goes through and
# the fourth is held: it would pass if the restart had reset the counts.  The held messages are in
# Postfix's hold queue (postqueue -j), in `ingressctl held list` with the reason; `held release`
# delivers one, `held reject` deletes the other; `account unthrottle` lets the next through.

ctl account limits "$BOB" minute=0/0 hour=3/100
if [[ $CTL_RC -eq 0 ]] && grep -qE 'per hour +3 / 100' <<<"$CTL_OUT"; then
    ok "t0: ingressctl account limits sets bob's hourly limit to 3 messages"
else
    not_ok "t0: ingressctl account limits $BOB hour=3/100" "exit $CTL_RC; output:" "$CTL_OUT"
fi

submit_as "$BOB" "$BOB_PASS" t1 "$BOB"
submit_as "$BOB" "$BOB_PASS" t2 "$BOB"
# The counts live in memory and are written every 2 s and at exit: a restart keeps them.
stop_milter
start_milter
submit_as "$BOB" "$BOB_PASS" t3 "$BOB"
submit_as "$BOB" "$BOB_PASS" t4 "$BOB"
submit_as "$BOB" "$BOB_PASS" t5 "$BOB"
r1=$(reply t1 .) r2=$(reply t2 .) r3=$(reply t3 .) r4=$(reply t4 .) r5=$(reply t5 .)
QID_T4=$(queue_id t4)
QID_T5=$(queue_id t5)
if [[ $r1 == 250* && $r2 == 250* && $r3 == 250* ]] && delivered t3 >/dev/null; then
    ok "t1: messages 1-3 of the hour are delivered, across a restart of the milter"
else
    not_ok "t1: messages 1-3 of the hour are delivered" "$(transcript t1)" "$(transcript t3)"
fi
if [[ $r4 == 250* && -n $QID_T4 ]] && in_queue "$QID_T4" hold; then
    ok "t2: message 4 (over the limit, counted across the restart) is in Postfix's hold queue ($r4)"
else
    not_ok "t2: message 4 is accepted into Postfix's hold queue" "$(transcript t4)" \
        "postqueue -j: $(postqueue -c "$PF_CONF" -j 2>&1)"
fi
if [[ $r5 == 250* && -n $QID_T5 ]] && in_queue "$QID_T5" hold; then
    ok "t3: the throttled account's next message is held too ($r5)"
else
    not_ok "t3: the throttled account's next message is held too" "$(transcript t5)"
fi

check_held_listed t4 "$QID_T4" "1h window: 4 messages > limit 3" "$QID_T5"

ctl held release "$QID_T4"
if [[ $CTL_RC -eq 0 ]] && delivered t4 >/dev/null && ! in_queue "$QID_T4" hold; then
    ok "t5: ingressctl held release delivers the message to the mailbox"
else
    not_ok "t5: ingressctl held release delivers the message" "exit $CTL_RC; output:" "$CTL_OUT" \
        "postqueue -j: $(postqueue -c "$PF_CONF" -j 2>&1)"
fi

ctl held reject "$QID_T5" --reason "e2e: not the account holder's mail"
if [[ $CTL_RC -eq 0 ]] && ! in_queue "$QID_T5"; then
    ok "t6: ingressctl held reject deletes the message from Postfix's queue"
else
    not_ok "t6: ingressctl held reject deletes the message" "exit $CTL_RC; output:" "$CTL_OUT"
fi
check_held_rejected t7 "$QID_T5" "e2e: not the account holder's mail" t5

ctl account unthrottle "$BOB"
submit_as "$BOB" "$BOB_PASS" t8 "$BOB"
r=$(reply t8 .)
if [[ $CTL_RC -eq 0 && $r == 250* ]] && delivered t8 >/dev/null; then
    ok "t8: after ingressctl account unthrottle the next message is delivered ($r)"
else
    not_ok "t8: after account unthrottle the next message is delivered" "unthrottle: $CTL_OUT" \
        "$(transcript t8)"
fi

# ---------------------------------------------------------------------------------------------
# u. A suspended account gets 554 5.7.1 at MAIL FROM; resumed, it sends again.

ctl account suspend "$BOB" --reason "e2e: password leaked"
submit_as "$BOB" "$BOB_PASS" u1 "$BOB"
r=$(reply u1 "MAIL FROM")
if [[ $CTL_RC -eq 0 && $r == "554 5.7.1"* ]]; then
    ok "u1: a suspended account gets 554 5.7.1 at MAIL FROM ($r)"
else
    not_ok "u1: a suspended account gets 554 5.7.1 at MAIL FROM" "suspend: $CTL_OUT" \
        "$(transcript u1)"
fi
ctl account resume "$BOB"
submit_as "$BOB" "$BOB_PASS" u2 "$BOB"
r=$(reply u2 .)
if [[ $CTL_RC -eq 0 && $r == 250* ]] && delivered u2 >/dev/null; then
    ok "u2: resumed, the account's message is delivered ($r)"
else
    not_ok "u2: resumed, the account's message is delivered" "resume: $CTL_OUT" "$(transcript u2)"
fi

# ---------------------------------------------------------------------------------------------
# No internal reason reached any SMTP reply of the run: every list entry's --reason above holds
# INTERNAL, and no server line of any transaction does.

leaked=$(grep -lE '^(<-|<\*\*) .*INTERNAL' "$SMTP_DIR"/*.txt || true)
if [[ -z $leaked ]]; then
    ok "no SMTP reply of the run carries an entry's internal reason"
else
    not_ok "no SMTP reply of the run carries an entry's internal reason" "in: $leaked"
fi

# ---------------------------------------------------------------------------------------------
# i. SIGTERM ends the milter cleanly; sanitizer reports fail the run.

e2e_finish
