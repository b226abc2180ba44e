#!/usr/bin/env python3
"""Compares two run folders of 'dorefa train' (or two checkpoints): the trained
parameters, BN state and optimizer moments of last.ckpt byte for byte, and the
losses and accuracies of metrics.jsonl. Exit 0 when they are identical.

    python3 scripts/compare-runs.py RUN_A RUN_B
"""
import json
import os
import struct
import sys

NUMBERS = ("train_loss", "train_err", "test_acc", "test_loss")


def sections(path):
    data = open(path, "rb").read()
    if data[:8] != b"DOREFACK":
        sys.exit(f"{path}: not a dorefa checkpoint")
    count = struct.unpack_from("<I", data, 12)[0]
    pos, out = 16, {}
    for _ in range(count):
        tag = data[pos:pos + 4].decode()
        n = struct.unpack_from("<Q", data, pos + 4)[0]
        out[tag] = data[pos + 12:pos + 12 + n]
        pos += 12 + n
    return out


def metrics(run):
    with open(os.path.join(run, "metrics.jsonl")) as f:
        return [{k: json.loads(line)[k] for k in NUMBERS} for line in f]


def main():
    a, b = sys.argv[1:3]
    ca = a if a.endswith(".ckpt") else os.path.join(a, "last.ckpt")
    cb = b if b.endswith(".ckpt") else os.path.join(b, "last.ckpt")
    sa, sb = sections(ca), sections(cb)
    same = True
    for tag in ("PARM", "STAT", "OPTM"):
        eq = sa.get(tag) == sb.get(tag)
        same &= eq
        print(f"{tag}: {len(sa.get(tag, b''))} bytes, {'identical' if eq else 'DIFFERENT'}")
    if os.path.isdir(a) and os.path.isdir(b):
        ma, mb = metrics(a), metrics(b)
        eq = ma == mb
        same &= eq
        print(f"metrics.jsonl: {len(ma)} epochs, {'identical' if eq else 'DIFFERENT'} {NUMBERS}")
        if not eq:
            print(ma, mb, sep="\n")
    sys.exit(0 if same else 1)


main()
