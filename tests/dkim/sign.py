#!/usr/bin/python3
"""sign.py OUTDIR: writes the DKIM fixture messages of tests/unit/test_dkim.c into OUTDIR.

Every signature is made now, at test time, with the test keys in tests/dkim/keys/ (whose public
halves are published in tests/dns/dkim.test.zone); no signed message is committed, so signatures
never go stale (x=) and a change of a key cannot leave old fixtures behind.

Run with Debian's /usr/bin/python3 and python3-dkim (dkimpy), not a python3 first on PATH.
Each file is the message as it would arrive over SMTP: CRLF line ends, header, empty line, body.
"""
import base64
import os
import sys

import dkim

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = os.path.join(HERE, "keys")
DOMAIN = b"dkim.test"


def key(name):
    with open(os.path.join(KEYS, name), "rb") as f:
        return f.read()


def message(extra_headers=b"", body=None, subject=b"DKIM fixture"):
    if body is None:
        body = b"Hello,\r\n\r\nThis message is signed.\r\n  Trailing  spaces  here.  \r\n\r\n\r\n"
    return (
        b"From: Alice <alice@dkim.test>\r\n"
        b"To: Bob <bob@example.test>\r\n"
        b"Subject: " + subject + b"\r\n"
        b"Date: Mon, 23 Nov 2026 09:00:00 +0000\r\n"
        b"Message-ID: <fixture@dkim.test>\r\n" + extra_headers + b"\r\n" + body
    )


def sign(msg, selector, privkey, algorithm=b"rsa-sha256", canon=(b"relaxed", b"relaxed"),
         headers=None, domain=DOMAIN, length=False):
    if headers is None:
        headers = [b"from", b"to", b"subject", b"date", b"message-id"]
    sig = dkim.sign(msg, selector, domain, privkey, canonicalize=canon,
                    signature_algorithm=algorithm, include_headers=headers, length=length)
    return sig + msg


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: sign.py OUTDIR\n")
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rsa2048 = key("rsa2048.pem")
    rsa1024 = key("rsa1024.pem")
    rsa512 = key("rsa512.pem")
    ed25519 = key("ed25519.key").strip()
    base = message()
    fixtures = {}

    fixtures["valid"] = sign(base, b"good", rsa2048)
    # Simple canonicalization with a folded header: proves the header feed rebuilds the field
    # exactly as it was on the wire (CRLF folds, one space after the colon).
    folded = message(extra_headers=b"X-Folded: first part\r\n\tsecond part\r\n  third part\r\n")
    fixtures["simple"] = sign(folded, b"good", rsa2048, canon=(b"simple", b"simple"),
                              headers=[b"from", b"subject", b"x-folded"])
    fixtures["body-altered"] = fixtures["valid"].replace(b"This message is signed.",
                                                         b"This message is forged.")
    fixtures["header-altered"] = fixtures["valid"].replace(b"Subject: DKIM fixture",
                                                           b"Subject: DKIM fixturE")
    fixtures["nokey"] = sign(base, b"missing", rsa2048)
    fixtures["revoked"] = sign(base, b"revoked", rsa2048)
    fixtures["notb64"] = sign(base, b"notb64", rsa2048)
    fixtures["junk-key"] = sign(base, b"junk", rsa2048)
    fixtures["notder-key"] = sign(base, b"notder", rsa2048)
    fixtures["small-key"] = sign(base, b"small", rsa512)
    fixtures["key1024"] = sign(base, b"k1024", rsa1024)
    fixtures["sha1"] = sign(base, b"good", rsa2048, algorithm=b"rsa-sha1")
    fixtures["ed25519"] = sign(base, b"ed", ed25519, algorithm=b"ed25519-sha256")
    # Relaxed bodies are hashed by lib/dkim_bodyhash.c, one digest per hash algorithm: a message
    # that needs both, a changed body under rsa-sha1, a body that ends without CRLF.
    fixtures["sha256-and-sha1"] = sign(fixtures["sha1"], b"good", rsa2048)
    fixtures["sha1-body-altered"] = fixtures["sha1"].replace(b"This message is signed.",
                                                             b"This message is forged.")
    fixtures["unterminated"] = fixtures["valid"] + b"text after the last line end"
    # Bodies left to libopendkim whole: an l= tag, and a simple body beside a relaxed one.
    fixtures["length-tag"] = sign(base, b"good", rsa2048, length=True)
    fixtures["simple-and-relaxed"] = sign(fixtures["simple"], b"good", rsa2048)
    # Two signatures: the outer one (added last, on top) has no key; the inner one is good.
    fixtures["two-sigs"] = sign(fixtures["valid"], b"missing", rsa2048)
    fixtures["unsigned"] = base
    fixtures["garbage-tags"] = (
        b"DKIM-Signature: v=1; a=rsa-sha256; ;; ==; zz; d=dkim.test; s=good; "
        b"\x01\x7f=\xff; b=!!!; bh=???\r\n" + base)
    # A selector that is no domain name: our resolver asks nothing, the key is "not found".
    fixtures["bad-selector"] = fixtures["valid"].replace(b"s=good;", b"s=a..b;")
    fixtures["missing-tags"] = b"DKIM-Signature: v=1; a=rsa-sha256; d=dkim.test\r\n" + base
    fixtures["bad-version"] = b"DKIM-Signature: v=9; a=rsa-sha256; d=dkim.test; s=good; " \
        b"c=relaxed/relaxed; h=from; bh=AAAA; b=AAAA\r\n" + base
    # A 16 KiB header field (folded every 76 bytes), covered by the signature.
    long_value = b"\r\n\t".join([b"x" * 74] * 220)
    fixtures["big-header"] = sign(message(extra_headers=b"X-Big: " + long_value + b"\r\n"),
                                  b"good", rsa2048,
                                  headers=[b"from", b"to", b"subject", b"x-big"])
    # A bare CR inside a body line, hashed as sent: the milter protocol hands over the body with
    # CRLF line ends, and a verifier that "repaired" the CR into a line end would fail it
    # (simple body canonicalization, which keeps every byte).
    bare_cr = message(body=b"Hello,\r\ncarriage\rreturn inside a line\r\n")
    fixtures["bare-cr-simple"] = sign(bare_cr, b"good", rsa2048, canon=(b"relaxed", b"simple"))
    # About 20 KiB of body, for the timing figure.
    body = b"".join(b"Line %05d of a twenty kilobyte message body, signed with RSA 2048.\r\n" % i
                    for i in range(290))
    fixtures["bench-20k"] = sign(message(body=body), b"good", rsa2048)

    for name, data in fixtures.items():
        with open(os.path.join(out, name + ".eml"), "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
