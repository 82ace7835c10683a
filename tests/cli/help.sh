#!/usr/bin/env bash
# ingressctl's help and usage errors: `ingressctl VERB --help` prints that verb's usage on stdout
# and exits 0 (without opening the database), and every usage error is one line on stderr that
# names the problem and points at the verb's help, exit 2, nothing on stdout.
#
#   tests/cli/help.sh INGRESSCTL_BIN
set -euo pipefail

CTL_TEST=help
# shellcheck source=tests/cli/ctl-lib.sh
source "$(dirname "$0")/ctl-lib.sh"

# ---- VERB --help ------------------------------------------------------------------------------

# Every verb of the overall help, as its verb table lists them ("  why KEY ...", "  list ...").
mapfile -t verbs < <("$CTL_BIN" -h | awk '/^verbs:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
[ "${#verbs[@]}" -ge 7 ]
result "ingressctl -h lists the verbs (${verbs[*]})"

for verb in "${verbs[@]}"; do
    # A database that does not exist: the help must not need one.
    RC=0
    timeout 10 "$CTL_BIN" -d "$T/missing.db" "$verb" --help >"$T/out" 2>"$T/err" </dev/null || RC=$?
    OUT=$(<"$T/out")
    ERR=$(<"$T/err")
    [ "$RC" -eq 0 ] && [ -z "$ERR" ] && has "$OUT" "usage: ingressctl [-c FILE] [-d DATABASE] $verb" &&
        [ ! -e "$T/missing.db" ]
    result "ingressctl $verb --help: its usage on stdout, exit 0, no database needed"
done

ctl list --help
[ "$RC" -eq 0 ] && has "$OUT" "list add KIND VALUE block|allow" && has "$OUT" "list import [--format native|postgrey] FILE" &&
    ! has "$OUT" "rule add" && ! has "$OUT" "held list"
result "list --help shows the list forms and no other verb's"

ctl held --help
[ "$RC" -eq 0 ] && has "$OUT" "held release QUEUEID...|--account A" && ! has "$OUT" "list add"
result "held --help shows the held forms and no other verb's"

ctl list add cidr 192.0.2.0/24 block --help
[ "$RC" -eq 0 ] && has "$OUT" "list add KIND VALUE" && [ ! -s "$DB" ]
result "--help after the arguments shows the usage and leaves the database alone"

# ---- usage errors: one line -------------------------------------------------------------------

# usage_error VERB PROBLEM ARG...: runs ingressctl ARG... and checks a usage error: exit 2, nothing
# on stdout, exactly one line on stderr that holds PROBLEM and ends with the pointer to VERB's
# help (the overall help when VERB is "").
usage_error() {
    local verb=$1 problem=$2 help
    shift 2
    ctl "$@"
    help="ingressctl${verb:+ $verb} --help"
    [ "$RC" -eq 2 ] && [ -z "$OUT" ] && [ "$(wc -l <"$T/err")" -eq 1 ] &&
        [[ $ERR == "ingressctl: "*"$problem"*"; see '$help'" ]]
    result "ingressctl $*: one line naming the problem ($problem) and '$help'"
}

usage_error "" "unknown verb frobnicate" frobnicate
usage_error "" "unknown option --frob" --frob why x
usage_error why "too few arguments" why
usage_error why "too many arguments" why a b
usage_error list "expected block, allow or greylist_exempt, not blok" list add cidr 192.0.2.0/24 blok
usage_error list "unknown kind nonsense" list show nonsense
usage_error list "list: unknown option --frob" list show --frob
usage_error list "list: expected add, del, show or import" list frob
usage_error rule "rule: expected add, del or list" rule frob
usage_error alias "spaces and control characters are not allowed" alias add "a b" c@example.test
usage_error account "account suspend: --reason TEXT is required" account suspend alice
usage_error account "account add: wrong arguments (account add ACCOUNT)" account add
usage_error held "held release: wrong arguments" held release Q1 --account bob
usage_error held "not a queue id" held show "Q1;x"
usage_error stats "--since wants a duration" stats --since soon
usage_error stats "stats: --since needs a value" stats --since

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
