#!/usr/bin/env bash
# End-to-end test with Sendmail: a real NSD serving tests/dns/*.zone, milter-ingress in the
# foreground, and a private Sendmail 8.17 on loopback (Debian's packages unpacked beside Postfix by
# tests/e2e/sendmail-unpack.sh), wired with contrib/sendmail/milter-ingress.mc as the README gives
# it, driven by swaks from the 127.0.0.N personas (tests/dns/README.md).  Shares its helpers with
# the Postfix test (tests/e2e/lib.sh).  Everything started is stopped by its PID on exit.
#
# Cases: w the README gives the wiring tested here; g1 greylisted at the end of DATA (retried in
# g2 after the delay: accepted, delivered with our Authentication-Results, logged under Sendmail's
# queue id); c iprev reject; n a block entry from `ingressctl list add`; s authenticated
# submission (Sendmail AUTH against a Cyrus sasldb): an unowned sender refused, the own address
# delivered; t the throttle's hold, which is Sendmail's quarantine, listed by `ingressctl held
# list`, then released and rejected through the README's templates and
# contrib/sendmail/milter-ingress-held; d DNS down gives 451; i clean exit.
#
#   tests/e2e/sendmail.sh MILTER_BIN INGRESSCTL_BIN
#
# Prints one "ok - NAME" / "not ok - NAME" line per check and "N passed, M failed" at the end.
# Needs root (a mount namespace per sendmail run, Sendmail's queue), nsd, swaks, ss, unshare,
# saslpasswd2 and apt-get (the first run downloads Sendmail; later runs use the unpacked copy).
# KEEP_E2E_DIR=1 keeps the temporary directory (it is always kept when something failed).
set -euo pipefail

SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
source "$SRC_DIR/tests/e2e/lib.sh"
e2e_args "$@"
e2e_require swaks nsd ss timeout setsid unshare mount saslpasswd2
SM_ROOT=$("$SRC_DIR/tests/e2e/sendmail-unpack.sh") ||
    die "cannot unpack Sendmail (tests/e2e/sendmail-unpack.sh)"
SM_BIN=$SM_ROOT/usr/libexec/sendmail/sendmail
M4=$(command -v m4 || echo "$SM_ROOT/usr/bin/m4")

e2e_dir sendmail
SM_DIR=$T/sendmail
SM_CF=$SM_DIR/sendmail.cf
SM_QUEUE=$SM_DIR/queue
SM_LOG=$T/sendmail.log
SM_TRAFFIC=$T/sendmail-smtp.log
mkdir -p "$SM_DIR/etc" "$SM_DIR/sasl" "$SM_QUEUE" "$MAIL_DIR/inbox/new" "$MAIL_DIR/inbox/tmp" \
    "$T/bin"
chmod 700 "$SM_QUEUE"
LOG_FILES=("$MILTER_LOG" "$SM_LOG" "$SM_TRAFFIC")
SENDMAIL_PID=

stop_sendmail() {
    [[ -n $SENDMAIL_PID ]] || return 0
    kill -TERM "$SENDMAIL_PID" 2>/dev/null || true
    if ! wait_gone "$SENDMAIL_PID" 10; then
        say "sendmail (pid $SENDMAIL_PID) ignored SIGTERM; killing it"
        kill -KILL "$SENDMAIL_PID" 2>/dev/null || true
    fi
    wait "$SENDMAIL_PID" 2>/dev/null || true
    # The daemon made itself a session leader (setsid): its children are in its process group.
    wait_group_gone "$SENDMAIL_PID" Sendmail
    SENDMAIL_PID=
}
stop_mta() { stop_sendmail; }

# ---------------------------------------------------------------------------------------------
# Set-up: ports, NSD, milter-ingress, Sendmail.

mapfile -t ports < <(free_ports 2)
SMTP_PORT=${ports[0]}
MILTER_PORT=${ports[1]:-}
[[ -n $MILTER_PORT ]] || die "could not pick free ports"
# One Sendmail listener takes both: AUTH is offered on it, and an authenticated session is a
# submission for the milter ({auth_authen} set).
SUB_PORT=$SMTP_PORT

start_nsd
say "NSD on 127.0.0.1:$DNS_PORT, milter on $MILTER_PORT, sendmail on $SMTP_PORT, directory $T"

