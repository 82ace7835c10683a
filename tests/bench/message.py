#!/usr/bin/python3
"""message.py OUTFILE [SIZE_KIB] [--unsigned]: the benchmark's signed message (`inbound-known`).

A message of about SIZE_KIB KiB (default 20) from bench@e2e.test, DKIM-signed now (relaxed/relaxed,
rsa-sha256, 2048 bits) with tests/dkim/keys/rsa2048.pem, whose public half is published as
e2e._domainkey.e2e.test in tests/dns/e2e.test.zone: SPF pass from 127.0.0.0/24 and an aligned
DKIM signature.  Signed at run time, like every fixture of the project, so it never goes stale.
--unsigned: the same message without a signature (the submission scenario).  CRLF line ends.  Run with Debian's /usr/bin/python3 and python3-dkim.
"""
import os
import sys

import dkim

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = os.path.join(HERE, "..", "dkim", "keys", "rsa2048.pem")


def main():
    args = [a for a in sys.argv[1:] if a != "--unsigned"]
    unsigned = len(args) != len(sys.argv) - 1
    if len(args) not in (1, 2):
        sys.stderr.write("usage: message.py OUTFILE [SIZE_KIB] [--unsigned]\n")
        return 2
    size = int(args[1]) * 1024 if len(args) == 2 else 20 * 1024
    with open(KEY, "rb") as f:
        key = f.read()
    line = b"The quick brown fox jumps over the lazy dog, a benchmark line of ordinary text.\r\n"
    body = b"Hello,\r\n\r\n" + line * max(1, size // len(line)) + b"\r\n-- \r\nbench\r\n"
    msg = (b"From: Bench <bench@e2e.test>\r\n"
           b"To: user@mx.bench.example\r\n"
           b"Subject: benchmark message\r\n"
           b"Date: Mon, 23 Nov 2026 09:00:00 +0000\r\n"
           b"Message-ID: <bench@e2e.test>\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=us-ascii\r\n"
           b"\r\n" + body)
    if unsigned:
        with open(args[0], "wb") as f:
            f.write(msg)
        return 0
    sig = dkim.sign(msg, b"e2e", b"e2e.test", key, canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    with open(args[0], "wb") as f:
        f.write(sig + msg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
