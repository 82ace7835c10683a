#!/usr/bin/env bash
# The metrics listener of a live milter-ingress (metrics_listen), scraped under load.
#
#   tests/metrics/run.sh MILTER_BIN INGRESSCTL_BIN LOADGEN_BIN
#
# A milter with greylisting on, the NSD of tests/dns/ and metrics_listen on a free port, driven by
# tests/bench/loadgen.c (the MTA side of the milter protocol):
#   - new senders (greylisted at RCPT) and the benchmark's SPF-pass, DKIM-aligned sender (the
#     greylist bypass, then accepted), on several connections at once; then /metrics holds exactly
#     the transactions, connections, decisions, replies and greylist outcomes sent, the same
#     decision counts as `ingressctl stats --json` and as the decision log's table, DNS and store
#     histograms that are not empty and whose _count is their +Inf bucket and the sum of their
#     counters, and `promtool check metrics` (Debian's prometheus package, unpacked by
#     tests/metrics/promtool.sh) accepts the text;
#   - the counters survive a reload (SIGHUP);
#   - /health: 200 "ok"; 503 naming dns when the DNS server is gone and queries fail; 503 naming
#     the store while another process holds the database's write lock; 503 at once from a milter
#     whose resolver never answers (its own probe);
#   - HTTP clients that send garbage, overlong requests, or hold connections open without a word:
#     the milter stays up, holds a bounded number of them, drops the silent ones after its timeout,
#     and answers the next scrape;
#   - a metrics port in use: exit status 2, a message naming metrics_listen, and no database
#     created;
#   - `ingressctl stats`: its text and --since against rows of known times in the decision log.
set -euo pipefail
MILTER_BIN=$(realpath -- "${1:?usage: run.sh MILTER_BIN INGRESSCTL_BIN LOADGEN_BIN}")
CTL_BIN=$(realpath -- "${2:?usage: run.sh MILTER_BIN INGRESSCTL_BIN LOADGEN_BIN}")
LOADGEN_BIN=$(realpath -- "${3:?usage: run.sh MILTER_BIN INGRESSCTL_BIN LOADGEN_BIN}")
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/hardening/lib.sh
source "$HERE/../hardening/lib.sh"
hardening_init metrics
LOCK_PID=
metrics_undo() { [[ -n $LOCK_PID ]] && kill "$LOCK_PID" 2>/dev/null; true; }
CLEANUP_HOOK=metrics_undo

PROMTOOL=$("$HERE/promtool.sh")
start_nsd
HTTP_PORT=$(free_port)
URL=http://127.0.0.1:$HTTP_PORT
start_milter m "metrics_listen = 127.0.0.1:$HTTP_PORT" "greylist = yes" \
    "store_busy_timeout = 200ms" "dns_timeout = 300ms" "dns_tries = 1"
"$PYTHON" "$SRC_DIR/tests/bench/message.py" "$T/signed.eml" 4 >/dev/null

scrape() { curl -sS --max-time 10 "$URL/metrics"; }
# value TEXT SERIES: the sample of SERIES (name and labels as printed), 0 when absent
value() { awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }' <<<"$1"; }
expect_eq() { # NAME GOT WANT
    if [[ $2 == "$3" ]]; then ok "$1: $2"; else not_ok "$1" "got $2, want $3"; fi
}

# ---- load: new senders, greylisted; the SPF+DKIM sender, bypassed and accepted ----
RCPTS=user1@mx.metrics.example,user2@mx.metrics.example
NEW=12
KNOWN=18
"$LOADGEN_BIN" -s "unix:$MILTER_SOCK" -t 10000 -j -c 3 -m 4 -n $NEW -a 127.0.0.2 \
    -N good.example.test -H good.example.test -f 'new%n@neutral.e2e.test' -r "$RCPTS" \
    -e "$T/signed.eml" -I NEW >"$T/new.json" &
new_pid=$!
"$LOADGEN_BIN" -s "unix:$MILTER_SOCK" -t 10000 -j -c 3 -m 6 -n $KNOWN -a 127.0.0.2 \
    -N good.example.test -H good.example.test -f bench@e2e.test -r "$RCPTS" \
    -e "$T/signed.eml" -I KNOWN >"$T/known.json" || not_ok "loadgen (known)" "$(cat "$T/known.json")"
