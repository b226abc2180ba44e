#!/usr/bin/python3
"""PyTorch reference for `dorefa bench train`: the same SVHN model (A-D, the
tensorpack layout in models/svhn-*.net), fp32, full training steps (forward,
backward, Adam) on random data. Prints images/s per repeat and the median."""
import argparse
import os
import statistics
import time

import torch
import torch.nn as nn


class CAbs(nn.Module):
    def forward(self, x):
        return torch.clamp(x.abs(), max=1.0)


def svhn_model(channels, div):
    c = lambda n: n // div
    bn = lambda n: nn.BatchNorm2d(c(n), momentum=0.1, eps=1e-4)  # TF momentum 0.9
    return nn.Sequential(
        nn.Conv2d(channels, c(48), 5), nn.MaxPool2d(2, ceil_mode=True), CAbs(),
        nn.Conv2d(c(48), c(64), 3, padding=1, bias=False), bn(64), CAbs(),
        nn.Conv2d(c(64), c(64), 3, padding=1, bias=False), bn(64),
        nn.MaxPool2d(2, ceil_mode=True), CAbs(),
        nn.Conv2d(c(64), c(128), 3, bias=False), bn(128), CAbs(),
        nn.Conv2d(c(128), c(128), 3, padding=1, bias=False), bn(128), CAbs(),
        nn.Conv2d(c(128), c(128), 3, bias=False), bn(128), CAbs(), nn.Dropout(0.5),
        nn.Conv2d(c(128), c(512), 5, bias=False), bn(512), CAbs(),
        nn.Flatten(), nn.Linear(c(512), 10))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="a", choices="abcd")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads or os.cpu_count())
    torch.manual_seed(1)
    net = svhn_model(a.channels, {"a": 1, "b": 2, "c": 4, "d": 8}[a.model])
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-5)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(a.batch, a.channels, 40, 40)
    y = torch.arange(a.batch) % 10
    rates = []
    for rep in range(-1, a.repeats):
        t0 = time.perf_counter()
        for _ in range(2 if rep < 0 else a.steps):
            opt.zero_grad()
            loss = loss_fn(net(x), y)
            loss.backward()
            opt.step()
        if rep >= 0:
            rates.append(a.steps * a.batch / (time.perf_counter() - t0))
            print(f"repeat {rep + 1}: {rates[-1]:.1f} images/s")
    print(f"pytorch {torch.__version__} train svhn-{a.model} batch {a.batch} input 40x40x{a.channels}: "
          f"median {statistics.median(rates):.1f} images/s ({a.repeats} repeats of {a.steps} steps)")


if __name__ == "__main__":
    main()
