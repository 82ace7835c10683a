#!/usr/bin/python3
"""The console's web page in headless Chromium (python3-selenium), run by tests/console/browser.sh
once Postfix, milter-ingress, NSD and ingress-console are up (it passes their places in the
environment).  Cases:

  a. support logs in, searches the ref of a message the block list refused (a cidr entry for
     127.0.0.12), reads the check in plain words, clicks Unblock and gives a reason; the entry is
     gone and the same client's retried message is accepted by Postfix and delivered.  a2: under
     the same block again, "Unblock just IP" (POST /api/unblock) lets that address alone through.
  b. the postmaster logs in, sees a throttled submission in the held queue with its account,
     reason and subject (a subject that is HTML shows as text and runs nothing), previews its
     header fields from Postfix's queue, releases it, and it lands in the maildir; `ingressctl held show` records who released it.
  c. support has no Suspend control on an account's page, the API refuses the call the page would
     make (403), and the account is not suspended in the store.
  d. a reload keeps the session (GET /api/session).
  e. the postmaster rejects one held message with a reason (the row's Reject): it leaves the page
     and Postfix's queue, lands in no mailbox, and `held show` and `why` record who and why.
  f. the postmaster suspends an account on its page, then resumes it: after each click the page
     shows the state `account show` gives, and `why ACCOUNT` records the change, who and why.
  g. the lists page's search finds a block entry (and not another), its Unblock removes it.
  h. the stats page's chart and table show the counts of `ingressctl stats --since 24h`.
  i. with more than 200 held rows in the store the held page lists 200 and says of how many.

A screenshot of each page goes to SCREENSHOT_DIR (printed at the end).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from testlib import check
import testlib

E = os.environ
URL, SHOTS, MAIL_DIR = E["CONSOLE_URL"], E["SCREENSHOT_DIR"], E["MAIL_DIR"]


def ctl(*args):
    r = testlib.ctl(E["CTL_BIN"], E["CONF"], *args)
    return r.returncode, r.stdout + r.stderr


def swaks(name, ip, helo, rcpt, *extra, server=None):
    """One SMTP transaction; the transcript.  The message carries X-E2E-Case: NAME."""
    r = subprocess.run(["swaks", "--server", server or "127.0.0.1:" + E["SMTP_PORT"],
                        "--timeout", "30", "--local-interface", ip, "--ehlo", helo,
                        "--from", "sender@e2e.test", "--to", rcpt,
                        "--add-header", "X-E2E-Case: " + name, *extra],
                       capture_output=True, text=True, timeout=90)
    return r.stdout + r.stderr


def submit(name, subject):
    """A submission as bob on the SASL listener, from 127.0.0.40."""
    return swaks(name, "127.0.0.40", "submit.example.test", "user@example.net",
                 "--auth", "PLAIN", "--auth-user", E["BOB"], "--auth-password", E["BOB_PASS"],
                 "--from", E["BOB"], "--header", "Subject: " + subject,
                 server="127.0.0.1:" + E["SUB_PORT"])


def replies(transcript):
    return [l[3:].strip() for l in transcript.splitlines() if l.startswith(("<- ", "<** "))]


def delivered(name, seconds=15):
    want = "X-E2E-Case: " + name
    for _ in range(seconds * 10):
        for sub in ("new", "cur"):
            for root, _, files in os.walk(MAIL_DIR):
                if os.path.basename(root) != sub:
                    continue
                for f in files:
                    with open(os.path.join(root, f), errors="replace") as fh:
                        if any(line.rstrip("\r\n") == want for line in fh):
                            return True
        time.sleep(0.1)
    return False


class Page:
    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="chromium.", dir=E["T"])
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,900",
                  "--user-data-dir=" + self.profile, "--no-first-run", "--disable-extensions",
                  "--disable-background-networking"):
            opts.add_argument(a)
        self.d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        self.d.set_page_load_timeout(30)

    def wait(self, cond, seconds=10):
        return WebDriverWait(self.d, seconds).until(cond)

    def find(self, css):
        return self.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def shot(self, name):
        path = os.path.join(SHOTS, name + ".png")
        self.d.save_screenshot(path)

    def status(self):
        return self.d.find_element(By.ID, "status").text

    def login(self, name, password):
        self.d.get(URL + "/")
        self.find("#login-name").send_keys(name)
        self.d.find_element(By.ID, "login-password").send_keys(password)
        self.d.find_element(By.ID, "login-submit").click()
        self.find("#nav")
        self.wait(lambda d: name in d.find_element(By.ID, "who").text)

    def logout(self):
        self.d.find_element(By.ID, "logout").click()
        self.find("#login-form")

    def go(self, hash_):
        self.d.execute_script("location.hash = arguments[0]", hash_)

    def confirm_reason(self, reason):
        """Answers the reason dialog that a change opens, and waits for the outcome."""
        self.find("#reason-dialog[open] #reason-text").send_keys(reason)
        self.d.find_element(By.ID, "reason-ok").click()
        self.wait(lambda d: d.find_element(By.ID, "status").text != "")
        return self.status()


def case_a(p):
    rc, out = ctl("list", "add", "cidr", "127.0.0.12/30", "block", "--reason",
                  "browser INTERNAL ticket 77")
    if not check(rc == 0, "a: ingressctl list add cidr 127.0.0.12/30 block", out):
        return
    time.sleep(1.5)  # the milter reloads its lists snapshot at most once per second
    t = swaks("a-refused", "127.0.0.12", "good12.example.test", "user@example.net")
    refused = [r for r in replies(t) if r.startswith("554 5.7.1")]
    m = re.search(r"\(ref ([A-Za-z0-9]+)\)", refused[0]) if refused else None
    if not check(m is not None, "a: 127.0.0.12 is refused with 554 5.7.1 and a ref", t):
        return
    ref = m.group(1)
    time.sleep(0.5)  # the decision log is written in batches

    p.d.get(URL + "/")
    p.find("#login-form")
    p.shot("00-login")
    p.login("desk", "desk-secret-1")
    p.shot("01-why-empty")
    p.find("#why-key").send_keys(ref)
    p.d.find_element(By.ID, "why-submit").click()
    try:
        card = p.find(".decision")
    except TimeoutException:
        check(False, "a: searching the ref shows its decision", p.status())
        return
    text = card.text
    check("Check lists:" in text and "A block-list entry of this server matched" in text
          and ref in text and "127.0.0.12" in text,
          "a: searching the ref shows the check in plain words, the ref and the client", text)
    p.shot("02-why-refused")
    p.find(".decision button.unblock").click()
    status = p.confirm_reason("customer's office, ticket 78")
    check("done" in status, "a: Unblock with a reason says it is done", status)
    p.shot("03-why-unblocked")
    rc, out = ctl("list", "show")
    check((rc == 0 or "no entries" in out) and "127.0.0.12/30" not in out,
          "a: the block entry is gone from the store", out)
    accepted = False
    for i in range(6):  # within the lists' reload interval
        time.sleep(1)
        t = swaks("a-retried", "127.0.0.12", "good12.example.test", "user@example.net")
        r = replies(t)
        if any(x.startswith("250 2.0.0 Ok: queued") for x in r):
            accepted = True
            break
    check(accepted and delivered("a-retried"),
          "a: after the unblock, the retried message is accepted by Postfix and delivered", t)

    # a2. The same client under a wider block: "Unblock just IP" (POST /api/unblock) lets that
    # address alone through and leaves the block for the rest of the range.
    ctl("list", "add", "cidr", "127.0.0.12/30", "block", "--reason", "browser INTERNAL again")
    time.sleep(1.5)
    t = swaks("a2-refused", "127.0.0.12", "good12.example.test", "user@example.net")
    check(any(r.startswith("554 5.7.1") for r in replies(t)), "a2: blocked again: 554 5.7.1", t)
    time.sleep(0.5)
    p.go("why/127.0.0.12")
    p.find(".decision button.unblock-ip").click()
    status = p.confirm_reason("ticket 79: their server alone")
    check("Unblock 127.0.0.12:" in status and "within" in status,
          "a2: Unblock just IP says when it takes effect", status)
    try:
        change = p.wait(lambda d: [c for c in d.find_elements(By.CSS_SELECTOR, ".change")
                                   if "ticket 79" in c.text], 5)[0].text
    except TimeoutException:
        change = p.d.find_element(By.ID, "why-results").text
    check("desk" in change and "ticket 79" in change,
          "a2: the page then shows the change among the decisions, with who and why", change)
    rc, out = ctl("list", "show")
    check(re.search(r"cidr +127\.0\.0\.12/30 +block", out) is not None
          and re.search(r"cidr +127\.0\.0\.12(/32)? +allow", out) is not None,
          "a2: the /30 block stays, an allow entry of 127.0.0.12 alone is added", out)
    accepted = False
    for i in range(6):
        time.sleep(1)
        t = swaks("a2-retried", "127.0.0.12", "good12.example.test", "user@example.net")
        if any(x.startswith("250 2.0.0 Ok: queued") for x in replies(t)):
            accepted = True
            break
    check(accepted and delivered("a2-retried"),
          "a2: the retried message from 127.0.0.12 is accepted and delivered", t)
    p.logout()


def case_b(p):
    rc, out = ctl("account", "limits", E["BOB"], "minute=0/0", "hour=1/100")
    check(rc == 0, "b: bob may send 1 message an hour", out)
    submit("b-first", "first of the hour")
    subject = '<img src=x onerror="window.pwned=1">held b'
    t = submit("b-held", subject)
    m = re.search(r"queued as ([0-9A-Za-z]+)", t)
    if not check(m is not None, "b: bob's second message is accepted into the hold queue", t):
        return
    qid = m.group(1)
    for _ in range(30):
        rc, out = ctl("held", "list")
        if qid in out:
            break
        time.sleep(0.1)
    check(qid in out, "b: ingressctl held list shows " + qid, out)

    p.login("pm", "pm-secret-1")
    p.go("held")
    try:
        row = p.find(f'[data-queue-id="{qid}"]').find_element(By.XPATH, "./ancestor::tr")
    except TimeoutException:
        check(False, "b: the held page lists " + qid, p.status())
        return
    check(E["BOB"] in row.text and "limit 1" in row.text and subject in row.text
          and p.d.execute_script("return window.pwned") is None
          and not p.d.find_elements(By.CSS_SELECTOR, "#held-list img"),
          "b: the held page shows the account, the reason and the subject (as text: no markup "
          "from the message runs)", row.text)
    row.find_element(By.CSS_SELECTOR, "button.preview").click()
    p.find("#held-preview .card")
    try:
        headers = p.find("#held-preview pre.headers").text
    except TimeoutException:
        headers = p.d.find_element(By.ID, "held-preview").text
    check("X-E2E-Case: b-held" in headers and "Subject: " + subject in headers,
          "b: Preview shows the held message's header fields from Postfix's queue", headers)
    p.shot("04-held")
    check(not delivered("b-held", 1), "b: the held message is in no mailbox before the release")
    row.find_element(By.CSS_SELECTOR, "button.release").click()
    status = p.confirm_reason("checked with bob by phone")
    check("done" in status, "b: Release with a reason says it is done", status)
    check(delivered("b-held"), "b: the released message lands in the maildir",
          subprocess.run(["postqueue", "-c", E["PF_CONF"], "-j"], capture_output=True,
                         text=True).stdout)
    rc, out = ctl("held", "show", qid)
    check("released" in out and "pm via console from 127.0.0.1" in out
          and "checked with bob by phone" in out,
          "b: ingressctl held show records the release by pm via the console, and why", out)
    p.shot("05-held-released")
    p.go("lists")
    p.find("#lists-table")
    p.shot("06-lists")
    p.go("stats")
    time.sleep(0.5)
    p.shot("07-stats")
    p.logout()


def case_c_d(p):
    rc, out = ctl("account", "add", E["BOB"])
    check(rc == 0, "c: bob's account is in the store", out)
    p.login("desk", "desk-secret-1")
    p.go("accounts/" + E["BOB"])
    p.find(".account-controls button.unthrottle")
    time.sleep(1)  # the account's document and charts
    p.shot("08-account-support")
    check(not p.d.find_elements(By.CSS_SELECTOR, "button.suspend"),
          "c: support's account page has no Suspend control")
    status = p.d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch("/api/accounts/" + encodeURIComponent(arguments[0]) + "/suspend", {
            method: "POST", credentials: "same-origin",
            headers: {"Content-Type": "application/json", "X-CSRF-Token": state.csrf},
            body: JSON.stringify({reason: "trying anyway"})}).then(r => done(r.status));
        """, E["BOB"])
    check(status == 403, "c: the console refuses support's suspend call with 403 "
          "(needs console-accounts' endpoint)", status)
    rc, out = ctl("account", "show", E["BOB"], "--json")
    try:
        shown = json.loads(out)
    except ValueError:
        shown = None
    check(rc == 0 and isinstance(shown, list) and len(shown) == 1
          and shown[0]["suspended"] is None, "c: the account is not suspended in the store", out)

    p.d.refresh()
    try:
        p.find("#nav")
        ok = "desk" in p.d.find_element(By.ID, "who").text
    except TimeoutException:
        ok = False
    check(ok and not p.d.find_element(By.ID, "page-login").is_displayed(),
          "d: a reload keeps the session without a new login")
    p.d.set_window_size(390, 844)
    p.go("why/127.0.0.12")
    p.find(".decision")
    p.shot("09-why-phone")


