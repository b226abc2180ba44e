#!/bin/sh
# Two builds' engines on one exported model (SVHN Model A at W,A = BITS, random
# weights, first layer FIRST: int8 or float) in one process, alternating:
# p50 at batch 128 and at batch 1, and new/old, RUNS times each. Less noisy than
# timing two programs one after the other on a shared machine.
#   OLD=path/to/old/build NEW=build sh bench/compare_engines.sh [RUNS] [BITS] [FIRST]
set -e
RUNS=${1:-3} BITS=${2:-1,2} FIRST=${3:-int8}
OLD=${OLD:?OLD=the other build folder (with libdorefa.so)}
NEW=${NEW:-build}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -std=c11 -Wall bench/compare_engines.c -ldl -o "$tmp/compare"
cp "$OLD/libdorefa.so" "$tmp/old.so" # two paths: two libraries in the process
cp "$NEW/libdorefa.so" "$tmp/new.so"
"$NEW/dorefa" bench infer --model svhn-a --bits "$BITS" --first-layer "$FIRST" --repeats 1 --save "$tmp/m.dorefa" >/dev/null
for i in $(seq "$RUNS"); do
    "$tmp/compare" "$tmp/old.so" "$tmp/new.so" "$tmp/m.dorefa" 128 40
    "$tmp/compare" "$tmp/old.so" "$tmp/new.so" "$tmp/m.dorefa" 1 200
done
