#!/usr/bin/env bash
# The remote sender's page (ingress-console's console_public_listen) on real decisions.
#
#   tests/console/public.sh MILTER_BIN INGRESSCTL_BIN CONSOLE_BIN LOADGEN_BIN [SCREENSHOT_DIR]
#
# milter-ingress with the NSD of tests/dns/ refuses a client without a PTR record (iprev), driven
# by tests/bench/loadgen.c as the MTA; its reply carries help_text's link with {ref} replaced.
# ingress-console then answers on both listeners, fetched with curl:
#   - GET /why/REF: the check in plain words and the fix, the security headers; never the
#     decision's internal detail, its recipient, its sender or its reply text;
#   - an unknown reference, a malformed one, an 8-character one and a path elsewhere: 404 with
#     the one same page; the staff API is not on the public listener, nor the page on the staff's;
#   - the site's explanation set with `ingressctl explain set`, with <script> in it: escaped;
#   - the review form: a request that lands in GET /api/reviews (support) and `ingressctl review
#     list`, closed through the API with its reason; bad input 400; the cap per reference 429;
#   - the per-client limit: 429 with Retry-After, counted per X-Real-IP behind a proxy on this
#     host, and per peer address otherwise (a header from elsewhere is not believed);
#   - with SCREENSHOT_DIR: the page in headless Chromium (tests/console/public_browser.py).
# On SQLite by default; under tests/pg/with-pg.sh (INGRESS_TEST_PG_TCP set) the milter and the
# console share the private PostgreSQL instead, and the same checks run on it.
set -euo pipefail
MILTER_BIN=$(realpath -- "${1:?usage: public.sh MILTER CTL CONSOLE LOADGEN [SCREENSHOT_DIR]}")
CTL_BIN=$(realpath -- "$2")
CONSOLE_BIN=$(realpath -- "$3")
LOADGEN_BIN=$(realpath -- "$4")
SHOTS=${5:-}
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/hardening/lib.sh
source "$HERE/../hardening/lib.sh"
hardening_init console-public

expect() { # expect NAME WANT GOT
    if [[ $2 == "$3" ]]; then ok "$1"; else not_ok "$1" "want: $2" "got:  $3"; fi
}
has() { # has NAME TEXT NEEDLE
    if [[ $2 == *"$3"* ]]; then ok "$1"; else not_ok "$1" "no '$3' in:" "${2:0:600}"; fi
}
lacks() { # lacks NAME TEXT NEEDLE
    if [[ $2 != *"$3"* ]]; then ok "$1"; else not_ok "$1" "'$3' is in:" "${2:0:600}"; fi
}

# sql QUERY: the rows of the store, tab-separated.
if [[ -n ${INGRESS_TEST_PG_TCP:-} ]]; then
    DB=$INGRESS_TEST_PG_TCP
    sql() {
        PG_CTL_DBNAME=ingress "$INGRESS_TEST_PG_CTL" psql "$INGRESS_TEST_PG_DIR" -At -F $'\t' \
            -c "$1"
    }
else
    DB=$T/m.db
    sql() { sqlite3 -separator $'\t' "$DB" "$1"; }
fi

# ---- a real refusal: 127.0.0.4 has no PTR record ----
start_nsd
RCPT=hidden.recipient@mx.example.test
SENDER=someone@e2e.test
start_milter m "database = $DB" "help_text = https://mx.example/why/{ref}" "iprev_action = reject"
"$LOADGEN_BIN" -s "unix:$MILTER_SOCK" -t 10000 -j -c 1 -m 1 -n 1 -a 127.0.0.4 \
    -N unknown -H mail.nowhere.test -f "$SENDER" -r "$RCPT" -I PUB >"$T/load.json" ||
    not_ok "loadgen" "$(cat "$T/load.json")"
row=
for _ in $(seq 100); do
    row=$(sql "SELECT ref, check_name, detail, reply FROM decisions WHERE action = 'reject' LIMIT 1" \
        2>/dev/null) || true
    [[ -n $row ]] && break
    sleep 0.1
done
IFS=$'\t' read -r REF CHECK DETAIL REPLY <<<"$row"
expect "the milter refused the client without PTR, by iprev" iprev "$CHECK"
if [[ ! $REF =~ ^[A-Z2-7]{16}$ ]]; then
    not_ok "a reference of 16 base32 characters" "$REF"
    finish
    exit 1