def queued(qid):
    """Is qid in the test Postfix's queue (any queue)?"""
    out = subprocess.run(["postqueue", "-c", E["PF_CONF"], "-j"], capture_output=True, text=True,
                         timeout=30).stdout
    return any(json.loads(l).get("queue_id") == qid for l in out.splitlines() if l.strip())


def postmaster(p):
    """The postmaster logged in on a desktop-sized window, whoever was before."""
    p.d.set_window_size(1200, 900)
    if p.d.find_element(By.ID, "who").text.startswith("pm "):
        return
    if p.d.find_elements(By.CSS_SELECTOR, "#nav:not([hidden])"):
        p.logout()
    p.login("pm", "pm-secret-1")


def decide(p, reason, outcome):
    """Gives the reason the open dialog asks for and confirms; the status line once it says
    outcome or an error (the line may still hold the outcome of a change before)."""
    p.find("#reason-dialog[open] #reason-text").send_keys(reason)
    p.d.find_element(By.ID, "reason-ok").click()
    try:
        p.wait(lambda d: p.status().startswith(outcome)
               or "error" in d.find_element(By.ID, "status").get_attribute("class"))
    except TimeoutException:
        pass
    return p.status()


def case_e(p):
    postmaster(p)
    t = submit("e-held", "held e, to be rejected")
    m = re.search(r"queued as ([0-9A-Za-z]+)", t)
    if not check(m is not None, "e: bob's message over his limit is held", t):
        return
    qid = m.group(1)
    try:
        WebDriverWait(None, 10, 0.2).until(lambda _: qid in ctl("held", "list")[1])
    except TimeoutException:
        check(False, "e: ingressctl held list shows " + qid, ctl("held", "list")[1])
        return
    p.d.find_element(By.ID, "nav-held").click()
    try:
        p.find(f'[data-queue-id="{qid}"] button.reject').click()
    except TimeoutException:
        check(False, "e: the held page lists " + qid + " with a Reject button", p.status())
        return
    p.find("#reason-dialog[open]")
    p.shot("10-held-reject")
    status = decide(p, "phishing run, ticket 80", "Reject " + qid)
    check(status == "Reject " + qid + ": done.", "e: Reject with a reason says it is done",
          status)
    try:
        p.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, f'[data-queue-id="{qid}"]'))
        gone = True
    except TimeoutException:
        gone = False
    check(gone, "e: the rejected message leaves the held page", p.d.find_element(
        By.ID, "held-list").text)
    p.shot("11-held-rejected")
    check(not queued(qid), "e: the rejected message is no longer in Postfix's queue")
    rc, out = ctl("held", "show", qid)
    check("held reject by pm (console from 127.0.0.1)" in out
          and "why: phishing run, ticket 80" in out,
          "e: ingressctl held show records the reject by pm via the console, and why", out)
    rc, out = ctl("why", qid)
    check("later rejected by pm via console from 127.0.0.1" in out
          and "phishing run, ticket 80" in out,
          "e: ingressctl why QUEUEID says who rejected it and why", out)
    check(not delivered("e-held", 1), "e: the rejected message is in no mailbox")


