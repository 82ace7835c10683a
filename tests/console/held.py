#!/usr/bin/python3
"""ingress-console's held content, bulk decisions, unblock, list search, stats and the record of
changes, against a real store (SQLite or PostgreSQL) and a real NSD (tests/dns/with-dns.sh:
the DNSBL zone dnsbl.test), each through ingressctl too:

- GET /api/held/ID: the message's header fields (unfolded, invalid UTF-8 repaired) and the start
  of its body, bounded; held show --json gives the same; held show names who released it and why;
- POST /api/held/release|reject {account}: every held message of the account, support may not
  reject, a bad account is refused, an account with nothing held is 404;
- POST /api/unblock and ingressctl unblock: an exact block removed and a wider one overridden, a
  DNSBL refusal overridden, a HELO entry named but not changed, an IP nothing blocks said so; and
  ingressctl check --ip then accepts the client;
- GET /api/lists?q=&kind=, POST /api/lists with expires and public, GET /api/why with the verb's
  time forms, GET /api/stats as ingressctl stats --json;
- the record of changes: who, from where and why, for a console change and a CLI change, in
  ingressctl why and /api/why.

The MTA is a stand-in script logging what it was asked, as in tests/console/api.py.  On SQLite
by default; under tests/pg/with-pg.sh the same test runs on the private PostgreSQL.

    tests/dns/with-dns.sh tests/console/held.py INGRESSCTL_BIN INGRESS_CONSOLE_BIN
"""
import functools
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from testlib import check, free_port, session, start_console, stop_console  # noqa: E402
import testlib  # noqa: E402

CTL, CONSOLE = (os.path.realpath(p) for p in sys.argv[1:3])
DNS = os.environ.get("INGRESS_TEST_DNS")
T = tempfile.mkdtemp(prefix="ingress-console-held.")
DB = testlib.database(T)
CONF = os.path.join(T, "console.conf")
sql = functools.partial(testlib.sql, DB)

BODY_LINE = "line of the body, forty characters long\n"
MESSAGE = (b"Subject: =?UTF-8?B?Q2Fmw6kgcmVwb3J0?=\n"
           b"X-Folded: first part\n\tsecond part\n"
           b"X-Raw: caf\xe9 latin-1\n"
           b"From: bob@example.test\n"
           b"\n" + BODY_LINE.encode() * 300)


def ctl(*args, stdin=""):
    return testlib.ctl(CTL, CONF, *args, stdin=stdin)


def setup():
    with open(os.path.join(T, "message.eml"), "wb") as f:
        f.write(MESSAGE)
    mta = testlib.fake_mta(T, ("Q1", "Q2", "Q3"), 'cat "$d/message.eml"')
    port = free_port()
    testlib.write_conf(CONF, DB, port, os.path.join(T, "users"),
                       mta + f"dns_servers = {DNS}\ntrusted_networks = ::1/128\n"
                       "dnsbl_zones = dnsbl.test:127.0.0.2\ngreylist = no\n")
    ctl("list", "show")  # applies the schema
    now = int(time.time())
    rows = [("Q1", "bob"), ("Q2", "bob"), ("Q3", "carol")]
    for qid, account in rows:
        sql("INSERT INTO held (queue_id, held_at, account, sender, recipients, nrcpt,"
            " subject, size, reason) VALUES (?,?,?,?,?,?,?,?,?)",
            (qid, now - 600, account, account + "@example.test", "d@x.test", 1, "Report",
             300, "1m window: 31 messages > limit 30"))
    # What the milter recorded: a DNSBL refusal of 127.0.0.20 (listed in dnsbl.test), a list
    # refusal of 127.0.1.66, a HELO refusal of 127.0.2.5.
    for ip, helo, check_name, detail in (
            ("127.0.0.20", "mail.example.test", "dnsbl", "dnsbl.test=127.0.0.2"),
            ("127.0.1.66", "office.example.test", "lists", "cidr 127.0.1.66 block"),
            ("127.0.2.5", "bad.example.test", "lists", "helo_domain bad.example.test block")):
        sql("INSERT INTO decisions (time, queue_id, ref, client_ip, client_name, helo,"
            " sender, recipient, account, check_name, action, reply, detail, host) VALUES"
            " (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (now - 120, "NOQUEUE", "REF" + ip[-2:], ip, "unknown", helo, "x@example.org",
             "alice@example.net", None, check_name, "reject", "554 5.7.1 refused",
             detail, "mx1"))
    ctl("console-user", "add", "pm", "--role", "postmaster", stdin="pm-secret-1\n")
    ctl("console-user", "add", "desk", stdin="desk-secret-1\n")
    return port


