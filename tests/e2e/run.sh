#!/usr/bin/env bash
# End-to-end test: a real NSD serving tests/dns/*.zone, milter-ingress in the foreground, and a
# private Postfix instance on loopback, driven by swaks from the 127.0.0.N test personas
# (tests/dns/README.md).  Everything lives under one temporary directory; everything started is
# stopped by its PID on exit, whatever happens.
#
#   tests/e2e/run.sh MILTER_BIN INGRESSCTL_BIN
#
# Prints one "ok - NAME" / "not ok - NAME" line per check and "N passed, M failed" at the end;
# exits non-zero when a check failed or the set-up broke.  Needs root, postfix, nsd, swaks, ss.
# KEEP_E2E_DIR=1 keeps the temporary directory (it is always kept when something failed).
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 MILTER_BIN INGRESSCTL_BIN" >&2
    exit 2
fi
MILTER_BIN=$(realpath -- "$1")
CTL_BIN=$(realpath -- "$2")
SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
NSD_CTL=$SRC_DIR/tests/dns/nsd-ctl.sh
PYTHON=/usr/bin/python3

for tool in postfix postconf swaks nsd ss timeout setsid; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "e2e: $tool is not installed" >&2
        exit 1
    fi
done
if [[ $(id -u) -ne 0 ]]; then
    echo "e2e: must run as root (private Postfix instance)" >&2
    exit 1
fi

# /tmp explicitly: the postfix and nobody users must be able to traverse every parent.
T=$(mktemp -d /tmp/ingress-e2e.XXXXXX)
chmod 755 "$T"
PF_CONF=$T/postfix
PF_QUEUE=$T/queue
PF_DATA=$T/data
MAIL_DIR=$T/mail
NSD_DIR=$T/nsd
CONF=$T/milter-ingress.conf
MILTER_LOG=$T/milter.log
PF_LOG=$T/postfix.log
SMTP_DIR=$T/smtp
mkdir -p "$PF_CONF" "$PF_QUEUE" "$PF_DATA" "$MAIL_DIR" "$NSD_DIR" "$SMTP_DIR"

MILTER_PID=
POSTFIX_PID=
NSD_RUNNING=0
PASSED=0
FAILED=0
SETUP_DONE=0

say() { printf '# %s\n' "$*"; }

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

# free_ports N: N distinct TCP ports free on 127.0.0.1 now, one per line.
free_ports() {
    "$PYTHON" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
EOF
}