wait "$new_pid" || not_ok "loadgen (new)" "$(cat "$T/new.json")"
"$PYTHON" - "$T/new.json" "$T/known.json" >"$T/sent" <<'EOF'
import json, sys
new, known = (json.load(open(p)) for p in sys.argv[1:3])
print(new["replies"]["tempfail_4xx"], known["replies"]["continue_accept"],
      new["milter_connections"] + known["milter_connections"])
EOF
read -r new_deferred known_accepted connections <"$T/sent"
expect_eq "loadgen: every new sender deferred" "$new_deferred" $NEW
expect_eq "loadgen: every known sender accepted" "$known_accepted" $KNOWN

M=$(scrape)
echo "$M" >"$T/metrics.txt"
expect_eq "transactions_total = MAIL FROMs sent" \
    "$(value "$M" milter_ingress_transactions_total)" $((NEW + KNOWN))
expect_eq "connections_total = connections loadgen opened" \
    "$(value "$M" milter_ingress_connections_total)" "$connections"
expect_eq "messages_total = messages that reached end of data" \
    "$(value "$M" milter_ingress_messages_total)" $KNOWN
# loadgen takes one recipient a message from its -r pool.
expect_eq "greylist new = the new senders' messages" \
    "$(value "$M" 'milter_ingress_greylist_total{outcome="new"}')" $NEW
expect_eq "replies greylisted = the new senders' messages" \
    "$(value "$M" 'milter_ingress_replies_total{reply="greylisted"}')" $NEW
expect_eq "decisions greylist/tempfail = the new senders' messages" \
    "$(value "$M" 'milter_ingress_decisions_total{check="greylist",action="tempfail"}')" $NEW
expect_eq "greylist bypassed (SPF pass + aligned DKIM) = the known sender's messages" \
    "$(value "$M" 'milter_ingress_greylist_total{outcome="bypassed"}')" $KNOWN
expect_eq "decisions policy/accept = the known sender's messages" \
    "$(value "$M" 'milter_ingress_decisions_total{check="policy",action="accept"}')" $KNOWN
expect_eq "no decision row refused" "$(value "$M" milter_ingress_decision_log_refused_total)" 0

# The decision counts of /metrics, of `ingressctl stats --json` and of the table itself, once the
# decision log's writer has written its queue (it writes every 200 ms).
for ((i = 0; i < 50; i++)); do
    [[ $(value "$(scrape)" milter_ingress_decision_log_queue) == 0 ]] && break
    sleep 0.1
done
"$CTL_BIN" -d "$T/m.db" stats --json >"$T/stats.json"
"$PYTHON" - "$T/metrics.txt" "$T/stats.json" "$T/m.db" <<'EOF' >"$T/compare" 2>&1 && ok "decisions_total = ingressctl stats --json = the decisions table ($(cat "$T/compare"))" || not_ok "decisions_total = ingressctl stats --json = the decisions table" "$(cat "$T/compare")"
import json, re, sqlite3, sys
metrics = {}
for line in open(sys.argv[1]):
    m = re.match(r'milter_ingress_decisions_total\{check="([^"]*)",action="([^"]*)"\} (\d+)$', line)
    if m:
        metrics[(m[1], m[2])] = int(m[3])
stats = {(d["check"], d["action"]): d["count"] for d in json.load(open(sys.argv[2]))["decisions"]}
db = sqlite3.connect(sys.argv[3])
table = {(c, a): n for c, a, n in
         db.execute("SELECT check_name, action, COUNT(*) FROM decisions GROUP BY 1, 2")}
if not (metrics == stats == table) or not metrics:
    print("metrics", metrics, "stats", stats, "table", table)
    sys.exit(1)
print(sum(metrics.values()), "rows in", len(metrics), "pairs")
EOF

# Histograms: not empty, cumulative, _count = +Inf = the sum of the family's counters.
"$PYTHON" - "$T/metrics.txt" <<'EOF' >"$T/hist" 2>&1 && ok "DNS and store histograms consistent ($(cat "$T/hist"))" || not_ok "DNS and store histograms consistent" "$(cat "$T/hist")"
import re, sys
text = open(sys.argv[1]).read()
def samples(name):
    return [(labels, float(v)) for labels, v in
            re.findall(r'^milter_ingress_%s(\{[^}]*\})? (\S+)$' % name, text, re.M)]
