#!/usr/bin/python3
"""Which client ingress-console counts and records behind the README's nginx: the X-Real-IP
header when the peer is 127.0.0.1 (the proxy on this host) and the header is an address, else
the peer.  Failed logins of one client behind the proxy do not block another; a bogus header or
one from another peer counts on the peer; the log line and the record of a change (`ingressctl
why`) name the forwarded client.  Then a webmail key's wrong keys: 5 from one address within 5
minutes refuse even the right key from it (429) until the window ends, and no other address.

The console runs under libfaketime reading its offset from a file, so the 5 minutes pass without
waiting (its monotonic clock, which times connections, is left alone).  A sanitizer build of the
console deadlocks at start under libfaketime (its clock_gettime is called before libfaketime is
set up, seen with Debian's 0.9.10 and clang 14's AddressSanitizer): there it runs on the real
clock and the checks after the window are skipped, said so in their lines.

    tests/console/client_address.py INGRESSCTL_BIN INGRESS_CONSOLE_BIN
"""
import glob
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from testlib import Client, check, free_port, start_console  # noqa: E402
import testlib  # noqa: E402

CTL, CONSOLE = (os.path.realpath(p) for p in sys.argv[1:3])
T = tempfile.mkdtemp(prefix="ingress-console-client.")
CONF = os.path.join(T, "console.conf")
OFFSET = os.path.join(T, "clock-offset")
KEY = "Bearer wm:webmail-key-0123456789"
PORT = free_port()
with open(CONSOLE, "rb") as binary:
    SANITIZED = b"__asan_init" in binary.read()


def ctl(*args, stdin=""):
    return subprocess.run([CTL, "-c", CONF, *args], input=stdin, capture_output=True, text=True,
                          timeout=30)


def login(password, real_ip=None, peer="127.0.0.1"):
    """POST /api/login as pm from the loopback address peer, with X-Real-IP when given."""
    headers = {"X-Real-IP": real_ip} if real_ip is not None else {}
    return Client(PORT, source=peer).call("POST", "/api/login",
                                          {"name": "pm", "password": password},
                                          headers=headers)[0]


def fail_logins(n, **kw):
    return [login("wrong-password", **kw) for _ in range(n)]


def main():
    faketime = [] if SANITIZED else glob.glob("/usr/lib/*/faketime/libfaketime.so.1")
    if not SANITIZED and not faketime:
        check(False, "libfaketime (Debian's faketime) is installed")
        return
    with open(CONF, "w") as f:
        f.write(f"database = {T}/ingress.db\nconsole_listen = 127.0.0.1:{PORT}\n"
                f"console_users_file = {T}/users\n")
    open(f"{T}/ingress.db", "w").close()
    ctl("list", "show")  # applies the schema
    ctl("console-user", "add", "pm", "--role", "postmaster", stdin="pm-secret-1\n")
    ctl("console-user", "add", "wm", "--role", "webmail", stdin=KEY.split(":", 1)[1] + "\n")
    with open(OFFSET, "w") as f:
        f.write("+0\n")
    fake = {"LD_PRELOAD": faketime[0], "FAKETIME_TIMESTAMP_FILE": OFFSET,
            "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"} if faketime else {}
    os.environ.update(fake)
    try:
        proc = start_console(CONSOLE, CONF, PORT, os.path.join(T, "console.log"))
    finally:
        for name in fake:
            del os.environ[name]
    try:
        forwarded()
        webmail_key()
    finally:
        proc.terminate()
        proc.wait(10)
    check(proc.returncode == 0, "SIGTERM stops the console with status 0", proc.returncode)


