#!/bin/sh
# Data-parallel training on one machine: one process with all cores against
# mpirun -np 2 with the cores shared out, SVHN Model A (40x40x3, batch 128) on
# random CIFAR-format images, alternating the programs (ROUNDS rounds),
# medians. Also mpirun with the overlap off (DOREFA_MPI_OVERLAP=0: every
# bucket sent after the backward pass), to show how much the overlap hides.
# usage: bench/mpi_throughput.sh [ROUNDS] [BITS...]   (from the repository root)
set -e
ROUNDS=${1:-5}
[ $# -gt 0 ] && shift
BITS=${*:-1,2,4 32,32,32}
DOREFA=${DOREFA:-build/dorefa}
STEPS=${STEPS:-20}
MPIRUN="mpirun --oversubscribe --bind-to none"
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
CORES=$(nproc)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp" "$STEPS" << 'PY'
import os, random, sys
d, steps = sys.argv[1], int(sys.argv[2])
r = random.Random(1)
def batch(name, n):
    with open(os.path.join(d, name), "wb") as f:
        for _ in range(n):
            f.write(bytes([r.randrange(10)]) + os.urandom(3072))
batch("data_batch_1.bin", 128 * steps)
batch("test_batch.bin", 128)
PY
field() { sed -n "s/.*\"$1\": \([0-9.e+-]*\).*/\1/p" "$2" | tail -1; }
median() { sort -n "$1" | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
ARGS="train --model svhn-a --data $tmp --epochs 1 --batch 128 --quiet"
for bits in $BITS; do
    key=$(echo "$bits" | tr , _)
    for i in $(seq "$ROUNDS"); do
        rm -rf "$tmp/run"
        "$DOREFA" $ARGS --bits "$bits" --threads "$CORES" --out "$tmp/run" > /dev/null
        field images_per_s "$tmp/run/metrics.jsonl" >> "$tmp/$key.one"
        rm -rf "$tmp/run"
        $MPIRUN -np 2 "$DOREFA" $ARGS --bits "$bits" --threads $((CORES / 2)) --out "$tmp/run" > /dev/null
        field images_per_s "$tmp/run/metrics.jsonl" >> "$tmp/$key.two"
        field exchange_wait_ms "$tmp/run/metrics.jsonl" >> "$tmp/$key.wait"
        field sync_ms "$tmp/run/metrics.jsonl" >> "$tmp/$key.sync"
        field exchange_bytes_per_step "$tmp/run/metrics.jsonl" > "$tmp/$key.bytes"
        rm -rf "$tmp/run"
        DOREFA_MPI_OVERLAP=0 $MPIRUN -np 2 "$DOREFA" $ARGS --bits "$bits" --threads $((CORES / 2)) --out "$tmp/run" > /dev/null
        field images_per_s "$tmp/run/metrics.jsonl" >> "$tmp/$key.two0"
        field exchange_wait_ms "$tmp/run/metrics.jsonl" >> "$tmp/$key.wait0"
    done
    one=$(median "$tmp/$key.one") two=$(median "$tmp/$key.two") two0=$(median "$tmp/$key.two0")
    wait=$(median "$tmp/$key.wait") wait0=$(median "$tmp/$key.wait0") sync=$(median "$tmp/$key.sync")
    echo "SVHN Model A, W,A,G = $bits, batch 128, $ROUNDS rounds of $STEPS steps, $CORES cores:"
    echo "  one process, $CORES threads:          $(tr '\n' ' ' < "$tmp/$key.one")-> median $one images/s"
    echo "  mpirun -np 2, $((CORES / 2)) thread(s) each:   $(tr '\n' ' ' < "$tmp/$key.two")-> median $two images/s"
    echo "  the same, overlap off:           $(tr '\n' ' ' < "$tmp/$key.two0")-> median $two0 images/s"
    echo "  gradient exchange: $(awk -v b="$(cat "$tmp/$key.bytes")" 'BEGIN {printf "%.2f", b / 1e6}') MB sent per rank per step;" \
         "waited after the backward pass: $wait ms per step (overlap off: $wait0 ms);" \
         "batch-norm and step sums: $sync ms per step"
    echo "  mpirun / one process = $(echo "$two $one" | awk '{printf "%.2f", $1 / $2}');" \
         "exchange hidden by the overlap: $(echo "$wait $wait0" | awk '{printf "%.0f%%", ($2 > 0 ? 100 * (1 - $1 / $2) : 0)}')"
done