# The README's Sendmail templates for held mail, with this instance's configuration (-C) and the
# contrib script installed as a site would install it.
install -m 755 "$SRC_DIR/contrib/sendmail/milter-ingress-held" "$T/bin/milter-ingress-held"
GREY_DELAY=3
cat >"$CONF" <<EOF
# milter-ingress configuration for tests/e2e/sendmail.sh
$(milter_conf_common)
greylist = yes
greylist_delay = ${GREY_DELAY}s
held_release_command = $T/bin/milter-ingress-held -C $SM_CF release {queue_id}
held_reject_command = $T/bin/milter-ingress-held -C $SM_CF reject {queue_id}
held_queue_command = sendmail -C $SM_CF -bp -qQ
EOF
start_milter

# Every sendmail run (the daemon, and the queue commands that ingressctl and the contrib script
# run as `sendmail`, found first in PATH) goes through this wrapper: a mount namespace of its own
# where /etc/hosts and /etc/resolv.conf are the test's (Sendmail resolves its own name at start and
# would wait on the machine's resolver), and where Sendmail's SASL application file
# (Sendmail.conf, pointing at the test's sasldb) sits in the first directory of Cyrus SASL's
# search path that exists: Sendmail clears its environment, so SASL_CONF_PATH does not reach it.
# The unpacked libraries (libwrap0 when the machine lacks it) come through LD_LIBRARY_PATH.
SASL_DIR=
for d in /etc/sasl2 /etc/sasl /usr/lib/sasl2; do
    if [[ -d $d ]]; then
        SASL_DIR=$d
        break
    fi
done
[[ -n $SASL_DIR ]] || die "none of /etc/sasl2, /etc/sasl, /usr/lib/sasl2 exists to mount on"
SM_LIBS=$(find "$SM_ROOT" -name '*.so*' -printf '%h\n' | sort -u | paste -sd:)
printf '127.0.0.1 localhost mx.test.example %s\n' "$(hostname)" >"$SM_DIR/etc/hosts"
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$SM_DIR/etc/resolv.conf"
cat >"$T/bin/sendmail" <<EOF
#!/bin/sh
# The private Sendmail of tests/e2e/sendmail.sh (see there).
exec unshare -m -- /bin/sh -c '
mount --bind "$SM_DIR/etc/hosts" /etc/hosts &&
mount --bind "$SM_DIR/etc/resolv.conf" /etc/resolv.conf &&
mount --bind "$SM_DIR/sasl" "$SASL_DIR" &&
exec env LD_LIBRARY_PATH="$SM_LIBS" "$SM_BIN" "\$@"' sendmail "\$@"
EOF
chmod 755 "$T/bin/sendmail"
export PATH="$T/bin:$PATH"

# SASL: the sasldb of alice (submission) and bob (the throttle), read by Sendmail (as root)
# through the auxprop plugin; Sendmail's application file is Sendmail.conf.
sasl_setup "$SM_DIR/sasldb2" "$SM_DIR/sasl/Sendmail.conf"

# Delivery: example.net goes to the mailer "testbox", which writes each message into the maildir
# $MAIL_DIR/inbox as the user nobody.
chown -R nobody:nogroup "$MAIL_DIR"
cat >"$SM_DIR/deliver" <<EOF
#!/bin/sh
# testbox mailer of tests/e2e/sendmail.sh: the message on standard input into a maildir.
set -e
tmp=$MAIL_DIR/inbox/tmp/\$\$.\$(date +%s%N)
cat >"\$tmp"
mv "\$tmp" $MAIL_DIR/inbox/new/
EOF
chmod 755 "$SM_DIR/deliver"

# The milter lines exactly as contrib/sendmail/milter-ingress.mc (and the README) give them, with
# this test's milter port.
sed "s/inet:8895@127\.0\.0\.1/inet:$MILTER_PORT@127.0.0.1/" \
    "$SRC_DIR/contrib/sendmail/milter-ingress.mc" >"$SM_DIR/milter-ingress.mc"
grep -q "S=inet:$MILTER_PORT@127.0.0.1" "$SM_DIR/milter-ingress.mc" ||
    die "contrib/sendmail/milter-ingress.mc has no S=inet:8895@127.0.0.1 to point at the test's port"
