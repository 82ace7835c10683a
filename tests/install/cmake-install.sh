#!/usr/bin/env bash
# `cmake --install` into a DESTDIR: every file where GNUInstallDirs and the build's cache say
# (binaries, the config, man pages, README and examples, the systemd unit, sysusers.d and
# tmpfiles.d), the config being the reference configuration that -t accepts, the unit starting
# the installed binary on the installed config without -f, and a second install keeping a config
# the admin edited.  With systemd's tools present, the sysusers.d and tmpfiles.d files are applied
# to the DESTDIR (--root): the account exists there and the directories get their owner and mode.
# The installed layout with the prefix /usr (/etc/milter-ingress, /usr/sbin) is the package's:
# tests/install/package.sh.
#
#   tests/install/cmake-install.sh BUILD_DIR
# The build's paths come from the environment (tests/CMakeLists.txt sets them): INGRESS_PREFIX,
# INGRESS_SBINDIR, INGRESS_CONFIG, INGRESS_MANDIR, INGRESS_DOCDIR, INGRESS_UNITDIR,
# INGRESS_SYSUSERSDIR, INGRESS_TMPFILESDIR.
# shellcheck disable=SC2016 # the bash -c scripts expand their own arguments
set -euo pipefail
build=$(realpath -- "${1:?usage: cmake-install.sh BUILD_DIR}")
T=$(mktemp -d /tmp/ingress-install.XXXXXX)
trap 'rm -rf -- "$T"' EXIT
D=$T/root
SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
source "$SRC_DIR/tests/e2e/lib.sh" # ok, not_ok
check() {
    local label=$1
    shift
    if "$@" >"$T/check.out" 2>&1; then ok "$label"; else not_ok "$label" "$(cat "$T/check.out")"; fi
}

if ! DESTDIR=$D cmake --install "$build" >"$T/install.log" 2>&1; then
    not_ok "cmake --install with DESTDIR" "$(cat "$T/install.log")"
    exit 1
fi
ok "cmake --install with DESTDIR"

# Everything went under DESTDIR: nothing outside the paths the build names.
expected=(
    "$INGRESS_SBINDIR/milter-ingress" "$INGRESS_SBINDIR/ingressctl"
    "$INGRESS_SBINDIR/ingress-console" "$INGRESS_CONFIG"
    "$INGRESS_MANDIR/man8/milter-ingress.8" "$INGRESS_MANDIR/man8/ingressctl.8"
    "$INGRESS_MANDIR/man8/ingress-console.8" "$INGRESS_UNITDIR/ingress-console.service"
    "$INGRESS_DOCDIR/examples/nginx/ingress-console.conf"
    "$INGRESS_MANDIR/man5/milter-ingress.conf.5" "$INGRESS_DOCDIR/README.md"
    "$INGRESS_DOCDIR/examples/postfix/main.cf.snippet"
    "$INGRESS_DOCDIR/examples/sendmail/milter-ingress.mc"
    "$INGRESS_DOCDIR/examples/sendmail/milter-ingress-held"
    "$INGRESS_DOCDIR/examples/sudoers/ingress-console"
    "$INGRESS_DOCDIR/examples/systemd/ingress-console-held.conf"
    "$INGRESS_UNITDIR/milter-ingress.service" "$INGRESS_SYSUSERSDIR/milter-ingress.conf"
    "$INGRESS_TMPFILESDIR/milter-ingress.conf"
    "$INGRESS_DATADIR/bash-completion/completions/ingressctl"
    "$INGRESS_DATADIR/milter-ingress/console/index.html"
    "$INGRESS_DATADIR/milter-ingress/console/app.js"
    "$INGRESS_DATADIR/milter-ingress/console/app.css"
)
got=$(cd "$D" && find . -type f | sed 's|^\.||' | sort)
want=$(printf '%s\n' "${expected[@]}" | sort)
if [[ $got == "$want" ]]; then
    ok "the installed files are exactly the expected ${#expected[@]}, under DESTDIR"
else
    not_ok "the installed files are exactly the expected ones" "$(diff <(echo "$want") <(echo "$got"))"
fi
check "the binaries are executable and print their version" \
    bash -c '"$1" -V | grep -q "^milter-ingress [0-9]" && "$2" -V | grep -q "^ingressctl [0-9]"' _ \
    "$D$INGRESS_SBINDIR/milter-ingress" "$D$INGRESS_SBINDIR/ingressctl"

conf=$D$INGRESS_CONFIG
# The console's page is under the data directory; a prefix other than /usr (whose path is the
# option's default) writes it in.
console_set=()
[[ $INGRESS_DATADIR == /usr/share ]] ||
    console_set=(-o "console_static_dir=$INGRESS_DATADIR/milter-ingress/console")
check "the config is the reference configuration (milter-ingress -C), with the page's directory" \
    cmp "$conf" <("$D$INGRESS_SBINDIR/milter-ingress" "${console_set[@]}" -C)
check "the config's header says it is the admin's to edit" \
    grep -q "^# This file is yours to edit: an upgrade never overwrites it" "$conf"
# -t checks what a start checks (the account, the database's directory), which a DESTDIR has
# not made: the test gives a state directory of its own and, as root, allow_root.
mkdir -m 0750 "$D/state"
check "milter-ingress -t accepts the installed config (with a state directory of the test's)" \
    "$D$INGRESS_SBINDIR/milter-ingress" -t -c "$conf" -o allow_root=yes -o "database=$D/state/ingress.db"
check "the compiled-in default config is the installed path" \
    bash -c '"$1" -h | grep -qF "(default $2 when it exists"' _ "$D$INGRESS_SBINDIR/milter-ingress" \
    "$INGRESS_CONFIG"

