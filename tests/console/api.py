#!/usr/bin/python3
"""ingress-console's JSON API against a real SQLite database: logins and who may do what (no
session 401, wrong role 403, missing or wrong CSRF token 403, expired session 401, tampered
cookies 401, bad password 401, the failed-login limit 429), each endpoint's happy path and what
it records (who, from where, why), hostile input (bad JSON 400, a 1 MiB body 413, path traversal 404) leaving the console
running, and `ingressctl console-user` (the password from stdin, never in the file in clear).

On SQLite by default; under tests/pg/with-pg.sh (INGRESS_TEST_PG_TCP set) the same test runs on the
private PostgreSQL, its rows written and read with psql as the superuser.

The MTA is a stand-in script that logs what it was asked (tests/cli/held.sh does the same for
ingressctl held); the real Postfix release is tested through ingressctl in tests/e2e.

    tests/console/api.py INGRESSCTL_BIN INGRESS_CONSOLE_BIN
"""
import functools
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from testlib import Client, check, free_port, start_console, stop_console  # noqa: E402
import testlib  # noqa: E402

CTL, CONSOLE = (os.path.realpath(p) for p in sys.argv[1:3])
T = tempfile.mkdtemp(prefix="ingress-console-api.")
DB = testlib.database(T)
USERS = os.path.join(T, "console-users")
sql = functools.partial(testlib.sql, DB)


def write_conf(name, port, lifetime):
    mta = testlib.fake_mta(T, ("Q1", "Q2"), 'echo "Subject: hi"')
    return testlib.write_conf(os.path.join(T, name), DB, port, USERS,
                              f"console_session_lifetime = {lifetime}\n" + mta)


def ctl(conf, *args, stdin=""):
    return testlib.ctl(CTL, conf, *args, stdin=stdin)


def start(conf, port):
    return start_console(CONSOLE, conf, port, os.path.join(T, f"console-{port}.log"))


