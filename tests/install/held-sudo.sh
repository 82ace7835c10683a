#!/usr/bin/env bash
# README "Console: held mail from the console", done as a site does it: the shipped sudoers file
# contrib/sudoers/ingress-console installed in /etc/sudoers.d (its rule as shipped, with the
# private instance's " -c DIR" before each $ as the README tells a second instance; the file name
# carries this run's PID so that a site's own file is never touched), ingress-console
# run as the account milter-ingress with the capability bounding set of the shipped drop-in
# contrib/systemd/ingress-console-held.conf (setpriv, as systemd's User= and
# CapabilityBoundingSet= start it), and the README's held_release_command and
# held_reject_command against a private Postfix that holds every message it receives:
#   a  the sudoers file and the drop-in are what the README shows, and visudo accepts the file
#      alone and installed; sudo allows one queue id, and refuses ALL, a second argument and
#      another instance;
#   b  POST /api/held/ID/release: 200, and the message leaves Postfix's hold queue for the maildir;
#   c  POST /api/held/ID/reject: 200, and the message is gone from the queue, never delivered;
#   d  the sudoers file removed: a release is 502, the message stays held (queue and store), and
#      the console's log says sudo's reason;
#   e  the same with the file back but the no_new_privs flag set (what the shipped unit gives its
#      processes without the drop-in): 502, sudo's reason in the log; then without the flag the
#      same release succeeds;
#   f  systemd-analyze verify of the installed unit (the build's configured file) with the drop-in
#      in its .d directory: no line ignored (and a bad line in the drop-in is reported, so the
#      drop-in is read); `systemd-analyze security --offline` of the merged unit: NoNewPrivileges
#      and every setting that implies it for a User= service (systemd.exec(5)) are off.
# The private instance is not Postfix's default one, so the test's commands are the README's with
# `-c CONFIG_DIR` after the queue id, which the rule's `*` allows (README says so for a site's
# second instance).  The held table's rows are written into the store directly: which messages
# the milter holds is the end-to-end tests' business, this one is about running the commands.
# What is not done here: the unit under a running systemd (there is none on the test machines).
#
#   tests/install/held-sudo.sh INGRESSCTL_BIN INGRESS_CONSOLE_BIN INSTALLED_CONSOLE_UNIT
#
# Needs root, sudo, postfix, swaks, setpriv, curl and sqlite3 (exit 77 without root or sudo).
# Everything made outside the test directory (the sudoers file, the account when it had to be
# created) is removed on every exit.
set -euo pipefail

SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
if [[ $# -ne 3 ]]; then
    echo "usage: $0 INGRESSCTL_BIN INGRESS_CONSOLE_BIN INSTALLED_CONSOLE_UNIT" >&2
    exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "# SKIP: needs root (an /etc/sudoers.d file, an account, a private Postfix)"
    exit 77
fi
if ! command -v sudo >/dev/null || ! command -v visudo >/dev/null; then
    echo "# SKIP: sudo is not installed (contrib/install-deps.sh installs it)"
    exit 77
fi
# shellcheck source=tests/e2e/lib.sh
source "$SRC_DIR/tests/e2e/lib.sh"
CTL_BIN=$(realpath -- "$1")
CONSOLE_BIN=$(realpath -- "$2")
UNIT=$(realpath -- "$3")
SUDOERS_SRC=$SRC_DIR/contrib/sudoers/ingress-console
DROPIN_SRC=$SRC_DIR/contrib/systemd/ingress-console-held.conf
ACCOUNT=milter-ingress
e2e_require postfix swaks ss timeout setsid setpriv curl sqlite3
e2e_dir held-sudo
postfix_dirs
CONF=$T/console.conf
DB=$T/state/ingress.db
CONSOLE_LOG=$T/console.log
LOG_FILES=("$PF_LOG" "$CONSOLE_LOG")
SUDOERS=/etc/sudoers.d/ingress-console-test$$
CREATED_ACCOUNT=0
CONSOLE_PID=

stop_console() {
    [[ -n $CONSOLE_PID ]] || return 0
    kill -TERM "$CONSOLE_PID" 2>/dev/null || true
    wait_gone "$CONSOLE_PID" 10 || kill -KILL "$CONSOLE_PID" 2>/dev/null || true
    wait "$CONSOLE_PID" 2>/dev/null || true
    CONSOLE_PID=
}
# The cleanup's hook (tests/e2e/lib.sh): the console, Postfix, and what this test put outside T.
stop_mta() {
    stop_console
    stop_postfix
    rm -f -- "$SUDOERS"
    if [[ $CREATED_ACCOUNT -eq 1 ]]; then
        userdel "$ACCOUNT" 2>/dev/null || say "userdel $ACCOUNT failed"
        ! getent group "$ACCOUNT" >/dev/null || groupdel "$ACCOUNT" 2>/dev/null || true
    fi
}

if ! getent passwd "$ACCOUNT" >/dev/null; then
    CREATED_ACCOUNT=1
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "$ACCOUNT" || die "useradd $ACCOUNT failed"
fi

# ---- a: the shipped files are the README's, and visudo accepts the rule ----
# shown FILE: the README shows FILE's lines that are not comments, as one indented block.
shown() {
    local first
    first=$(grep -v -e '^#' -e '^$' "$1" | head -n 1)
    diff <(grep -v -e '^#' -e '^$' "$1") \
        <(awk -v first="    $first" '$0 == first { on = 1 }
              on && !/^    / { exit }
              on { print substr($0, 5) }' "$SRC_DIR/README.md") || {
        echo "README's block differs from $1 (< the file, > the README)"
        return 1
    }
}
if out=$({ shown "$SUDOERS_SRC" && shown "$DROPIN_SRC"; } 2>&1); then
    ok "a: the README shows contrib/sudoers/ingress-console and contrib/systemd/ingress-console-held.conf line for line"
else
    not_ok "a: the README shows the shipped sudoers file and drop-in" "$out"
fi
if out=$(visudo -cf "$SUDOERS_SRC" 2>&1); then
    ok "a: visudo -cf accepts contrib/sudoers/ingress-console"
else
    not_ok "a: visudo -cf accepts contrib/sudoers/ingress-console" "$out"
fi
# Installed as the README tells a site with a second Postfix instance: " -c CONFIG_DIR" before
# each $ of the rule (the private instance's directory).
sed "s|)\\\$|) -c $PF_CONF\$|g" "$SUDOERS_SRC" >"$T/sudoers"
install -m 0440 -o root -g root "$T/sudoers" "$SUDOERS"
if out=$(visudo -c 2>&1) && [[ $(grep -c -- "-c $PF_CONF\\$" "$SUDOERS") == 1 ]] &&
    sudo -n -l -U "$ACCOUNT" 2>&1 | grep -qF '/usr/sbin/postsuper ^-H'; then
    ok "a: installed in /etc/sudoers.d, visudo -c accepts the whole policy and sudo -l shows the rule"
else
    not_ok "a: installed, visudo -c accepts the policy and sudo -l shows the rule" "$out" \
        "$(cat "$SUDOERS")" "$(sudo -n -l -U "$ACCOUNT" 2>&1)"
fi
# allowed ARG...: sudo would run /usr/sbin/postsuper ARG... for the account (sudo -l: nothing runs).
allowed() { sudo -n -l -U "$ACCOUNT" /usr/sbin/postsuper "$@" >/dev/null 2>&1; }
if allowed -H 4F2A1B3C9 -c "$PF_CONF" && allowed -d 4Kx9vB2zQm7c -c "$PF_CONF" &&
    ! allowed -d ALL -c "$PF_CONF" && ! allowed -H ALL -c "$PF_CONF" &&
    ! allowed -H 4F2A1B3C9 -d ALL -c "$PF_CONF" && ! allowed -H 4F2A1B3C9 -c /etc/postfix &&
    ! allowed -H 4F2A1B3C9; then
    ok "a: the rule allows one short or long queue id and refuses ALL, a second argument, another instance"
else
    not_ok "a: the rule allows one queue id and refuses ALL, a second argument, another instance" \
        "$(cat "$SUDOERS")"
fi

# ---- the private Postfix: every message received goes to the hold queue ----
mapfile -t ports < <(free_ports 2)
SMTP_PORT=${ports[0]}
CONSOLE_PORT=${ports[1]:-}
[[ -n $CONSOLE_PORT ]] || die "could not pick free ports"
chown postfix "$PF_DATA"
chown nobody:nogroup "$MAIL_DIR"
{
    echo "# Private Postfix instance for tests/install/held-sudo.sh: it holds what it receives."
    postfix_main_cf "" | sed 's/^smtpd_recipient_restrictions =.*/smtpd_recipient_restrictions = check_client_access static:HOLD/'
} >"$PF_CONF/main.cf"
{
    echo "127.0.0.1:$SMTP_PORT inet n - n - - smtpd"
    postfix_master_services
} >"$PF_CONF/master.cf"
postfix_start "$SMTP_PORT"

# held NAME: a message sent as case NAME, once Postfix has it in the hold queue; prints its id.
held() {
    local qid i
    smtp "$1" 127.0.0.1 client.test user@example.net
    qid=$(queue_id "$1")
    [[ -n $qid ]] || die "case $1: no queue id: $(transcript "$1")"
    for ((i = 0; i < 100; i++)); do
        in_queue "$qid" hold && break
        sleep 0.1
    done
    in_queue "$qid" hold || die "case $1: $qid is not in the hold queue"
    printf '%s\n' "$qid"
}
QA=$(held released)
QB=$(held rejected)
QC=$(held refused)

# ---- the console as milter-ingress, with the README's commands ----
# The README's two lines, each {queue_id} followed by the private instance's -c CONFIG_DIR.
readme_line() {
    grep -m1 -E "^    $1 = sudo -n " "$SRC_DIR/README.md" | sed -e 's/^    //' \
        -e "s|{queue_id}|{queue_id} -c $PF_CONF|g"
}
release_line=$(readme_line held_release_command)
reject_line=$(readme_line held_reject_command)
[[ -n $release_line && -n $reject_line ]] || die "the README has no sudo held_*_command lines"
mkdir -p "$T/state"
cat >"$CONF" <<EOF
database = $DB
console_listen = 127.0.0.1:$CONSOLE_PORT
console_users_file = $T/console-users
$release_line
$reject_line
EOF
: >"$DB" # ingressctl applies the schema to an empty file
ctl list show
ctl console-user add pm --role postmaster <<<"pm-secret-1"
[[ $CTL_RC -eq 0 ]] || die "console-user add pm: $CTL_OUT"
now=$(date +%s)
for qid in "$QA" "$QB" "$QC"; do
    sqlite3 "$DB" "INSERT INTO held (queue_id, held_at, account, sender, recipients, nrcpt,
        subject, size, reason) VALUES ('$qid', $((now - 60)), 'bob@example.test',
        'sender@e2e.test', 'user@example.net', 1, 'case', 300, 'held by the test')" ||
        die "could not insert the held row of $qid"
done
chown -R "$ACCOUNT:$ACCOUNT" "$T/state"
chgrp "$ACCOUNT" "$T/console-users" "$CONF"
chmod 0640 "$T/console-users" "$CONF"

# The drop-in's CapabilityBoundingSet= as setpriv's --bounding-set (-all,+setuid,...).
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$DROPIN_SRC" | tr 'A-Z ' 'a-z\n' |
    sed -n 's/^cap_\(.*\)/+\1/p' | paste -sd, -)
