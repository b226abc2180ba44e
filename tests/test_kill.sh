#!/bin/sh
# Checkpoints survive kill -9: a training run that saves last.ckpt every step is
# killed with SIGKILL at random points, many times, and resumed from what is on
# disk each time; it must always resume, and end with exactly the checkpoint and
# the log of the uninterrupted run.
# usage: test_kill.sh DOREFA_BINARY   (EPOCHS=40 for a longer run: more kills)
DOREFA=$1
EPOCHS=${EPOCHS:-8}
IDX=/usr/share/datasets/fashion-mnist
if [ ! -f "$IDX/train-images-idx3-ubyte.gz" ]; then echo "skip: $IDX is missing"; exit 0; fi
TMP=$(mktemp -d /tmp/dorefa-kill-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
printf 'input size=28\nconv filters=6 size=3 bias=1\nbn\nact fn=crelu\nmaxpool size=2\nconv filters=8 size=3\nbn\nact fn=crelu\nmaxpool size=2\ndropout rate=0.2\nfc outputs=10\nsoftmax\n' >"$TMP/k.net"
ARGS="--model $TMP/k.net --data $IDX --bits 1,2,4 --limit-train 3000 --limit-test 100 --batch 20 --epochs $EPOCHS --checkpoint-every 1 --threads 2 -q"
# kills land from the end of the start-up (reading the data) to twice as long
t0=$(date +%s%N)
# shellcheck disable=SC2086
"$DOREFA" train $ARGS --until-step 1 -o "$TMP/probe" >/dev/null || { echo "FAIL: a one-step run"; exit 1; }
start_s=$(( ($(date +%s%N) - t0) / 1000000 ))
# shellcheck disable=SC2086
"$DOREFA" train $ARGS -o "$TMP/ref" >/dev/null || { echo "FAIL: the uninterrupted run"; exit 1; }
kills=0 resumes=0 i=0
while [ $i -lt 4000 ]; do
    i=$((i + 1))
    if [ -f "$TMP/run/last.ckpt" ]; then
        "$DOREFA" train --resume "$TMP/run/last.ckpt" >"$TMP/out" 2>&1 &
        resumes=$((resumes + 1))
    else
        # shellcheck disable=SC2086
        "$DOREFA" train $ARGS -o "$TMP/run" >"$TMP/out" 2>&1 &
    fi
    pid=$!
    sleep "$(awk -v s=$i -v ms="$start_s" 'BEGIN { srand(s); printf "%.3f", ms / 1000 * (1 + rand()) }')"
    if kill -9 $pid 2>/dev/null; then
        wait $pid 2>/dev/null
        kills=$((kills + 1))
        continue
    fi
    wait $pid
    rc=$?
    if grep -q "already trained" "$TMP/out" || { [ $rc = 0 ] && grep -q "after $EPOCHS epochs" "$TMP/out"; }; then break; fi
    echo "FAIL: a run exited with $rc after $kills kills:"; cat "$TMP/out"; exit 1
done
echo "$kills kills, $resumes resumes (start-up $start_s ms)"
[ $kills -ge 10 ] || { echo "FAIL: only $kills kills (the run is too fast to test this)"; exit 1; }
cmp "$TMP/run/last.ckpt" "$TMP/ref/last.ckpt" || { echo "FAIL: last.ckpt differs from the uninterrupted run's"; exit 1; }
cmp "$TMP/run/best.ckpt" "$TMP/ref/best.ckpt" || { echo "FAIL: best.ckpt differs"; exit 1; }
numbers() { sed 's/, "images_per_s.*//' "$1"; }
[ "$(numbers "$TMP/run/metrics.jsonl")" = "$(numbers "$TMP/ref/metrics.jsonl")" ] ||
    { echo "FAIL: the logs differ"; numbers "$TMP/run/metrics.jsonl"; numbers "$TMP/ref/metrics.jsonl"; exit 1; }
if ls "$TMP/run" | grep -q '\.tmp'; then echo "FAIL: temporary files left: $(ls "$TMP/run")"; exit 1; fi
echo "kill test passed"
