# Shared parts of the end-to-end tests (tests/e2e/run.sh with Postfix, tests/e2e/sendmail.sh with
# Sendmail): process and port helpers, NSD, the milter, swaks transactions and what they replied,
# delivered copies, ingressctl, the ok/not ok lines.  Sourced, never run.
#
# The sourcing script sets SRC_DIR (the source tree) first, then calls e2e_args "$@", e2e_require
# and e2e_dir; it sets MILTER_PORT, SMTP_PORT and SUB_PORT (smtp, submit_as) and LOG_FILES (an
# array, shown on failure), and defines stop_mta (called on exit).  Delivered mail is looked for in
# MAIL_DIR/*/new (a maildir per mailbox).
# shellcheck shell=bash

NSD_CTL=$SRC_DIR/tests/dns/nsd-ctl.sh
PYTHON=/usr/bin/python3
# shellcheck source=tests/lib/procs.sh
source "$SRC_DIR/tests/lib/procs.sh" # free_ports, stop_pids
MILTER_PID=
POSTFIX_WRAP=()
NSD_RUNNING=0
PASSED=0
FAILED=0
SETUP_DONE=0

say() { printf '# %s\n' "$*"; }

# e2e_args "$@": the script's two arguments, the milter-ingress and ingressctl binaries.
e2e_args() {
    if [[ $# -ne 2 ]]; then
        echo "usage: $0 MILTER_BIN INGRESSCTL_BIN" >&2
        exit 2
    fi
    MILTER_BIN=$(realpath -- "$1")
    CTL_BIN=$(realpath -- "$2")
}

# e2e_require TOOL...: each tool is installed, and we are root (the MTAs' queues).
e2e_require() {
    local tool
    for tool in "$@"; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "e2e: $tool is not installed" >&2
            exit 1
        fi
    done
    if [[ $(id -u) -ne 0 ]]; then
        echo "e2e: must run as root (a private MTA)" >&2
        exit 1
    fi
}

# e2e_dir NAME: the test directory T (/tmp/ingress-NAME.XXXXXX) with the milter's, NSD's and the
# transcripts' places in it, and the traps that clean up on exit.  /tmp explicitly, opened up: the
# MTA's users and nobody (delivery) must be able to traverse every parent.
e2e_dir() {
    T=$(mktemp -d "/tmp/ingress-$1.XXXXXX")
    chmod 755 "$T"
    MAIL_DIR=$T/mail
    NSD_DIR=$T/nsd
    CONF=$T/milter-ingress.conf
    MILTER_LOG=$T/milter.log
    SMTP_DIR=$T/smtp
    mkdir -p "$MAIL_DIR" "$NSD_DIR" "$SMTP_DIR"
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# alive PID: the process exists and is not a zombie (our own children stay zombies until waited).
alive() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ -n $state && $state != Z* ]]
}

