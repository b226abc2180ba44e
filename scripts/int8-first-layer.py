#!/usr/bin/env python3
"""What an int8 first layer would cost in accuracy (the inference issue's item 2), measured
before the engine has one: a checkpoint as a PyTorch module (dorefa.torch), its first conv's
weights quantized to 8 bits per output channel, symmetric (w -> s round(w / s), s = max|w| / 127;
the pixels are 8-bit integers already), against the float first layer, on a data set's test split.

    PYTHONPATH=python DOREFA_LIBRARY=build/libdorefa.so.0 python3 scripts/int8-first-layer.py CKPT [DATA]

DATA: an IDX folder (default: Fashion-MNIST); images of another size than the model's input are
resized bilinearly (half-pixel centres, as dorefa resizes; the same images for both layers).
"""
import gzip
import os
import sys

import numpy as np
import torch

import dorefa.torch as dt


def read_idx(folder, split):
    def open_any(name):
        path = os.path.join(folder, name)
        return gzip.open(path + ".gz") if os.path.exists(path + ".gz") else open(path, "rb")
    with open_any(f"{split}-images-idx3-ubyte") as f:
        raw = f.read()
        n, h, w = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
        x = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, h, w, 1)
    with open_any(f"{split}-labels-idx1-ubyte") as f:
        y = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    return x, y


def classes(net, x):
    with torch.no_grad():
        return torch.cat([net(dt.to_input(x[s:s + 500])) for s in range(0, len(x), 500)]).argmax(1).numpy()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    ckpt = sys.argv[1]
    data = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
    x, y = read_idx(data, "t10k")
    net = dt.to_module(ckpt).eval()
    h, w, _ = net.input_shape
    if x.shape[1:3] != (h, w):
        t = torch.nn.functional.interpolate(torch.from_numpy(x.copy()).permute(0, 3, 1, 2).float(), size=(h, w),
                                            mode="bilinear", align_corners=False)
        x = t.round().clamp(0, 255).permute(0, 2, 3, 1).numpy().astype(np.uint8)
    first = next(m for m in net.layers.values() if isinstance(m, torch.nn.Module) and hasattr(m, "wbits"))
    if first.wbits < 32:
        sys.exit(f"{ckpt}: the first layer's weights are quantized already ({first.wbits} bits)")
    base = classes(net, x)
    with torch.no_grad():
        w = first.weight
        s = w.abs().amax(dim=tuple(range(1, w.dim())), keepdim=True) / 127
        w.copy_(torch.where(s > 0, torch.round(w / torch.where(s > 0, s, torch.ones_like(s))) * s, w))
    int8 = classes(net, x)
    a, b = float(np.mean(base == y)), float(np.mean(int8 == y))
    print(f"{ckpt} (W,A,G = {net.bits}) on {len(y)} test images of {data}:")
    print(f"  float first layer {100 * a:.2f}%, int8 first layer {100 * b:.2f}% ({100 * (b - a):+.2f} points); "
          f"the same class for {100 * float(np.mean(base == int8)):.2f}% of the images")


if __name__ == "__main__":
    main()
