#!/bin/bash
# run-test.sh BINARY [ARGS...]: signs the DKIM fixtures now (tests/dkim/sign.py, python3-dkim),
# then runs BINARY under tests/dns/with-dns.sh, which serves tests/dns/dkim.test.zone.
#
# The fixtures go to a temporary folder named by INGRESS_DKIM_FIXTURES, removed afterwards;
# BINARY's exit status is ours.
set -euo pipefail

[[ $# -ge 1 ]] || {
    echo "usage: $0 BINARY [ARGS...]" >&2
    exit 2
}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/ingress-dkim.XXXXXX")
trap 'rm -rf "$dir"' EXIT
trap 'exit 130' INT TERM

# Debian's python3-dkim lives in /usr/bin/python3's path, not in a python3 first on PATH.
/usr/bin/python3 "$here/sign.py" "$dir"
export INGRESS_DKIM_FIXTURES="$dir"

status=0
"$here/../dns/with-dns.sh" "$@" || status=$?
exit "$status"
