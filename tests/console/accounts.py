#!/usr/bin/python3
"""ingress-console's accounts, recipient rules, check and webmail key, against a real store
(SQLite or PostgreSQL) and a real NSD (run under tests/dns/with-dns.sh): each endpoint, each
refusal (support cannot suspend, resume or change limits; a webmail key outside its domains, on
another route, or wrong; a cookie session's change without its CSRF token), and that each change
is what `ingressctl` then shows, with who and why.

On SQLite by default; under tests/pg/with-pg.sh the same test runs on the private PostgreSQL, its
rows written and read with psql (tests/console/testlib.py's sql()).

    tests/dns/with-dns.sh tests/console/accounts.py INGRESSCTL_BIN INGRESS_CONSOLE_BIN
"""
import functools
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from testlib import call, check, free_port, session, start_console, stop_console  # noqa: E402
import testlib  # noqa: E402

CTL, CONSOLE = (os.path.realpath(p) for p in sys.argv[1:3])
T = tempfile.mkdtemp(prefix="ingress-console-accounts.")
DB = testlib.database(T)
CONF = os.path.join(T, "console.conf")
sql = functools.partial(testlib.sql, DB)


def ctl(*args, stdin=""):
    return testlib.ctl(CTL, CONF, *args, stdin=stdin)


def main():
    port = free_port()
    testlib.write_conf(CONF, DB, port, f"{T}/users",
                       f"dns_servers = {os.environ['INGRESS_TEST_DNS']}\n"
                       "dns_timeout = 2s\ntrusted_networks =\n")
    ctl("list", "show")  # applies the schema
    ctl("account", "add", "bob@example.test")
    ctl("account", "add", "carol@example.test")
    ctl("list", "add", "cidr", "127.0.0.11", "block", "--reason", "ticket 42")
    now = int(time.time())
    hour = now - now % 3600
    for start, msgs, rcpts in ((hour, 7, 9), (hour - 3 * 3600, 2, 4), (hour - 30 * 3600, 5, 5)):
        sql("INSERT INTO throttle_buckets (account, width, start, msgs, rcpts, minutes)"
            " VALUES (?, 3600, ?, ?, ?, 1)", ("bob@example.test", start, msgs, rcpts))
    sql("INSERT INTO account_throttle (account, throttled, reason) VALUES (?, ?, ?)",
        ("carol@example.test", now - 60, "1m window: 31 messages > limit 30"))
    ctl("console-user", "add", "pm", "--role", "postmaster", stdin="pm-secret-1\n")
    ctl("console-user", "add", "desk", stdin="desk-secret-1\n")
    r = ctl("console-user", "add", "mail1", "--role", "webmail", "--domains", "example.test")
    header = [ln for ln in r.stdout.splitlines() if ln.startswith("Authorization: Bearer mail1:")]
    users = open(f"{T}/users").read()
    check(r.returncode == 0 and len(header) == 1 and header[0].split(":", 2)[2] not in users
          and "mail1:webmail:$y$" in users and users.rstrip().endswith(":example.test"),
          "console-user add --role webmail makes a key, prints it once, keeps its hash", (r, users))
    key = header[0].split(" ", 2)[2] if header else ""
    r = ctl("console-user", "add", "mail2", "--role", "webmail", stdin="given-key-0123456789\n")
    check(r.returncode == 0 and "Bearer" not in r.stdout, "a key given on stdin is not printed",
          r.stdout)
    r = ctl("console-user", "add", "x", "--role", "support", "--domains", "example.test",
            stdin="longenough\n")
    check(r.returncode == 2, "--domains is for a webmail key only", r.stderr)

    log = os.path.join(T, "console.log")
    proc = start_console(CONSOLE, CONF, port, log)
    try:
        run(port, key)
    finally:
        stop_console(proc)
    text = open(log).read()
    # Under the sanitizers a leak or an error makes the exit status non-zero.
    check(proc.returncode == 0, "SIGTERM stops the console with status 0", (proc.returncode, text))
    check(key.split(":", 1)[-1] not in text and "given-key" not in text,
          "no webmail key in the console's log", text)