fi
ok "a reference of 16 base32 characters: $REF"
has "the reply links to the page with {ref} replaced" "$REPLY" "https://mx.example/why/$REF"
[[ -n $DETAIL ]] || not_ok "the decision has an internal detail to keep hidden"

# ---- the console on both listeners ----
STAFF=$(free_port)
PUBLIC=$(free_port)
cat >"$T/console.conf" <<EOF
database = $DB
console_listen = 127.0.0.1:$STAFF
console_public_listen = 127.0.0.1:$PUBLIC
console_users_file = $T/users
EOF
echo "support-secret-1" | "$CTL_BIN" -c "$T/console.conf" console-user add sam --role support \
    >/dev/null
"$CONSOLE_BIN" -c "$T/console.conf" 2>"$T/console.log" &
CONSOLE_PID=$!
PIDS+=("$CONSOLE_PID")
for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$PUBLIC/why.css" && break
    sleep 0.1
done
P=http://127.0.0.1:$PUBLIC
S=http://127.0.0.1:$STAFF

# get CLIENT PATH: the status line's code, then the body; CLIENT is the X-Real-IP a proxy on
# this host would set (each part of the test asks as a client of its own: the limit is per client)
get() {
    curl -sS -H "X-Real-IP: $1" -D "$T/headers" -o "$T/body" -w '%{http_code}' "$P$2"
}

code=$(get 198.51.100.1 "/why/$REF")
page=$(cat "$T/body")
headers=$(cat "$T/headers")
expect "GET /why/REF: 200" 200 "$code"
has "the page names the check in plain words" "$page" "reverse DNS (PTR) did not check out"
has "the page gives the fix on the sender's side" "$page" "PTR record naming a host whose A or AAAA"
has "the page shows the reference" "$page" "$REF"
has "the page shows the SMTP code" "$page" "550 5.7.25"
lacks "never the decision's internal detail" "$page" "$DETAIL"
lacks "never the detail's own words (no PTR record for ...)" "$page" "no PTR record for"
lacks "never the recipient" "$page" "$RCPT"
lacks "never the recipient's local part" "$page" "hidden.recipient"
lacks "never the sender" "$page" "$SENDER"
lacks "never the reply text" "$page" "${REPLY:10:40}"
lacks "no script on the page" "$page" "<script"
has "CSP: nothing but the page's own style and form" "$headers" \
    "Content-Security-Policy: default-src 'none'; style-src 'self'; form-action 'self'"
has "X-Frame-Options: DENY" "$headers" "X-Frame-Options: DENY"
has "text/html" "$headers" "Content-Type: text/html; charset=utf-8"
lower=$(get 198.51.100.1 "/why/${REF,,}")
expect "the reference in lower case finds the same refusal" 200 "$lower"

# ---- one page for every reference that names no refusal ----
get 198.51.100.2 /why/AAAAAAAAAAAAAAAA >/dev/null
unknown=$(cat "$T/body")
declare -A odd=([malformed]="/why/not-a-ref" [short]="/why/${REF:0:8}"
    [traversal]="/why/..%2f..%2fetc%2fpasswd" [long]="/why/${REF}A" [elsewhere]="/api/reviews"
    [root]="/" [review_get]="/why/$REF/review")
for name in "${!odd[@]}"; do
    code=$(get 198.51.100.2 "${odd[$name]}")
    body=$(cat "$T/body")
    if [[ $code == 404 && $body == "$unknown" ]]; then
        ok "$name (${odd[$name]}): 404, the same page as an unknown reference"
    else
        not_ok "$name (${odd[$name]}): 404, the same page as an unknown reference" "got $code" \
            "${body:0:300}"
    fi
done
has "the 404 page says no refusal has this reference" "$unknown" "No refusal with this reference"
# A refusal recorded by an older version, whose references had 8 characters (40 bits: guessable
# at the limit below): `ingressctl why` still finds it, the public page does not show it.
sql "INSERT INTO decisions (time, queue_id, ref, client_ip, client_name, helo,
    sender, recipient, check_name, action, reply, detail) VALUES ($(date +%s), 'NOQUEUE',
    'OLDREF23', '192.0.2.8', 'unknown', 'old.example', 'a@old.example', 'b@mx.example.test',
    'iprev', 'reject', '550 5.7.25 no PTR (ref OLDREF23)', 'iprev=fail: old')"
