#!/usr/bin/env bash
# ingressctl's bash completion (contrib/bash-completion/ingressctl), run in this bash as
# bash-completion would run it (without bash-completion's _init_completion, which the script does
# not need): it offers exactly the verbs of `ingressctl -h`, every list kind and action
# `ingressctl list --help` names, and each verb's subcommands and options.
#
#   tests/cli/completion.sh INGRESSCTL_BIN
set -euo pipefail

CTL_TEST=completion
# shellcheck source=tests/cli/ctl-lib.sh
source "$(dirname "$0")/ctl-lib.sh"
# shellcheck source=contrib/bash-completion/ingressctl
source "$(dirname "$0")/../../contrib/bash-completion/ingressctl"

# offered WORD...: what completing the last word (may be "") of "ingressctl WORD..." offers,
# sorted, one a line.
offered() {
    COMP_WORDS=(ingressctl "$@")
    COMP_CWORD=$#
    COMPREPLY=()
    _ingressctl
    printf '%s\n' "${COMPREPLY[@]}" | sort
}

# The verbs the program has, from its own help.
mapfile -t verbs < <("$CTL_BIN" -h | awk '/^verbs:/ { on = 1; next } on && /^  [a-z]/ { print $1 }' | sort)
OUT=$(offered "" | grep -v '^-')
ERR=""
RC=0
[[ ${#verbs[@]} -ge 7 && $OUT == "$(printf '%s\n' "${verbs[@]}")" ]]
result "ingressctl <TAB> offers exactly the verbs of ingressctl -h (${verbs[*]})"

# The list kinds and actions the program names in its list help.
help=$("$CTL_BIN" list --help)
kinds=$(sed -n 's/.*(KIND: \(.*\)/\1/p; s/^ *\(helo_regex.*\))$/\1/p' <<<"$help" | tr -d ',)' |
    tr ' ' '\n' | grep -v '^$' | sort)
OUT=$(offered list add "")
shown=$(echo $kinds) # before the check: result reads the status of the command just run
[[ -n $kinds && $OUT == "$kinds" ]]
result "ingressctl list add <TAB> offers every kind of list --help ($shown)"

actions=$(sed -n 's/.*list add KIND VALUE \([a-z_|]*\).*/\1/p' <<<"$help" | tr '|' '\n' | sort)
OUT=$(offered list add cidr 192.0.2.0/24 "")
shown=$(echo $actions)
[[ -n $actions && $OUT == "$actions" ]]
result "ingressctl list add cidr VALUE <TAB> offers the actions of list --help ($shown)"

OUT=$(offered -c /etc/milter-ingress/milter-ingress.conf held "")
[[ $OUT == "$(printf '%s\n' --help list reject release show)" ]]
result "held's subcommands, after -c FILE"

OUT=$(offered why --l)
[[ $OUT == "--limit" ]]
result "why --l<TAB> completes --limit"

OUT=$(offered list import --format p)
[[ $OUT == "$(printf '%s\n' postgrey postgrey-clients postgrey-recipients)" ]]
result "list import --format offers postgrey's formats"

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
