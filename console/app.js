/*
 * The support desk's page for ingress-console: every part is drawn here from the console's JSON
 * API (/api/...), which is where each rule is enforced (roles, CSRF, reasons); the page only
 * hides controls a role cannot use.
 *
 * Every string from the API is untrusted (a sender, a subject, a header came from the network):
 * it reaches the page only as textContent or an SVG text node, never as HTML.  Every change asks
 * for a reason and sends the session's CSRF token in X-CSRF-Token.
 */
"use strict";

const state = { user: null, role: null, csrf: null, total: null };

/* ---- small helpers ---- */

const $ = (id) => document.getElementById(id);

/* el("td", {class: "x", "data-label": "Age"}, child...): children are nodes or text. */
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick") e.addEventListener("click", v);
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

function say(text, kind) {
  const s = $("status");
  s.textContent = text || "";
  s.className = kind || "";
}

class ApiError extends Error {
  constructor(status, text) {
    super(text);
    this.status = status;
  }
}

/* One call of the API: the parsed JSON answer, or an ApiError with the console's own words. */
async function api(method, path, body) {
  const headers = {};
  if (method !== "GET") headers["X-CSRF-Token"] = state.csrf || "";
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch("/api/" + path, {
    method,
    headers,
    credentials: "same-origin",
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  let doc = null;
  try {
    doc = await r.json();
  } catch (e) {
    doc = null;
  }
  /* a paged list's total (GET /api/held?limit=...), or null */
  state.total = r.headers.get("X-Total-Count");
  if (!r.ok) {
    const text = doc && typeof doc.error === "string" ? doc.error : "HTTP " + r.status;
    if (r.status === 401 && path !== "login") showLogin();
    throw new ApiError(r.status, text);
  }
  return doc;
}

/* Runs fn, showing its failure as text in the status line. */
async function attempt(fn) {
  try {
    return await fn();
  } catch (e) {
    say(e.message, "error");
    return undefined;
  }
}

const enc = encodeURIComponent;

function ago(t) {
  const s = Math.max(0, Math.floor(Date.now() / 1000) - t);
  if (s < 120) return s + " s";
  if (s < 7200) return Math.floor(s / 60) + " min";
  if (s < 172800) return Math.floor(s / 3600) + " h";
  return Math.floor(s / 86400) + " days";
}

function when(t) {
  return t ? new Date(t * 1000).toLocaleString() : "";
}

/* Asks for the reason of a change; resolves to the text, or null when cancelled. */
function askReason(title) {
  const d = $("reason-dialog");
  $("reason-title").textContent = title;
  $("reason-text").value = "";
  return new Promise((resolve) => {
    d.addEventListener(
      "close",
      () => {
        const text = $("reason-text").value.trim();
        resolve(d.returnValue === "ok" && text !== "" ? text : null);
      },
      { once: true }
    );
    d.showModal();
    $("reason-text").focus();
  });
}

/* A change: asks the reason, calls the API, says the outcome, then redraws with after(). */
async function change(title, method, path, extra, after) {
  const reason = await askReason(title);
  if (reason === null) {
    say("Cancelled: a change needs a reason.", "error");
    return;
  }
  const doc = await attempt(() => api(method, path, Object.assign({ reason }, extra || {})));
  if (doc === undefined) return;
  say(title + ": done.", "ok");
  if (after) await after(doc);
}

function table(columns, rows) {
  const head = el("tr", {}, ...columns.map((c) => el("th", {}, c)));
  const body = rows.map((cells) =>
    el(
      "tr",
      {},
      ...cells.map((c, i) =>
        el("td", { "data-label": columns[i], class: columns[i] === "" ? "actions" : "" }, c)
      )
    )
  );
  return el("table", {}, el("thead", {}, head), el("tbody", {}, ...body));
}

/* ---- charts: inline SVG, drawn here ---- */

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}

/* Bars of points [{label, value}] with optional horizontal lines [{value, label, color}]. */
function barChart(title, points, lines) {
  const W = 640, H = 220, left = 44, bottom = 36, top = 24;
  const finite = (v) => (Number.isFinite(v) ? v : 0);
  points = points.map((p) => Object.assign({}, p, { value: finite(p.value) }));
  lines = lines.filter((l) => Number.isFinite(l.value) && l.value > 0);
  const max = Math.max(1, ...points.map((p) => p.value), ...lines.map((l) => l.value));
  const y = (v) => top + (H - top - bottom) * (1 - v / max);
  const root = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img" });
  root.append(svg("title", {}, title));
  root.append(svg("text", { x: left, y: 14 }, title));
  root.append(svg("line", { x1: left, y1: y(0), x2: W - 8, y2: y(0), stroke: "#888" }));
  root.append(svg("text", { x: 4, y: y(max) + 4 }, String(Math.round(max * 10) / 10)));
  root.append(svg("text", { x: 4, y: y(0) + 4 }, "0"));
  const step = (W - left - 8) / Math.max(1, points.length);
  const every = Math.ceil(points.length / 12);
  points.forEach((p, i) => {
    const h = y(0) - y(p.value);
    const bar = svg("rect", {
      x: left + i * step + step * 0.15, y: y(p.value), width: step * 0.7, height: h,
      fill: p.color || "#3c6bb4",
    });
    bar.append(svg("title", {}, p.label + ": " + p.value));
    root.append(bar);
    if (i % every === 0)
      root.append(svg("text", { x: left + i * step, y: H - bottom + 14 }, p.label));
  });
  lines.forEach((l, i) => {
    root.append(svg("line", {
      x1: left, y1: y(l.value), x2: W - 8, y2: y(l.value), stroke: l.color,
      "stroke-dasharray": "5 3", "stroke-width": 2,
    }));
    root.append(svg("text", { x: left + 8 + i * 170, y: y(l.value) - 4, fill: l.color },
      l.label + " " + Math.round(l.value * 10) / 10));
  });
  return root;
}

/* ---- pages ---- */

const pages = ["login", "why", "held", "accounts", "lists", "stats", "explain"];

function showPage(name) {
  for (const p of pages) $("page-" + p).hidden = p !== name;
  for (const a of document.querySelectorAll("nav a"))
    a.classList.toggle("current", a.id === "nav-" + name);
}

function showLogin() {
  state.user = state.role = state.csrf = null;
  $("nav").hidden = true;
  showPage("login");
}

function loggedIn(doc) {
  state.user = doc.user;
  state.role = doc.role;
  state.csrf = doc.csrf_token;
  $("who").textContent = doc.user + " (" + doc.role + ")";
  $("nav").hidden = false;
  document.body.dataset.role = doc.role;
  route();
}

async function route() {
  if (!state.csrf) return showLogin();
  const hash = decodeURIComponent(location.hash.replace(/^#/, ""));
  const [page, ...rest] = hash.split("/");
  const arg = rest.join("/");
  say("");
  switch (page) {
    case "held":
      showPage("held");
      return drawHeld();
    case "accounts":
      showPage("accounts");
      return arg ? drawAccount(arg) : drawAccounts();
    case "lists":
      showPage("lists");
      $("lists-q").value = arg;
      return drawLists(arg);
    case "stats":
      showPage("stats");
      return drawStats();
    case "explain":
      if (state.role !== "postmaster") break;
      showPage("explain");
      return drawExplain();
  }
  showPage("why");
  if (arg) {
    $("why-key").value = arg;
    return drawWhy(arg);
  }
}

/* ---- why ---- */

/* The check's meaning for a person on the phone with a customer. */
const checkWords = {
  lists: "A block-list entry of this server matched the client or the sender.",
  iprev: "The client's IP address has no name (PTR record) that points back to it.",
  spf: "The sender's domain says (SPF) this server may not send its mail.",
  dkim: "The message's DKIM signature did not verify.",
  dmarc: "The sender's domain asks (DMARC) for mail that fails SPF and DKIM to be refused or held.",
  dnsbl: "The client's IP address is on a public block list (DNSBL).",
  greylist: "Greylisting: the first try from an unknown client is deferred on purpose. A real " +
    "mail server tries again within minutes and then gets through; nothing needs to be done.",
  throttle: "The account sent more than its limit: the message is held for review.",
  submission: "The authenticated account sent as an address it does not own.",
  suspended: "The account is suspended.",
  rules: "The recipient's own rule refused this sender.",
};

function decisionCard(d) {
  const card = el("div", { class: "card decision" });
  card.append(el("p", { class: "words" }, "Check " + d.check + ": " + d.words));
  if (checkWords[d.check]) card.append(el("p", { class: "hint" }, checkWords[d.check]));
  const dl = el("dl");
  const add = (k, v) => {
    if (v !== null && v !== undefined && v !== "") dl.append(el("dt", {}, k), el("dd", {}, v));
  };
  add("When", when(d.time));
  add("Reference", d.ref);
  add("Queue id", d.queue_id);
  /* a client without a confirmed name is shown by the MTA as "[address]": said once */
  const named = d.client_name && !d.client_name.startsWith("[");
  add("Client", d.client_ip + (named ? " (" + d.client_name + ")" : ""));
  add("HELO", d.helo);
  add("From", d.sender);
  add("To", (d.recipients || []).join(", "));
  add("Account", d.account);
  add("What it saw", d.saw);
  add("The sender was told", d.reply);
  if (d.held) add("Held", d.held.state + (d.held.decided_by ? " by " + d.held.decided_by : ""));
  add("The postmaster can", d.postmaster);
  card.append(dl);
  const fix = fixFor(d);
  if (fix) card.append(fix);
  return card;
}

/* POST /api/unblock: this one address let through (its own block entries removed, or an allow
 * entry of it alone over a wider block or a DNSBL listing); says when the milters see it. */
function unblockIp(ip, after) {
  return el("button", {
    type: "button", class: "secondary unblock-ip",
    onclick: async () => {
      await change("Unblock " + ip + " alone", "POST", "unblock", { ip }, async (doc) => {
        if (doc && typeof doc.takes_effect === "string")
          say("Unblock " + ip + ": " + doc.takes_effect + ".", "ok");
        await after();
      });
    },
  }, "Unblock just " + ip);
}

/* The one-click fix the decision suggests, as buttons, or null. */
function fixFor(d) {
  const box = el("div", { class: "fix" });
  const redo = () => drawWhy($("why-key").value.trim());
  const m = /lists=block kind=(\S+) value=(\S+)/.exec(d.detail || "");
  if (d.check === "lists" && d.action === "reject" && m) {
    const [, kind, value] = m;
    box.append(
      el("button", {
        type: "button", class: "unblock",
        onclick: () => change("Unblock: remove the entry " + kind + " " + value, "DELETE",
          "lists/" + enc(kind) + "/" + value.split("/").map(enc).join("/"), {}, redo),
      }, "Unblock (remove " + kind + " " + value + ")")
    );
    if (d.client_ip && (kind === "cidr" || kind === "ip"))
      box.append(unblockIp(d.client_ip, redo));
    return box;
  }
  if (d.check === "throttle" || (d.held && d.held.state === "held")) {
    box.append(el("a", { href: "#held" }, "Review the held message"));
    if (d.account) box.append(el("a", { href: "#accounts/" + enc(d.account) }, "Account " + d.account));
    return box;
  }
  if (d.check === "dnsbl" && d.client_ip && d.action === "reject") {
    box.append(unblockIp(d.client_ip, redo));
    return box;
  }
  return null;
}

async function drawWhy(key) {
  const out = clear($("why-results"));
  const doc = await attempt(() => api("GET", "why?key=" + enc(key) + "&limit=20"));
  if (doc === undefined) return;
  if (doc.length === 0) {
    out.append(el("p", {}, "No decision found for " + key + "."));
    return;
  }
  for (const d of doc) out.append(d.type === "change" ? changeCard(d) : decisionCard(d));
}

/* A change made about the key (a list entry removed, a message released): who, from where, why. */
function changeCard(c) {
  const dl = el("dl");
  for (const [k, v] of [["When", when(c.time)], ["Who", c.who], ["From", c.source],
    ["Detail", c.detail], ["Why", c.reason]])
    if (v) dl.append(el("dt", {}, k), el("dd", {}, v));
  return el("div", { class: "card change" }, el("p", { class: "words" }, "Change: " + c.what), dl);
}

/* ---- held mail ---- */

/* The page lists at most this many held messages (the oldest first): a queue of thousands is
 * handled by account, whose Release all / Reject all act on every one of its messages. */
const HELD_PAGE = 200;

async function drawHeld() {
  const rows = await attempt(() => api("GET", "held?limit=" + HELD_PAGE));
  const total = Number(state.total);
  const list = clear($("held-list")), accounts = clear($("held-accounts"));
  clear($("held-preview"));
  if (rows === undefined) return;
  if (rows.length === 0) {
    list.append(el("p", {}, "No message is held."));
    return;
  }
  /* above the counts by account, which it says are of these */
  if (total > rows.length)
    accounts.append(el("p", { class: "note" }, "The oldest " + rows.length + " of " + total +
      " held messages; counts by account below are of these."));
  const postmaster = state.role === "postmaster";
  const byAccount = new Map();
  for (const h of rows) byAccount.set(h.account || "", (byAccount.get(h.account || "") || 0) + 1);
  for (const [account, n] of byAccount) {
    if (!account) continue;
    accounts.append(
      el("div", { class: "fix" },
        el("span", {}, account + ": " + n + " held"),
        el("button", {
          type: "button", class: "secondary bulk-release",
          onclick: () => change("Release every message of " + account, "POST", "held/release",
            { account }, drawHeld),
        }, "Release all"),
        postmaster
          ? el("button", {
            type: "button", class: "danger bulk-reject",
            onclick: () => change("Reject every message of " + account, "POST", "held/reject",
              { account }, drawHeld),
          }, "Reject all")
          : null)
    );
  }
  list.append(
    table(["Age", "Account", "Reason", "Subject", "From", ""],
      rows.map((h) => [
        ago(h.held_at),
        h.account ? el("a", { href: "#accounts/" + enc(h.account) }, h.account) : "",
        h.reason,
        h.subject_decoded || h.subject,
        h.sender,
        el("span", { "data-queue-id": h.queue_id },
          el("button", { type: "button", class: "secondary preview",
            onclick: () => drawPreview(h.queue_id) }, "Preview"),
          el("button", {
            type: "button", class: "release",
            onclick: () => change("Release " + h.queue_id, "POST", "held/" + enc(h.queue_id) +
              "/release", {}, drawHeld),
          }, "Release"),
          postmaster
            ? el("button", {
              type: "button", class: "danger reject",
              onclick: () => change("Reject " + h.queue_id, "POST", "held/" + enc(h.queue_id) +
                "/reject", {}, drawHeld),
            }, "Reject")
            : null),
      ]))
  );
}

async function drawPreview(id) {
  const out = clear($("held-preview"));
  const rows = await attempt(() => api("GET", "held/" + enc(id)));
  if (rows === undefined || rows.length === 0) return;
  const h = rows[0];
  out.append(el("h3", {}, "Message " + id));
  const dl = el("dl");
  for (const [k, v] of [["From", h.sender], ["To", (h.recipients || []).join(", ")],
    ["Subject", h.subject_decoded || h.subject], ["Size", h.size + " bytes"],
    ["Held", when(h.held_at)], ["Why", h.reason]])
    dl.append(el("dt", {}, k), el("dd", {}, v));
  out.append(el("div", { class: "card" }, dl));
  if (Array.isArray(h.headers))
    out.append(el("pre", { class: "headers" }, h.headers.map((p) => p[0] + ": " + p[1]).join("\n")));
  if (typeof h.body_start === "string") out.append(el("pre", { class: "body" }, h.body_start));
  if (!Array.isArray(h.headers) && typeof h.body_start !== "string")
    out.append(el("p", { class: "hint" }, "The MTA's queue shows no content for this message."));
}

/* ---- accounts ---- */

async function drawAccounts() {
  clear($("account-detail"));
  const out = clear($("account-list"));
  const rows = await attempt(() => api("GET", "accounts"));
  if (rows === undefined) return;
  out.append(table(["Account", "State"], rows.map((a) => [
    el("a", { href: "#accounts/" + enc(a.account) }, a.account), a.state,
  ])));
}

const accountTimes = new Set(["created", "suspended", "throttled"]);

async function drawAccount(name) {
  $("account-name").value = name;
  clear($("account-list"));
  const out = clear($("account-detail"));
  out.append(el("h3", {}, name));
  const controls = el("div", { class: "fix account-controls" });
  const redraw = () => drawAccount(name);
  const path = "accounts/" + enc(name);
  controls.append(el("button", {
    type: "button", class: "secondary unthrottle",
    onclick: () => change("Unthrottle " + name, "POST", path + "/unthrottle", {}, redraw),
  }, "Unthrottle"));
  /* Suspending and resuming are the postmaster's: support does not get the buttons (and the
   * API refuses them anyway). */
  if (state.role === "postmaster") {
    controls.append(
      el("button", {
        type: "button", class: "danger suspend",
        onclick: () => change("Suspend " + name, "POST", path + "/suspend", {}, redraw),
      }, "Suspend"),
      el("button", {
        type: "button", class: "secondary resume",
        onclick: () => change("Resume " + name, "POST", path + "/resume", {}, redraw),
      }, "Resume"));
  }
  out.append(controls);
  let doc = await attempt(() => api("GET", path));
  if (Array.isArray(doc)) doc = doc[0];
  if (doc !== undefined && doc !== null && typeof doc === "object") {
    /* the account's fields, and one level of the objects in it (its rates, its throttle); its
     * times (unix seconds) as dates */
    const dl = el("dl");
    const row = (k, v) => dl.append(el("dt", {}, k),
      el("dd", {}, v === null ? "" : accountTimes.has(k) ? when(v) : String(v)));
    for (const [k, v] of Object.entries(doc)) {
      if (v === null || typeof v !== "object") row(k, v);
      else if (!Array.isArray(v))
        for (const [k2, v2] of Object.entries(v))
          if (v2 === null || typeof v2 !== "object") row(k + " " + k2, v2);
    }
    out.append(el("div", { class: "card account-doc" }, dl));
  }
  for (const span of ["day", "week"]) {
    const r = await attempt(() => api("GET", path + "/rate?span=" + span));
    if (r === undefined) continue;
    const points = (r.points || []).map((p) => {
      const d = new Date(p.t * 1000);
      return {
        label: span === "day" ? d.getHours() + "h" : d.getMonth() + 1 + "/" + d.getDate(),
        value: p.messages,
      };
    });
    /* a limit or baseline is {messages, recipients} (or a plain number): the messages are drawn */
    const messages = (v) => (v !== null && typeof v === "object" ? v.messages : v);
    out.append(barChart("Messages per " + (span === "day" ? "hour, last day" : "day, last week"),
      points, [
        { value: messages(r.limit), label: "limit", color: "#a4262c" },
        { value: messages(r.adaptive_limit), label: "adaptive limit", color: "#c77c02" },
        { value: messages(r.baseline), label: "baseline", color: "#1e6b1e" },
      ]));
  }
}

/* ---- lists ---- */

async function drawLists(q) {
  const out = clear($("lists-table"));
  const rows = await attempt(() => api("GET", "lists" + (q ? "?q=" + enc(q) : "")));
  if (rows === undefined) return;
  const shown = rows; /* the console searches (GET /api/lists?q=) */
  if (shown.length === 0) {
    out.append(el("p", {}, "No entry" + (q ? " matches " + q : "") + "."));
    return;
  }
  out.append(table(["Kind", "Value", "Action", "Reason", "Added by", "Expires", ""],
    shown.map((e) => [
      e.kind, e.value, e.action + (e.expired ? " (expired)" : ""), e.reason, e.added_by,
      e.expires ? when(e.expires) : "never",
      el("button", {
        type: "button", class: e.action === "block" ? "unblock" : "secondary remove",
        onclick: () => change((e.action === "block" ? "Unblock " : "Remove ") + e.kind + " " +
          e.value, "DELETE", "lists/" + enc(e.kind) + "/" + e.value.split("/").map(enc).join("/"),
          {}, () => drawLists($("lists-q").value.trim())),
      }, e.action === "block" ? "Unblock" : "Remove"),
    ])));
}

/* ---- the last 24 hours' decisions ----
 * A rolling 24 hours, not "today" since a midnight: it is the same period at any hour (at 00:30 a
 * day since midnight would be half an hour of mail), it does not depend on whose midnight (the
 * console host's, or the support agent's in another time zone), and it is `ingressctl stats
 * --since 24h`, so the page and the postmaster's shell give the same counts. */

const actionColors = { reject: "#a4262c", tempfail: "#c77c02", hold: "#6b3fa0", accept: "#1e6b1e" };

async function drawStats() {
  const out = clear($("stats-chart"));
  const doc = await attempt(() => api("GET", "stats?since=24h"));
  if (doc === undefined) return;
  out.append(el("p", { class: "hint stats-period", "data-since": String(doc.since) },
    "From " + when(doc.since) + " to now: the last 24 hours, not since midnight."));
  const checks = (doc.checks || []).slice().sort((a, b) => b.count - a.count);
  if (checks.length === 0) {
    out.append(el("p", {}, "No decision in the last 24 hours."));
    return;
  }
  out.append(barChart("Decisions by check and action, last 24 hours", checks.map((c) => ({
    label: c.check + " " + c.action, value: c.count, color: actionColors[c.action] || "#3c6bb4",
  })), []));
  out.append(table(["Check", "Action", "Count"], checks.map((c) => [c.check, c.action, c.count])));
}

/* ---- the remote sender's page: what it says to fix, per check (postmaster) ---- */

async function drawExplain() {
  const out = clear($("explain-list"));
  const rows = await attempt(() => api("GET", "explanations"));
  if (rows === undefined) return;
  for (const e of rows) {
    const text = el("textarea", {
      class: "explain-text", rows: "3", maxlength: "600", "aria-label": "what to fix: " + e.check,
    });
    text.value = e.text;
    const path = "explanations/" + enc(e.check);
    out.append(el("div", { class: "card explanation", "data-check": e.check },
      el("p", { class: "words" }, e.check + ": " + e.title),
      text,
      el("p", { class: "hint" }, e.default ? "The built-in text." :
        "Set by " + e.set_by + ", " + when(e.set_at) + "."),
      el("div", { class: "fix" },
        el("button", {
          type: "button", class: "save",
          onclick: () => change("Set what the page says to fix for " + e.check, "PUT", path,
            { text: text.value }, drawExplain),
        }, "Save"),
        e.default ? null : el("button", {
          type: "button", class: "secondary reset",
          onclick: () => change("Back to the built-in text for " + e.check, "DELETE", path, {},
            drawExplain),
        }, "Use the built-in text"))));
  }
}

/* ---- wiring ---- */

/* Goes to a page; the same page again (a second search for the same key) is drawn again. */
function go(hash) {
  if (location.hash === "#" + hash) route();
  else location.hash = hash;
}

document.addEventListener("DOMContentLoaded", async () => {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const doc = await attempt(() => api("POST", "login", {
      name: $("login-name").value, password: $("login-password").value,
    }));
    $("login-password").value = "";
    if (doc !== undefined) loggedIn(doc);
  });
  $("logout").addEventListener("click", async () => {
    await attempt(() => api("POST", "logout", {}));
    showLogin();
  });
  $("why-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    go("why/" + enc($("why-key").value.trim()));
  });
  $("account-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    go("accounts/" + enc($("account-name").value.trim()));
  });
  $("lists-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    go("lists/" + enc($("lists-q").value.trim()));
  });
  window.addEventListener("hashchange", route);
  /* A reload keeps the session: the cookie stays, and /api/session gives the CSRF token again. */
  try {
    loggedIn(await api("GET", "session"));
  } catch (e) {
    showLogin();
  }
});