def account_shown(p):
    """The account page's fields as the page shows them, by name."""
    return p.d.execute_script("""
        const out = {};
        for (const dt of document.querySelectorAll("#account-detail .account-doc dt"))
            out[dt.textContent] = dt.nextElementSibling.textContent;
        return out;""")


def account_cli():
    rc, out = ctl("account", "show", E["BOB"], "--json")
    try:
        return json.loads(out)[0]
    except (ValueError, IndexError, KeyError):
        return {"error": out}


def case_f(p):
    postmaster(p)
    p.go("accounts/" + E["BOB"])
    steps = (("suspend", "Suspend", "abuse report, ticket 81", "12-account-suspended"),
             ("resume", "Resume", "customer cleaned up, ticket 82", "13-account-resumed"))
    for button, verb, reason, shot in steps:
        try:
            p.find(f".account-controls button.{button}").click()
        except TimeoutException:
            check(False, f"f: the postmaster's account page has a {verb} button", p.status())
            return
        status = decide(p, reason, f"{verb} {E['BOB']}")
        check(status == f"{verb} {E['BOB']}: done.", f"f: {verb} with a reason says it is done",
              status)
        cli = account_cli()
        # Times read as the browser writes a date, not as seconds since 1970.
        since = p.d.execute_script("return new Date(arguments[0] * 1000).toLocaleString()",
                                   cli.get("suspended")) if cli.get("suspended") else ""
        want = {"state": cli.get("state"), "suspended": since,
                "suspend_reason": cli.get("suspend_reason")}
        try:
            p.wait(lambda d: all(account_shown(p).get(k) == v for k, v in want.items()))
            shown = True
        except TimeoutException:
            shown = False
        check(shown and (cli.get("suspended") is not None) == (button == "suspend")
              and (cli.get("state") == "suspended") == (button == "suspend"),
              f"f: after {verb} the page shows the state ingressctl account show gives, and "
              "since when as a date",
              f"page {account_shown(p)}\ncli {dict((k, cli.get(k)) for k in want)}")
        p.shot(shot)
        rc, out = ctl("why", E["BOB"])
        check(re.search(rf"account {button} by pm \(console from 127\.0\.0\.1\).*"
                        rf"why: {re.escape(reason)}", out) is not None,
              f"f: ingressctl why ACCOUNT records the {button} by pm via the console, and why",
              out)


