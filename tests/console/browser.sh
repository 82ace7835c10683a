#!/usr/bin/env bash
# The console's web page as a person uses it: a real browser (Debian's chromium, headless, driven
# by chromedriver through python3-selenium) on ingress-console, in front of the real test Postfix
# with milter-ingress and NSD (tests/e2e/lib.sh, as tests/e2e/run.sh).  This script sets them up
# and stops them; tests/console/browser.py runs the cases (it says which) and saves a screenshot of
# each page in SCREENSHOT_DIR.
#
#   tests/console/browser.sh MILTER_BIN INGRESSCTL_BIN INGRESS_CONSOLE_BIN SCREENSHOT_DIR
#
# Needs root, postfix, nsd, swaks, saslpasswd2, chromium and chromium-driver.  KEEP_E2E_DIR=1 keeps
# the temporary directory (it is always kept when something failed).
set -euo pipefail

SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
source "$SRC_DIR/tests/e2e/lib.sh"
if [[ $# -ne 4 ]]; then
    echo "usage: $0 MILTER_BIN INGRESSCTL_BIN INGRESS_CONSOLE_BIN SCREENSHOT_DIR" >&2
    exit 2
fi
CONSOLE_BIN=$(realpath -- "$3")
SCREENSHOT_DIR=$4
e2e_args "$1" "$2"
e2e_require postfix swaks nsd ss timeout setsid saslpasswd2 chromium chromedriver
e2e_dir console-browser
postfix_dirs
CONSOLE_LOG=$T/console.log
CONSOLE_PID=
LOG_FILES=("$MILTER_LOG" "$PF_LOG" "$CONSOLE_LOG")
stop_mta() {
    if [[ -n $CONSOLE_PID ]]; then
        kill -TERM "$CONSOLE_PID" 2>/dev/null || true
        wait_gone "$CONSOLE_PID" 10 || kill -KILL "$CONSOLE_PID" 2>/dev/null || true
        wait "$CONSOLE_PID" 2>/dev/null || true
    fi
    stop_postfix
}

mapfile -t ports < <(free_ports 5)
SMTP_PORT=${ports[0]}
MILTER_PORT=${ports[1]:-}
SUB_PORT=${ports[2]:-}
CONSOLE_PORT=${ports[3]:-}
PUBLIC_PORT=${ports[4]:-}
[[ -n $PUBLIC_PORT ]] || die "could not pick free ports"
start_nsd

# One configuration for the milter, ingressctl and the console.  No greylisting: the refusal of
# case a is the block list's alone.  The page's files are the source tree's.
cat >"$CONF" <<EOF
$(milter_conf_common)
greylist = no
held_release_command = postsuper -c $PF_CONF -H {queue_id}; postqueue -c $PF_CONF -i {queue_id}
held_reject_command = postsuper -c $PF_CONF -d {queue_id}
held_queue_command = postqueue -c $PF_CONF -j
held_show_command = postcat -c $PF_CONF -h -b -q {queue_id}
console_listen = 127.0.0.1:$CONSOLE_PORT
console_public_listen = 127.0.0.1:$PUBLIC_PORT
console_users_file = $T/console-users
console_static_dir = $SRC_DIR/console
EOF
start_milter

chown postfix "$PF_DATA"
chown nobody:nogroup "$MAIL_DIR"
SASL_DB=$T/sasldb2
mkdir -p "$PF_CONF/sasl"
sasl_setup "$SASL_DB" "$PF_CONF/sasl/smtpd.conf"
chown postfix "$SASL_DB"
{
    echo "# Private Postfix instance for tests/console/browser.sh."
    postfix_main_cf "inet:127.0.0.1:$MILTER_PORT"
    postfix_sasl_main_cf
} >"$PF_CONF/main.cf"
postfix_master_cf >"$PF_CONF/master.cf"
postfix_start "$SMTP_PORT" "$SUB_PORT"

ctl console-user add pm --role postmaster <<<"pm-secret-1"
[[ $CTL_RC -eq 0 ]] || die "console-user add pm: $CTL_OUT"
ctl console-user add desk <<<"desk-secret-1"
[[ $CTL_RC -eq 0 ]] || die "console-user add desk: $CTL_OUT"
"$CONSOLE_BIN" -c "$CONF" 2>>"$CONSOLE_LOG" &
CONSOLE_PID=$!
for ((i = 0; i < 100; i++)); do
    listening "$CONSOLE_PORT" && break
    sleep 0.1
done
for ((i = 0; i < 100; i++)); do
    listening "$PUBLIC_PORT" && break
    sleep 0.1
done
listening "$CONSOLE_PORT" || die "ingress-console does not listen on 127.0.0.1:$CONSOLE_PORT"
listening "$PUBLIC_PORT" || die "ingress-console's public page does not listen on 127.0.0.1:$PUBLIC_PORT"
SETUP_DONE=1
say "console on 127.0.0.1:$CONSOLE_PORT, smtpd on $SMTP_PORT, submission on $SUB_PORT, directory $T"

mkdir -p "$SCREENSHOT_DIR"
rc=0
T=$T CONF=$CONF CTL_BIN=$CTL_BIN PF_CONF=$PF_CONF MAIL_DIR=$MAIL_DIR SMTP_PORT=$SMTP_PORT \
    SUB_PORT=$SUB_PORT CONSOLE_URL=http://127.0.0.1:$CONSOLE_PORT BOB=$BOB BOB_PASS=$BOB_PASS \
    PUBLIC_URL=http://127.0.0.1:$PUBLIC_PORT \
    SCREENSHOT_DIR=$(realpath -- "$SCREENSHOT_DIR") \
    "$PYTHON" "$SRC_DIR/tests/console/browser.py" || rc=$?
[[ $rc -eq 0 ]] || FAILED=$((FAILED + 1))
if alive "$CONSOLE_PID"; then
    ok "ingress-console still runs after the browser's session"
    kill -TERM "$CONSOLE_PID"
    status=0
    wait "$CONSOLE_PID" || status=$?
    CONSOLE_PID=
    if [[ $status -eq 0 ]] &&
        ! grep -qE 'ERROR: AddressSanitizer|LeakSanitizer|runtime error:' "$CONSOLE_LOG"; then
        ok "ingress-console exits 0 on SIGTERM, no sanitizer report in its log"
    else
        not_ok "ingress-console exits 0 on SIGTERM, no sanitizer report in its log" "status $status"
    fi
else
    not_ok "ingress-console still runs after the browser's session"
fi
say "screenshots: $(realpath -- "$SCREENSHOT_DIR")"
[[ $FAILED -eq 0 ]]