def ip_accepted(ip, helo="mail.example.test"):
    r = ctl("check", "--ip", ip, "--helo", helo, "--from", "x@example.org", "--rcpt",
            "alice@example.net")
    return r.returncode, r.stdout


def held_list_part(desk):
    """The held list: whole without a limit, a page with one, by account; the total in a header."""
    def ids(path):
        status, doc, text, _ = desk.call("GET", path)
        shown = [h["queue_id"] for h in doc] if status == 200 and isinstance(doc, list) else text
        return status, shown, desk.headers.get("x-total-count")

    check(ids("/api/held") == (200, ["Q1", "Q2", "Q3"], "3"),
          "GET /api/held: every held message, oldest first, X-Total-Count 3", ids("/api/held"))
    check(ids("/api/held?limit=2") == (200, ["Q1", "Q2"], "3"),
          "GET /api/held?limit=2: the oldest two, the same array, X-Total-Count 3",
          ids("/api/held?limit=2"))
    check(ids("/api/held?limit=2&offset=2") == (200, ["Q3"], "3"),
          "GET /api/held?limit=2&offset=2: the next page", ids("/api/held?limit=2&offset=2"))
    check(ids("/api/held?limit=2&offset=5") == (200, [], "3"),
          "GET /api/held past the end: [] and still the total", ids("/api/held?limit=2&offset=5"))
    check(ids("/api/held?account=bob") == (200, ["Q1", "Q2"], "2"),
          "GET /api/held?account=bob: that account's, X-Total-Count 2", ids("/api/held?account=bob"))
    check(ids("/api/held?account=bob&limit=1&offset=1") == (200, ["Q2"], "2"),
          "GET /api/held?account=bob&limit=1&offset=1: its second",
          ids("/api/held?account=bob&limit=1&offset=1"))
    for bad in ("limit=0", "limit=1001", "limit=x", "offset=-1", "account=bad%20account"):
        status, _, text, _ = desk.call("GET", "/api/held?" + bad)
        check(status == 400, f"GET /api/held?{bad}: 400", text)
    r = ctl("held", "list", "--limit", "2")
    check(r.returncode == 0 and "Q1" in r.stdout and "Q2" in r.stdout and "Q3" not in r.stdout
          and "the oldest 2 of 3 messages" in r.stderr,
          "held list --limit 2: the oldest two, and how many there are", r.stdout + r.stderr)
    r = ctl("held", "list", "--limit", "0")
    check(r.returncode == 2, "held list --limit 0: a usage error", r.stdout + r.stderr)


def held_part(pm, desk):
    status, doc, text, _ = desk.call("GET", "/api/held/Q1")
    first = doc[0] if status == 200 and doc else {}
    headers = first.get("headers", [])
    check(status == 200 and ["Subject", "=?UTF-8?B?Q2Fmw6kgcmVwb3J0?="] in headers
          and ["X-Folded", "first part\tsecond part"] in headers
          and ["X-Raw", "caf\u00e9 latin-1"] in headers,
          "GET /api/held/Q1: the header fields unfolded, an invalid UTF-8 byte made a character",
          text[:600])
    body = first.get("body_start", "")
    check(body.startswith(BODY_LINE) and len(body.encode()) == 4096 and first.get("body_more"),
          "GET /api/held/Q1: the body's first 4096 bytes, body_more set", (len(body), text[-300:]))
    r = ctl("held", "show", "Q1", "--json")
    check(r.returncode == 0 and '"X-Folded"' in r.stdout and '"body_start"' in r.stdout,
          "held show --json gives the same header fields and body start", r.stdout[-400:])

    status, doc, text, _ = desk.call("POST", "/api/held/reject", {"account": "bob",
                                                                   "reason": "spam"})
    check(status == 403, "support may not reject an account's held mail: 403", text)
    status, doc, text, _ = pm.call("POST", "/api/held/release", {"account": "bad account",
                                                                  "reason": "x"})
    check(status == 400, "an account name with a blank: 400", text)
    status, doc, text, _ = pm.call("POST", "/api/held/release", {"account": "bob"})
    check(status == 400, "a bulk release without a reason: 400", text)
    status, doc, text, _ = desk.call("POST", "/api/held/release", {"account": "bob",
                                                                    "reason": "called us"})
    mta_log = open(os.path.join(T, "mta.log")).read()
    check(status == 200 and doc == {"account": "bob", "done": 2, "failed": 0, "no_longer_held": 0,
                                    "ids": ["Q1", "Q2"]}
          and "release Q1" in mta_log and "release Q2" in mta_log
          and "release Q3" not in mta_log,
          "support releases bob's held mail at once: both released, the MTA asked for each",
          (text, mta_log))
    status, doc, text, _ = desk.call("POST", "/api/held/release", {"account": "bob",
                                                                    "reason": "again"})
    check(status == 404, "an account with nothing held: 404", text)
    status, doc, text, _ = pm.call("POST", "/api/held/reject", {"account": "carol",
                                                                 "reason": "spam run"})
    check(status == 200 and doc["done"] == 1 and doc["ids"] == ["Q3"]
          and "delete Q3" in open(os.path.join(T, "mta.log")).read(),
          "the postmaster rejects carol's held mail by account", text)

    status, doc, text, _ = pm.call("GET", "/api/held/Q1")
    changes = doc[0].get("changes", []) if status == 200 else []
    check(len(changes) == 1 and changes[0]["who"] == "desk"
          and changes[0]["source"] == "console from 127.0.0.1"
          and changes[0]["what"] == "held release" and changes[0]["reason"] == "called us",
          "GET /api/held/Q1 shows the release: who, from where, why", text[:800])
    r = ctl("why", "bob")
    check(r.returncode == 0 and "held release --account by desk (console from 127.0.0.1): 2 held "
          "messages released, 0 failed; why: called us" in r.stdout,
          "ingressctl why ACCOUNT shows the release of its held mail by account", r.stdout)
    r = ctl("held", "show", "Q2")
    check(r.returncode == 0 and "held release by desk (console from 127.0.0.1)" in r.stdout
          and "why: called us" in r.stdout,
          "ingressctl held show names who released it, from where and why", r.stdout)


