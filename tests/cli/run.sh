#!/usr/bin/env bash
# Bad input to milter-ingress and ingressctl: broken config files, unusable socket and database
# paths, unix socket handling (mode, stale socket), SIGHUP with a broken and a good config, and
# ingressctl's usage errors.  No MTA and no DNS server needed.
#
#   tests/cli/run.sh MILTER_BIN INGRESSCTL_BIN
#
# Prints one "ok - NAME" / "not ok - NAME" line per check and "N passed, M failed" at the end;
# exits non-zero when a check failed.  Every daemon started is stopped by its PID on exit.
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 MILTER_BIN INGRESSCTL_BIN" >&2
    exit 2
fi
MILTER_BIN=$(realpath -- "$1")
CTL_BIN=$(realpath -- "$2")
PYTHON=/usr/bin/python3

T=$(mktemp -d /tmp/ingress-cli.XXXXXX)
DAEMON_PID=
PASSED=0
FAILED=0

say() { printf '# %s\n' "$*"; }

alive() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ -n $state && $state != Z* ]]
}

wait_gone() {
    local pid=$1 i
    for ((i = 0; i < $2 * 10; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
    ! alive "$pid"
}

# stop_daemon [SIGNAL]: signals the daemon started last (TERM by default), waits for it (KILL
# after 10 s) and sets DAEMON_STATUS to its exit status.
stop_daemon() {
    DAEMON_STATUS=
    [[ -n $DAEMON_PID ]] || return 0
    kill "-${1:-TERM}" "$DAEMON_PID" 2>/dev/null || true
    if ! wait_gone "$DAEMON_PID" 10; then
        say "pid $DAEMON_PID still running 10 s after SIG${1:-TERM}; killing it"
        kill -KILL "$DAEMON_PID" 2>/dev/null || true
    fi
    DAEMON_STATUS=0
    wait "$DAEMON_PID" 2>/dev/null || DAEMON_STATUS=$?
    DAEMON_PID=
}

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    stop_daemon
    if [[ $rc -ne 0 || $FAILED -ne 0 ]]; then
        say "test directory kept: $T"
    else
        rm -rf -- "$T"
    fi
    [[ $rc -ne 0 ]] || [[ $FAILED -eq 0 ]] || rc=1
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ok() {
    PASSED=$((PASSED + 1))
    echo "ok - $1"
}

not_ok() {
    FAILED=$((FAILED + 1))
    echo "not ok - $1"
    shift
    local line
    for line in "$@"; do
        printf '%s\n' "$line" | sed 's/^/#   /'
    done
}

# run CMD...: runs CMD bounded to 10 s; sets RC (124: timed out), OUT and ERR.
run() {
    RC=0
    timeout 10 "$@" >"$T/out" 2>"$T/err" </dev/null || RC=$?
    OUT=$(<"$T/out")
    ERR=$(<"$T/err")
}

details() {
    printf 'exit %s\nstdout: %s\nstderr: %s\n' "$RC" "$OUT" "$ERR"
}

# has TEXT NEEDLE: fixed-string containment.
has() {
    [[ $1 == *"$2"* ]]
}

# zero_counters TEXT: the log lines of TEXT that only count nothing (two counts or more, all 0,
# like "dkim key cache: 0 hits, 0 decoded ..."): noise a reload or a failed start must not print.
zero_counters() {
    awk '{ line = $0; sub(/^[^ ]+ [a-z]+: /, "", line)
           z = line; zeros = gsub(/(^|[ (])0[ ,)]/, "", z)
           n = line; others = gsub(/(^|[ (])[1-9][0-9]*[ ,)]/, "", n)
           if (zeros >= 2 && others == 0) print $0 }' <<<"$1"
}

# can_connect PATH: a unix stream socket at PATH accepts a connection.
can_connect() {
    "$PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(3)
s.connect(sys.argv[1])
s.close()' "$1" 2>/dev/null
}

# wait_socket PATH: up to 10 s for the daemon to accept on PATH, while it is alive.
wait_socket() {
    local i
    for ((i = 0; i < 100; i++)); do
        can_connect "$1" && return 0
        alive "$DAEMON_PID" || return 1
        sleep 0.1
    done
    return 1
}

# write_conf FILE [LINE...]: a config usable as is (own socket and database, no privilege drop
# and allow_root, a DNS server that is never asked), followed by LINEs; a LINE setting one of these base options
# replaces it (an option set twice is an error).
write_conf() {
    local file=$1 name base line
    name=$(basename "$1" .conf)
    shift
    {
        echo "# milter-ingress configuration for tests/cli/run.sh"
        for base in "socket = unix:$T/$name.sock" "database = $T/$name.db" \
            "dns_servers = 127.0.0.1:9" "user =" "allow_root = yes"; do
            for line in "$@"; do
                [[ ${line%% *} != "${base%% *}" ]] || continue 2
            done
            echo "$base"
        done
        for line in "$@"; do
            echo "$line"
        done
    } >"$file"
}

# The line number of the last line of FILE, that is the line the tests above append last.
last_line() {
    wc -l <"$1" | tr -d ' '
}

# ---------------------------------------------------------------------------------------------
# milter-ingress -t: config errors exit 2 and name FILE:LINE and the key.

f=$T/typo.conf
write_conf "$f" "greylist_dealy = 5m"
run "$MILTER_BIN" -t -c "$f"
if [[ $RC -eq 2 ]] && has "$ERR" "$f:$(last_line "$f")" && has "$ERR" greylist_dealy; then
    ok "unknown key (greylist_dealy): -t exits 2 naming $(basename "$f"):$(last_line "$f") and the key"
else
    not_ok "unknown key (greylist_dealy): -t exits 2 naming FILE:LINE and the key" "$(details)"
fi

bad_values=("dns_timeout = soon" "iprev_action = maybe" "dns_tries = -3")
for line in "${bad_values[@]}"; do
    key=${line%% *}
    f=$T/bad-$key.conf
    write_conf "$f" "# the bad line comes next" "$line"
    run "$MILTER_BIN" -t -c "$f"
    if [[ $RC -eq 2 ]] && has "$ERR" "$f:$(last_line "$f")" && has "$ERR" "$key"; then
        ok "bad value '$line': -t exits 2 naming FILE:LINE and $key"
    else
        not_ok "bad value '$line': -t exits 2 naming FILE:LINE and $key" "$(details)"
    fi
done

f=$T/malformed.conf
write_conf "$f" "this line has no equals sign"
run "$MILTER_BIN" -t -c "$f"
if [[ $RC -eq 2 ]] && has "$ERR" "$f:$(last_line "$f")"; then
    ok "line without '=': -t exits 2 naming FILE:LINE"
else
    not_ok "line without '=': -t exits 2 naming FILE:LINE" "$(details)"
fi

run "$MILTER_BIN" -t -c "$T/missing.conf"
if [[ $RC -eq 2 ]] && has "$ERR" "$T/missing.conf"; then
    ok "missing config file: -t exits 2 naming it"
else
    not_ok "missing config file: -t exits 2 naming it" "$(details)"
fi

run "$MILTER_BIN" -c "$T/missing.conf" -f
if [[ $RC -eq 2 ]]; then
    ok "missing config file: the daemon exits 2"
else
    not_ok "missing config file: the daemon exits 2" "$(details)"
fi

f=$T/good.conf
write_conf "$f" "authserv_id = mx.cli.example" "help_text = https://help.example/{check}?ref={ref}"
run "$MILTER_BIN" -t -c "$f"
if [[ $RC -eq 0 ]]; then
    ok "good config: -t exits 0"
else
    not_ok "good config: -t exits 0" "$(details)"
fi

# -t reports every error of the file, each with its line, not only the first.
f=$T/many-errors.conf
write_conf "$f" "greylist_dealy = 5m" "dns_timeout = soon" "no equals sign here" "greylist = maybe"
n=$(last_line "$f")
run "$MILTER_BIN" -t -c "$f"
if [[ $RC -eq 2 ]] && has "$ERR" "$f:$((n - 3)): greylist_dealy" &&
    has "$ERR" "$f:$((n - 2)): dns_timeout" && has "$ERR" "$f:$((n - 1)): malformed line" &&
    has "$ERR" "$f:$n: greylist:" && [[ $(grep -c "$f:[0-9]" <<<"$ERR") -eq 4 ]]; then
    ok "four bad lines: -t exits 2 and names each of them"
else
    not_ok "four bad lines: -t exits 2 and names each of them" "$(details)"
fi

# -t checks what a start checks, and creates nothing: an account that does not exist, a database
# whose directory does not exist; a usable one is left as it was (no database file made).
f=$T/no-user.conf
write_conf "$f" "user = no-such-account-cli"
run "$MILTER_BIN" -t -c "$f"
if [[ $RC -eq 2 ]] && has "$ERR" "$f:$(last_line "$f"): user: no account named \"no-such-account-cli\""; then
    ok "-t: a user that does not exist exits 2 naming FILE:LINE"
else
    not_ok "-t: a user that does not exist exits 2 naming FILE:LINE" "$(details)"
fi
f=$T/no-db-dir.conf
write_conf "$f" "database = $T/no-such-dir/x.db"
run "$MILTER_BIN" -t -c "$f"
if [[ $RC -eq 2 ]] && has "$ERR" "its directory $T/no-such-dir does not exist" && [[ ! -e $T/no-such-dir ]]; then
    ok "-t: a database directory that does not exist exits 2, and is not created"
else
    not_ok "-t: a database directory that does not exist exits 2, and is not created" "$(details)"
fi
f=$T/creates-nothing.conf
write_conf "$f"
run "$MILTER_BIN" -t -c "$f"
if [[ $RC -eq 0 ]] && [[ ! -e $T/creates-nothing.db && ! -e $T/creates-nothing.sock ]]; then
    ok "-t on a good config creates neither the database nor the socket"
else
    not_ok "-t on a good config creates neither the database nor the socket" "$(details)" \
        "$(ls -l "$T")"
fi

# main.cf's continued lines, and comments after values (which main.cf does not have); -n KEY... prints those options like
# `postconf KEY`, defaults included; an unknown key exits 2 after the others are printed.
f=$T/postconf.conf
write_conf "$f" "exempt_recipients = postmaster,   # the usual ones" "    abuse@example.org" \
    "# a comment line between" "	security@example.org" "greylist_delay = 10m  # ten minutes"
run "$MILTER_BIN" -c "$f" -n exempt_recipients greylist_delay dns_tries
want="exempt_recipients = postmaster, abuse@example.org, security@example.org
greylist_delay = 10m
dns_tries = 2"
if [[ $RC -eq 0 && $OUT == "$want" ]]; then
    ok "-n KEY...: continued lines and comments after values read, each key printed as key = value"
else
    not_ok "-n KEY...: continued lines and comments after values read, each key printed as key = value" \
        "$(details)" "wanted: $want"
fi
run "$MILTER_BIN" -c "$f" -n greylist_delay no_such_key
if [[ $RC -eq 2 && $OUT == "greylist_delay = 10m" ]] && has "$ERR" "no_such_key: unknown option"; then
    ok "-n with an unknown key: the others printed, the unknown one named, exit 2"
else
    not_ok "-n with an unknown key: the others printed, the unknown one named, exit 2" "$(details)"
fi

# ---------------------------------------------------------------------------------------------
# public_suffix_list: a list that cannot be read or is no suffix list is a config error (-t and the
# daemon exit 2, naming FILE:LINE when the file set it).

f=$T/psl-missing.conf
write_conf "$f" "public_suffix_list = $T/no-such-list.dat"
run "$MILTER_BIN" -t -c "$f"
if [[ $RC -eq 2 ]] && has "$ERR" "$f:$(last_line "$f"): public_suffix_list: $T/no-such-list.dat" &&
    has "$ERR" "No such file"; then
    ok "missing public_suffix_list: -t exits 2 naming FILE:LINE, the key, the path and why"
else
    not_ok "missing public_suffix_list: -t exits 2 naming FILE:LINE, the key, the path and why" \
        "$(details)"
fi
run "$MILTER_BIN" -f -c "$f"
if [[ $RC -eq 2 ]] && has "$ERR" "$f:$(last_line "$f"): public_suffix_list"; then
    ok "missing public_suffix_list: the daemon exits 2 naming FILE:LINE"
else
    not_ok "missing public_suffix_list: the daemon exits 2 naming FILE:LINE" "$(details)"
fi

f=$T/psl-foreign.conf
write_conf "$f" "public_suffix_list = $T/good.conf"
run "$MILTER_BIN" -t -c "$f"
if [[ $RC -eq 2 ]] && has "$ERR" "$f:$(last_line "$f"): public_suffix_list" &&
    has "$ERR" "not a Public Suffix List"; then
    ok "a config file as public_suffix_list: -t exits 2, not a Public Suffix List"
else
    not_ok "a config file as public_suffix_list: -t exits 2, not a Public Suffix List" "$(details)"
fi

run "$MILTER_BIN" -t -c "$T/good.conf" -o "public_suffix_list=$T/no-such-list.dat"
if [[ $RC -eq 2 ]] && has "$ERR" "public_suffix_list: $T/no-such-list.dat"; then
    ok "-o public_suffix_list with a missing file: exits 2 naming the key and the path"
else
    not_ok "-o public_suffix_list with a missing file: exits 2 naming the key and the path" \
        "$(details)"
fi

# ---------------------------------------------------------------------------------------------
# -n prints exactly the options that differ from their defaults ("name = value"), -o included.
# dns_tries = 2 and dns_cache_max_ttl = 60m are the defaults, spelled differently for the second.

f=$T/nondefault.conf
write_conf "$f" "dns_timeout = 3s" "iprev_action = tempfail" "dns_tries = 2" \
    "dns_cache_max_ttl = 60m" "exempt_recipients = postmaster abuse"
run "$MILTER_BIN" -n -c "$f" -o authserv_id=mx.cli.example
expected=$(printf '%s\n' "socket = unix:$T/nondefault.sock" "database = $T/nondefault.db" \
    "dns_servers = 127.0.0.1:9" "allow_root = yes" "dns_timeout = 3s" "iprev_action = tempfail" \
    "authserv_id = mx.cli.example" | sort)
got=$(sort <<<"$OUT")
if [[ $RC -eq 0 && $got == "$expected" ]]; then
    ok "-n prints exactly the changed options (with -o)"
else
    not_ok "-n prints exactly the changed options (with -o)" "$(details)" "expected:" "$expected"
fi

# A PostgreSQL database value's password is never printed: -n shows the settings that name the
# server, rebuilt without it, for a URI and for key=value settings alike.
for value in "postgresql://ingress:s3cret@db.example.test:5433/mail" \
    "host=db.example.test port=5433 dbname=mail user=ingress password=s3cret"; do
    run "$MILTER_BIN" -n -c "$f" -o "database=$value"
    if [[ $RC -eq 0 ]] && has "$OUT" "database = host=db.example.test port=5433 dbname=mail user=ingress" &&
        ! has "$OUT$ERR" s3cret; then
        ok "-n shows a PostgreSQL database without its password ($value)"
    else
        not_ok "-n shows a PostgreSQL database without its password ($value)" "$(details)"
    fi
done

run "$MILTER_BIN" -t -c "$T/good.conf" -o dns_tries=-3
if [[ $RC -eq 2 ]] && has "$ERR" dns_tries; then
    ok "-o with a bad value: exits 2 naming the key"
else
    not_ok "-o with a bad value: exits 2 naming the key" "$(details)"
fi

# ---------------------------------------------------------------------------------------------
# Unusable socket and database paths: a clear message, a non-zero exit, no hang.

f=$T/nosockdir.conf
write_conf "$f" "socket = unix:/nonexistent/dir/sock"
run "$MILTER_BIN" -f -c "$f"
if [[ $RC -ne 0 && $RC -ne 124 ]] && has "$ERR" /nonexistent/dir/sock; then
    ok "socket in a missing directory: exits $RC naming the path"
else
    not_ok "socket in a missing directory: exits non-zero naming the path (124: hung)" \
        "$(details)"
fi
if [[ -z $(zero_counters "$ERR") ]]; then
    ok "a failed start logs no line of counters that counted nothing"
else
    not_ok "a failed start logs no line of counters that counted nothing" "$(details)"
fi

f=$T/nodbdir.conf
write_conf "$f" "database = /nonexistent/dir/ingress.db"
run "$MILTER_BIN" -f -c "$f"
if [[ $RC -ne 0 && $RC -ne 124 ]] && has "$ERR" /nonexistent/dir/ingress.db; then
    ok "database in a missing directory: exits $RC naming the path"
else
    not_ok "database in a missing directory: exits non-zero naming the path (124: hung)" \
        "$(details)"
fi
[[ ! -e $T/nodbdir.sock ]] || say "note: $T/nodbdir.sock was left behind"

# ---------------------------------------------------------------------------------------------
# Unix socket: mode, stale socket after kill -9, SIGHUP with a broken and with a good config.

f=$T/unix.conf
sock=$T/m.sock
log=$T/unix.log
write_conf "$f" "socket = unix:$sock" "socket_mode = 0660"
"$MILTER_BIN" -f -c "$f" 2>>"$log" &
DAEMON_PID=$!
if wait_socket "$sock"; then
    mode=$(stat -c %a "$sock")
    if [[ $mode == 660 ]]; then
        ok "socket_mode = 0660: the socket's mode is 660"
    else
        not_ok "socket_mode = 0660: the socket's mode is 660" "mode $mode"
    fi
else
    not_ok "daemon with socket unix:$sock accepts connections" "$(tail -n 20 "$log")"
fi

say "kill -9 on purpose, to leave a stale socket (bash may report the job as Killed)"
stop_daemon KILL
if [[ -S $sock ]]; then
    "$MILTER_BIN" -f -c "$f" 2>>"$log" &
    DAEMON_PID=$!
    if wait_socket "$sock" && sleep 0.5 && alive "$DAEMON_PID"; then
        ok "a stale socket left by kill -9 is replaced on the next start"
    else
        not_ok "a stale socket left by kill -9 is replaced on the next start" \
            "$(tail -n 20 "$log")"
    fi
else
    not_ok "a stale socket left by kill -9 is replaced on the next start" \
        "no socket file after kill -9 (the test cannot tell)"
fi

if [[ -n $DAEMON_PID ]] && alive "$DAEMON_PID"; then
    # A broken config: logged, the old config stays, the daemon keeps answering.
    cp "$f" "$f.good"
    echo "greylist_dealy = 5m" >>"$f"
    before=$(last_line "$log")
    kill -HUP "$DAEMON_PID"
    new=
    for ((i = 0; i < 50; i++)); do
        new=$(tail -n +"$((before + 1))" "$log")
        [[ -z $new ]] || break
        sleep 0.1
    done
    sleep 0.3
    new=$(tail -n +"$((before + 1))" "$log")
    if alive "$DAEMON_PID" && can_connect "$sock"; then
        ok "SIGHUP with a broken config: the daemon keeps running and answering"
    else
        not_ok "SIGHUP with a broken config: the daemon keeps running and answering" \
            "$(tail -n 20 "$log")"
    fi
    if has "$new" greylist_dealy; then
        ok "SIGHUP with a broken config: the error is logged with the key"
    else
        not_ok "SIGHUP with a broken config: the error is logged with the key" \
            "new log lines:" "$new"
    fi

    # A good changed config: a reload line.
    cp "$f.good" "$f"
    echo "dns_timeout = 3s" >>"$f"
    before=$(last_line "$log")
    kill -HUP "$DAEMON_PID"
    new=
    for ((i = 0; i < 50; i++)); do
        new=$(tail -n +"$((before + 1))" "$log")
        grep -qi 'reload' <<<"$new" && break
        sleep 0.1
    done
    if grep -qi 'reload' <<<"$new" && alive "$DAEMON_PID" && can_connect "$sock"; then
        ok "SIGHUP with a good changed config: a reload line is logged, still answering"
    else
        not_ok "SIGHUP with a good changed config: a reload line is logged, still answering" \
            "new log lines:" "$new"
    fi
    # The old configuration's DKIM verifier and store are closed just after the reload line.
    sleep 0.5
    new=$(tail -n +"$((before + 1))" "$log")
    if [[ -z $(zero_counters "$new") ]]; then
        ok "SIGHUP with no mail in between logs no line of counters that counted nothing"
    else
        not_ok "SIGHUP with no mail in between logs no line of counters that counted nothing" \
            "new log lines:" "$new"
    fi

    stop_daemon TERM
    if [[ $DAEMON_STATUS -eq 0 ]]; then
        ok "SIGTERM: the daemon exits 0"
    else
        not_ok "SIGTERM: the daemon exits 0" "exit status $DAEMON_STATUS" "$(tail -n 20 "$log")"
    fi
fi
if grep -qE 'ERROR: AddressSanitizer|LeakSanitizer|runtime error:' "$log"; then
    not_ok "no sanitizer report from the daemon" "$(grep -E -A20 'Sanitizer|runtime error:' "$log")"
fi

# ---------------------------------------------------------------------------------------------
# The Public Suffix List is read at start (its date and rule count logged) and again at SIGHUP; a
# list gone at SIGHUP is a failed reload that keeps the running one.

list=$T/psl.dat
cp /usr/share/publicsuffix/public_suffix_list.dat "$list"
touch -d '2001-09-09 12:00:00 UTC' "$list"
rules=$(grep -cvE '^(//|!|$)' "$list") || true
exceptions=$(grep -c '^!' "$list") || true
f=$T/psl.conf
sock=$T/psl.sock
log=$T/psl.log
write_conf "$f" "socket = unix:$sock" "public_suffix_list = $list"
"$MILTER_BIN" -f -c "$f" 2>>"$log" &
DAEMON_PID=$!
if wait_socket "$sock"; then
    want="public suffix list $list: $((rules + exceptions)) rules, dated 2001-09-09"
    if grep -qF "$want" "$log"; then
        ok "start: the list's path, rule count and date are logged"
    else
        not_ok "start: the log says '$want'" "$(tail -n 20 "$log")"
    fi

    # A new list: one more rule, another date; SIGHUP reads it.
    printf '// ===BEGIN PRIVATE DOMAINS===\nusers.cli.example\n// ===END PRIVATE DOMAINS===\n' \
        >>"$list"
    touch -d '2002-02-02 12:00:00 UTC' "$list"
    before=$(last_line "$log")
    kill -HUP "$DAEMON_PID"
    new=
    for ((i = 0; i < 50; i++)); do
        new=$(tail -n +"$((before + 1))" "$log")
        grep -q 'configuration reloaded' <<<"$new" && break
        sleep 0.1
    done
    want="public suffix list $list: $((rules + exceptions + 1)) rules, dated 2002-02-02"
    if grep -qF "$want" <<<"$new" && grep -q 'configuration reloaded' <<<"$new"; then
        ok "SIGHUP: the list is read again (one more rule, the new date)"
    else
        not_ok "SIGHUP: the log says '$want'" "new log lines:" "$new"
    fi

    mv "$list" "$list.gone"
    before=$(last_line "$log")
    kill -HUP "$DAEMON_PID"
    new=
    for ((i = 0; i < 50; i++)); do
        new=$(tail -n +"$((before + 1))" "$log")
        grep -q 'reload failed' <<<"$new" && break
        sleep 0.1
    done
    if grep -qF "reload failed, keeping the running configuration: $f:$(last_line "$f"): public_suffix_list: $list: cannot open" <<<"$new" &&
        alive "$DAEMON_PID" && can_connect "$sock"; then
        ok "SIGHUP with the list gone: a failed reload naming FILE:LINE, still answering"
    else
        not_ok "SIGHUP with the list gone: a failed reload naming FILE:LINE, still answering" \
            "new log lines:" "$new"
    fi
else
    not_ok "daemon with public_suffix_list = $list starts" "$(tail -n 20 "$log")"
fi
stop_daemon
if grep -qE 'ERROR: AddressSanitizer|LeakSanitizer|runtime error:' "$log"; then
    not_ok "no sanitizer report from the daemon" "$(grep -E -A20 'Sanitizer|runtime error:' "$log")"
fi

# ---------------------------------------------------------------------------------------------
# Started as root with user = nobody: the socket and database are opened, then the process runs
# as nobody, and the files it must keep writing belong to nobody.

if [[ $(id -u) -eq 0 ]] && id nobody >/dev/null 2>&1; then
    pdir=$T/priv
    mkdir -p "$pdir"
    chown nobody "$pdir"
    chmod 755 "$T"
    f=$T/priv.conf
    log=$T/priv.log
    write_conf "$f" "socket = unix:$pdir/m.sock" "database = $pdir/ingress.db" "user = nobody"
    "$MILTER_BIN" -f -c "$f" 2>>"$log" &
    DAEMON_PID=$!
    if wait_socket "$pdir/m.sock"; then
        uid=$(awk '/^Uid:/ {print $2 "," $3 "," $4 "," $5}' "/proc/$DAEMON_PID/status")
        nobody=$(id -u nobody)
        if [[ $uid == "$nobody,$nobody,$nobody,$nobody" ]]; then
            ok "user = nobody: real, effective, saved and file uid are nobody's after start"
        else
            not_ok "user = nobody: the process runs as nobody" "Uid: $uid"
        fi
        owners=$(stat -c %U "$pdir/ingress.db" "$pdir/m.sock" | sort -u | tr '\n' ' ')
        if [[ $owners == "nobody " ]]; then
            ok "user = nobody: the database and the socket belong to nobody"
        else
            not_ok "user = nobody: the database and the socket belong to nobody" "owners: $owners"
        fi
        # SIGHUP reopens the database as nobody: it must still work.
        before=$(last_line "$log")
        kill -HUP "$DAEMON_PID"
        sleep 1
        if tail -n +"$((before + 1))" "$log" | grep -q "configuration reloaded"; then
            ok "user = nobody: SIGHUP reloads without root"
        else
            not_ok "user = nobody: SIGHUP reloads without root" "$(tail -n 10 "$log")"
        fi
    else
        not_ok "user = nobody: the daemon starts" "$(tail -n 20 "$log")"
    fi
    stop_daemon
else
    say "not root: privilege drop not tested"
fi

# ---------------------------------------------------------------------------------------------
# Without -f the log goes to syslog with the configured facility (a facility other than the
# first choice once crashed the daemon as it opened the log).

f=$T/syslog.conf
sock=$T/syslog.sock
write_conf "$f" "socket = unix:$sock" "log_facility = local3"
"$MILTER_BIN" -c "$f" 2>>"$T/syslog.log" &
DAEMON_PID=$!
if wait_socket "$sock"; then
    stop_daemon TERM
    if [[ $DAEMON_STATUS -eq 0 ]]; then
        ok "log_facility = local3 without -f: starts, answers and stops with 0"
    else
        not_ok "log_facility = local3 without -f: stops with 0" "exit status $DAEMON_STATUS"
    fi
else
    stop_daemon TERM
    not_ok "log_facility = local3 without -f: starts and answers" "exit status $DAEMON_STATUS" \
        "$(tail -n 5 "$T/syslog.log")"
fi

# ---------------------------------------------------------------------------------------------
# -V (and --version) print the version of the project (CMakeLists.txt) and exit 0, for both.

version=$(sed -n 's/^project(milter-ingress VERSION \([0-9.]*\).*/\1/p' \
    "$(dirname -- "${BASH_SOURCE[0]}")/../../CMakeLists.txt")
for cmd in "$MILTER_BIN -V" "$MILTER_BIN --version" "$CTL_BIN -V" "$CTL_BIN --version"; do
    # shellcheck disable=SC2086
    run $cmd
    if [[ $RC -eq 0 && -n $version && $OUT == "$(basename "${cmd%% *}") $version" ]]; then
        ok "$(basename "$cmd"): prints '$OUT'"
    else
        not_ok "$(basename "$cmd"): prints its name and version $version" "$(details)"
    fi
done

# ---------------------------------------------------------------------------------------------
# ingressctl usage errors exit 2.

run "$CTL_BIN" -c "$T/good.conf" frobnicate
if [[ $RC -eq 2 ]] && has "$ERR" "unknown verb frobnicate; see 'ingressctl --help'"; then
    ok "ingressctl frobnicate: exits 2 naming the verb and pointing at the help"
else
    not_ok "ingressctl frobnicate: exits 2 naming the verb and pointing at the help" "$(details)"
fi

run "$CTL_BIN" -c "$T/good.conf" why
if [[ $RC -eq 2 ]]; then
    ok "ingressctl why (no key): exits 2"
else
    not_ok "ingressctl why (no key): exits 2" "$(details)"
fi

run "$CTL_BIN" -c "$T/missing.conf" why x
if [[ $RC -eq 2 ]] && has "$ERR" "$T/missing.conf"; then
    ok "ingressctl -c missing.conf why x: exits 2 naming the file"
else
    not_ok "ingressctl -c missing.conf why x: exits 2 naming the file" "$(details)"
fi

run "$CTL_BIN" -c "$T/typo.conf" why x
if [[ $RC -eq 2 ]] && has "$ERR" greylist_dealy; then
    ok "ingressctl with a broken config: exits 2 naming the key"
else
    not_ok "ingressctl with a broken config: exits 2 naming the key" "$(details)"
fi

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
