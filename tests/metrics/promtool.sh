#!/usr/bin/env bash
# promtool.sh: prints the path of a `promtool` (Prometheus's checker of the text format) for
# tests/metrics/run.sh.
#
#   tests/metrics/promtool.sh [DIR]
#
# An installed one (PATH) is used as it is.  Otherwise Debian's prometheus package is downloaded
# with `apt-get download` and unpacked with `dpkg -x` into DIR (default $PROMTOOL_UNPACK_DIR, else
# /var/tmp/milter-ingress-promtool), once: installing the package would pull in the whole server
# (96 MB, a web UI's JavaScript) and start a prometheus service; the tests need one static binary.
set -euo pipefail
if command -v promtool >/dev/null; then
    command -v promtool
    exit 0
fi
dir=${1:-${PROMTOOL_UNPACK_DIR:-/var/tmp/milter-ingress-promtool}}
bin=$dir/root/usr/bin/promtool
die() {
    echo "promtool.sh: $*" >&2
    exit 1
}
if [[ -x $bin ]]; then
    echo "$bin"
    exit 0
fi
command -v apt-get >/dev/null && command -v dpkg >/dev/null || die "needs apt-get and dpkg"
mkdir -p -- "$dir"
exec 9>"$dir/lock"
flock 9
if [[ ! -x $bin ]]; then
    work=$(mktemp -d "$dir/work.XXXXXX")
    trap 'rm -rf -- "$work"' EXIT
    # As root apt-get would hand the download to the _apt user, who cannot write into mktemp's
    # folder: no sandbox user.
    download() { (cd "$work" && apt-get download -q -o APT::Sandbox::User=root prometheus) >&2; }
    if ! download; then
        echo "promtool.sh: apt-get download failed; updating the package lists once" >&2
        apt-get update -q >&2 || die "apt-get update failed"
        download || die "apt-get download prometheus failed"
    fi
    dpkg -x "$work"/prometheus_*.deb "$work/root" || die "dpkg -x failed"
    [[ -x $work/root/usr/bin/promtool ]] || die "the package has no usr/bin/promtool"
    rm -rf -- "$dir/root"
    mkdir -p -- "$dir/root/usr/bin"
    mv -- "$work/root/usr/bin/promtool" "$dir/root/usr/bin/promtool"
fi
echo "$bin"