def main():
    port, port2 = free_port(), free_port()
    conf = write_conf("console.conf", port, "1h")
    conf_short = write_conf("short.conf", port2, "1s")
    ctl(conf, "list", "show")  # applies the schema to the empty database
    now = int(time.time())
    sql("INSERT INTO decisions (time, queue_id, ref, client_ip, client_name, helo, sender,"
               " recipient, account, check_name, action, reply, detail, host) VALUES"
               " (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
               (now - 60, "NOQUEUE", "BLOCKREF1", "192.0.2.66", "unknown", "bad.example",
                "x@bad.example", "alice@example.net", None, "lists", "reject",
                "550 5.7.1 Blocked (ref BLOCKREF1)", "cidr 192.0.2.0/24 block", "mx1"))
    # On SQLite, a row whose texts are not UTF-8 (SQLite keeps any byte; PostgreSQL refuses
    # them, and the store now writes '?' for them): /api/why still answers with valid JSON.
    if not testlib.PG:
        sql("INSERT INTO decisions (time, queue_id, ref, client_ip, helo, check_name, action,"
            " detail) VALUES (?, 'NOQUEUE', 'BYTEREF1', '192.0.2.88', CAST(? AS TEXT), 'iprev',"
            " 'reject', CAST(? AS TEXT))", (now - 50, b"bad\xffhelo", b"seen \xed\xa0\x80"))
    # A message refused for 30 recipients (one row each, one group), older decisions of the
    # same client after it: why with limit=1 must show all 30 recipients, though the first read
    # of the decisions takes only a few rows for each group asked for.
    for i in range(30):
        sql("INSERT INTO decisions (time, queue_id, ref, client_ip, sender, recipient,"
            " check_name, action, reply) VALUES (?,?,?,?,?,?,?,?,?)",
            (now - 30, "NOQUEUE", "MANYRCPT1", "192.0.2.77", "bulk@bad.example",
             f"r{i:02d}@example.net", "dnsbl", "reject", "554 5.7.1 listed"))
    for i in range(40):
        sql("INSERT INTO decisions (time, queue_id, ref, client_ip, sender, recipient,"
            " check_name, action, reply) VALUES (?,?,?,?,?,?,?,?,?)",
            (now - 3600 - i, f"OLD{i}", f"OLDREF{i}", "192.0.2.77", "bulk@bad.example",
             "x@example.net", "policy", "accept", None))
    for qid in ("Q1", "Q2"):
        sql("INSERT INTO held (queue_id, held_at, account, sender, recipients, nrcpt,"
                   " subject, size, reason) VALUES (?,?,?,?,?,?,?,?,?)",
                   (qid, now - 600, "bob", "bob@example.test", "d@x.test", 1, "Report", 300,
                    "1m window: 31 messages > limit 30"))

    # ---- ingressctl console-user ----
    r = ctl(conf, "console-user", "add", "pm", "--role", "postmaster", stdin="pm-secret-1\n")
    check(r.returncode == 0, "console-user add reads the password from stdin", r.stderr)
    r = ctl(conf, "console-user", "add", "desk", stdin="desk-secret-1\n")
    ctl(conf, "console-user", "add", "gone", stdin="gone-secret-1\n")
    users = open(USERS).read()
    check(r.returncode == 0 and "desk:support:$y$" in users and "secret" not in users,
          "console-user add stores a yescrypt hash, support by default, never the password", users)
    r = ctl(conf, "console-user", "add", "x", "--role", "root", stdin="longenough\n")
    check(r.returncode == 2, "console-user add refuses an unknown role", r.stderr)
    r = ctl(conf, "console-user", "add", "short", stdin="abc\n")
    check(r.returncode == 2 and "short" not in open(USERS).read(),
          "console-user add refuses a password shorter than 8", r.stderr)
    r = ctl(conf, "console-user", "del", "gone")
    r2 = ctl(conf, "console-user", "list")
    check(r.returncode == 0 and "gone" not in r2.stdout and "pm postmaster" in r2.stdout
          and "$y$" not in r2.stdout, "console-user del and list (names and roles only)",
          r2.stdout)
    # The console runs as the milter's account and reads the file through its group: a rewrite
    # keeps the file's group and group-read mode (and never opens it to others).
    import grp
    group = grp.getgrnam("nogroup").gr_gid if os.geteuid() == 0 else os.getegid()
    os.chown(USERS, -1, group)
    os.chmod(USERS, 0o644)
    r = ctl(conf, "console-user", "add", "grouped", stdin="grouped-secret-1\n")
    st = os.stat(USERS)
    check(r.returncode == 0 and st.st_gid == group and st.st_mode & 0o777 == 0o640
          and "grouped:support:" in open(USERS).read(),
          "console-user add keeps the users file's group, never readable by others",
          (r.stderr, st.st_gid, group, oct(st.st_mode)))
    ctl(conf, "console-user", "del", "grouped")

    proc = start(conf, port)
    short = start(conf_short, port2)
    try:
        run_api(port, port2, proc)
    finally:
        for p in (proc, short):
            stop_console(p)
    logs = "".join(open(os.path.join(T, n)).read() for n in os.listdir(T) if n.endswith(".log")
                   and n.startswith("console-"))
    check("secret" not in logs and "csrf_token" not in logs,
          "no password or token in the console's log lines", logs)
    check(proc.returncode == 0, "SIGTERM stops the console with status 0", proc.returncode)


