#!/usr/bin/env bash
# The Debian package, end to end, on this machine (root, Debian 12):
#   1. dpkg-buildpackage -us -uc -b in a copy of the tree (the source tree is left as it was),
#      DEB_BUILD_OPTIONS=nocheck: Debian's build flags (_FORTIFY_SOURCE, -O2) with -Werror;
#   2. lintian reports no error;
#   3. apt-get install ./milter-ingress_VERSION_ARCH.deb: the account and its group (postfix in
#      it), the directories, the database (--init), the config a conffile in /etc/milter-ingress,
#      and postinst saying what to add to Postfix's main.cf; milter-ingress -t accepts the
#      installed config, ingressctl reads the database through it; ingress-console, its man page
#      and its unit (not enabled), the console's users file 0640 root:milter-ingress, and the
#      console as the unit's User logging in a user that root's ingressctl added;
#   4. the daemon started the way the unit's ExecStart does (its User, Group and UMask; no
#      systemd here), with /dev/log a socket of the test's in a mount namespace of its own: it
#      logs to syslog with the facility mail, one timestamp a line;
#   5. a private Postfix whose smtpd runs chrooted in its queue directory, where the package's
#      socket directory is bind-mounted as Debian's /var/spool/postfix has it, with smtpd_milters
#      exactly as postinst printed it: a good client's message is delivered with the milter's
#      Authentication-Results, a client without reverse DNS gets 550 5.7.25, and ingressctl why
#      (with the installed config) shows that decision;
#   6. apt-get purge: nothing of the package is left (the account and its group stay, as Debian
#      does with system accounts; postfix leaves the group).
# When the test fails midway, its cleanup still stops what it started and purges the package.
# The machine must not have milter-ingress installed already (the test then skips: status 77).
#
#   tests/install/package.sh
set -euo pipefail

SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
source "$SRC_DIR/tests/e2e/lib.sh"
e2e_require dpkg-buildpackage apt-get lintian postfix postconf swaks nsd ss setsid setpriv unshare \
    flock
if [[ ${INGRESS_SANITIZE:-0} == 1 ]]; then
    echo "# skip: the package is built with Debian's flags, not the sanitizers; the gcc run tests it"
    exit 77
fi
if dpkg-query -W -f='${Status}' milter-ingress 2>/dev/null | grep -q 'ok installed'; then
    echo "# skip: milter-ingress is installed on this machine, and this test would purge it"
    exit 77
fi
# One run at a time on a machine: the package is installed system-wide.
exec 9>/tmp/ingress-package-test.lock
flock 9

e2e_dir package
postfix_dirs
LOG_FILES=("$T/build.log" "$T/apt-install.log" "$PF_LOG" "$T/syslog.txt")
UNIT=/lib/systemd/system/milter-ingress.service
CONF=/etc/milter-ingress/milter-ingress.conf
SOCK=/var/spool/postfix/milter-ingress/milter-ingress.sock
SYSLOG_PID=
PURGED=0
MILTER_BIN=/usr/sbin/milter-ingress # for check_milter_exit

purge_package() {
    [[ $PURGED == 0 ]] || return 0
    PURGED=1
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -q milter-ingress >"$T/apt-purge.log" 2>&1
}
stop_mta() {
    stop_postfix
    stop_milter
    if [[ -n $SYSLOG_PID ]]; then
        kill "$SYSLOG_PID" 2>/dev/null || true
        wait "$SYSLOG_PID" 2>/dev/null || true
        SYSLOG_PID=
    fi
    if dpkg-query -W -f='${Status}' milter-ingress 2>/dev/null | grep -q 'ok installed'; then
        purge_package || say "apt-get purge milter-ingress failed: $(tail -n 5 "$T/apt-purge.log")"
    fi
}

# ours: every path of the system that names the package or its programs (what a purge must remove).
ours() {
    find /etc /usr /lib /var/lib /var/spool /var/cache /run /opt -xdev \
        \( -name '*milter-ingress*' -o -name '*ingressctl*' \) -print 2>/dev/null | sort
}

# ---------------------------------------------------------------------------------------------
# 1. The package, built in a copy of the tree.

