#!/usr/bin/env bash
# Installs the dependencies, builds milter-ingress and runs it in the foreground on the built-in
# default configuration, with its SQLite database under ./state and the socket on 127.0.0.1:8895.
# Stop it with Ctrl-C.
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
exec build/release/milter-ingress -f -o database="$PWD/state/ingress.db" "${as_root[@]}" "$@"
