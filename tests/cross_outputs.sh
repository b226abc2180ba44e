#!/bin/sh
# A model trained and exported on x86 gives the same outputs on aarch64:
# a short training run of the default network on a Fashion-MNIST slice, its
# checkpoint and its exports (float and int8 first layer) evaluated on x86
# with --save-outputs and under qemu-aarch64 with --compare-outputs.
# Required: the same class on every image and every probability within
# 1e-6 (seen: bit for bit; on a real ARM core OpenBLAS may pick another
# sgemm kernel, whose sums round differently).
# usage: cross_outputs.sh X86_BUILD_DIR ARM64_BUILD_DIR
X86=$1/dorefa
ARM=$2/dorefa-emulated
IDX=/usr/share/datasets/fashion-mnist
if [ ! -f "$IDX/t10k-images-idx3-ubyte.gz" ]; then
    echo "skip: $IDX is missing (Debian's dataset-fashion-mnist)"
    exit 0
fi
TMP=$(mktemp -d /tmp/dorefa-cross-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
set -e
"$X86" train --bits 1,2,4 --epochs 1 --limit-train 3000 --limit-test 500 -o "$TMP/run" -q
"$X86" export "$TMP/run/last.ckpt" -o "$TMP/f.dorefa" >/dev/null
"$X86" export "$TMP/run/last.ckpt" --first-layer int8 -o "$TMP/i.dorefa" >/dev/null
failed=0
for f in "$TMP/run/last.ckpt" "$TMP/f.dorefa" "$TMP/i.dorefa"; do
    "$X86" eval "$f" --data "$IDX" --limit 500 --save-outputs "$TMP/x86.out" >/dev/null
    line=$("$ARM" eval "$f" --data "$IDX" --limit 500 --compare-outputs "$TMP/x86.out" | tail -1)
    echo "$line"
    same=$(echo "$line" | sed -n 's/.*the same class for \([0-9.]*\)%.*/\1/p')
    diff=$(echo "$line" | sed -n 's/.*largest difference of a probability \([0-9.e+-]*\) .*/\1/p')
    if [ "$same" != "100.00" ] || ! awk -v d="$diff" 'BEGIN { exit !(d != "" && d + 0 <= 1e-6) }'; then
        echo "FAIL $(basename "$f"): aarch64's outputs differ from x86's"
        failed=1
    fi
done
[ "$failed" -eq 0 ] && echo "ok: the x86 outputs on aarch64"
