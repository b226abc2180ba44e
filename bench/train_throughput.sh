#!/bin/sh
# SVHN Model A training throughput, all in one run, alternating the programs
# (one repeat each, ROUNDS times) and comparing medians:
#   fp32:  dorefa beside PyTorch (Debian's python3-torch), default and channels_last memory
#   W,A,G: dorefa with bit kernels, dorefa's float simulation, PyTorch fake quantization
# usage: bench/train_throughput.sh [ROUNDS] [MODEL a|b|c|d] [BITS]   (from the repository root)
set -e
ROUNDS=${1:-5}
M=${2:-a}
BITS=${3:-1,2,4}
DOREFA=${DOREFA:-build/dorefa}
STEPS=${STEPS:-10}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rate() { awk '/median/ {print $(NF-6)}'; }
for i in $(seq "$ROUNDS"); do
    "$DOREFA" bench train --model "svhn-$M" --bits 32,32,32 --steps "$STEPS" --repeats 1 | rate >>"$tmp/d32"
    /usr/bin/python3 bench/pytorch_svhn.py --model "$M" --steps "$STEPS" --repeats 1 | rate >>"$tmp/t32"
    /usr/bin/python3 bench/pytorch_svhn.py --model "$M" --steps "$STEPS" --repeats 1 --channels-last | rate >>"$tmp/tcl"
    "$DOREFA" bench train --model "svhn-$M" --bits "$BITS" --kernels bit --steps "$STEPS" --repeats 1 | rate >>"$tmp/dbit"
    "$DOREFA" bench train --model "svhn-$M" --bits "$BITS" --kernels float --steps "$STEPS" --repeats 1 | rate >>"$tmp/dsim"
    /usr/bin/python3 bench/pytorch_svhn.py --model "$M" --bits "$BITS" --steps "$STEPS" --repeats 1 | rate >>"$tmp/tq"
done
median() { sort -n "$1" | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
row() { printf "%-34s %s-> median %s images/s\n" "$1" "$(tr '\n' ' ' <"$tmp/$2")" "$(median "$tmp/$2")"; }
echo "SVHN Model $M training, batch 128, 40x40x3, $(nproc) threads, $ROUNDS rounds of $STEPS steps"
row "dorefa fp32" d32
row "PyTorch fp32" t32
row "PyTorch fp32, channels_last" tcl
row "dorefa $BITS bit kernels ($("$DOREFA" bench train --steps 1 --repeats 1 --bits "$BITS" | awk '/median/ {printf "%s", $7}'))" dbit
row "dorefa $BITS float simulation" dsim
row "PyTorch $BITS fake quantization" tq
ratio() { echo "$(median "$tmp/$1") $(median "$tmp/$2")" | awk '{printf "%.2f", $1/$2}'; }
echo "fp32: dorefa / PyTorch = $(ratio d32 t32), / PyTorch channels_last = $(ratio d32 tcl)"
echo "$BITS: bit kernels / PyTorch fake quantization = $(ratio dbit tq), / PyTorch fp32 channels_last = $(ratio dbit tcl)," \
     "/ float simulation = $(ratio dbit dsim)"
