#!/usr/bin/python3
"""report.py DIR SMOKE REPEAT SLOW_DNS_MS HOLD_CONNS RSS_AFTER "COLD" "WARM" SKIP: the
figures and the targets block of tests/bench/run.sh, from what it left in DIR (loadgen JSON,
slowdns.py's query log, greylist_bench's output, smtp-source timings, the milters' logs, an
optional perf script).  Exits 1 when a scenario did not get the replies it must get (the
function check, judged in smoke mode too); targets are printed, never turned into an exit status.
"""
import glob
import json
import os
import re
import statistics
import sys

T = sys.argv[1]
SMOKE = sys.argv[2] == "1"
REPEAT = int(sys.argv[3])
SLOW_MS = float(sys.argv[4])
HOLD = int(sys.argv[5])
# COLD and WARM: "BASE IDLE PEAK" KiB of the memory figures (a fresh milter idle, with HOLD idle
# connections, at the peak with each sending a message); DNS cache cold, then warm.
RSS_AFTER = int(sys.argv[6])
MEMORY = {"cold": [int(x) for x in sys.argv[7].split()], "warm": [int(x) for x in sys.argv[8].split()]}
SKIP = sys.argv[9].split()
ok = True


def load(name):
    path = f"{T}/{name}.json"
    return json.load(open(path)) if os.path.exists(path) else None


def runs(name):
    return [j for j in (load(f"{name}.{i}") for i in range(1, REPEAT + 1)) if j is not None]


