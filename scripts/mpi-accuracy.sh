#!/bin/sh
# What data-parallel training and its compressed exchange cost in accuracy:
# SVHN Model A at W,A,G = 1,2,4 on Fashion-MNIST, one recipe, run by one
# process (all cores), by mpirun -np 2, and by mpirun -np 2 with
# --exchange-bits 1 and 4. Prints test accuracy and gradient bytes per step.
# usage: scripts/mpi-accuracy.sh [EPOCHS] [TRAIN_IMAGES] [TEST_IMAGES] [OUT]
set -e
EPOCHS=${1:-3}
NTRAIN=${2:-12800}
NTEST=${3:-2000}
OUT=${4:-runs/mpi-accuracy}
DOREFA=${DOREFA:-build/dorefa}
MPIRUN="mpirun --oversubscribe --bind-to none"
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
CORES=$(nproc)
RECIPE="train --model svhn-a --bounded-act crelu --bits 1,2,4 --epochs $EPOCHS --limit-train $NTRAIN --limit-test $NTEST --batch 128 --seed 1 --quiet"
mkdir -p "$OUT"
run() { # name, launcher words..., then the extra options after --
    name=$1; shift
    [ -s "$OUT/$name/metrics.jsonl" ] && [ "$(wc -l < "$OUT/$name/metrics.jsonl")" -ge "$EPOCHS" ] && return 0
    rm -rf "${OUT:?}/$name"
    "$@" --out "$OUT/$name" > /dev/null
}
run n1 "$DOREFA" $RECIPE --threads "$CORES"
run n2 $MPIRUN -np 2 "$DOREFA" $RECIPE --threads $((CORES / 2))
run n2-k4 $MPIRUN -np 2 "$DOREFA" $RECIPE --threads $((CORES / 2)) --exchange-bits 4
run n2-k1 $MPIRUN -np 2 "$DOREFA" $RECIPE --threads $((CORES / 2)) --exchange-bits 1
field() { sed -n "s/.*\"$1\": \([0-9.e+-]*\).*/\1/p" "$2" | tail -1; }
echo "SVHN Model A (1,2,4) on Fashion-MNIST: $EPOCHS epochs of $NTRAIN images, batch 128, test on $NTEST"
echo "| run | test accuracy | train loss | gradient bytes sent per rank per step | images/s |"
echo "| --- | --- | --- | --- | --- |"
for r in n1 n2 n2-k4 n2-k1; do
    m="$OUT/$r/metrics.jsonl"
    b=$(field exchange_bytes_per_step "$m")
    printf "| %s | %.2f%% | %.4f | %s | %s |\n" "$r" "$(echo "$(field test_acc "$m")" | awk '{print 100 * $1}')" \
        "$(field train_loss "$m")" "${b:-0 (one process)}" "$(field images_per_s "$m")"
done
