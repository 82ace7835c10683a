#!/usr/bin/env bash
# Installs the dependencies, builds milter-ingress and runs it in the foreground on the built-in
# default configuration, with its SQLite database under ./state and the socket on 127.0.0.1:8895,
# then prints an `ingressctl check` line to paste and what it answers.  Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

./contrib/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINGRESS_TESTS=OFF >/dev/null
cmake --build build/release -j"$(nproc)"

mkdir -p state
cat <<MSG

milter-ingress is starting on inet:8895@127.0.0.1, database $PWD/state/ingress.db.
Add this to Postfix's main.cf and run 'postfix reload':

    smtpd_milters = inet:127.0.0.1:8895
    non_smtpd_milters = inet:127.0.0.1:8895
    milter_default_action = tempfail
    milter_protocol = 6

Then 'build/release/ingressctl -d $PWD/state/ingress.db why ADDRESS' tells what it decided.

MSG
# A try-out started by root (a fresh VM, a container) runs as root: the production set-up names
# a user instead (README "Running the daemon"), and milter-ingress refuses root without it.
as_root=()
if [ "$(id -u)" -eq 0 ]; then
    echo "running as root for this try-out (allow_root = yes); in production set user = ACCOUNT"
    as_root=(-o allow_root=yes)
fi
build/release/milter-ingress -f -o database="$PWD/state/ingress.db" "${as_root[@]}" "$@" &
milter=$!
trap 'kill "$milter" 2>/dev/null; wait "$milter"' INT TERM

# The first decision, before any mail: what the live policy answers a client from the
# documentation range (no PTR, unknown sender) with this build's embedded defaults.
for _ in $(seq 50); do
    [ -s state/ingress.db ] || ! kill -0 "$milter" 2>/dev/null && break
    sleep 0.1
done
if kill -0 "$milter" 2>/dev/null; then
    check=(build/release/ingressctl -d "$PWD/state/ingress.db" check --ip 203.0.113.5
        --helo mail.example.com --from someone@example.com --rcpt "user@$(hostname -f 2>/dev/null || hostname)")
    printf '\nWhat would it answer?  Paste this (a dry run: nothing is recorded):\n\n    %s\n\n' "${check[*]}"
    "${check[@]}" | sed 's/^/    /' || true
    printf '\nmilter-ingress keeps running; stop it with Ctrl-C.\n'
fi
wait "$milter"
