#!/usr/bin/env bash
# Runs one libFuzzer target for a while:  tests/fuzz/run.sh TARGET SECONDS [libFuzzer options...]
#   TARGET: addr, config, dns, greylist, policy or bodyhash (tests/fuzz/fuzz_TARGET.c).
# Builds build/fuzz (clang, -DINGRESS_FUZZ=ON: libFuzzer + ASan + UBSan) when needed, fuzzes a
# working copy of tests/fuzz/corpus/TARGET (build/fuzz/corpus/TARGET: libFuzzer adds what it finds
# there; copy an input back into the committed corpus by hand, renamed regress-*, when it is worth
# replaying in CI), and prints the figures of the run: executions, speed, coverage, crashes.
# A crash leaves its input as build/fuzz/crash-* and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${1:?usage: tests/fuzz/run.sh TARGET SECONDS [libFuzzer options]}
seconds=${2:?usage: tests/fuzz/run.sh TARGET SECONDS [libFuzzer options]}
shift 2
[[ -f tests/fuzz/fuzz_$target.c ]] || { echo "run.sh: no target tests/fuzz/fuzz_$target.c" >&2; exit 2; }

build=build/fuzz
if [[ ! -f $build/CMakeCache.txt ]]; then
    cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DINGRESS_FUZZ=ON >/dev/null
fi
cmake --build "$build" -j2 --target "fuzz_$target" >/dev/null

work=$build/corpus/$target
mkdir -p "$work"
cp -n tests/fuzz/corpus/"$target"/* "$work"/ 2>/dev/null || true
log=$build/fuzz-$target.log
echo "fuzzing $target for $seconds s (corpus $work, log $log)"
rc=0
# -rss_limit_mb: the policy target holds a resolver, SQLite and libopendkim; 2 GB is generous.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/tests/fuzz_$target" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/" "$@" "$work" >"$log" 2>&1 || rc=$?
grep -E '^stat::|^#[0-9]+ +DONE|ERROR|SUMMARY' "$log" | tail -n 12 || true
inputs=$(find "$work" -type f | wc -l)
echo "target=$target seconds=$seconds rc=$rc corpus_inputs=$inputs"
exit "$rc"
