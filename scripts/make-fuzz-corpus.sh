#!/bin/sh
# Makes the fuzz targets' seed corpora, fuzz/corpus/NAME/, a few KB each, from
# real files: Fashion-MNIST (Debian's dataset-fashion-mnist), the SVHN fragment
# in ../shared/data when present, the shipped models, and checkpoints and
# deployment files of small models trained here. Needs python3, cc, libjpeg and
# a build of dorefa (DOREFA, default build/dorefa). The corpora are committed:
# run this again only to remake them.
set -e
cd "$(dirname "$0")/.."
DOREFA=${DOREFA:-build/dorefa}
IDX=/usr/share/datasets/fashion-mnist
OUT=fuzz/corpus
TMP=$(mktemp -d /tmp/dorefa-corpus-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
rm -rf "$OUT"
mkdir -p "$OUT"
python3 scripts/fuzz_corpus.py "$IDX" ../shared/data "$OUT"
# JPEG (grey and colour) from the PGM the script wrote, with libjpeg
cat >"$TMP/jpeg.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>
int main(int argc, char **argv)
{
    FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
    int w, h, colour = atoi(argv[3]);
    if (!in || !out || fscanf(in, "P5 %d %d 255", &w, &h) != 2) return 1;
    fgetc(in);
    unsigned char *g = malloc((size_t)w * h), *row = malloc((size_t)w * 3);
    if (fread(g, 1, (size_t)w * h, in) != (size_t)w * h) return 1;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, out);
    c.image_width = w, c.image_height = h, c.input_components = colour ? 3 : 1;
    c.in_color_space = colour ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 75, TRUE);
    jpeg_start_compress(&c, TRUE);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++) row[3 * x + k] = colour ? (unsigned char)(g[y * w + x] * (k + 1) / 3) : g[y * w + x];
        JSAMPROW r = colour ? row : g + (size_t)y * w;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    fclose(out);
    return 0;
}
C
cc "$TMP/jpeg.c" -ljpeg -o "$TMP/jpeg"
"$TMP/jpeg" "$OUT/image/grey.pgm" "$OUT/image/grey.jpg" 0
"$TMP/jpeg" "$OUT/image/grey.pgm" "$OUT/image/colour.jpg" 1
rm "$OUT/image/grey.pgm"
# model files: the first byte picks the channels and bits (fuzz_model.c)
mkdir -p "$OUT/model"
i=0
for f in models/*.net; do
    printf "\\$(printf '%03o' $((i * 37 % 256)))" >"$OUT/model/$(basename "$f" .net)"
    grep -v '^#' "$f" | grep . >>"$OUT/model/$(basename "$f" .net)"
    i=$((i + 1))
done
# small models (the passes run only on small ones), then trained for a step:
# checkpoints, their CONF texts, deployment files
printf 'input size=8\nconv filters=4 size=3 bias=1\nact fn=cabs\nmaxpool size=2\nconv filters=4 size=3\nbn\nact fn=crelu\ndropout rate=0.5\nfc outputs=10\nsoftmax\n' >"$TMP/t.net"
printf 'input size=6\nconv name=a filters=2 size=3\nbn\nact fn=relu\nconv name=b filters=2 size=1 from=input\nadd from=a,b\navgpool\nfc outputs=10\nsoftmax\n' >"$TMP/r.net"
for m in t r; do
    for sel in 0 17 98 243; do
        printf "\\$(printf '%03o' $sel)" >"$OUT/model/small-$m-$sel"
        cat "$TMP/$m.net" >>"$OUT/model/small-$m-$sel"
    done
done
mkdir -p "$OUT/checkpoint" "$OUT/deploy" "$OUT/config"
for m in t r; do
    for bits in 1,2,4 2,2,32; do
        run="$TMP/run-$m-$bits"
        "$DOREFA" train --model "$TMP/$m.net" --data "$IDX" --bits "$bits" --limit-train 40 --limit-test 10 \
            --batch 8 --epochs 2 --until-step 3 --checkpoint-every 1 -q -o "$run" >/dev/null
        cp "$run/last.ckpt" "$OUT/checkpoint/$m-$bits"
        "$DOREFA" export "$run/last.ckpt" -o "$OUT/deploy/$m-$bits" >/dev/null
        python3 -c "import struct,sys; d=open(sys.argv[1],'rb').read(); n=struct.unpack_from('<Q',d,20)[0]; sys.stdout.write(d[28:28+n].decode())" \
            "$run/last.ckpt" >"$OUT/config/$m-$bits"
    done
done
du -sh "$OUT"/*
