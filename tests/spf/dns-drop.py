#!/usr/bin/python3
"""dns-drop.py UPSTREAM_PORT TIMEOUT_NAMES_FILE PIDFILE: a forwarder in front of NSD that makes
the RFC 7208 suite's TIMEOUT names time out.

NSD cannot leave a query unanswered, so this forwards every query (UDP and TCP, 127.0.0.1) to
NSD and drops the reply when the name is marked TIMEOUT and NSD has no answer for it, which is
the suite's meaning ("spftimeout: TXT record present, but SPF lookup times out").  Our resolver
then sees a real timeout.  Prints the port it listens on, then serves until killed (by the PID in
PIDFILE).  Debian's /usr/bin/python3 with python3-dnslib.
"""
import os
import random
import socket
import socketserver
import struct
import sys
import threading

from dnslib import DNSRecord

UPSTREAM = ("127.0.0.1", int(sys.argv[1]))
with open(sys.argv[2]) as names_file:
    TIMEOUT_NAMES = {line.strip().lower() for line in names_file if line.strip()}


def forward_udp(query):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    try:
        s.sendto(query, UPSTREAM)
        return s.recv(65535)
    except OSError:
        return None
    finally:
        s.close()


def forward_tcp(query):
    try:
        with socket.create_connection(UPSTREAM, timeout=2) as s:
            s.sendall(struct.pack("!H", len(query)) + query)
            head = s.recv(2, socket.MSG_WAITALL)
            (n,) = struct.unpack("!H", head)
            return s.recv(n, socket.MSG_WAITALL)
    except (OSError, struct.error):
        return None


def should_drop(query, reply):
    try:
        q = DNSRecord.parse(query)
        name = str(q.q.qname).rstrip(".").lower()
        if name not in TIMEOUT_NAMES:
            return False
        return len(DNSRecord.parse(reply).rr) == 0
    except Exception:  # a packet dnslib cannot parse is passed on as it is
        return False


class UDPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        query, sock = self.request
        reply = forward_udp(query)
        if reply is not None and not should_drop(query, reply):
            sock.sendto(reply, self.client_address)


class TCPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            head = self.request.recv(2, socket.MSG_WAITALL)
            (n,) = struct.unpack("!H", head)
            query = self.request.recv(n, socket.MSG_WAITALL)
        except (OSError, struct.error):
            return
        reply = forward_tcp(query)
        if reply is not None and not should_drop(query, reply):
            self.request.sendall(struct.pack("!H", len(reply)) + reply)


class UDPServer(socketserver.ThreadingMixIn, socketserver.UDPServer):
    daemon_threads = True


class TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    for _ in range(50):
        port = random.randint(20000, 60000)
        try:
            udp = UDPServer(("127.0.0.1", port), UDPHandler)
        except OSError:
            continue
        try:
            tcp = TCPServer(("127.0.0.1", port), TCPHandler)
        except OSError:
            udp.server_close()
            continue
        break
    else:
        raise SystemExit("dns-drop: no free port")
    with open(sys.argv[3], "w") as f:
        f.write("%d\n" % os.getpid())
    threading.Thread(target=tcp.serve_forever, daemon=True).start()
    print(port, flush=True)
    udp.serve_forever()


main()