version=$(sed -n 's/^project(milter-ingress VERSION \([0-9.]*\).*/\1/p' "$SRC_DIR/CMakeLists.txt")
arch=$(dpkg --print-architecture)
tree_before=$(git -C "$SRC_DIR" status --porcelain --ignored 2>/dev/null || true)
mkdir -p "$T/build/milter-ingress-$version"
if git -C "$SRC_DIR" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$SRC_DIR" && git ls-files -z -co --exclude-standard | tar --null -T - -cf -) |
        tar -C "$T/build/milter-ingress-$version" -xf -
else
    tar -C "$SRC_DIR" --exclude='./build*' --exclude=./.git -cf - . |
        tar -C "$T/build/milter-ingress-$version" -xf -
fi
chmod -R a+rX "$T/build"
started=$SECONDS
if (cd "$T/build/milter-ingress-$version" &&
    DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1; then
    say "dpkg-buildpackage took $((SECONDS - started)) s"
else
    die "dpkg-buildpackage failed: $(grep -m 5 -E 'error:|Error [0-9]' "$T/build.log")"
fi
DEB=$T/build/milter-ingress_${version}_$arch.deb
if [[ -s $DEB ]]; then
    ok "dpkg-buildpackage -us -uc -b builds milter-ingress_${version}_$arch.deb (the project's version)"
else
    not_ok "dpkg-buildpackage builds milter-ingress_${version}_$arch.deb" "$(ls "$T/build")"
    exit 1
fi
if [[ $(git -C "$SRC_DIR" status --porcelain --ignored 2>/dev/null || true) == "$tree_before" ]]; then
    ok "the source tree is as it was (the package was built in a copy)"
else
    not_ok "the source tree is as it was" "$(git -C "$SRC_DIR" status --porcelain --ignored)"
fi

# ---------------------------------------------------------------------------------------------
# 2. lintian

if lintian --fail-on error "$T/build/milter-ingress_${version}_$arch.changes" >"$T/lintian.log" 2>&1; then
    ok "lintian reports no error ($(grep -c '^W:' "$T/lintian.log" || true) warnings)"
else
    not_ok "lintian reports no error" "$(grep -E '^[EW]:' "$T/lintian.log")"
fi
grep -E '^[WI]:' "$T/lintian.log" | sed 's/^/# lintian: /' || true

# ---------------------------------------------------------------------------------------------
# 3. apt-get install ./milter-ingress_VERSION_ARCH.deb

before=$(ours)
postfix_groups_before=$(id -nG postfix)
cd "$T/build"
if DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "./$(basename "$DEB")" \
    >"$T/apt-install.log" 2>&1; then
    ok "apt-get install ./$(basename "$DEB")"
else
    not_ok "apt-get install ./$(basename "$DEB")" "$(tail -n 20 "$T/apt-install.log")"
    exit 1
fi
cd "$T"
SPEC=$(tr -d '\r' <"$T/apt-install.log" | sed -n 's/^ *smtpd_milters = //p')
if [[ $SPEC == unix:milter-ingress/milter-ingress.sock ]] &&
    grep -q "postfix reload" "$T/apt-install.log"; then
    ok "postinst says what to add to main.cf: smtpd_milters = $SPEC, then postfix reload"
else
    not_ok "postinst says what to add to main.cf" "$(grep -A 12 'milter-ingress' "$T/apt-install.log")"
fi
if dpkg-query -W -f='${Conffiles}\n' milter-ingress | grep -q "^ $CONF " &&
    ! dpkg -L milter-ingress | grep -q '^/usr/etc'; then
    ok "$CONF is a conffile (the package has nothing under /usr/etc)"
else
    not_ok "$CONF is a conffile" "$(dpkg-query -W -f='${Conffiles}\n' milter-ingress)"
fi
if out=$(milter-ingress -t 2>&1); then
    ok "milter-ingress -t accepts the installed config ($out)"
else
    not_ok "milter-ingress -t accepts the installed config" "$out"
fi
if getent passwd milter-ingress >/dev/null && id -nG postfix | grep -qw milter-ingress; then
    ok "the account milter-ingress exists, and postfix is in its group"
else
    not_ok "the account milter-ingress exists, and postfix is in its group" "$(id milter-ingress 2>&1)" \
        "postfix: $(id -nG postfix)"
fi
modes=$(stat -c '%a %U:%G' /var/lib/milter-ingress /var/spool/postfix/milter-ingress \
    /var/lib/milter-ingress/ingress.db 2>&1 | tr '\n' ' ')
if [[ $modes == "750 milter-ingress:milter-ingress 750 milter-ingress:milter-ingress "*" milter-ingress:milter-ingress " ]]; then
    ok "the state and socket directories are 0750 milter-ingress's, the database exists and is its"
else
    not_ok "the state and socket directories are 0750 milter-ingress's, with the database" "$modes"
fi
ctl_rc=0
ctl_out=$(ingressctl list show 2>&1) || ctl_rc=$?
if [[ $ctl_rc == 1 && $ctl_out == "no entries" ]]; then
    ok "ingressctl reads the database through the installed config (no entries yet)"
else
    not_ok "ingressctl reads the database through the installed config" "status $ctl_rc: $ctl_out"
fi
missing_man=$(for p in milter-ingress ingressctl ingress-console milter-ingress.conf; do man -w "$p" >/dev/null 2>&1 || echo "$p"; done)
if [[ -z $missing_man ]]; then
    ok "man finds milter-ingress(8), ingressctl(8), ingress-console(8) and milter-ingress.conf(5)"
else
    not_ok "man finds every page" "missing: $missing_man"
fi

# The console: installed with its unit, which is not enabled (no user yet) while the milter's is;
# the users file made for it, root's and read through the group.
CONSOLE_UNIT=/lib/systemd/system/ingress-console.service
wants=/etc/systemd/system/multi-user.target.wants
users_mode=$(stat -c '%a %U:%G' /etc/milter-ingress/console-users 2>&1) || true
if [[ -x /usr/sbin/ingress-console && -s $CONSOLE_UNIT && $users_mode == "640 root:milter-ingress" &&
    ! -e $wants/ingress-console.service && -e $wants/milter-ingress.service ]] &&
    grep -qx 'User=milter-ingress' "$CONSOLE_UNIT" &&
    grep -qx "ExecStart=/usr/sbin/ingress-console -c $CONF" "$CONSOLE_UNIT"; then
    ok "ingress-console and its unit are installed, not enabled (the milter's is); console-users 0640 root:milter-ingress"
else
    not_ok "ingress-console and its unit are installed, not enabled; console-users 0640 root:milter-ingress" \
        "users file: $users_mode" "$(ls -l /usr/sbin/ingress-console "$CONSOLE_UNIT" "$wants" 2>&1)"
fi
# The first login as README "Console" gives it: a user added by root's ingressctl, then the
# console started as its unit's User (on a free port: a copy of the config with console_listen)
# answers that user's login, which it can only do if it reads the users file and the database.
echo 'package-test-secret' | ingressctl console-user add pkgtest --role support >/dev/null || true
console_port=$(free_ports 1)
{ cat "$CONF"; echo "console_listen = 127.0.0.1:$console_port"; } >"$T/console.conf"
chmod 644 "$T/console.conf"
setpriv --reuid=milter-ingress --regid=milter-ingress --init-groups -- \
    /usr/sbin/ingress-console -c "$T/console.conf" 2>"$T/console.log" &
console_pid=$!
login=$("$PYTHON" - "$console_port" <<'PY' 2>&1
import http.client, json, sys, time
for _ in range(50):
    try:
        c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
        c.request("POST", "/api/login", body=json.dumps({"name": "pkgtest", "password": "package-test-secret"}),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        print(r.status, json.loads(r.read()).get("role"))
        break
    except OSError:
        time.sleep(0.1)
PY
)
kill "$console_pid" 2>/dev/null || true
wait "$console_pid" 2>/dev/null || true
if [[ $login == "200 support" ]]; then
    ok "ingress-console as milter-ingress logs in a user that root's ingressctl console-user added"
else
    not_ok "ingress-console as milter-ingress logs in a user ingressctl added" "$login" "$(cat "$T/console.log")"
fi
ingressctl console-user del pkgtest >/dev/null || true

# ---------------------------------------------------------------------------------------------
# 4. The daemon as the unit starts it, logging to a syslog socket of the test's.

mapfile -t ports < <(free_ports 1)
SMTP_PORT=${ports[0]}
start_nsd
# The site's settings, as an admin edits the installed file: the test's DNS server, our
# authserv-id, loopback clients checked (the default trusts them), no greylisting.
cat >>"$CONF" <<EOF
dns_servers = 127.0.0.1:$DNS_PORT
dns_timeout = 1s
authserv_id = mx.test.example
trusted_networks =
greylist = no
EOF
milter-ingress -t >/dev/null || die "the edited config does not pass -t"

user=$(sed -n 's/^User=//p' "$UNIT")
group=$(sed -n 's/^Group=//p' "$UNIT")
umask_unit=$(sed -n 's/^UMask=//p' "$UNIT")
exec_start=$(sed -n 's/^ExecStart=//p' "$UNIT")
[[ -n $user && -n $group && -n $umask_unit && -n $exec_start ]] || die "the unit lacks User, Group, UMask or ExecStart"
say "unit: User=$user Group=$group UMask=$umask_unit ExecStart=$exec_start"

# A syslog server of the test's: one datagram a line in syslog.txt.
"$PYTHON" - "$T/log.sock" "$T/syslog.txt" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
with open(sys.argv[2], "ab", buffering=0) as out:
    while True:
        out.write(s.recv(65536).rstrip(b"\0\n") + b"\n")
PY
SYSLOG_PID=$!
for ((i = 0; i < 50; i++)); do [[ -S $T/log.sock ]] && break; sleep 0.1; done
# /dev of the daemon's mount namespace: the host's device nodes it may open, and log, the
# test's socket (there is no syslog daemon on the test machine).
mkdir "$T/dev"
for n in null zero full random urandom; do
    touch "$T/dev/$n"
done
ln -s "$T/log.sock" "$T/dev/log"
# shellcheck disable=SC2016,SC2086
setsid unshare --mount --propagation private -- sh -c '
    for n in null zero full random urandom; do mount --bind /dev/$n "$1/dev/$n"; done
    mount --rbind "$1/dev" /dev
    umask "$2"
    user=$0 group=$3
    shift 3
    exec setpriv --reuid="$user" --regid="$group" --init-groups -- "$@"' \
    "$user" "$T" "$umask_unit" "$group" $exec_start >>"$MILTER_LOG" 2>&1 </dev/null &
MILTER_PID=$!
for ((i = 0; i < 100; i++)); do
    [[ -S $SOCK ]] && break
    alive "$MILTER_PID" || break
    sleep 0.1
done
if [[ -S $SOCK ]] && alive "$MILTER_PID"; then
    uids=$(awk '/^Uid:/ {print $2 "," $3}' "/proc/$MILTER_PID/status")
    want=$(id -u "$user")
    socket_mode=$(stat -c '%a %U:%G' "$SOCK")
    if [[ $uids == "$want,$want" && $socket_mode == "660 milter-ingress:milter-ingress" ]]; then
        ok "the daemon runs as $user, listening on $SOCK (mode 660, its group)"
    else
        not_ok "the daemon runs as $user, listening on $SOCK (mode 660)" "uids $uids" "socket $socket_mode"
    fi
else
    status=running
    alive "$MILTER_PID" || {
        status=0
        wait "$MILTER_PID" || status=$?
        MILTER_PID=
    }
    # The reason went to syslog; the same start with -f says it on stderr.
    # shellcheck disable=SC2086
    why=$(timeout 5 setpriv --reuid="$user" --regid="$group" --init-groups -- $exec_start -f 2>&1 |
        tail -n 5) || true
    die "the daemon started as the unit does is not listening on $SOCK (status $status): $why"
fi
started_line=
for ((i = 0; i < 30; i++)); do
    started_line=$(grep -m 1 'listening on unix:' "$T/syslog.txt" 2>/dev/null || true)
    [[ -n $started_line ]] && break
    sleep 0.1
done
# <22>: facility mail (2) x 8 + severity info (6); then syslog's one timestamp and the tag.
if [[ $started_line =~ ^\<22\>[A-Z][a-z]{2}\ [\ 0-9][0-9]\ [0-9]{2}:[0-9]{2}:[0-9]{2}\ milter-ingress\[$MILTER_PID\]:\ milter-ingress\ $version\ listening\ on\ unix:$SOCK$ ]]; then
    ok "it logs to syslog with the facility mail and one timestamp: $started_line"
else
    not_ok "it logs to syslog with the facility mail and one timestamp" "line: $started_line" \
        "$(head -n 5 "$T/syslog.txt" 2>/dev/null)"
fi

# ---------------------------------------------------------------------------------------------
# 5. Postfix, smtpd chrooted in its queue directory, reaching the socket as Debian's would.

mkdir -p "$PF_QUEUE/milter-ingress"
chown postfix "$PF_DATA"
chown nobody:nogroup "$MAIL_DIR"
{
    echo "# Private Postfix instance for tests/install/package.sh: smtpd chrooted."
    postfix_main_cf "$SPEC"
} >"$PF_CONF/main.cf"
{
    echo "127.0.0.1:$SMTP_PORT inet n - y - - smtpd"
    postfix_master_services
} >"$PF_CONF/master.cf"
# In Postfix's own mount namespace, the package's socket directory appears in the queue
# directory, as /var/spool/postfix/milter-ingress is in the queue directory of Debian's Postfix.
POSTFIX_WRAP=(unshare --mount --propagation private -- sh -c
    'mount --bind /var/spool/postfix/milter-ingress "$0/milter-ingress" && exec "$@"' "$PF_QUEUE")
postfix_start "$SMTP_PORT"
SETUP_DONE=1

smtp good 127.0.0.2 good.example.test user@example.net
r=$(reply good .)
if [[ $r == 250* ]] && f=$(delivered good) && grep -qE '^Authentication-Results: mx\.test\.example;' "$f"; then
    ok "a message from 127.0.0.2 through the chrooted smtpd is delivered with our Authentication-Results"
else
    not_ok "a message from 127.0.0.2 through the chrooted smtpd is delivered with our Authentication-Results" \
        "$(transcript good)" "$(tail -n 5 "$PF_LOG")"
fi
smtp noptr 127.0.0.4 noptr.example.test user@example.net
r=$(reply noptr "RCPT TO")
ref=$(sed -n 's/.*(ref \([A-Z0-9]*\)).*/\1/p' <<<"$r")
if [[ $r == "550 5.7.25"* && -n $ref ]]; then
    ok "127.0.0.4 (no PTR) gets $r"
else
    not_ok "127.0.0.4 (no PTR) gets 550 5.7.25 with a reference" "$(transcript noptr)"
fi
for ((i = 0; i < 30; i++)); do
    why_rc=0
    why_out=$(ingressctl why "${ref:-none}" 2>&1) || why_rc=$?
    [[ $why_rc == 0 ]] && break
    sleep 0.1
done
if [[ $why_rc == 0 ]] && grep -q "check iprev: rejected" <<<"$why_out"; then
    ok "ingressctl why $ref (installed config) shows the iprev rejection"
else
    not_ok "ingressctl why $ref shows the iprev rejection" "status $why_rc" "$why_out"
fi
if alive "$MILTER_PID"; then
    ok "the daemon keeps running"
else
    not_ok "the daemon keeps running" "$(tail -n 5 "$T/syslog.txt")"
fi
stop_postfix
check_milter_exit stop

# ---------------------------------------------------------------------------------------------
# 6. apt-get purge

if purge_package; then
    ok "apt-get purge milter-ingress"
else
    not_ok "apt-get purge milter-ingress" "$(tail -n 20 "$T/apt-purge.log")"
fi
after=$(ours)
if [[ $after == "$before" ]] && ! dpkg-query -W -f='${Status}' milter-ingress 2>/dev/null | grep -q installed; then
    ok "after the purge nothing of the package is left"
else
    not_ok "after the purge nothing of the package is left" "$(diff <(echo "$before") <(echo "$after"))"
fi
if [[ $(id -nG postfix) == "$postfix_groups_before" ]] && getent group milter-ingress >/dev/null &&
    getent passwd milter-ingress >/dev/null; then
    ok "postfix left the group; the account and group milter-ingress stay (Debian keeps system accounts)"
else
    not_ok "postfix left the group; the account and group stay" "postfix: $(id -nG postfix)" \
        "before: $postfix_groups_before" "$(getent passwd milter-ingress)"
fi

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