def forwarded():
    # The record of a change: who, from the forwarded address (first: the failures below block
    # 127.0.0.1, where this logs in).
    pm = testlib.session(PORT, "pm", "pm-secret-1")
    for real_ip, mailbox, source in (("198.51.100.7", "fwd@example.test", "198.51.100.7"),
                                     ("not-an-address", "bogus@example.test", "127.0.0.1")):
        status, _, _, _ = pm.call("POST", "/api/rules", {"mailbox": mailbox,
                                  "sender": "@shop.test", "action": "accept",
                                  "reason": "ticket 7"}, headers={"X-Real-IP": real_ip})
        rules = ctl("rule", "list", mailbox).stdout
        why = ctl("why", mailbox).stdout
        check(status == 200 and f"pm via console from {source}" in rules
              and f"rule add by pm (console from {source})" in why,
              f"X-Real-IP {real_ip}: the change is recorded from {source}", (status, rules, why))

    codes = fail_logins(5, real_ip="192.0.2.1")
    status = login("pm-secret-1", real_ip="192.0.2.1")
    check(codes == [401] * 5 and status == 429,
          "five failed logins of X-Real-IP 192.0.2.1 from 127.0.0.1, then 429 for it",
          (codes, status))
    check(login("pm-secret-1", real_ip="192.0.2.2") == 200,
          "another X-Real-IP behind the same proxy logs in: 200")
    check(login("pm-secret-1") == 200, "the proxy's own address (no X-Real-IP) logs in: 200")
    log = open(os.path.join(T, "console.log")).read()
    check("user=- from=192.0.2.1 POST login result=rate-limited" in log
          and "user=pm from=192.0.2.2 POST login result=ok" in log,
          "the log line names the forwarded client", log)

    # One client, one spelling: an IPv6 address counts as inet_ntop writes it.
    codes = fail_logins(5, real_ip="2001:DB8:0::7")
    status = login("pm-secret-1", real_ip="2001:db8::7")
    check(codes == [401] * 5 and status == 429,
          "X-Real-IP 2001:DB8:0::7 and 2001:db8::7 are one client", (codes, status))

    # Only the proxy on this host is believed: from 127.0.0.2 the header is the client's word.
    codes = fail_logins(5, real_ip="203.0.113.9", peer="127.0.0.2")
    status = login("pm-secret-1", real_ip="203.0.113.10", peer="127.0.0.2")
    ok = login("pm-secret-1", real_ip="203.0.113.9")
    check(codes == [401] * 5 and status == 429 and ok == 200,
          "X-Real-IP from a peer other than 127.0.0.1 or ::1 is ignored: the peer is counted",
          (codes, status, ok))

    # A header that is not one address counts on the peer, 127.0.0.1 (last: it blocks it).
    codes = [login("wrong-password", real_ip=v)
             for v in ("not-an-address", "192.0.2.1, 192.0.2.3", "192.0.2.300", "", "::1::2")]
    status = login("pm-secret-1")
    ok = login("pm-secret-1", real_ip="192.0.2.2")
    check(codes == [401] * 5 and status == 429 and ok == 200,
          "a bogus X-Real-IP counts on the peer: 127.0.0.1 blocked, 192.0.2.2 not",
          (codes, status, ok))


def webmail_key():
    rules = "/api/rules?mailbox=alice@example.test"

    def get(key, peer):
        return Client(PORT, source=peer).call("GET", rules, headers={"Authorization": key})

    codes = [get(KEY[:-1] + "x", "127.0.0.3")[0] for _ in range(5)]
    status = get(KEY, "127.0.0.3")[0]
    check(codes == [401] * 5 and status == 429,
          "five wrong webmail keys from one address, then the right key: 429", (codes, status))
    check(get(KEY, "127.0.0.4")[0] == 200, "the right key from another address: 200")
    if SANITIZED:
        print("ok - # SKIP the window's end: no libfaketime under the sanitizers")
        return
    with open(OFFSET, "w") as f:
        f.write("+4m\n")
    check(get(KEY, "127.0.0.3")[0] == 429, "4 minutes later the address is still refused: 429")
    with open(OFFSET, "w") as f:
        f.write("+6m\n")
    status, doc, text, _ = get(KEY, "127.0.0.3")
    check(status == 200 and doc == [], "past the 5 minutes the right key is taken: 200", text)


testlib.run(main, T)