[[ -n $caps ]] || die "no CapabilityBoundingSet= in $DROPIN_SRC"

# start_console [SETPRIV_ARG...]: ingress-console as milter-ingress, once it listens.
start_console() {
    local i
    setpriv --reuid "$ACCOUNT" --regid "$ACCOUNT" --init-groups --bounding-set "-all,$caps" \
        "$@" -- "$CONSOLE_BIN" -c "$CONF" >>"$CONSOLE_LOG" 2>&1 &
    CONSOLE_PID=$!
    for ((i = 0; i < 300; i++)); do
        listening "$CONSOLE_PORT" && break
        alive "$CONSOLE_PID" || break
        sleep 0.1
    done
    listening "$CONSOLE_PORT" || die "ingress-console does not listen on 127.0.0.1:$CONSOLE_PORT"
    curl -s -o "$T/login" -c "$T/cookies" -H 'Content-Type: application/json' \
        -d '{"name":"pm","password":"pm-secret-1"}' "http://127.0.0.1:$CONSOLE_PORT/api/login"
    CSRF=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["csrf_token"])' \
        "$T/login") || die "login failed: $(cat "$T/login")"
}
# decide ID ACTION: POST /api/held/ID/ACTION; API_STATUS and API_BODY.
decide() {
    API_STATUS=$(curl -s -o "$T/answer" -w '%{http_code}' -b "$T/cookies" \
        -H "X-CSRF-Token: $CSRF" -H 'Content-Type: application/json' \
        -d '{"reason":"sudo test"}' "http://127.0.0.1:$CONSOLE_PORT/api/held/$1/$2")
    API_BODY=$(cat "$T/answer")
}
# gone_from_queue ID: Postfix no longer has the message (waits up to 15 s).
gone_from_queue() {
    local i
    for ((i = 0; i < 150; i++)); do
        in_queue "$1" || return 0
        sleep 0.1
    done
    return 1
}
# store_state ID: the state of the message's row in the held table.
store_state() {
    sqlite3 "$DB" "SELECT state FROM held WHERE queue_id = '$1'"
}
# still_held ID: in Postfix's hold queue and held in the store.
still_held() {
    in_queue "$1" hold && [[ $(store_state "$1") == held ]]
}