why=$("$CTL_BIN" -c "$T/console.conf" why OLDREF23 2>&1) || why="exit $?: $why"
has "ingressctl why finds an 8-character reference of an older version" "$why" "192.0.2.8"
code=$(get 198.51.100.2 /why/OLDREF23)
expect "the public page does not show an 8-character reference: 404, the same page" \
    "404 $unknown" "$code $(cat "$T/body")"
# The store's lookup by key also matches queue ids and accounts; a refusal whose queue id or
# account has the shape of a reference (as some MTA's queue ids or a site's account names could)
# is not that reference's page.
sql "INSERT INTO decisions (time, queue_id, ref, client_ip, helo, sender, recipient,
    account, check_name, action, reply, detail) VALUES ($(date +%s), 'QUEUEIDQUEUEIDQ2',
    'OTHERREFOTHERREF', '192.0.2.9', 'x.example', 'a@x.example', 'b@mx.example.test',
    'ACCOUNTACCOUNTAC', 'spf', 'reject', '550 5.7.23 x', 'spf=fail')"
for key in QUEUEIDQUEUEIDQ2 ACCOUNTACCOUNTAC; do
    code=$(get 198.51.100.2 "/why/$key")
    expect "a refusal whose queue id or account is $key: not its page (404, the same page)" \
        "404 $unknown" "$code $(cat "$T/body")"
done
code=$(curl -sS -o "$T/body" -w '%{http_code}' "$S/why/$REF")
expect "the staff listener does not serve the public page" 404 "$code"

# ---- the site's explanation, escaped ----
"$CTL_BIN" -c "$T/console.conf" explain set iprev \
    '<script>alert(1)</script> Ask "hostmaster" & fix the PTR' --by pm >/dev/null
get 198.51.100.3 "/why/$REF" >/dev/null
page=$(cat "$T/body")
has "the site's explanation replaces the built-in one, escaped" "$page" \
    "&lt;script&gt;alert(1)&lt;/script&gt; Ask &quot;hostmaster&quot; &amp; fix the PTR"
lacks "no <script> from an explanation" "$page" "<script>"
lacks "the built-in fix is gone" "$page" "PTR record naming a host whose A or AAAA"
listed=$("$CTL_BIN" -c "$T/console.conf" explain list)
has "explain list shows the site's text" "$listed" 'iprev     <script>alert(1)</script> Ask'
has "explain list shows the built-in ones" "$listed" "spf       (built in) Publish an SPF record"
"$CTL_BIN" -c "$T/console.conf" explain unset iprev >/dev/null

# ---- the review form ----
post() { # post CLIENT PATH ARGS...
    local client=$1 path=$2
    shift 2
    curl -sS -H "X-Real-IP: $client" -o "$T/body" -w '%{http_code}' "$@" "$P$path"
}
code=$(post 198.51.100.4 "/why/$REF/review" --data-urlencode "contact=admin@nowhere.test" \
    --data-urlencode "text=Our PTR is fixed <b>now</b>; please look again.")
expect "POST /why/REF/review: 200" 200 "$code"
has "the answer says the request was sent" "$(cat "$T/body")" "Your request was sent"
curl -sS -c "$T/jar" -o "$T/login" -H 'Content-Type: application/json' \
    -d '{"name":"sam","password":"support-secret-1"}' "$S/api/login"
CSRF=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["csrf_token"])' \
    "$T/login")
reviews=$(curl -sS -b "$T/jar" "$S/api/reviews")
has "GET /api/reviews (support) lists the request" "$reviews" '"ref":"'"$REF"'"'
has "with the sender's contact as from" "$reviews" '"from":"admin@nowhere.test"'
has "with the sender's words" "$reviews" "Our PTR is fixed <b>now</b>; please look again."
has "with the client it came from" "$reviews" '"client":"198.51.100.4"'
has "open" "$reviews" '"state":"open"'
listed=$("$CTL_BIN" -c "$T/console.conf" review list)
has "ingressctl review list shows it" "$listed" "admin@nowhere.test"
has "ingressctl review list: its reference" "$listed" "$REF"
ID=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])[0]["id"])' "$reviews")
code=$(curl -sS -o /dev/null -w '%{http_code}' -b "$T/jar" -H 'Content-Type: application/json' \
    -d '{"reason":"PTR fixed"}' "$S/api/reviews/$ID/close")
expect "POST /api/reviews/ID/close without the CSRF token: 403" 403 "$code"
closed=$(curl -sS -b "$T/jar" -H "X-CSRF-Token: $CSRF" -H 'Content-Type: application/json' \
    -d '{"reason":"PTR fixed, told the sender"}' "$S/api/reviews/$ID/close")
