#!/bin/sh
# Python's Model.predict against the C API's dorefa_predict at batch 1 (p50 of
# CALLS calls each), alternating the two programs ROUNDS times on one exported
# model (Model A at W,A = 1,2 by default; random weights: speed does not depend
# on them). Prints each round and the medians.
#   sh bench/python_overhead.sh [ROUNDS] [CALLS] [MODEL] [BITS]
set -e
ROUNDS=${1:-5} CALLS=${2:-2000} MODEL=${3:-svhn-a} BITS=${4:-1,2,32}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} # batch 1: one thread (set it to compare others)
cd "$(dirname "$0")/.."
TMP=$(mktemp -d /tmp/dorefa-pybench-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
cc -O2 -std=c11 bench/predict_latency.c -Iinclude -Lbuild -ldorefa -Wl,-rpath,"$PWD/build" -o "$TMP/predict_latency"
export PYTHONPATH="$PWD/python" DOREFA_LIBRARY="$PWD/build/libdorefa.so.0"
/usr/bin/python3 -c "
import dorefa
t = dorefa.Trainer('$MODEL', bits='$BITS')
t.build(3)
t.export('$TMP/m.dorefa')"
for r in $(seq "$ROUNDS"); do
    c=$("$TMP/predict_latency" "$TMP/m.dorefa" "$CALLS" | awk '{print $2}')
    p=$(/usr/bin/python3 -c "
import time, numpy as np, dorefa
m = dorefa.load('$TMP/m.dorefa', max_batch=1)
x = (np.arange(np.prod(m.input_shape)) * 37 % 256).astype(np.uint8).reshape(m.input_shape)
for _ in range(20): m.predict(x)
t = []
for _ in range($CALLS):
    a = time.perf_counter(); m.predict(x); t.append(time.perf_counter() - a)
print('%.2f' % (1e6 * sorted(t)[len(t) // 2]))")
    echo "round $r: C API p50 $c us, Python predict p50 $p us"
    echo "$c $p" >>"$TMP/rounds"
done
med() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
c=$(awk '{print $1}' "$TMP/rounds" | med)
p=$(awk '{print $2}' "$TMP/rounds" | med)
echo "median p50 over $ROUNDS rounds: C API $c us, Python $p us"
awk -v c="$c" -v p="$p" 'BEGIN {printf "Python overhead: %.2f us per call (%.3fx the C API)\n", p - c, p / c}'