out = []
for hist, counter in (("dns_query_duration_seconds", "dns_queries_total"),
                      ("store_transaction_duration_seconds", "store_transactions_total")):
    buckets = [v for _, v in samples(hist + "_bucket")]
    count = samples(hist + "_count")[0][1]
    total = sum(v for _, v in samples(counter))
    assert buckets == sorted(buckets), (hist, "not cumulative", buckets)
    assert buckets[-1] == count == total, (hist, buckets[-1], count, total)
    assert count > 0, (hist, "empty")
    assert samples(hist + "_sum")[0][1] > 0, (hist, "sum")
    out.append("%s %d" % (hist, count))
print(", ".join(out))
EOF

if "$PROMTOOL" check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1; then
    ok "promtool check metrics accepts the text"
else
    not_ok "promtool check metrics accepts the text" "$(head -n 5 "$T/promtool.out")"
fi

# ---- a reload keeps the counters ----
kill -HUP "$MILTER_PID"
for ((i = 0; i < 50; i++)); do
    M2=$(scrape)
    [[ $(value "$M2" 'milter_ingress_reloads_total{result="ok"}') == 1 ]] && break
    sleep 0.1
done
expect_eq "reloads_total{ok} after SIGHUP" "$(value "$M2" 'milter_ingress_reloads_total{result="ok"}')" 1
expect_eq "transactions_total kept across the reload" \
    "$(value "$M2" milter_ingress_transactions_total)" $((NEW + KNOWN))

# ---- /health ----
health() { curl -sS --max-time 20 -o "$T/health.body" -w '%{http_code}' "$URL/health"; }
code=$(health)
if [[ $code == 200 && $(cat "$T/health.body") == ok ]]; then ok "/health 200 ok"; else
    not_ok "/health 200 ok" "$code $(cat "$T/health.body")"; fi

# DNS gone: queries for names not in the cache fail (each sender a domain of its own).
"$NSD_CTL" stop "$NSD_DIR" >/dev/null 2>&1
"$LOADGEN_BIN" -s "unix:$MILTER_SOCK" -t 20000 -j -c 1 -m 4 -n 4 -a 127.0.0.2 \
    -N good.example.test -H good.example.test -f 'x@gone%n.e2e.test' -r "$RCPTS" \
    -e "$T/signed.eml" -I GONE >"$T/gone.json" || true
code=$(health)
if [[ $code == 503 ]] && grep -q '^dns: ' "$T/health.body"; then
    ok "/health 503 when DNS queries fail: $(head -n 1 "$T/health.body")"
else
    not_ok "/health 503 when DNS queries fail" "$code $(cat "$T/health.body")"
fi

# The store: another process holds the write lock past store_busy_timeout.
"$PYTHON" - "$T/m.db" "$T/locked" <<'EOF' &
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=5)
db.execute("BEGIN EXCLUSIVE")
open(sys.argv[2], "w").close()
time.sleep(30)
EOF
LOCK_PID=$!
for ((i = 0; i < 50; i++)); do
    [[ -e $T/locked ]] && break
    sleep 0.1
done
code=$(health)
# The listener's own probe says it at once, in SQLite's words (a failed transaction of the milter
# would say "a transaction failed (busy)" only after its busy timeout).
if [[ $code == 503 ]] && grep -q '^store: database is locked' "$T/health.body"; then
    ok "/health 503 while the store is locked: $(grep '^store: ' "$T/health.body")"
else
    not_ok "/health 503 while the store is locked" "$code $(cat "$T/health.body")"
fi
kill "$LOCK_PID" 2>/dev/null || true
wait "$LOCK_PID" 2>/dev/null || true
LOCK_PID=

# ---- hostile HTTP clients ----
fds_before=$(fd_count "$MILTER_PID")
"$PYTHON" - "$HTTP_PORT" "$MILTER_PID" "$fds_before" <<'EOF' >"$T/hostile.out" 2>&1 && ok "hostile HTTP clients: $(tail -n 1 "$T/hostile.out")" || not_ok "hostile HTTP clients" "$(cat "$T/hostile.out")"
import os, socket, sys, time
port, pid, fds_before = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s
def exchange(data):
    s = conn()
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    got = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    except OSError:
        pass
    s.close()
    return got
# Garbage, an unknown method, a huge header, binary bytes: a 4xx or a closed connection.
for data in (b"\x00\xff\x13garbage\r\n\r\n", b"BREW /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
             b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 200000 + b"\r\n\r\n",
             b"GET /" + b"%" * 70000 + b" HTTP/1.1\r\n\r\n", bytes(range(256)) * 64):
    reply = exchange(data)
    assert reply == b"" or reply.startswith(b"HTTP/1.1 4"), reply[:80]
# Silent clients: many connections that never send a byte.
idle = []
for _ in range(40):
    try:
        idle.append(conn())
    except OSError:
        pass
