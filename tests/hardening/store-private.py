#!/usr/bin/python3
"""The database engines are private to the store: only lib/store/ sees them.

lib/store.h is the one interface the checks and the daemon see; behind it, lib/store/ holds the
dispatcher, the backends' table (lib/store/backend.h) and the backends, the only code that may
know an engine's API.  Reads every .c and .h file of lib/, milter/ and tests/ and fails on:

  - an include of sqlite3.h or libpq-fe.h outside lib/store/, except in the test files named in
    ENGINE_ALLOWED (each with its reason);
  - an include of a header of lib/store/ ("store/backend.h", ...) outside lib/store/, except the
    fault wrapper (store/fault.h) and the migrations table (store/migrations.h) in tests/.

    tests/hardening/store-private.py SOURCE_DIR     checks lib/, milter/ and tests/ of SOURCE_DIR
    tests/hardening/store-private.py --self-test    plants each forbidden include in a temporary
                                                    tree and fails unless every one is reported
                                                    and the allowed ones are not

Prints one line per finding (file:line: what) and exits 1 when there is any.
"""
import os
import re
import sys
import tempfile

ENGINES = ("sqlite3.h", "libpq-fe.h")
# Test files that may use an engine directly, and why.
ENGINE_ALLOWED = {
    "tests/unit/test_store_sqlite.c": "the SQLite backend's own tests (its files, locks, WAL)",
    "tests/unit/test_store_file.c": "the SQLite file under a running store: a failing VFS, rows "
    "read behind the store",
    "tests/unit/test_greylist.c": "reads greylist rows, and SQLite's own locking under a check",
    "tests/unit/test_throttle.c": "reads the counters' rows",
    "tests/unit/test_lists.c": "rows a postmaster wrote with the sqlite3 shell",
    "tests/bench/greylist_bench.c": "fills a million rows in one transaction",
    "tests/bench/throttle_bench.c": "fills the history in one transaction",
}
# Headers of lib/store/ that the tests may include.
STORE_ALLOWED_IN_TESTS = ("store/fault.h", "store/migrations.h")
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)


def check_file(root, rel):
    text = open(os.path.join(root, rel), encoding="utf-8", errors="replace").read()
    in_store = rel.startswith("lib/store/")
    in_tests = rel.startswith("tests/")
    found = []
    for m in INCLUDE.finditer(text):
        header, line = m.group(1), text.count("\n", 0, m.start()) + 1
        if in_store:
            continue
        if os.path.basename(header) in ENGINES and rel not in ENGINE_ALLOWED:
            found.append(f"{rel}:{line}: includes {header}: only lib/store/ may use a database "
                         "engine's API (go through lib/store.h)")
        elif header.startswith("store/") and not (in_tests and header in STORE_ALLOWED_IN_TESTS):
            found.append(f"{rel}:{line}: includes {header}: lib/store/ is private to the store "
                         "(go through lib/store.h)")
    return found


def check_tree(root):
    found = []
    for sub in ("lib", "milter", "tests"):
        for dirpath, _, files in os.walk(os.path.join(root, sub)):
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    rel = os.path.relpath(os.path.join(dirpath, f), root)
                    found += check_file(root, rel)
    return found


PLANTED = {
    "lib/greylist_fast.c": "#include <sqlite3.h>",
    "milter/peek.c": '#include "store/backend.h"',
    "lib/policy_pg.c": "#include <libpq-fe.h>",
    "tests/unit/test_new.c": "#include <sqlite3.h>",
    "tests/unit/test_other.c": '#include "store/sqlite.h"',
}
ALLOWED = {
    "lib/store/sqlite.c": "#include <sqlite3.h>",
    "lib/store/store.c": '#include "backend.h"',
    "tests/unit/test_store.c": '#include "store/fault.h"',
    "tests/unit/test_store_sqlite.c": "#include <sqlite3.h>",
}


def self_test():
    failures = 0
    with tempfile.TemporaryDirectory() as d:
        for rel, line in list(PLANTED.items()) + list(ALLOWED.items()):
            os.makedirs(os.path.join(d, os.path.dirname(rel)), exist_ok=True)
            with open(os.path.join(d, rel), "w") as fp:
                fp.write("/* " + rel + " */\n" + line + "\n")
        found = check_tree(d)
        for rel in PLANTED:
            hit = [f for f in found if f.startswith(rel + ":")]
            print(("ok" if hit else "not ok") + f" - planted {rel} is reported"
                  + (f": {hit[0]}" if hit else ""))
            failures += not hit
        for rel in ALLOWED:
            hit = [f for f in found if f.startswith(rel + ":")]
            print(("ok" if not hit else "not ok") + f" - allowed {rel} is not reported"
                  + "".join("\n#   " + f for f in hit))
            failures += bool(hit)
    return failures


def main():
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(1 if self_test() else 0)
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    found = check_tree(sys.argv[1])
    for f in found:
        print(f)
    print(f"store-private: {len(found)} findings in lib/, milter/ and tests/")
    sys.exit(1 if found else 0)


main()
