#!/usr/bin/python3
"""Layers that must not loop, read from what the build linked (nm), not from what a file says.

  - lib/config.c is below every module that reads the config: no module config.o calls, directly
    or through the modules it calls, calls back into config.o or includes config.h (knows the
    config), and no header config.c includes (but its own) includes config.h.  A validator that
    needs a module's knowledge takes that module's pure syntax helper (lib/dnsbl_zone.c), never
    the module.
  - ingressctl: the verb files (milter/ctl_*.c but ctl.c, ctl_json.c and ctl_changes.c) call no
    other verb file, only the shared helpers (ctl.c, and ctl_changes.c: the recorded list changes
    and the record's reading), the JSON output (ctl_json.c) and lib/; the helpers call no verb
    file and not main (ingressctl.c).

    tests/hardening/layers.py BUILD_DIR SOURCE_DIR

Prints one line per finding and exits 1 when there is any.
"""
import os
import re
import subprocess
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def includes(source, path, seen=None):
    """The project headers path includes, directly or through other project headers."""
    seen = set() if seen is None else seen
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for name in INCLUDE.findall(text):
        for folder in (os.path.dirname(path), os.path.join(source, "lib")):
            header = os.path.normpath(os.path.join(folder, name))
            if os.path.exists(header) and header not in seen:
                seen.add(header)
                includes(source, header, seen)
                break
    return seen


def lib_source(source, obj):
    """lib/X.c or lib/store/X.c of the archive member X.c.o."""
    for folder in ("lib", os.path.join("lib", "store")):
        path = os.path.join(source, folder, obj[:-2])
        if os.path.exists(path):
            return path
    return None


def symbols(paths):
    """{object: (defined global symbols, undefined symbols)} of the objects or archives."""
    table = {}
    for flag, slot in (("--defined-only", 0), ("--undefined-only", 1)):
        out = subprocess.run(["nm", "-A", flag, *paths], check=True, capture_output=True,
                             text=True).stdout
        for line in out.splitlines():
            where, _, rest = line.rpartition(":")
            parts = rest.split()
            if len(parts) < 2:
                continue
            kind, name = parts[-2], parts[-1]
            obj = os.path.basename(where.rsplit(":", 1)[-1])
            table.setdefault(obj, (set(), set()))
            if slot == 1 or kind in "TDBRGSVW":
                table[obj][slot].add(name)
    return table


def edges(table):
    """{object: {objects whose symbols it uses}}."""
    owner = {}
    for obj, (defined, _) in table.items():
        for name in defined:
            owner.setdefault(name, obj)
    return {obj: {owner[n] for n in used if n in owner and owner[n] != obj}
            for obj, (_, used) in table.items()}


def reach(graph, start):
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def path(graph, start, goal):
    """One chain of calls from start to goal, for the message."""
    prev, todo = {start: None}, [start]
    while todo:
        cur = todo.pop(0)
        for nxt in sorted(graph.get(cur, ())):
            if nxt not in prev:
                prev[nxt] = cur
                todo.append(nxt)
    chain, cur = [], goal
    while cur is not None:
        chain.append(cur)
        cur = prev.get(cur)
    return " -> ".join(reversed(chain))


def main():
    if len(sys.argv) != 3:
        print("usage: layers.py BUILD_DIR SOURCE_DIR", file=sys.stderr)
        return 2
    build, source = sys.argv[1], sys.argv[2]
    config_h = os.path.join(source, "lib", "config.h")
    findings = []

    lib = edges(symbols([os.path.join(build, "libingress.a")]))
    if "config.c.o" not in lib:
        findings.append("libingress.a has no config.c.o")
    else:
        for obj in sorted(lib["config.c.o"]):
            if "config.c.o" in reach(lib, obj) | {obj}:
                findings.append("config.c calls back into itself: config.c.o -> " +
                                path(lib, obj, "config.c.o"))
        for obj in sorted(reach(lib, "config.c.o") - {"config.c.o"}):
            src = lib_source(source, obj)
            if src is not None and config_h in includes(source, src):
                findings.append(f"config.c calls {os.path.relpath(src, source)}, which knows the "
                                f"config (includes config.h): " + path(lib, "config.c.o", obj))
        config_c = os.path.join(source, "lib", "config.c")
        with open(config_c, encoding="utf-8") as f:
            direct = INCLUDE.findall(f.read())
        for name in direct:
            header = os.path.join(source, "lib", name)
            if name != "config.h" and os.path.exists(header) and config_h in includes(source, header):
                findings.append(f"lib/config.c includes {name}, which includes config.h")

    ctl_dir = os.path.join(build, "CMakeFiles", "ingressctl.dir", "milter")
    objs = sorted(os.path.join(ctl_dir, f) for f in os.listdir(ctl_dir) if f.endswith(".c.o"))
    ctl = edges(symbols(objs + [os.path.join(build, "libingress.a")]))
    names = {os.path.basename(o) for o in objs}
    shared = {"ctl.c.o", "ctl_json.c.o", "ctl_changes.c.o"}
    verbs = {n for n in names if n.startswith("ctl_")} - shared
    if len(verbs) < 5 or not shared <= names:
        findings.append(f"ingressctl: expected ctl.c, ctl_json.c and the verb files, found {sorted(names)}")
    for obj in sorted(verbs):
        for other in sorted(ctl.get(obj, set()) & (verbs | {"ingressctl.c.o"})):
            findings.append(f"ingressctl: verb file {obj[:-2]} calls {other[:-2]}")
    for obj in sorted(shared):
        for other in sorted(ctl.get(obj, set()) & (verbs | {"ingressctl.c.o"})):
            findings.append(f"ingressctl: shared {obj[:-2]} calls {other[:-2]}")

    for f in findings:
        print(f)
    print(f"layers: {len(findings)} finding(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
