#!/usr/bin/python3
"""A misbehaving DNS server for tests/hardening/dns-faults.sh and dns-bound.sh, on 127.0.0.1 (UDP
and TCP, same port; prints the port on stdout, then serves until killed).

    bad-dns.py [SLOW [QUERY_LOG]]

The leftmost label of the name asked that names a behaviour picks it, so that a name under such
a label behaves the same (drop.example, sel._domainkey.drop.example and 2.0.0.127.drop.example are
all dropped):

  slow.*       answers (A 192.0.2.1) only after SLOW seconds (argv[1], longer than the timeout)
  servfail.*   SERVFAIL
  tc.*         over UDP a truncated answer (TC set, no records); over TCP the connection is closed
               without an answer
  txt500.*     500 TXT strings in one record (over UDP: TC, the client retries over TCP, which
               answers in full)
  loop.*       a CNAME loop: loop.X -> loop2.X -> loop.X, both records in the answer (what a
               recursive server that gives up on the loop may send), no record of the asked type
  drop.*       no answer at all (the query is read and ignored)
  garbage.*    bytes that are no DNS answer to the query: a header with another id, claiming one
               question and one answer, then bytes that are no name
  idgarbage.*  the same bytes with the query's own id
  spfa.*       TXT "v=spf1 a:%{h} -all" (the HELO name's address); no data for other types
  spfptr.*     TXT "v=spf1 ptr -all" (the client's PTR); no data for other types
  anything else: NXDOMAIN; and the reverse names of 192.0.2.0/24 (TEST-NET-1) are dropped too, so
  a client claiming such an address has a PTR lookup that never ends.
With QUERY_LOG, every query read is appended to that file as one line "NAME TYPE" (the name in
lower case, the type as a number), UDP and TCP alike: what a test counts.
Needs Debian's python3-dnslib (/usr/bin/python3)."""
import socket
import sys
import threading
import time

from dnslib import CNAME, QTYPE, RCODE, RR, TXT, A, DNSRecord

SLOW = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
QUERY_LOG = open(sys.argv[2], "a", encoding="ascii") if len(sys.argv) > 2 else None
LOG_LOCK = threading.Lock()
BEHAVIOURS = ("slow", "servfail", "tc", "txt500", "loop", "loop2", "drop", "garbage", "idgarbage",
              "spfa", "spfptr")
SPF_RECORDS = {"spfa": "v=spf1 a:%{h} -all", "spfptr": "v=spf1 ptr -all"}
# A header (id, QR RD RA, one question, one answer), then 0xff bytes: a name can never start with
# 0xff (neither a label length of at most 63 nor a pointer to an offset inside the packet).
GARBAGE = bytes.fromhex("8180 0001 0001 0000 0000") + b"\xff" * 24


def behaviour(name):
    labels = name.split(".")
    for label in labels:
        if label in BEHAVIOURS:
            return label
    if len(labels) == 6 and labels[0].isdigit() and name.endswith(".2.0.192.in-addr.arpa"):
        return "drop"
    return None


def log_query(name, qtype):
    if QUERY_LOG is None:
        return
    with LOG_LOCK:
        QUERY_LOG.write(f"{name} {qtype}\n")
        QUERY_LOG.flush()


def answer(data, over_tcp):
    q = DNSRecord.parse(data)
    name = str(q.q.qname).rstrip(".").lower()
    log_query(name, q.q.qtype)
    first = behaviour(name)
    r = q.reply()
    if first == "drop":
        return None
    if first in ("garbage", "idgarbage"):
        qid = q.header.id if first == "idgarbage" else q.header.id ^ 0x5A5A
        return qid.to_bytes(2, "big") + GARBAGE
    if first == "slow":
        time.sleep(SLOW)
        r.add_answer(RR(name, QTYPE.A, rdata=A("192.0.2.1"), ttl=60))
    elif first == "servfail":
        r.header.rcode = RCODE.SERVFAIL
    elif first == "tc":
        if over_tcp:
            return None
        r.header.tc = 1
    elif first == "txt500":
        r.add_answer(RR(name, QTYPE.TXT, rdata=TXT([b"s%03d" % i for i in range(500)]), ttl=60))
        if not over_tcp:
            r = q.reply()
            r.header.tc = 1
    elif first in SPF_RECORDS:
        if q.q.qtype == QTYPE.TXT:
            r.add_answer(RR(name, QTYPE.TXT, rdata=TXT(SPF_RECORDS[first]), ttl=60))
    elif first in ("loop", "loop2"):
        rest = name.split(".", 1)[1]
        other = ("loop2." if first == "loop" else "loop.") + rest
        r.add_answer(RR(name, QTYPE.CNAME, rdata=CNAME(other), ttl=60))
        r.add_answer(RR(other, QTYPE.CNAME, rdata=CNAME(name), ttl=60))
    else:
        r.header.rcode = RCODE.NXDOMAIN
    return r.pack()


def serve_udp(sock):
    while True:
        data, peer = sock.recvfrom(4096)

        def one(data=data, peer=peer):
            try:
                out = answer(data, False)
                if out is not None:
                    sock.sendto(out, peer)
            except Exception:  # a query we cannot parse gets no answer
                pass
        threading.Thread(target=one, daemon=True).start()


def serve_tcp_conn(conn):
    try:
        head = conn.recv(2)
        if len(head) < 2:
            return
        n = int.from_bytes(head, "big")
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                return
            data += chunk
        out = answer(data, True)
        if out is not None:
            conn.sendall(len(out).to_bytes(2, "big") + out)
    except Exception:
        pass
    finally:
        conn.close()


def serve_tcp(sock):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=serve_tcp_conn, args=(conn,), daemon=True).start()


udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 0))
port = udp.getsockname()[1]
tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("127.0.0.1", port))
tcp.listen(64)
print(port, flush=True)
threading.Thread(target=serve_tcp, args=(tcp,), daemon=True).start()
serve_udp(udp)
