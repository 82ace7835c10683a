#!/usr/bin/python3
"""ingress-console against hostile HTTP clients, on a real SQLite store: each case gets its
defined answer (tests/RELIABILITY.md "16. Console: hostile HTTP clients"), and after each one the
console still logs a normal client in and answers its GET.

Cases: bodies that are not the JSON object a handler wants (bad JSON, an array, a string,
duplicate keys, nesting 5,000 deep, NUL and invalid UTF-8 in strings) 400; a 1 MiB body 413
(announced and chunked), a 1 GiB one announced 413 at once, a chunked one past 1 MiB closed; a
64 KiB header 431; a 64 KiB URL 414; a slow client dripping its headers a byte at a time dropped
within the request timeout while others are served; a connection over the per-address limit
closed unanswered, one over the total limit left waiting until another ends; path traversal in
/api/ paths (../, %2e%2e, %2f, %00) 404; methods it does not serve (PUT, PATCH, OPTIONS, TRACE,
HEAD of a POST route, BREW) 404 without echoing the request; HTTP/1.0 and pipelined requests
answered in order; HTTP/9.9 505; a TLS hello closed.  At the end: the process never stopped,
SIGTERM ends it with status 0, and no log line holds a password, a session token, a CSRF token or
a cookie.

The remote sender's page (console_public_listen, tests/RELIABILITY.md "17. The remote sender's
page: hostile input") gets the same hostile clients on its own listener, with a refusal in the
store to find: path traversal and %00 in /why/ paths get the one 404 page of an unknown
reference (a %00 never cuts a path down to a real reference), a 1 MiB review form 413 and an
announced 1 GiB one 413 at once, a connection over its per-address limit closed unanswered, a
slow client dropped within the request timeout while others are served.

    tests/hardening/console-hostile.py INGRESSCTL_BIN INGRESS_CONSOLE_BIN
"""
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "console"))
from testlib import check, free_port, start_console, stop_console  # noqa: E402
import testlib  # noqa: E402

CTL, CONSOLE = (os.path.realpath(p) for p in sys.argv[1:3])
T = tempfile.mkdtemp(prefix="ingress-console-hostile.")
DB = os.path.join(T, "ingress.db")
USERS = os.path.join(T, "console-users")
PASSWORD = "pm-hostile-secret"
# The console's bounds (milter/console.h, milter/console.c): what this test expects of them.
TIMEOUT = 10
PER_IP, TOTAL = 16, 64
PUBLIC_PER_IP = 8  # milter/console_public.c
# A refusal in the store for the public page to show; its detail and recipient are never shown.
REF = "HQSTILEREFABCDEF"
REFUSED_PAGE = b"Why your mail was refused"


PORT = free_port()
PUBLIC = free_port()


def connect(source="127.0.0.1", timeout=20, port=None):
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port or PORT))
    return s


def read_all(s):
    """Everything the console sends until it closes: b"" when it closed without a word, None when
    it did not close within the socket's timeout."""
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except ConnectionResetError:
        pass
    except socket.timeout:
        return None
    return out


def exchange(data, source="127.0.0.1", port=None):
    """Sends data on a new connection and returns all the console answered until it closed."""
    s = connect(source, port=port)
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    out = read_all(s)
    s.close()
    return out if out is not None else b"(neither answered nor closed in time)"


