#!/usr/bin/env bash
# The milter benchmark (issue 6, first part): figures, not a test.  Builds nothing: give it a
# build directory (a non-sanitized one for figures).
#
#   tests/bench/run.sh BUILD_DIR [--smoke]
#
# Starts a private NSD serving tests/dns/*.zone (tests/dns/nsd-ctl.sh), milter-ingress twice (one
# on an inet socket, one on a unix socket; trusted_networks empty, greylist = no, DNS from the
# NSD, a database in a temporary directory) and the libmilter null milter (tests/bench/nullmilter.c,
# adding one header at end of message as milter-ingress adds Authentication-Results), then drives
# each with tests/bench/loadgen.c from the good 127.0.0.2 persona (PTR and HELO good.example.test,
# sender @e2e.test: iprev and SPF pass, the message is accepted).  Each target gets a warm-up run
# first, so the DNS cache is warm.  Prints a table of messages/s and latency p50/p99, the Nagle
# check of DESIGN.md §8 on one connection (a null milter without TCP_NODELAY on inet as the
# control: ~40 ms a message; milter-ingress on inet must be under 20 ms), the latency of one
# connection at a time (no queueing), and milter-ingress's resident memory idle
# and with 256 concurrent connections held open.
#
# Environment: CONNS (default 32) concurrent connections, PER_CONN (default 50) messages per
# connection, MESSAGES (default CONNS x PER_CONN x 4) messages per measured run, HOLD_CONNS
# (default 256) for the memory figure.  --smoke: a few messages per target and no memory figure;
# exits non-zero unless every message came back accepted with a header added and no errors
# (timing is reported, never judged, in smoke mode).  Everything started is stopped by its PID.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 || (${2:-} != "" && ${2:-} != --smoke) ]]; then
    echo "usage: $0 BUILD_DIR [--smoke]" >&2
    exit 2
fi
BUILD=$(realpath -- "$1")
SMOKE=0
[[ ${2:-} == --smoke ]] && SMOKE=1
SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
NSD_CTL=$SRC_DIR/tests/dns/nsd-ctl.sh
PYTHON=/usr/bin/python3
MILTER=$BUILD/milter-ingress
LOADGEN=$BUILD/tests/loadgen
NULLMILTER=$BUILD/tests/nullmilter
for f in "$MILTER" "$LOADGEN" "$NULLMILTER"; do
    [[ -x $f ]] || {
        echo "bench: $f is missing (build first)" >&2
        exit 2
    }
done

if [[ $SMOKE == 1 ]]; then
    CONNS=${CONNS:-4}
    PER_CONN=${PER_CONN:-5}
    MESSAGES=${MESSAGES:-$((CONNS * PER_CONN))}
else
    CONNS=${CONNS:-32}
    PER_CONN=${PER_CONN:-50}
    MESSAGES=${MESSAGES:-$((CONNS * PER_CONN * 4))}
fi
HOLD_CONNS=${HOLD_CONNS:-256}

T=$(mktemp -d "${TMPDIR:-/tmp}/ingress-bench.XXXXXX")
PIDS=()
NSD_STARTED=0

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    [[ $NSD_STARTED == 1 ]] && "$NSD_CTL" stop "$T/nsd" >/dev/null 2>&1
    if [[ ${KEEP_BENCH_DIR:-0} == 1 ]]; then
        echo "# kept $T" >&2
    else
        rm -rf -- "$T"
    fi
}
trap cleanup EXIT

