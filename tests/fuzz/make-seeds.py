#!/usr/bin/python3
"""Writes the seed inputs of tests/fuzz/corpus/{config,dns,greylist,policy,dmarc_record,
dmarc_align}/seed-* (the addr corpus predates this script).  Regression inputs (crash-*, regress-*)
are written by hand when a bug is fixed and never touched here.  Run from anywhere:
/usr/bin/python3 tests/fuzz/make-seeds.py [TARGET...] (all targets without arguments; the DNS
packets get new random ids at each run).  Needs python3-dnslib (Debian) for the DNS packets."""
import os
import struct
import sys

from dnslib import A, AAAA, CNAME, DNSRecord, MX, NS, PTR, QTYPE, RR, SOA, TXT

HERE = os.path.dirname(os.path.abspath(__file__))
TYPES = ["A", "AAAA", "PTR", "TXT", "MX", "CNAME", "NS", "SOA", "SPF"]  # fuzz_dns.c's order


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def config_seeds():
    write("config", "empty", "")
    write("config", "comments", "# a comment\n\n   # indented\n")
    write("config", "typical",
          "socket = inet:8891@127.0.0.1\nuser = milter\ndatabase = /var/lib/x/ingress.db\n"
          "store_busy_timeout = 500ms\ndns_servers = 127.0.0.1:53, [::1]:53\n"
          "dns_timeout = 2s\ndns_tries = 2\ngreylist = yes\ngreylist_delay = 5m\n"
          "dnsbl_zones = zen.example.org bl.example.net\nfail_open = no\n")
    write("config", "quoted", 'help_text = "  see https://x/{check}/{ref}"\nauthserv_id = "mx"\r\n')
    write("config", "errors", "greylist_delay = 5x\n")
    write("config", "twice", "dns_tries = 2\ndns_tries = 3\n")
    write("config", "enum", "iprev_helo = resolve\nsender_check = log\nspf_helo_action = off\n")
    write("config", "override", "dns_timeout=1500ms\n")
    write("config", "socket_unix", "socket = unix:/run/milter/ingress.sock\nsocket_mode = 0660\n")


def packet(qname, qtype, answers=(), auth=(), rcode=0):
    q = DNSRecord.question(qname, qtype)
    r = q.reply()
    r.header.rcode = rcode
    for rr in answers:
        r.add_answer(rr)
    for rr in auth:
        r.add_auth(rr)
    return r.pack()


def dns_seeds():
    soa = RR("example.org", QTYPE.SOA, ttl=300,
             rdata=SOA("ns.example.org", "hostmaster.example.org", (1, 3600, 600, 86400, 60)))
    cases = {
        "a": ("A", packet("mx.example.org", "A", [RR("mx.example.org", QTYPE.A, rdata=A("192.0.2.1"), ttl=60)])),
        "aaaa": ("AAAA", packet("mx.example.org", "AAAA", [RR("mx.example.org", QTYPE.AAAA, rdata=AAAA("2001:db8::1"))])),
        "ptr": ("PTR", packet("1.2.0.192.in-addr.arpa", "PTR", [RR("1.2.0.192.in-addr.arpa", QTYPE.PTR, rdata=PTR("Mail.Example.ORG"))])),
        "txt_spf": ("TXT", packet("example.org", "TXT", [RR("example.org", QTYPE.TXT, rdata=TXT(["v=spf1 ip4:192.0.2.0/24", " -all"]))])),
        "txt_many": ("TXT", packet("example.org", "TXT", [RR("example.org", QTYPE.TXT, rdata=TXT(["x" * 255] * 20))])),
        "mx": ("MX", packet("example.org", "MX", [RR("example.org", QTYPE.MX, rdata=MX("mx1.example.org", 10)), RR("example.org", QTYPE.MX, rdata=MX("mx2.example.org", 20))])),
        "cname_a": ("A", packet("www.example.org", "A", [RR("www.example.org", QTYPE.CNAME, rdata=CNAME("host.example.org")), RR("host.example.org", QTYPE.A, rdata=A("192.0.2.7"))])),
        "ns": ("NS", packet("example.org", "NS", [RR("example.org", QTYPE.NS, rdata=NS("ns.example.org"))])),
        "soa": ("SOA", packet("example.org", "SOA", [soa])),
        "nxdomain": ("A", packet("none.example.org", "A", auth=[soa], rcode=3)),
        "nodata": ("MX", packet("example.org", "MX", auth=[soa])),
        "servfail": ("TXT", packet("example.org", "TXT", rcode=2)),
        "cname_loop": ("A", packet("loop.example.org", "A", [RR("loop.example.org", QTYPE.CNAME, rdata=CNAME("loop2.example.org")), RR("loop2.example.org", QTYPE.CNAME, rdata=CNAME("LOOP.example.org"))])),
        "spf99": ("SPF", packet("example.org", "TXT", [RR("example.org", 99, rdata=TXT(["v=spf1 -all"]))])),
    }
    for name, (t, pkt) in cases.items():
        write("dns", name, bytes([TYPES.index(t)]) + pkt)
    # A PTR answer whose name is a compression loop, and one with a label of odd bytes.
    loop = bytearray(packet("1.2.0.192.in-addr.arpa", "PTR", [RR("1.2.0.192.in-addr.arpa", QTYPE.PTR, rdata=PTR("a.example.org"))]))
    loop[-2:] = struct.pack(">H", 0xc000 | (len(loop) - 2))
    write("dns", "ptr_loop", bytes([TYPES.index("PTR")]) + bytes(loop))
    odd = packet("1.2.0.192.in-addr.arpa", "PTR", [RR("1.2.0.192.in-addr.arpa", QTYPE.PTR, rdata=PTR("a\\000b.\\.x.example"))])
    write("dns", "ptr_odd", bytes([TYPES.index("PTR")]) + odd)


