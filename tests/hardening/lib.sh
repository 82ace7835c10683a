# shellcheck shell=bash
# lib.sh: what the hardening tests share (sourced).  Each test gets a temporary folder $T, starts
# what it needs through these functions, and everything started is stopped by its PID at exit.
#
#   hardening_init NAME        $T, the EXIT trap, TAP-like ok/not_ok counters
#   start_nsd                  a private NSD with tests/dns/*.zone; sets DNS_PORT
#   free_port                  prints a free TCP port of 127.0.0.1
#   start_milter NAME [K=V...] milter-ingress -f with $T/NAME.conf (a unix socket $T/NAME.sock,
#                              database $T/NAME.db, the NSD, loopback untrusted, greylist off,
#                              plus the K=V lines), run under MILTER_WRAP (a command prefix,
#                              empty by default); sets MILTER_PID, MILTER_SOCK, MILTER_LOG
#   stop_milter                SIGTERM, wait; the exit status in MILTER_RC
#   sanitizer_clean LOG        true when LOG holds no sanitizer report (ASan, UBSan, LSan, TSan)
#   rss_kib PID, fd_count PID  from /proc
#   finish                     prints the summary; exit 1 when any check failed
SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
NSD_CTL=$SRC_DIR/tests/dns/nsd-ctl.sh
PYTHON=/usr/bin/python3
# shellcheck source=tests/lib/procs.sh
source "$SRC_DIR/tests/lib/procs.sh" # free_ports, stop_pids
PIDS=()
MILTER_WRAP=() # a command prefix for start_milter (e.g. env VAR=...)
NSD_DIR=
PASSED=0
FAILED=0
CLEANUP_HOOK=

hardening_cleanup() {
    stop_pids "${PIDS[@]}"
    [[ -n $NSD_DIR ]] && "$NSD_CTL" stop "$NSD_DIR" >/dev/null 2>&1 || true
    # A test's own undoing (a mount, a file attribute), after its processes are gone.
    [[ -n ${CLEANUP_HOOK:-} ]] && "$CLEANUP_HOOK" || true
    if [[ ${KEEP_TEST_DIR:-0} == 1 ]]; then
        echo "# kept $T" >&2
    else
        rm -rf -- "$T"
    fi
}

hardening_init() {
    T=$(mktemp -d "${TMPDIR:-/tmp}/ingress-$1.XXXXXX")
    chmod 755 "$T"
    trap hardening_cleanup EXIT
    trap 'exit 130' INT TERM
}

ok() {
    PASSED=$((PASSED + 1))
    echo "ok - $1"
}

not_ok() {
    FAILED=$((FAILED + 1))
    echo "not ok - $1"
    shift
    local line
    for line in "$@"; do
        printf '#   %s\n' "$line"
    done
}

check() { # check NAME COMMAND...: ok when the command succeeds
    local name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name"; fi
}

finish() {
    echo "# $PASSED passed, $FAILED failed"
    [[ $FAILED == 0 ]]
}

start_nsd() {
    NSD_DIR=$T/nsd
    DNS_PORT=$("$NSD_CTL" start "$NSD_DIR") || {
        echo "nsd-ctl.sh start failed" >&2
        exit 1
    }
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_socket PATH PID: up to 20 s until PATH accepts a connection (a socket file alone may be
# the stale one of a milter killed with -9).
wait_socket() {
    local i
    for ((i = 0; i < 200; i++)); do
        kill -0 "$2" 2>/dev/null || return 1
        if [[ -S $1 ]] && "$PYTHON" -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])' "$1" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

start_milter() {
    local name=$1 line
    shift
    MILTER_SOCK=$T/$name.sock
    MILTER_LOG=$T/$name.log
    local defaults=("socket = unix:$MILTER_SOCK" "database = $T/$name.db"
        "authserv_id = mx.hardening.example" "dns_servers = 127.0.0.1:${DNS_PORT:-9}"
        "trusted_networks =" "greylist = no" "user =" "allow_root = yes")
    {
        # A default line only when the caller does not set that option itself.
        # No pipe into grep -q: under pipefail, grep leaving early kills printf
        # with SIGPIPE and the default was written beside the caller's own line.
        local given set_by_caller
        for line in "${defaults[@]}"; do
            set_by_caller=no
            for given in "$@"; do
                [[ $given == "${line%% *} "* ]] && set_by_caller=yes
            done
            [[ $set_by_caller == yes ]] || echo "$line"
        done
        for line in "$@"; do
            echo "$line"
        done
    } >"$T/$name.conf"
    # Appended (>>): a restarted milter keeps the log of the one before it.
    "${MILTER_WRAP[@]}" "$MILTER_BIN" -c "$T/$name.conf" -f 2>>"$MILTER_LOG" &
    MILTER_PID=$!
    PIDS+=("$MILTER_PID")
    wait_socket "$MILTER_SOCK" "$MILTER_PID" || {
        echo "milter-ingress ($name) does not listen on $MILTER_SOCK" >&2
        tail -n 20 "$MILTER_LOG" >&2
        exit 1
    }
}

stop_milter() {
    MILTER_RC=0
    kill -TERM "$MILTER_PID" 2>/dev/null || true
    wait "$MILTER_PID" 2>/dev/null || MILTER_RC=$?
}

sanitizer_clean() {
    ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error:|SUMMARY: (Address|Undefined|Leak|Thread)' "$1"
}

rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

fd_count() {
    find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}
