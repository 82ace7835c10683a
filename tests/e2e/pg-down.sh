#!/usr/bin/env bash
# End to end: PostgreSQL stopped under a running milter, then started again, with a private Postfix
# and swaks (tests/e2e/lib.sh), on the private server of tests/pg/with-pg.sh:
#
#   tests/pg/with-pg.sh tests/e2e/pg-down.sh MILTER_BIN INGRESSCTL_BIN
#
# milter-ingress with greylist = yes and greylist_delay = 0 (every RCPT is a store transaction),
# store_busy_timeout = 1s.  A message is accepted (250); the server is stopped: the next message
# gets 451 4.3.0 (at end of DATA) within the bound, and the milter logs one line; the server is started
# again: the next message gets 250 and is delivered, with the same milter and the same Postfix
# (nothing restarted), and the milter logs one line.  Needs root, postfix, swaks, nsd.
set -euo pipefail

SRC_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
source "$SRC_DIR/tests/e2e/lib.sh"
e2e_args "$@"
if [[ -z ${INGRESS_TEST_PG_TCP:-} || -z ${INGRESS_TEST_PG_CTL:-} ]]; then
    echo "usage: tests/pg/with-pg.sh $0 MILTER_BIN INGRESSCTL_BIN" >&2
    exit 2
fi
e2e_require postfix swaks nsd ss timeout setsid
e2e_dir pg-down
postfix_dirs
LOG_FILES=("$MILTER_LOG" "$PF_LOG")
stop_mta() { stop_postfix; }

mapfile -t ports < <(free_ports 2)
SMTP_PORT=${ports[0]}
MILTER_PORT=${ports[1]:-}
[[ -n $MILTER_PORT ]] || die "could not pick free ports"
start_nsd
BUSY_MS=1000
# The promised bound (the busy timeout and one second more), and 3 s of margin for a loaded
# machine and swaks' own steps.
BOUND_MS=$((BUSY_MS + 1000 + 3000))
{
    milter_conf_common | grep -v '^database ='
    cat <<EOF
database = $INGRESS_TEST_PG_TCP
store_busy_timeout = ${BUSY_MS}ms
greylist = yes
greylist_delay = 0
EOF
} >"$CONF"
start_milter
milter_pid=$MILTER_PID
chown postfix "$PF_DATA"
chown nobody:nogroup "$MAIL_DIR"
postfix_main_cf "inet:127.0.0.1:$MILTER_PORT" >"$PF_CONF/main.cf"
{
    echo "127.0.0.1:$SMTP_PORT inet n - n - - smtpd"
    postfix_master_services
} >"$PF_CONF/master.cf"
postfix_start "$SMTP_PORT"
postfix_pid=$POSTFIX_PID
SETUP_DONE=1
ms() { date +%s%3N; }

smtp pa 127.0.0.2 good.example.test user@example.net
r=$(reply pa .)
if [[ $r == 250* ]]; then ok "pa: the server up: 250 ($r)"; else not_ok "pa: 250" "$(transcript pa)"; fi

"$INGRESS_TEST_PG_CTL" stop "$INGRESS_TEST_PG_DIR"
t0=$(ms)
smtp pb 127.0.0.2 good.example.test user2@example.net
took=$(($(ms) - t0))
r=$(reply pb .)
if [[ $r == "451 4.3.0"* ]] && ((took < BOUND_MS)); then
    ok "pb: the server stopped: 451 4.3.0 at end of DATA, the transaction over in $took ms ($r)"
else
    not_ok "pb: the server stopped: 451 4.3.0 at end of DATA within $BOUND_MS ms ($took ms)" \
        "$(transcript pb)"
fi
if [[ $(grep -c 'PostgreSQL cannot be used' "$MILTER_LOG") == 1 ]]; then
    ok "pb: one log line says PostgreSQL went"
else
    not_ok "pb: one log line says PostgreSQL went" "$(grep 'PostgreSQL' "$MILTER_LOG")"
fi

"$INGRESS_TEST_PG_CTL" start "$INGRESS_TEST_PG_DIR" >/dev/null
smtp pc 127.0.0.2 good.example.test user3@example.net
r=$(reply pc .)
if [[ $r == 250* ]]; then
    ok "pc: the server started again: 250 ($r)"
else
    not_ok "pc: the server started again: 250" "$(transcript pc)"
fi
if delivered pc >/dev/null; then ok "pc: delivered"; else not_ok "pc: delivered"; fi
if [[ $MILTER_PID == "$milter_pid" && $POSTFIX_PID == "$postfix_pid" ]] && alive "$milter_pid" &&
    alive "$postfix_pid"; then
    ok "pc: the same milter and Postfix processes (nothing restarted)"
else
    not_ok "pc: nothing restarted"
fi
if [[ $(grep -c 'PostgreSQL reachable again' "$MILTER_LOG") == 1 ]]; then
    ok "pc: one log line says PostgreSQL is back"
else
    not_ok "pc: one log line says PostgreSQL is back" "$(grep 'PostgreSQL' "$MILTER_LOG")"
fi
say "$PASSED passed, $FAILED failed"
