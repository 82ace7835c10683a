#!/usr/bin/env bash
# Privileges and the surface at start (tests/RELIABILITY.md "6. Privileges and surface"):
#   - started as root with no user: exit 2 and a message naming user and allow_root, before
#     anything is opened (no socket, no database file); with allow_root = yes it runs (and warns);
#   - a database directory writable by every user (0777, and 1777 with the sticky bit) is refused
#     with exit 2 naming the directory; 0755 and 0770 are fine;
#   - a user or group that does not exist, a state directory owned by another account or not
#     writable by the milter's account, a config file missing: exit 2 before anything is
#     created (and -t fails on the first two); --init creates the database for the account;
#   - a unix socket gets socket_mode from the start (the umask is set before bind);
#   - contrib/systemd/milter-ingress.service.in keeps its sandboxing lines.
#
#   tests/cli/privileges.sh MILTER_BIN
#
# The root cases are skipped (and say so) when not run as root.  Every daemon started is stopped by
# its PID.
set -euo pipefail
MILTER_BIN=$(realpath -- "${1:?usage: privileges.sh MILTER_BIN}")
SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
T=$(mktemp -d /tmp/ingress-priv.XXXXXX)
chmod 755 "$T"
PIDS=()
PASSED=0
FAILED=0
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf -- "$T"
}
trap cleanup EXIT

ok() {
    PASSED=$((PASSED + 1))
    echo "ok - $1"
}
not_ok() {
    FAILED=$((FAILED + 1))
    echo "not ok - $1"
    shift
    printf '#   %s\n' "$@"
}

# conf NAME DIR [LINE...]: a config with its socket and database in DIR.
conf() {
    local name=$1 dir=$2
    shift 2
    printf '%s\n' "socket = unix:$dir/$name.sock" "database = $dir/$name.db" \
        "dns_servers = 127.0.0.1:9" "$@" >"$T/$name.conf"
}

