#!/bin/sh
# Issue 6's comparison: plain DoReFa training against the follow-up paper's
# methods (progressive quantization, stochastic precision, guided training)
# and all of them combined, at the same epoch budget, on one model and data
# set. Each run goes to OUT/<bits>/<method>; a run already finished is kept.
# Writes OUT/table.md.
# usage: scripts/methods-table.sh [MODEL] [EPOCHS] [OUT] [BITS...]
set -e
DOREFA=${DOREFA:-build/dorefa}
MODEL=${1:-svhn-d}
EPOCHS=${2:-6}
OUT=${3:-runs/methods-$MODEL}
shift 3 2>/dev/null || shift $#
BITS=${*:-"2,2,4 1,1,4"}
COMMON="--model $MODEL --bounded-act crelu -q"
H=$((EPOCHS / 2))
T=$((EPOCHS / 3))
mkdir -p "$OUT"

run() { # bits method args...
    dir="$OUT/$(echo "$1" | tr , -)/$2"
    b=$1 m=$2
    shift 2
    if [ -f "$dir/done.txt" ]; then cat "$dir/done.txt"; return; fi
    start=$(date +%s)
    line=$($DOREFA train $COMMON -o "$dir" "$@" | tail -1)
    echo "$b $m $line ($(( $(date +%s) - start )) s)" | tee "$dir/done.txt"
}

for b in $BITS; do
    w=${b%%,*}
    rest=${b#*,}
    a=${rest%%,*}
    g=${rest#*,}
    run "$b" plain --bits "$b" --epochs "$EPOCHS"
    run "$b" progressive-a --schedule "$w,32,32:$H;$b:$((EPOCHS - H))"
    run "$b" progressive-b --schedule "8,8,8:$T;4,4,$g:$T;$b:$((EPOCHS - 2 * T))"
    run "$b" stochastic --bits "$b" --epochs "$EPOCHS" --stochastic-precision 0.5,$H
    run "$b" guided --bits "$b" --epochs "$EPOCHS" --guide "$MODEL"
    run "$b" combined --schedule "$w,32,32:$H;$b:$((EPOCHS - H))" --stochastic-precision 0.5,$H --guide "$MODEL"
done

{
    echo "# $MODEL on Fashion-MNIST, $EPOCHS epochs each, bounded activation crelu, seed 1"
    echo
    echo "| W,A,G | method | final test accuracy | best (epoch) | wall time |"
    echo "|---|---|---|---|---|"
    for b in $BITS; do
        for m in plain progressive-a progressive-b stochastic guided combined; do
            f="$OUT/$(echo "$b" | tr , -)/$m/done.txt"
            [ -f "$f" ] || continue
            sed -E 's/^([^ ]+) ([^ ]+) test accuracy ([0-9.]+%) \(best ([0-9.]+%) at epoch ([0-9]+)\).*\(([0-9]+) s\)$/| \1 | \2 | \3 | \4 (\5) | \6 s |/' "$f"
        done
    done
} >"$OUT/table.md"
cat "$OUT/table.md"
