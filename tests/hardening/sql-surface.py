#!/usr/bin/python3
"""No string-built SQL and no shell in milter-ingress (tests/RELIABILITY.md
"6. Privileges and surface").  Reads every .c and .h file of lib/ and milter/ and fails on:

  - sqlite3_mprintf, sqlite3_vmprintf, sqlite3_snprintf, sqlite3_str_appendf (SQL text built
    from values);
  - a printf-family call (snprintf, str_printf, asprintf, ...) whose format starts like an SQL
    statement ("SELECT ...", "INSERT ...", "PRAGMA ...");
  - sqlite3_exec, sqlite3_prepare* or exec_int whose SQL argument is not a string literal or one
    of the constant tables named in ALLOWED (stmt_sql[], the embedded migrations, the pragma list);
  - system, popen, and the exec functions other than execve (external commands run with execve
    and an argument vector).

    tests/hardening/sql-surface.py SOURCE_DIR       checks lib/ and milter/ of SOURCE_DIR
    tests/hardening/sql-surface.py --self-test      plants each bad pattern in a temporary file
                                                    and fails unless every one is reported and a
                                                    clean file is not

Prints one line per finding (file:line: what) and exits 1 when there is any.
"""
import os
import re
import sys
import tempfile

# SQL arguments that are not literals but constant text compiled in, with where they come from.
ALLOWED = {
    "stmt_sql[i]": "the prepared statements of lib/store/sqlite*.c, gathered at open",
    "m->sql": "an embedded migration (schema/NNN_*.sql, compiled in by schema/embed.cmake)",
    "m->set_version": "the migration's constant PRAGMA user_version = N",
    "pragmas[i]": "the constant pragma list of set_pragmas()",
    "sql": "exec_int()'s own parameter: its callers are checked",
    "copy_sql": "prepare_copy()'s parameter in lib/store/sqlite_copy.c: its callers pass only "
                "store_copy_tables[]'s statements, constants made at compile time (copy.h)",
}
SQL_CALLS = {"sqlite3_exec": 1, "sqlite3_prepare": 1, "sqlite3_prepare_v2": 1,
             "sqlite3_prepare_v3": 1, "exec_int": 1}
FORBIDDEN = ["sqlite3_mprintf", "sqlite3_vmprintf", "sqlite3_snprintf", "sqlite3_str_appendf",
             "system", "popen", "execl", "execlp", "execle", "execv", "execvp", "execvpe"]
PRINTF = ["snprintf", "sprintf", "asprintf", "vsnprintf", "str_printf", "fprintf"]
SQL_START = re.compile(r'^\s*(SELECT|INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|PRAGMA|'
                       r'ATTACH|BEGIN|WITH)\b', re.I)


def strip_comments(text):
    """Comments become spaces (lines kept); string literals stay."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text[i] == '"' or text[i] == "'":
            q, j = text[i], i + 1
            while j < n and text[j] != q:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def call_args(text, start):
    """The arguments of the call whose '(' is at start, split at top-level commas."""
    depth, i, args, cur = 0, start, [], []
    while i < len(text):
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < len(text) and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            cur.append(text[i:j + 1])
            i = j + 1
            continue
        if ch == "(":
            depth += 1
            if depth == 1:
                i += 1
                continue
        elif ch == ")":
            depth -= 1
            if depth == 0:
                args.append("".join(cur).strip())
                return args
        elif ch == "," and depth == 1:
            args.append("".join(cur).strip())
            cur = []
            i += 1
            continue
        cur.append(ch)
        i += 1
    return args


def is_literal(arg):
    return re.fullmatch(r'("([^"\\]|\\.)*"\s*)+', arg) is not None


def check_file(path):
    text = strip_comments(open(path, encoding="utf-8", errors="replace").read())
    found = []

    def line_of(pos):
        return text.count("\n", 0, pos) + 1

    for m in re.finditer(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(", text):
        name, pos = m.group(1), m.start()
        before = text[max(0, pos - 40):pos]
        # A definition or declaration is not a call ("static int exec_int(").
        if re.search(r"(int|void|char|bool|\*)\s*$", before) and name in SQL_CALLS:
            continue
        if name in FORBIDDEN:
            found.append(f"{path}:{line_of(pos)}: {name}() is not allowed")
            continue
        args = None
        if name in SQL_CALLS:
            args = call_args(text, m.end() - 1)
            idx = SQL_CALLS[name]
            if len(args) > idx and not is_literal(args[idx]) and args[idx] not in ALLOWED:
                found.append(f"{path}:{line_of(pos)}: {name}() with SQL that is not a constant: "
                             f"{args[idx]}")
        if name in PRINTF:
            args = call_args(text, m.end() - 1)
            for a in args:
                if is_literal(a):
                    fmt = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', a))
                    if SQL_START.match(fmt):
                        found.append(f"{path}:{line_of(pos)}: {name}() builds SQL text: "
                                     f"\"{fmt[:40]}\"")
                    break
    return found


def check_tree(root):
    found = []
    for sub in ("lib", "milter"):
        for dirpath, _, files in os.walk(os.path.join(root, sub)):
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    found += check_file(os.path.join(dirpath, f))
    return found


PLANTED = {
    "mprintf": 'char *q = sqlite3_mprintf("SELECT * FROM t WHERE a = %Q", v);',
    "snprintf": 'snprintf(buf, sizeof buf, "DELETE FROM greylist WHERE sender = \'%s\'", s);',
    "str_printf": 'str_printf(buf, n, "INSERT INTO lists VALUES (\'%s\')", v);',
    "exec": "sqlite3_exec(db, buf, NULL, NULL, NULL);",
    "prepare": "sqlite3_prepare_v2(db, query, -1, &st, NULL);",
    "system": 'system("rm -rf /tmp/x");',
    "popen": 'FILE *p = popen(cmd, "r");',
    "execl": 'execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);',
}
CLEAN = """
/* snprintf(buf, n, "SELECT %s", x); in a comment is not code */
static int exec_int(sqlite3 *db, const char *sql, long *out);
void f(sqlite3 *db, const char *v) {
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "SELECT a FROM t WHERE b = ?1", -1, &st, NULL);
    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    char buf[64];
    snprintf(buf, sizeof buf, "selected %s", v);
    char *argv[] = {"/usr/sbin/sendmail", "-t", NULL};
    execve(argv[0], argv, NULL);
}
"""


def self_test():
    failures = 0
    with tempfile.TemporaryDirectory() as d:
        for name, line in PLANTED.items():
            path = os.path.join(d, f"planted_{name}.c")
            with open(path, "w") as fp:
                fp.write("void f(void) {\n    " + line + "\n}\n")
            found = check_file(path)
            print(("ok" if found else "not ok") + f" - planted {name} is reported"
                  + (f": {found[0]}" if found else ""))
            failures += not found
        path = os.path.join(d, "clean.c")
        with open(path, "w") as fp:
            fp.write(CLEAN)
        found = check_file(path)
        print(("ok" if not found else "not ok") + " - a clean file with literals, execve and a "
              "comment is not reported" + ("".join("\n#   " + f for f in found)))
        failures += bool(found)
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
    print(f"sql-surface: {len(found)} findings in lib/ and milter/")
    sys.exit(1 if found else 0)


main()