start_console
SETUP_DONE=1
say "console on 127.0.0.1:$CONSOLE_PORT as $ACCOUNT, smtpd on $SMTP_PORT, directory $T"
say "held_release_command = ${release_line#*= }"

# ---- b, c: release and reject through sudo ----
decide "$QA" release
if [[ $API_STATUS == 200 && $API_BODY == *'"released"'* ]] && f=$(delivered released) &&
    gone_from_queue "$QA"; then
    ok "b: release of $QA through sudo: 200, out of the hold queue, delivered to $(basename "$f")"
else
    not_ok "b: release through sudo: 200 and the message delivered" "status $API_STATUS: $API_BODY" \
        "store: $(store_state "$QA")" "$(tail -n 5 "$CONSOLE_LOG")"
fi
decide "$QB" reject
if [[ $API_STATUS == 200 && $API_BODY == *'"rejected"'* ]] && gone_from_queue "$QB" &&
    ! grep -rqx -- "X-E2E-Case: rejected" "$MAIL_DIR"; then
    ok "c: reject of $QB through sudo: 200, gone from Postfix's queue, never delivered"
else
    not_ok "c: reject through sudo: 200 and the message gone" "status $API_STATUS: $API_BODY" \
        "store: $(store_state "$QB")" "$(tail -n 5 "$CONSOLE_LOG")"
fi

# ---- d: without the sudoers file ----
rm -f -- "$SUDOERS"
lines_before=$(wc -l <"$CONSOLE_LOG")
decide "$QC" release
log_now=$(tail -n +"$((lines_before + 1))" "$CONSOLE_LOG")
if [[ $API_STATUS == 502 ]] && still_held "$QC" &&
    grep -qF "$QC: not released: held_release_command: sudo exited with status 1" <<<"$log_now" &&
    grep -qF "sudo: a password is required" <<<"$log_now"; then
    ok "d: without the sudoers file: 502, $QC still held, the log says sudo exited 1 (a password is required)"
else
    not_ok "d: without the sudoers file: 502, still held, the reason in the log" \
        "status $API_STATUS: $API_BODY" "store: $(store_state "$QC")" "log:" "$log_now"
fi