# No DNS of Sendmail's own: host names from the test's hosts file, no canonification, sender
# domains accepted unresolved (the milter's SPF decides), delivery while the client waits.
cat >"$SM_DIR/sendmail.mc" <<EOF
divert(-1)
include(\`$SM_ROOT/usr/share/sendmail/cf/m4/cf.m4')
divert(0)dnl
VERSIONID(\`tests/e2e/sendmail.sh')dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`mx.test.example')dnl
define(\`QUEUE_DIR', \`$SM_QUEUE')dnl
define(\`STATUS_FILE', \`$SM_DIR/sendmail.st')dnl
define(\`confPID_FILE', \`$SM_DIR/sendmail.pid')dnl
define(\`confHELP_FILE', \`$SM_ROOT/etc/mail/helpfile')dnl
define(\`ALIAS_FILE', \`')dnl
define(\`confCW_FILE', \`')dnl
define(\`confCT_FILE', \`')dnl
define(\`confSERVICE_SWITCH_FILE', \`$SM_DIR/service.switch')dnl
define(\`confHOSTS_FILE', \`$SM_DIR/etc/hosts')dnl
define(\`confHOST_STATUS_DIRECTORY', \`')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confDELIVERY_MODE', \`interactive')dnl
define(\`confDEF_USER_ID', \`nobody:nogroup')dnl
define(\`confAUTH_MECHANISMS', \`PLAIN LOGIN')dnl
TRUST_AUTH_MECH(\`PLAIN LOGIN')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`no_default_msa')dnl
RELAY_DOMAIN(\`example.net')dnl
DAEMON_OPTIONS(\`Port=$SMTP_PORT, Addr=127.0.0.1, Name=MTA')dnl
include(\`$SM_DIR/milter-ingress.mc')dnl
MAILER(\`local')dnl
MAILER(\`smtp')dnl
MAILER_DEFINITIONS
Mtestbox,	P=$SM_DIR/deliver, F=lsDFMq, S=EnvFromL, R=EnvToL, A=deliver \$u
LOCAL_RULE_0
R\$+ < @ example.net . >	\$#testbox \$: \$1
R\$+ < @ example.net >	\$#testbox \$: \$1
EOF
printf 'hosts files\naliases files\n' >"$SM_DIR/service.switch"
"$M4" "$SM_DIR/sendmail.mc" >"$SM_CF" || die "m4 cannot build sendmail.cf"
grep -q "^Xmilter-ingress, S=inet:$MILTER_PORT@127.0.0.1" "$SM_CF" ||
    die "sendmail.cf has no milter-ingress filter line"

setsid "$T/bin/sendmail" -C "$SM_CF" -bD -X "$SM_TRAFFIC" >>"$SM_LOG" 2>&1 </dev/null &
SENDMAIL_PID=$!
for ((i = 0; i < 300; i++)); do
    listening "$SMTP_PORT" && break
    alive "$SENDMAIL_PID" || break
    sleep 0.1
done
listening "$SMTP_PORT" || die "Sendmail does not listen on 127.0.0.1:$SMTP_PORT"
SETUP_DONE=1

# sm_queue_id NAME: the queue id Sendmail gave case NAME ("250 2.0.0 QUEUEID Message accepted").
sm_queue_id() {
    reply "$1" . | sed -n 's/^250 2\.0\.0 \([0-9A-Za-z]*\) Message accepted.*/\1/p'
}

# listed_in_quarantine QUEUE_ID: sendmail -bp -qQ lists the message.  (Its output is read whole
# before grep: a pipeline into grep -q could fail on SIGPIPE under pipefail.)
listed_in_quarantine() {
    local listing
    listing=$(sendmail -C "$SM_CF" -bp -qQ 2>&1) || true
    grep -qw -- "$1" <<<"$listing"
}

# quarantined QUEUE_ID: Sendmail lists the message in its quarantine and its control file is
# hf<QUEUE_ID>.
quarantined() {
    [[ -e $SM_QUEUE/hf$1 ]] && listed_in_quarantine "$1"
}

# queue_files QUEUE_ID: the files Sendmail's queue still has for the message.
queue_files() {
    find "$SM_QUEUE" -name "??$1" -printf '%f '
}

# ---------------------------------------------------------------------------------------------
# w. The wiring this test runs is the README's: every line of contrib/sendmail/milter-ingress.mc
# that is not a comment is in README.md as it is.

missing=$(grep -v '^dnl' "$SRC_DIR/contrib/sendmail/milter-ingress.mc" | while IFS= read -r line; do
    grep -qxF "    $line" "$SRC_DIR/README.md" || printf '%s\n' "$line"
done)
if [[ -z $missing ]]; then
    ok "w: README.md gives the lines of contrib/sendmail/milter-ingress.mc that this test runs"
else
    not_ok "w: README.md gives the lines of contrib/sendmail/milter-ingress.mc" \
        "not in README.md:" "$missing"
fi

# ---------------------------------------------------------------------------------------------
# g1. SPF pass without DKIM from a new client (127.0.0.2, PTR good.example.test): RCPT accepted,
# greylisted at the end of DATA, the reply to the final "." (retried in g2).

smtp g1 127.0.0.2 good.example.test user@example.net
GREY_START=$SECONDS
r=$(reply g1 "RCPT TO")
r2=$(reply g1 .)
if [[ $r == 250* && $r2 == "451 4.7.1"* && $r2 == *"retry in"* ]]; then
    ok "g1: 127.0.0.2 passes RCPT and is greylisted at the end of DATA ($r2)"
else
    not_ok "g1: 127.0.0.2 is greylisted at the end of DATA with 451 4.7.1" "$(transcript g1)"
fi

# ---------------------------------------------------------------------------------------------
# c. No PTR (127.0.0.4): rejected at RCPT with 5.7.25, a reference and the help text.

smtp c 127.0.0.4 nohost.example.test user@example.net
r=$(reply c "RCPT TO")
if [[ $r == "550 5.7.25"* && $r == *"(ref "* && $r == *"https://help.example/iprev"* ]]; then
    ok "c: 127.0.0.4 (no PTR) is rejected at RCPT with 550 5.7.25, a reference and help ($r)"
else
    not_ok "c: 127.0.0.4 (no PTR) is rejected at RCPT with 550 5.7.25" "$(transcript c)"
fi
why_has c 127.0.0.4 iprev "550 5.7.25"

# ---------------------------------------------------------------------------------------------
# n. A block entry added with ingressctl while the milter runs: 127.0.0.12 (PTR
# good12.example.test, which would pass) gets 554 5.7.1 with the entry's public text, never its
# internal reason.  The milter reloads its lists at most once per lists_reload_interval (1 s).

ctl list add cidr 127.0.0.12/32 block --reason "e2e INTERNAL ticket" --public "e2e blocked host"
[[ $CTL_RC -eq 0 ]] || not_ok "n: ingressctl list add cidr 127.0.0.12/32 block" "$CTL_OUT"
sleep 1.5
smtp n 127.0.0.12 good12.example.test user@example.net
r=$(reply n "RCPT TO")
if [[ $r == "554 5.7.1"* && $r == *"e2e blocked host"* && $r == *"https://help.example/lists"* &&
    $r != *INTERNAL* ]]; then
    ok "n: 127.0.0.12, blocked by ingressctl list add, gets 554 5.7.1 with the public text ($r)"
else
    not_ok "n: 127.0.0.12, blocked by ingressctl list add, gets 554 5.7.1 with the public text" \
        "$(transcript n)"
fi

# ---------------------------------------------------------------------------------------------
# s. Submission: Sendmail's AUTH PLAIN against the sasldb; the milter reads the login from
# {auth_authen}.  The account must own the MAIL FROM (553 5.7.1 otherwise); its own address is
# delivered (an authenticated session skips iprev, SPF and greylisting: 127.0.0.40 has no PTR).

case_unowned_sender s1
why_has s1 other@example.test sender "553 5.7.1"
if grep -qF "authenticated as $SASL_USER" <<<"$CTL_OUT"; then
    ok "s1: ingressctl why says the session was authenticated as $SASL_USER ({auth_authen})"
else
    not_ok "s1: ingressctl why says the session was authenticated as $SASL_USER" "$CTL_OUT"
fi

submit_as "$SASL_USER" "$SASL_PASS" s2 "$SASL_USER"
r2=$(reply s2 .)
if [[ $r2 == 250* ]] && delivered s2 >/dev/null; then
    ok "s2: $SASL_USER sending as its own login is accepted and delivered ($r2)"
else
    not_ok "s2: $SASL_USER sending as its own login is accepted and delivered" "$(transcript s2)"
fi

# ---------------------------------------------------------------------------------------------
# t. The throttle's hold is Sendmail's quarantine: bob may send 1 message an hour; the second and
# third are accepted (250) into the quarantine (hf control file, sendmail -bp -qQ), listed by
# `ingressctl held list`; `held release` delivers one, `held reject` deletes the other, through
# held_release_command and held_reject_command (contrib/sendmail/milter-ingress-held).

ctl account limits "$BOB" minute=0/0 hour=1/100
[[ $CTL_RC -eq 0 ]] || not_ok "t: ingressctl account limits $BOB hour=1/100" "$CTL_OUT"
submit_as "$BOB" "$BOB_PASS" t1 "$BOB"
submit_as "$BOB" "$BOB_PASS" t2 "$BOB"
submit_as "$BOB" "$BOB_PASS" t3 "$BOB"
r1=$(reply t1 .) r2=$(reply t2 .) r3=$(reply t3 .)
QID_T2=$(sm_queue_id t2)
QID_T3=$(sm_queue_id t3)
if [[ $r1 == 250* ]] && delivered t1 >/dev/null; then
    ok "t1: the first message of the hour is delivered ($r1)"
else
    not_ok "t1: the first message of the hour is delivered" "$(transcript t1)"
fi
if [[ $r2 == 250* && $r3 == 250* && -n $QID_T2 && -n $QID_T3 ]] && quarantined "$QID_T2" &&
    quarantined "$QID_T3"; then
    ok "t2: messages 2 and 3 are accepted into Sendmail's quarantine ($QID_T2, $QID_T3)"
else
    not_ok "t2: messages 2 and 3 are accepted into Sendmail's quarantine" "$(transcript t2)" \
        "$(transcript t3)" "queue: $(ls "$SM_QUEUE")" \
        "sendmail -bp -qQ: $(sendmail -C "$SM_CF" -bp -qQ 2>&1)"
fi

check_held_listed t3 "$QID_T2" "1h window: 2 messages > limit 1" "$QID_T3"

ctl held release "$QID_T2"
if [[ $CTL_RC -eq 0 ]] && delivered t2 >/dev/null && ! quarantined "$QID_T2"; then
    ok "t4: ingressctl held release takes the message out of quarantine and delivers it"
else
    not_ok "t4: ingressctl held release delivers the quarantined message" "exit $CTL_RC; output:" \
        "$CTL_OUT" "queue: $(ls "$SM_QUEUE")"
fi

ctl held reject "$QID_T3" --reason "e2e: not the account holder's mail"
left=$(queue_files "$QID_T3")
if [[ $CTL_RC -eq 0 && -z $left ]] && ! listed_in_quarantine "$QID_T3"; then
    ok "t5: ingressctl held reject deletes the quarantined message (no file left in the queue)"
else
    not_ok "t5: ingressctl held reject deletes the quarantined message" "exit $CTL_RC; output:" \
        "$CTL_OUT" "files left: $left" "sendmail -bp -qQ: $(sendmail -C "$SM_CF" -bp -qQ 2>&1)"
fi
check_held_rejected t6 "$QID_T3" "e2e: not the account holder's mail" t3

# ---------------------------------------------------------------------------------------------
# g2. After the greylisting delay, g1's triplet retried is accepted; the delivered copy carries our
# Authentication-Results (first of its kind), and the milter's log line starts with Sendmail's
# queue id ({i}).

while ((SECONDS < GREY_START + GREY_DELAY + 1)); do
    sleep 0.2
done
smtp g2 127.0.0.2 good.example.test user@example.net
r2=$(reply g2 .)
QID_G2=$(sm_queue_id g2)
if [[ $r2 == 250* && -n $QID_G2 ]]; then
    ok "g2: the greylisted triplet retried after the delay is accepted ($r2)"
else
    not_ok "g2: the greylisted triplet retried after the delay is accepted" "$(transcript g2)"
fi
if f=$(delivered g2); then
    h=$(headers "$f")
    ar=$(our_ar "$h")
    first_ar=$(grep -i -m1 '^Authentication-Results:' <<<"$h" || true)
    if [[ $(grep -c . <<<"$ar") -eq 1 && $first_ar == "$ar" ]] &&
        ar_has "$ar" mx.test.example 'iprev=pass policy.iprev=127.0.0.2 (good.example.test)' \
            'spf=pass smtp.mailfrom=e2e.test' 'spf=none smtp.helo=good.example.test' 'dkim=none'; then
        ok "g2: the delivered copy has our Authentication-Results (iprev, SPF, DKIM), first"
    else
        not_ok "g2: the delivered copy has our Authentication-Results" "headers:" "$h"
    fi
else
    not_ok "g2: the accepted message is delivered" "no message with X-E2E-Case: g2 in $MAIL_DIR"
fi
if [[ -n $QID_G2 ]] && grep -qE "Z [a-z]+: $QID_G2: check=policy action=accept" "$MILTER_LOG"; then
    ok "g2: the milter logs the accept under Sendmail's queue id $QID_G2"
else
    not_ok "g2: the milter logs the accept under Sendmail's queue id" \
        "$(grep -F 'action=accept' "$MILTER_LOG" | tail -n 3 || true)"
fi

# ---------------------------------------------------------------------------------------------
# d. DNS down: a client never looked up before (127.0.0.7) gets 451 4.7.25 at RCPT.

case_dns_down d

# ---------------------------------------------------------------------------------------------
# i. SIGTERM ends the milter cleanly; sanitizer reports fail the run.

e2e_finish