def case_g(p):
    for value, reason in (("spam-g@lists.example", "browser lists case, ticket 83"),
                          ("other-g@lists.example", "browser lists case, another")):
        rc, out = ctl("list", "add", "sender", value, "block", "--reason", reason)
        check(rc == 0, "g: ingressctl list add sender " + value + " block", out)
    postmaster(p)
    p.d.find_element(By.ID, "nav-lists").click()
    box = p.find("#lists-q")
    box.clear()
    box.send_keys("spam-g")
    p.d.find_element(By.ID, "lists-submit").click()

    def results(d):
        """The rows of the search's answer (the page first lists every entry: not those)."""
        text = d.find_element(By.ID, "lists-table").text
        return "other-g@lists.example" not in text and [
            r for r in d.find_elements(By.CSS_SELECTOR, "#lists-table tbody tr")
            if "spam-g@lists.example" in r.text]

    try:
        row = p.wait(results)[0]
    except TimeoutException:
        row = None
    table = p.d.find_element(By.ID, "lists-table").text
    if not check(row is not None and "ticket 83" in row.text,
                 "g: searching finds the block entry with its reason, and not the other", table):
        return
    p.shot("14-lists-search")
    row.find_element(By.CSS_SELECTOR, "button.unblock").click()
    status = decide(p, "not spam after all, ticket 84", "Unblock sender spam-g")
    check(status == "Unblock sender spam-g@lists.example: done.",
          "g: Unblock with a reason says it is done", status)
    try:
        p.wait(lambda d: "spam-g@lists.example" not in d.find_element(By.ID, "lists-table").text)
        gone = True
    except TimeoutException:
        gone = False
    check(gone, "g: the entry leaves the search's results",
          p.d.find_element(By.ID, "lists-table").text)
    p.shot("15-lists-unblocked")
    rc, out = ctl("list", "show")
    check("spam-g@lists.example" not in out and "other-g@lists.example" in out,
          "g: ingressctl list show no longer has the entry, and still has the other", out)