def median_run(name):
    """The run with the median throughput (its latencies are printed with it)."""
    rs = [(i, j) for i, j in ((i, load(f"{name}.{i}")) for i in range(1, REPEAT + 1)) if j]
    if not rs:
        return None, []
    ordered = sorted(rs, key=lambda ij: ij[1]["messages_per_second"])
    i, j = ordered[len(ordered) // 2]
    j["_cpu"] = cpu_per_message(f"{name}.{i}", j)
    return j, [j["messages_per_second"] for _, j in rs]


def cpu_per_message(name, j):
    """(milter, load generator) CPU microseconds a message in run NAME (j its JSON), or None."""
    path = f"{T}/{name}.cpu"
    if j is None or not os.path.exists(path) or "cpu_seconds" not in j or not j["messages"]:
        return None
    ticks, hz = open(path).read().split()
    n = j["messages"]
    return int(ticks) / int(hz) / n * 1e6, j["cpu_seconds"] / n * 1e6


def check(label, j, **want):
    """The function check: every message got the reply the scenario must give."""
    global ok
    if j is None:
        return
    n = j["messages"]
    bad = [f"errors={j['errors']}"] if j["errors"] else []
    for key, expect in want.items():
        got = j["headers_added"] if key == "headers_added" else j["replies"][key]
        if got != (n if expect == "all" else expect):
            bad.append(f"{key}={got} of {n}")
    if bad:
        print(f"FAIL: {label}: " + ", ".join(bad))
        ok = False


ROWS = [
    ("null milter, inet (TCP_NODELAY)", "null_inet", dict(continue_accept="all")),
    ("null milter, unix", "null_unix", dict(continue_accept="all")),
    ("null milter, every step answered, unix", "null_all_unix", dict(continue_accept="all")),
    ("Debian opendkim verify, unix", "opendkim_unix", dict(continue_accept="all", headers_added="all")),
    ("inbound-known, inet", "known_inet", dict(continue_accept="all", headers_added="all")),
    ("inbound-known, unix", "known_unix", dict(continue_accept="all", headers_added="all")),
    ("inbound-known unsigned (no DKIM), unix", "unsigned_unix",
     dict(continue_accept="all", headers_added="all")),
    ("inbound-new, unix", "new_unix", dict(tempfail_4xx="all")),
    ("submission, unix", "sub_unix", dict(continue_accept="all", headers_added="all")),
    ("inbound-known, DMARC on, unix", "dmarc_on_unix",
     dict(continue_accept="all", headers_added="all")),
    ("inbound-known, DMARC off, unix", "dmarc_off_unix",
     dict(continue_accept="all", headers_added="all")),
    ("inbound-known, console idle, unix", "console_idle_unix",
     dict(continue_accept="all", headers_added="all")),
    ("inbound-known, console hammered, unix", "console_busy_unix",
     dict(continue_accept="all", headers_added="all")),
    ("1 conn: null milter, inet", "null_inet_1", dict(continue_accept="all")),
    ("1 conn: null milter, unix", "null_unix_1", dict(continue_accept="all")),
    ("1 conn: null, inet, no NODELAY", "null_nagle_1", dict(continue_accept="all")),
    ("1 conn: inbound-known, inet", "known_inet_1", dict(continue_accept="all", headers_added="all")),
    ("1 conn: inbound-known, unix", "known_unix_1", dict(continue_accept="all", headers_added="all")),
]
med = {}
print(f"{'target':40} {'msgs/s':>7} {'(runs)':>20} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
      f"{'CPU us/msg':>14}  replies")
print("# CPU us/msg: the milter's CPU time (user + system, /proc/PID/stat) + the load generator's "
      "(getrusage), per message")
for label, key, want in ROWS:
    j, all_rates = median_run(key)
    if j is None:
        continue
    med[key] = j
    for r in runs(key):
        check(label, r, **want)
    lat = j["latency_ms"]
    rep = " ".join(f"{k.split('_')[0]}={v}" for k, v in j["replies"].items() if v)
    rates = "/".join(f"{x:.0f}" for x in all_rates)
    cpu = j["_cpu"]
    cpu_text = f"{cpu[0]:.0f}+{cpu[1]:.0f}" if cpu else "-"
    print(f"{label:40} {j['messages_per_second']:7.0f} {rates:>20} {lat['p50']:7.2f} {lat['p99']:7.2f} "
          f"{lat['max']:7.2f} {cpu_text:>14}  {rep} A-R={j['headers_added']}")

# mixed: three load generators at once; the rate is all messages over the longest run.
mixed_rates, mixed_p99 = [], []
for i in range(1, REPEAT + 1):
    parts = [load(f"mixed_unix.{p}.{i}") for p in ("known", "new", "sub")]
    if None in parts:
        continue
    check("mixed/inbound-known", parts[0], continue_accept="all", headers_added="all")
    check("mixed/inbound-new", parts[1], tempfail_4xx="all")
    check("mixed/submission", parts[2], continue_accept="all")
    mixed_rates.append(sum(p["messages"] for p in parts) / max(p["seconds"] for p in parts))
    mixed_p99.append(tuple(p["latency_ms"]["p99"] for p in parts))
if mixed_rates:
    k = sorted(range(len(mixed_rates)), key=lambda i: mixed_rates[i])[len(mixed_rates) // 2]
    print(f"{'mixed 70/20/10, unix':40} {mixed_rates[k]:7.0f} "
          f"{'/'.join(f'{x:.0f}' for x in mixed_rates):>20}  p99 ms known/new/submission "
          f"{mixed_p99[k][0]:.2f}/{mixed_p99[k][1]:.2f}/{mixed_p99[k][2]:.2f}")

# ---- cold cache ----
cold = None
if "cold" not in SKIP and load("cold_slow"):
    cs, cw, c0 = load("cold_slow"), load("cold_slow_warm"), load("cold")
    check("cold cache (slow DNS)", cs, continue_accept="all", headers_added="all")
    check("cold cache", c0, continue_accept="all", headers_added="all")
    queries = []
    for line in open(f"{T}/slowdns.queries"):
        t, name, qtype = line.split()
        queries.append((float(t), name, int(qtype)))
    queries.sort()
    # Rounds: queries sent within half a delay of a round's first query went out together.
    rounds = []
    for q in queries:
        if rounds and q[0] - rounds[-1][0][0] < SLOW_MS / 2:
            rounds[-1].append(q)
        else:
            rounds.append([q])
    total = cs["setup_ms"]["max"] + cs["latency_ms"]["max"]
    print(f"cold cache, every DNS answer {SLOW_MS:.0f} ms late: connection set-up "
          f"{cs['setup_ms']['max']:.1f} ms + first message {cs['latency_ms']['max']:.1f} ms = "
          f"{total:.1f} ms for {len(queries)} queries (sum of their delays "
          f"{len(queries) * SLOW_MS:.0f} ms) in {len(rounds)} rounds; the same message again "
          f"(cache warm) {cw['latency_ms']['max']:.2f} ms")
    types = {1: "A", 12: "PTR", 16: "TXT", 28: "AAAA", 15: "MX"}
    t0 = queries[0][0] if queries else 0
    for i, r in enumerate(rounds):
        print(f"  round {i + 1} at +{r[0][0] - t0:6.1f} ms: " +
              ", ".join(f"{types.get(q[2], q[2])} {q[1]}" for q in r))
    print(f"cold cache over loopback NSD (no delay): set-up {c0['setup_ms']['max']:.2f} ms, "
          f"first message {c0['latency_ms']['max']:.2f} ms")
    cold = (total, len(queries), len(rounds))

# ---- store ----
store_ops = None
if "greylist" not in SKIP and os.path.exists(f"{T}/greylist_bench.txt"):
    text = open(f"{T}/greylist_bench.txt").read()
    print("greylist_bench: " + "\n  ".join(l.strip() for l in text.strip().splitlines()))
    m = re.search(r"^\s*(\d+) operations/s", text, re.M)
    store_ops = int(m.group(1)) if m else None
    m = re.search(r"fill: (\d+) triplets", text)
    store_rows = int(m.group(1)) if m else 0

# ---- the store on PostgreSQL (run.sh's PostgreSQL part), beside the SQLite figures above ----
def bench_figures(path):
    """(operations/s, p50 us, p99 us, operations, seconds) of a greylist_bench output, or None."""
    if not os.path.exists(path):
        return None
    text = open(path).read()
    m = re.search(r"check\+update: (\d+) operations.*?, ([\d.]+) s\n\s*(\d+) operations/s; latency "
                  r"p50 ([\d.]+) us, p99 ([\d.]+) us", text, re.S)
    return (int(m.group(3)), float(m.group(4)), float(m.group(5)), int(m.group(1)),
            float(m.group(2))) if m else None


pg = {}
one = bench_figures(f"{T}/greylist_pg.txt")
if one:
    text = open(f"{T}/greylist_pg.txt").read()
    print("greylist_bench on PostgreSQL, one milter: " +
          "\n  ".join(l.strip() for l in text.strip().splitlines()))
    pg["greylist_one"] = one[0]
    m = re.search(r"fill: (\d+) triplets", text)
    store_rows_pg = int(m.group(1)) if m else 0
three = [bench_figures(f"{T}/greylist_pg3.{i}.txt") for i in (1, 2, 3)]
if all(three) and os.path.exists(f"{T}/greylist_pg3.wall"):
    ops, start, end = open(f"{T}/greylist_pg3.wall").read().split()
    wall = float(end) - float(start)
    # All three at once: their operations over the longest of their runs (each timed its own).
    agg = sum(f[3] for f in three) / max(f[4] for f in three)
    print(f"greylist_bench on PostgreSQL, three processes at once on the same rows: "
          f"{agg:.0f} operations/s in all ({' + '.join(f'{f[0]}' for f in three)}; "
          f"{int(ops) / wall:.0f}/s over the wall time with the processes' start), "
          f"p99 {' / '.join(f'{f[2]:.0f}' for f in three)} us")
    pg["greylist_three"] = agg
    # CPU a check: the three processes' own (user + system, getrusage) and the server's.
    cpu = 0.0
    for i in (1, 2, 3):
        m = re.search(r"CPU of this process so far: user ([\d.]+) s, system ([\d.]+) s",
                      open(f"{T}/greylist_pg3.{i}.txt").read())
        cpu += float(m.group(1)) + float(m.group(2)) if m else 0.0
    if os.path.exists(f"{T}/greylist_pg3.server"):
        ticks, hz = open(f"{T}/greylist_pg3.server").read().split()
        server = int(ticks) / int(hz)
        print(f"  CPU a check, three at once: the milters' side {cpu / int(ops) * 1e6:.0f} us, the "
              f"PostgreSQL server {server / int(ops) * 1e6:.0f} us; on these 2 CPUs the checks "
              f"could not go faster than {2 / ((cpu + server) / int(ops)):.0f}/s")
for label, key in (("inbound-known, store on PostgreSQL, unix", "known_pg_unix"),
                   ("inbound-known, store on SQLite, unix (same run)", "known_sq_unix"),
                   ("1 conn: inbound-known, PostgreSQL, unix", "known_pg_unix_1"),
                   ("1 conn: inbound-known, SQLite, unix", "known_sq_unix_1")):
    j, all_rates = median_run(key)
    if j is None:
        continue
    med[key] = j
    for r in runs(key):
        check(label, r, continue_accept="all", headers_added="all")
    lat = j["latency_ms"]
    cpu = j["_cpu"]
    # The PostgreSQL server's CPU in the median run, a message (run.sh: SERVER_CPU).
    server = ""
    i = next((i for i in range(1, REPEAT + 1) if (load(f"{key}.{i}") or {}).get(
        "messages_per_second") == j["messages_per_second"]), None)
    if i is not None and os.path.exists(f"{T}/{key}.{i}.server"):
        ticks, hz = open(f"{T}/{key}.{i}.server").read().split()
        server = f", PostgreSQL server {int(ticks) / int(hz) / j['messages'] * 1e6:.0f}"
    print(f"{label:48} {j['messages_per_second']:7.0f} msgs/s "
          f"({'/'.join(f'{x:.0f}' for x in all_rates)}), p50 {lat['p50']:.2f} ms, p99 "
          f"{lat['p99']:.2f} ms" +
          (f"; CPU us/msg: milter {cpu[0]:.0f}, loadgen {cpu[1]:.0f}{server}" if cpu else ""))
for backend in ("pg", "sq"):
    one_conn = med.get(f"known_{backend}_unix_1")
    if one_conn and "null_unix_1" in med:
        base = med["null_unix_1"]["latency_ms"]
        pg[f"added_{backend}"] = (one_conn["latency_ms"]["p50"] - base["p50"],
                                  one_conn["latency_ms"]["p99"] - base["p99"])
if "added_pg" in pg:
    a, b = pg["added_pg"], pg.get("added_sq", (0, 0))
    print(f"added latency a message, 1 conn, over the null milter (unix): PostgreSQL p50 "
          f"{a[0]:.2f} ms, p99 {a[1]:.2f} ms; SQLite p50 {b[0]:.2f} ms, p99 {b[1]:.2f} ms")
for f in sorted(glob.glob(f"{T}/ingress_pg.log")):
    for line in open(f):
        m = re.search(r"decision log: (\d+) decisions written, (\d+) refused.*?(\d+) failed", line)
        if m:
            pg["decisions"] = tuple(int(x) for x in m.groups())
            print(f"decision log on PostgreSQL (its milter, at stop): {m.group(1)} written, "
                  f"{m.group(2)} refused (queue full), {m.group(3)} failed batches")
if os.path.exists(f"{T}/decision_sizes.txt"):
    sent = sum(j["messages"] for j in (load(os.path.basename(p)[:-5])
                                       for p in glob.glob(f"{T}/known_pg_unix*.json")) if j)
    print(f"decision log size ({sent} inbound-known messages of 8 recipients into each milter):")
    for line in open(f"{T}/decision_sizes.txt"):
        name, rows, size = line.split()
        rows, size = int(rows), int(size)
        if not rows or not sent:
            continue
        per_msg, per_row = rows / sent, size / rows
        days30 = {rate: per_msg * per_row * rate * 86400 * 30 for rate in (100, 1000)}
        pg[f"size_{name}"] = (per_msg, per_row, days30)
        print(f"  {'PostgreSQL' if name == 'postgresql' else 'SQLite':10} {rows} rows, "
              f"{per_msg:.2f} rows a message, {per_row:.0f} bytes a row with its indexes; "
              f"after 30 days at 100 msgs/s {days30[100] / 1e9:.0f} GB, at 1,000 msgs/s "
              f"{days30[1000] / 1e9:.0f} GB")
if os.path.exists(f"{T}/why_plan.txt") and os.path.exists(f"{T}/why_time.txt"):
    start, end, key = open(f"{T}/why_time.txt").read().split()
    rows = open(f"{T}/why_rows.txt").read().strip()
    plan = open(f"{T}/why_plan.txt").read()
    # auto_explain logged every statement of the session: the one that reads the decisions.
    m = re.search(r"duration: ([\d.]+) ms\s+plan:\s*\n\s*Query Text: SELECT time, queue_id.*?"
                  r"(?=\n\S|\Z)", plan, re.S)
    body = m.group(0) if m else ""
    # Each plan node with the lines under it; a sequential scan that filtered no row out read an
    # empty partition (the coming days', or the default one): nothing to look up there.
    nodes = re.split(r"\n\s*->\s*", body)
    idx, seq, empty = 0, [], 0
    for node in nodes:
        m2 = re.match(r"(Bitmap Index Scan|Index Only Scan|Index Scan|Seq Scan) on (\S+)", node)
        if not m2:
            continue
        removed = re.search(r"Rows Removed by Filter: (\d+)", node)
        if m2.group(1) != "Seq Scan":
            idx += 1
        elif removed and int(removed.group(1)) > 0:
            seq.append(m2.group(2))
        else:
            empty += 1
    exec_ms = float(m.group(1)) if m else float("nan")
    pg["why"] = (idx, seq, exec_ms)
    print(f"ingressctl why {key} on {int(rows):,} decision rows (31 day partitions): statement "
          f"{exec_ms:.1f} ms, the whole command {(float(end) - float(start)) * 1000:.0f} ms; plan: "
          f"{idx} index scans, {len(seq)} sequential scans of rows" +
          (f" (on {', '.join(seq)})" if seq else "") + f", {empty} of empty partitions")
    for line in body.splitlines()[2:10]:
        print("    " + line.strip()[:110])

# The lines each milter-ingress logs at stop: its decision log and its DKIM key cache.
decision_counts, key_counts = [], []
for f in sorted(glob.glob(f"{T}/ingress_*.log")):
    for line in open(f):
        m = re.search(r"decision log: (\d+) decisions written, (\d+) refused.*?(\d+) failed", line)
        if m:
            decision_counts.append(tuple(int(x) for x in m.groups()))
        m = re.search(r"dkim key cache: (\d+) hits, (\d+) decoded", line)
        if m:
            key_counts.append(tuple(int(x) for x in m.groups()))
if decision_counts:
    print("decision log (every milter-ingress of the runs, at stop): "
          f"{sum(c[0] for c in decision_counts)} written, {sum(c[1] for c in decision_counts)} "
          f"refused, {sum(c[2] for c in decision_counts)} failed batches")
if key_counts:
    print("DKIM key cache (every milter-ingress of the runs, at stop): "
          f"{sum(c[0] for c in key_counts)} hits, {sum(c[1] for c in key_counts)} keys decoded")

# ---- whole MTA ----
mta = {}
for name in ("mta_none", "mta_ingress", "mta_ingress_unix", "mta_null_unix"):
    rates = []
    for f in sorted(glob.glob(f"{T}/{name}.*.mta")):
        n, start, end = open(f).read().split()
        rates.append(int(n) / (float(end) - float(start)))
    if rates:
        mta[name] = (statistics.median(rates), rates)
if "mta_none" in mta:
    a = mta["mta_none"][0]
    print(f"Postfix + smtp-source, without a milter: {a:.0f} msgs/s "
          f"({'/'.join(f'{x:.0f}' for x in mta['mta_none'][1])})")
    for name, label in (("mta_ingress", "milter-ingress (inet)"), ("mta_ingress_unix", "milter-ingress (unix)"),
                        ("mta_null_unix", "the null milter, same steps (unix)")):
        if name in mta:
            b = mta[name][0]
            print(f"Postfix + smtp-source, with {label}: {b:.0f} msgs/s "
                  f"({'/'.join(f'{x:.0f}' for x in mta[name][1])}): {b / a:.0%} of the throughput "
                  f"without a milter")
    if "mta_null_unix" in mta and "mta_ingress_unix" in mta:
        print(f"  with milter-ingress Postfix keeps {mta['mta_ingress_unix'][0] / mta['mta_null_unix'][0]:.0%} "
              f"of its throughput with the null milter (unix): the rest of the cost is any milter's")

for kind, (base, idle, peak) in MEMORY.items():
    if not peak:
        continue
    check(f"memory (held connections, DNS cache {kind})", load("hold" if kind == "cold" else "hold_warm"),
          continue_accept="all")
    print(f"milter-ingress VmRSS, DNS cache {kind}: {base / 1024:.1f} MiB idle after start, "
          f"{idle / 1024:.1f} MiB with {HOLD} idle connections after HELO "
          f"({(idle - base) / HOLD:.1f} KiB a connection beyond the idle baseline), "
          f"{peak / 1024:.1f} MiB at the peak, each of them sending a message "
          f"({(peak - base) / HOLD:.1f} KiB a connection)")
if RSS_AFTER:
    print(f"milter-ingress VmRSS after every scenario: {RSS_AFTER / 1024:.1f} MiB")

# ---- profile ----
if os.path.exists(f"{T}/perf.txt"):
    import collections
    centres = [("store_decision_add", "decision log write (store_decision_add)"),
               ("store_rule_find", "recipient rule lookup (store_rule_find)"),
               ("store_greylist_update", "greylist check/confirm (store_greylist_update)"),
               ("store_", "other store calls"),
               ("dkim_sig_process", "DKIM key decode + RSA verify (libopendkim dkim_sig_process)"),
               ("dkim_bodyhash", "DKIM body canonicalization + hash (lib/dkim_bodyhash.c)"),
               ("dkim_body", "DKIM body canonicalization + hash (libopendkim dkim_body)"),
               ("policy_body", "body callback, other (policy_body)"),
               ("dkim_", "DKIM, other (handle, headers, end of message)"),
               ("spf_", "SPF"), ("iprev_", "iprev"), ("dns_", "DNS cache and resolver"),
               ("mi_rd_cmd", "libmilter: reading commands"), ("mi_wr_cmd", "libmilter: writing replies"),
               ("__GI___poll", "libmilter: poll"), ("__poll", "libmilter: poll"),
               ("decision_writer_main", "decision log writer thread"),
               ("cb_", "callbacks, other"), ("mi_engine", "libmilter engine, other")]
    counts, total = collections.Counter(), 0
    for block in open(f"{T}/perf.txt").read().split("\n\n"):
        lines = block.strip().split("\n")
        if len(lines) < 2:
            continue
        total += 1
        bucket = "other (thread start, kernel)"
        for line in lines[1:]:
            parts = line.split()
            sym = parts[1].split("+")[0] if len(parts) > 1 else ""
            hit = next((n for k, n in centres if sym.startswith(k)), None)
            if hit:
                bucket = hit
                break
        counts[bucket] += 1
    print(f"profile of inbound-known (perf, {total} samples of milter-ingress's threads):")
    for name, n in counts.most_common(12):
        print(f"  {100.0 * n / total:5.1f}%  {name}")

# ---- targets ----
targets = []


def target(what, figure, threshold, met):
    targets.append((what, figure, threshold, "met" if met else "NOT MET"))


def ratio(a, b):
    return med[a]["messages_per_second"] / med[b]["messages_per_second"] if a in med and b in med else None


for sock in ("inet", "unix"):
    r = ratio(f"known_{sock}", f"null_{sock}")
    if r is not None:
        target(f"inbound-known, {sock}, {med[f'known_{sock}']['connections']} conns, warm, vs the same-steps null (stricter)",
               f"{r:.0%} of that null milter", ">= 70%", r >= 0.70)
# The 70% target's baseline: the plain libmilter null milter, every step answered (RESULTS.md, sixth
# round, says why); the same-steps comparison above is the stricter one the third round added.
r = ratio("known_unix", "null_all_unix")
if r is not None:
    target(f"inbound-known, unix, {med['known_unix']['connections']} conns, warm, vs the plain null milter",
           f"{r:.0%} of that null milter", ">= 70%", r >= 0.70)
r = ratio("known_unix", "opendkim_unix")
if r is not None:
    target("inbound-known vs Debian opendkim verify (unix)", f"{r:.2f}x", ">= 1.0x", r >= 1.0)
for sock in ("inet", "unix"):
    if f"known_{sock}_1" in med and f"null_{sock}_1" in med:
        added = med[f"known_{sock}_1"]["latency_ms"]["p99"] - med[f"null_{sock}_1"]["latency_ms"]["p99"]
        target(f"added latency p99, 1 conn, {sock}, warm", f"{added:.2f} ms", "<= 5 ms", added <= 5)
if cold:
    total, nq, nr = cold
    target("cold cache: each step waits for its slowest query",
           f"{nr} DNS rounds for {nq} queries ({total:.0f} ms)",
           "3 rounds (connect, MAIL, headers)", nr <= 3)
for kind, (base, idle, peak) in MEMORY.items():
    if not peak:
        continue
    target(f"RSS at {HOLD} concurrent connections, DNS cache {kind}", f"{peak / 1024:.1f} MiB",
           "<= 64 MiB", peak <= 64 * 1024)
    per = (idle - base) / HOLD
    target(f"RSS per idle connection, DNS cache {kind}", f"{per:.1f} KiB", "<= 64 KiB", per <= 64)
if store_ops is not None:
    target(f"greylist check+update, {store_rows:,} rows", f"{store_ops}/s", ">= 20000/s", store_ops >= 20000)
if decision_counts:
    refused = sum(c[1] for c in decision_counts)
    target("decision log never the bottleneck", f"{refused} refused (queue full)", "0", refused == 0)
if "greylist_one" in pg:
    target(f"greylist check+update on PostgreSQL, one milter ({store_rows_pg:,} rows)",
           f"{pg['greylist_one']}/s", "(figure)", True)
if "greylist_three" in pg:
    target("greylist check+update on PostgreSQL, three at once", f"{pg['greylist_three']:.0f}/s in all",
           ">= 20000/s", pg["greylist_three"] >= 20000)
r = ratio("known_pg_unix", "known_sq_unix")
if r is not None:
    # A rate made of 451 replies (store_failure) is not the same work: met only with every
    # message accepted, as on SQLite.
    short = sum(j["messages"] - j["replies"]["continue_accept"] for j in runs("known_pg_unix"))
    target("inbound-known, store on PostgreSQL vs SQLite", f"{r:.0%} of SQLite's rate" +
           (f", {short} not accepted" if short else ""), ">= 90%, every message accepted",
           r >= 0.90 and short == 0)
if "decisions" in pg:
    target("decision log on PostgreSQL never the bottleneck", f"{pg['decisions'][1]} refused (queue full)",
           "0", pg["decisions"][1] == 0)
if "why" in pg:
    idx, seq, ms = pg["why"]
    target("ingressctl why at size: index lookups only", f"{idx} index scans, {len(seq)} sequential",
           "0 sequential scans of rows", idx > 0 and not seq)
r = ratio("dmarc_on_unix", "dmarc_off_unix")
if r is not None:
    target("DMARC on vs off, inbound-known, unix, same run", f"{r:.1%} of the rate without DMARC",
           ">= 97%", r >= 0.97)
r = ratio("console_busy_unix", "console_idle_unix")
if r is not None:
    calls = []
    for i in range(1, REPEAT + 1):
        path = f"{T}/console_busy_unix.{i}.calls"
        if os.path.exists(path):
            n, seconds = open(path).read().split()
            calls.append(int(n) / float(seconds))
    cpu, client_cpu = [], []
    for i in range(1, REPEAT + 1):
        path = f"{T}/console_busy_unix.{i}.console_cpu"
        if os.path.exists(path):
            ticks, hz, start, end, client_ticks = open(path).read().split()
            cpu.append(int(ticks) / int(hz) / (float(end) - float(start)))
            client_cpu.append(int(client_ticks) / int(hz) / (float(end) - float(start)))
    nice = open(f"{T}/console_nice").read().strip() if os.path.exists(f"{T}/console_nice") else "?"
    rate = f", the console (nice {nice}) answering {statistics.median(calls):.0f} calls/s" if calls else ""
    if cpu:
        rate += (f" with {statistics.median(cpu):.0%} of a CPU (its client"
                 f" {statistics.median(client_cpu):.0%})")
    target("inbound-known while the console is used, unix, same run",
           f"{r:.1%} of the rate with the console idle{rate}", ">= 95%", r >= 0.95)
if "null_nagle_1" in med and "known_inet_1" in med:
    ing = med["known_inet_1"]["latency_ms"]["p50"]
    target("Nagle (TCP_NODELAY): inet p50, 1 conn", f"{ing:.2f} ms (control without NODELAY "
           f"{med['null_nagle_1']['latency_ms']['p50']:.1f} ms)", "< 20 ms", ing < 20)

if os.path.exists(f"{T}/dkim_bench.txt"):
    print("\nDKIM verification of the same message outside the milter (tests/bench/dkim_bench.c):")
    for line in open(f"{T}/dkim_bench.txt"):
        print("  " + line.rstrip())

# Instructions a message (run.sh's callgrind section): each object's own instructions, from
# callgrind_annotate's exclusive listing ("  1,234 (0.5%)  file:function [object]").
LIBCRYPTO = "OpenSSL libcrypto (SHA-256 without SHA-NI, RSA)"
INSTR_OBJECTS = [
    ("milter-ingress", "milter-ingress's own code"),
    ("libcrypto", LIBCRYPTO),
    ("libopendkim", "libopendkim"),
    ("libsqlite3", "SQLite"),
    ("libspf2", "libspf2"),
    ("libmilter", "libmilter"),
    ("libc.so", "libc (malloc, stdio, system call stubs)"),
]


def instructions(name):
    """({label: instructions a message}, [(instructions a message, function)]) or None."""
    path, count = f"{T}/{name}.annotate", f"{T}/{name}.messages"
    if not os.path.exists(path) or not os.path.exists(count):
        return None
    n = int(open(count).read())
    rows, total = [], None
    for line in open(path):
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*?)(?: \[(.*)\])?\s*$", line)
        if not m:
            continue
        ir = int(m.group(1).replace(",", ""))
        if m.group(2) == "PROGRAM TOTALS":
            total = ir
        else:
            rows.append((ir, m.group(2).split(":")[-1], os.path.basename(m.group(3) or "?")))
    if total is None:
        return None
    # The own counts should add up to the total, but callgrind charges the thread entry points
    # (clone, start_thread) of threads that run when the counters are zeroed with part of their
    # threads' counts again (up to the whole program's once, in a loaded full run): the total
    # stands, those two rows do not.  Their real cost is a few hundred instructions a thread, so
    # they are left out; what still does not add up by much is said under the table.
    rows = [r for r in rows if r[1] not in ("clone", "start_thread")]
    by_object, functions = {}, []
    excess = sum(r[0] for r in rows) - total  # a few hundred a message is usual: not worth a word
    if excess > 0.02 * total and excess / n > 1000:
        by_object["note"] = f"  ({name}: its rows add up to more than its total; run it again)"
    for ir, fn, obj in rows:
        label = next((l for key, l in INSTR_OBJECTS if key in obj), "other")
        by_object[label] = by_object.get(label, 0) + ir
        functions.append((ir / n, f"{fn} ({obj})"))
    by_object = {k: v if k == "note" else v / n for k, v in by_object.items()}
    by_object["total"] = total / n
    by_object["total without libcrypto"] = (total / n) - by_object.get(LIBCRYPTO, 0)
    return by_object, sorted(functions, reverse=True)


instr = {k: instructions(f"instr_{k}") for k in ("null", "ingress", "nodmarc")}
for k in instr:
    check(f"instruction counts, {k}", load(f"instr_{k}"), continue_accept="all")
if instr["ingress"] and not SMOKE:
    null = instr["null"][0] if instr["null"] else {}
    ing, top = instr["ingress"]
    n = int(open(f"{T}/instr_ingress.messages").read())
    print(f"\ninstructions a message (valgrind callgrind, {n} inbound-known messages on 4 connections "
          f"after a warm-up, unix socket; repeatable within about 1%, for A/B):")
    print(f"  {'':50} {'null milter':>14} {'milter-ingress':>14}")
    for label in ["total", "total without libcrypto"] + [l for _, l in INSTR_OBJECTS] + ["other"]:
        if label in ing or label in null:
            print(f"  {label:50} {null.get(label, 0):14,.0f} {ing.get(label, 0):14,.0f}")
    for counts in (null, ing):
        if "note" in counts:
            print(counts["note"])
    print("  the costliest functions of milter-ingress's process (own instructions a message):")
    for ir, fn in top[:10]:
        print(f"    {ir:10,.0f}  {fn}")
    if instr["nodmarc"]:
        off = instr["nodmarc"][0]
        cost = ing["total"] - off["total"]
        print(f"  DMARC (its record cached, a pass): {cost:,.0f} instructions a message, "
              f"{cost / off['total']:.2%} of milter-ingress's {off['total']:,.0f} with dmarc = no")

# What bounds the 70% target: the same message unsigned runs every check but DKIM's, so its rate
# over the null milter's is the most inbound-known could reach with a DKIM verification that cost
# nothing; the CPU columns say where the difference goes (2 CPUs shared with the load generator).
bound = ratio("unsigned_unix", "null_unix")
if bound is not None and not SMOKE:
    cpu = {k: med[k]["_cpu"] for k in ("null_unix", "unsigned_unix", "known_unix") if med[k].get("_cpu")}
    print(f"\nbound of the 70% target: without DKIM (the message unsigned) milter-ingress reaches "
          f"{bound:.0%} of the null milter (unix)")
    if len(cpu) == 3:
        print(f"  milter CPU a message: null {cpu['null_unix'][0]:.0f} us, every check but DKIM "
              f"{cpu['unsigned_unix'][0]:.0f} us, with DKIM {cpu['known_unix'][0]:.0f} us "
              f"(DKIM verification: {cpu['known_unix'][0] - cpu['unsigned_unix'][0]:.0f} us)")
    # The floor of any verifier: hash the message once and one RSA verification with a key
    # decoded before (dkim_bench); with the CPU model (2 CPUs / (milter + load generator) a
    # message), that is the best inbound-known could do against this null milter.
    crypto = {}
    if os.path.exists(f"{T}/dkim_bench.txt"):
        for line in open(f"{T}/dkim_bench.txt"):
            m = re.search(r"(SHA-256|RSA-\d+ verification).*?([\d.]+) us\s*$", line)
            if m:
                crypto[m.group(1)[:3]] = float(m.group(2))
    if len(cpu) == 3 and len(crypto) == 2:
        floor = sum(crypto.values())
        best = sum(cpu["null_unix"]) / (sum(cpu["unsigned_unix"]) + floor)
        print(f"  a DKIM verifier costing only SHA-256 + RSA ({floor:.0f} us) would give at most "
              f"{best:.0%} of this null milter (CPU model: 2 CPUs / CPU a message)")

print("\ntargets" + (" (smoke run: timing not judged)" if SMOKE else "") + ":")
for what, figure, threshold, verdict in targets:
    print(f"  {what:50} {figure:40} {threshold:36} {'-' if SMOKE else verdict}")
sys.exit(0 if ok else 1)
