#!/usr/bin/env bash
# The hostile-client test: tests/hardening/hostile.c against a running milter-ingress.
#
#   tests/hardening/hostile.sh MILTER_BIN HOSTILE_BIN [ROUNDS]
#
# Starts a private NSD and milter-ingress (unix socket, loopback untrusted, greylist off; the
# hostile client's normal messages come from the good 127.0.0.2 persona), then runs every case of
# the hostile client once as a warm-up and ROUNDS (default 2) more times.  Checks: every case gets
# a defined outcome and the milter answers a normal message after each (hostile's own checks);
# the milter is alive after each round; its resident memory after the last round is within
# max(16 MiB, 25%) of the figure after the warm-up round (plus ASan's quarantine, 16 MiB, in an
# ASan build), and its descriptor count is the same;
# SIGTERM stops it with status 0; its stderr holds no sanitizer report (the ASan+UBSan and the
# ThreadSanitizer builds of tests/run-all.sh run this too).  Prints the RSS and descriptor figures.
set -euo pipefail
MILTER_BIN=$(realpath -- "${1:?usage: hostile.sh MILTER_BIN HOSTILE_BIN [ROUNDS]}")
HOSTILE_BIN=$(realpath -- "${2:?usage: hostile.sh MILTER_BIN HOSTILE_BIN [ROUNDS]}")
ROUNDS=${3:-2}
# shellcheck source=tests/hardening/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
hardening_init hostile

# Under ASan, freed memory waits in a quarantine (256 MiB by default) before it is reused: keep it
# small so resident memory says whether memory is kept, not how full the quarantine is.
QUARANTINE_MB=16
export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}quarantine_size_mb=$QUARANTINE_MB"

start_nsd
start_milter hostile
echo "# milter-ingress pid $MILTER_PID, rss at start $(rss_kib "$MILTER_PID") KiB, fds $(fd_count "$MILTER_PID")"

run_round() { # run_round LABEL
    local out=$T/round-$1.out
    if "$HOSTILE_BIN" -s "unix:$MILTER_SOCK" >"$out" 2>&1; then
        ok "round $1: every case got a defined outcome and the milter stayed up ($(grep -c '^case=' "$out") cases)"
    else
        not_ok "round $1: hostile cases" "$(grep -v 'ok=yes' "$out" | head -n 20)"
    fi
    if kill -0 "$MILTER_PID" 2>/dev/null; then
        ok "round $1: milter-ingress is still running"
    else
        not_ok "round $1: milter-ingress is still running" "$(tail -n 20 "$MILTER_LOG")"
        finish
        exit 1
    fi
    RSS=$(rss_kib "$MILTER_PID")
    FDS=$(fd_count "$MILTER_PID")
    echo "# after round $1: rss $RSS KiB, fds $FDS"
}

run_round warmup
sed 's/^/#   /' "$T/round-warmup.out"
RSS_BASE=$RSS
FDS_BASE=$FDS
for ((r = 1; r <= ROUNDS; r++)); do
    run_round "$r"
done
limit=$((RSS_BASE / 4 > 16384 ? RSS_BASE + RSS_BASE / 4 : RSS_BASE + 16384))
# Under ASan the quarantine fills up in the rounds after the warm-up (seen: +18 MiB in the first,
# +0.6 MiB in the second): allow its size on top.
if grep -qa __asan_init "$MILTER_BIN"; then
    limit=$((limit + QUARANTINE_MB * 1024))
fi
echo "# rss: baseline (after the warm-up round) $RSS_BASE KiB, after $ROUNDS more rounds $RSS KiB, limit $limit KiB"
if ((RSS <= limit)); then
    ok "resident memory returns near its baseline ($RSS_BASE -> $RSS KiB)"
else
    not_ok "resident memory returns near its baseline ($RSS_BASE -> $RSS KiB, limit $limit)"
fi
if ((FDS == FDS_BASE)); then
    ok "no descriptor kept ($FDS_BASE -> $FDS)"
else
    not_ok "no descriptor kept ($FDS_BASE -> $FDS)" "$(ls -l "/proc/$MILTER_PID/fd" | tail -n 20)"
fi
stop_milter
if [[ $MILTER_RC == 0 ]]; then
    ok "SIGTERM stops milter-ingress with status 0"
else
    not_ok "SIGTERM stops milter-ingress with status 0 (status $MILTER_RC)" "$(tail -n 20 "$MILTER_LOG")"
fi
if sanitizer_clean "$MILTER_LOG"; then
    ok "no sanitizer report in the milter's stderr"
else
    not_ok "no sanitizer report in the milter's stderr" "$(grep -A 30 -E 'ERROR:|WARNING: ThreadSanitizer|runtime error' "$MILTER_LOG" | head -n 40)"
fi
finish