def stats_cli():
    rc, out = ctl("stats", "--since", "24h", "--json")
    try:
        return {(r["check"], r["action"]): r["count"] for r in json.loads(out)["decisions"]}
    except (ValueError, KeyError, TypeError):
        return {"error": out}


def stats_shown(p):
    """The stats page's table rows and its chart's bars ("check action: count"), as dicts."""
    table, chart = {}, {}
    for r in p.d.find_elements(By.CSS_SELECTOR, "#stats-chart tbody tr"):
        cells = [c.text for c in r.find_elements(By.TAG_NAME, "td")]
        if len(cells) == 3 and cells[2].isdigit():
            table[(cells[0], cells[1])] = int(cells[2])
    titles = p.d.execute_script("""return Array.from(
        document.querySelectorAll("#stats-chart svg rect > title"), t => t.textContent);""")
    for t in titles:
        m = re.fullmatch(r"(\S+) (\S+): (\d+)", t)
        if m:
            chart[(m.group(1), m.group(2))] = int(m.group(3))
    return table, chart


def case_h(p):
    postmaster(p)
    last = {}

    def agree(d):
        """The page against the CLI; a decision written between the two is caught next time:
        the page is drawn again (Why, then Last 24 hours) as a person would."""
        cli = stats_cli()
        d.find_element(By.ID, "nav-why").click()
        d.find_element(By.ID, "nav-stats").click()
        try:
            WebDriverWait(d, 10).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, "#stats-chart tbody tr"))
        except TimeoutException:
            pass
        last["cli"], (last["table"], last["chart"]) = cli, stats_shown(p)
        return cli and "error" not in cli and last["table"] == cli and last["chart"] == cli

    try:
        p.wait(agree, 30)
        same = True
    except TimeoutException:
        same = False
    check(same and sum(last["cli"].values()) > 0,
          "h: the stats page's table and chart show the counts of ingressctl stats --since 24h",
          f"cli {last.get('cli')}\ntable {last.get('table')}\nchart {last.get('chart')}")
    # The label and the period agree: the nav and the heading say the last 24 hours, and the
    # period the page shows starts 24 hours before now (not at a midnight; 2 minutes of margin
    # for a loaded machine between the console's clock read and this one).
    nav = p.d.find_element(By.ID, "nav-stats").text
    heading = p.d.find_element(By.CSS_SELECTOR, "#page-stats h2").text
    try:
        period = p.find("#stats-chart .stats-period")
        since, said = int(period.get_attribute("data-since")), period.text
    except (TimeoutException, TypeError, ValueError):
        since, said = None, p.d.find_element(By.ID, "stats-chart").text[:200]
    check(nav == "Last 24 hours" and "last 24 hours" in heading.lower()
          and since is not None and abs(since - (time.time() - 86400)) <= 120
          and "last 24 hours" in said,
          "h: the nav says Last 24 hours, and the page's period is the 24 hours up to now",
          f"nav {nav!r}, heading {heading!r}, since {since} (now - 86400 = "
          f"{int(time.time()) - 86400}), {said!r}")
    p.shot("16-stats")


