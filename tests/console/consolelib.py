"""What the console's tests share: a result line per check, free ports, ingressctl, starting
ingress-console and waiting for its port, and an HTTP client that keeps the session cookie and
sends the CSRF token."""
import http.client
import json
import socket
import subprocess
import time


class Results:
    def __init__(self):
        self.failed = 0

    def check(self, cond, name, detail=""):
        print(("ok - " if cond else "not ok - ") + name)
        if not cond:
            self.failed += 1
            print("#   " + str(detail)[:800])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ctl(ctl_bin, conf, *args, stdin=""):
    return subprocess.run([ctl_bin, "-c", conf, *args], input=stdin, capture_output=True,
                          text=True, timeout=30)


def start_console(console_bin, conf, port, log_path):
    log = open(log_path, "w")
    proc = subprocess.Popen([console_bin, "-c", conf], stdout=log, stderr=log)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    raise SystemExit(f"ingress-console did not listen on {port}: {open(log_path).read()}")


def stop_console(proc):
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Client:
    def __init__(self, port, source=None):
        """source: the loopback address to connect from (None: the system's choice)."""
        self.port, self.cookie, self.csrf = port, None, None
        self.source = (source, 0) if source else None
        self.headers = {}  # the last answer's header fields, by lower-case name

    def call(self, method, path, body=None, csrf=True, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20,
                                          source_address=self.source)
        h = dict(headers or {})
        if self.cookie:
            h["Cookie"] = self.cookie
        if csrf and self.csrf:
            h["X-CSRF-Token"] = self.csrf
        data = json.dumps(body).encode() if body is not None else None
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

    def login(self, name, password):
        status, doc, text, cookie = self.call("POST", "/api/login",
                                              {"name": name, "password": password}, csrf=False)
        if status != 200:
            raise SystemExit(f"login {name}: {status} {text}")
        self.cookie = cookie.split(";")[0]
        self.csrf = doc["csrf_token"]
        return self
