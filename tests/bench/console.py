#!/usr/bin/python3
"""The console benchmark's parts (tests/bench/console.sh runs them; figures, never a test):

  console.py fill sqlite DB_FILE DECISIONS HELD
  console.py fill pg "PSQL COMMAND" DECISIONS HELD
      fills a store whose schema ingressctl applied: DECISIONS decisions over the last 30 days,
      HELD held messages (all waiting), LIST_ENTRIES list entries; one transaction (SQLite) or
      one COPY a table (PostgreSQL, through the psql command given, e.g. pg-ctl.sh psql DIR), the
      same rows on both.  Prints the keys the measurement looks up (JSON) on stdout.
  console.py measure PORT USER PASSWORD KEYS_JSON REQUESTS LABEL
      logs in to ingress-console on 127.0.0.1:PORT and times each call a support agent's pages
      make, REQUESTS times each on one kept-alive connection: a table of p50 / p95 / max in
      milliseconds against the 200 ms target.  An endpoint this build does not have (404 for
      its path) is listed as absent, not timed.  Exits 1 only when a call fails (an error status
      or no JSON): the figures are never judged.
  console.py hammer PORT USER PASSWORD KEYS_JSON OUT_FILE
      a support agent who never stops: why and held calls in a loop until SIGTERM, then the
      number of calls made and the seconds they took written to OUT_FILE.

To time a new page: add a line to CALLS below (a label, the method, the path with {key}
placeholders filled from the fill's keys).
"""
import http.client
import json
import random
import signal
import statistics
import subprocess
import sys
import time

DAY = 86400
SPAN_DAYS = 30
LIST_ENTRIES = 2000
CLIENT_IPS = 20000
SENDERS = 100000
SENDER_DOMAINS = 5000
LOCAL_USERS = 5000
TARGET_MS = 200

# What the support agent's pages ask, in the order of the table.  {name} comes from the keys the
# fill printed.  An endpoint absent from this build (404 at the first call) is reported as such.
CALLS = [
    ("why by ref", "GET", "/api/why?key={ref}"),
    ("why by queue id", "GET", "/api/why?key={queue_id}"),
    ("why by IP (typical client)", "GET", "/api/why?key={ip}"),
    ("why by IP (busiest client)", "GET", "/api/why?key={busy_ip}"),
    ("why by address", "GET", "/api/why?key={address}"),
    ("why by header From (DMARC)", "GET", "/api/why?key={author}"),
    ("why by domain, limit 20", "GET", "/api/why?key={domain}&limit=20"),
    ("held list, first 100", "GET", "/api/held?limit=100"),
    ("held list, whole", "GET", "/api/held"),
    ("held show", "GET", "/api/held/{held_id}"),
    ("lists", "GET", "/api/lists"),
    ("session", "GET", "/api/session"),
    ("accounts", "GET", "/api/accounts"),
    ("account show", "GET", "/api/accounts/{account}"),
    ("account rate, day", "GET", "/api/accounts/{account}/rate?span=day"),
    ("account rate, week", "GET", "/api/accounts/{account}/rate?span=week"),
    ("stats, 24h", "GET", "/api/stats?since=24h"),
    ("reviews", "GET", "/api/reviews"),
]
HAMMER = ["why by IP (typical client)", "why by address", "why by ref", "held list, first 100"]

CHECKS = [  # (check, action, share of the rows): most mail is accepted
    ("policy", "accept", 0.80), ("greylist", "tempfail", 0.06), ("iprev", "reject", 0.04),
    ("spf", "reject", 0.03), ("dnsbl", "reject", 0.03), ("lists", "reject", 0.02),
    ("rules", "reject", 0.01), ("dmarc", "reject", 0.01)]


def skewed(rnd, n):
    """An index in [0, n): a few values very often, most rarely (as clients and senders are)."""
    return min(n - 1, int(n * rnd.random() ** 3))


