#!/usr/bin/env bash
# End-to-end test of several MX hosts on one PostgreSQL: a real PostgreSQL (tests/pg/with-pg.sh),
# NSD serving tests/dns/*.zone, and two hosts on loopback, MX1 and MX2, each a private Postfix
# (an smtpd listener and a submission listener with SASL) and a milter-ingress of its own with its
# host_name, both on the one database; driven by swaks.
#
#   f1  greylisted on MX1; the retry after the delay on MX2 passes (the triplet is shared)
#   f2  a block added with ingressctl as MX2's config rejects on MX1 within lists_reload_interval
#   f3  an account over its limit across both submission listeners is held: MX2 counted one
#       message first, MX1 two more; MX2's next is over the limit of 3 only counted together
#   f4  held list on either host shows the messages held on both, with the host
#   f5  held release on MX1 of the message MX2 holds runs MX2's command (held_remote_command)
#   f6  ingressctl why on either host shows both hosts' decisions
#
#   tests/pg/with-pg.sh tests/e2e/fleet.sh MILTER_BIN INGRESSCTL_BIN
#
# Prints one "ok - NAME" / "not ok - NAME" line per check and "N passed, M failed" at the end.
# Needs root, postfix, nsd, swaks, ss, saslpasswd2, and with-pg.sh's INGRESS_TEST_PG_TCP.
set -euo pipefail

SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
source "$SRC_DIR/tests/e2e/lib.sh"
e2e_args "$@"
e2e_require postfix postconf swaks nsd ss timeout setsid saslpasswd2
[[ -n ${INGRESS_TEST_PG_TCP:-} ]] || {
    echo "usage: tests/pg/with-pg.sh $0 MILTER_BIN INGRESSCTL_BIN" >&2
    exit 2
}
e2e_dir fleet

# Each host's parts: H_* arrays indexed 1 and 2; the lib.sh helpers work on the globals (PF_*,
# CONF, MILTER_*, SMTP_PORT, SUB_PORT), which use_host sets from them.
declare -a H_SMTP H_SUB H_MILTER H_CONF H_PF H_LOG H_PFLOG H_MPID H_PPID
GREY_DELAY=3

mapfile -t ports < <(free_ports 6)
[[ ${#ports[@]} -eq 6 ]] || die "could not pick free ports"
for i in 1 2; do
    H_SMTP[i]=${ports[(i - 1) * 3]}
    H_SUB[i]=${ports[(i - 1) * 3 + 1]}
    H_MILTER[i]=${ports[(i - 1) * 3 + 2]}
    H_CONF[i]=$T/mx$i.conf
    H_PF[i]=$T/mx$i
    H_LOG[i]=$T/milter-mx$i.log
    H_PFLOG[i]=$T/postfix-mx$i.log
    H_MPID[i]=
    H_PPID[i]=
done
LOG_FILES=("${H_LOG[1]}" "${H_LOG[2]}" "${H_PFLOG[1]}" "${H_PFLOG[2]}")

# use_host N: the globals of lib.sh are host N's.
use_host() {
    SMTP_PORT=${H_SMTP[$1]} SUB_PORT=${H_SUB[$1]} MILTER_PORT=${H_MILTER[$1]}
    CONF=${H_CONF[$1]} MILTER_LOG=${H_LOG[$1]} MILTER_PID=${H_MPID[$1]}
    PF_CONF=${H_PF[$1]}/conf PF_QUEUE=${H_PF[$1]}/queue PF_DATA=${H_PF[$1]}/data
    PF_LOG=${H_PFLOG[$1]} POSTFIX_PID=${H_PPID[$1]}
}

# save_host N: the PIDs lib.sh's start and stop functions set, kept as host N's.
save_host() {
    H_MPID[$1]=$MILTER_PID
    H_PPID[$1]=$POSTFIX_PID
}

stop_mta() {
    local i
    for i in 1 2; do
        use_host "$i"
        stop_postfix
        stop_milter
        save_host "$i"
    done
}

start_nsd
SASL_DB=$T/sasldb2
chown nobody:nogroup "$MAIL_DIR"

# The milter of host N: greylisting with a short delay, the lists read again every second, the
# shared database, its host_name, its own Postfix's queue for held mail, and another host's queue
# through held_remote_command (a script standing for ssh to that host: it runs postsuper on the
# Postfix of the host it is given).
cat >"$T/remote" <<EOF
#!/bin/sh
# remote HOST ACTION QUEUE_ID: what "ssh HOST" would run there.
case "\$1" in mx1.example.test) conf=${H_PF[1]}/conf ;; mx2.example.test) conf=${H_PF[2]}/conf ;; *) exit 2 ;; esac
echo "\$1 \$2 \$3" >>$T/remote.log
case "\$2" in
release) postsuper -c "\$conf" -H "\$3" && postqueue -c "\$conf" -i "\$3" ;;
reject) postsuper -c "\$conf" -d "\$3" ;;
*) exit 2 ;;
esac
EOF
chmod 755 "$T/remote"