def run_api(port, port2, proc):
    anon, pm, desk = Client(port), Client(port), Client(port)

    # ---- refusals ----
    status, doc, _, _ = anon.call("GET", "/api/held")
    check(status == 401, "no session: 401", status)
    status, doc, text, _ = anon.login("pm", "wrong-password")
    check(status == 401 and "wrong-password" not in text, "bad password: 401, not echoed", text)
    status, _, _, _ = anon.login("nobody", "pm-secret-1")
    check(status == 401, "unknown user: 401", status)
    status, doc, text, cookie = pm.login("pm", "pm-secret-1")
    check(status == 200 and doc["role"] == "postmaster" and "HttpOnly" in cookie
          and "SameSite=Strict" in cookie, "login: a session cookie HttpOnly, SameSite=Strict",
          (status, text, cookie))
    status, _, _, _ = desk.login("desk", "desk-secret-1")
    check(status == 200, "support logs in", status)

    status, _, _, _ = pm.call("POST", "/api/lists", {"kind": "cidr", "value": "198.51.100.0/24",
                              "action": "block", "reason": "spam run"}, csrf=False)
    check(status == 403, "missing CSRF token: 403", status)
    saved = pm.csrf
    pm.csrf = "0" * 64
    status, _, _, _ = pm.call("DELETE", "/api/lists/cidr/192.0.2.0/24", {"reason": "x"})
    pm.csrf = saved
    check(status == 403, "wrong CSRF token: 403", status)
    other = Client(port)
    other.cookie, other.csrf = pm.cookie, desk.csrf
    status, _, _, _ = other.call("POST", "/api/lists", {"kind": "cidr", "value": "198.51.100.0/24",
                                 "action": "block", "reason": "r"})
    check(status == 403, "another session's CSRF token: 403", status)

    # The cookie as a client may mangle it: one hex digit changed, the token cut, padded,
    # upper-cased or sent twice with a wrong one first: 401, and the right one still works.
    token = pm.cookie.split("=", 1)[1]
    flipped = token[:10] + ("0" if token[10] != "0" else "1") + token[11:]
    mangled = {"one hex digit changed": flipped, "cut by one": token[:-1],
               "one byte more": token + "0",
               "upper-cased": token.upper(), "garbage after it": token + " x",
               "empty": "", "1 KiB of garbage": "z" * 1024}
    for name, value in mangled.items():
        forged = Client(port)
        forged.cookie, forged.csrf = "console_session=" + value, pm.csrf
        status, _, _, _ = forged.call("GET", "/api/held")
        check(status == 401, f"a tampered cookie ({name}): 401", status)
    forged.cookie = f"console_session={flipped}; console_session={token}"
    status, _, _, _ = forged.call("GET", "/api/held")
    check(status == 401, "a wrong session cookie before the right one: 401 (the first counts)",
          status)
    forged.cookie = f"other=1; console_session={token}; Path=/; HttpOnly"
    status, _, _, _ = forged.call("GET", "/api/held")
    check(status == 200, "the right cookie among others and attributes sent back: 200", status)

    status, _, _, _ = desk.call("POST", "/api/lists", {"kind": "cidr", "value": "198.51.100.0/24",
                                "action": "block", "reason": "spam run"})
    check(status == 403, "support may not block: 403", status)
    status, _, _, _ = desk.call("POST", "/api/held/Q2/reject", {"reason": "spam"})
    check(status == 403, "support may not reject held mail: 403", status)

    # ---- reading ----
    status, doc, text, _ = desk.call("GET", "/api/why?key=BLOCKREF1")
    check(status == 200 and len(doc) == 1 and doc[0]["check"] == "lists"
          and doc[0]["client_ip"] == "192.0.2.66", "GET /api/why by ref (support)", text)
    status, doc, text, _ = desk.call("GET", "/api/why?key=192.0.2.66&since=%d&limit=5" %
                                     (int(time.time()) + 60))
    check(status == 200 and doc == [], "GET /api/why with since after the decision: none", text)
    status, doc, text, _ = desk.call("GET", "/api/why?key=192.0.2.77&limit=1")
    check(status == 200 and len(doc) == 1 and len(doc[0]["recipients"]) == 30
          and doc[0]["recipients"][0] == "r00@example.net",
          "GET /api/why limit=1: the newest message whole, all 30 recipients", text[:300])
    status, doc, text, _ = desk.call("GET", "/api/why?key=192.0.2.77&limit=3")
    check(status == 200 and [len(g["recipients"]) for g in doc] == [30, 1, 1]
          and doc[2]["ref"] == "OLDREF1", "GET /api/why limit=3: the three newest, in order",
          text[:300])
    if not testlib.PG:
        status, doc, text, _ = desk.call("GET", "/api/why?key=BYTEREF1")
        check(status == 200 and len(doc) == 1 and doc[0]["helo"] == "bad\u00ffhelo",
              "GET /api/why on a row that is not UTF-8: valid JSON, a stray byte as its character",
              text)
    status, _, _, _ = desk.call("GET", "/api/why?key=x&limit=0")
    check(status == 400, "GET /api/why with limit 0: 400", status)
    status, doc, text, _ = desk.call("GET", "/api/held")
    check(status == 200 and sorted(h["queue_id"] for h in doc) == ["Q1", "Q2"]
          and doc[0]["reason"].startswith("1m window"), "GET /api/held lists the held", text)
    status, doc, text, _ = desk.call("GET", "/api/held/Q1")
    check(status == 200 and doc[0]["queue_id"] == "Q1" and doc[0]["state"] == "held",
          "GET /api/held/Q1", text)

    # ---- changing, recorded with who, from where, why ----
    status, doc, text, _ = pm.call("POST", "/api/lists", {"kind": "cidr", "value": "192.0.2.0/24",
                                   "action": "block", "reason": "spam run 42"})
    check(status == 200 and doc["added_by"] == "pm via console from 127.0.0.1"
          and doc["reason"] == "spam run 42", "POST /api/lists: postmaster blocks", text)
    status, doc, text, _ = desk.call("POST", "/api/lists", {"kind": "sender",
                                     "value": "Friend@Example.org", "action": "allow",
                                     "reason": "ticket 7: a customer's partner"})
    check(status == 200 and doc["value"] == "friend@example.org", "POST /api/lists: support allows",
          text)
    status, doc, text, _ = desk.call("GET", "/api/lists")
    rows = {(e["kind"], e["value"]): e for e in doc} if status == 200 else {}
    check(("cidr", "192.0.2.0/24") in rows and rows[("sender", "friend@example.org")]["added_by"]
          == "desk via console from 127.0.0.1", "GET /api/lists shows both, with who added", text)
    r = subprocess.run([CTL, "-d", DB, "list", "show"], capture_output=True, text=True)
    check("desk via console" in r.stdout and "ticket 7" in r.stdout,
          "ingressctl list show sees the console's entry and why", r.stdout)
    status, doc, text, _ = desk.call("DELETE", "/api/lists/cidr/192.0.2.0/24",
                                     {"reason": "customer's office, ticket 9"})
    check(status == 200 and doc["deleted"] == "192.0.2.0/24", "DELETE /api/lists: support unblocks",
          text)
    status, _, _, _ = desk.call("DELETE", "/api/lists/cidr/192.0.2.0/24", {"reason": "again"})
    check(status == 404, "DELETE of an entry no longer there: 404", status)
    status, doc, text, _ = desk.call("POST", "/api/held/Q1/release", {"reason": "customer called"})
    mta_log = open(os.path.join(T, "mta.log")).read()
    check(status == 200 and doc["state"] == "released" and "release Q1" in mta_log,
          "POST /api/held/Q1/release runs held_release_command", (text, mta_log))
    r = subprocess.run([CTL, "-d", DB, "why", "BLOCKREF1"], capture_output=True, text=True)
    row = sql("SELECT state, decided_by, decision_reason FROM held WHERE queue_id='Q1'")[0]
    check(row == ("released", "desk via console from 127.0.0.1", "customer called"),
          "the release is recorded with who, from where and why", row)
    status, _, _, _ = desk.call("POST", "/api/held/Q1/release", {"reason": "again"})
    check(status == 404, "releasing a message no longer held: 404", status)
    status, doc, text, _ = pm.call("POST", "/api/held/Q2/reject", {"reason": "spam run"})
    row = sql("SELECT state, decided_by FROM held WHERE queue_id='Q2'")[0]
    check(status == 200 and row == ("rejected", "pm via console from 127.0.0.1"),
          "POST /api/held/Q2/reject by the postmaster", (text, row))
    status, _, _, _ = pm.call("POST", "/api/held/Q2/release", {})
    check(status == 400, "a change without a reason: 400", status)

    # ---- hostile input ----
    status, _, _, _ = pm.call("POST", "/api/lists", raw=b"{not json")
    check(status == 400, "bad JSON: 400", status)
    status, _, _, _ = pm.call("POST", "/api/lists", raw=b"[1,2]")
    check(status == 400, "JSON that is not an object: 400", status)
    status, _, _, _ = pm.call("POST", "/api/lists", raw=b"x" * (1 << 20))
    check(status == 413, "a 1 MiB body: 413", status)
    for path in ("/api/../../etc/passwd", "/api/held/..%2f..%2fetc%2fpasswd", "/etc/passwd",
                 "/api/lists/../held", "/api/held/Q1/../../why"):
        status, _, _, _ = pm.call("GET", path)
        check(status == 404, f"path traversal {path}: 404", status)
    status, _, _, _ = pm.call("GET", "/api/held")
    check(status == 200 and proc.poll() is None, "the console still answers after all that",
          status)

    # ---- expiry and logout ----
    short = Client(port2)
    status, _, _, _ = short.login("pm", "pm-secret-1")
    first, _, _, _ = short.call("GET", "/api/held")
    expired = None
    for _ in range(50):  # the session lives 1 s: poll until it is refused
        time.sleep(0.1)
        expired, _, _, _ = short.call("GET", "/api/held")
        if expired != 200:
            break
    check(status == 200 and first == 200 and expired == 401,
          "a session past console_session_lifetime: 401", (status, first, expired))
    status, _, _, _ = desk.call("POST", "/api/logout", {})
    after, _, _, _ = desk.call("GET", "/api/held")
    check(status == 200 and after == 401, "after logout the cookie is refused: 401", (status, after))

    # ---- the failed-login limit, last: it blocks 127.0.0.1 for the window ----
    # Two failures were counted at the start (bad password, unknown user): three more make five.
    codes = [Client(port).login("pm", "wrong-%d" % i)[0] for i in range(4)]
    status, _, _, _ = Client(port).login("pm", "pm-secret-1")
    check(codes == [401, 401, 401, 429] and status == 429,
          "five failed logins from one address, then 429 even with the right password",
          (codes, status))


testlib.run(main, T)