# start NAME: runs the daemon in the foreground for up to 3 s; sets RC (status, or "running")
# and OUT (its stderr).  A daemon still running is stopped by its PID.
start() {
    local i pid
    "$MILTER_BIN" -f -c "$T/$1.conf" 2>"$T/$1.log" &
    pid=$!
    PIDS+=("$pid")
    RC=running
    for ((i = 0; i < 30; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            RC=0
            wait "$pid" || RC=$?
            break
        fi
        [[ -S $SOCK ]] && break
        sleep 0.1
    done
    if [[ $RC == running ]]; then
        kill -TERM "$pid"
        wait "$pid" || true
    fi
    OUT=$(cat "$T/$1.log")
}

if [[ $(id -u) == 0 ]]; then
    conf root "$T"
    SOCK=$T/root.sock
    start root
    if [[ $RC == 2 && $OUT == *"user = ACCOUNT"* && $OUT == *"allow_root = yes"* ]]; then
        ok "root without user: exit 2 naming user and allow_root"
    else
        not_ok "root without user: exit 2 naming user and allow_root" "status $RC" "$OUT"
    fi
    if [[ ! -e $T/root.db && ! -e $T/root.sock ]]; then
        ok "root without user: refused before the socket or the database is opened"
    else
        not_ok "root without user: refused before the socket or the database is opened" "$(ls "$T")"
    fi
    conf rootok "$T" "allow_root = yes"
    SOCK=$T/rootok.sock
    start rootok
    if [[ $RC == running && $OUT == *"running as root (allow_root = yes)"* ]]; then
        ok "root with allow_root = yes: runs, and warns"
    else
        not_ok "root with allow_root = yes: runs, and warns" "status $RC" "$OUT"
    fi
else
    echo "# skip: not root, the allow_root cases need root"
fi

# The directory checks, with whatever privileges we have (root needs allow_root to get there).
for mode in 0777 1777 0755 0770; do
    d=$T/dir-$mode
    mkdir "$d"
    chmod "$mode" "$d"
    conf "dir$mode" "$d" "allow_root = yes"
    SOCK=$d/dir$mode.sock
    start "dir$mode"
    if ((8#$mode & 2)); then # writable by others
        if [[ $RC == 2 && $OUT == *"its directory $d is writable by every user"* && ! -e $d/dir$mode.db ]]; then
            ok "database directory mode $mode: refused with exit 2 naming the directory"
        else
            not_ok "database directory mode $mode: refused with exit 2 naming the directory" "status $RC" "$OUT"
        fi
    elif [[ $RC == running ]]; then
        ok "database directory mode $mode: accepted"
    else
        not_ok "database directory mode $mode: accepted" "status $RC" "$OUT"
    fi
done

# The account and the state directory are checked before anything is created: a user or group
# that does not exist (-t fails too), a database directory owned by another account or not
# writable by the account the milter runs as, a config file missing where it is named.  Each: exit
# 2, a message naming what is wrong, no socket and no database file.  --init (the database
# without the milter) passes the same checks, and creates the database for the account.

# refused NAME DIR LABEL PATTERN...: the start of config NAME (socket and database in DIR) exits 2,
# its stderr holds every PATTERN, and neither the socket nor the database file exists afterwards.
refused() {
    local name=$1 dir=$2 label=$3 p
    shift 3
    SOCK=$dir/$name.sock
    start "$name"
    for p in "$@"; do
        [[ $OUT == *"$p"* ]] || {
            not_ok "$label: exit 2 naming it, nothing created" "status $RC" "$OUT" "(no '$p')"
            return
        }
    done
    if [[ $RC == 2 && ! -e $dir/$name.db && ! -e $dir/$name.sock ]]; then
        ok "$label: exit 2 naming it, nothing created"
    else
        not_ok "$label: exit 2 naming it, nothing created" "status $RC" "$OUT" "$(ls -l "$dir")"
    fi
}

# check_t NAME LABEL PATTERN: milter-ingress -t on config NAME exits 2 and says PATTERN.
check_t() {
    local out rc=0
    out=$("$MILTER_BIN" -t -c "$T/$1.conf" 2>&1) || rc=$?
    if [[ $rc == 2 && $out == *"$3"* ]]; then
        ok "$2: -t exits 2 naming it"
    else
        not_ok "$2: -t exits 2 naming it" "status $rc" "$out"
    fi
}

if [[ $(id -u) == 0 ]] && id nobody >/dev/null 2>&1; then
    conf nouser "$T" "user = nosuchuser"
    refused nouser "$T" "user = nosuchuser" "$T/nouser.conf:4: user: no account named \"nosuchuser\""
    check_t nouser "user = nosuchuser" "$T/nouser.conf:4: user: no account named \"nosuchuser\""
    conf nogroup "$T" "user = nobody" "group = nosuchgroup"
    refused nogroup "$T" "group = nosuchgroup" "$T/nogroup.conf:5: group: no group named"
    check_t nogroup "group = nosuchgroup" "$T/nogroup.conf:5: group: no group named"

    d=$T/owned-by-nobody
    mkdir "$d"
    chown nobody "$d"
    chmod 750 "$d"
    conf otherowner "$d" "allow_root = yes"
    refused otherowner "$d" "state directory owned by nobody, milter as root" \
        "its directory $d is owned by nobody, but milter-ingress runs as root"
    d=$T/root-0755
    mkdir "$d"
    chmod 755 "$d"
    conf notwritable "$d" "user = nobody"
    refused notwritable "$d" "state directory root's 0755, milter as nobody" \
        "its directory $d (owner root, mode 0755) is not writable by nobody"
    conf initnouser "$T" "user = nosuchuser"
    out=$("$MILTER_BIN" --init -c "$T/initnouser.conf" 2>&1) && rc=0 || rc=$?
    if [[ $rc == 2 && $out == *"no account named"* && ! -e $T/initnouser.db ]]; then
        ok "--init with user = nosuchuser: exit 2, no database file"
    else
        not_ok "--init with user = nosuchuser: exit 2, no database file" "status $rc" "$out"
    fi

    # --init as root with user = nobody: the database exists afterwards, belongs to nobody, and a
    # second run finds it up to date.
    d=$T/init
    mkdir "$d"
    chown nobody "$d"
    conf init "$d" "user = nobody"
    out=$("$MILTER_BIN" --init -c "$T/init.conf" 2>&1) && rc=0 || rc=$?
    again=$("$MILTER_BIN" --init -c "$T/init.conf" 2>&1) && rc2=0 || rc2=$?
    if [[ $rc == 0 && $out == *"$d/init.db: created"* && $(stat -c %U "$d/init.db" 2>&1) == nobody &&
        ! -e $d/init.sock && $rc2 == 0 && $again == *"$d/init.db: up to date"* ]]; then
        ok "--init: creates the database for user nobody, then finds it up to date; no socket"
    else
        not_ok "--init: creates the database for user nobody, then finds it up to date" \
            "status $rc: $out" "again $rc2: $again" "$(ls -l "$d")"
    fi
else
    echo "# skip: not root (or no account nobody): the account and state directory cases"
fi

conf noconf "$T"
rm -f "$T/noconf.conf"
refused noconf "$T" "config file missing" "configuration file $T/noconf.conf does not exist"

# socket_mode: the socket has the mode at once (checked right after it appears).
conf mode "$T" "allow_root = yes" "socket_mode = 0600"
SOCK=$T/mode.sock
"$MILTER_BIN" -f -c "$T/mode.conf" 2>"$T/mode.log" &
pid=$!
PIDS+=("$pid")
for ((i = 0; i < 50; i++)); do
    [[ -S $SOCK ]] && break
    sleep 0.05
done
got=$(stat -c %a "$SOCK" 2>/dev/null || echo none)
if [[ $got == 600 ]]; then
    ok "socket_mode = 0600: the unix socket has mode 600"
else
    not_ok "socket_mode = 0600: the unix socket has mode 600" "mode $got" "$(cat "$T/mode.log")"
fi

unit=$SRC_DIR/contrib/systemd/milter-ingress.service.in
missing=
for line in NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes ReadWritePaths= User=; do
    grep -q "^$line" "$unit" || missing="$missing $line"
done
if [[ -z $missing ]]; then
    ok "the systemd unit keeps NoNewPrivileges, ProtectSystem=strict, PrivateTmp, ReadWritePaths, User"
else
    not_ok "the systemd unit keeps its sandboxing" "missing:$missing"
fi

echo "# $PASSED passed, $FAILED failed"
[[ $FAILED == 0 ]]