time.sleep(1)
held = len(os.listdir("/proc/%s/fd" % pid)) - fds_before
# libmicrohttpd's limits: 16 connections, 8 from one address (every client here is 127.0.0.1).
assert held <= 16, ("the milter holds", held, "HTTP connections")
print("opened", len(idle), "silent connections; the milter took", held)
# The server drops them after its timeout (5 s): each sees end of file or a reset.
deadline = time.time() + 12
closed = 0
for s in idle:
    s.settimeout(max(0.1, deadline - time.time()))
    try:
        if s.recv(1) == b"":
            closed += 1
    except ConnectionResetError:
        closed += 1
    except socket.timeout:
        pass
    s.close()
assert closed == len(idle), ("still open after the timeout", len(idle) - closed)
print("the milter closed all", closed, "silent connections")
EOF
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$URL/metrics" || true)
expect_eq "a scrape after the hostile clients" "$code" 200
check "the milter still runs after the hostile clients" kill -0 "$MILTER_PID"
fds_after=$(fd_count "$MILTER_PID")
check "no descriptor kept from the hostile clients ($fds_before before, $fds_after after)" \
    test "$fds_after" -le "$((fds_before + 2))"

stop_milter
expect_eq "stopped cleanly" "$MILTER_RC" 0
check "no sanitizer report" sanitizer_clean "$MILTER_LOG"

# ---- a resolver that never answers: /health's own probe says so at once ----
DEAD_PORT=$(free_port)
HTTP_PORT=$(free_port)
URL=http://127.0.0.1:$HTTP_PORT
start_milter dead "metrics_listen = 127.0.0.1:$HTTP_PORT" "dns_servers = 127.0.0.1:$DEAD_PORT" \
    "dns_timeout = 300ms" "dns_tries = 1"
code=$(health)
if [[ $code == 503 ]] && grep -q '^dns: the resolver does not answer' "$T/health.body"; then
    ok "/health 503 from a milter whose resolver never answered: $(cat "$T/health.body")"
else
    not_ok "/health 503 from a milter whose resolver never answered" "$code $(cat "$T/health.body")"
fi

# ---- a metrics port in use: exit 2 before anything is created ----
rc=0
"$MILTER_BIN" -f -o "socket=unix:$T/busy.sock" -o "database=$T/busy.db" -o "user=" \
    -o allow_root=yes -o "metrics_listen=127.0.0.1:$HTTP_PORT" 2>"$T/busy.err" || rc=$?
expect_eq "metrics port in use: exit status" "$rc" 2
if grep -q 'metrics_listen 127.0.0.1:[0-9]*: cannot listen: Address already in use' "$T/busy.err"; then
    ok "metrics port in use: $(grep -o 'metrics_listen.*' "$T/busy.err")"
else
    not_ok "metrics port in use: the message names metrics_listen" "$(cat "$T/busy.err")"
fi
check "metrics port in use: no database and no socket created" \
    test ! -e "$T/busy.db" -a ! -e "$T/busy.sock"
stop_milter

# ---- ingressctl stats on rows of known times ----
now=$(date +%s)
sqlite3 "$T/m.db" "INSERT INTO decisions (time, check_name, action) VALUES
    ($((now - 3 * 86400)), 'spf', 'reject'), ($((now - 3 * 86400)), 'spf', 'reject'),
    ($((now - 7200)), 'spf', 'reject'), ($((now - 60)), 'dnsbl', 'reject')"
out=$("$CTL_BIN" -d "$T/m.db" stats)
check "stats: every row counted" grep -Eq '^spf +reject +3$' <<<"$out"
out=$("$CTL_BIN" -d "$T/m.db" stats --since 1d)
check "stats --since 1d: the rows of the last day only" grep -Eq '^spf +reject +1$' <<<"$out"
out=$("$CTL_BIN" -d "$T/m.db" stats --since 30m --json)
check "stats --since 30m --json: the last half hour only" \
    "$PYTHON" -c 'import json, sys
d = {(r["check"], r["action"]): r["count"] for r in json.loads(sys.argv[1])["decisions"]}
sys.exit(not (d.get(("dnsbl", "reject")) == 1 and ("spf", "reject") not in d))' "$out"
rc=0
"$CTL_BIN" -d "$T/m.db" stats --since soon >/dev/null 2>"$T/stats.err" || rc=$?
expect_eq "stats --since soon: usage error" "$rc" 2

finish
