"""What the console's Python tests share: TAP-like checks, a free loopback port, the store (SQLite,
or the private PostgreSQL of tests/pg/with-pg.sh) and its rows, a console config and a stand-in
MTA, ingressctl, starting and stopping ingress-console, and an HTTP client that keeps the session
cookie, sends the CSRF token or a webmail key.

    sys.path.insert(0, DIR_OF_THIS_FILE); import testlib; testlib.check(cond, name, detail)
testlib.failed counts the checks that failed; testlib.run(main, directory) ends the test.
"""
import http.client
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time

failed = 0

# Under tests/pg/with-pg.sh: the private server's conninfo over TCP (its database's own schema).
PG = os.environ.get("INGRESS_TEST_PG_TCP")


def check(cond, name, detail=""):
    """One result line; a failed check prints its detail and counts.  Returns cond."""
    global failed
    print(("ok - " if cond else "not ok - ") + name)
    if not cond:
        failed += 1
        for line in str(detail)[:1500].splitlines():
            print("#   " + line)
    return cond


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database(directory):
    """The store of a test: the private PostgreSQL under tests/pg/with-pg.sh, else a new empty
    SQLite file in directory (ingressctl applies the schema to either at its first verb)."""
    if PG:
        return PG
    path = os.path.join(directory, "ingress.db")
    open(path, "w").close()
    return path


def sql_literal(v):
    if v is None:
        return "NULL"
    if isinstance(v, int):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


def sql(db, query, params=()):
    """Runs query on the store db (? for each parameter) and returns its rows as tuples of text
    (or int, on SQLite).  On PostgreSQL through psql, the parameters as quoted literals: the values
    are the test's own."""
    if db != PG:
        con = sqlite3.connect(db)
        try:
            rows = [tuple(r) for r in con.execute(query, params).fetchall()]
            con.commit()
        finally:
            con.close()
        return rows
    parts = query.split("?")
    text = parts[0] + "".join(sql_literal(v) + rest for v, rest in zip(params, parts[1:]))
    r = subprocess.run([os.environ["INGRESS_TEST_PG_CTL"], "psql",
                        os.environ["INGRESS_TEST_PG_DIR"], "-At", "-F", "\t", "-c", text],
                       capture_output=True, text=True, env=dict(os.environ, PG_CTL_DBNAME="ingress"),
                       timeout=20)
    if r.returncode != 0:
        raise SystemExit(f"psql failed on {text!r}: {r.stderr}")
    return [tuple(line.split("\t")) for line in r.stdout.splitlines() if line]


def write_conf(path, db, port, users, extra=""):
    """A console config at path: the store db, 127.0.0.1:port, the users file, then extra lines."""
    with open(path, "w") as f:
        f.write(f"database = {db}\nconsole_listen = 127.0.0.1:{port}\n"
                f"console_users_file = {users}\n" + extra)
    return path


def fake_mta(directory, queue_ids, show):
    """A stand-in for the MTA's held-queue commands, directory/fake-mta: it appends its arguments
    to directory/mta.log, `list` prints queue_ids, `show` runs the shell command show (where $d is
    directory).  Returns the config lines that make the console and ingressctl call it."""
    mta = os.path.join(directory, "fake-mta")
    listing = "".join(q + "\\n" for q in queue_ids)
    with open(mta, "w") as f:
        f.write('#!/bin/sh\nd=$(dirname "$0")\necho "$@" >>"$d/mta.log"\n'
                f'case $1 in list) printf "{listing}" ;; show) {show} ;; esac\n')
    os.chmod(mta, 0o755)
    return (f"held_release_command = {mta} release {{queue_id}}\n"
            f"held_reject_command = {mta} delete {{queue_id}}\n"
            f"held_queue_command = {mta} list\nheld_show_command = {mta} show {{queue_id}}\n")


def ctl(ctl_bin, conf, *args, stdin=""):
    """ingressctl -c conf ARGS with stdin; its CompletedProcess (text)."""
    return subprocess.run([ctl_bin, "-c", conf, *args], input=stdin, capture_output=True,
                          text=True, timeout=30)


def start_console(binary, conf, port, log_path):
    """ingress-console -c conf, its output in log_path, once it listens on port (up to 30 s: a
    sanitizer build on a loaded machine starts slowly)."""
    log = open(log_path, "w")
    proc = subprocess.Popen([binary, "-c", conf], stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    raise SystemExit(f"ingress-console did not listen on {port}: {open(log_path).read()}")


def stop_console(proc):
    """SIGTERM, then SIGKILL if it has not ended within 10 s; proc.returncode says which."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Client:
    """A console client: a session's cookie and CSRF token (login), or a webmail key (auth, the
    Authorization header's value), sent with each call."""

    def __init__(self, port, cookie=None, auth=None, source=None):
        """source: the loopback address to connect from (None: the system's choice)."""
        self.port, self.cookie, self.csrf, self.auth = port, cookie, None, auth
        self.source = (source, 0) if source else None
        self.headers = {}  # the last answer's header fields, by lower-case name

    def call(self, method, path, body=None, csrf=True, raw=None, headers=None):
        """One request, body as JSON (or raw bytes), with the extra header fields given;
        (status, JSON document or None, text, Set-Cookie).  csrf=False leaves out the
        session's CSRF token."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20,
                                          source_address=self.source)
        h = dict(headers or {})
        if self.cookie:
            h["Cookie"] = self.cookie
        if csrf and self.csrf:
            h["X-CSRF-Token"] = self.csrf
        if self.auth:
            h["Authorization"] = self.auth
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        text = r.read().decode("utf-8", "replace")
        status, cookie = r.status, r.getheader("Set-Cookie")
        self.headers = {k.lower(): v for k, v in r.getheaders()}
        conn.close()
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        return status, doc, text, cookie

    __call__ = call

    def login(self, name, password):
        """POST /api/login; on 200 the client keeps the session.  The answer as call's."""
        status, doc, text, cookie = self.call("POST", "/api/login",
                                              {"name": name, "password": password}, csrf=False)
        if status == 200:
            self.cookie = cookie.split(";")[0]
            self.csrf = doc["csrf_token"]
        return status, doc, text, cookie


def session(port, name, password):
    """A client logged in as name; the test ends when the login fails."""
    c = Client(port)
    status, _, text, _ = c.login(name, password)
    if status != 200:
        raise SystemExit(f"login {name}: {status} {text}")
    return c


def call(port, method, path, body=None, cookie=None, auth=None):
    """One request without a session's CSRF token: a webmail key (auth), a bare cookie, or none."""
    return Client(port, cookie, auth).call(method, path, body)


def run(main, directory):
    """Runs main, then removes directory when every check passed (else keeps it and says where);
    exits 1 when a check failed."""
    try:
        main()
    finally:
        if failed == 0:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            print("# test directory kept: " + directory)
    sys.exit(1 if failed else 0)
