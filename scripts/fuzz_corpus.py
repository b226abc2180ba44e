#!/usr/bin/env python3
"""Seeds for the fuzz targets from real files (scripts/make-fuzz-corpus.sh runs
this): IDX and CIFAR-10 records from Fashion-MNIST images, SVHN .mat files (the
genuine header of the SVHN fragment, and small whole files in its layout), a PNG.

    python3 scripts/fuzz_corpus.py FASHION_DIR SHARED_DATA_DIR OUT_DIR
"""
import gzip
import os
import struct
import sys
import zlib

fashion, shared, out = sys.argv[1:4]


def put(name, data):
    path = os.path.join(out, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def read_idx(path, n):
    data = gzip.open(path).read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    per = 1
    for d in shape[1:]:
        per *= d
    return shape[1:], data[4 + 4 * dims:4 + 4 * dims + n * per]


(h, w), pixels = read_idx(os.path.join(fashion, "t10k-images-idx3-ubyte.gz"), 3)
_, labels = read_idx(os.path.join(fashion, "t10k-labels-idx1-ubyte.gz"), 3)

# IDX: [u16 length of the images file] images labels, plain and gzip
images = struct.pack(">BBBBIII", 0, 0, 8, 3, 3, h, w) + pixels
labelf = struct.pack(">BBBBI", 0, 0, 8, 1, 3) + labels
for name, img, lab in (("plain", images, labelf), ("gzip", gzip.compress(images, 9), gzip.compress(labelf, 9))):
    put("idx/" + name, struct.pack(">H", len(img)) + img + lab)
small = struct.pack(">BBBBIII", 0, 0, 8, 3, 1, 4, 4) + pixels[:16]
put("idx/tiny", struct.pack(">H", len(small)) + small + struct.pack(">BBBBI", 0, 0, 8, 1, 1) + labels[:1])

# CIFAR-10 binary: records of a label and 3 x 1024 pixels, from the Fashion images
rec = b""
for i in range(2):
    img = pixels[i * 784:(i + 1) * 784]
    plane = (img * 2)[:1024]
    rec += bytes([labels[i]]) + plane * 3
put("cifar/two", rec)

# SVHN .mat: the genuine header and first bytes of train_32x32.mat, and small whole files
frag = os.path.join(shared, "svhn-fragment", "train_32x32.truncated.mat")
if os.path.exists(frag):
    put("mat/svhn-head", open(frag, "rb").read()[:1536])


def pad8(b):
    return b + bytes((8 - len(b) % 8) % 8)


def matrix(cls, dims, name, mtype, data):
    m = struct.pack("<IIII", 6, 8, cls, 0) + pad8(struct.pack("<II", 5, 4 * len(dims)) + struct.pack("<" + "I" * len(dims), *dims))
    m += struct.pack("<I", len(name) << 16 | 1) + name.encode().ljust(4, b"\0")
    m += pad8(struct.pack("<II", mtype, len(data)) + data)
    return struct.pack("<II", 14, len(m)) + m


head = b"MATLAB 5.0 MAT-file, written by fuzz_corpus.py".ljust(116) + bytes(8) + b"\x00\x01IM"
x = bytes(pixels[:4 * 3 * 3 * 2])
X = matrix(9, (4, 3, 3, 2), "X", 2, x)
Y = matrix(6, (2, 1), "y", 9, struct.pack("<dd", 10, 3))
put("mat/plain", head + X + Y)
for el, nm in ((X, "X"), (Y, "y")):
    pass
z = lambda el: struct.pack("<II", 15, len(zlib.compress(el))) + zlib.compress(el)
put("mat/compressed", head + z(X) + z(Y))

# PNG: an 8-bit grey Fashion image
raw = b"".join(b"\0" + pixels[r * w:(r + 1) * w] for r in range(h))


def chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xffffffff)


png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
put("image/grey.png", png)
open(os.path.join(out, "image", "grey.pgm"), "wb").write(b"P5 %d %d 255\n" % (w, h) + pixels[:h * w])
