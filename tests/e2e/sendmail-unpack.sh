#!/usr/bin/env bash
# sendmail-unpack.sh: Debian's Sendmail, unpacked into a folder of its own for the Sendmail
# end-to-end test (tests/e2e/sendmail.sh), beside the Postfix package that stays installed.
#
#   tests/e2e/sendmail-unpack.sh [DIR]
#
# Prints the folder the packages are unpacked into (DIR/root; DIR defaults to $SENDMAIL_UNPACK_DIR,
# else /var/tmp/milter-ingress-sendmail).  The first run downloads sendmail-bin, sendmail-base and
# sendmail-cf with `apt-get download` (Debian's registry is all it needs) and unpacks them with
# `dpkg -x`; later runs find DIR/root/.complete and print at once.  Nothing is installed: the
# sendmail and postfix packages conflict, and the tests need Postfix too.
#
# Two facts make the unpacked copy usable: the sendmail binary is setgid (smmsp), so the loader
# would ignore LD_LIBRARY_PATH, which the unpacked libwrap0 may need: the bit is cleared on the
# copy; and m4 (to build a .cf) and libwrap0 are unpacked too when the machine lacks them
# (contrib/install-deps.sh installs both).  The other libraries the binary links (libdb5.3,
# libldap, libsasl2, libssl) come with the project's dependencies; a missing one fails here,
# named, not later in the test.
set -euo pipefail

dir=${1:-${SENDMAIL_UNPACK_DIR:-/var/tmp/milter-ingress-sendmail}}
root=$dir/root

die() {
    echo "sendmail-unpack: $*" >&2
    exit 1
}

if [[ -f $root/.complete ]]; then
    echo "$root"
    exit 0
fi

if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
    die "needs apt-get and dpkg (Debian's Sendmail packages)"
fi
mkdir -p -- "$dir"
# Two test runs at once (two build trees) must not unpack into each other.
exec 9>"$dir/lock"
flock 9
if [[ -f $root/.complete ]]; then
    echo "$root"
    exit 0
fi

work=$(mktemp -d "$dir/work.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
packages=(sendmail-bin sendmail-base sendmail-cf)
command -v m4 >/dev/null || packages+=(m4)
ldconfig -p 2>/dev/null | grep -q 'libwrap\.so\.0 ' || packages+=(libwrap0)

# apt-get download writes into the current folder; as root it would hand the download to the
# _apt user, who cannot write into a mktemp folder, hence no sandbox user.
download() {
    (cd "$work" && apt-get download -q -o APT::Sandbox::User=root "${packages[@]}") >&2
}
if ! download; then
    # A machine whose package lists were never fetched (or are stale) knows no such package yet.
    echo "sendmail-unpack: apt-get download failed; updating the package lists once" >&2
    apt-get update -q >&2 || die "apt-get update failed"
    download || die "apt-get download ${packages[*]} failed"
fi
mkdir "$work/root"
for deb in "$work"/*.deb; do
    dpkg -x "$deb" "$work/root"
done

bin=$work/root/usr/libexec/sendmail/sendmail
[[ -x $bin ]] || die "no $bin in the packages (a Sendmail other than Debian 12's?)"
chmod g-s "$bin"
libs=$(find "$work/root" -name '*.so*' -printf '%h\n' | sort -u | paste -sd:)
missing=$(LD_LIBRARY_PATH=$libs ldd "$bin" | awk '/not found/ { print $1 }' | paste -sd' ')
[[ -z $missing ]] || die "the sendmail binary needs libraries this machine lacks: $missing"
# (Not run here: outside the test's mount namespace it may stall resolving this host's name.)

{
    echo "# unpacked by tests/e2e/sendmail-unpack.sh"
    for deb in "$work"/*.deb; do
        dpkg-deb -W --showformat='${Package} ${Version}\n' "$deb"
    done
} >"$work/root/.complete"
rm -rf -- "$root"
mv -- "$work/root" "$root"
echo "$root"