die() {
    echo "bench: $*" >&2
    local f
    for f in "$T"/*.log; do
        [[ -s $f ]] && { echo "---- $f" >&2; tail -n 20 "$f" >&2; }
    done
    exit 1
}

free_ports() {
    "$PYTHON" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
EOF
}

# wait_socket SPEC PID: wait up to 10 s until SPEC (inet:PORT@127.0.0.1 or unix:PATH) listens.
wait_socket() {
    local spec=$1 pid=$2 i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        case $spec in
        inet:*)
            local port=${spec#inet:}
            port=${port%@*}
            [[ -n $(ss -Hltn "sport = :$port" 2>/dev/null) ]] && return 0
            ;;
        unix:*) [[ -S ${spec#unix:} ]] && return 0 ;;
        esac
        sleep 0.1
    done
    return 1
}

mapfile -t ports < <(free_ports 3)
DNS_PORT=$("$NSD_CTL" start "$T/nsd") || die "nsd-ctl.sh start failed"
NSD_STARTED=1

# start_ingress NAME SOCKET: milter-ingress with a configuration of its own; sets LAST_PID.
start_ingress() {
    local name=$1 sock=$2
    cat >"$T/$name.conf" <<EOF
# milter-ingress configuration for tests/bench/run.sh
socket = $sock
database = $T/$name.db
authserv_id = mx.bench.example
dns_servers = 127.0.0.1:$DNS_PORT
trusted_networks =
greylist = no
user =
allow_root = yes
EOF
    "$MILTER" -c "$T/$name.conf" -f 2>"$T/$name.log" &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_socket "$sock" "$LAST_PID" || die "milter-ingress ($name) does not listen on $sock"
}

start_null() {
    local name=$1 sock=$2
    shift 2
    "$NULLMILTER" -p "$sock" "$@" 2>"$T/$name.log" &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_socket "$sock" "$LAST_PID" || die "nullmilter ($name) does not listen on $sock"
}

start_null null_inet "inet:${ports[0]}@127.0.0.1" -a -D
start_null null_unix "unix:$T/null.sock" -a
start_null null_nagle "inet:${ports[1]}@127.0.0.1" -a
start_ingress ingress_inet "inet:${ports[2]}@127.0.0.1"
INGRESS_INET_PID=$LAST_PID
start_ingress ingress_unix "unix:$T/ingress.sock"

rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}
RSS_IDLE=$(rss_kib "$INGRESS_INET_PID")

LG_ARGS=(-a 127.0.0.2 -N good.example.test -H good.example.test -f bench@e2e.test
    -r user@mx.bench.example -t 10000 -j)

# bench NAME SOCKET CONNS PER_CONN TOTAL: a warm-up, then the measured run into $T/NAME.json.
bench() {
    local name=$1 sock=$2 c=$3 m=$4 n=$5
    "$LOADGEN" -s "$sock" "${LG_ARGS[@]}" -c "$c" -m "$m" -n $((c * 2)) >/dev/null ||
        die "loadgen warm-up against $name failed"
    "$LOADGEN" -s "$sock" "${LG_ARGS[@]}" -c "$c" -m "$m" -n "$n" >"$T/$name.json" ||
        die "loadgen against $name failed: $(cat "$T/$name.json")"
}

bench null_inet "inet:${ports[0]}@127.0.0.1" "$CONNS" "$PER_CONN" "$MESSAGES"
bench null_unix "unix:$T/null.sock" "$CONNS" "$PER_CONN" "$MESSAGES"
# The control: ~40 ms a message, so few messages.
bench null_nagle "inet:${ports[1]}@127.0.0.1" "$CONNS" 5 $((CONNS * 5))
bench ingress_inet "inet:${ports[2]}@127.0.0.1" "$CONNS" "$PER_CONN" "$MESSAGES"
bench ingress_unix "unix:$T/ingress.sock" "$CONNS" "$PER_CONN" "$MESSAGES"
# One connection at a time: the latency a message adds, without queueing behind the others.
SERIAL=$((SMOKE ? 10 : 500))
bench null_inet_1 "inet:${ports[0]}@127.0.0.1" 1 "$SERIAL" "$SERIAL"
bench null_nagle_1 "inet:${ports[1]}@127.0.0.1" 1 20 20
bench ingress_inet_1 "inet:${ports[2]}@127.0.0.1" 1 "$SERIAL" "$SERIAL"
bench ingress_unix_1 "unix:$T/ingress.sock" 1 "$SERIAL" "$SERIAL"
RSS_AFTER=$(rss_kib "$INGRESS_INET_PID")

RSS_HOLD=0
if [[ $SMOKE == 0 ]]; then
    # HOLD_CONNS connections opened together, each idle 3 s after HELO, then one message each.
    "$LOADGEN" -s "inet:${ports[2]}@127.0.0.1" "${LG_ARGS[@]}" -c "$HOLD_CONNS" -m 1 -w 3000 \
        >"$T/hold.json" &
    hold_pid=$!
    for ((i = 0; i < 30; i++)); do
        sleep 0.1
        r=$(rss_kib "$INGRESS_INET_PID")
        ((r > RSS_HOLD)) && RSS_HOLD=$r
    done
    wait "$hold_pid" || die "loadgen with $HOLD_CONNS held connections failed: $(cat "$T/hold.json")"
fi

echo "# machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
echo "# commit: $(git -C "$SRC_DIR" rev-parse HEAD 2>/dev/null || echo unknown)"
echo "# $CONNS connections, $PER_CONN messages a connection, $MESSAGES messages a run (after a warm-up)"
"$PYTHON" - "$T" "$SMOKE" "$MESSAGES" "$RSS_IDLE" "$RSS_AFTER" "$RSS_HOLD" "$HOLD_CONNS" <<'EOF'
import json, sys
t, smoke, messages = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
rss_idle, rss_after, rss_hold, hold = (int(x) for x in sys.argv[4:8])
rows = [("null milter, inet (TCP_NODELAY)", "null_inet"),
        ("null milter, unix", "null_unix"),
        ("null milter, inet, no TCP_NODELAY", "null_nagle"),
        ("milter-ingress, inet", "ingress_inet"),
        ("milter-ingress, unix", "ingress_unix"),
        ("1 connection: null milter, inet", "null_inet_1"),
        ("1 connection: null, inet, no NODELAY", "null_nagle_1"),
        ("1 connection: milter-ingress, inet", "ingress_inet_1"),
        ("1 connection: milter-ingress, unix", "ingress_unix_1")]
r = {k: json.load(open(f"{t}/{k}.json")) for _, k in rows}
print(f"{'target':36} {'msgs/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'accepted':>9} {'A-R':>6} err")
for label, k in rows:
    j = r[k]
    print(f"{label:36} {j['messages_per_second']:9.0f} {j['latency_ms']['p50']:8.2f} "
          f"{j['latency_ms']['p99']:8.2f} {j['latency_ms']['max']:8.2f} "
          f"{j['replies']['continue_accept']:9d} {j['headers_added']:6d} {j['errors']}")
ok = True
for k in ("ingress_inet", "ingress_unix", "ingress_inet_1", "ingress_unix_1"):
    j = r[k]
    if j["errors"] or j["replies"]["continue_accept"] != j["messages"] or j["headers_added"] != j["messages"]:
        print(f"FAIL: {k}: every message should be accepted with Authentication-Results added")
        ok = False
for k in ("inet", "unix"):
    print(f"milter-ingress / null milter ({k}): "
          f"{r['ingress_' + k]['messages_per_second'] / r['null_' + k]['messages_per_second']:.0%} of the throughput")
nagle = r["null_nagle_1"]["latency_ms"]["p50"]
ing = r["ingress_inet_1"]["latency_ms"]["p50"]
verdict = "ok" if ing < 20 else "FAIL"
print(f"Nagle check (DESIGN.md 8, 1 connection): null milter without TCP_NODELAY p50 {nagle:.1f} ms; "
      f"milter-ingress inet p50 {ing:.2f} ms: {verdict}")
added = r["ingress_inet_1"]["latency_ms"]["p99"] - r["null_inet_1"]["latency_ms"]["p99"]
print(f"added latency p99 (1 connection, inet, warm cache): {added:.2f} ms over the null milter")
if verdict != "ok" and not smoke:
    ok = False
print(f"milter-ingress VmRSS: idle {rss_idle / 1024:.1f} MiB, after the runs {rss_after / 1024:.1f} MiB", end="")
if rss_hold:
    h = json.load(open(f"{t}/hold.json"))
    print(f", with {hold} connections open {rss_hold / 1024:.1f} MiB "
          f"({(rss_hold - rss_after) / hold:.1f} KiB a connection beyond the loaded baseline; "
          f"{h['replies']['continue_accept']} accepted, {h['errors']} errors)")
else:
    print()
sys.exit(0 if ok else 1)
EOF