has "POST /api/reviews/ID/close: closed by who, from where" "$closed" \
    '"closed_by":"sam via console from 127.0.0.1"'
listed=$("$CTL_BIN" -c "$T/console.conf" review list --all --json)
has "review list --all: closed, with the reason" "$listed" '"reason": "PTR fixed, told the sender"'
code=$(curl -sS -o /dev/null -w '%{http_code}' -b "$T/jar" -H "X-CSRF-Token: $CSRF" \
    -H 'Content-Type: application/json' -d '{"reason":"again"}' "$S/api/reviews/$ID/close")
expect "closing it twice: 404" 404 "$code"
code=$(post 198.51.100.4 "/why/$REF/review" --data-urlencode "contact=not an address" \
    --data-urlencode "text=hello")
expect "a contact that is no address: 400" 400 "$code"
code=$(post 198.51.100.4 "/why/$REF/review" --data-urlencode "contact=a@nowhere.test" \
    --data-urlencode "text=$(head -c 1001 /dev/zero | tr '\0' x)")
expect "a text over 1000 characters: 400" 400 "$code"
code=$(post 198.51.100.5 "/why/$REF/review" --data-urlencode "contact=a@nowhere.test" \
    --data-urlencode "text=$(printf 'bell \a here')")
expect "a text with a control character: 400" 400 "$code"
code=$(post 198.51.100.5 "/why/$REF/review" --data-urlencode "contact=a@nowhere.test" \
    --data-urlencode "text=")
expect "an empty text: 400" 400 "$code"
code=$(post 198.51.100.6 /why/AAAAAAAAAAAAAAAA/review --data-urlencode "contact=a@nowhere.test" \
    --data-urlencode "text=hello")
expect "a review of an unknown reference: 404" 404 "$code"
# Five review requests a client an hour (198.51.100.4 sent 3, 198.51.100.5 sent 2 above).
for i in 1 2 3 4; do
    code=$(post 198.51.100.5 "/why/$REF/review" --data-urlencode "contact=x" \
        --data-urlencode "text=bad contact $i")
done
expect "a sixth review request of one client within the hour: 429" 429 "$code"
has "with Retry-After" "$(curl -sS -H 'X-Real-IP: 198.51.100.5' -D - -o /dev/null \
    --data-urlencode "contact=x" --data-urlencode "text=y" "$P/why/$REF/review")" "Retry-After: "
for i in 1 2 3 4; do
    code=$(post "198.51.100.1$i" "/why/$REF/review" --data-urlencode "contact=a$i@nowhere.test" \
        --data-urlencode "text=request $i")
    [[ $i == 4 ]] || expect "open request $i of the reference: 200" 200 "$code"
done
expect "a fourth open request of one reference: 429 (3 at most)" 429 "$code"

# ---- the per-client limit ----
codes=
for _ in $(seq 21); do
    codes+=" $(get 203.0.113.9 "/why/$REF")"
done
expect "20 pages a minute, then 429" "$(printf ' 200%.0s' $(seq 20)) 429" "$codes"
has "429 says when to come back" "$(cat "$T/headers")" "Retry-After: "
expect "another client is still served" 200 "$(get 203.0.113.10 "/why/$REF")"
# From a peer that is not this host, X-Real-IP is not believed: 127.0.0.2 is its own client.
codes=
for i in $(seq 21); do
    codes+=" $(curl -sS --interface 127.0.0.2 -H "X-Real-IP: 192.0.2.$i" -o /dev/null \
        -w '%{http_code}' "$P/why/$REF")"
done
expect "a peer elsewhere is counted by its address, whatever X-Real-IP says" \
    "$(printf ' 200%.0s' $(seq 20)) 429" "$codes"

# ---- a real browser ----
if [[ -n $SHOTS ]]; then
    if "$PYTHON" "$HERE/public_browser.py" "$P" "$REF" "$SHOTS" >"$T/browser.out" 2>&1; then
        ok "headless Chromium shows the page: $(tail -n 1 "$T/browser.out")"
    else
        not_ok "headless Chromium shows the page" "$(tail -n 20 "$T/browser.out")"
    fi
fi

kill -TERM "$CONSOLE_PID"
if wait "$CONSOLE_PID"; then
    ok "ingress-console stops on SIGTERM with status 0"
else
    not_ok "ingress-console stops on SIGTERM with status 0" "$(tail -n 5 "$T/console.log")"
fi
finish