def case_i(p):
    # More held rows than the page lists, written into the store as the milter writes them (the
    # queue ids are in no MTA queue: nothing here asks the MTA), older than bob's.
    import sqlite3
    now = int(time.time())
    db = sqlite3.connect(os.path.join(E["T"], "ingress.db"), timeout=30)
    with db:
        db.executemany(
            "INSERT INTO held (queue_id, held_at, account, sender, recipients, nrcpt, subject,"
            " size, reason) VALUES (?,?,?,?,?,?,?,?,?)",
            ((f"BULK{i:06X}", now - 86400 - i, "bulk@example.test", "bulk@example.test",
              "user@example.net", 1, f"Newsletter {i}", 2000, "1h window: 301 messages > limit 300")
             for i in range(230)))
    total = db.execute("SELECT COUNT(*) FROM held WHERE state = 'held'").fetchone()[0]
    oldest = {r[0] for r in db.execute("SELECT queue_id FROM held WHERE state = 'held'"
                                       " ORDER BY held_at LIMIT 200")}
    db.close()
    postmaster(p)
    p.d.find_element(By.ID, "nav-held").click()
    want = f"The oldest 200 of {total} held messages"
    try:
        note = p.wait(lambda d: [n.text for n in d.find_elements(By.CSS_SELECTOR,
                                                                 "#page-held .note") if n.text],
                      20)[0]
    except TimeoutException:
        note = p.d.find_element(By.ID, "page-held").text[:300]
    shown = set(p.d.execute_script("""return Array.from(
        document.querySelectorAll("#held-list [data-queue-id]"), e => e.dataset.queueId);"""))
    check(want in note and shown == oldest,
          f"i: with {total} held in the store the held page lists the oldest 200 and says of "
          f"how many", f"{note!r}; {len(shown)} shown, {len(shown - oldest)} not of the oldest")
    # The note says the counts by account below it are of the 200: they must be below it.
    order = p.d.execute_script("""
        const note = document.querySelector("#page-held .note");
        const count = document.querySelector("#held-accounts .bulk-release");
        return note && count ? [note.getBoundingClientRect().top,
                                count.getBoundingClientRect().top] : null;""")
    check(order is not None and order[0] < order[1],
          "i: the counts by account come below the note that says they are of these 200", order)
    p.shot("17-held-oldest")


