#!/bin/sh
# The architecture's rules, checked on the sources (docs/design.md):
# - each folder of src/ includes only the folders below it;
# - no code outside src/layers tells a layer's type by its ops pointer
#   (the planning pass reads the roles the ops tables declare).
# usage: test_layering.sh SOURCE_DIR
cd "$1/src" || exit 1
failed=0
allowed() { # folder -> the folders it may include
    case $1 in
    core) echo "core" ;;
    quant) echo "core quant" ;;
    kernels) echo "core quant kernels" ;;
    layers) echo "core quant kernels layers" ;;
    model) echo "core quant kernels layers model" ;;
    deploy) echo "core quant kernels layers model deploy" ;;
    data) echo "core data" ;;
    dist) echo "core quant kernels layers model dist" ;;
    train) echo "core quant kernels layers model data deploy dist train" ;;
    cli) echo "core quant kernels layers model data deploy dist train cli" ;;
    esac
}
for dir in core quant kernels layers model deploy data dist train cli; do
    for f in "$dir"/*.c "$dir"/*.h; do
        for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
            case $inc in
            ../../include/*) target=include ;;
            ../*) target=$(echo "$inc" | cut -d/ -f2) ;;
            */*) target=$(echo "$inc" | cut -d/ -f1) ;;
            *) target=$dir ;;
            esac
            [ "$target" = include ] && { [ "$dir" = deploy ] || [ "$dir" = train ]; } && continue # the public API headers
            case " $(allowed "$dir") " in
            *" $target "*) ;;
            *) echo "FAIL $f includes $inc: $dir may include only $(allowed "$dir")"; failed=1 ;;
            esac
        done
    done
done
if grep -n -E 'ops *(==|!=) *&dr_[a-z]+_ops' $(ls ./*/*.c ./*/*.h | grep -v '^./layers/'); then
    echo "FAIL: a layer's type tested by its ops pointer outside src/layers (use the roles)"
    failed=1
fi
[ $failed = 0 ] && echo "layering ok"
exit $failed
