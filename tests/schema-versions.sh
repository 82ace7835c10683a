#!/bin/bash
# schema-versions.sh SCHEMA_DIR: every SQL dialect under SCHEMA_DIR (schema/sqlite,
# schema/postgresql, ...) has the same migration versions, so that a version number means the same
# schema on every backend (and store_schema_version() is one number for all of them).  Prints the
# versions that differ and fails.
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 SCHEMA_DIR" >&2; exit 2; }

versions() {
    local f
    for f in "$1"/[0-9][0-9][0-9]_*.sql; do
        [[ -e $f ]] || continue
        basename "$f" | cut -c1-3
    done
}

dialects=("$1"/*/)
[[ ${#dialects[@]} -ge 2 ]] || { echo "schema-versions: fewer than two dialects in $1" >&2; exit 1; }
first=${dialects[0]%/}
status=0
for d in "${dialects[@]:1}"; do
    d=${d%/}
    if ! diff <(versions "$first") <(versions "$d") >/dev/null; then
        echo "schema-versions: $first and $d do not have the same versions:" >&2
        diff <(versions "$first") <(versions "$d") >&2 || true
        status=1
    fi
done
[[ $status -eq 0 ]] && echo "schema-versions: ${#dialects[@]} dialects, versions $(versions "$first" | tr '\n' ' ')"
exit "$status"
