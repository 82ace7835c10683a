#!/bin/bash
# with-dns.sh BINARY [ARGS...]: runs BINARY with a private NSD serving tests/dns/*.zone.
#
# The server's address is exported as INGRESS_TEST_DNS=127.0.0.1:PORT; NSD is stopped by its PID
# when the binary ends, whether it passed, failed or was interrupted, and its exit status is ours.
set -euo pipefail

[[ $# -ge 1 ]] || {
    echo "usage: $0 BINARY [ARGS...]" >&2
    exit 2
}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/ingress-nsd.XXXXXX")

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    "$here/nsd-ctl.sh" stop "$dir" || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$("$here/nsd-ctl.sh" start "$dir")
export INGRESS_TEST_DNS="127.0.0.1:$port"

status=0
"$@" || status=$?
exit "$status"