dump_logs() {
    local f
    for f in "$MILTER_LOG" "$PF_LOG"; do
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

# group_members PGID: the live (not zombie) processes of process group PGID, one PID a line.
group_members() {
    ps -e -o pid=,pgid=,stat= | awk -v g="$1" '$2 == g && $3 !~ /^Z/ { print $1 }'
}

stop_postfix() {
    [[ -n $POSTFIX_PID ]] || return 0
    local master='' i
    [[ -r $PF_QUEUE/pid/master.pid ]] && master=$(tr -d ' \n' <"$PF_QUEUE/pid/master.pid")
    timeout 30 postfix -c "$PF_CONF" stop >/dev/null 2>&1 || true
    if ! wait_gone "$POSTFIX_PID" 15; then
        say "postfix (pid $POSTFIX_PID) did not stop; killing it"
        kill -TERM "$POSTFIX_PID" 2>/dev/null || true
        wait_gone "$POSTFIX_PID" 5 || kill -KILL "$POSTFIX_PID" 2>/dev/null || true
    fi
    wait "$POSTFIX_PID" 2>/dev/null || true
    # The master's children leave by themselves once the master is gone; they are in the
    # master's process group (the master makes itself a session leader).  Stragglers are killed.
    if [[ $master =~ ^[0-9]+$ ]]; then
        for ((i = 0; i < 100; i++)); do
            [[ -n $(group_members "$master") ]] || break
            sleep 0.1
        done
        if [[ -n $(group_members "$master") ]]; then
            say "Postfix processes left after the master: $(group_members "$master" | tr '\n' ' ')"
            kill -KILL -- "-$master" 2>/dev/null || true
        fi
    fi
    POSTFIX_PID=
}

stop_nsd() {
    [[ $NSD_RUNNING -eq 1 ]] || return 0
    NSD_RUNNING=0
    "$NSD_CTL" stop "$NSD_DIR" >/dev/null 2>&1 || say "nsd-ctl.sh stop failed"
}

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    stop_postfix
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
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

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

# ---------------------------------------------------------------------------------------------
# Set-up: ports, NSD, milter-ingress, Postfix.

mapfile -t ports < <(free_ports 2)
SMTP_PORT=${ports[0]}
MILTER_PORT=${ports[1]:-}
[[ -n $MILTER_PORT ]] || die "could not pick free ports"

if [[ ! -x $NSD_CTL ]]; then
    die "$NSD_CTL is missing"
fi
NSD_RUNNING=1 # from here on, cleanup asks nsd-ctl.sh to stop whatever it started
DNS_PORT=$("$NSD_CTL" start "$NSD_DIR") || die "nsd-ctl.sh start failed"
[[ $DNS_PORT =~ ^[0-9]+$ ]] || die "nsd-ctl.sh start printed '$DNS_PORT', not a port"
say "NSD on 127.0.0.1:$DNS_PORT, milter on $MILTER_PORT, smtpd on $SMTP_PORT, directory $T"

cat >"$CONF" <<EOF
# milter-ingress configuration for tests/e2e/run.sh
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
EOF

"$MILTER_BIN" -c "$CONF" -f 2>"$MILTER_LOG" &
MILTER_PID=$!
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

# The maildir belongs to the virtual delivery agent's user.
chown postfix "$PF_DATA"
chown nobody:nogroup "$MAIL_DIR"

cat >"$PF_CONF/main.cf" <<EOF
# Private Postfix instance for tests/e2e/run.sh.
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
smtpd_milters = inet:127.0.0.1:$MILTER_PORT
non_smtpd_milters =
milter_default_action = tempfail
milter_protocol = 6
EOF

# No chroot anywhere: the queue directory is ours and holds no copy of /etc.
cat >"$PF_CONF/master.cf" <<EOF
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
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

timeout 60 postfix -c "$PF_CONF" check || die "postfix check failed"
# Appending: the Postfix programs reopen /dev/stdout, which would truncate a file opened with >.
setsid postfix -c "$PF_CONF" start-fg >>"$PF_LOG" 2>&1 </dev/null &
POSTFIX_PID=$!
for ((i = 0; i < 300; i++)); do
    listening "$SMTP_PORT" && break
    alive "$POSTFIX_PID" || break
    sleep 0.1
done
listening "$SMTP_PORT" || die "Postfix does not listen on 127.0.0.1:$SMTP_PORT"
SETUP_DONE=1

# ---------------------------------------------------------------------------------------------
# Helpers for the cases.

# smtp NAME IP HELO RCPT [SWAKS_ARG...]: one SMTP transaction; the transcript is
# $SMTP_DIR/NAME.txt and the message carries "X-E2E-Case: NAME" to find its delivered copy.
smtp() {
    local name=$1 ip=$2 helo=$3 rcpt=$4
    shift 4
    timeout 90 swaks --server "127.0.0.1:$SMTP_PORT" --timeout 30 \
        --local-interface "$ip" --ehlo "$helo" \
        --from "sender@example.org" --to "$rcpt" \
        --add-header "X-E2E-Case: $name" "$@" >"$SMTP_DIR/$name.txt" 2>&1 || true
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

# delivered NAME: path of the delivered copy of case NAME (waits up to 15 s for delivery).
delivered() {
    local i f
    for ((i = 0; i < 150; i++)); do
        f=$(grep -rlx -- "X-E2E-Case: $1" "$MAIL_DIR" 2>/dev/null | head -n 1) || true
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

OUR_AR='Authentication-Results: mx.test.example; iprev=pass policy.iprev=127.0.0.2 (good.example.test)'
REJECT_PREFIX='550 5.7.25'

# ---------------------------------------------------------------------------------------------
# a. A good client is accepted and its mail gets our Authentication-Results.

smtp a 127.0.0.2 good.example.test user@example.net
r=$(reply a .)
QID_A=$(sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' <<<"$r")
if [[ $r == 250* && -n $QID_A ]]; then
    ok "a: 127.0.0.2 HELO good.example.test is accepted at end of DATA ($r)"
else
    not_ok "a: 127.0.0.2 HELO good.example.test is accepted at end of DATA" "$(transcript a)"
fi
if f=$(delivered a); then
    h=$(headers "$f")
    if grep -qxF -- "$OUR_AR" <<<"$h"; then
        ok "a: the delivered copy carries '$OUR_AR'"
    else
        not_ok "a: the delivered copy carries '$OUR_AR'" "headers:" "$h"
    fi
    first_ar=$(grep -i -m1 '^Authentication-Results:' <<<"$h" || true)
    if [[ $first_ar == "$OUR_AR" ]]; then
        ok "a: our Authentication-Results is the first one"
    else
        not_ok "a: our Authentication-Results is the first one" "first: $first_ar"
    fi
else
    not_ok "a: the delivered copy carries '$OUR_AR'" "no message with X-E2E-Case: a in $MAIL_DIR"
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
    ours=$(grep -ciE '^Authentication-Results: mx\.test\.example ?;' <<<"$h" || true)
    if [[ $ours -eq 1 ]] && grep -qxF -- "$OUR_AR" <<<"$h"; then
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

smtp c 127.0.0.4 nohost.example.test user@example.net
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
# g. DNS down: a client never looked up before gets 451 4.7.25 at RCPT.

stop_nsd
smtp g 127.0.0.7 seven.example.test user@example.net
r=$(reply g "RCPT TO")
if [[ $r == "451 4.7.25"* ]]; then
    ok "g: with NSD stopped, 127.0.0.7 gets 451 4.7.25 at RCPT ($r)"
else
    not_ok "g: with NSD stopped, 127.0.0.7 gets 451 4.7.25 at RCPT" "$(transcript g)"
fi

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
# i. SIGTERM ends the milter cleanly; sanitizer reports fail the run.

if [[ -n $MILTER_PID ]] && alive "$MILTER_PID"; then
    pid=$MILTER_PID
    kill -TERM "$pid"
    if wait_gone "$pid" 10; then
        status=0
        wait "$pid" || status=$?
        MILTER_PID=
        if [[ $status -eq 0 ]]; then
            ok "i: milter-ingress exits 0 on SIGTERM"
        else
            not_ok "i: milter-ingress exits 0 on SIGTERM" "exit status $status"
        fi
    else
        not_ok "i: milter-ingress exits 0 on SIGTERM" "still running 10 s after SIGTERM"
        stop_milter
    fi
else
    status=0
    [[ -z $MILTER_PID ]] || wait "$MILTER_PID" || status=$?
    MILTER_PID=
    not_ok "i: milter-ingress exits 0 on SIGTERM" "it had already exited (status $status)"
fi

sanitized=no
if [[ ${INGRESS_SANITIZE:-0} == 1 ]] || grep -q __asan_init "$MILTER_BIN"; then
    sanitized=yes
fi
# Checked whatever the build: a report in the log is a failure either way.
if grep -qE 'ERROR: AddressSanitizer|LeakSanitizer|runtime error:' "$MILTER_LOG"; then
    not_ok "i: no sanitizer report in the milter log (sanitized build: $sanitized)" \
        "$(grep -E -A30 'ERROR: AddressSanitizer|LeakSanitizer|runtime error:' "$MILTER_LOG" |
            head -n 60)"
else
    ok "i: no sanitizer report in the milter log (sanitized build: $sanitized)"
fi

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
