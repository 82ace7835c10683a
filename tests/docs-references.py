#!/usr/bin/python3
"""The repository explains itself: every citation of a document resolves inside it.

    docs-references.py SOURCE_DIR [CTEST BUILD_DIR]   checks the tree (git's files, else all)
    docs-references.py --self-test                    proves on planted files that each kind of
                                                      fault is found

Fails (exit 1, one "not ok - FILE:LINE: ..." line each) when a file of the tree
  - cites a section of ARCHITECTURE.md, the README or tests/RELIABILITY.md that does not exist.
    The one form of a citation is the document's name and the heading in double quotes, several
    headings separated by commas: ARCHITECTURE.md "Reload", README "Submission throttle",
    "How the throttle baseline is computed".  A citation may wrap across comment lines;
  - cites a document a user's clone does not have (the design notes or the style guide the
    project started from, a shared folder beside the repository);
  - cites an issue or pull request by number: an issue tracker is not part of the clone, so the
    reason is written where the code is, or in a section of ARCHITECTURE.md;
  - with CTEST and BUILD_DIR (`ctest -N` lists that build's tests): names a test that does not
    exist, as ctest `NAME`, or gives ctest -R a pattern that matches no test (a test renamed
    without its mentions).
Fuzz corpora and the RFC 7208 test suite (data, not prose) are not read.
"""
import os
import re
import subprocess
import sys
import tempfile

# The documents whose headings can be cited, by the names a citation uses.
DOCUMENTS = {
    "ARCHITECTURE.md": "ARCHITECTURE.md",
    "README": "README.md",
    "README.md": "README.md",
    "RELIABILITY.md": "tests/RELIABILITY.md",
    "tests/RELIABILITY.md": "tests/RELIABILITY.md",
}
SKIPPED = ("tests/fuzz/corpus/", "tests/spf/rfc7208-tests.yml")
THIS_FILE = "tests/docs-references.py"

# Built from pieces so that this file does not match itself.
FORBIDDEN = [
    (re.compile("DESIGN" + r"\.md"), "cites the design notes, which are not in the repository"),
    (re.compile("STYLE" + r"(\.md|\s+rules?\s+\d+|\s+\d+)"),
     "cites the style guide, which is not in the repository"),
    (re.compile(r"\.\./" + "shared|/work/" + "shared"), "names a folder outside the repository"),
    (re.compile(r"\b(issues?|pull requests?|PRs?)\s+#?\d+", re.IGNORECASE),
     "cites an issue or pull request by number: say the reason instead"),
]
CITATION = re.compile(
    r"(?<![\w/.-])(ARCHITECTURE\.md|README(?:\.md)?|(?:tests/)?RELIABILITY\.md)(?:'s)?,?[ \t]+"
    r'("[^"\n]+"(?:[ \t]*,[ \t]*"[^"\n]+")*)')
WRONG_FORM = re.compile(r"(?<![\w/.-])(ARCHITECTURE\.md|README(?:\.md)?)(?:'s)?[ \t]*§")
# A test named to ctest: "ctest `NAME`", and a pattern given to it: "ctest -R NAME".
CTEST_NAME = re.compile(r"\bctest[ \t]+`([A-Za-z0-9_]+)`")
CTEST_PATTERN = re.compile(r"\bctest(?:[ \t]+-{1,2}(?!R\b)[A-Za-z][\w-]*\S*(?:[ \t]+(?![-'\"])[^\s`]+)?)*"
                           r"[ \t]+-R[ \t]+['\"]?([^\s`'\"]+)")
# What starts a continued comment line: "#", " * ", "//", "--", ";" (zone files), "..." (Python).
CONTINUATION = re.compile(r"[ \t]*(?:#+|\*|//|--|;)?[ \t]*")


def headings(path):
    """The headings of a Markdown file, without their '#' marks; fenced code is skipped."""
    found, fenced = set(), False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("```"):
                fenced = not fenced
            elif not fenced and re.match(r"#{1,6} ", line):
                found.add(line.lstrip("#").strip())
    return found


def joined(text):
    """The text with each line's comment leader dropped and lines joined by one space, so that a
    citation wrapped across comment lines reads as one; and, per joined offset, its line."""
    parts, starts = [], []
    offset = 0
    for i, line in enumerate(text.split("\n")):
        if i > 0:
            line = line[CONTINUATION.match(line).end():]
            parts.append(" ")
            offset += 1
        starts.append(offset)
        parts.append(line)
        offset += len(line)
    return "".join(parts), starts


def line_of(starts, offset):
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo + 1


def check_text(name, text, known, tests=None):
    """Problems of one file, as (line, message); tests: the ctest names, or None."""
    problems = []
    for n, line in enumerate(text.split("\n"), 1):
        for pattern, why in FORBIDDEN:
            for m in pattern.finditer(line):
                problems.append((n, f"{why}: \"{m.group(0)}\""))
        m = WRONG_FORM.search(line)
        if m:
            problems.append((n, f"cite a section as {m.group(1)} \"Heading\", not with §"))
    flat, starts = joined(text)
    for m in CITATION.finditer(flat):
        document = DOCUMENTS[m.group(1)]
        for heading in re.findall(r'"([^"]+)"', m.group(2)):
            heading = re.sub(r"\s+", " ", heading).strip()
            if heading not in known[document]:
                problems.append((line_of(starts, m.start()),
                                 f"{document} has no section \"{heading}\""))
    if tests is None:
        return problems
    for m in CTEST_NAME.finditer(flat):
        if m.group(1) not in tests:
            problems.append((line_of(starts, m.start()), f"no test is named {m.group(1)}"))
    for m in CTEST_PATTERN.finditer(flat):
        try:
            matched = any(re.search(m.group(1), t) for t in tests)
        except re.error:
            matched = False
        if not matched:
            problems.append((line_of(starts, m.start()), f"ctest -R {m.group(1)} matches no test"))
    return problems