unit=$D$INGRESS_UNITDIR/milter-ingress.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
if [[ $exec_start == "$INGRESS_SBINDIR/milter-ingress -c $INGRESS_CONFIG" ]]; then
    ok "the unit starts $INGRESS_SBINDIR/milter-ingress on $INGRESS_CONFIG, without -f"
else
    not_ok "the unit starts the installed binary on the installed config, without -f" "ExecStart=$exec_start"
fi
console_unit=$D$INGRESS_UNITDIR/ingress-console.service
check "the console's unit starts the installed ingress-console on the installed config, as milter-ingress" \
    bash -c 'grep -qx "ExecStart=$2/ingress-console -c $3" "$1" && grep -qx User=milter-ingress "$1" &&
             grep -qx ProtectSystem=strict "$1" && ! grep -q "@[A-Z_]*@" "$1"' _ "$console_unit" \
    "$INGRESS_SBINDIR" "$INGRESS_CONFIG"
# Mail first: the console runs at a lower CPU and I/O priority than the milter, whose unit sets
# none, so the web side gives way on a shared host.
check "the console's unit has Nice=10, CPUWeight=20, best-effort I/O at 7; the milter's none of these" \
    bash -c 'for l in Nice=10 CPUWeight=20 IOSchedulingClass=best-effort IOSchedulingPriority=7; do
                 grep -qx "$l" "$1" || { echo "console unit: no $l"; exit 1; }
             done
             ! grep -E "^(Nice|CPUWeight|CPUShares|IOWeight|IOScheduling[A-Za-z]*|CPUSchedulingPolicy)=" "$2"' \
    _ "$console_unit" "$unit"
if command -v systemd-analyze >/dev/null; then
    # systemd ignores, with a warning, a line it cannot parse (an unknown key, a bad value): the
    # priorities above would then silently not apply.  The binaries are under DESTDIR, not at the
    # unit's paths, so verify's complaints about ExecStart and the man pages are expected.
    check "systemd-analyze verify ignores no line of either unit" \
        bash -c '! systemd-analyze verify "$1" "$2" 2>&1 | grep -i "ignoring\|unknown"' _ "$console_unit" "$unit"
else
    echo "# skip: systemd-analyze not installed: the units' lines are not parsed by systemd"
fi
check "the unit runs as milter-ingress, with its state directory" \
    bash -c 'grep -qx User=milter-ingress "$1" && grep -qx StateDirectory=milter-ingress "$1" &&
             ! grep -q "@[A-Z_]*@" "$1"' _ "$unit"

if command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null; then
    mkdir -p "$D/etc" "$D/var/lib" "$D/run"
    check "systemd-sysusers --root creates the account milter-ingress from the sysusers.d file" \
        bash -c 'systemd-sysusers --root="$1" && grep -q "^milter-ingress:x:" "$1/etc/passwd" &&
                 grep -q "^milter-ingress:x:" "$1/etc/group"' _ "$D"
    uid=$(awk -F: '$1 == "milter-ingress" { print $3 }' "$D/etc/passwd")
    check "systemd-tmpfiles --root makes /var/lib/milter-ingress and /run/milter-ingress 0750 of it" \
        bash -c 'systemd-tmpfiles --root="$1" --create &&
                 [[ $(stat -c "%a %u" "$1/var/lib/milter-ingress") == "750 $2" ]] &&
                 [[ $(stat -c "%a %u" "$1/run/milter-ingress") == "750 $2" ]]' _ "$D" "$uid"
else
    echo "# skip: systemd-sysusers or systemd-tmpfiles not installed: the sysusers.d and tmpfiles.d files are not applied"
fi

# A second install keeps the config the admin edited and puts the new reference beside it.
echo "authserv_id = mx.edited.example" >>"$conf"
before=$(sha256sum <"$conf")
DESTDIR=$D cmake --install "$build" >"$T/install2.log" 2>&1 || true
if [[ $(sha256sum <"$conf") == "$before" ]] && cmp -s "$conf.dist" <("$D$INGRESS_SBINDIR/milter-ingress" "${console_set[@]}" -C); then
    ok "a second install keeps the edited config and writes milter-ingress.conf.dist beside it"
else
    not_ok "a second install keeps the edited config" "$(cat "$T/install2.log")" "$(ls -l "$(dirname "$conf")")"
fi

# The prefix /usr (a packager's): the config in /etc, not /usr/etc (GNUInstallDirs' relative
# SYSCONFDIR would say /usr/etc), in the install rules, the unit and the compiled-in default.
src=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
if cmake -S "$src" -B "$T/usr-build" -DCMAKE_INSTALL_PREFIX=/usr -DINGRESS_TESTS=OFF \
    >"$T/usr-configure.log" 2>&1; then
    unit_exec=$(sed -n 's/^ExecStart=//p' "$T/usr-build/milter-ingress.service")
    if [[ $unit_exec == "/usr/sbin/milter-ingress -c /etc/milter-ingress/milter-ingress.conf" ]] &&
        grep -q '"/etc/milter-ingress"' "$T/usr-build/cmake_install.cmake" &&
        ! grep -q '/usr/etc' "$T/usr-build/cmake_install.cmake" "$T/usr-build/CMakeFiles/milter-ingress.dir/flags.make"; then
        ok "with the prefix /usr the config is /etc/milter-ingress/milter-ingress.conf, nothing in /usr/etc"
    else
        not_ok "with the prefix /usr the config is /etc/milter-ingress/milter-ingress.conf" \
            "ExecStart=$unit_exec" "$(grep -n 'etc' "$T/usr-build/cmake_install.cmake")"
    fi
else
    not_ok "cmake configures with the prefix /usr" "$(tail -n 20 "$T/usr-configure.log")"
fi

echo "# $PASSED passed, $FAILED failed"
[[ $FAILED == 0 ]]