def status_of(answer):
    if answer is None:
        return None
    try:
        return int(answer.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def request(method, path, body=b"", cookie=None, csrf=None, extra=b"", version=b"HTTP/1.1"):
    head = b"%s %s %s\r\nHost: 127.0.0.1\r\nConnection: close\r\n" % (
        method.encode(), path if isinstance(path, bytes) else path.encode(), version)
    if cookie:
        head += b"Cookie: " + cookie.encode() + b"\r\n"
    if csrf:
        head += b"X-CSRF-Token: " + csrf.encode() + b"\r\n"
    if body or method in ("POST", "PUT", "PATCH", "DELETE"):
        head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    return head + extra + b"\r\n" + body


def login(source="127.0.0.1"):
    """(cookie, csrf) of a new postmaster session, or (None, None)."""
    answer = exchange(request("POST", "/api/login",
                              json.dumps({"name": "pm", "password": PASSWORD}).encode()), source)
    head, _, body = answer.partition(b"\r\n\r\n")
    if status_of(answer) != 200:
        return None, None
    cookie = next(line.split(b":", 1)[1].split(b";")[0].strip().decode()
                  for line in head.split(b"\r\n") if line.lower().startswith(b"set-cookie:"))
    return cookie, json.loads(body)["csrf_token"]


def normal_client_served(source="127.0.0.1"):
    cookie, _ = login(source)
    if cookie is None:
        return False
    return status_of(exchange(request("GET", "/api/held", cookie=cookie), source)) == 200


def still_serves(after):
    check(normal_client_served() and proc.poll() is None,
          f"after {after}: a normal login and GET still answered")


clients = 0


def public_request(method, path, body=b""):
    """A request to the public listener as a client of its own (X-Real-IP, believed from this
    host), so that the page's per-client rate limit does not answer in place of the case."""
    global clients
    clients += 1
    extra = b"X-Real-IP: 198.18.%d.%d\r\n" % (clients // 250, clients % 250 + 1)
    head = b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s" % (
        method.encode(), path if isinstance(path, bytes) else path.encode(), extra)
    if method == "POST":
        head += (b"Content-Type: application/x-www-form-urlencoded\r\n"
                 b"Content-Length: %d\r\n" % len(body))
    return head + b"\r\n" + body


def public_served(source="127.0.0.1"):
    answer = exchange(public_request("GET", "/why/" + REF), source, PUBLIC)
    return status_of(answer) == 200 and REFUSED_PAGE in answer


def public_still_serves(after):
    check(public_served() and proc.poll() is None,
          f"public listener, after {after}: the refusal's page still answered")


def start():
    conf = os.path.join(T, "console.conf")
    with open(conf, "w") as f:
        f.write(f"database = {DB}\nconsole_listen = 127.0.0.1:{PORT}\n"
                f"console_public_listen = 127.0.0.1:{PUBLIC}\n"
                f"console_users_file = {USERS}\nconsole_session_lifetime = 1h\n")
    open(DB, "w").close()
    subprocess.run([CTL, "-c", conf, "list", "show"], capture_output=True)  # makes the schema
    with sqlite3.connect(DB) as db:
        db.execute("INSERT INTO decisions (time, ref, client_ip, helo, recipient, check_name,"
                   " action, reply, detail) VALUES (?, ?, '192.0.2.7', 'mail.nowhere.test',"
                   " 'hidden@example.test', 'iprev', 'reject', '550 5.7.25 no PTR',"
                   " 'internal detail')", (int(time.time()), REF))
    subprocess.run([CTL, "-c", conf, "console-user", "add", "pm", "--role", "postmaster"],
                   input=PASSWORD + "\n", text=True, capture_output=True, check=True)
    return start_console(CONSOLE, conf, PORT, os.path.join(T, "console.log"))


def bodies():
    cookie, csrf = login()
    entry = b'"kind":"cidr","value":"198.51.100.0/24","action":"block"'
    cases = {
        "bad JSON": b"{not json",
        "an array": b'[{"kind":"cidr"}]',
        "a string": b'"text"',
        "a number": b"42",
        "null": b"null",
        "an empty body": b"",
        "duplicate keys": b'{' + entry + b',"reason":"a","reason":"b"}',
        "nesting 5,000 deep": b'{' + entry + b',"reason":' + b"[" * 5000 + b"]" * 5000 + b"}",
        "an escaped NUL in a string": b'{' + entry + b',"reason":"a\\u0000b"}',
        "a raw NUL in a string": b'{' + entry + b',"reason":"a\x00b"}',
        "invalid UTF-8 in a string": b'{' + entry + b',"reason":"\xff\xfe"}',
        "an overlong UTF-8 slash": b'{' + entry + b',"reason":"\xc0\xaf"}',
        "a lone surrogate": b'{' + entry + b',"reason":"\\ud800"}',
        "trailing garbage": b'{' + entry + b',"reason":"r"} x',
    }
    for name, body in cases.items():
        answer = exchange(request("POST", "/api/lists", body, cookie, csrf))
        check(status_of(answer) == 400 and b'"error"' in answer, f"POST /api/lists, {name}: 400",
              answer[:300])
        answer = exchange(request("POST", "/api/login", body))
        check(status_of(answer) == 400, f"POST /api/login, {name}: 400", answer[:300])
    answer = exchange(request("GET", "/api/lists", cookie=cookie))
    check(status_of(answer) == 200 and b"198.51.100.0" not in answer,
          "none of those bodies added an entry", answer[:300])
    still_serves("bodies that are not the JSON object wanted")


def big_requests():
    cookie, csrf = login()
    body = b"x" * (1 << 20)
    answer = exchange(request("POST", "/api/lists", body, cookie, csrf))
    check(status_of(answer) == 413, "a 1 MiB body announced by Content-Length: 413", answer[:200])
    # The same 1 MiB chunked, no length announced: read and dropped, then refused whole.
    chunked = (b"POST /api/lists HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: %s\r\n"
               b"X-CSRF-Token: %s\r\nTransfer-Encoding: chunked\r\n\r\n"
               % (cookie.encode(), csrf.encode()))
    chunked += b"".join(b"%x\r\n%s\r\n" % (65536, b"y" * 65536) for _ in range(16)) + b"0\r\n\r\n"
    answer = exchange(chunked)
    check(status_of(answer) == 413, "a 1 MiB chunked body: 413", answer[:200])
    # Chunked past 1 MiB: the console stops reading and closes the connection.
    s = connect()
    closed = False
    try:
        s.sendall(chunked.split(b"0\r\n\r\n")[0])
        for _ in range(64):
            s.sendall(b"%x\r\n%s\r\n" % (65536, b"z" * 65536))
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    if not closed:
        s.settimeout(TIMEOUT / 2)
        closed = read_all(s) == b""
    s.close()
    check(closed, "a chunked body past 1 MiB: the connection closed")
    # An announced 1 GiB body is refused before a byte of it is read: the answer comes at once.
    s = connect()
    s.sendall(b"POST /api/lists HTTP/1.1\r\nHost: x\r\nCookie: %s\r\nX-CSRF-Token: %s\r\n"
              b"Content-Length: %d\r\n\r\n{" % (cookie.encode(), csrf.encode(), 1 << 30))
    s.settimeout(TIMEOUT / 2)
    answer = read_all(s) or b""
    s.close()
    check(status_of(answer) == 413, "an announced 1 GiB body: 413 without waiting for it",
          answer[:200])
    still_serves("big bodies")
    answer = exchange(request("GET", "/api/held", cookie=cookie, extra=b"X-Big: " + b"h" * 65536
                              + b"\r\n"))
    check(status_of(answer) == 431, "a 64 KiB header: 431", answer[:200])
    answer = exchange(request("GET", "/api/held?q=" + "u" * 65536, cookie=cookie))
    check(status_of(answer) == 414, "a 64 KiB URL: 414", answer[:200])
    still_serves("a huge header and a huge URL")


def drip(port, path, served):
    """Headers a byte every half second to port: (seconds until the listener closed the
    connection or None, whether served() held every time it was asked meanwhile)."""
    s = connect(port=port)
    started = time.monotonic()
    data = b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nX-Slow: "
    served_meanwhile, closed_at, i = True, None, 0
    while time.monotonic() - started < TIMEOUT + 10:
        try:
            s.sendall(data[i:i + 1] if i < len(data) else b"a")
            i += 1
            s.settimeout(0.5)
            if s.recv(1024) == b"":
                closed_at = time.monotonic() - started
                break
        except socket.timeout:
            pass
        except (BrokenPipeError, ConnectionResetError):
            closed_at = time.monotonic() - started
            break
        if i % 8 == 0:
            served_meanwhile = served_meanwhile and served()
    s.close()
    return closed_at, served_meanwhile


def slow_client():
    """Headers a byte every half second: the console drops the connection once it has spent the
    request timeout on it, though each byte is within the idle timeout, and serves others."""
    closed_at, served_meanwhile = drip(PORT, b"/api/held", normal_client_served)
    check(closed_at is not None and closed_at < TIMEOUT + 5,
          f"a client dripping its headers is dropped within {TIMEOUT} s (+5 s margin)",
          f"closed after {closed_at} s")
    check(served_meanwhile, "other clients are served while the slow one drips")
    still_serves("a slow client")


def many_connections():
    held = [connect() for _ in range(PER_IP)]
    time.sleep(0.3)
    answer = exchange(request("GET", "/api/held"))
    check(answer == b"", f"connection {PER_IP + 1} from one address: closed unanswered",
          answer[:200])
    check(normal_client_served("127.0.0.2"), "another address is served meanwhile")
    for k in range(2, TOTAL // PER_IP + 1):
        held += [connect(f"127.0.0.{k}") for _ in range(PER_IP)]
    time.sleep(0.3)
    # Over the total, libmicrohttpd stops accepting: the connection waits in the kernel's listen
    # queue, unanswered, until one of the others ends, and is then served.
    waiting = connect("127.0.0.20")
    waiting.sendall(request("GET", "/api/held"))
    waiting.settimeout(1.5)
    try:
        early = waiting.recv(100)
    except socket.timeout:
        early = None
    held.pop().close()
    waiting.settimeout(TIMEOUT / 2)
    answer = read_all(waiting) or b""
    waiting.close()
    check(early is None and status_of(answer) == 401,
          f"connection {TOTAL + 1} in all waits unanswered, then is served once one ends",
          (early, answer[:200]))
    for s in held:
        s.close()
    time.sleep(0.5)
    still_serves(f"{TOTAL} connections held and closed")


def paths():
    cookie, csrf = login()
    for method, path in (("GET", "/api/../../etc/passwd"), ("GET", "/api/%2e%2e/%2e%2e/etc/passwd"),
                         ("GET", "/api/held/%2e%2e%2f%2e%2e%2fetc%2fpasswd"),
                         ("GET", "/api/held/Q1%00"), ("GET", "/api/held%00/x"),
                         ("GET", "/api/why%00?key=x"), ("GET", "/api/lists%2f..%2fheld"),
                         ("DELETE", "/api/lists/cidr/..%2f..%2f..%2fetc%2fpasswd"),
                         ("DELETE", "/api/lists/cidr%00/192.0.2.1"),
                         ("POST", "/api/held/..%2f..%2fQ1/release"),
                         ("POST", "/api/held/Q1%00/release"), ("GET", "/%2e%2e/%2e%2e/etc/passwd")):
        body = b'{"reason":"r"}' if method != "GET" else b""
        answer = exchange(request(method, path, body, cookie, csrf))
        check(status_of(answer) == 404 and b"root:" not in answer,
              f"{method} {path}: 404", answer[:300])
    still_serves("path traversal")


def methods():
    cookie, csrf = login()
    for method, path in (("PUT", "/api/lists"), ("PATCH", "/api/lists"), ("OPTIONS", "/api/held"),
                         ("TRACE", "/api/held"), ("OPTIONS", "*"), ("HEAD", "/api/login"),
                         ("BREW", "/api/held")):
        answer = exchange(request(method, path, b"", cookie, csrf))
        status = status_of(answer)
        check(status == 404 and cookie.encode() not in answer and csrf.encode() not in answer,
              f"{method} {path}: 404, the request not echoed", answer[:300])
    still_serves("methods it does not serve")


def versions():
    cookie, _ = login()
    answer = exchange(request("GET", "/api/held", cookie=cookie, version=b"HTTP/1.0"))
    check(status_of(answer) == 200 and answer.startswith(b"HTTP/1.0 200")
          or answer.startswith(b"HTTP/1.1 200"), "HTTP/1.0: 200, then closed", answer[:200])
    one = (b"GET /api/held HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n\r\n" % cookie.encode())
    bad = b"GET /api/nowhere HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n\r\n" % cookie.encode()
    last = (b"GET /api/lists HTTP/1.1\r\nHost: x\r\nCookie: %s\r\nConnection: close\r\n\r\n"
            % cookie.encode())
    answer = exchange(one + bad + last)
    statuses = [status_of(b"HTTP/1.1 " + part) for part in answer.split(b"HTTP/1.1 ")[1:]]
    check(statuses == [200, 404, 200], "three pipelined requests: three answers in order",
          (statuses, answer[:300]))
    answer = exchange(b"GET /api/held HTTP/9.9\r\nHost: x\r\n\r\n")
    check(status_of(answer) == 505, "HTTP/9.9: 505", answer[:200])
    answer = exchange(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64))
    check(answer == b"" or status_of(answer) == 400, "a TLS hello: 400 or closed", answer[:100])
    still_serves("HTTP/1.0, pipelining, a bad version and binary bytes")


def public_paths():
    unknown = exchange(public_request("GET", "/why/AAAAAAAAAAAAAAAA"), port=PUBLIC)
    check(status_of(unknown) == 404, "public: an unknown reference 404", unknown[:300])
    page = unknown.partition(b"\r\n\r\n")[2]
    for method, path in (("GET", "/why/../../etc/passwd"), ("GET", "/why/%2e%2e/%2e%2e/etc/passwd"),
                         ("GET", f"/why/{REF}/..%2f..%2fetc%2fpasswd"),
                         ("GET", f"/why/..%2f{REF}"), ("GET", f"/%2e%2e/why/{REF}"),
                         ("GET", f"/why/{REF}%2f"), ("GET", f"/why/{REF}%00"),
                         ("GET", f"/why/{REF}%00.css"), ("GET", f"/why/{REF}%00/x"),
                         ("GET", f"/why/{REF}/%00"), ("GET", "/why.css%00"),
                         ("POST", f"/why/{REF}%00/review"), ("POST", f"/why/{REF}/review%00")):
        body = b"contact=a%40example.test&text=t" if method == "POST" else b""
        answer = exchange(public_request(method, path, body), port=PUBLIC)
        check(status_of(answer) == 404 and answer.partition(b"\r\n\r\n")[2] == page,
              f"public: {method} {path}: 404, the page of an unknown reference", answer[:300])
    with sqlite3.connect(DB) as db:
        reviews = db.execute("SELECT count(*) FROM review_requests").fetchone()[0]
    check(reviews == 0, "public: none of those paths filed a review request", reviews)
    public_still_serves("path traversal and %00")


def public_big():
    form = b"contact=a%40example.test&text="
    body = form + b"x" * ((1 << 20) - len(form))
    answer = exchange(public_request("POST", f"/why/{REF}/review", body), port=PUBLIC)
    check(status_of(answer) == 413, "public: a 1 MiB review form: 413", answer[:200])
    s = connect(port=PUBLIC)
    s.sendall(public_request("POST", f"/why/{REF}/review").replace(
        b"Content-Length: 0", b"Content-Length: %d" % (1 << 30)) + b"contact=")
    s.settimeout(TIMEOUT / 2)
    answer = read_all(s) or b""
    s.close()
    check(status_of(answer) == 413, "public: an announced 1 GiB form: 413 without waiting for it",
          answer[:200])
    with sqlite3.connect(DB) as db:
        reviews = db.execute("SELECT count(*) FROM review_requests").fetchone()[0]
    check(reviews == 0, "public: no review request filed from a refused form", reviews)
    public_still_serves("big forms")


def public_many_connections():
    held = [connect(port=PUBLIC) for _ in range(PUBLIC_PER_IP)]
    time.sleep(0.3)
    answer = exchange(public_request("GET", "/why/" + REF), port=PUBLIC)
    check(answer == b"", f"public: connection {PUBLIC_PER_IP + 1} from one address: closed"
          " unanswered", answer[:200])
    check(public_served("127.0.0.2"), "public: another address is served meanwhile")
    for s in held:
        s.close()
    time.sleep(0.5)
    public_still_serves(f"{PUBLIC_PER_IP} connections held and closed")


def public_slow_client():
    closed_at, served_meanwhile = drip(PUBLIC, b"/why/" + REF.encode(), public_served)
    check(closed_at is not None and closed_at < TIMEOUT + 5,
          f"public: a client dripping its headers is dropped within {TIMEOUT} s (+5 s margin)",
          f"closed after {closed_at} s")
    check(served_meanwhile, "public: other clients are served while the slow one drips")
    public_still_serves("a slow client")


def main():
    global proc
    proc = start()
    try:
        still_serves("start")
        public_still_serves("start")
        for step in (bodies, big_requests, paths, methods, versions, many_connections,
                     slow_client, public_paths, public_big, public_many_connections,
                     public_slow_client):
            step()
    finally:
        alive = proc.poll() is None
        stop_console(proc)
    check(alive, "the console ran through every case")
    check(proc.returncode == 0, "SIGTERM stops the console with status 0", proc.returncode)
    log = open(os.path.join(T, "console.log"), errors="replace").read()
    cookie_seen = "console_session" in log
    check(PASSWORD not in log and not cookie_seen and "csrf" not in log.lower()
          and "Sanitizer" not in log and "runtime error" not in log,
          "the log holds no password, token or cookie, and no sanitizer report", log[-2000:])
    # Tokens are 64 hex digits: none of them may appear in a log line.
    check(not any(len(w) >= 64 and all(c in "0123456789abcdef" for c in w)
                  for w in log.replace("=", " ").split()), "no 64-hex-digit token in the log")


proc = None
testlib.run(main, T)
