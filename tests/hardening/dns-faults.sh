#!/usr/bin/env bash
# DNS faults (the figures are in tests/RELIABILITY.md): runs tests/hardening/dns_faults.c against
# tests/hardening/bad-dns.py (slow, silent, SERVFAIL, truncated, 500 TXT strings, CNAME loop) and
# against a closed port.  The server is stopped by its PID.
#
#   tests/hardening/dns-faults.sh DNS_FAULTS_BIN
set -euo pipefail
BIN=$(realpath -- "${1:?usage: dns-faults.sh DNS_FAULTS_BIN}")
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/ingress-dns-faults.XXXXXX")
SERVER_PID=
cleanup() {
    [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
    rm -rf -- "$T"
}
trap cleanup EXIT
# Slow answers come 3 s late: well after timeout x tries (600 ms).
/usr/bin/python3 "$HERE/bad-dns.py" 3 >"$T/port" 2>"$T/server.log" &
SERVER_PID=$!
for ((i = 0; i < 100; i++)); do
    [[ -s $T/port ]] && break
    sleep 0.05
done
port=$(head -n 1 "$T/port")
[[ -n $port ]] || { echo "bad-dns.py did not start" >&2; cat "$T/server.log" >&2; exit 1; }
dead=$(/usr/bin/python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
INGRESS_TEST_BAD_DNS=127.0.0.1:$port INGRESS_TEST_DEAD_DNS=127.0.0.1:$dead "$BIN"