def greylist_seeds():
    def key(v4, v6, ip, sender, rcpt):
        return bytes([v4, v6]) + b"\0".join(x.encode() for x in (ip, sender, rcpt))
    write("greylist", "plain", key(24, 32, "192.0.2.1", "<alice@example.org>", "<bob@example.net>"))
    write("greylist", "v6", key(24, 32, "IPv6:2001:db8::1", "bob@EXAMPLE.org", "<Bob@Example.NET>"))
    write("greylist", "mapped", key(24, 32, "::ffff:192.0.2.9", "<>", "x@y"))
    write("greylist", "batv", key(24, 32, "[192.0.2.1]", "<prvs=1234abcd=user@example.org>", "<u@x>"))
    write("greylist", "srs", key(24, 32, "192.0.2.1", "<SRS0=HHH=TT=orig.example=user@fwd.example>", "<u@x>"))
    write("greylist", "srs1", key(24, 32, "192.0.2.1", "<SRS1=HHH=fwd.example==HHH=TT=orig.example=user@fwd2.example>", "<u@x>"))
    write("greylist", "verp", key(24, 32, "192.0.2.1", "<bounce-12345-user=example.com@lists.example.org>", "<u@x>"))
    write("greylist", "quoted", key(24, 32, "192.0.2.1", '<@a,@b:"john doe"(c)@Example.org.>', '<"x y"@z>'))
    write("greylist", "utf8", key(24, 32, "192.0.2.1", "<j\u00f6rg@b\u00fccher.example>", "<\xff\xfe@x>"))
    write("greylist", "long", key(0, 200, "192.0.2.1", "<" + "a" * 100 + "@" + "b" * 300 + ">", "<" + "c" * 70 + "@d>"))


def policy_seeds():
    def conn(flags, name, ip, helo, *cmds):
        return b"\0".join([bytes([0x30 + flags]), name.encode(), ip.encode(), helo.encode()] +
                          [c if isinstance(c, bytes) else c.encode() for c in cmds])
    msg = ["Qq1", "Malice@example.org", "Rbob@example.test", "Rcarol@example.test",
           "HFrom:Alice <alice@example.org>", "HSubject:hello",
           "HDKIM-Signature:v=1; a=rsa-sha256; d=example.org; s=s1; h=from; bh=AAAA; b=BBBB",
           "HAuthentication-Results:mx.fuzz.test; spf=pass", "E", "Bhello\r\nworld\r\n", "F"]
    write("policy", "message", conn(0, "mx.fuzz.test", "127.0.0.9", "mx.fuzz.test", *msg))
    # selector k1 has a real key in the stub: the decode (through the key cache) and RSA run, the
    # signature fails; twice, so that the second message's key comes from the cache
    signed = [m.replace("s=s1;", "s=k1;") for m in msg]
    write("policy", "message-key", conn(0, "mx.fuzz.test", "127.0.0.9", "mx.fuzz.test",
                                        *signed, *signed[1:]))
    write("policy", "greylist", conn(1, "mx.fuzz.test", "127.0.0.9", "mx.fuzz.test",
                                     "M<a@b.example>", "R<c@d.example>", "T\x02", "M<a@b.example>", "R<c@d.example>", "E", "F"))
    write("policy", "unknown", conn(2, "unknown", "127.0.0.77", "[127.0.0.77]", "M<>", "Rpostmaster", "A",
                                    "M<x@nx.test>", "R<y@fail.test>", "HFrom:", "H:", "E", "Bpartial line", "F"))
    write("policy", "submission", conn(3, "client.fuzz.test", "127.0.0.5", "laptop",
                                       "Ualice", "Rsomeone@else.example", "HFrom:a@b, c@d", "HSender:<x@y>", "E", "F"))
    write("policy", "v6", conn(0, "x", "2001:db8::1", "helo.fail.test", "Ma@fail.test", "Rb@nx.test", "F"))
    write("policy", "noip", conn(0, "", "", "", "M", "R", "H", "E", "B", "F", "F", "A", "A"))


