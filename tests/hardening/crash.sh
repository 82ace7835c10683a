#!/usr/bin/env bash
# kill -9 under load, then restart (the figures are in tests/RELIABILITY.md).
#
#   tests/hardening/crash.sh MILTER_BIN HOSTILE_BIN LOADGEN_BIN [ROUNDS]
#
# milter-ingress with greylist = yes and greylist_delay = 0 (every new triplet is confirmed by the
# RCPT that first sees it, in the store transaction that precedes the RCPT's reply).  Load:
# tests/bench/loadgen with 16 connections of accepted mail, and beside it one message after
# another through `hostile -p`, each to a new recipient; a recipient whose message was accepted is
# written down: its confirmation was acknowledged.  After about 2 s of this the milter gets
# SIGKILL.  Then: PRAGMA integrity_check says "ok"; every acknowledged triplet is confirmed in the
# database; the milter starts again on the same file and accepts mail.  ROUNDS (default 3) times
# on the same database.  Prints the figures (messages acknowledged before each kill).
#
# Then the held queue: a second milter with throttle_action = hold (the default) and the account
# bench@e2e.test limited to 2 messages a minute (`ingressctl account limits`), loadgen submitting
# as that account (127.0.0.50, {auth_authen}) on 16 connections, each run with a queue-id prefix
# of its own and `-Q`: the queue id of every message quarantined (SMFIR_QUARANTINE) and then
# accepted is written down as the reply arrives.  SIGKILL after about 2 s; then integrity_check
# says "ok" and every written-down queue id is in the held table, state held.  ROUNDS times on the
# same database, then a restart that still holds the account's mail.
set -euo pipefail
MILTER_BIN=$(realpath -- "${1:?usage: crash.sh MILTER_BIN HOSTILE_BIN LOADGEN_BIN [ROUNDS]}")
HOSTILE_BIN=$(realpath -- "${2:?usage: crash.sh MILTER_BIN HOSTILE_BIN LOADGEN_BIN [ROUNDS]}")
LOADGEN_BIN=$(realpath -- "${3:?usage: crash.sh MILTER_BIN HOSTILE_BIN LOADGEN_BIN [ROUNDS]}")
ROUNDS=${4:-3}
# shellcheck source=tests/hardening/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
hardening_init crash
start_nsd
OPTS=("greylist = yes" "greylist_delay = 0")
ACKED=$T/acked.txt
: >"$ACKED"
seq_no=0

for ((round = 1; round <= ROUNDS; round++)); do
    start_milter crash "${OPTS[@]}"
    "$LOADGEN_BIN" -s "unix:$MILTER_SOCK" -a 127.0.0.2 -N good.example.test -H good.example.test \
        -f load@e2e.test -r "load$round@example.test" -c 16 -m 20 -n 1000000 -t 5000 -j \
        >"$T/loadgen-$round.out" 2>&1 &
    load_pid=$!
    PIDS+=("$load_pid")
    acked=0
    end=$((SECONDS + 2))
    while ((SECONDS < end)); do
        seq_no=$((seq_no + 1))
        rcpt="crash-$seq_no@example.test"
        if "$HOSTILE_BIN" -s "unix:$MILTER_SOCK" -r "<$rcpt>" -t 5000 -p >/dev/null 2>&1; then
            echo "$rcpt" >>"$ACKED"
            acked=$((acked + 1))
        fi
    done
    kill -KILL "$MILTER_PID"
    wait "$MILTER_PID" 2>/dev/null || true
    wait "$load_pid" 2>/dev/null || true
    load=$(grep -o '"messages":[0-9]*\|"continue_accept":[0-9]*' "$T/loadgen-$round.out" |
        tr '\n' ' ' || true)
    echo "# round $round: $acked probe messages acknowledged in 2 s beside the load ($load), then SIGKILL"

    integrity=$(sqlite3 "$T/crash.db" 'PRAGMA integrity_check;' 2>&1)
    if [[ $integrity == ok ]]; then
        ok "round $round: PRAGMA integrity_check after kill -9 says ok"
    else
        not_ok "round $round: PRAGMA integrity_check after kill -9 says ok" "$integrity"
    fi
    # Every acknowledged triplet (the good persona's /24, the probe sender) is confirmed.
    missing=$("$PYTHON" - "$T/crash.db" "$ACKED" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
confirmed = {r[0] for r in db.execute(
    "SELECT recipient FROM greylist WHERE sender = 'probe@e2e.test' AND confirmed_at IS NOT NULL")}
acked = [line.strip() for line in open(sys.argv[2]) if line.strip()]
print(len([r for r in acked if r not in confirmed]), len(acked))
PY
)
    if [[ ${missing%% *} == 0 ]]; then
        ok "round $round: all ${missing#* } acknowledged greylist confirmations survived kill -9"
    else
        not_ok "round $round: acknowledged greylist confirmations survived kill -9" \
            "${missing%% *} of ${missing#* } missing"
    fi
    check "round $round: no sanitizer report before the kill" sanitizer_clean "$MILTER_LOG"