# wait_gone PID SECONDS: true once PID has gone within the time.
wait_gone() {
    local pid=$1 i
    for ((i = 0; i < $2 * 10; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
    ! alive "$pid"
}

# listening PORT: something listens on 127.0.0.1:PORT (TCP).  No connection is made, so neither
# smtpd nor the milter sees a probe.
listening() {
    [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]
}

# group_members PGID: the live (not zombie) processes of process group PGID, one PID a line.
group_members() {
    ps -e -o pid=,pgid=,stat= | awk -v g="$1" '$2 == g && $3 !~ /^Z/ { print $1 }'
}

# wait_group_gone PGID NAME: waits up to 10 s for the processes of group PGID (the children of
# a daemon that was its group's leader) to leave by themselves, then kills the stragglers.
wait_group_gone() {
    local pgid=$1 i
    for ((i = 0; i < 100; i++)); do
        [[ -n $(group_members "$pgid") ]] || return 0
        sleep 0.1
    done
    say "$2 processes left after the daemon: $(group_members "$pgid" | tr '\n' ' ')"
    kill -KILL -- "-$pgid" 2>/dev/null || true
}

# dump_logs: the last lines of each file of LOG_FILES, for failure details.
dump_logs() {
    local f
    for f in "${LOG_FILES[@]}"; do
        [[ -s $f ]] || continue
        say "---- last lines of $f ----"
        tail -n 60 "$f" | sed 's/^/#   /'
    done
}

stop_milter() {
    [[ -n $MILTER_PID ]] || return 0
    if alive "$MILTER_PID"; then
        kill -TERM "$MILTER_PID" 2>/dev/null || true
        if ! wait_gone "$MILTER_PID" 10; then
            say "milter-ingress (pid $MILTER_PID) ignored SIGTERM; killing it"
            kill -KILL "$MILTER_PID" 2>/dev/null || true
        fi
    fi
    wait "$MILTER_PID" 2>/dev/null || true
    MILTER_PID=
}

# start_nsd: NSD serving tests/dns/*.zone from NSD_DIR; sets DNS_PORT.
start_nsd() {
    [[ -x $NSD_CTL ]] || die "$NSD_CTL is missing"
    NSD_RUNNING=1 # from here on, cleanup asks nsd-ctl.sh to stop whatever it started
    DNS_PORT=$("$NSD_CTL" start "$NSD_DIR") || die "nsd-ctl.sh start failed"
    [[ $DNS_PORT =~ ^[0-9]+$ ]] || die "nsd-ctl.sh start printed '$DNS_PORT', not a port"
}

stop_nsd() {
    [[ $NSD_RUNNING -eq 1 ]] || return 0
    NSD_RUNNING=0
    "$NSD_CTL" stop "$NSD_DIR" >/dev/null 2>&1 || say "nsd-ctl.sh stop failed"
}

# cleanup: the EXIT trap.  Stops the MTA (stop_mta, the script's own), the milter and NSD; keeps
# the test directory T when something failed (or KEEP_E2E_DIR=1), removes it otherwise.
cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    stop_mta
    stop_milter
    stop_nsd
    if [[ $rc -ne 0 || $FAILED -ne 0 ]]; then
        [[ $SETUP_DONE -eq 1 ]] || say "set-up failed (exit $rc)"
        dump_logs
        say "test directory kept: $T"
    elif [[ ${KEEP_E2E_DIR:-0} == 1 ]]; then
        say "test directory kept: $T"
    else
        rm -rf -- "$T"
    fi
    [[ $rc -ne 0 ]] || [[ $FAILED -eq 0 ]] || rc=1
    exit "$rc"
}
die() {
    say "e2e: $*"
    exit 1
}

ok() {
    PASSED=$((PASSED + 1))
    echo "ok - $1"
}

# not_ok NAME [DETAIL...]: each detail line is printed as a comment.
not_ok() {
    FAILED=$((FAILED + 1))
    echo "not ok - $1"
    shift
    local line
    for line in "$@"; do
        printf '%s\n' "$line" | sed 's/^/#   /'
    done
}

# milter_conf_common: the configuration lines both tests start from (milter on MILTER_PORT, NSD
# on DNS_PORT, the database in T, replies with help text).
milter_conf_common() {
    cat <<EOF
socket = inet:$MILTER_PORT@127.0.0.1
database = $T/ingress.db
authserv_id = mx.test.example
dns_servers = 127.0.0.1:$DNS_PORT
dns_timeout = 1s
dns_tries = 1
# The default trusts loopback, which would skip every check for the 127.0.0.N personas.
trusted_networks =
iprev_helo = resolve
iprev_action = reject
exempt_recipients = postmaster, abuse
help_text = https://help.example/{check}
user =
allow_root = yes
greylist_ipv4_prefix = 32
EOF
}

# sasl_setup DB APPFILE: a Cyrus sasldb DB (mode 0600) with the two submission accounts, and the
# MTA's SASL application file APPFILE that points the auxprop plugin at it, PLAIN and LOGIN only.
# Logins are user@realm (alice in realm example.test), and the MTA passes the whole login as
# {auth_authen}.  alice submits (cases s), bob is throttled (cases t).
SASL_USER=alice@example.test
SASL_PASS=e2e-secret-1
BOB=bob@example.test
BOB_PASS=e2e-secret-2
sasl_setup() {
    printf '%s' "$SASL_PASS" | saslpasswd2 -p -f "$1" -u example.test -c alice ||
        die "saslpasswd2 failed"
    printf '%s' "$BOB_PASS" | saslpasswd2 -p -f "$1" -u example.test -c bob ||
        die "saslpasswd2 failed"
    chmod 600 "$1"
    cat >"$2" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $1
mech_list: PLAIN LOGIN
EOF
}

# ---- a private Postfix instance (tests/e2e/run.sh, tests/install/package.sh) ----

# postfix_dirs: its configuration, queue and data directories in T (PF_CONF, PF_QUEUE, PF_DATA)
# and its log, PF_LOG.
postfix_dirs() {
    PF_CONF=$T/postfix
    PF_QUEUE=$T/queue
    PF_DATA=$T/data
    PF_LOG=$T/postfix.log
    POSTFIX_PID=
    mkdir -p "$PF_CONF" "$PF_QUEUE" "$PF_DATA"
}

# postfix_main_cf MILTERS: the main.cf lines both Postfix tests use: the instance's directories,
# loopback only, no DNS of its own, delivery of example.net to maildirs in MAIL_DIR, and
# smtpd_milters = MILTERS with milter_default_action = tempfail.
postfix_main_cf() {
    cat <<EOF
compatibility_level = 3.6
queue_directory = $PF_QUEUE
data_directory = $PF_DATA
maillog_file = /dev/stdout
myhostname = mx.test.example
mydomain = test.example
myorigin = \$mydomain
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
smtpd_peername_lookup = no
smtputf8_enable = no
biff = no
alias_maps =
alias_database =
relayhost =
default_transport = error:no outbound mail from the e2e instance
virtual_mailbox_domains = example.net
virtual_mailbox_base = $MAIL_DIR
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:$(id -u nobody)
virtual_gid_maps = static:$(id -g nobody)
# Anyone may deliver to example.net; nothing else.
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions =
smtpd_milters = $1
non_smtpd_milters =
milter_default_action = tempfail
milter_protocol = 6
EOF
}

# postfix_master_services: the master.cf lines of every service but the smtpd listeners, none
# chrooted (the queue directory is the test's and holds no copy of /etc).
postfix_master_services() {
    cat <<EOF
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

# postfix_sasl_main_cf: the main.cf lines of SASL AUTH (Cyrus, the application file sasl/smtpd.conf
# of the configuration directory), enabled only where master.cf says smtpd_sasl_auth_enable.
postfix_sasl_main_cf() {
    cat <<EOF
# SASL, enabled only on the submission listener of master.cf (smtpd_sasl_auth_enable there).
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
smtpd_sasl_local_domain =
smtpd_tls_auth_only = no
EOF
}

# postfix_master_cf: master.cf with smtpd on SMTP_PORT, the submission listener (SASL AUTH) on
# SUB_PORT, and every other service (postfix_master_services).
postfix_master_cf() {
    cat <<EOF
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
127.0.0.1:$SUB_PORT inet n - n - - smtpd
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject_unauth_destination
EOF
    postfix_master_services
}

# queue_id NAME: the queue id Postfix gave case NAME ("queued as ...").
queue_id() {
    reply "$1" . | sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p'
}

# in_queue QUEUE_ID [QUEUE_NAME]: postqueue -j of the Postfix of PF_CONF lists the message (in that
# queue, when given).
in_queue() {
    postqueue -c "$PF_CONF" -j 2>/dev/null | "$PYTHON" -c 'import json, sys
qid, name = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in sys.stdin if l.strip()]
sys.exit(0 if any(r.get("queue_id") == qid and name in ("", r.get("queue_name")) for r in rows)
         else 1)' "$1" "${2:-}"
}

# postfix_start PORT...: postfix check, then the master in the foreground (its log appended to
# PF_LOG), run under the command prefix POSTFIX_WRAP (an array, empty by default); waits until
# every PORT listens (dies when one does not).
postfix_start() {
    local i port
    timeout 60 postfix -c "$PF_CONF" check || die "postfix check failed"
    # Appending: the Postfix programs reopen /dev/stdout, which would truncate a file opened with >.
    setsid "${POSTFIX_WRAP[@]}" postfix -c "$PF_CONF" start-fg >>"$PF_LOG" 2>&1 </dev/null &
    POSTFIX_PID=$!
    for port in "$@"; do
        for ((i = 0; i < 300; i++)); do
            listening "$port" && break
            alive "$POSTFIX_PID" || break
            sleep 0.1
        done
        listening "$port" || die "Postfix does not listen on 127.0.0.1:$port"
    done
}

stop_postfix() {
    [[ -n ${POSTFIX_PID:-} ]] || return 0
    local master=''
    [[ -r $PF_QUEUE/pid/master.pid ]] && master=$(tr -d ' \n' <"$PF_QUEUE/pid/master.pid")
    timeout 30 postfix -c "$PF_CONF" stop >/dev/null 2>&1 || true
    if ! wait_gone "$POSTFIX_PID" 15; then
        say "postfix (pid $POSTFIX_PID) did not stop; killing it"
        kill -TERM "$POSTFIX_PID" 2>/dev/null || true
        wait_gone "$POSTFIX_PID" 5 || kill -KILL "$POSTFIX_PID" 2>/dev/null || true
    fi
    wait "$POSTFIX_PID" 2>/dev/null || true
    # The master's children leave by themselves once the master is gone; they are in the
    # master's process group (the master makes itself a session leader).
    [[ ! $master =~ ^[0-9]+$ ]] || wait_group_gone "$master" Postfix
    POSTFIX_PID=
}

# start_milter: milter-ingress in the foreground, its log appended to $MILTER_LOG; waits until it
# listens (dies when it does not).
start_milter() {
    "$MILTER_BIN" -c "$CONF" -f 2>>"$MILTER_LOG" &
    MILTER_PID=$!
    local i status
    for ((i = 0; i < 200; i++)); do
        listening "$MILTER_PORT" && break
        alive "$MILTER_PID" || break
        sleep 0.1
    done
    if ! listening "$MILTER_PORT"; then
        status=running
        if ! alive "$MILTER_PID"; then
            status=0
            wait "$MILTER_PID" || status=$?
            MILTER_PID=
        fi
        die "milter-ingress does not listen on 127.0.0.1:$MILTER_PORT (status: $status)"
    fi
}

# smtp NAME IP HELO RCPT [SWAKS_ARG...]: one SMTP transaction with MAIL FROM $FROM; the
# transcript is $SMTP_DIR/NAME.txt and the message carries "X-E2E-Case: NAME" to find its
# delivered copy.  The sender domains are in tests/dns/e2e.test.zone; e2e.test gives SPF pass to
# every 127.0.0.N client.
FROM=sender@e2e.test
smtp() {
    local name=$1 ip=$2 helo=$3 rcpt=$4
    shift 4
    timeout 90 swaks --server "127.0.0.1:$SMTP_PORT" --timeout 30 \
        --local-interface "$ip" --ehlo "$helo" \
        --from "$FROM" --to "$rcpt" \
        --add-header "X-E2E-Case: $name" "$@" >"$SMTP_DIR/$name.txt" 2>&1 || true
}

# smtp_file NAME IP HELO RCPT FILE: the same with the message of FILE sent as it is (it carries
# its own X-E2E-Case header).
smtp_file() {
    timeout 90 swaks --server "127.0.0.1:$SMTP_PORT" --timeout 30 \
        --local-interface "$2" --ehlo "$3" --from "$FROM" --to "$4" \
        --data "@$5" >"$SMTP_DIR/$1.txt" 2>&1 || true
}

# reply NAME CMD: the server's reply (lines of a multi-line reply joined by a space) to the last
# client line that is CMD or starts with "CMD " or "CMD:" ("." is the end of DATA).
reply() {
    awk -v cmd="$2" '
        /^ -> / { last = substr($0, 5); more = 0; next }
        /^(<-|<\*\*) / {
            if (last == cmd || index(last, cmd " ") == 1 || index(last, cmd ":") == 1) {
                line = $0
                sub(/^(<-|<\*\*) +/, "", line)
                r = more ? r " " line : line
                more = 1
            }
            next
        }
        END { print r }' "$SMTP_DIR/$1.txt"
}

# transcript NAME: the server's lines of a transaction, for failure details.
transcript() {
    grep -E '^(<-|<\*\*|\*\*\*) ' "$SMTP_DIR/$1.txt" || cat "$SMTP_DIR/$1.txt"
}

# delivered NAME: path of the delivered copy of case NAME (waits up to 15 s for delivery).  Only
# new/ and cur/ of the maildir: a file in tmp/ is still being written and is renamed away.
delivered() {
    local i f
    for ((i = 0; i < 150; i++)); do
        f=$(grep -rlx -- "X-E2E-Case: $1" "$MAIL_DIR"/*/new "$MAIL_DIR"/*/cur 2>/dev/null |
            head -n 1) || true
        if [[ -n $f ]]; then
            printf '%s\n' "$f"
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# headers FILE: the header section, one header per line (folded lines joined), white space
# squeezed to single spaces.
headers() {
    awk '{ sub(/\r$/, "") }
         /^$/ { exit }
         /^[ \t]/ { sub(/^[ \t]+/, " "); cur = cur $0; next }
         { if (cur != "") print cur; cur = $0 }
         END { if (cur != "") print cur }' "$1" | tr -s ' \t' ' '
}

# ctl ARG...: ingressctl with the test config; output in $CTL_OUT, status in $CTL_RC.
ctl() {
    CTL_RC=0
    CTL_OUT=$(timeout 20 "$CTL_BIN" -c "$CONF" "$@" 2>&1) || CTL_RC=$?
}

# why_has CASE KEY CHECK REPLY: `ingressctl why KEY` shows a decision of check CHECK whose reply
# starts with REPLY.
# The milter writes its decision log in batches (every 200 ms): a decision may take that long to
# be readable from another process, so the check is tried for up to 3 s.
why_has() {
    local label="$1: ingressctl why $2 shows check $3 and $4" i
    for ((i = 0; i < 30; i++)); do
        ctl why "$2"
        if [[ $CTL_RC -eq 0 ]] && grep -qF "check $3:" <<<"$CTL_OUT" &&
            grep -qF "the sender was told: $4" <<<"$CTL_OUT"; then
            ok "$label"
            return
        fi
        sleep 0.1
    done
    not_ok "$label" "exit $CTL_RC; output:" "$CTL_OUT"
}

# our_ar HEADERS: the Authentication-Results headers with our authserv-id.
our_ar() {
    grep -iE '^Authentication-Results: mx\.test\.example ?;' <<<"$1" || true
}

# ar_has AR_LINE PART...: every PART starts one of the "; "-separated parts of AR_LINE (the first
# part, the authserv-id, included).
ar_has() {
    local line=$1 part
    shift
    for part in "$@"; do
        awk -v want="$part" '
            { sub(/^[^:]*: */, ""); n = split($0, p, ";")
              for (i = 1; i <= n; i++) { sub(/^ +/, "", p[i]); sub(/ +$/, "", p[i])
                  if (index(p[i], want) == 1) found = 1 } }
            END { exit !found }' <<<"$line" || return 1
    done
}

# submit_as USER PASSWORD NAME MAIL_FROM [SWAKS_ARG...]: one transaction to user@example.net on
# SUB_PORT, authenticated with SASL AUTH PLAIN as USER, from 127.0.0.40; like smtp.
submit_as() {
    local user=$1 pass=$2 name=$3 from=$4
    shift 4
    timeout 90 swaks --server "127.0.0.1:$SUB_PORT" --timeout 30 \
        --local-interface 127.0.0.40 --ehlo submit.example.test \
        --auth PLAIN --auth-user "$user" --auth-password "$pass" \
        --from "$from" --to user@example.net --header "Subject: case $name" \
        --add-header "X-E2E-Case: $name" "$@" >"$SMTP_DIR/$name.txt" 2>&1 || true
}

# case_dns_down CASE: NSD stopped, a client never looked up before (127.0.0.7) gets 451 4.7.25
# at RCPT.
case_dns_down() {
    local r
    stop_nsd
    smtp "$1" 127.0.0.7 seven.example.test user@example.net
    r=$(reply "$1" "RCPT TO")
    if [[ $r == "451 4.7.25"* ]]; then
        ok "$1: with NSD stopped, 127.0.0.7 gets 451 4.7.25 at RCPT ($r)"
    else
        not_ok "$1: with NSD stopped, 127.0.0.7 gets 451 4.7.25 at RCPT" "$(transcript "$1")"
    fi
}

# case_unowned_sender CASE: the account SASL_USER, authenticated, sending as other@example.test
# gets 553 5.7.1 at MAIL FROM.
case_unowned_sender() {
    local r0 r
    submit_as "$SASL_USER" "$SASL_PASS" "$1" other@example.test
    r0=$(reply "$1" AUTH)
    r=$(reply "$1" "MAIL FROM")
    if [[ $r0 == 235* && $r == "553 5.7.1"* ]]; then
        ok "$1: $SASL_USER sending as other@example.test gets 553 5.7.1 at MAIL FROM ($r)"
    else
        not_ok "$1: $SASL_USER sending as other@example.test gets 553 5.7.1 at MAIL FROM" \
            "$(transcript "$1")"
    fi
}

# check_held_listed CASE QUEUE_ID REASON QUEUE_ID2: `ingressctl held list` shows QUEUE_ID with
# REASON and QUEUE_ID2 with the account BOB.
check_held_listed() {
    ctl held list
    if [[ $CTL_RC -eq 0 ]] && grep -F "$2" <<<"$CTL_OUT" | grep -qF "$3" &&
        grep -F "$4" <<<"$CTL_OUT" | grep -qF "$BOB"; then
        ok "$1: ingressctl held list shows $2 and $4 with the account and the reason"
    else
        not_ok "$1: ingressctl held list shows both held messages with the reason" \
            "exit $CTL_RC; output:" "$CTL_OUT"
    fi
}

# check_held_rejected CASE QUEUE_ID REASON SENT: `ingressctl held show` records the rejection and
# its reason, and the message (sent as case SENT) is in no mailbox.
check_held_rejected() {
    ctl held show "$2"
    if [[ $CTL_RC -eq 0 ]] && grep -q '^state: *rejected' <<<"$CTL_OUT" &&
        grep -qF "$3" <<<"$CTL_OUT" && ! grep -rqx -- "X-E2E-Case: $4" "$MAIL_DIR"; then
        ok "$1: the rejection is recorded with who decided and why; $4 was never delivered"
    else
        not_ok "$1: held show records the rejection; $4 is not delivered" \
            "exit $CTL_RC; output:" "$CTL_OUT"
    fi
}

# check_milter_exit CASE: SIGTERM ends the milter with status 0, and its log has no sanitizer
# report (checked whatever the build: a report in the log is a failure either way).
check_milter_exit() {
    local c=$1 pid status sanitized=no
    if [[ -n $MILTER_PID ]] && alive "$MILTER_PID"; then
        pid=$MILTER_PID
        kill -TERM "$pid"
        if wait_gone "$pid" 10; then
            status=0
            wait "$pid" || status=$?
            MILTER_PID=
            if [[ $status -eq 0 ]]; then
                ok "$c: milter-ingress exits 0 on SIGTERM"
            else
                not_ok "$c: milter-ingress exits 0 on SIGTERM" "exit status $status"
            fi
        else
            not_ok "$c: milter-ingress exits 0 on SIGTERM" "still running 10 s after SIGTERM"
            stop_milter
        fi
    else
        status=0
        [[ -z $MILTER_PID ]] || wait "$MILTER_PID" || status=$?
        MILTER_PID=
        not_ok "$c: milter-ingress exits 0 on SIGTERM" "it had already exited (status $status)"
    fi

    if [[ ${INGRESS_SANITIZE:-0} == 1 ]] || grep -q __asan_init "$MILTER_BIN"; then
        sanitized=yes
    fi
    if grep -qE 'ERROR: AddressSanitizer|LeakSanitizer|runtime error:' "$MILTER_LOG"; then
        not_ok "$c: no sanitizer report in the milter log (sanitized build: $sanitized)" \
            "$(grep -E -A30 'ERROR: AddressSanitizer|LeakSanitizer|runtime error:' "$MILTER_LOG" |
                head -n 60)"
    else
        ok "$c: no sanitizer report in the milter log (sanitized build: $sanitized)"
    fi
}

# e2e_finish: the last case (i: clean exit, no sanitizer report) and the summary line; false when a
# check failed.
e2e_finish() {
    check_milter_exit i
    echo "$PASSED passed, $FAILED failed"
    [[ $FAILED -eq 0 ]]
}
