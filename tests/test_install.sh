#!/bin/sh
# The embedding API as a user gets it: install into a temporary prefix, build
# examples/classify.c with pkg-config alone (against the full library and
# against the runtime library of the engine alone), run it on an exported model.
# usage: test_install.sh BUILD_DIR SOURCE_DIR SHARED_DATA_DIR
set -e
BUILD=$1 SRC=$2 DATA=$3
TMP=$(mktemp -d /tmp/dorefa-install-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
IDX=/usr/share/datasets/fashion-mnist
if [ ! -f "$IDX/train-images-idx3-ubyte.gz" ]; then echo "skip: $IDX is missing"; exit 0; fi
cmake --install "$BUILD" --prefix "$TMP/prefix" >/dev/null
test -f "$TMP/prefix/include/dorefa.h"
export PKG_CONFIG_PATH="$TMP/prefix/lib/pkgconfig"
cc -std=c11 "$SRC/examples/classify.c" $(pkg-config --cflags --libs dorefa) -o "$TMP/classify"
# the engine alone: no training or data-reading code, no libpng/libjpeg
cc -std=c11 "$SRC/examples/classify.c" $(pkg-config --cflags --libs dorefa-runtime) -o "$TMP/classify-runtime"
if pkg-config --libs dorefa-runtime | grep -q -e -lpng -e -ljpeg; then echo "the runtime needs libpng/libjpeg"; exit 1; fi
"$TMP/prefix/bin/dorefa" train --model svhn-d --data "$IDX" --bits 1,2,4 --limit-train 64 \
    --limit-test 32 --epochs 1 -o "$TMP/run" -q >/dev/null
"$TMP/prefix/bin/dorefa" export "$TMP/run/last.ckpt" -o "$TMP/m.dorefa" >/dev/null
head -c 1600 /dev/urandom >"$TMP/img.raw"
out=$("$TMP/classify" "$TMP/m.dorefa" "$TMP/img.raw")
echo "$out"
test "$("$TMP/classify-runtime" "$TMP/m.dorefa" "$TMP/img.raw")" = "$out"
echo "$out" | grep -q "W,A,G = 1,2,4, input 40x40x1" && echo "$out" | grep -q "img.raw: class [0-9]"
# the training API from the installed header: the example trains and exports a model the engine runs
test -f "$TMP/prefix/include/dorefa_train.h"
cc -std=c11 "$SRC/examples/train.c" $(pkg-config --cflags --libs dorefa) -o "$TMP/train"
(cd "$TMP" && ./train "$IDX" "bits=1,2,4 epochs=1 limit-train=256 limit-test=64 batch=64") >"$TMP/train.out"
grep -q "test accuracy .* after 1 epochs; wrote model.ckpt and model.dorefa" "$TMP/train.out" || { cat "$TMP/train.out"; exit 1; }
"$TMP/classify" "$TMP/model.dorefa" "$TMP/img.raw" | grep -q "W,A,G = 1,2,4, input 28x28x1"
if "$TMP/classify" "$TMP/run/last.ckpt" 2>"$TMP/err"; then echo "a checkpoint loaded as a model"; exit 1; fi
grep -q "not a dorefa model file" "$TMP/err"
# the shared library with its SONAME, and the Python package from the prefix alone
lib=$(find "$TMP/prefix" -name libdorefa.so.0 | head -1)
if [ -n "$lib" ]; then
    objdump -p "$lib" | grep -q "SONAME *libdorefa.so.0" || { echo "$lib: no SONAME libdorefa.so.0"; exit 1; }
    if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import numpy" 2>/dev/null; then
        site=$(dirname "$(find "$TMP/prefix" -path '*dist-packages/dorefa' -type d | head -1)")
        py=$(cd "$TMP" && env -u DOREFA_LIBRARY PYTHONPATH="$site" /usr/bin/python3 -c "
import numpy as np, dorefa
m = dorefa.load('$TMP/m.dorefa')
x = np.fromfile('$TMP/img.raw', dtype=np.uint8, count=1600).reshape(m.input_shape)
print('class %d' % m.predict(x).argmax())")
        echo "python: $py"
        echo "$out" | grep -q "img.raw: $py " || { echo "python and classify disagree"; exit 1; }
        if /usr/bin/python3 -c "import torch" 2>/dev/null; then # the PyTorch bridge from the prefix too
            (cd "$TMP" && env -u DOREFA_LIBRARY PYTHONPATH="$site" /usr/bin/python3 -c "
import dorefa.torch as dt
net = dt.to_module('$TMP/model.ckpt')
assert net.bits == '1,2,4', net.bits
print('python: dorefa.torch from the prefix:', type(net).__name__, net.input_shape)") || exit 1
        fi
    else
        echo "skip the Python check: no numpy for /usr/bin/python3"
    fi
fi
echo "install test passed"
