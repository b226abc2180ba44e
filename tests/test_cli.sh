#!/bin/sh
# Command-line behaviour: exit codes, one-line errors naming the file, and a
# short train -> eval -> resume cycle on a Fashion-MNIST slice (the data set
# the install step provides; the SVHN fragment beside the project is optional).
# usage: test_cli.sh DOREFA_BINARY SHARED_DATA_DIR
DOREFA=$1
DATA=$2
IDX=/usr/share/datasets/fashion-mnist
TMP=$(mktemp -d /tmp/dorefa-cli-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0

# expect NAME CODE PATTERN -- command...: exit code and a stderr/stdout pattern.
expect() {
    name=$1 code=$2 pattern=$3
    shift 4
    "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    if [ "$rc" != "$code" ]; then
        echo "FAIL $name: exit $rc, expected $code"; cat "$TMP/err"; failed=$((failed + 1)); return
    fi
    if [ -n "$pattern" ] && ! grep -q -- "$pattern" "$TMP/out" "$TMP/err"; then
        echo "FAIL $name: output lacks '$pattern'"; cat "$TMP/out" "$TMP/err"; failed=$((failed + 1)); return
    fi
    if [ "$code" = 1 ] && [ "$(wc -l <"$TMP/err")" -ne 1 ]; then
        echo "FAIL $name: the error is not one line:"; cat "$TMP/err"; failed=$((failed + 1)); return
    fi
    echo "ok   $name"
    passed=$((passed + 1))
}

expect help 0 "dorefa COMMAND" -- "$DOREFA" --help
expect train-help 0 "--resume CKPT" -- "$DOREFA" train --help
expect eval-help 0 "CHECKPOINT" -- "$DOREFA" eval --help
expect no-command 2 "usage" -- "$DOREFA"
expect unknown-command 2 "unknown command 'trian'" -- "$DOREFA" trian
expect unknown-option 2 "see 'dorefa train --help'" -- "$DOREFA" train --bogus
expect bad-number 2 "--epochs x" -- "$DOREFA" train --epochs x
expect bad-contrast 2 "expected LO,HI" -- "$DOREFA" train --contrast 2
expect missing-data 1 "/nonexistent: no such folder" -- "$DOREFA" train --data /nonexistent -q
expect missing-model 1 "nomodel: no such model file" -- "$DOREFA" train --model nomodel -q
expect schedule-bad 2 "needs W,A,G:EPOCHS" -- "$DOREFA" train --schedule "1,2,4"
expect schedule-bits 2 "leave out --bits" -- "$DOREFA" train --schedule "1,2,4:1" --bits 1,2,4
expect sp-bad 2 "expected R0,RAMP" -- "$DOREFA" train --stochastic-precision 2,1
expect hint-alone 2 "--hint needs --guide" -- "$DOREFA" train --hint bn4
expect guide-weights 2 "expected L,F" -- "$DOREFA" train --guide default --guide-weights x
expect kernels-bad 2 "expected bit or float" -- "$DOREFA" train --kernels fast
expect kernel-env-bad 2 "unknown kernel 'avx1024'" -- env DOREFA_KERNEL=avx1024 "$DOREFA" bench train --steps 1 --repeats 1 --bits 1,2,4
expect bench-repeats 2 "--repeats 2" -- "$DOREFA" bench kernels --repeats 2
expect bench-unknown 2 "unknown benchmark" -- "$DOREFA" bench nothing
expect eval-not-ckpt 1 "/dev/null: not a dorefa checkpoint" -- "$DOREFA" eval /dev/null
expect eval-missing 1 "nope.ckpt: cannot open" -- "$DOREFA" eval "$TMP/nope.ckpt"
expect eval-args 2 "expected one CHECKPOINT" -- "$DOREFA" eval

if [ -f "$DATA/svhn-fragment/train_32x32.truncated.mat" ]; then
    expect svhn-fragment 1 "train_32x32.truncated.mat: truncated" -- \
        "$DOREFA" train --model svhn-a --data "$DATA/svhn-fragment/train_32x32.truncated.mat" -q
    mkdir -p "$TMP/svhn" && cp "$DATA/svhn-fragment/train_32x32.truncated.mat" "$TMP/svhn/train_32x32.mat"
    expect svhn-folder 1 "train_32x32.mat: truncated" -- "$DOREFA" train --model svhn-a --data "$TMP/svhn" -q
fi

if [ -f "$IDX/train-images-idx3-ubyte.gz" ]; then
    printf 'input size=28\nconv filters=4 sise=3\nsoftmax\n' >"$TMP/bad.net"
    expect bad-model 1 "bad.net:2: unknown key 'sise'" -- "$DOREFA" train --model "$TMP/bad.net" --data "$IDX" -q
    expect guide-missing 1 "nomodel: no such model file" -- "$DOREFA" train --guide nomodel --data "$IDX" --limit-train 10 -q
    expect guide-hint 1 "no layer named 'nosuch'" -- "$DOREFA" train --guide default --hint nosuch --data "$IDX" --limit-train 10 -q
    printf 'input size=28\nconv filters=4 size=3 bias=1\nact fn=relu\nmaxpool size=2\nfc outputs=10\nsoftmax\n' >"$TMP/tiny.net"
    expect train 0 "test accuracy" -- "$DOREFA" train --model "$TMP/tiny.net" --data "$IDX" \
        --limit-train 600 --limit-test 200 --epochs 1 --batch 32 -o "$TMP/run" -q
    expect run-files 0 "" -- test -s "$TMP/run/last.ckpt" -a -s "$TMP/run/best.ckpt" -a -s "$TMP/run/metrics.jsonl"
    expect eval 0 "accuracy" -- "$DOREFA" eval "$TMP/run/last.ckpt" --limit 200
    expect resume-done 1 "already trained 1 of 1 epochs" -- "$DOREFA" train --resume "$TMP/run/last.ckpt" -q
    expect resume-bad-opt 2 "the run.s own settings are used; only --data, --epochs" -- "$DOREFA" train --resume "$TMP/run/last.ckpt" --lr 0.1
    expect resume 0 "after 2 epochs" -- "$DOREFA" train --resume "$TMP/run/last.ckpt" --epochs 2 -q
    expect metrics-lines 0 "" -- test "$(wc -l <"$TMP/run/metrics.jsonl")" -eq 2
    expect resume-decay-bad 1 "changes the rate of epoch 2" -- "$DOREFA" train --resume "$TMP/run/last.ckpt" \
        --epochs 3 --lr-decay-every 1 -q
    expect resume-decay 0 "after 3 epochs" -- "$DOREFA" train --resume "$TMP/run/last.ckpt" --epochs 3 \
        --lr-decay 0.1 --lr-decay-every 2 -q
    expect resume-decay-lr 0 "" -- grep -q '"epoch": 3, "step": [0-9]*, "lr": 0.0001,' "$TMP/run/metrics.jsonl"
    # a data path with a blank and a '%' round-trips through the checkpoint: eval, resume and export read it
    ln -s "$IDX" "$TMP/fashion 100%"
    expect space-train 0 "test accuracy" -- "$DOREFA" train --model "$TMP/tiny.net" --data "$TMP/fashion 100%" \
        --limit-train 100 --limit-test 50 --epochs 1 -o "$TMP/space" -q
    expect space-eval 0 "fashion 100%" -- "$DOREFA" eval "$TMP/space/last.ckpt" --limit 50
    expect space-resume 0 "after 2 epochs" -- "$DOREFA" train --resume "$TMP/space/last.ckpt" --epochs 2 -q
    expect space-export 0 "float layers" -- "$DOREFA" export "$TMP/space/last.ckpt" -o "$TMP/space.dorefa"
    expect rerun 0 "earlier run" -- "$DOREFA" train --model "$TMP/tiny.net" --data "$IDX" \
        --limit-train 100 --limit-test 50 --epochs 1 --batch 32 -o "$TMP/run"
    expect rerun-log 0 "" -- test "$(wc -l <"$TMP/run/metrics.jsonl")" -eq 1
    head -c 1000 "$TMP/run/last.ckpt" >"$TMP/cut.ckpt"
    expect eval-truncated 1 "cut.ckpt: checksum mismatch" -- "$DOREFA" eval "$TMP/cut.ckpt"
    mkdir -p "$TMP/cifar" && head -c 6146 /dev/zero >"$TMP/cifar/test_batch.bin"
    expect eval-wrong-channels 1 "images have 3 channels, the checkpoint expects 1" -- \
        "$DOREFA" eval "$TMP/run/last.ckpt" --data "$TMP/cifar"
    printf 'input size=28\nconv filters=4 size=3 bias=1\nact fn=cabs\nmaxpool size=2\nconv filters=8 size=3\nbn\nact fn=cabs\nmaxpool size=2\nfc outputs=10\nsoftmax\n' >"$TMP/q.net"
    expect quantized-c 0 "test accuracy" -- env DOREFA_KERNEL=c "$DOREFA" train --model "$TMP/q.net" --data "$IDX" \
        --bits 2,3,6 --limit-train 200 --limit-test 100 --epochs 1 -o "$TMP/qrun-c" -q
    expect quantized 0 "test accuracy" -- "$DOREFA" train --model "$TMP/q.net" --data "$IDX" --bits 1,2,4 \
        --histograms 1 --limit-train 300 --limit-test 100 --epochs 1 -o "$TMP/qrun" -q
    expect histograms 0 "" -- test -s "$TMP/qrun/histograms/epoch1.json" -a -s "$TMP/qrun/histograms/epoch1-conv3.svg"
    expect histogram-bits 0 '"bits": \[1, 2, 4\]' -- cat "$TMP/qrun/histograms/epoch1.json"
    expect accuracy-svg 0 "<polyline" -- cat "$TMP/qrun/accuracy.svg"
    # deployment: export, infer on a data set and on images, corrupted files
    printf 'input size=28\nconv filters=8 size=3 bias=1\nact fn=cabs\nconv filters=8 size=3\nbn\nmaxpool size=2\nact fn=crelu\nconv filters=16 size=3\nbn\nact fn=cabs\nfc outputs=10\nsoftmax\n' >"$TMP/d.net"
    expect deploy-train 0 "test accuracy" -- "$DOREFA" train --model "$TMP/d.net" --data "$IDX" --bits 1,2,4 \
        --limit-train 300 --limit-test 100 --epochs 1 -o "$TMP/drun" -q
    expect export 0 "1 fused bit blocks" -- "$DOREFA" export "$TMP/drun/last.ckpt" -o "$TMP/q.dorefa"
    # files written atomically get the mode an ordinary create gives (mkstemp's was 0600)
    expect export-mode-022 0 "^644$" -- sh -c "umask 022 && '$DOREFA' export '$TMP/drun/last.ckpt' -o '$TMP/m1.dorefa' >/dev/null && stat -c %a '$TMP/m1.dorefa'"
    expect export-mode-002 0 "^664$" -- sh -c "umask 002 && '$DOREFA' export '$TMP/drun/last.ckpt' -o '$TMP/m2.dorefa' >/dev/null && stat -c %a '$TMP/m2.dorefa'"
    expect ckpt-mode 0 "^664$" -- sh -c "umask 002 && '$DOREFA' train --resume '$TMP/drun/last.ckpt' --epochs 2 -o '$TMP/drun-m' -q >/dev/null && stat -c %a '$TMP/drun-m/last.ckpt'"
    # a write that fails (the file size limit, as a full disk) names the file and leaves the old one intact
    cp "$TMP/drun/last.ckpt" "$TMP/drun/before.ckpt"
    expect disk-full 1 ".ckpt: write failed, the file is left as it was: File too large" -- \
        sh -c "ulimit -f 64 && exec '$DOREFA' train --resume '$TMP/drun/last.ckpt' --epochs 2 -q"
    expect disk-full-intact 0 "" -- cmp "$TMP/drun/last.ckpt" "$TMP/drun/before.ckpt"
    expect disk-full-no-temp 0 "" -- sh -c "! ls '$TMP/drun' | grep -q tmp"
    expect export-default-name 0 "q2.dorefa" -- sh -c "cp '$TMP/drun/last.ckpt' '$TMP/q2.ckpt' && '$DOREFA' export '$TMP/q2.ckpt'"
    expect infer-data 0 "accuracy" -- "$DOREFA" infer "$TMP/q.dorefa" "$IDX" --limit 100
    # the first layer as 8-bit integers; eval compares a checkpoint with its exports
    expect export-int8 0 "fused bit blocks" -- "$DOREFA" export "$TMP/drun/last.ckpt" -o "$TMP/q8.dorefa" --first-layer int8
    expect export-int8-version 0 "^03$" -- sh -c "od -An -tx1 -j8 -N1 '$TMP/q8.dorefa' | tr -d ' '"
    expect export-float-version 0 "^02$" -- sh -c "od -An -tx1 -j8 -N1 '$TMP/q.dorefa' | tr -d ' '"
    expect export-first-bad 2 "--first-layer int4: expected int8 or float" -- "$DOREFA" export "$TMP/drun/last.ckpt" --first-layer int4
    expect eval-compare 0 "q8.dorefa on .*accuracy.*the class of .*last.ckpt for [0-9.]*% of the images" -- \
        "$DOREFA" eval "$TMP/drun/last.ckpt" "$TMP/q.dorefa" "$TMP/q8.dorefa" --data "$IDX" --limit 100
    expect eval-model-agrees 0 "q.dorefa on .*the class of .*last.ckpt for 100.00% of the images" -- \
        "$DOREFA" eval "$TMP/drun/last.ckpt" "$TMP/q.dorefa" --data "$IDX" --limit 100
    # outputs saved and compared: the same run gives the same probabilities; a different file, the classes' share
    expect outputs-save 0 "written to .*q.out" -- "$DOREFA" eval "$TMP/q.dorefa" --data "$IDX" --limit 100 --save-outputs "$TMP/q.out"
    expect outputs-format 0 "^dorefa-outputs 100 10$" -- head -1 "$TMP/q.out"
    expect outputs-same 0 "the same class for 100.00% of the images, the same probabilities for 100.00%; largest difference of a probability 0 " -- \
        "$DOREFA" eval "$TMP/q.dorefa" --data "$IDX" --limit 100 --compare-outputs "$TMP/q.out"
    expect outputs-other 0 "q8.dorefa against .*q.out: the same class for [0-9.]*% of the images, the same probabilities for [0-9.]*%; largest difference of a probability [0-9.]*[1-9]" -- \
        "$DOREFA" eval "$TMP/q8.dorefa" --data "$IDX" --limit 100 --compare-outputs "$TMP/q.out"
    expect outputs-count 1 "q.out: 100 images of 10 classes, this run has 50 of 10" -- \
        "$DOREFA" eval "$TMP/q.dorefa" --data "$IDX" --limit 50 --compare-outputs "$TMP/q.out"
    expect outputs-not 1 "drun/last.ckpt: not a file of 'dorefa eval --save-outputs'" -- \
        "$DOREFA" eval "$TMP/q.dorefa" --data "$IDX" --limit 50 --compare-outputs "$TMP/drun/last.ckpt"
    head -c 2000 "$TMP/q.out" >"$TMP/cut.out"
    expect outputs-cut 1 "cut.out: line [0-9]*: ends early" -- \
        sh -c "sed -i '1s/.*/dorefa-outputs 100 10/' '$TMP/cut.out' && '$DOREFA' eval '$TMP/q.dorefa' --data '$IDX' --limit 100 --compare-outputs '$TMP/cut.out'"
    expect outputs-unwritable 1 "nodir/x.out: cannot write" -- \
        "$DOREFA" eval "$TMP/q.dorefa" --data "$IDX" --limit 10 --save-outputs "$TMP/nodir/x.out"
    printf 'input size=14\nconv filters=4 size=3 bias=1\nact fn=relu\nmaxpool size=2\nfc outputs=10\nsoftmax\n' >"$TMP/small.net"
    expect train-small 0 "test accuracy" -- "$DOREFA" train --model "$TMP/small.net" --data "$IDX" \
        --limit-train 100 --limit-test 50 --epochs 1 --batch 32 -o "$TMP/small" -q
    expect eval-model-shape 1 "small/last.ckpt: input 14x14x1, .*q.dorefa's is 28x28x1: files compared must take the same images" -- \
        "$DOREFA" eval "$TMP/q.dorefa" "$TMP/small/last.ckpt" --data "$IDX" --limit 10
    expect bench-infer-int8 0 "int8 first layer" -- "$DOREFA" bench infer --model "$TMP/d.net" --channels 1 --repeats 1 --batch 8 --first-layer int8 --layers
    printf 'P' >"$TMP/bad.png"
    expect infer-bad-image 1 "bad.png" -- "$DOREFA" infer "$TMP/q.dorefa" "$TMP/bad.png"
    head -c 3000 "$TMP/q.dorefa" >"$TMP/cut.dorefa"
    expect infer-truncated 1 "cut.dorefa: checksum mismatch" -- "$DOREFA" infer "$TMP/cut.dorefa" "$IDX"
    expect infer-not-model 1 "not a dorefa model file" -- "$DOREFA" infer "$TMP/run/last.ckpt" "$IDX"
    expect infer-args 2 "expected MODEL and at least one INPUT" -- "$DOREFA" infer "$TMP/q.dorefa"
    expect export-missing 1 "nope.ckpt: cannot open" -- "$DOREFA" export "$TMP/nope.ckpt" -o "$TMP/x.dorefa"
    expect bench-infer 0 "W,A = 1,2: 1 fused bit blocks" -- "$DOREFA" bench infer --model "$TMP/d.net" --channels 1 --repeats 1 --batch 8
    expect bench-infer-save 0 "" -- "$DOREFA" bench infer --model "$TMP/d.net" --channels 1 --repeats 1 --batch 8 --save "$TMP/bench.dorefa"
    expect bench-saved-model 0 "" -- "$DOREFA" infer "$TMP/bench.dorefa" "$IDX"
    expect bench-save-unwritable 1 "nodir/b.dorefa: cannot write the model" -- \
        "$DOREFA" bench infer --model "$TMP/d.net" --channels 1 --repeats 1 --batch 8 --save "$TMP/nodir/b.dorefa"
    expect bits-bad 2 "expected W,A,G" -- "$DOREFA" train --bits 1,2
    expect bits-range 2 "expected W,A,G" -- "$DOREFA" train --bits 1,2,16
    expect bounded-act-bad 2 "expected cabs or crelu" -- "$DOREFA" train --bounded-act relu
    expect sweep 0 "| 1 | 2 | 4 | 6 | 2 | 1 |" -- "$DOREFA" sweep --model "$TMP/q.net" --data "$IDX" \
        --configs "32,32,32;1,2,4" --limit-train 200 --limit-test 100 --epochs 1 -o "$TMP/sweep"
    cp "$TMP/err" "$TMP/sweep.err" # each run's progress, as 'dorefa train' shows it
    expect sweep-progress 0 "" -- grep -q "epoch 1/1: train loss .* img/s" "$TMP/sweep.err"
    expect sweep-rows 0 "" -- test "$(grep -c '^| [0-9]' "$TMP/sweep/table.md")" -eq 2
    expect sweep-again 0 "already trained" -- "$DOREFA" sweep --model "$TMP/q.net" --data "$IDX" \
        --configs "32,32,32;1,2,4" --limit-train 200 --limit-test 100 --epochs 1 -o "$TMP/sweep"
    # table.md names the command that made it, quoted so that a shell can run it again
    cmd=$(sed -n 's/^Command: `dorefa \(.*\)`$/\1/p' "$TMP/sweep/table.md")
    expect sweep-command 0 "already trained" -- sh -c "\"$DOREFA\" $cmd"
    # a glob in an argument stays quoted: unquoted, 'g[12]' would name the folder g1
    mkdir -p "$TMP/g1"
    expect sweep-glob 0 "" -- "$DOREFA" sweep -q --model "$TMP/q.net" --data "$IDX" --configs "1,2,4" \
        --limit-train 200 --limit-test 100 --epochs 1 -o "$TMP/g[12]"
    cmd=$(sed -n 's/^Command: `dorefa \(.*\)`$/\1/p' "$TMP/g[12]/table.md")
    expect sweep-command-glob 0 "already trained" -- sh -c "\"$DOREFA\" $cmd"
    expect sweep-bad 2 "--configs" -- "$DOREFA" sweep --configs "1,2,4;7,7"
    expect progress 0 "img/s" -- "$DOREFA" train --model "$TMP/tiny.net" --data "$IDX" \
        --limit-train 100 --limit-test 50 --epochs 1 -o "$TMP/run2"
else
    echo "skip the training runs: $IDX is missing (Debian's dataset-fashion-mnist)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
