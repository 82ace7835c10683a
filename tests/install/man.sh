#!/usr/bin/env bash
# The man pages as the build makes them (BUILD/doc): milter-ingress(8), ingressctl(8),
# ingress-console(8) and milter-ingress.conf(5)
#   - render without a warning: groff -ww -man -z, mandoc -T lint -W warning, man --warnings -l;
#   - document every verb and sub-verb of ingressctl (as `ingressctl -h` lists them) and every
#     option of milter-ingress, ingressctl and ingress-console (as their usage lists them), each
#     as an entry of its own (a line of the rendered page that starts with it);
#   - carry the version of the programs (-V) in their title line.
# The option list of milter-ingress.conf(5) is kept fresh by the test
# docs_option_reference_matches_table.
#
#   tests/install/man.sh BUILD_DIR MILTER_BIN INGRESSCTL_BIN CONSOLE_BIN
set -euo pipefail
build=${1:?usage: man.sh BUILD_DIR MILTER_BIN INGRESSCTL_BIN CONSOLE_BIN}
milter=${2:?}
ctl=${3:?}
console=${4:?}
SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
source "$SRC_DIR/tests/e2e/lib.sh" # ok, not_ok

# rendered PAGE: the page as man shows it, plain text, wide enough that no entry is folded.
rendered() {
    LC_ALL=C.UTF-8 MANWIDTH=250 man -E UTF-8 -l "$1" 2>/dev/null | col -b
}

# silent LABEL COMMAND...: the command exits 0 and prints nothing on stderr (nor, for the
# linters, on stdout).
silent() {
    local label=$1 out rc=0
    shift
    out=$("$@" 2>&1 >/dev/null) || rc=$?
    [[ $1 == env ]] || out+=$("$@" 2>/dev/null) || true
    if [[ $rc == 0 && -z $out ]]; then
        ok "$label"
    else
        not_ok "$label" "status $rc" "$out"
    fi
}

for page in milter-ingress.8 ingressctl.8 ingress-console.8 milter-ingress.conf.5; do
    f=$build/doc/$page
    if [[ ! -s $f ]]; then
        not_ok "$page is built" "missing: $f"
        continue
    fi
    out=$(groff -ww -man -z "$f" 2>&1) && rc=0 || rc=$?
    silent "$page: groff -ww -man -z is silent" groff -ww -man -z "$f"
    silent "$page: mandoc -T lint -W warning is silent" mandoc -T lint -W warning "$f"
    silent "$page: man --warnings -l is silent" \
        env LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Z "$f"
done

# documented PAGE LABEL WORD...: each WORD starts a line (an entry) of the rendered PAGE.
documented() {
    local page=$1 label=$2 text missing=() w
    shift 2
    text=$(rendered "$build/doc/$page")
    for w in "$@"; do
        grep -qE "^ +$(sed 's/[.[\*^$]/\\&/g' <<<"$w")( |,|$)" <<<"$text" || missing+=("$w")
    done
    if [[ ${#missing[@]} -eq 0 && $# -gt 0 ]]; then
        ok "$page documents every $label ($#)"
    else
        not_ok "$page documents every $label" "not an entry of the page: ${missing[*]:-(none found to check)}"
    fi
}

# The verbs as `ingressctl -h` lists them: "why KEY" at the top level, "list add ..." below.
mapfile -t verbs < <("$ctl" -h | awk '
    /^verbs:/ { on = 1; next }
    on && /^  [a-z]/ && $2 != "..." { print $1 }
    on && /^               [a-z]/ { print $1 " " $2 }')
documented ingressctl.8 "verb of ingressctl -h" "${verbs[@]}"
mapfile -t ctl_opts < <("$ctl" -h | grep -oE '^  -[a-zA-Z]' | tr -d ' ')
documented ingressctl.8 "option of ingressctl -h" "${ctl_opts[@]}"
mapfile -t milter_opts < <("$milter" -h | grep -oE '^  (-[a-zA-Z]|--[a-z]+)' | tr -d ' ')
documented milter-ingress.8 "option of milter-ingress -h" "${milter_opts[@]}"
mapfile -t console_opts < <("$console" -h | grep -oE '\[-[a-zA-Z]' | tr -d '[')
documented ingress-console.8 "option of ingress-console -h" "${console_opts[@]}"

version=$("$milter" -V | awk '{print $2}')
for page in milter-ingress.8 ingressctl.8 ingress-console.8 milter-ingress.conf.5; do
    if rendered "$build/doc/$page" | tail -n 3 | grep -qF "milter-ingress $version"; then
        ok "$page: its footer names milter-ingress $version"
    else
        not_ok "$page: its footer names milter-ingress $version" "$(rendered "$build/doc/$page" | tail -n 3)"
    fi
done

echo "# $PASSED passed, $FAILED failed"
[[ $FAILED == 0 ]]
