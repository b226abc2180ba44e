#!/bin/sh
# dorefa train under mpirun, through the command line: the errors a user meets
# (a batch that does not split, a rank with other options), and that one rank
# dying, or hanging, ends the others with an error within the timeout.
# usage: test_mpi.sh DOREFA MPIRUN
set -u
D=$1
MPIRUN=$2
T=$(mktemp -d /tmp/dorefa-mpi-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
DATA=/usr/share/datasets/fashion-mnist
[ -e $DATA/t10k-labels-idx1-ubyte.gz ] || { echo "test_mpi: skipped: no Fashion-MNIST at $DATA"; exit 0; }
run() { timeout 120 "$MPIRUN" --oversubscribe "$@"; }
COMMON="--limit-train 512 --limit-test 200 --epochs 1 --batch 64 --threads 1 --quiet"

# a run that works, with its output from rank 0 alone
run -np 2 "$D" train $COMMON --out "$T/ok" > "$T/ok.out" 2> "$T/ok.err" || { cat "$T/ok.err"; fail "a plain run failed"; }
[ "$(grep -c 'test accuracy' "$T/ok.out")" = 1 ] || fail "expected one result line: $(cat "$T/ok.out")"
[ -s "$T/ok/last.ckpt" ] && [ "$(wc -l < "$T/ok/metrics.jsonl")" = 1 ] || fail "rank 0 did not write the run"
grep -q '"ranks": 2' "$T/ok/metrics.jsonl" || fail "metrics do not record the ranks"

# a global batch that does not split
run -np 2 "$D" train $COMMON --batch 65 --out "$T/odd" > /dev/null 2> "$T/odd.err" && fail "--batch 65 over 2 ranks ran"
grep -q -- "--batch 65 does not split over 2 ranks" "$T/odd.err" || fail "no split message: $(cat "$T/odd.err")"

# one rank with another learning rate
run -np 1 "$D" train $COMMON --out "$T/mix" : -np 1 "$D" train $COMMON --lr 0.002 --out "$T/mix" \
    > /dev/null 2> "$T/mix.err" && fail "ranks with different options ran"
grep -q "rank 1: its options (the stored configuration" "$T/mix.err" || fail "no mismatch message: $(cat "$T/mix.err")"

# one rank with another data set size
run -np 1 "$D" train $COMMON --out "$T/mix2" : -np 1 "$D" train $COMMON --limit-test 100 --out "$T/mix2" \
    > /dev/null 2> "$T/mix2.err" && fail "ranks with different data ran"
grep -q "rank 1: its" "$T/mix2.err" || fail "no data mismatch message: $(cat "$T/mix2.err")"

# one rank failing at start-up (a data path it cannot read): all stop, with its message
run -np 1 "$D" train $COMMON --out "$T/bad" : -np 1 "$D" train $COMMON --data "$T/none" --out "$T/bad" \
    > /dev/null 2> "$T/bad.err" && fail "a run with a failing rank succeeded"
grep -q "rank 1: .*$T/none" "$T/bad.err" || fail "the failing rank's message is missing: $(cat "$T/bad.err")"

# a rank killed mid-run: the other ends non-zero, well within the timeout
LONG="--limit-train 4096 --limit-test 200 --epochs 50 --batch 64 --threads 1 --quiet"
start=$(date +%s)
run -np 1 "$D" train $LONG --out "$T/kill" : -np 1 sh -c "exec timeout -s KILL 4 $D train $LONG --out $T/kill" \
    > /dev/null 2> "$T/kill.err" && fail "a run with a killed rank succeeded"
took=$(( $(date +%s) - start ))
[ $took -lt 60 ] || fail "the killed rank's partner took $took s to stop"
echo "killed rank: the run ended after $took s"

# a rank that hangs (stopped): the other gives up after DOREFA_MPI_TIMEOUT
start=$(date +%s)
DOREFA_MPI_TIMEOUT=5 run -np 1 "$D" train $LONG --out "$T/hang" : -np 1 sh -c \
    "$D train $LONG --out $T/hang & p=\$!; sleep 4; kill -STOP \$p; sleep 60; kill -KILL \$p" \
    > /dev/null 2> "$T/hang.err" && fail "a run with a hung rank succeeded"
took=$(( $(date +%s) - start ))
grep -q "no answer from the other ranks for 5 s" "$T/hang.err" || fail "no timeout message: $(cat "$T/hang.err")"
[ $took -lt 40 ] || fail "the hung rank's partner took $took s to stop"
echo "hung rank: the run ended after $took s"
echo "test_mpi: all passed"
