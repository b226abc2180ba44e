#!/bin/sh
# What the 8-bit integer first layer costs in accuracy: exports CHECKPOINT with the float first
# layer and with --first-layer int8, and evaluates the checkpoint and both files on the same test
# images ('dorefa eval' prints each one's accuracy and on how many images it gives the
# checkpoint's class).
# usage: scripts/int8-accuracy.sh CHECKPOINT [DATA]   (from the repository root; DOREFA=build/dorefa)
set -e
DOREFA=${DOREFA:-build/dorefa}
[ $# -ge 1 ] || { echo "usage: $0 CHECKPOINT [DATA]" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$DOREFA" export "$1" -o "$tmp/float.dorefa" --first-layer float >/dev/null
"$DOREFA" export "$1" -o "$tmp/int8.dorefa" --first-layer int8 >/dev/null
"$DOREFA" eval "$1" "$tmp/float.dorefa" "$tmp/int8.dorefa" ${2:+--data "$2"} | sed "s|$tmp/||g"