def public_fix(p, ref):
    """What the remote sender's page of ref shows as what to fix (the public listener)."""
    p.d.get(E["PUBLIC_URL"] + "/why/" + ref)
    try:
        return p.find("p.fix").text
    except TimeoutException:
        return p.d.find_element(By.TAG_NAME, "body").text[:300]


def case_j(p):
    """j. the postmaster edits the block list's explanation on the "Sender page" page; the remote
    sender's page of a block-list refusal (the milter's, from the decision log) shows it, and
    after "Use the built-in text" the built-in one again; support has no such page."""
    import sqlite3
    db = sqlite3.connect(os.path.join(E["T"], "ingress.db"), timeout=30)
    row = db.execute("SELECT ref FROM decisions WHERE check_name = 'lists' AND action = 'reject'"
                     " AND ref IS NOT NULL ORDER BY time DESC LIMIT 1").fetchone()
    db.close()
    if not check(row is not None, "j: the decision log has a block-list refusal with a ref"):
        return
    ref = row[0]
    builtin = public_fix(p, ref)
    p.d.get(URL + "/")
    postmaster(p)
    p.d.find_element(By.ID, "nav-explain").click()
    text = "Call our desk at +1 555 0100 & quote the reference: <b>we unblock within a day</b>."
    try:
        box = p.find('.explanation[data-check="lists"] textarea')
    except TimeoutException:
        check(False, "j: the postmaster's Sender page has the lists text to edit", p.status())
        return
    check(box.get_attribute("value") == builtin,
          "j: the page shows the lists check's built-in text, as the public page does",
          f"{box.get_attribute('value')!r}\n{builtin!r}")
    box.clear()
    box.send_keys(text)
    p.find('.explanation[data-check="lists"] button.save').click()
    status = decide(p, "ticket 85: our own words", "Set what the page says")
    check(status == "Set what the page says to fix for lists: done.",
          "j: Save with a reason says it is done", status)
    p.wait(lambda d: d.find_elements(By.CSS_SELECTOR,
                                     '.explanation[data-check="lists"] button.reset'))
    p.d.execute_script("arguments[0].scrollIntoView()",
                       p.find('.explanation[data-check="lists"]'))
    p.shot("18-explain-edited")
    shown = public_fix(p, ref)
    check(shown == text, "j: the remote sender's page of the ref shows the edited text",
          f"{shown!r}")
    p.shot("19-public-edited")
    p.d.get(URL + "/#explain")
    p.find('.explanation[data-check="lists"] button.reset').click()
    status = decide(p, "ticket 86: back to the default", "Back to the built-in")
    check(status == "Back to the built-in text for lists: done.",
          "j: Use the built-in text with a reason says it is done", status)
    check(public_fix(p, ref) == builtin, "j: the public page shows the built-in text again",
          public_fix(p, ref))
    rc, out = ctl("why", "lists")
    check("explain set by pm (console from 127.0.0.1)" in out and "ticket 85" in out
          and "ticket 86" in out, "j: ingressctl why lists records both changes, who and why",
          out)
    p.d.get(URL + "/")
    p.find("#nav")
    p.logout()
    p.login("desk", "desk-secret-1")
    check(not p.d.find_element(By.ID, "nav-explain").is_displayed(),
          "j: support's nav has no Sender page")
    p.logout()

def main():
    # This test's own screenshots of an earlier run ("NN-name.png"); the directory is shared with
    # the remote sender's page test (public-*.png), which may be writing at the same time.
    if os.path.isdir(SHOTS):
        for f in os.listdir(SHOTS):
            if re.fullmatch(r"\d\d-[a-z-]+\.png", f):
                os.unlink(os.path.join(SHOTS, f))
    p = Page()
    try:
        for case in (case_a, case_b, case_c_d, case_e, case_f, case_g, case_h, case_i, case_j):
            try:
                case(p)
            except Exception as e:  # a page that does not answer: the case fails, the rest run
                check(False, f"{case.__name__}: the page answered", repr(e))
                p.shot("failed-" + case.__name__)
                p.d.get(URL + "/")
                p.d.delete_all_cookies()
        logs = p.d.get_log("browser")
        errors = [l for l in logs if l.get("level") == "SEVERE"
                  and "Failed to load resource" not in l.get("message", "")]
        check(not errors, "no script error or CSP violation in the browser's console", errors)
    finally:
        p.d.quit()
        shutil.rmtree(p.profile, ignore_errors=True)
    print("# screenshots: " + SHOTS)
    return 1 if testlib.failed else 0


sys.exit(main())
