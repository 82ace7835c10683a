#!/usr/bin/python3
"""The site's explanation per check (what the remote sender's page tells a refused sender to
fix), edited in ingress-console's API, against a real SQLite store and the console's own public
listener:

- GET /api/explanations: every check, its text and whether it is the built-in one, for the
  postmaster and support, the same document as `ingressctl explain list --json`; a webmail key 403;
- PUT /api/explanations/CHECK {text, reason}: the postmaster's only (support and a webmail key
  403, nothing changed); the public page /why/REF of a refusal by that check then shows the text;
  the change is in the record of changes with who, from where and why;
- DELETE /api/explanations/CHECK {reason}: the built-in text again, on the page too; a second
  DELETE is 409;
- the bounds are the CLI's: a text of 600 bytes is taken and 601 refused by both, so is a control
  character; an unknown check 404 (the CLI: a usage error); bad JSON or no reason 400;
- a text set with `ingressctl explain set` shows in the console, and the CLI's change is recorded
  with its --reason.

    tests/console/explanations.py INGRESSCTL_BIN INGRESS_CONSOLE_BIN
"""
import functools
import html
import json
import os
import re
import socket
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from testlib import check, free_port, session, start_console, stop_console  # noqa: E402
import testlib  # noqa: E402

CTL, CONSOLE = (os.path.realpath(p) for p in sys.argv[1:3])
T = tempfile.mkdtemp(prefix="ingress-console-explain.")
DB = testlib.database(T)
CONF = os.path.join(T, "console.conf")
sql = functools.partial(testlib.sql, DB)
REF = "EXPLAINREF234567"  # 16 base32 characters, as the milter makes them


def ctl(*args, stdin=""):
    return testlib.ctl(CTL, CONF, *args, stdin=stdin)


def cli_list():
    r = ctl("explain", "list", "--json")
    try:
        return json.loads(r.stdout)
    except ValueError:
        return {"error": r.stdout + r.stderr}


def public_fix(public_port):
    """The text the public page of REF shows under "What to fix on your side"."""
    with urllib.request.urlopen(f"http://127.0.0.1:{public_port}/why/{REF}", timeout=20) as r:
        page = r.read().decode()
    m = re.search(r'<p class="fix">(.*?)</p>', page, re.S)
    return html.unescape(m.group(1)) if m else page[:600]


def wait_listening(port):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"the public listener is not on {port}")


def setup():
    port, public_port = free_port(), free_port()
    while public_port == port:
        public_port = free_port()
    testlib.write_conf(CONF, DB, port, os.path.join(T, "users"),
                       f"console_public_listen = 127.0.0.1:{public_port}\n")
    ctl("list", "show")  # applies the schema
    sql("INSERT INTO decisions (time, queue_id, ref, client_ip, helo, recipient, check_name,"
        " action, reply, detail) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (int(time.time()) - 60, "NOQUEUE", REF, "192.0.2.7", "mail.nowhere.test",
         "alice@example.test", "iprev", "reject", "550 5.7.25 no PTR", "no PTR"))
    ctl("console-user", "add", "pm", "--role", "postmaster", stdin="pm-secret-1\n")
    ctl("console-user", "add", "desk", stdin="desk-secret-1\n")
    r = ctl("console-user", "add", "mail1", "--role", "webmail", stdin="webmail-key-0123456789\n")
    check(r.returncode == 0, "a webmail key is made", r.stderr)
    return port, public_port


def reading(port, pm, desk):
    builtin = cli_list()
    status, doc, text, _ = pm.call("GET", "/api/explanations")
    checks = [e.get("check") for e in doc] if isinstance(doc, list) else []
    check(status == 200 and len(checks) >= 10 and {"iprev", "spf", "dkim", "greylist", "lists"}
          <= set(checks) and all(e["default"] is True and e["set_by"] is None and e["text"]
                                 for e in doc),
          "GET /api/explanations (postmaster): every check, each with its built-in text", text)
    check(doc == builtin, "... the same document as ingressctl explain list --json",
          f"console {doc}\ncli {builtin}")
    status, doc2, text, _ = desk.call("GET", "/api/explanations")
    check(status == 200 and doc2 == doc, "GET /api/explanations (support): the same", text)
    status, _, text, _ = testlib.call(port, "GET", "/api/explanations",
                                      auth="Bearer mail1:webmail-key-0123456789")
    check(status == 403, "GET /api/explanations with a webmail key: 403", text)
    return {e["check"]: e["text"] for e in doc}


