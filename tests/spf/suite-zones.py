#!/usr/bin/python3
"""suite-zones.py YAML OUTDIR: turns the RFC 7208 test suite into what run-suite.sh serves.

For each scenario (YAML document) N it writes OUTDIR/N/:
  zones/root.zone   the scenario's zonedata as one root zone, so every name that the scenario
                    does not define is NXDOMAIN, as in the suite's own driver
  timeout-names     names marked TIMEOUT: a query for one of them that has no answer must time
                    out (the forwarder in dns-drop.py drops those replies)
  cases             one test case per line, tab-separated, fields \\xHH-escaped:
                    name, helo, host, mailfrom, expected results (comma-separated), explanation
  description       the scenario's description

Data conventions of the suite (see its header): SPF entries are served as TXT unless the name
has TXT entries of its own ("TXT: NONE" means: no TXT record); a TXT entry given as a list is one
record of several character-strings; MX is [preference, host].
Run with Debian's /usr/bin/python3 (python3-yaml).
"""
import os
import sys

import yaml


def esc(value):
    """\\xHH-escapes tab, newline, backslash and every byte outside printable ASCII."""
    out = []
    for b in str(value).encode("utf-8"):
        if b < 0x21 and b != 0x20 or b > 0x7E or b in (0x5C,):
            out.append("\\x%02x" % b)
        else:
            out.append(chr(b))
    return "".join(out)


def zone_name(name):
    """A zone-file owner name: special bytes as \\DDD, absolute."""
    labels = name.rstrip(".").split(".")
    out = []
    for label in labels:
        s = ""
        for b in label.encode("utf-8"):
            c = chr(b)
            if c.isalnum() or c in "-_*":
                s += c
            else:
                s += "\\%03d" % b
        out.append(s)
    return ".".join(out) + "."


def txt_strings(value):
    """Zone-file text of one TXT record: quoted character-strings of at most 255 bytes."""
    parts = value if isinstance(value, list) else [value]
    if not parts:
        parts = [""]
    out = []
    for part in parts:
        data = str(part).encode("utf-8")
        chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
        for chunk in chunks:
            s = ""
            for b in chunk:
                if b == 0x22 or b == 0x5C or b < 0x20 or b > 0x7E:
                    s += "\\%03d" % b
                else:
                    s += chr(b)
            out.append('"%s"' % s)
    return " ".join(out)


def write_scenario(doc, outdir):
    os.makedirs(os.path.join(outdir, "zones"), exist_ok=True)
    lines = [
        "$ORIGIN .",
        "$TTL 300",
        ". IN SOA ns.suite.invalid. hostmaster.suite.invalid. 1 3600 600 86400 60",
        ". IN NS ns.suite.invalid.",
    ]
    timeouts = []
    for name, records in (doc.get("zonedata") or {}).items():
        owner = zone_name(name)
        txt = [r["TXT"] for r in records if isinstance(r, dict) and "TXT" in r]
        spf = [r["SPF"] for r in records if isinstance(r, dict) and "SPF" in r]
        if not txt:
            txt = spf
        for value in txt:
            if value != "NONE":
                lines.append("%s IN TXT %s" % (owner, txt_strings(value)))
        for r in records:
            if r == "TIMEOUT":
                timeouts.append(name.rstrip(".").lower())
                continue
            (kind, value), = r.items()
            if kind in ("A", "AAAA"):
                lines.append("%s IN %s %s" % (owner, kind, value))
            elif kind == "MX":
                lines.append("%s IN MX %d %s" % (owner, value[0], zone_name(value[1])))
            elif kind in ("PTR", "CNAME"):
                lines.append("%s IN %s %s" % (owner, kind, zone_name(value)))
            elif kind not in ("TXT", "SPF"):
                raise SystemExit("unknown record kind %r at %s" % (kind, name))
    with open(os.path.join(outdir, "zones", "root.zone"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(outdir, "timeout-names"), "w") as f:
        f.write("".join(n + "\n" for n in timeouts))
    with open(os.path.join(outdir, "description"), "w") as f:
        f.write(doc.get("description", "").strip() + "\n")
    with open(os.path.join(outdir, "cases"), "w") as f:
        for name, t in doc["tests"].items():
            result = t["result"]
            results = result if isinstance(result, list) else [result]
            f.write("\t".join(esc(x) for x in (
                name, t.get("helo", ""), t.get("host", ""), t.get("mailfrom", ""),
                ",".join(results), t.get("explanation", ""))) + "\n")


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: suite-zones.py YAML OUTDIR")
    with open(sys.argv[1]) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    for i, doc in enumerate(docs):
        write_scenario(doc, os.path.join(sys.argv[2], "%02d" % i))
    print(len(docs))


main()
