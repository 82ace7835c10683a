#!/usr/bin/env bash
# Who can read the database: it holds the decision log (client addresses, senders, recipients,
# subjects of held mail).
#   - under a umask of 0000, milter-ingress started as root with user = nobody creates the
#     database, its -wal and its -shm 0600 when no group is set, and 0640 with group = mail
#     (owner nobody, group mail);
#   - with the files 0640, a user whose group is mail (daemon, given mail as its only group)
#     reads with ingressctl (list show, why) and cannot write (list add: exit 2, read-only); a
#     user outside the group cannot open the database at all;
#   - an existing database with a wider mode (0644) is warned about at start: one line naming the
#     file and its mode; none for files at the expected mode.
#
#   tests/cli/file-modes.sh MILTER_BIN INGRESSCTL_BIN
#
# Needs root (to start as root and drop to nobody, and to run ingressctl as other users): exits
# 77 (skipped) otherwise.  Every daemon started is stopped by its PID.
set -euo pipefail
MILTER_BIN=$(realpath -- "${1:?usage: file-modes.sh MILTER_BIN INGRESSCTL_BIN}")
CTL_BIN=$(realpath -- "${2:?usage: file-modes.sh MILTER_BIN INGRESSCTL_BIN}")
if [[ $(id -u) != 0 ]]; then
    echo "# skip: needs root (start as root, drop to nobody, run ingressctl as other users)"
    exit 77
fi
# shellcheck source=tests/hardening/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../hardening/lib.sh"
hardening_init modes

# start NAME [LINE...]: milter-ingress as root with user = nobody, umask 0000, its database in
# $T/NAME/ (owned by nobody, group mail, mode 0750); waits for its socket; sets PID and DB.
start() {
    local name=$1
    shift
    mkdir -p "$T/$name"
    chown nobody:mail "$T/$name"
    chmod 0750 "$T/$name"
    DB=$T/$name/ingress.db
    # The last one, as nobody, could not remove its socket from $T (root's): not its sign of life.
    rm -f "$T/$name.sock"
    printf '%s\n' "socket = unix:$T/$name.sock" "database = $DB" "dns_servers = 127.0.0.1:9" \
        "user = nobody" "$@" >"$T/$name.conf"
    (
        umask 0000
        exec "$MILTER_BIN" -f -c "$T/$name.conf"
    ) 2>>"$T/$name.log" &
    PID=$!
    PIDS+=("$PID")
    wait_socket "$T/$name.sock" "$PID" || {
        echo "milter-ingress ($name) did not start" >&2
        cat "$T/$name.log" >&2
        exit 1
    }
}

stop() {
    kill -TERM "$PID"
    wait "$PID" || true
}

# modes_are NAME WANT: each of the database, -wal and -shm is "WANT" (stat's "%a %U %G").
modes_are() {
    local got=() f
    for f in "$DB" "$DB-wal" "$DB-shm"; do
        got+=("$(stat -c '%n %a %U %G' "$f" 2>&1)")
    done
    if [[ ${got[0]} == "$DB $2" && ${got[1]} == "$DB-wal $2" && ${got[2]} == "$DB-shm $2" ]]; then
        ok "$1: database, -wal and -shm are $2"
    else
        not_ok "$1: database, -wal and -shm are $2" "${got[@]}"
    fi
}

# as USER GROUP ARGS...: ingressctl with that user and that one group; sets RC and OUT.
as() {
    local user=$1 group=$2
    shift 2
    RC=0
    OUT=$(setpriv --reuid="$user" --regid="$group" --clear-groups "$CTL_BIN" -d "$DB" "$@" 2>&1) ||
        RC=$?
}

# ---- no group: 0600 ----------------------------------------------------------------------
start private
modes_are "no group set, umask 0000" "600 nobody nogroup"
stop

# ---- group = mail: 0640, readable by the group ---------------------------------------------
start shared "group = mail"
modes_are "group = mail, umask 0000" "640 nobody mail"
if "$CTL_BIN" -d "$DB" list add sender spam@example.org block --reason test >/dev/null; then
    ok "root adds a list entry with ingressctl"
else
    not_ok "root adds a list entry with ingressctl"
fi
as daemon mail list show
if [[ $RC == 0 && $OUT == *spam@example.org* ]]; then
    ok "a user of group mail reads the lists with ingressctl (list show)"
else
    not_ok "a user of group mail reads the lists with ingressctl (list show)" "status $RC" "$OUT"
fi
as daemon mail why 192.0.2.1
if [[ $RC == 1 ]]; then
    ok "a user of group mail asks ingressctl why (nothing matched: exit 1)"
else
    not_ok "a user of group mail asks ingressctl why (nothing matched: exit 1)" "status $RC" "$OUT"
fi
as daemon mail list add sender other@example.org block
if [[ $RC == 2 && $OUT == *readonly* ]]; then
    ok "a user of group mail cannot write: list add gives exit 2 ($OUT)"
else
    not_ok "a user of group mail cannot write: list add gives exit 2" "status $RC" "$OUT"
fi
as daemon daemon list show
if [[ $RC == 2 && $OUT != *spam@example.org* ]]; then
    ok "a user outside group mail cannot read it (exit 2)"
else
    not_ok "a user outside group mail cannot read it (exit 2)" "status $RC" "$OUT"
fi
if ! grep -q 'has mode' "$T/shared.log"; then
    ok "files at 0640 with group = mail: no warning"
else
    not_ok "files at 0640 with group = mail: no warning" "$(grep 'has mode' "$T/shared.log")"
fi
stop

# ---- an existing database with a wider mode -----------------------------------------------
chmod 0644 "$DB"
start shared "group = mail"
warned=$(grep -c 'has mode' "$T/shared.log" || true)
line=$(grep 'has mode' "$T/shared.log" || true)
if [[ $warned == 1 && $line == *"database file $DB has mode 0644, wider than 0640"* ]]; then
    ok "a database left 0644 is warned about at start, once: ${line#*: }"
else
    not_ok "a database left 0644 is warned about at start, once" "$warned lines" "$line"
fi
stop

finish
