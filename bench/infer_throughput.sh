#!/bin/sh
# SVHN Model inference, all in one run, alternating the programs (one repeat
# each, ROUNDS times) and comparing medians: dorefa's fused bit engine on
# exported models at each W,A of BITS (and at INT8_BITS with the first layer in 8-bit
# integers, 'dorefa export --first-layer int8'), dorefa's float path (fp32), PyTorch fp32
# eval (default and channels_last memory), and PyTorch int8 (post-training
# static quantization with the best engine the installed torch has, ReLU in
# place of cabs, calibrated on 4 batches: bench/pytorch_svhn.py --int8).
# usage: bench/infer_throughput.sh [ROUNDS] [MODEL a|b|c|d] [BITS "1,1 1,2 2,2"]   (from the repository root)
set -e
ROUNDS=${1:-5}
M=${2:-a}
BITS=${3:-1,1 1,2 2,2}
INT8_BITS=${INT8_BITS:-1,2} # empty: none
DOREFA=${DOREFA:-build/dorefa}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# 'dorefa bench infer' lines: images/s at batch 128 ($4), p50 ms at batch 1 ($8 before the '/');
# KEY gets the fused engine's, FLOAT (when given) the float path's
engine() {
    awk -v f="$tmp/$1" -v g="${2:+$tmp/float_}" '
        /^fused bit engine/ {print $4 >> (f "b"); split($8, l, "/"); print l[1] >> (f "l")}
        /^float path/ && g != "" {print $4 >> (g "b"); split($8, l, "/"); print l[1] >> (g "l")}' "$tmp/d"
}
torch_run() { # NAME ARGS...: bench/pytorch_svhn.py --infer with ARGS
    name=$1
    shift
    /usr/bin/python3 -W ignore bench/pytorch_svhn.py --model "$M" --infer --steps 8 --repeats 3 "$@" >"$tmp/t"
    awk -v f="$tmp/$name" '/median/ {for (i = 1; i <= NF; i++) { if ($i == "median") print $(i+1) >> (f "b"); if ($i == "p50") print $(i+1) >> (f "l") }}' "$tmp/t"
    grep -o 'int8 ([a-z0-9]*)' "$tmp/t" >"$tmp/int8_engine" || true
}
for i in $(seq "$ROUNDS"); do
    float=1 # the float path once per round
    for b in $BITS; do
        "$DOREFA" bench infer --model "svhn-$M" --bits "$b" --repeats 3 >"$tmp/d"
        engine "w$(echo "$b" | tr , _)_" ${float:+float}
        float=
    done
    for b in $INT8_BITS; do
        "$DOREFA" bench infer --model "svhn-$M" --bits "$b" --repeats 3 --first-layer int8 >"$tmp/d"
        engine "i8_$(echo "$b" | tr , _)_"
    done
    torch_run fp32_
    torch_run cl_ --channels-last
    torch_run int8_ --int8
done
median() { sort -n "$1" | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
echo "SVHN Model $M inference, 40x40x3, $(nproc) threads, medians of $ROUNDS rounds"
printf "%-42s %14s %16s\n" "" "batch 128" "batch-1 p50"
row() { printf "%-42s %9s img/s %13s ms\n" "$1" "$(median "$tmp/$2b")" "$(median "$tmp/$2l")"; }
for b in $BITS; do row "dorefa fused bit engine W,A=$b" "w$(echo "$b" | tr , _)_"; done
for b in $INT8_BITS; do row "dorefa engine W,A=$b, int8 first layer" "i8_$(echo "$b" | tr , _)_"; done
row "dorefa float path (fp32)" float_
row "PyTorch fp32 eval" fp32_
row "PyTorch fp32 eval, channels_last" cl_
row "PyTorch $(cat "$tmp/int8_engine")" int8_
ratio() { echo "$1 $2" | awk '{printf "%.2f", $1/$2}'; }
for k in $(for b in $BITS; do echo "w$(echo "$b" | tr , _)_"; done) $(for b in $INT8_BITS; do echo "i8_$(echo "$b" | tr , _)_"; done); do
    name=$(echo "$k" | sed 's/^w\([0-9]\)_\([0-9]\)_$/W,A=\1,\2/; s/^i8_\([0-9]\)_\([0-9]\)_$/W,A=\1,\2 int8 first layer/')
    echo "$name against PyTorch int8: $(ratio "$(median "$tmp/${k}b")" "$(median "$tmp/int8_b")")x at batch 128," \
         "$(ratio "$(median "$tmp/int8_l")" "$(median "$tmp/${k}l")")x at batch-1 p50; against fp32 channels_last:" \
         "$(ratio "$(median "$tmp/${k}b")" "$(median "$tmp/cl_b")")x, $(ratio "$(median "$tmp/cl_l")" "$(median "$tmp/${k}l")")x"
done