def refused(port, desk, public_port, builtin):
    body = {"text": "Support tried to change this.", "reason": "not mine to change"}
    status, _, text, _ = desk.call("PUT", "/api/explanations/iprev", body)
    check(status == 403, "PUT /api/explanations/iprev as support: 403", text)
    status, _, text, _ = desk.call("DELETE", "/api/explanations/iprev", {"reason": "no"})
    check(status == 403, "DELETE /api/explanations/iprev as support: 403", text)
    status, _, text, _ = testlib.call(port, "PUT", "/api/explanations/iprev", body,
                                      auth="Bearer mail1:webmail-key-0123456789")
    check(status == 403, "PUT /api/explanations/iprev with a webmail key: 403", text)
    check(all(e["default"] for e in cli_list()) and public_fix(public_port) == builtin["iprev"],
          "... nothing changed: the CLI lists the built-in texts, the page shows iprev's",
          cli_list())


def bounds(pm):
    """The CLI's bounds, in the console and the CLI alike."""
    for label, text in (("600 bytes", "x" * 600), ("600 bytes of UTF-8", "é" * 300)):
        status, doc, out, _ = pm.call("PUT", "/api/explanations/dkim",
                                      {"text": text, "reason": "bounds"})
        r = ctl("explain", "set", "dnsbl", text)
        check(status == 200 and doc.get("text") == text and r.returncode == 0,
              f"a text of {label}: taken by PUT and by explain set", (out, r.stderr))
    for label, text in (("601 bytes", "x" * 601), ("a newline", "two\nlines"),
                        ("a control character", "bell\x07"), ("nothing", "")):
        status, _, out, _ = pm.call("PUT", "/api/explanations/dkim",
                                    {"text": text, "reason": "bounds"})
        r = ctl("explain", "set", "dnsbl", text)
        check(status == 400 and r.returncode == 2,
              f"a text of {label}: PUT 400, explain set a usage error", (out, r.stderr))
    status, _, out, _ = pm.call("PUT", "/api/explanations/dkim", {"text": 7, "reason": "x"})
    check(status == 400, "a text that is no string: 400", out)
    status, _, out, _ = pm.call("PUT", "/api/explanations/dkim", {"text": "fine"})
    check(status == 400, "PUT without a reason: 400", out)
    status, _, out, _ = pm.call("PUT", "/api/explanations/dkim", raw=b'{"text": "fine", "rea')
    check(status == 400, "PUT with bad JSON: 400", out)
    status, _, out, _ = pm.call("DELETE", "/api/explanations/dkim", raw=b"[1, 2")
    check(status == 400, "DELETE with bad JSON: 400", out)
    for path in ("nosuch", "IPREV", "iprev/x", "", "iprev%00"):
        status, _, out, _ = pm.call("PUT", "/api/explanations/" + path,
                                    {"text": "fine", "reason": "x"})
        check(status == 404, f"PUT /api/explanations/{path}: 404 (no such check)", out)
    status, _, out, _ = pm.call("DELETE", "/api/explanations/nosuch", {"reason": "x"})
    check(status == 404, "DELETE /api/explanations/nosuch: 404", out)
    r = ctl("explain", "set", "nosuch", "fine")
    check(r.returncode == 2 and "not a check" in r.stderr, "explain set nosuch: a usage error",
          r.stderr)
    status, _, out, _ = pm.call("PUT", "/api/explanations/dkim", {"text": "no token",
                                                                  "reason": "x"}, csrf=False)
    check(status == 403 and cli_list()[[e["check"] for e in cli_list()].index("dkim")]["text"]
          == "é" * 300, "PUT without the CSRF token: 403, nothing changed", out)
    for name in ("dkim", "dnsbl"):
        ctl("explain", "unset", name)