def unblock_part(pm, desk):
    ctl("list", "add", "cidr", "127.0.1.0/24", "block", "--reason", "spam run")
    ctl("list", "add", "cidr", "127.0.1.66", "block", "--reason", "abuse report")
    ctl("list", "add", "helo_domain", "bad.example.test", "block", "--reason", "bad HELO")
    before, out = ip_accepted("127.0.1.66")
    check(before == 1 and "check lists: rejected" in out, "127.0.1.66 is refused by the lists", out)
    status, doc, text, _ = desk.call("POST", "/api/unblock", {"ip": "127.0.1.66",
                                                              "reason": "office IP, ticket 41"})
    check(status == 200 and [e["value"] for e in doc["removed"]] == ["127.0.1.66"]
          and doc["removed"][0]["reason"] == "abuse report" and doc["allowed"] is not None
          and doc["allowed"]["value"] == "127.0.1.66" and doc["allowed"]["action"] == "allow"
          and doc["takes_effect"] == "within 1 second",
          "support unblocks 127.0.1.66: the exact block removed, an allow over the /24, within 1 s",
          text)
    after, out = ip_accepted("127.0.1.66")
    check(after == 0 and "verdict: accepted" in out,
          "after the unblock, ingressctl check --ip 127.0.1.66 accepts it", out)
    r = ctl("list", "show", "cidr")
    check("127.0.1.0/24" in r.stdout, "the wider block stays for the other addresses", r.stdout)

    before, out = ip_accepted("127.0.0.20")
    check(before == 1, "127.0.0.20 (listed in dnsbl.test) is refused", out)
    r = ctl("unblock", "127.0.0.20", "--reason", "listed by mistake")
    check(r.returncode == 0 and "added the allow entry cidr 127.0.0.20" in r.stdout
          and "overrides a DNSBL listing" in r.stdout and "within 1 second" in r.stdout,
          "ingressctl unblock of a DNSBL-refused address adds an allow entry and says so",
          r.stdout + r.stderr)
    after, out = ip_accepted("127.0.0.20")
    check(after == 0, "after the unblock, the DNSBL-listed client is accepted", out)

    status, doc, text, _ = desk.call("POST", "/api/unblock", {"ip": "127.0.2.5",
                                                              "reason": "customer says"})
    check(status == 200 and doc["changed"] is False and doc["not_ip"]
          and doc["not_ip"][0]["kind"] == "helo_domain"
          and doc["not_ip"][0]["matches"] == "bad.example.test",
          "a HELO entry matching the address's recent HELO is named, not IP-based, not changed",
          text)
    status, doc, text, _ = desk.call("POST", "/api/unblock", {"ip": "127.0.3.9",
                                                              "reason": "just in case"})
    check(status == 200 and doc["changed"] is False and doc["removed"] == []
          and doc["allowed"] is None and doc["takes_effect"] == "nothing to do",
          "unblock of an address nothing blocks: nothing changed, said so", text)
    r = ctl("unblock", "127.0.3.9", "--reason", "just in case")
    check(r.returncode == 1 and "nothing blocks it" in r.stderr,
          "ingressctl unblock of an address nothing blocks: exit 1, nothing blocks it", r.stderr)
    status, doc, text, _ = desk.call("POST", "/api/unblock", {"ip": "127.0.1.999", "reason": "x"})
    check(status == 400, "unblock of a text that is no address: 400", text)
    status, doc, text, _ = desk.call("POST", "/api/unblock", {"ip": "127.0.1.66"})
    check(status == 400, "unblock without a reason: 400", text)

    # The record: the console's change and the CLI's, each with who, from where and why.
    r = ctl("why", "127.0.1.66")
    check(r.returncode == 0 and "unblock by desk (console from 127.0.0.1)" in r.stdout
          and "why: office IP, ticket 41" in r.stdout
          and "list add by" in r.stdout and "(ingressctl on " in r.stdout
          and "why: abuse report" in r.stdout and "check lists" in r.stdout,
          "ingressctl why IP shows the console's unblock and the CLI's list add among the "
          "decisions", r.stdout)
    status, doc, text, _ = pm.call("GET", "/api/why?key=127.0.0.20&since=1h")
    kinds = [d.get("type") for d in doc] if status == 200 else []
    change = next((d for d in doc if d.get("type") == "change" and d["what"] == "unblock"), {}) \
        if status == 200 else {}
    check("decision" in kinds and change.get("reason") == "listed by mistake"
          and change.get("source", "").startswith("ingressctl on "),
          "GET /api/why?since=1h: the CLI's unblock among the decisions, with where and why", text)