def decision_rows(n, now):
    """n decisions, oldest first, over SPAN_DAYS days to now; every tenth message a submission."""
    rnd = random.Random(1)
    weights = [c[2] for c in CHECKS]
    span = SPAN_DAYS * DAY - 1
    i = 0
    msg = 0
    while i < n:
        msg += 1
        check, action, _ = rnd.choices(CHECKS, weights)[0]
        ip_i = skewed(rnd, CLIENT_IPS)
        ip = f"198.{18 + ip_i // 65536}.{ip_i // 256 % 256}.{ip_i % 256}"
        s = skewed(rnd, SENDERS)
        sender = f"u{s}@d{s % SENDER_DOMAINS}.example"
        account = None
        if msg % 10 == 0:
            u = rnd.randrange(LOCAL_USERS)
            account = sender = f"user{u}@hosted{u % 3}.example"
        qid = "NOQUEUE" if action != "accept" else f"{msg:010X}"
        rcpts = 1 if action == "accept" else rnd.choice((1, 1, 1, 2, 3))
        for _ in range(rcpts):
            if i >= n:
                break
            t = now - span + i * span // n
            r = rnd.randrange(LOCAL_USERS)
            rcpt = f"user{r}@hosted{r % 3}.example"
            ref = f"R{i:011X}"
            reply = None if action == "accept" else f"550 5.7.1 refused by {check} (ref {ref})"
            # The header From, on the decisions made at the end of the message: the sender's own
            # address, or for a DMARC refusal a bank's that the sender spoofed.
            author = sender if action == "accept" else None
            detail = f"{check} {action}"
            if check == "dmarc":
                author = f"ceo@bank{s % 50}.example"
                detail = f"dmarc=fail for bank{s % 50}.example; header From: <{author}>"
            yield (t, qid, ref, ip, f"mail{ip_i}.client.example", f"mail{ip_i}.client.example",
                   sender, rcpt, account, check, action, reply, detail, "mx1", author)
            i += 1


def held_rows(n, now):
    rnd = random.Random(2)
    for i in range(n):
        u = rnd.randrange(LOCAL_USERS)
        rcpts = [f"r{rnd.randrange(10 ** 6)}@elsewhere.example" for _ in range(rnd.randint(1, 5))]
        yield (f"H{i:09X}", now - rnd.randrange(7 * DAY), f"user{u}@hosted{u % 3}.example",
               f"user{u}@hosted{u % 3}.example", "\n".join(rcpts), len(rcpts),
               f"Newsletter {i}", rnd.randrange(2000, 200000),
               "1h window: 301 messages > limit 300", "mx1")


def account_rows(now):
    """The submission accounts of the decisions and held rows, each with an accounts row."""
    for u in range(LOCAL_USERS):
        yield (f"user{u}@hosted{u % 3}.example", now - SPAN_DAYS * DAY)


def list_rows(n, now):
    for i in range(n):
        yield ("cidr", f"203.{i // 256 % 256}.{i % 256}.0/24", "block", f"spam run {i}",
               "bench", now - i * 60, None)


DECISION_COLUMNS = ("time, queue_id, ref, client_ip, client_name, helo, sender, recipient, "
                    "account, check_name, action, reply, detail, host, header_from")
HELD_COLUMNS = "queue_id, held_at, account, sender, recipients, nrcpt, subject, size, reason, host"
LIST_COLUMNS = "kind, value, action, reason, added_by, added_at, expires"
ACCOUNT_COLUMNS = "name, created"