for i in 1 2; do
    use_host "$i"
    mkdir -p "$PF_CONF/sasl" "$PF_QUEUE" "$PF_DATA"
    {
        milter_conf_common | sed "s|^database = .*|database = $INGRESS_TEST_PG_TCP|"
        cat <<EOF
host_name = mx$i.example.test
greylist = yes
greylist_delay = ${GREY_DELAY}s
lists_reload_interval = 1s
held_release_command = postsuper -c $PF_CONF -H {queue_id}; postqueue -c $PF_CONF -i {queue_id}
held_reject_command = postsuper -c $PF_CONF -d {queue_id}
held_queue_command = postqueue -c $PF_CONF -j
held_remote_command = $T/remote {host} {action} {queue_id}
EOF
    } >"$CONF"
    start_milter
    save_host "$i"
    [[ $i -eq 1 ]] && sasl_setup "$SASL_DB" "$PF_CONF/sasl/smtpd.conf"
    [[ $i -eq 2 ]] && cp "${H_PF[1]}/conf/sasl/smtpd.conf" "$PF_CONF/sasl/smtpd.conf"
    chown postfix "$SASL_DB" "$PF_DATA"
    {
        postfix_main_cf "inet:127.0.0.1:$MILTER_PORT" |
            sed "s|^myhostname = .*|myhostname = mx$i.example.test|"
        postfix_sasl_main_cf
    } >"$PF_CONF/main.cf"
    postfix_master_cf >"$PF_CONF/master.cf"
    postfix_start "$SMTP_PORT" "$SUB_PORT"
    save_host "$i"
done
SETUP_DONE=1
say "PostgreSQL ${INGRESS_TEST_PG_TCP##*@}; NSD on $DNS_PORT; MX1 smtpd $SMTP_PORT... directory $T"

# ctl_on N ARG...: ingressctl with host N's configuration.
ctl_on() {
    local i=$1
    shift
    CTL_RC=0
    CTL_OUT=$(timeout 20 "$CTL_BIN" -c "${H_CONF[$i]}" "$@" 2>&1) || CTL_RC=$?
}

# in_queue_of N QUEUE_ID QUEUE_NAME: host N's Postfix lists the message in that queue.
in_queue_of() {
    PF_CONF=${H_PF[$1]}/conf in_queue "$2" "$3"
}

# ---------------------------------------------------------------------------------------------
# f1. Greylisting shared: an unknown sender (SPF neutral) from 127.0.0.9 is greylisted on MX1;
# its retry after the delay goes to MX2, which passes it.

FROM=someone@neutral.e2e.test
use_host 1
smtp f1-mx1 127.0.0.9 alias.example.test user@example.net
GREY_START=$SECONDS
r=$(reply f1-mx1 "RCPT TO")
if [[ $r == "451 4.7.1"* ]]; then
    ok "f1: SPF neutral from 127.0.0.9 is greylisted on MX1 ($r)"
else
    not_ok "f1: SPF neutral from 127.0.0.9 is greylisted on MX1" "$(transcript f1-mx1)"
fi
while ((SECONDS < GREY_START + GREY_DELAY + 1)); do
    sleep 0.2
done
use_host 2
smtp f1-mx2 127.0.0.9 alias.example.test user@example.net
r=$(reply f1-mx2 "RCPT TO")
r2=$(reply f1-mx2 .)
if [[ $r == 250* && $r2 == 250* ]] && delivered f1-mx2 >/dev/null; then
    ok "f1: its retry after the delay on MX2 passes and is delivered ($r2)"
else
    not_ok "f1: the retry after the delay on MX2 passes" "$(transcript f1-mx2)"
fi
FROM=sender@e2e.test

# ---------------------------------------------------------------------------------------------
# f2. A block added with ingressctl as MX2's (its config, the shared database) rejects on MX1
# within lists_reload_interval (1 s): tried for up to 3 s.

ctl_on 2 list add cidr 127.0.0.12/32 block --reason "fleet block"
[[ $CTL_RC -eq 0 ]] || not_ok "f2: ingressctl list add on MX2's config" "$CTL_OUT"
use_host 1
BLOCK_START=$SECONDS
for ((n = 0; n < 6; n++)); do
    sleep 0.5
    smtp f2 127.0.0.12 good12.example.test user@example.net
    r=$(reply f2 "RCPT TO")
    [[ $r != "554 5.7.1"* ]] || break
done
# The reply is the reply table's; the entry's reason is internal and never sent.
if [[ $r == "554 5.7.1"* && $r == *"blocked by local policy"* && $r != *"fleet block"* ]]; then
    ok "f2: the block added as MX2's rejects on MX1 within $((SECONDS - BLOCK_START + 1)) s ($r)"
else
    not_ok "f2: the block added as MX2's rejects 127.0.0.12 on MX1" "$(transcript f2)"
fi