def lists_stats_part(pm, desk):
    status, doc, text, _ = pm.call("POST", "/api/lists", {
        "kind": "cidr", "value": "198.51.100.0/24", "action": "block", "reason": "spam wave",
        "expires": "30m", "public": "see https://help.example/blocked"})
    now = int(time.time())
    check(status == 200 and abs((doc.get("expires") or 0) - (now + 1800)) <= 5
          and doc["public"] == "see https://help.example/blocked",
          "POST /api/lists with expires 30m and a public text", text)
    status, doc, text, _ = pm.call("POST", "/api/lists", {
        "kind": "cidr", "value": "198.51.100.9", "action": "block", "reason": "x",
        "expires": "soon"})
    check(status == 400 and "duration" in doc["error"], "POST /api/lists, expires not a duration: "
          "400", text)
    status, doc, text, _ = desk.call("GET", "/api/lists?q=SPAM&kind=cidr")
    values = sorted(e["value"] for e in doc) if status == 200 else []
    check(values == ["127.0.1.0/24", "198.51.100.0/24"],
          "GET /api/lists?q=SPAM&kind=cidr: the cidr entries whose text has spam, any case", text)
    status, doc, text, _ = desk.call("GET", "/api/lists?q=bad")
    check(status == 200 and [e["value"] for e in doc] == ["bad.example.test"],
          "GET /api/lists?q=bad: every kind", text)
    status, _, text, _ = desk.call("GET", "/api/lists?kind=nonsense")
    check(status == 400, "GET /api/lists?kind=nonsense: 400", text)

    status, doc, text, _ = desk.call("GET", "/api/why?key=127.0.1.66&since=2026-01-01T00:00")
    check(status == 200 and len(doc) >= 2, "GET /api/why takes since as a UTC date", text[:300])
    status, doc, text, _ = desk.call("GET", "/api/why?key=127.0.1.66&until=yesterday")
    check(status == 400, "GET /api/why?until=yesterday: 400", text)

    status, doc, text, _ = desk.call("GET", "/api/stats?since=24h")
    r = ctl("stats", "--since", "24h", "--json")
    cli = json.loads(r.stdout) if r.returncode == 0 else {}
    check(status == 200 and doc.get("checks") == cli.get("decisions")
          and {"check": "dnsbl", "action": "reject", "count": 1} in doc.get("checks", [])
          and abs(doc["since"] - (int(time.time()) - 86400)) <= 5,
          "GET /api/stats?since=24h: the counts of ingressctl stats --json", (text, r.stdout))
    status, _, text, _ = desk.call("GET", "/api/stats?since=lately")
    check(status == 400, "GET /api/stats?since=lately: 400", text)


def main():
    port = setup()
    proc = start_console(CONSOLE, CONF, port, os.path.join(T, "console.log"))
    try:
        pm, desk = session(port, "pm", "pm-secret-1"), session(port, "desk", "desk-secret-1")
        held_list_part(desk)
        held_part(pm, desk)
        unblock_part(pm, desk)
        lists_stats_part(pm, desk)
    finally:
        stop_console(proc)
    # Under the sanitizers a leak or an error found at exit makes the status non-zero.
    check(proc.returncode == 0, "SIGTERM stops the console with status 0",
          open(os.path.join(T, "console.log")).read()[-2000:])


if DNS is None:
    raise SystemExit("run under tests/dns/with-dns.sh (INGRESS_TEST_DNS)")
testlib.run(main, T)