# ---- e: the file back, but no_new_privs set (the unit without the drop-in) ----
install -m 0440 -o root -g root "$T/sudoers" "$SUDOERS"
stop_console
start_console --no-new-privs
lines_before=$(wc -l <"$CONSOLE_LOG")
decide "$QC" release
log_now=$(tail -n +"$((lines_before + 1))" "$CONSOLE_LOG")
if [[ $API_STATUS == 502 ]] && still_held "$QC" &&
    grep -qF '"no new privileges" flag is set' <<<"$log_now"; then
    ok "e: with no_new_privs: 502, $QC still held, the log has sudo's \"no new privileges\" line"
else
    not_ok "e: with no_new_privs: 502, still held, sudo's reason in the log" \
        "status $API_STATUS: $API_BODY" "store: $(store_state "$QC")" "log:" "$log_now"
fi
stop_console
start_console
decide "$QC" release
if [[ $API_STATUS == 200 ]] && delivered refused >/dev/null && gone_from_queue "$QC"; then
    ok "e: the same release without the flag: 200, $QC delivered"
else
    not_ok "e: the same release without the flag: 200 and delivered" "status $API_STATUS: $API_BODY" \
        "$(tail -n 5 "$CONSOLE_LOG")"
fi

# ---- f: the drop-in on the installed unit, as systemd reads it ----
if command -v systemd-analyze >/dev/null; then
    U=$T/units
    mkdir -p "$U/ingress-console.service.d"
    cp "$UNIT" "$U/ingress-console.service"
    cp "$DROPIN_SRC" "$U/ingress-console.service.d/held.conf"
    # analyze VERB...: systemd-analyze with U first in the unit path, so the drop-in is found.
    analyze() { SYSTEMD_UNIT_PATH=$U: systemd-analyze "$@" "$U/ingress-console.service" 2>&1 || true; }
    # The binary is the build's, not at the unit's path: verify's complaint about it is expected.
    out=$(analyze verify --man=no)
    echo 'NoSuchSetting=1' >>"$U/ingress-console.service.d/held.conf"
    planted=$(analyze verify --man=no)
    cp "$DROPIN_SRC" "$U/ingress-console.service.d/held.conf"
    if ! grep -qiE 'ignoring|unknown|invalid' <<<"$out" &&
        grep -q "held.conf.*NoSuchSetting" <<<"$planted"; then
        ok "f: systemd-analyze verify: the unit with the drop-in, no line ignored (a planted bad line is reported)"
    else
        not_ok "f: systemd-analyze verify of the unit with the drop-in" "$out" "planted:" "$planted"
    fi
    # Each setting that makes systemd set no_new_privs for a User= service, and the flag itself.
    implying='NoNewPrivileges|PrivateDevices|ProtectHostname|ProtectClock|ProtectKernelTunables|ProtectKernelModules|ProtectKernelLogs|RestrictAddressFamilies|RestrictNamespaces|LockPersonality|MemoryDenyWriteExecute|RestrictRealtime|RestrictSUIDSGID|SystemCallFilter|SystemCallArchitectures'
    sec=$(analyze security --offline=true)
    on=$(grep -E "^✓ ($implying)=" <<<"$sec" || true)
    if grep -qE '^✗ NoNewPrivileges=' <<<"$sec" && [[ -z $on ]]; then
        ok "f: systemd-analyze security --offline: with the drop-in nothing sets no_new_privs"
    else
        not_ok "f: with the drop-in nothing sets no_new_privs" "still on:" "$on"
    fi
else
    echo "# skip: systemd-analyze not installed: the drop-in is not checked against the unit"
fi

# The console's end: SIGTERM, exit 0, and no sanitizer report in its log (of any of its runs).
status=running
if alive "$CONSOLE_PID"; then
    kill -TERM "$CONSOLE_PID"
    if wait_gone "$CONSOLE_PID" 10; then
        status=0
        wait "$CONSOLE_PID" || status=$?
        CONSOLE_PID=
    fi
else
    status=gone
fi
if [[ $status == 0 ]] &&
    ! grep -qE 'ERROR: AddressSanitizer|LeakSanitizer|runtime error:' "$CONSOLE_LOG"; then
    ok "ingress-console exits 0 on SIGTERM, no sanitizer report in its log"
else
    not_ok "ingress-console exits 0 on SIGTERM, no sanitizer report in its log" "status $status"
fi
echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