def keys(n, held, now):
    """The keys the pages look up: a recent message's ref and queue id, a typical and the busiest
    client, an address and a domain with some decisions, a held message, an account."""
    ref = qid = None
    counts = {}
    for row in decision_rows(n, now):
        counts[row[3]] = counts.get(row[3], 0) + 1
        if row[1] != "NOQUEUE":
            ref, qid = row[2], row[1]
    ordered = sorted(counts.items(), key=lambda kv: kv[1])
    return {"ref": ref, "queue_id": qid, "busy_ip": ordered[-1][0],
            "ip": ordered[len(ordered) * 9 // 10][0], "address": "u5@d5.example",
            "author": "ceo@bank5.example",
            "domain": "d5.example", "held_id": f"H{max(held // 2, 0):09X}",
            "account": "user7@hosted1.example",
            "rows": {"decisions": n, "busy_ip": ordered[-1][1],
                     "ip": ordered[len(ordered) * 9 // 10][1]}}


def csv_field(v):
    if v is None:
        return ""
    s = str(v)
    return '"' + s.replace('"', '""') + '"' if any(c in s for c in ',"\n') else s


def fill_pg(psql, n, held, now):
    """One COPY a table through psql, the day partitions created first (as the milter does)."""
    first = (now - SPAN_DAYS * DAY) // DAY * DAY
    sql = [f"SELECT decisions_add_day(d) FROM generate_series({first}, {now // DAY * DAY}, {DAY}) d;"]
    for table, cols, rows in (("decisions", DECISION_COLUMNS, decision_rows(n, now)),
                              ("held", HELD_COLUMNS, held_rows(held, now)),
                              ("list_entries", LIST_COLUMNS, list_rows(LIST_ENTRIES, now)),
                              ("accounts", ACCOUNT_COLUMNS, account_rows(now))):
        sql.append(f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv);")
        sql.extend(",".join(csv_field(v) for v in row) for row in rows)
        sql.append("\\.")
    sql.append("ANALYZE;")
    p = subprocess.run(psql + ["-q", "-v", "ON_ERROR_STOP=1"], input="\n".join(sql) + "\n",
                       text=True, capture_output=True)
    if p.returncode != 0:
        raise SystemExit(f"console.py: the PostgreSQL fill failed: {p.stderr[-2000:]}")


def fill_sqlite(path, n, held, now):
    import sqlite3
    db = sqlite3.connect(path)
    with db:
        db.executemany(f"INSERT INTO decisions ({DECISION_COLUMNS}) VALUES ({','.join('?' * 15)})",
                       decision_rows(n, now))
        db.executemany(f"INSERT INTO held ({HELD_COLUMNS}) VALUES ({','.join('?' * 10)})",
                       held_rows(held, now))
        db.executemany(f"INSERT INTO list_entries ({LIST_COLUMNS}) VALUES ({','.join('?' * 7)})",
                       list_rows(LIST_ENTRIES, now))
        db.executemany(f"INSERT INTO accounts ({ACCOUNT_COLUMNS}) VALUES (?, ?)", account_rows(now))
    db.execute("ANALYZE")
    db.close()


class Console:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {}

    def call(self, method, path, body=None):
        h = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=h)
        r = self.conn.getresponse()
        text = r.read()
        return r.status, text, r.getheader("Set-Cookie")

    def login(self, user, password):
        status, text, cookie = self.call("POST", "/api/login", {"name": user, "password": password})
        if status != 200:
            raise SystemExit(f"console.py: login as {user}: {status} {text[:200]!r}")
        self.headers = {"Cookie": cookie.split(";")[0],
                        "X-CSRF-Token": json.loads(text)["csrf_token"]}


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def measure(port, user, password, k, requests, label):
    c = Console(port)
    c.login(user, password)
    failed = False
    rows = []
    times = []
    for _ in range(requests):
        t0 = time.perf_counter()
        Console(port).login(user, password)
        times.append((time.perf_counter() - t0) * 1000)
    rows.append(("login (yescrypt check)", times, 0, ""))
    for name, method, path in CALLS:
        url = path.format(**k)
        status, text, _ = c.call(method, url)
        if status == 404 and b'"no such resource"' in text:  # the route table's own answer
            rows.append((name, None, 0, status))
            continue
        times = []
        for _ in range(requests):
            t0 = time.perf_counter()
            status, text, _ = c.call(method, url)
            times.append((time.perf_counter() - t0) * 1000)
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if status != 200 or doc is None:
            failed = True
            print(f"# {name}: {url} answered {status}: {text[:300]!r}")
        n = len(doc) if isinstance(doc, list) else 1
        rows.append((name, times, len(text), status if status != 200 else n))
    print(f"\n{label}: {requests} requests a call, one kept-alive connection, times in ms "
          f"(target {TARGET_MS} ms)")
    print(f"{'call':32} {'items':>6} {'bytes':>9} {'p50':>8} {'p95':>8} {'max':>8}  target")
    for name, times, size, n in rows:
        if times is None:
            print(f"{name:32} {'':>6} {'':>9} {'absent from this build (404)':>26}")
            continue
        p95 = percentile(times, 95)
        print(f"{name:32} {n:>6} {size:>9} {statistics.median(times):>8.1f} {p95:>8.1f} "
              f"{max(times):>8.1f}  {'met' if p95 <= TARGET_MS else 'NOT MET'}")
    return 1 if failed else 0


def hammer(port, user, password, k, out):
    """Calls until SIGTERM; writes OUT.ready once logged in, so the caller never signals it
    before its handler is in place (an early SIGTERM would end it silently, with no count)."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    c = Console(port)
    c.login(user, password)
    urls = [path.format(**k) for name, _, path in CALLS if name in HAMMER]
    n = 0
    started = time.monotonic()
    with open(out + ".ready", "w") as f:
        f.write("logged in\n")
    while not stop:
        c.call("GET", urls[n % len(urls)])
        n += 1
    with open(out, "w") as f:
        f.write(f"{n} {time.monotonic() - started:.3f}\n")


def main():
    cmd = sys.argv[1]
    if cmd == "fill":
        backend, target, n, held = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        now = int(time.time())
        if backend == "sqlite":
            fill_sqlite(target, n, held, now)
        else:
            fill_pg(target.split(), n, held, now)
        print(json.dumps(keys(n, held, now)))
        return 0
    port, user, password, k = int(sys.argv[2]), sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
    if cmd == "measure":
        return measure(port, user, password, k, int(sys.argv[6]), sys.argv[7])
    hammer(port, user, password, k, sys.argv[6])
    return 0


if __name__ == "__main__":
    sys.exit(main())