# ---------------------------------------------------------------------------------------------
# f3. The throttle counts over both hosts: bob may send 3 messages an hour.  MX2 counts one (and
# keeps bob in memory), MX1 two; after a flush and a refresh (2 x 2 s) MX2's next is the fourth
# of the fleet: held, though MX2 alone counted one.  The hold marks bob throttled: MX1 holds his
# next one too.

ctl_on 1 account limits "$BOB" minute=0/0 hour=3/100
[[ $CTL_RC -eq 0 ]] || not_ok "f3: ingressctl account limits $BOB hour=3/100" "$CTL_OUT"
use_host 2
submit_as "$BOB" "$BOB_PASS" f3-1 "$BOB"
use_host 1
submit_as "$BOB" "$BOB_PASS" f3-2 "$BOB"
submit_as "$BOB" "$BOB_PASS" f3-3 "$BOB"
sleep 5
use_host 2
submit_as "$BOB" "$BOB_PASS" f3-4 "$BOB"
use_host 1
submit_as "$BOB" "$BOB_PASS" f3-5 "$BOB"
QID_MX2=$(queue_id f3-4)
QID_MX1=$(queue_id f3-5)
r1=$(reply f3-1 .) r2=$(reply f3-2 .) r3=$(reply f3-3 .)
if [[ $r1 == 250* && $r2 == 250* && $r3 == 250* ]] && delivered f3-3 >/dev/null; then
    ok "f3: messages 1-3 of the hour, one on MX2 and two on MX1, are delivered"
else
    not_ok "f3: messages 1-3 are delivered" "$(transcript f3-1)" "$(transcript f3-3)"
fi
if [[ -n $QID_MX2 ]] && in_queue_of 2 "$QID_MX2" hold; then
    ok "f3: the fourth, on MX2 (its second), is over the fleet's limit: held in MX2's queue"
else
    not_ok "f3: the fourth message, on MX2, is held" "$(transcript f3-4)"
fi
if [[ -n $QID_MX1 ]] && in_queue_of 1 "$QID_MX1" hold; then
    ok "f3: the throttled account's next, on MX1, is held in MX1's queue"
else
    not_ok "f3: the next message, on MX1, is held" "$(transcript f3-5)"
fi

# ---------------------------------------------------------------------------------------------
# f4. held list on either host shows both hosts' held messages with the host.

for i in 1 2; do
    ctl_on "$i" held list
    if [[ $CTL_RC -eq 0 ]] && grep -q "$QID_MX2 *mx2.example.test" <<<"$CTL_OUT" &&
        grep -q "$QID_MX1 *mx1.example.test" <<<"$CTL_OUT"; then
        ok "f4: held list on MX$i shows $QID_MX2 held on mx2 and $QID_MX1 held on mx1"
    else
        not_ok "f4: held list on MX$i shows both hosts' held messages" "exit $CTL_RC:" "$CTL_OUT"
    fi
done

# ---------------------------------------------------------------------------------------------
# f5. held release on MX1 of the message MX2 holds: MX2's queue through held_remote_command; the
# message is delivered, and a second release finds it no longer held.

ctl_on 1 held release "$QID_MX2"
if [[ $CTL_RC -eq 0 ]] && grep -qx "mx2.example.test release $QID_MX2" "$T/remote.log" &&
    delivered f3-4 >/dev/null; then
    ok "f5: held release on MX1 of MX2's message runs MX2's release; it is delivered"
else
    not_ok "f5: held release on MX1 of MX2's message" "exit $CTL_RC:" "$CTL_OUT"
fi
ctl_on 2 held release "$QID_MX2"
if [[ $CTL_RC -eq 1 ]] && [[ $(grep -c "release $QID_MX2" "$T/remote.log") -eq 1 ]]; then
    ok "f5: a second release (on MX2) finds it no longer held and runs nothing"
else
    not_ok "f5: a second release finds it no longer held" "exit $CTL_RC:" "$CTL_OUT"
fi

# ---------------------------------------------------------------------------------------------
# f6. ingressctl why on either host shows the decisions of both (the decision log is written
# every 200 ms: tried for up to 3 s).

for i in 1 2; do
    for key in 127.0.0.9 "$BOB"; do
        for ((n = 0; n < 30; n++)); do
            ctl_on "$i" why "$key"
            grep -q "on mx1.example.test" <<<"$CTL_OUT" &&
                grep -q "on mx2.example.test" <<<"$CTL_OUT" && break
            sleep 0.1
        done
        if [[ $CTL_RC -eq 0 ]] && grep -q "on mx1.example.test" <<<"$CTL_OUT" &&
            grep -q "on mx2.example.test" <<<"$CTL_OUT"; then
            ok "f6: why $key on MX$i shows decisions of mx1 and of mx2"
        else
            not_ok "f6: why $key on MX$i shows both hosts' decisions" "exit $CTL_RC:" "$CTL_OUT"
        fi
    done
done

# Both milters end cleanly.
for i in 1 2; do
    use_host "$i"
    check_milter_exit "f7 (MX$i)"
    save_host "$i"
done
echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
