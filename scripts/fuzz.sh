#!/bin/sh
# Runs every fuzz target from its seed corpus for SECONDS each (default 15),
# on a scratch copy of the corpus (fuzz/corpus stays as committed). A crash, a
# leak, a timeout or an out-of-memory stops with the input that caused it in
# FUZZ_OUT (default /tmp/dorefa-fuzz-findings) and a non-zero exit.
# usage: scripts/fuzz.sh BUILD_DIR [SECONDS] [TARGET...]
set -e
BUILD=$1
SECONDS_EACH=${2:-15}
shift 2 2>/dev/null || shift $#
TARGETS=${*:-"idx cifar mat image model config checkpoint deploy"}
SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=${FUZZ_OUT:-/tmp/dorefa-fuzz-findings}
mkdir -p "$OUT"
failed=0
for t in $TARGETS; do
    work=$(mktemp -d /tmp/dorefa-fuzz-corpus-XXXXXX)
    cp "$SRC/fuzz/corpus/$t/"* "$work/"
    if "$BUILD/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
        -artifact_prefix="$OUT/$t-" -print_final_stats=1 "$work" >"$OUT/$t.log" 2>&1; then
        echo "ok   fuzz_$t: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$OUT/$t.log" | grep -o '[0-9]*$') runs," \
             "$(grep -o 'cov: [0-9]*' "$OUT/$t.log" | tail -1)"
    else
        echo "FAIL fuzz_$t: see $OUT/$t.log"; tail -30 "$OUT/$t.log"; failed=1
    fi
    rm -rf "$work"
done
exit $failed
