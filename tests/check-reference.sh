#!/usr/bin/env bash
# Fails when contrib/milter-ingress.conf, the README's option table or the option list of
# doc/milter-ingress.conf.5 is not what the config table (lib/config.c) generates.  With --update
# as the third argument it rewrites the three.
set -euo pipefail
milter=$1
conf=$2
readme=$(dirname "$conf")/../README.md
manpage=$(dirname "$conf")/../doc/milter-ingress.conf.5
mode=${3:-check}
status=0

expected_conf=$(mktemp)
expected_table=$(mktemp)
expected_man=$(mktemp)
trap 'rm -f "$expected_conf" "$expected_table" "$expected_man"' EXIT
"$milter" -C >"$expected_conf"
"$milter" -M >"$expected_table"
"$milter" -R >"$expected_man"

# The README's table sits between these two marker lines.
readme_table() {
    sed -n '/^<!-- options:begin -->$/,/^<!-- options:end -->$/p' "$readme" | sed '1d;$d'
}

# The man page's list sits between these two comment lines.
man_list() {
    sed -n '/^\.\\" options:begin$/,/^\.\\" options:end$/p' "$manpage" | sed '1d;$d'
}

# replace FILE GENERATED BEGIN END: the lines between the marker lines BEGIN and END of FILE
# become GENERATED.
replace() {
    /usr/bin/python3 - "$@" <<'PY'
import sys
path, generated, begin, end = sys.argv[1], open(sys.argv[2]).read(), sys.argv[3], sys.argv[4]
text = open(path).read()
begin += "\n"
a, b = text.index("\n" + begin) + 1 + len(begin), text.index("\n" + end + "\n") + 1
open(path, "w").write(text[:a] + generated + text[b:])
PY
}

if [ "$mode" = --update ]; then
    cp "$expected_conf" "$conf"
    replace "$readme" "$expected_table" "<!-- options:begin -->" "<!-- options:end -->"
    replace "$manpage" "$expected_man" '.\" options:begin' '.\" options:end'
    echo "updated $conf, the option table of $readme and the option list of $manpage"
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
if ! diff -u <(man_list) "$expected_man"; then
    echo "not ok - the option list of $manpage is stale: run 'cmake --build BUILD --target conf'"
    status=1
else
    echo "ok - the option list of $manpage matches the config table"
fi
exit $status
