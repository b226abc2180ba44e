#!/bin/sh
# Two builds of dorefa, per layer, in one run: each round times OLD once and
# NEW twice (alternating), so the medians of NEW against OLD sit beside the
# spread between two runs of the same build (NEW against its second run).
#   bench train --bits BITS --layers: forward and backward of every layer
#   bench infer --layers:             the engine's time of every layer
#   (infer: the engine at W,A = INFER_BITS, first layer FIRST, both from the environment)
# usage: OLD=path/to/dorefa NEW=build/dorefa bench/compare_builds.sh [ROUNDS] [BITS]
set -e
ROUNDS=${1:-5}
BITS=${2:-1,2,4}
INFER_BITS=${INFER_BITS:-1,2}
FIRST=${FIRST:-float}
KINDS=${KINDS:-train infer} # or one of them
OLD=${OLD:?OLD=path of the other build\'s dorefa}
NEW=${NEW:-build/dorefa}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# one train run's per-layer lines "name forward backward" (and the step's images/s)
train() { "$1" bench train --bits "$BITS" --layers --repeats 1 --steps 10 |
    awk '/: median .* images\/s/ {print "images/s", $(NF-6), 0}
         /^zero grads/ {print "zero_grads", $3, 0; next}
         /^total/ {print "total", $2, 0; next}
         /^[a-z]/ && NF == 3 && $2 ~ /^[0-9.]+$/ {print}
         /^optimizer/ && NF == 2 {print $1, $2, 0}'; }
# one infer run's per-layer lines "name ms-per-batch-of-128 us-per-image-at-batch-1" (and images/s)
infer() { "$1" bench infer --layers --repeats 3 --bits "$INFER_BITS" --first-layer "$FIRST" |
    awk '/^fused bit engine/ {split($8, l, "/"); print "images/s", $4, 1e3 * l[1]}
         /^  [a-z]/ {for (i = 2; i < NF; i++) if ($i == "ms" && $(i+2) == "us") {print $1, $(i-1), $(i+1); break}}'; }
for i in $(seq "$ROUNDS"); do
    for kind in $KINDS; do
        $kind "$OLD" >"$tmp/$kind.old.$i"
        $kind "$NEW" >"$tmp/$kind.new.$i"
        $kind "$NEW" >"$tmp/$kind.new2.$i"
    done
done
# medians per (layer, column) over the rounds of one build
medians() { cat "$tmp"/$1.* | awk '{f[$1] = f[$1] " " $2; b[$1] = b[$1] " " $3; if (!($1 in seen)) {seen[$1] = 1; order[++n] = $1}}
    function med(s,   v, k, i, j, t) { k = split(s, v, " "); for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++)
        if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }; return k % 2 ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2 }
    END {for (i = 1; i <= n; i++) print order[i], med(f[order[i]]), med(b[order[i]])}'; }
for kind in $KINDS; do
    medians "$kind.old" >"$tmp/m.old"
    medians "$kind.new" >"$tmp/m.new"
    medians "$kind.new2" >"$tmp/m.new2"
    echo "bench $kind ($( [ $kind = train ] && echo "--bits $BITS --layers, ms per step" || echo "--bits $INFER_BITS --first-layer $FIRST --layers, ms per batch of 128 | us per image at batch 1 (images/s: p50 us)")), medians of $ROUNDS rounds"
    two=1
    printf "%-12s %9s %9s %7s %9s" layer old new new/old same-build
    [ $two = 1 ] && printf " | %9s %9s %7s %9s" old new new/old same-build
    echo
    paste "$tmp/m.old" "$tmp/m.new" "$tmp/m.new2" | awk -v two=$two '
        function r(a, b) { return b > 0 ? sprintf("%.3f", a / b) : "-" }
        { printf "%-12s %9s %9s %7s %9s", $1, $2, $5, r($5, $2), r($8, $5)
          if (two) printf " | %9s %9s %7s %9s", $3, $6, r($6, $3), r($9, $6)
          printf "\n" }'
    [ $kind = train ] && echo "(left: forward, right: backward; same-build: NEW's second run / its first)" || echo "(left: batch 128, right: batch 1; same-build: NEW's second run / its first)"
done