def editing(pm, public_port, builtin):
    text = "Ask your provider for a PTR record <b>naming</b> your server & use it as HELO."
    status, doc, out, _ = pm.call("PUT", "/api/explanations/iprev",
                                  {"text": text, "reason": "ticket 4801: clearer words"})
    check(status == 200 and doc.get("check") == "iprev" and doc.get("text") == text
          and doc.get("default") is False and doc.get("set_by") == "pm via console from 127.0.0.1"
          and isinstance(doc.get("set_at"), int),
          "PUT /api/explanations/iprev (postmaster): 200, the check's text, no longer the default",
          out)
    check(public_fix(public_port) == text,
          "the public page of a refusal by iprev shows the edited text (escaped, read back)",
          public_fix(public_port))
    status, listed, out, _ = pm.call("GET", "/api/explanations")
    cli = cli_list()
    check(status == 200 and listed == cli and [e for e in cli if e["check"] == "iprev"] == [doc],
          "GET /api/explanations and ingressctl explain list --json agree on the edited text",
          f"console {listed}\ncli {cli}")
    r = ctl("explain", "list")
    check(re.search(r"^iprev +Ask your provider", r.stdout, re.M) is not None
          and re.search(r"^spf +\(built in\) ", r.stdout, re.M) is not None,
          "ingressctl explain list shows the site's text and the built-in ones", r.stdout)
    rows = sql("SELECT who, source, what, key, detail, reason FROM changes"
               " WHERE what = 'explain set' AND key = 'iprev'")
    check(len(rows) == 1 and rows[0][:4] == ("pm", "console from 127.0.0.1", "explain set",
                                             "iprev")
          and text in rows[0][4] and rows[0][5] == "ticket 4801: clearer words",
          "the record of changes: explain set iprev by pm, from the console's client, and why",
          rows)

    status, doc, out, _ = pm.call("DELETE", "/api/explanations/iprev",
                                  {"reason": "ticket 4802: back to the default"})
    check(status == 200 and doc.get("default") is True and doc.get("text") == builtin["iprev"]
          and doc.get("set_by") is None,
          "DELETE /api/explanations/iprev: 200, the built-in text again", out)
    check(public_fix(public_port) == builtin["iprev"],
          "the public page shows the built-in text after the DELETE", public_fix(public_port))
    rows = sql("SELECT who, source, reason FROM changes WHERE what = 'explain unset'"
               " AND key = 'iprev'")
    check(rows == [("pm", "console from 127.0.0.1", "ticket 4802: back to the default")],
          "the record of changes: explain unset iprev by pm, and why", rows)
    status, _, out, _ = pm.call("DELETE", "/api/explanations/iprev", {"reason": "again"})
    check(status == 409, "a second DELETE: 409 (the built-in text is shown already)", out)
    check(all(e["default"] for e in cli_list()), "ingressctl explain list: all built in again",
          cli_list())


def cli_to_console(pm, public_port):
    text = "Réglez votre PTR, puis réessayez."
    r = ctl("explain", "set", "iprev", text, "--reason", "ticket 4803 from the shell")
    status, doc, out, _ = pm.call("GET", "/api/explanations")
    shown = [e for e in doc if e["check"] == "iprev"] if isinstance(doc, list) else []
    check(r.returncode == 0 and status == 200 and len(shown) == 1 and shown[0]["text"] == text
          and shown[0]["default"] is False and public_fix(public_port) == text,
          "a text set with ingressctl explain set shows in the console and on the page",
          (r.stderr, out))
    rows = sql("SELECT source, reason FROM changes WHERE what = 'explain set' AND key = 'iprev'"
               " AND reason = 'ticket 4803 from the shell'")
    check(len(rows) == 1 and rows[0][0].startswith("ingressctl on "),
          "the CLI's change is in the record of changes with its --reason", rows)
    r = ctl("explain", "set", "iprev", "x", "--reason", "bad\x01reason")
    check(r.returncode == 2, "explain set --reason with a control character: a usage error",
          r.stderr)


def main():
    port, public_port = setup()
    proc = start_console(CONSOLE, CONF, port, os.path.join(T, "console.log"))
    try:
        wait_listening(public_port)
        pm = session(port, "pm", "pm-secret-1")
        desk = session(port, "desk", "desk-secret-1")
        builtin = reading(port, pm, desk)
        check(public_fix(public_port) == builtin["iprev"],
              "the public page shows iprev's built-in text at first", public_fix(public_port))
        refused(port, desk, public_port, builtin)
        bounds(pm)
        editing(pm, public_port, builtin)
        cli_to_console(pm, public_port)
    finally:
        stop_console(proc)
    check(proc.returncode == 0, "ingress-console exits 0 on SIGTERM", proc.returncode)
    with open(os.path.join(T, "console.log")) as f:
        log = f.read()
    check("runtime error:" not in log and "AddressSanitizer" not in log,
          "no sanitizer report in the console's log", log[-1500:])


testlib.run(main, T)
