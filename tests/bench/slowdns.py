#!/usr/bin/python3
"""slowdns.py PORTFILE UPSTREAM_PORT DELAY_MS LOGFILE: a DNS forwarder on 127.0.0.1 that answers
every query DELAY_MS late (the cold-cache figure of tests/bench/run.sh).

Listens on a free UDP port of 127.0.0.1 (written to PORTFILE once it listens), forwards each query
to the test NSD on 127.0.0.1:UPSTREAM_PORT and sends the answer back DELAY_MS after the query
arrived, each query in its own thread, so queries sent together are answered together.  Appends
one line per query to LOGFILE: arrival time (ms, monotonic), name and type.  A milter that sends
the queries of a step together waits about DELAY_MS per step; one that sends them one after the
other waits DELAY_MS per query.  Stopped by SIGTERM.  Debian's /usr/bin/python3 with python3-dnslib.
"""
import os
import signal
import socket
import sys
import threading
import time

from dnslib import DNSRecord


def main():
    if len(sys.argv) != 5:
        sys.stderr.write("usage: slowdns.py PORTFILE UPSTREAM_PORT DELAY_MS LOGFILE\n")
        return 2
    portfile, upstream, delay, logfile = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    log = open(logfile, "a", buffering=1)
    lock = threading.Lock()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    def answer(data, peer, arrived):
        try:
            q = DNSRecord.parse(data)
            name, qtype = str(q.q.qname), q.q.qtype
        except Exception:  # not DNS: dropped, as a server would
            return
        with lock:
            log.write(f"{arrived * 1000:.3f} {name} {qtype}\n")
        up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        up.settimeout(2)
        try:
            up.sendto(data, ("127.0.0.1", upstream))
            reply, _ = up.recvfrom(65535)
        except OSError:
            return
        finally:
            up.close()
        wait = arrived + delay / 1000.0 - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        sock.sendto(reply, peer)

    with open(portfile + ".tmp", "w") as f:
        f.write(f"{sock.getsockname()[1]}\n")
    os.rename(portfile + ".tmp", portfile)
    while True:
        data, peer = sock.recvfrom(65535)
        threading.Thread(target=answer, args=(data, peer, time.monotonic()), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
