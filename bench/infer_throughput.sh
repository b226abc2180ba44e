#!/bin/sh
# SVHN Model A inference, all in one run, alternating the programs (one repeat
# each, ROUNDS times) and comparing medians: dorefa's fused bit engine on an
# exported (W,A) model, dorefa's float path (fp32), PyTorch fp32 eval.
# usage: bench/infer_throughput.sh [ROUNDS] [MODEL a|b|c|d] [W,A]   (from the repository root)
set -e
ROUNDS=${1:-5}
M=${2:-a}
BITS=${3:-1,2}
DOREFA=${DOREFA:-build/dorefa}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in $(seq "$ROUNDS"); do
    "$DOREFA" bench infer --model "svhn-$M" --bits "$BITS" --repeats 3 >"$tmp/d"
    awk '/^fused bit engine/ {print $4 >> "'"$tmp/fb"'"; print $6 >> "'"$tmp/f1"'"; split($8, l, "/"); print l[1] >> "'"$tmp/fl"'"}
         /^float path/ {print $4 >> "'"$tmp/lb"'"; print $6 >> "'"$tmp/l1"'"; split($8, l, "/"); print l[1] >> "'"$tmp/ll"'"}' "$tmp/d"
    /usr/bin/python3 bench/pytorch_svhn.py --model "$M" --infer --steps 8 --repeats 3 >"$tmp/t"
    awk '/median/ {for (i = 1; i <= NF; i++) { if ($i == "median") print $(i+1) >> "'"$tmp/tb"'"; if ($i == "p50") print $(i+1) >> "'"$tmp/tl"'" }}' "$tmp/t"
done
median() { sort -n "$1" | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
echo "SVHN Model $M inference, 40x40x3, $(nproc) threads, medians of $ROUNDS rounds"
printf "%-30s %14s %16s\n" "" "batch 128" "batch-1 p50"
printf "%-30s %9s img/s %13s ms\n" "dorefa fused bit engine W,A=$BITS" "$(median "$tmp/fb")" "$(median "$tmp/fl")"
printf "%-30s %9s img/s %13s ms\n" "dorefa float path (fp32)" "$(median "$tmp/lb")" "$(median "$tmp/ll")"
printf "%-30s %9s img/s %13s ms\n" "PyTorch fp32 eval" "$(median "$tmp/tb")" "$(median "$tmp/tl")"
echo "fused engine / PyTorch at batch 128: $(echo "$(median "$tmp/fb") $(median "$tmp/tb")" | awk '{printf "%.2f", $1/$2}')x;" \
     "batch-1 latency PyTorch / fused: $(echo "$(median "$tmp/tl") $(median "$tmp/fl")" | awk '{printf "%.2f", $1/$2}')x"
