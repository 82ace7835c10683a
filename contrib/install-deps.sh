#!/usr/bin/env bash
# Installs everything milter-ingress needs to build, run and be tested, from Debian's packages.
# Debian 12 (bookworm).  Run as root, or as a user with sudo.
set -euo pipefail

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi

packages=(
    # build
    build-essential cmake pkg-config clang
    # libraries
    libmilter-dev libspf2-dev libopendkim-dev libc-ares-dev libsqlite3-dev
    # the HTTP server of metrics_listen (milter/metrics_http.c)
    libmicrohttpd-dev
    # OpenSSL's libcrypto, libopendkim's own: the decoded DKIM key cache (lib/dkim_keycache.c)
    libssl-dev
    # organizational domains (lib/orgdomain.c): libpsl, and the Public Suffix List file it reads
    libpsl-dev publicsuffix
    # DMARC (lib/dmarc.c): an internationalized From domain's A-label
    libidn2-dev
    # the list kinds ptr_regex and helo_regex (lib/lists.c): regular expressions with match limits
    libpcre2-dev
    # ingressctl's --json output (milter/ctl_json.c), also ingress-console's JSON API
    libjansson-dev
    # libxcrypt: the console users' yescrypt password hashes (milter/console_users.c)
    libcrypt-dev
    # tests: unit tests, a real DNS server, a real MTA and its client, sanitizer runtime
    libcmocka-dev nsd postfix swaks sqlite3 libclang-rt-14-dev
    # tests of submission: SASL for the private Postfix (a Cyrus sasldb, PLAIN/LOGIN)
    sasl2-bin libsasl2-modules
    # the Sendmail end-to-end test: what the Sendmail that tests/e2e/sendmail-unpack.sh unpacks
    # (it conflicts with postfix, so it is not installed) needs from the system
    m4 libwrap0 libdb5.3 libldap-2.5-0 libnsl2
    # the DMARC aggregate report's tests: xmllint validates it against RFC 7489's schema
    libxml2-utils
    # tests of later checks: DKIM signing fixtures and milter protocol tests
    opendkim-tools python3-dkim python3-dnslib python3-yaml
    # the benchmark (tests/bench/run.sh): Debian's opendkim as the verify-mode baseline, perf for
    # PROFILE=1
    opendkim linux-perf
    # tools the test scripts call (ps, ss, setsid); usually present, not on a minimal image
    procps iproute2 util-linux git
    # the PostgreSQL backend (libpq) and its tests: a private server started by tests/pg/pg-ctl.sh;
    # libfaketime puts the milter's clock minutes off the server's (tests/hardening/pg-faults.sh)
    libpq-dev postgresql faketime
    # the console's pages in a real browser (tests/console/): headless Chromium driven by Selenium
    chromium chromium-driver python3-selenium curl
    # lint
    clang-format clang-tidy cppcheck
    # the man pages' lint (tests/install/man.sh): groff, man and col render them, mandoc lints
    groff-base man-db bsdextrautils mandoc
    # the Debian package (debian/, tests/install/package.sh): dpkg-buildpackage (dpkg-dev) with
    # debhelper, and lintian; no fakeroot: the package says Rules-Requires-Root: no.  adduser is
    # what the package depends on beyond the libraries above (its postinst creates the account),
    # installed here so that the test installs the package without downloading anything.
    dpkg-dev debhelper lintian adduser
    # held mail released from the console through sudo (tests/install/held-sudo.sh): sudo, and
    # systemd's systemd-analyze to read the unit with its drop-in (systemd is not started)
    sudo systemd
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps: every package is installed"
else
    echo "install-deps: installing ${missing[*]}"
    # Postfix asks how to configure the system's mail; the tests run private instances of their own.
    echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
    # Likewise PostgreSQL: without this, postgresql-common creates and starts a cluster on port
    # 5432 at install; the tests start private servers (tests/pg/pg-ctl.sh) and need none.
    if ! grep -qs '^create_main_cluster *= *false' /etc/postgresql-common/createcluster.conf; then
        $sudo mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" | $sudo tee -a /etc/postgresql-common/createcluster.conf >/dev/null
    fi
    $sudo apt-get update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Sendmail for its end-to-end test, unpacked (once) beside the installed Postfix.
echo "install-deps: Sendmail unpacked in $($sudo "$(dirname "$0")/../tests/e2e/sendmail-unpack.sh")"
