# shellcheck shell=bash
# What every shell harness (tests/e2e/lib.sh, tests/hardening/lib.sh, tests/bench/lib.sh) shares to
# run servers on loopback: free ports, and stopping what it started by PID.  Sourced after PYTHON
# (Debian's /usr/bin/python3) is set.

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

# stop_pids PID...: SIGTERM to each, then each waited for (never by name).
stop_pids() {
    local pid
    for pid in "$@"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "$@"; do
        wait "$pid" 2>/dev/null || true
    done
}
