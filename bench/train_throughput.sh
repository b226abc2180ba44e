#!/bin/sh
# SVHN Model A fp32 training throughput: dorefa beside PyTorch, same machine,
# same run. The two alternate, one repeat each, ROUNDS times; medians compared.
# usage: bench/train_throughput.sh [ROUNDS] [MODEL a|b|c|d]   (run from the repository root)
set -e
ROUNDS=${1:-5}
M=${2:-a}
DOREFA=${DOREFA:-build/dorefa}
STEPS=${STEPS:-10}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in $(seq "$ROUNDS"); do
    "$DOREFA" bench train --model "svhn-$M" --batch 128 --channels 3 --steps "$STEPS" --repeats 1 |
        awk '/median/ {print $(NF-6)}' >>"$tmp/dorefa"
    /usr/bin/python3 bench/pytorch_svhn.py --model "$M" --batch 128 --channels 3 --steps "$STEPS" --repeats 1 |
        awk '/median/ {print $(NF-6)}' >>"$tmp/torch"
done
median() { sort -n "$1" | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
d=$(median "$tmp/dorefa")
t=$(median "$tmp/torch")
echo "dorefa:  $(tr '\n' ' ' <"$tmp/dorefa")-> median $d images/s"
echo "pytorch: $(tr '\n' ' ' <"$tmp/torch")-> median $t images/s"
echo "SVHN Model $M fp32 training, batch 128, 40x40x3, $(nproc) threads: dorefa / PyTorch = $(echo "$d $t" | awk '{printf "%.2f", $1/$2}')"
