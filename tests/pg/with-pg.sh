#!/bin/bash
# with-pg.sh BINARY [ARGS...]: runs BINARY with a private PostgreSQL (pg-ctl.sh) holding a role
# and a database of the milter's own, as an administrator would make them (README "Several MX
# hosts"), and schemas t1..t99 in it, one per test of the contract suite.
#
# Exports INGRESS_TEST_DATABASE, the milter's conninfo over the unix socket with the role's
# password and search_path=@TEST@ (test_store replaces @TEST@ with the test's own schema);
# INGRESS_TEST_PG_TCP, the same over TCP on 127.0.0.1 without a schema; INGRESS_TEST_PG_DIR and
# INGRESS_TEST_PG_CTL, for a test that stops and starts the server.  The server is stopped by its
# PID when the binary ends, whatever its outcome, and the binary's exit status is ours.
set -euo pipefail

[[ $# -ge 1 ]] || {
    echo "usage: $0 BINARY [ARGS...]" >&2
    exit 2
}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# CI runs as root on a machine where contrib/install-deps.sh installed PostgreSQL: a server that
# cannot be had there is a failure.  A developer's machine without it, as another user, skips
# (exit 77: ctest's SKIP_RETURN_CODE).
bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
if [[ ! -x $bindir/initdb || ! -x $bindir/pg_ctl ]]; then
    if [[ $EUID -eq 0 ]]; then
        echo "with-pg: no PostgreSQL server in $bindir: run contrib/install-deps.sh" >&2
        exit 1
    fi
    echo "with-pg: SKIPPED: no PostgreSQL server in $bindir (contrib/install-deps.sh installs it)" >&2
    exit 77
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/ingress-pg.XXXXXX")

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    "$here/pg-ctl.sh" stop "$dir" || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$here/pg-ctl.sh" start "$dir" >/dev/null
port=$(<"$dir/port")
password=$(/usr/bin/python3 -c 'import secrets; print(secrets.token_hex(12))')
{
    echo "CREATE ROLE ingress LOGIN PASSWORD '$password';"
    echo "CREATE DATABASE ingress OWNER ingress;"
    echo '\connect ingress'
    for i in $(seq 1 99); do echo "CREATE SCHEMA t$i AUTHORIZATION ingress;"; done
} | "$here/pg-ctl.sh" psql "$dir" >/dev/null

export INGRESS_TEST_DATABASE="host=$dir/sock port=$port dbname=ingress user=ingress password=$password options='-c search_path=@TEST@'"
export INGRESS_TEST_PG_TCP="postgresql://ingress:$password@127.0.0.1:$port/ingress"
export INGRESS_TEST_PG_DIR=$dir INGRESS_TEST_PG_CTL=$here/pg-ctl.sh

status=0
"$@" || status=$?
exit "$status"