done

start_milter crash "${OPTS[@]}"
if "$HOSTILE_BIN" -s "unix:$MILTER_SOCK" -p >"$T/after.out" 2>&1; then
    ok "restarted on the same database, mail is accepted"
else
    not_ok "restarted on the same database, mail is accepted" "$(cat "$T/after.out")"
fi
stop_milter
check "SIGTERM stops the restarted milter with status 0" test "$MILTER_RC" = 0
check "no sanitizer report in the milter's stderr" sanitizer_clean "$MILTER_LOG"

# ---- held rows under kill -9 ----
INGRESSCTL=$(dirname -- "$MILTER_BIN")/ingressctl
HELD_OPTS=("throttle_action = hold" "throttle_factor = 0")
HELD=$T/held.txt
: >"$HELD"
start_milter held "${HELD_OPTS[@]}"
check "ingressctl account limits: bench@e2e.test at 2 messages a minute" \
    "$INGRESSCTL" -c "$T/held.conf" account limits bench@e2e.test minute=2/0
for ((round = 1; round <= ROUNDS; round++)); do
    ((round > 1)) && start_milter held "${HELD_OPTS[@]}"
    "$LOADGEN_BIN" -s "unix:$MILTER_SOCK" -a 127.0.0.50 -N unknown -H laptop.example \
        -u bench@e2e.test -f bench@e2e.test -r someone@example.org,other@example.net \
        -I "HELD$round" -Q "$HELD" -c 16 -m 20 -n 1000000 -t 5000 -j >"$T/held-$round.out" 2>&1 &
    load_pid=$!
    PIDS+=("$load_pid")
    sleep 2
    kill -KILL "$MILTER_PID"
    wait "$MILTER_PID" 2>/dev/null || true
    wait "$load_pid" 2>/dev/null || true
    load=$(grep -o '"messages":[0-9]*\|"continue_accept":[0-9]*\|"quarantine":[0-9]*' \
        "$T/held-$round.out" | tr '\n' ' ' || true)
    echo "# held round $round: $(grep -c "^HELD$round" "$HELD" || true) messages acknowledged as" \
        "held in 2 s ($load), then SIGKILL"

    integrity=$(sqlite3 "$T/held.db" 'PRAGMA integrity_check;' 2>&1)
    if [[ $integrity == ok ]]; then
        ok "held round $round: PRAGMA integrity_check after kill -9 says ok"
    else
        not_ok "held round $round: PRAGMA integrity_check after kill -9 says ok" "$integrity"
    fi
    missing=$("$PYTHON" - "$T/held.db" "$HELD" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
held = {r[0] for r in db.execute(
    "SELECT queue_id FROM held WHERE account = 'bench@e2e.test' AND state = 'held'")}
acked = [line.strip() for line in open(sys.argv[2]) if line.strip()]
print(len([q for q in acked if q not in held]), len(acked), len(held))
PY
)
    read -r lost acked rows <<<"$missing"
    if [[ $lost == 0 && $acked -gt 0 ]]; then
        ok "held round $round: all $acked acknowledged held messages are in the held table ($rows rows)"
    else
        not_ok "held round $round: acknowledged held messages survived kill -9" \
            "$lost of $acked missing ($rows rows in the table)"
    fi
    check "held round $round: no sanitizer report before the kill" sanitizer_clean "$MILTER_LOG"
done
start_milter held "${HELD_OPTS[@]}"
"$LOADGEN_BIN" -s "unix:$MILTER_SOCK" -a 127.0.0.50 -N unknown -H laptop.example \
    -u bench@e2e.test -f bench@e2e.test -r someone@example.org -I HELDAFTER -c 1 -m 1 -n 1 -j \
    >"$T/held-after.out" 2>&1 || true
if grep -q '"quarantine":1' "$T/held-after.out"; then
    ok "restarted: the throttled account's next message is held"
else
    not_ok "restarted: the throttled account's next message is held" "$(cat "$T/held-after.out")"
fi
stop_milter
check "SIGTERM stops the restarted held milter with status 0" test "$MILTER_RC" = 0
check "no sanitizer report in the held milter's stderr" sanitizer_clean "$MILTER_LOG"
finish
