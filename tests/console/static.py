#!/usr/bin/python3
"""ingress-console's web page files (milter/console_static.c) and GET /api/session: / and
/static/NAME served from console_static_dir with their type and the security headers; every
other path 404, path traversal in every form (../, %2e%2e, encoded slashes, absolute paths, an
encoded NUL, a symbolic link out of the directory, a directory, an oversized file) 404 without
reading outside, and the console still answering; /api/session 401 without a session, the
login's answer with one.

    tests/console/static.py INGRESSCTL_BIN INGRESS_CONSOLE_BIN SOURCE_DIR
"""
import http.client
import os
import shutil
import sys
import tempfile

from testlib import check, free_port, session, start_console, stop_console
import testlib

CTL, CONSOLE, SRC = (os.path.realpath(p) for p in sys.argv[1:4])
T = tempfile.mkdtemp(prefix="ingress-console-static.")


def get(port, path, method="GET", headers=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    # http.client sends the path as given: no normalization of "..", no re-encoding.
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data


def main():
    page = os.path.join(T, "page")
    shutil.copytree(os.path.join(SRC, "console"), page)
    secret = os.path.join(T, "secret.html")
    with open(secret, "w") as f:
        f.write("OUTSIDE-SECRET\n")
    os.symlink(secret, os.path.join(page, "link.html"))
    os.mkdir(os.path.join(page, "sub.js"))
    with open(os.path.join(page, "big.js"), "wb") as f:
        f.write(b"x" * (1024 * 1024 + 1))
    port = free_port()
    conf = testlib.write_conf(os.path.join(T, "console.conf"), testlib.database(T), port,
                              os.path.join(T, "users"), f"console_static_dir = {page}\n")
    testlib.ctl(CTL, conf, "list", "show")  # applies the schema to the empty file
    r = testlib.ctl(CTL, conf, "console-user", "add", "desk", stdin="desk-secret-1\n")
    if r.returncode != 0:
        raise SystemExit("console-user add: " + r.stderr)
    log = os.path.join(T, "console.log")
    proc = start_console(CONSOLE, conf, port, log)
    try:
        run(port, proc)
    finally:
        stop_console(proc)
    text = open(log).read()
    check(proc.returncode == 0 and "Sanitizer" not in text and "runtime error:" not in text,
          "SIGTERM stops the console with status 0, no sanitizer report", (proc.returncode, text))


def run(port, proc):
    status, h, body = get(port, "/")
    index = open(os.path.join(SRC, "console", "index.html"), "rb").read()
    check(status == 200 and body == index and h.get("content-type") == "text/html; charset=utf-8",
          "GET / is index.html, text/html", (status, h))
    check("default-src 'self'" in h.get("content-security-policy", "")
          and h.get("x-frame-options") == "DENY" and h.get("x-content-type-options") == "nosniff"
          and h.get("cache-control") == "no-cache",
          "the page carries CSP default-src 'self', X-Frame-Options DENY, nosniff, no-cache", h)
    for name, ctype in (("app.js", "text/javascript; charset=utf-8"),
                        ("app.css", "text/css; charset=utf-8")):
        status, h, body = get(port, "/static/" + name)
        want = open(os.path.join(SRC, "console", name), "rb").read()
        check(status == 200 and body == want and h.get("content-type") == ctype
              and h.get("x-content-type-options") == "nosniff",
              f"GET /static/{name}: the file, {ctype}", (status, h))
    status, h, body = get(port, "/static/app.js", method="HEAD")
    check(status == 200 and body == b"", "HEAD /static/app.js: 200 without a body", status)

    traversal = ["/static/../secret.html", "/static/%2e%2e/secret.html",
                 "/static/%2E%2E%2Fsecret.html", "/static/..%2fsecret.html",
                 "/static/%2fetc%2fpasswd", "/static//etc/passwd", "/static/" + T + "/secret.html",
                 "/static/link.html", "/static/app.js%00.html", "/static/.", "/static/..",
                 "/static/", "/static/sub.js", "/static/big.js", "/static/nothing.js",
                 "/static/index.txt", "/../secret.html", "/secret.html", "/index.html",
                 "/etc/passwd", "/static/app.js/", "/static/%5c..%5csecret.html"]
    for path in traversal:
        status, h, body = get(port, path)
        check(status == 404 and b"OUTSIDE-SECRET" not in body and b"root:" not in body,
              f"{path}: 404, nothing from outside the page's directory", (status, body[:100]))
    status, _, _ = get(port, "/static/app.js", method="POST", body=b"{}")
    check(status == 404, "POST to a page file: 404", status)
    status, _, _ = get(port, "/")
    check(status == 200 and proc.poll() is None, "the console still serves the page after all that",
          status)

    status, _, body = get(port, "/api/session")
    check(status == 401, "GET /api/session without a session: 401", (status, body))
    desk = session(port, "desk", "desk-secret-1")
    status, doc, body, _ = desk.call("GET", "/api/session")
    check(status == 200 and doc["role"] == "support" and doc["user"] == "desk"
          and doc["csrf_token"] == desk.csrf and doc["expires"] > 0,
          "GET /api/session with the cookie: the login's user, role, CSRF token and expiry",
          (status, body))


testlib.run(main, T)
