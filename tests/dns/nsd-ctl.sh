#!/bin/bash
# nsd-ctl.sh: a private NSD serving the zones of this folder on 127.0.0.1, for the tests.
#
#   nsd-ctl.sh start DIR   writes DIR/nsd.conf (one zone per tests/dns/*.zone, named by its
#                          $ORIGIN, else by the file name without .zone), starts NSD on a free
#                          port and prints the port
#   nsd-ctl.sh start DIR ZONEDIR
#                          the same with the *.zone files of ZONEDIR instead (a zone whose
#                          $ORIGIN is "." serves the root); the first zone's SOA is the probe
#   nsd-ctl.sh stop DIR    stops the NSD of DIR by the PID in its pidfile and waits for it to exit
#
# Everything NSD writes (pidfile, zone list, xfrd state, log) stays in DIR, so several instances can
# run side by side, as root or not.  A process is only ever stopped by its recorded PID.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
nsd=${NSD:-/usr/sbin/nsd}
checkconf=${NSD_CHECKCONF:-/usr/sbin/nsd-checkconf}
python=/usr/bin/python3 # Debian's python3-dnslib is installed for this one

die() {
    echo "nsd-ctl: $*" >&2
    exit 1
}

# The zone's name: its $ORIGIN line when it has one (the file name cannot always carry it, e.g.
# 2001.db8.ip6.arpa.zone holds 8.b.d.0.1.0.0.2.ip6.arpa), else the file name without .zone.
zone_name() {
    local origin
    origin=$(awk '$1 == "$ORIGIN" { if ($2 != ".") sub(/\.$/, "", $2); print $2; exit }' "$1")
    echo "${origin:-$(basename "$1" .zone)}"
}

write_conf() {
    local dir=$1 port=$2 zone file
    {
        echo "server:"
        echo "    ip-address: 127.0.0.1@$port"
        echo "    do-ip6: no"
        echo "    server-count: 1"
        echo "    username: \"\""
        echo "    chroot: \"\""
        echo "    database: \"\""
        echo "    zonesdir: \"$dir/zones\""
        echo "    zonelistfile: \"$dir/zone.list\""
        echo "    xfrdfile: \"$dir/xfrd.state\""
        echo "    xfrdir: \"$dir\""
        echo "    pidfile: \"$dir/nsd.pid\""
        echo "    logfile: \"$dir/nsd.log\""
        echo "    verbosity: 1"
        echo "    hide-version: yes"
        echo "remote-control:"
        echo "    control-enable: no"
        for file in "$dir"/zones/*.zone; do
            zone=$(zone_name "$file")
            echo "zone:"
            echo "    name: \"$zone\""
            echo "    zonefile: \"$(basename "$file")\""
        done
    } >"$dir/nsd.conf"
}

# True when NSD answers the SOA of zone $2 (default example.test) on port $1 (UDP), within about
# a second.
probe() {
    local port=$1 zone=${2:-example.test}
    "$python" - "$port" "$zone" <<'EOF'
import socket, sys, time
from dnslib import DNSRecord, RCODE
port = int(sys.argv[1])
q = DNSRecord.question(sys.argv[2], "SOA")
for _ in range(20):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.05)
    try:
        s.sendto(q.pack(), ("127.0.0.1", port))
        r = DNSRecord.parse(s.recv(4096))
        if r.header.id == q.header.id and r.header.rcode == RCODE.NOERROR and r.rr:
            sys.exit(0)
    except OSError:
        time.sleep(0.05)
    finally:
        s.close()
sys.exit(1)
EOF
}

# Waits up to about 5 s for PID to exit; true when it did.
wait_exit() {
    local pid=$1 i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.05
    done
    return 1
}

stop() {
    local dir=$1 pid
    [[ -f $dir/nsd.pid ]] || return 0
    pid=$(<"$dir/nsd.pid")
    [[ $pid =~ ^[0-9]+$ ]] || die "bad pidfile $dir/nsd.pid"
    if kill "$pid" 2>/dev/null; then
        wait_exit "$pid" || {
            kill -KILL "$pid" 2>/dev/null || true
            wait_exit "$pid" || die "NSD (pid $pid) does not exit"
        }
    fi
    rm -f "$dir/nsd.pid"
}

start() {
    local dir=$1 src=${2:-$here} port attempt probe_zone=""
    mkdir -p "$dir/zones"
    dir=$(cd "$dir" && pwd)
    cp "$src"/*.zone "$dir/zones/"
    if [[ $# -ge 2 ]]; then
        local first=("$dir"/zones/*.zone)
        probe_zone=$(zone_name "${first[0]}")
    fi
    # A random port may be taken: NSD binds before it daemonizes and exits when it cannot, so a
    # failed start is retried on another port.  The probe catches a port that some other process
    # took between our bind and our query.
    for ((attempt = 0; attempt < 20; attempt++)); do
        port=$((20000 + RANDOM % 40000))
        write_conf "$dir" "$port"
        "$checkconf" "$dir/nsd.conf" >&2 || die "nsd-checkconf rejects $dir/nsd.conf"
        rm -f "$dir/nsd.pid"
        if "$nsd" -c "$dir/nsd.conf" 2>>"$dir/nsd.log" && probe "$port" $probe_zone; then
            echo "$port"
            return 0
        fi
        stop "$dir"
    done
    cat "$dir/nsd.log" >&2 || true
    die "NSD did not start (log above)"
}

case "${1:-}" in
start) [[ $# -eq 2 || $# -eq 3 ]] || die "usage: $0 start DIR [ZONEDIR]"; start "${@:2}" ;;
stop) [[ $# -eq 2 ]] || die "usage: $0 stop DIR"; stop "$2" ;;
*) die "usage: $0 start DIR [ZONEDIR] | stop DIR" ;;
esac
