#!/usr/bin/env python3
"""The PyTorch round trip on Fashion-MNIST: a dorefa network trained in PyTorch (dorefa.torch
fake quantizers), written as a dorefa checkpoint (from_module), exported, and run by dorefa's
fused engine; accuracy of both on the 10,000 test images, and inference speed of both at
batch 128 (median of ROUNDS alternating rounds).

    PYTHONPATH=python DOREFA_LIBRARY=build/libdorefa.so.0 python3 bench/torch_roundtrip.py \\
        [--model default] [--bits 1,2,4] [--epochs 2] [--rounds 5]
"""
import argparse
import gzip
import os
import statistics
import subprocess
import tempfile
import time

import numpy as np
import torch

import dorefa
import dorefa.torch as dt

FASHION = "/usr/share/datasets/fashion-mnist"
NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read(split):
    with gzip.open(os.path.join(FASHION, f"{split}-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28, 1)
    with gzip.open(os.path.join(FASHION, f"{split}-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    return x, y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="default")
    ap.add_argument("--bits", default="1,2,4")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cli", default="build/dorefa")
    args = ap.parse_args()
    torch.manual_seed(1)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))  # all cores, as dorefa
    x, y = read("train")
    xt, yt = read("t10k")
    net = dt.build(args.model, channels=1, bits=args.bits, seed=1, class_names=NAMES)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-5)
    xs, ys = dt.to_input(x), torch.from_numpy(y.astype(np.int64))
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        net.train()
        order = torch.randperm(len(ys))
        for s in range(0, len(ys), args.batch):
            i = order[s:s + args.batch]
            loss = torch.nn.functional.cross_entropy(net(xs[i]), ys[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    train_s = time.perf_counter() - t0
    net.eval()
    xts = dt.to_input(xt)
    with torch.no_grad():
        torch_pred = torch.cat([net(xts[s:s + 1000]) for s in range(0, len(yt), 1000)]).argmax(1).numpy()
    torch_acc = float(np.mean(torch_pred == yt))

    tmp = tempfile.mkdtemp(prefix="dorefa-roundtrip-")
    ckpt = dt.from_module(net, args.model, os.path.join(tmp, "torch.ckpt"))
    model_file = os.path.join(tmp, "torch.dorefa")
    subprocess.run([args.cli, "export", ckpt, "-o", model_file], check=True, stdout=subprocess.DEVNULL)
    m = dorefa.load(model_file, max_batch=args.batch)
    engine_pred = m.predict(xt).argmax(1)
    engine_acc = float(np.mean(engine_pred == yt))
    agree = float(np.mean(engine_pred == torch_pred))

    # inference speed at batch 128, alternating the two
    xb, xbt = xt[:args.batch], xts[:args.batch]
    eng, tor = [], []
    for _ in range(args.rounds):
        a = time.perf_counter()
        for _ in range(10):
            m.predict(xb)
        eng.append(10 * args.batch / (time.perf_counter() - a))
        a = time.perf_counter()
        with torch.no_grad():
            for _ in range(10):
                net(xbt)
        tor.append(10 * args.batch / (time.perf_counter() - a))
    e, t = statistics.median(eng), statistics.median(tor)
    print(f"{args.model} at W,A,G = {args.bits}, {args.epochs} epochs in PyTorch ({train_s:.0f} s, "
          f"{args.epochs * len(ys) / train_s:.0f} images/s)")
    print(f"test accuracy: PyTorch eval {100 * torch_acc:.2f}%, dorefa engine {100 * engine_acc:.2f}% "
          f"(same class for {100 * agree:.2f}% of the 10,000 images)")
    print(f"inference at batch {args.batch}: dorefa engine {e:.0f} images/s, PyTorch fake-quantized eval "
          f"{t:.0f} images/s ({e / t:.2f}x; medians of {args.rounds} rounds, {torch.get_num_threads()} torch threads)")


if __name__ == "__main__":
    main()