def run(port, key):
    pm, desk = session(port, "pm", "pm-secret-1"), session(port, "desk", "desk-secret-1")
    bearer = "Bearer " + key

    # ---- accounts ----
    status, doc, text, _ = desk("GET", "/api/accounts")
    states = {a["account"]: a["state"] for a in doc} if status == 200 else {}
    check(states == {"bob@example.test": "active", "carol@example.test": "throttled"},
          "GET /api/accounts: each account with its state", text)
    status, doc, text, _ = desk("GET", "/api/accounts/bob@example.test")
    cli = json.loads(ctl("account", "show", "bob@example.test", "--json").stdout)
    check(status == 200 and doc[0]["account"] == "bob@example.test" and "rates" in doc[0]
          and doc[0]["limits"]["hour"]["messages_default"] and doc[0].keys() == cli[0].keys(),
          "GET /api/accounts/NAME is account show --json's document", (text, cli))
    status, doc, text, _ = desk("GET", "/api/accounts/bob@example.test/rate?span=day")
    pts = doc["points"] if status == 200 else []
    check(len(pts) == 24 and pts[-1]["messages"] == 7 and pts[-1]["recipients"] == 9
          and pts[-4]["messages"] == 2 and sum(p["messages"] for p in pts) == 9
          and pts[-1]["t"] - pts[-2]["t"] == 3600 and "limit" in doc and "baseline" in doc,
          "rate?span=day: 24 hourly points from the throttle's buckets", text)
    status, doc, text, _ = desk("GET", "/api/accounts/bob@example.test/rate?span=week")
    pts = doc["points"] if status == 200 else []
    check(len(pts) == 7 and sum(p["messages"] for p in pts) == 14,
          "rate?span=week: 7 daily points with every bucket of the week", text)
    status, _, _, _ = desk("GET", "/api/accounts/bob@example.test/rate?span=year")
    check(status == 400, "rate?span=year: 400", status)

    for action, body in (("suspend", {"reason": "phished"}), ("resume", {"reason": "ok"}),
                         ("limits", {"hour": "5/50", "reason": "new customer"})):
        status, _, _, _ = desk("POST", f"/api/accounts/bob@example.test/{action}", body)
        show = ctl("account", "show", "bob@example.test").stdout
        check(status == 403 and "no" in show.split("\n")[1] and "5 / 50" not in show,
              f"support cannot {action}: 403, the store unchanged", (status, show))
    status, _, _, _ = pm("POST", "/api/accounts/bob@example.test/suspend", {"reason": "phished"},
                         csrf=False)
    check(status == 403, "a cookie session's suspend without the CSRF token: 403", status)
    status, doc, text, _ = pm("POST", "/api/accounts/bob@example.test/suspend",
                              {"reason": "phished, ticket 12"})
    show = ctl("account", "show", "bob@example.test").stdout
    check(status == 200 and doc["state"] == "suspended"
          and "phished, ticket 12 (by pm via console from 127.0.0.1)" in show,
          "suspend: account show says who and why", (text, show))
    status, _, _, _ = pm("POST", "/api/accounts/bob@example.test/suspend", {"reason": "again"})
    check(status == 409, "suspending a suspended account: 409", status)
    status, doc, text, _ = pm("POST", "/api/accounts/bob@example.test/resume", {"reason": "fixed"})
    check(status == 200 and doc["state"] == "active", "resume", text)
    status, doc, text, _ = pm("POST", "/api/accounts/bob@example.test/limits",
                              {"hour": "5/50", "day": "default", "reason": "new customer"})
    show = ctl("account", "show", "bob@example.test").stdout
    check(status == 200 and "per hour    5 / 50" in show, "limits: account show has them",
          (text, show))
    status, _, _, _ = pm("POST", "/api/accounts/bob@example.test/limits",
                         {"hour": "lots", "reason": "x"})
    check(status == 400, "limits with a bad value: 400", status)
    status, doc, text, _ = desk("POST", "/api/accounts/carol@example.test/unthrottle",
                                {"reason": "customer called, ticket 13"})
    show = ctl("account", "show", "carol@example.test").stdout
    check(status == 200 and doc["state"] == "active" and "not throttled" in show,
          "support unthrottles: account show says not throttled", (text, show))
    status, _, _, _ = desk("POST", "/api/accounts/carol@example.test/unthrottle", {"reason": "x"})
    check(status == 409, "unthrottling an account not throttled: 409", status)
    why = ctl("why", "bob@example.test").stdout
    for line in ("account suspend by pm (console from 127.0.0.1); why: phished, ticket 12",
                 "account resume by pm (console from 127.0.0.1); why: fixed",
                 "account limits by pm (console from 127.0.0.1): minute=unchanged/unchanged "
                 "hour=5/50 day=default/default; why: new customer"):
        check(line in why, f"why shows the change: {line.split(' by ')[0]}", why)
    why = ctl("why", "carol@example.test").stdout
    check("account unthrottle by desk (console from 127.0.0.1); why: customer called, ticket 13"
          in why, "why shows the unthrottle with who and why", why)

    # ---- recipient rules ----
    status, doc, text, _ = desk("POST", "/api/rules", {"mailbox": "Alice@Example.test",
                                "sender": "@shop.test", "action": "accept", "reason": "ticket 14"})
    rules = ctl("rule", "list", "alice@example.test").stdout
    check(status == 200 and doc["mailbox"] == "alice@example.test"
          and "desk via console from 127.0.0.1" in rules and "accept" in rules,
          "support adds an accept rule: rule list shows it and who", (text, rules))
    status, _, _, _ = desk("POST", "/api/rules", {"mailbox": "alice@example.test",
                           "sender": "@spam.test", "action": "reject", "reason": "x"})
    check(status == 403 and "spam.test" not in ctl("rule", "list").stdout,
          "support cannot add a reject rule: 403", status)
    status, _, _, _ = desk("POST", "/api/rules", {"mailbox": "alice@example.test",
                           "sender": "@x.test", "action": "accept", "reason": "x"}, csrf=False)
    check(status == 403, "a cookie session's rule change without the CSRF token: 403", status)

    status, doc, text, _ = call(port, "POST", "/api/rules", {"mailbox": "alice@example.test",
                                "sender": "Boss@Spam.test", "action": "reject",
                                "reason": "user's server rules"}, auth=bearer)
    rules = ctl("rule", "list", "alice@example.test").stdout
    check(status == 200 and "boss@spam.test" in rules and "mail1 via console" in rules,
          "webmail key adds a reject rule without cookie or CSRF token", (text, rules))
    status, doc, text, _ = call(port, "GET", "/api/rules?mailbox=alice@example.test", auth=bearer)
    check(status == 200 and sorted(r["sender"] for r in doc) == ["@shop.test", "boss@spam.test"],
          "webmail key reads its mailbox's rules", text)
    status, doc, text, _ = call(port, "GET", "/api/rules?mailbox=alice@example.test", auth=bearer)
    check(status == 200, "a second call with the key (verified once, then cached)", status)
    status, _, _, _ = call(port, "DELETE", "/api/rules/alice@example.test/boss@spam.test",
                           {"reason": "user's server rules"}, auth=bearer)
    check(status == 200 and "boss@spam.test" not in ctl("rule", "list").stdout,
          "webmail key deletes its mailbox's rule", status)
    why = ctl("why", "alice@example.test").stdout
    for line in ("rule add by desk (console from 127.0.0.1): sender @shop.test accept; why: ticket 14",
                 "rule add by mail1 (console from 127.0.0.1): sender boss@spam.test reject",
                 "rule del by mail1 (console from 127.0.0.1): sender boss@spam.test"):
        check(line in why, f"why shows the rule change: {line[:40]}", why)
    ctl("rule", "add", "eve@other.test", "@shop.test", "accept")
    for method, path, body in (
            ("GET", "/api/rules?mailbox=eve@other.test", None),
            ("GET", "/api/rules", None),
            ("POST", "/api/rules", {"mailbox": "eve@other.test", "sender": "@x.test",
                                    "action": "reject", "reason": "x"}),
            ("DELETE", "/api/rules/eve@other.test/@shop.test", {"reason": "x"})):
        status, _, text, _ = call(port, method, path, body, auth=bearer)
        check(status == 403 and "@shop.test" in ctl("rule", "list", "eve@other.test").stdout,
              f"webmail key on another mailbox: {method} {path}: 403", text)
    for method, path in (("GET", "/api/held"), ("GET", "/api/why?key=127.0.0.11"),
                         ("GET", "/api/accounts"), ("POST", "/api/check")):
        status, _, text, _ = call(port, method, path, {"ip": "127.0.0.11"}
                                  if method == "POST" else None, auth=bearer)
        check(status == 403, f"webmail key on {method} {path}: 403", text)
    status, _, _, _ = call(port, "GET", "/api/rules?mailbox=alice@example.test",
                           auth=bearer[:-1] + ("0" if bearer[-1] != "0" else "1"))
    check(status == 401, "a wrong key: 401", status)
    status, _, _, _ = call(port, "GET", "/api/rules?mailbox=alice@example.test",
                           auth="Bearer pm:pm-secret-1")
    check(status == 401, "a person's password as a key: 401 (it would skip CSRF)", status)
    status, _, _, _ = call(port, "GET", "/api/accounts", cookie=desk.cookie, auth="Basic eDp5")
    check(status == 200, "a proxy's Basic Authorization header leaves the cookie to decide", status)
    status, _, _, _ = call(port, "POST", "/api/login",
                           {"name": "mail2", "password": "given-key-0123456789"})
    check(status == 403, "a webmail key opens no session: 403", status)
    status, doc, text, _ = call(port, "GET", "/api/rules?mailbox=zed@anywhere.test",
                                auth="Bearer mail2:given-key-0123456789")
    check(status == 200 and doc == [], "a key without domains names any mailbox", text)
    # The key was verified once and is cached: deleting its user must end it at the next call.
    r = ctl("console-user", "del", "mail1")
    status, _, _, _ = call(port, "GET", "/api/rules?mailbox=alice@example.test", auth=bearer)
    check(r.returncode == 0 and status == 401, "a deleted key is refused at once (cache dropped)",
          status)
    status, _, _, _ = desk("DELETE", "/api/rules/alice@example.test/@shop.test", {"reason": "t"})
    check(status == 200 and "shop" not in ctl("rule", "list", "alice@example.test").stdout,
          "support deletes a rule", status)

    # ---- a mailbox or sender with '/' in its local part (RFC 5321 atext) ----
    def rule_senders(mailbox):
        return [r["sender"] for r in json.loads(ctl("rule", "list", mailbox, "--json").stdout)]

    def add_rule(mailbox, sender):
        status, _, text, _ = desk("POST", "/api/rules", {"mailbox": mailbox, "sender": sender,
                                  "action": "accept", "reason": "slash"})
        check(status == 200 and rule_senders(mailbox) == [sender],
              f"support adds {mailbox} {sender}", text)

    add_rule("a/b@example.test", "x/y@shop.test")
    status, doc, text, _ = desk("DELETE", "/api/rules/a/b@example.test/x/y@shop.test",
                                {"reason": "slash in the path"})
    check(status == 200 and doc["mailbox"] == "a/b@example.test" and doc["sender"] == "x/y@shop.test"
          and rule_senders("a/b@example.test") == [],
          "DELETE rules/MAILBOX/SENDER: the mailbox ends at the first '/' after its '@'", text)
    add_rule("a/b@example.test", "x/y@shop.test")
    status, doc, text, _ = desk("DELETE", "/api/rules", {"mailbox": "a/b@example.test",
                                "sender": "x/y@shop.test", "reason": "mailbox in the body"})
    check(status == 200 and rule_senders("a/b@example.test") == [],
          "DELETE rules {mailbox, sender, reason}", text)
    # A quoted local part with '@' and '/' cannot be split in a path: the body names it.
    add_rule('"q@/r"@example.test', "@shop.test")
    status, _, _, _ = desk("DELETE", '/api/rules/"q@/r"@example.test/@shop.test', {"reason": "t"})
    check(status == 404 and rule_senders('"q@/r"@example.test') == ["@shop.test"],
          "a local part with '@' before its '/' is not split in the path: 404", status)
    status, _, text, _ = desk("DELETE", "/api/rules", {"mailbox": '"q@/r"@example.test',
                              "sender": "@shop.test", "reason": "quoted local part"})
    check(status == 200 and rule_senders('"q@/r"@example.test') == [],
          "DELETE rules with the body takes a quoted local part with '@' and '/'", text)
    for body in ({"mailbox": "a/b@example.test", "reason": "t"},
                 {"mailbox": "not an address", "sender": "@shop.test", "reason": "t"},
                 {"mailbox": "a/b@example.test", "sender": "@shop.test"}):
        status, _, text, _ = desk("DELETE", "/api/rules", body)
        check(status == 400, f"DELETE rules with {sorted(body)}: 400", text)
    status, _, _, _ = desk("DELETE", "/api/rules", {"mailbox": "a/b@example.test",
                           "sender": "@none.test", "reason": "t"})
    check(status == 404, "DELETE rules of no rule: 404", status)
    # The webmail key's domains hold for both forms.
    r = ctl("console-user", "add", "mail3", "--role", "webmail", "--domains", "example.test",
            stdin="third-key-0123456789\n")
    key3 = "Bearer mail3:third-key-0123456789"
    ctl("rule", "add", "c/d@other.test", "@shop.test", "accept")
    for path, body in (("/api/rules/c/d@other.test/@shop.test", {"reason": "x"}),
                       ("/api/rules", {"mailbox": "c/d@other.test", "sender": "@shop.test",
                                       "reason": "x"})):
        status, _, text, _ = call(port, "DELETE", path, body, auth=key3)
        check(r.returncode == 0 and status == 403
              and rule_senders("c/d@other.test") == ["@shop.test"],
              f"webmail key on another domain's mailbox, DELETE {path}: 403", text)
    add_rule("a/b@example.test", "@shop.test")
    status, _, text, _ = call(port, "DELETE", "/api/rules", {"mailbox": "a/b@example.test",
                              "sender": "@shop.test", "reason": "Server Rules page"}, auth=key3)
    check(status == 200 and rule_senders("a/b@example.test") == [],
          "webmail key deletes its domain's rule with the body", text)

    # ---- check ----
    args = ["--ip", "127.0.0.11", "--helo", "x.example", "--from", "a@e2e.test",
            "--rcpt", "u@example.org"]
    cli = json.loads(ctl("check", *args, "--json").stdout)
    status, doc, text, _ = desk("POST", "/api/check", {"ip": "127.0.0.11", "helo": "x.example",
                                "from": "a@e2e.test", "rcpt": ["u@example.org"]})
    for d in (cli, doc or {}):
        d.pop("ref", None)
        for s in d.get("steps", []):
            s["reply"] = s.get("reply", "").split(" (ref")[0]
    refusal = [s for s in doc["steps"] if s["action"] == "reject"] if status == 200 else []
    check(status == 200 and doc["verdict"] == "refused" and len(refusal) == 1
          and refusal[0]["check"] == "lists" and refusal[0]["reply"].startswith("554 5.7.1")
          and doc == cli,
          "POST /api/check gives the refusal the milter would, as ingressctl check --json",
          (text, cli))
    status, _, _, _ = desk("POST", "/api/check", {"ip": "not-an-ip"})
    check(status == 400, "check with a bad ip: 400", status)
    check(int(sql("SELECT count(*) FROM decisions")[0][0]) == 0,
          "check records nothing", "")


testlib.run(main, T)
