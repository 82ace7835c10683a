#!/usr/bin/env bash
# Store faults under a running milter-ingress (the figures are in tests/RELIABILITY.md).
#
#   tests/hardening/store-faults.sh MILTER_BIN HOSTILE_BIN
#
# One message at a time through `hostile -p` (the good 127.0.0.2 persona; greylist = yes with
# greylist_delay = 0 and a new recipient each time, so every RCPT is a store write transaction
# and every accepted message a decision row).  For each fault: while it lasts the message gets the store_failure reply (451 4.3.0) and
# the log says why; once it is gone the next message is accepted again, without a restart.
#   lock     another process holds BEGIN EXCLUSIVE (/usr/bin/python3's sqlite3) for longer than
#            store_busy_timeout (200 ms here)
#   readonly the database and its WAL made immutable (chattr +i: root is not stopped by a file
#            mode; the -shm is left alone, as SQLite maps it and would fault)
#   full     the database on a small tmpfs that a filler file fills (mount: root only)
#   deleted  the database files removed: the milter notices (store_check, within one maintenance
#            tick of 2 s), logs it and opens a new database at the same path
#   gone     the database's directory removed (rm -rf): the very next message gets store_failure
#            (its greylist write is not acknowledged into the deleted file), and so does every
#            one until the directory is back; the old files are let go (no descriptor left on a
#            deleted file); once it is back a new database is created there, without a restart;
#            with fail_open = yes the messages are accepted meanwhile
#   replaced a backup renamed over the database: the milter opens the file at the path and logs
#            both inodes; no message acknowledged after the rename is missing from it, and the
#            rows written only to the old file are not in it
#   full+gone the directory removed while the disk is full, then made again on the full disk:
#            store_failure while no database can be created there, a whole new one as soon as
#            there is room, without a restart
# Also: a read-only database at start is refused with exit status 2 and a message.  The parts that
# need root (chattr, mount) say "skip" when not root.  The milter's stderr must hold no sanitizer
# report.
set -euo pipefail
MILTER_BIN=$(realpath -- "${1:?usage: store-faults.sh MILTER_BIN HOSTILE_BIN}")
HOSTILE_BIN=$(realpath -- "${2:?usage: store-faults.sh MILTER_BIN HOSTILE_BIN}")
# shellcheck source=tests/hardening/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
hardening_init store-faults
MOUNTED=
LOCK_PID=
store_undo() {
    [[ -n $LOCK_PID ]] && kill "$LOCK_PID" 2>/dev/null
    chattr -i "$T"/*.db* 2>/dev/null
    [[ -n $MOUNTED ]] && umount "$MOUNTED" 2>/dev/null
    true
}
CLEANUP_HOOK=store_undo

STORE_OPTS=("greylist = yes" "greylist_delay = 0" "store_busy_timeout = 200ms")
start_nsd

# probe: sets PROBE to hostile's line; status 0 when the message was accepted.  Each probe goes
# to a new recipient: a triplet's first sight is a write transaction, while a confirmed triplet
# used again within GREYLIST_REFRESH_AFTER passes on a read alone (and so passes a write fault).
PROBE_N=0
probe() {
    PROBE_N=$((PROBE_N + 1))
    PROBE=$("$HOSTILE_BIN" -s "unix:$MILTER_SOCK" -t 10000 -r "<user$PROBE_N@example.test>" -p 2>&1)
}

# expect_store_failure NAME: the message is refused with the store_failure reply
expect_store_failure() {
    if probe; then
        not_ok "$1: the message is deferred with store_failure" "$PROBE"
    elif [[ $PROBE == *'reply:451'* && $PROBE == *'4.3.0'* ]]; then
        ok "$1: the message is deferred with store_failure ($(sed 's/.*reply="//; s/"$//' <<<"$PROBE"))"
    else
        not_ok "$1: the message is deferred with store_failure" "$PROBE"
    fi
}

expect_accepted() {
    if probe; then ok "$1"; else not_ok "$1" "$PROBE" "$(tail -n 5 "$MILTER_LOG")"; fi
}

mark_log() { LOG_MARK=$(wc -l <"$MILTER_LOG"); }
# expect_log NAME PATTERN: a log line written since mark_log matches PATTERN (grep -E), waited for
# up to 5 s (the line may come a little after an effect the test already saw: the reopened
# database file exists before its line is written).
expect_log() {
    local new i
    for ((i = 0; i < 50; i++)); do
        new=$(tail -n +"$((LOG_MARK + 1))" "$MILTER_LOG")
        grep -qE -- "$2" <<<"$new" && break
        sleep 0.1
    done
    if grep -qE -- "$2" <<<"$new"; then
        ok "$1: $(grep -E -- "$2" <<<"$new" | head -n 1 | cut -c 1-200)"
    else
        not_ok "$1" "no log line matches $2" "$(tail -n 5 <<<"$new")"
    fi
}

start_milter store "${STORE_OPTS[@]}"
expect_accepted "before any fault a message is accepted"

# ---- lock -----------------------------------------------------------------------------------
"$PYTHON" - "$T/store.db" >"$T/lock.out" 2>&1 <<'PY' &
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(600)
PY
LOCK_PID=$!
for ((i = 0; i < 100; i++)); do
    grep -q locked "$T/lock.out" 2>/dev/null && break
    sleep 0.1
done
mark_log
expect_store_failure "lock held longer than store_busy_timeout"
expect_log "lock: the log says the store was locked" 'store_failure|database is locked'
kill "$LOCK_PID"
wait "$LOCK_PID" 2>/dev/null || true
LOCK_PID=
expect_accepted "lock released: accepted again without a restart"

# ---- read-only ------------------------------------------------------------------------------
if [[ $(id -u) == 0 ]] && chattr +i "$T/store.db" "$T/store.db-wal" 2>/dev/null; then
    mark_log
    expect_store_failure "database made read-only"
    expect_log "read-only: the log says why" 'store_failure|I/O error|readonly|read-only'
    chattr -i "$T/store.db" "$T/store.db-wal"
    expect_accepted "read-only lifted: accepted again without a restart"
else
    echo "# skip: read-only under a running milter needs root and chattr (ext4 and the like)"
fi

# ---- deleted --------------------------------------------------------------------------------
mark_log
rm -f "$T/store.db" "$T/store.db-wal" "$T/store.db-shm"
for ((i = 0; i < 50; i++)); do
    [[ -f $T/store.db ]] && break
    sleep 0.1
done
# The line of the reopen, not a writer's failure that names the same fault (the decision log's
# or the DMARC counts' write into the old file): only after it are messages accepted again.
expect_log "deleted: the milter notices and says so" 'database file .*(removed|replaced).*created a new one'
if [[ -f $T/store.db ]]; then
    ok "deleted: a new database is opened at the same path"
else
    not_ok "deleted: a new database is opened at the same path"
fi
expect_accepted "deleted: accepted again without a restart"
# The decision log is written in batches every 200 ms (README "Decision log"): wait for it, up
# to 10 s on a loaded host.
new_rows=0
for ((i = 0; i < 100; i++)); do
    new_rows=$("$PYTHON" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from decisions").fetchone()[0])' "$T/store.db" 2>/dev/null || echo 0)
    [[ $new_rows -ge 1 ]] && break
    sleep 0.1
done
if [[ $new_rows -ge 1 ]]; then
    ok "deleted: the new message's decision is in the new file"
else
    not_ok "deleted: the new message's decision is in the new file"
fi
stop_milter
check "SIGTERM stops milter-ingress with status 0" test "$MILTER_RC" = 0

# ---- read-only at start ---------------------------------------------------------------------
if [[ $(id -u) == 0 ]] && chattr +i "$T/store.db" 2>/dev/null; then
    rc=0
    out=$("$MILTER_BIN" -c "$T/store.conf" -f 2>&1) || rc=$?
    chattr -i "$T/store.db"
    if [[ $rc == 2 && $out == *store.db* ]]; then
        ok "a database that cannot be written at start: exit 2 ($(grep -m1 'cannot start' <<<"$out" | cut -c 1-160))"
    else
        not_ok "a database that cannot be written at start: exit 2" "status $rc" "$out"
    fi
else
    echo "# skip: read-only at start needs root and chattr"
fi

# ---- directory removed (rm -rf) ------------------------------------------------------------
# greylist_rows DB N: the greylist rows keyed on the network for recipient user$N@example.test in
# DB (how the tests below see which file a message's write went to).
greylist_rows() {
    "$PYTHON" -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("select count(*) from greylist where recipient = ? and source not like ?",
                 (sys.argv[2], "spf:%")).fetchone()[0])' \
        "$1" "user$2@example.test"
}
# held_deleted PID DIR: how many descriptors of PID are on a deleted file under DIR.
held_deleted() {
    find "/proc/$1/fd" -mindepth 1 -maxdepth 1 -printf '%l\n' 2>/dev/null | grep -c "^$2/.*(deleted)$" || true
}
# log_ms PATTERN: the time (ms since the epoch) of the first log line since mark_log matching it.
log_ms() {
    local ts
    ts=$(tail -n +"$((LOG_MARK + 1))" "$MILTER_LOG" | grep -m1 -E -- "$1" | cut -d' ' -f1)
    if [[ -n $ts ]]; then date -d "$ts" +%s%3N; else echo 0; fi
}
SCHEMA_VERSION=$(find "$SRC_DIR/schema/sqlite" -name '[0-9][0-9][0-9]_*.sql' | wc -l)

mkdir "$T/state"
start_milter gone "${STORE_OPTS[@]}" "database = $T/state/gone.db"
expect_accepted "gone: before the fault a message is accepted"
mark_log
rm_ms=$(date +%s%3N)
rm -rf "$T/state"
expect_store_failure "gone: the first message after rm -rf of the database's directory"
expect_store_failure "gone: and the next"
expect_log "gone: the milter says none can be opened there" 'none can be opened there.*every message gets store_failure'
seen_ms=$(log_ms 'none can be opened there')
((seen_ms > 0)) && echo "# figure: rm -rf to the maintenance line: $((seen_ms - rm_ms)) ms (writes refused from the first commit on)"
n=$(held_deleted "$MILTER_PID" "$T/state")
if [[ $n == 0 ]]; then
    ok "gone: the old database files are let go (no descriptor on a deleted file)"
else
    not_ok "gone: the old database files are let go" "$n descriptors" "$(ls -l "/proc/$MILTER_PID/fd")"
fi
expect_store_failure "gone: still store_failure while the directory is missing"
mkdir "$T/state"
mark_log
expect_log "gone: the directory is back: a new database is created there" 'created a new one'
expect_accepted "gone: the directory is back: accepted again without a restart"
if [[ $(greylist_rows "$T/state/gone.db" "$PROBE_N") == 1 ]]; then
    ok "gone: the message's greylist row is in the new file"
else
    not_ok "gone: the message's greylist row is in the new file"
fi

# ---- replaced by a backup -------------------------------------------------------------------
"$PYTHON" - "$T/state/gone.db" "$T/backup.db" <<'PY'
import sqlite3, sys
src, dst = sqlite3.connect(sys.argv[1]), sqlite3.connect(sys.argv[2])
src.backup(dst)
dst.close()
src.close()
PY
chmod 600 "$T/backup.db"
expect_accepted "replaced: a message after the backup was taken (only in the old file)"
after_backup=$PROBE_N
old_ino=$(stat -c %i "$T/state/gone.db")
new_ino=$(stat -c %i "$T/backup.db")
mark_log
mv "$T/backup.db" "$T/state/gone.db"
# The next message: refused, or accepted with its row in the file at the path; never lost.
raced=0
probe && raced=1
raced_n=$PROBE_N
expect_log "replaced: the milter opens the file at the path and names both inodes" \
    "opened the file now at that path \\(inode $new_ino; the old file, inode $old_ino,"
expect_accepted "replaced: accepted again without a restart"
if [[ $(greylist_rows "$T/state/gone.db" "$PROBE_N") == 1 &&
    $(greylist_rows "$T/state/gone.db" "$after_backup") == 0 ]]; then
    ok "replaced: the new row is in the restored file, the old file's is not"
else
    not_ok "replaced: the new row is in the restored file, the old file's is not"
fi
if [[ $raced == 0 || $(greylist_rows "$T/state/gone.db" "$raced_n") == 1 ]]; then
    ok "replaced: the message right after the rename was refused or is in the restored file ($([[ $raced == 0 ]] && echo refused || echo kept))"
else
    not_ok "replaced: the message right after the rename was accepted and lost"
fi
check "replaced: integrity_check ok" test "$("$PYTHON" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("pragma integrity_check").fetchone()[0])' "$T/state/gone.db")" = ok
stop_milter
check "gone: SIGTERM stops milter-ingress with status 0" test "$MILTER_RC" = 0

# ---- directory removed, fail_open = yes -----------------------------------------------------
start_milter gone "${STORE_OPTS[@]}" "database = $T/state/gone.db" "fail_open = yes"
expect_accepted "fail_open: before the fault a message is accepted"
mark_log
rm -rf "$T/state"
expect_accepted "fail_open: the directory removed: the message is accepted, as configured"
expect_log "fail_open: the log says the store failed" 'none can be opened there.*fail_open = yes: accepted'
mkdir "$T/state"
expect_log "fail_open: the directory is back: a new database" 'created a new one'
stop_milter
check "fail_open: SIGTERM stops milter-ingress with status 0" test "$MILTER_RC" = 0

# ---- disk full ------------------------------------------------------------------------------
if [[ $(id -u) == 0 ]] && mkdir "$T/fs" && mount -t tmpfs -o size=4m,mode=0755 tmpfs "$T/fs" 2>/dev/null; then
    MOUNTED=$T/fs
    MILTER_LOG_SAVED=$MILTER_LOG
    MILTER_SOCK=$T/store.sock
    mkdir "$T/fs/state"
    sed "s|^database = .*|database = $T/fs/state/full.db|" "$T/store.conf" >"$T/full.conf"
    MILTER_LOG=$T/full.log
    "$MILTER_BIN" -c "$T/full.conf" -f 2>>"$MILTER_LOG" &
    MILTER_PID=$!
    PIDS+=("$MILTER_PID")
    wait_socket "$MILTER_SOCK" "$MILTER_PID" || { tail "$MILTER_LOG"; exit 1; }
    expect_accepted "full: before the disk fills a message is accepted"
    # Fill the file system to the last byte.
    dd if=/dev/zero of="$T/fs/filler" bs=64k 2>/dev/null || true
    mark_log
    n=0
    # The WAL may still have room in pages it already holds: send until a write needs more.
    for ((i = 0; i < 200; i++)); do
        probe || break
        n=$((n + 1))
    done
    if [[ $PROBE == *'reply:451'* && $PROBE == *'4.3.0'* ]]; then
        ok "full: messages are deferred with store_failure once the disk is full (after $n more accepted)"
    else
        not_ok "full: messages are deferred with store_failure once the disk is full" "$PROBE"
    fi
    expect_log "full: the log says why" 'store_failure|full'
    rm -f "$T/fs/filler"
    expect_accepted "full: space freed: accepted again without a restart"
    # The directory removed while the disk is full, then made again on the full disk.
    dd if=/dev/zero of="$T/fs/filler" bs=64k 2>/dev/null || true
    mark_log
    rm -rf "$T/fs/state"
    expect_store_failure "full+gone: the first message after rm -rf"
    expect_log "full+gone: the milter says none can be opened there" 'none can be opened there'
    n=$(held_deleted "$MILTER_PID" "$T/fs/state")
    if [[ $n == 0 ]]; then
        ok "full+gone: the old files are let go, their space given back"
    else
        not_ok "full+gone: the old files are let go" "$n descriptors"
    fi
    mkdir "$T/fs/state"
    dd if=/dev/zero of="$T/fs/filler2" bs=4k 2>/dev/null || true
    sleep 2.5 # a maintenance tick tries, and fails, to create the database on the full disk
    expect_store_failure "full+gone: the directory back on a full disk"
    mark_log
    rm -f "$T/fs/filler" "$T/fs/filler2"
    expect_log "full+gone: space freed: a new database is created" 'created a new one|opened the file now at that path'
    expect_accepted "full+gone: accepted again without a restart"
    check "full+gone: the new database has the whole schema (user_version $SCHEMA_VERSION)" \
        test "$("$PYTHON" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("pragma user_version").fetchone()[0])' "$T/fs/state/full.db")" = "$SCHEMA_VERSION"
    stop_milter
    check "full: SIGTERM stops milter-ingress with status 0" test "$MILTER_RC" = 0
    check "full: no sanitizer report" sanitizer_clean "$MILTER_LOG"
    MILTER_LOG=$MILTER_LOG_SAVED
else
    echo "# skip: disk full needs root to mount a small tmpfs"
fi

check "no sanitizer report in the milter's stderr" sanitizer_clean "$MILTER_LOG"
finish