# RFC 7489 Appendix B's records, and what the parser must refuse or default.
DMARC_RECORDS = {
    "rfc-b21": "v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com",
    "rfc-b23": "v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com; "
               "ruf=mailto:auth-reports@thirdparty.example.net",
    "rfc-b24": "v=DMARC1; p=quarantine; rua=mailto:dmarc-feedback@example.com, "
               "mailto:tld-test@thirdparty.example.net!10m; pct=25",
    "rfc-71": "v=DMARC1",
    "all-tags": "v=DMARC1; p=reject; sp=none; adkim=s; aspf=s; pct=0; ri=3600; fo=1:d; rf=afrf",
    "spaces": "  V = DMARC1 ;\tpct = 50 ;; sp=REJECT ; p = quarantine ; ",
    "dup": "v=DMARC1; p=none; P=reject",
    "first": "p=reject; v=DMARC1",
    "spf": "v=spf1 ip4:192.0.2.0/24 -all",
    "rua-rule": "v=DMARC1; p=block; rua=mailto:r@example.org",
    "bad-values": "v=DMARC1; p=reject; pct=200; adkim=x; aspf=; ri=soon",
    "uris": "v=DMARC1; p=none; rua=mailto:a@example.org!10m , https://r.example/x?a=1, nothing, "
            "mailto:b%2Cc@example.org, :x, mailto:, mailto:d@x!, mailto:e@x!5q, mailto:%zz",
    "nul": "v=DMARC1; p=reject\0; sp=none",
    "binary": "\x01\x02\xff v=DMARC1",
}


def dmarc_record_seeds():
    for name, text in DMARC_RECORDS.items():
        write("dmarc_record", name, text.encode("latin-1"))
    write("dmarc_record", "huge", b"v=DMARC1; p=reject; x=" + b"a" * 10240)


def dmarc_align_seeds():
    def case(flags, author, other, record):
        return bytes([flags]) + b"\0".join(x.encode() for x in (author, other, record))
    write("dmarc_align", "relaxed", case(0, "mail.example.org", "bounce.example.org",
                                         "v=DMARC1; p=reject"))
    write("dmarc_align", "strict", case(1, "mail.example.org", "example.org",
                                        "v=DMARC1; p=reject; adkim=s"))
    write("dmarc_align", "psl-private", case(0, "alice.github.io", "mallory.github.io",
                                             "v=DMARC1; p=quarantine; pct=50"))
    write("dmarc_align", "psl-wildcard", case(2 | (60 << 2), "www.city.kawasaki.jp",
                                              "x.city.kawasaki.jp", "v=DMARC1; p=reject; sp=quarantine; pct=40"))
    write("dmarc_align", "suffix", case(0, "co.uk", "example.co.uk", "v=DMARC1; p=none"))
    write("dmarc_align", "case-dot", case(1, "Example.ORG.", "example.org", "v=DMARC1; p=reject"))
    write("dmarc_align", "literal", case(0, "[192.0.2.1]", "192.0.2.1", "v=DMARC1; p=reject"))
    write("dmarc_align", "idn", case(0, "xn--bcher-kva.example", "b\u00fccher.example",
                                     "v=DMARC1; p=reject"))
    write("dmarc_align", "empty-label", case(0, "a..example.org", "example.org", "v=DMARC1; p=none"))
    write("dmarc_align", "long", case(0, ("a" * 63 + ".") * 4 + "org", "org", "v=DMARC1; p=reject"))


SEEDS = {"config": config_seeds, "dns": dns_seeds, "greylist": greylist_seeds,
         "policy": policy_seeds, "dmarc_record": dmarc_record_seeds,
         "dmarc_align": dmarc_align_seeds}
for target in sys.argv[1:] or list(SEEDS):
    SEEDS[target]()