def tree_files(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z"], check=True,
                             capture_output=True).stdout
        return [p for p in out.decode().split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for base, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith((".git", "build", "__pycache__"))]
            files += [os.path.relpath(os.path.join(base, n), root) for n in names]
        return files


def ctest_names(ctest, build):
    out = subprocess.run([ctest, "--test-dir", build, "-N"], check=True, capture_output=True,
                         text=True).stdout
    return set(re.findall(r"^\s*Test\s+#\d+: (\S+)$", out, re.MULTILINE))


def check_tree(root, tests=None):
    known = {doc: headings(os.path.join(root, doc)) for doc in set(DOCUMENTS.values())}
    problems, nfiles = [], 0
    for rel in sorted(tree_files(root)):
        if rel == THIS_FILE or rel.startswith(SKIPPED):
            continue
        path = os.path.join(root, rel)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (UnicodeDecodeError, IsADirectoryError, FileNotFoundError):
            continue  # binary, or a file git lists that the working tree lacks
        nfiles += 1
        problems += [(rel, n, why) for n, why in check_text(rel, text, known, tests)]
    return problems, nfiles


def main_check(root, tests=None):
    problems, nfiles = check_tree(root, tests)
    for rel, n, why in problems:
        print(f"not ok - {rel}:{n}: {why}")
    if problems:
        print(f"{len(problems)} problems in {nfiles} files (ARCHITECTURE.md says how to cite)")
        return 1
    print(f"ok - {nfiles} files: every citation resolves inside the repository")
    return 0


# Each planted file, and the number of problems it must give.
PLANTED = {
    "good.c": ('/* See ARCHITECTURE.md "Reload" and README "Replies", "Decision log"; the\n'
               ' * README\'s "Monitoring" and tests/RELIABILITY.md "1. Fuzzing". UTS #46, frame\n'
               ' * #1, ticket #42 and "the issue" are not citations. */\n', 0),
    "wrapped.c": ('/* a reference (ARCHITECTURE.md\n * "Threads and\n * locks") across lines */\n', 0),
    "missing.c": ('/* ARCHITECTURE.md "No such section" */\n', 1),
    "missing-second.sh": ('# README "Replies", "No such section"\n', 1),
    "wrapped-missing.sql": ('-- (ARCHITECTURE.md\n-- "Threads and nothing")\n', 1),
    "design.c": ("/* as " + "DESIGN" + ".md §5 says */\n", 1),
    "style.c": ("/* " + "STYLE" + " rule 8 */\n/* " + "STYLE" + " 12 */\n", 2),
    "shared.md": ("see ../" + "shared/TESTING-NOTES.md\n", 1),
    "issue.py": ("# fixed in " + "issue 16, see also " + "Issue #12 and " + "PR 3\n", 3),
    "form.c": ("/* ARCHITECTURE.md " + "§Store */\n", 1),
    "tests.md": ("(ctest `unit_known`) and `ctest -R '^(unit|e2e)_'`, `ctest -R e2e_known`\n", 0),
    "renamed.md": ("(ctest\n`unit_gone`) and `ctest -R e2e_gone`\n", 2),
    "run.sh": ("ctest --test-dir build/x --output-on-failure -j\"$jobs\" -R '^(unit|gone)_'\n"
               "ctest --test-dir build/x -j2 -R '^(cli|gone)_'\n", 1),
}
PLANTED_TESTS = {"unit_known", "e2e_known"}
PLANTED_DOCS = {
    "ARCHITECTURE.md": "# Title\n\n## Reload\n\n```\n## Not a heading\n```\n\n## Threads and locks\n",
    "README.md": "# x\n\n## Replies\n\n## Decision log\n\n## Monitoring\n",
    "tests/RELIABILITY.md": "# r\n\n## 1. Fuzzing\n",
}


def self_test():
    failed = 0
    with tempfile.TemporaryDirectory() as root:
        for rel, text in PLANTED_DOCS.items():
            os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
            with open(os.path.join(root, rel), "w", encoding="utf-8") as f:
                f.write(text)
        known = {doc: headings(os.path.join(root, doc)) for doc in set(DOCUMENTS.values())}
        if "Not a heading" in known["ARCHITECTURE.md"]:
            print("not ok - a line in a fenced block was read as a heading")
            failed = 1
        for name, (text, want) in PLANTED.items():
            got = check_text(name, text, known, PLANTED_TESTS)
            if len(got) != want:
                print(f"not ok - {name}: {len(got)} problems, expected {want}: {got}")
                failed = 1
            else:
                print(f"ok - {name}: {want} problems found")
    return failed


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "--self-test":
        sys.exit(self_test())
    if len(sys.argv) == 4:
        sys.exit(main_check(sys.argv[1], ctest_names(sys.argv[2], sys.argv[3])))
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main_check(sys.argv[1]))
