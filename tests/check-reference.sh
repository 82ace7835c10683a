#!/usr/bin/env bash
# Fails when contrib/milter-ingress.conf or the README's option table is not what the config
# table (lib/config.c) generates.  With --update as the third argument it rewrites both.
set -euo pipefail
milter=$1
conf=$2
readme=$(dirname "$conf")/../README.md
mode=${3:-check}
status=0

expected_conf=$(mktemp)
expected_table=$(mktemp)
trap 'rm -f "$expected_conf" "$expected_table"' EXIT
"$milter" -C >"$expected_conf"
"$milter" -M >"$expected_table"

# The README's table sits between these two marker lines.
readme_table() {
    sed -n '/^<!-- options:begin -->$/,/^<!-- options:end -->$/p' "$readme" | sed '1d;$d'
}

if [ "$mode" = --update ]; then
    cp "$expected_conf" "$conf"
    /usr/bin/python3 - "$readme" "$expected_table" <<'PY'
import sys
readme, table = sys.argv[1], open(sys.argv[2]).read()
text = open(readme).read()
begin, end = "<!-- options:begin -->\n", "<!-- options:end -->"
a, b = text.index(begin) + len(begin), text.index(end)
open(readme, "w").write(text[:a] + table + text[b:])
PY
    echo "updated $conf and the option table of $readme"
    exit 0
fi

if ! diff -u "$conf" "$expected_conf"; then
    echo "not ok - $conf is stale: run 'cmake --build BUILD --target conf'"
    status=1
else
    echo "ok - $conf matches the config table"
fi
if ! diff -u <(readme_table) "$expected_table"; then
    echo "not ok - the README's option table is stale: run 'cmake --build BUILD --target conf'"
    status=1
else
    echo "ok - README option table matches the config table"
fi
exit $status
