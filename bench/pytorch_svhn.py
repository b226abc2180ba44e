#!/usr/bin/python3
"""PyTorch reference for `dorefa bench train`: the same SVHN model (A-D, the
tensorpack layout in models/svhn-*.net), full training steps (forward,
backward, Adam) on random data, fp32 or with DoReFa fake quantization
(--bits W,A,G: tensorpack's fw, fa, fg as autograd functions, float products).
Prints images/s per repeat and the median."""
import argparse
import os
import statistics
import time

import torch
import torch.nn as nn


class CAbs(nn.Module):
    def forward(self, x):
        return torch.clamp(x.abs(), max=1.0)


def quantize(x, k):
    n = float(2 ** k - 1)
    return x + (torch.round(x * n) / n - x).detach()  # straight-through rounding


class FG(torch.autograd.Function):
    """Identity forward; backward quantizes the gradient to k bits (Eq. 12)."""
    @staticmethod
    def forward(ctx, x, k):
        ctx.k = k
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        n = float(2 ** ctx.k - 1)
        m = g.abs().amax(dim=tuple(range(1, g.dim())), keepdim=True).clamp_min(1e-30)
        x = g / (2 * m) + 0.5 + (torch.rand_like(g) - 0.5) / n
        return 2 * m * (torch.round(x.clamp(0, 1) * n) / n - 0.5), None


class QConv(nn.Conv2d):
    """Conv with f_w weights and f_g on its output gradient."""
    def __init__(self, *a, bits=(32, 32, 32), **kw):
        super().__init__(*a, **kw)
        self.w_bits, self.g_bits = bits[0], bits[2]

    def forward(self, x):
        w = self.weight
        if self.w_bits == 1:
            e = w.abs().mean().detach()
            w = w + (torch.where(w >= 0, e, -e) - w).detach()
        elif self.w_bits < 32:
            t = torch.tanh(w)
            w = 2 * quantize(t / (2 * t.abs().max()) + 0.5, self.w_bits) - 1
        y = self._conv_forward(x, w, self.bias)
        return FG.apply(y, self.g_bits) if self.g_bits < 32 else y


class Act(nn.Module):
    """cabs, then f_a when the next layer is quantized."""
    def __init__(self, a_bits):
        super().__init__()
        self.a_bits = a_bits

    def forward(self, x):
        x = torch.clamp(x.abs(), max=1.0)
        return quantize(x, self.a_bits) if self.a_bits < 32 else x


def svhn_model(channels, div, bits=(32, 32, 32), relu=False):
    """Model A (div 1) to D (div 8); relu: ReLU in place of cabs (PyTorch's int8 kernels have no cabs)."""
    c = lambda n: n // div
    bn = lambda n: nn.BatchNorm2d(c(n), momentum=0.1, eps=1e-4)  # TF momentum 0.9
    q = lambda i, o, k, p: QConv(i, o, k, padding=p, bias=False, bits=bits)
    act = (lambda: nn.ReLU()) if relu else (lambda: Act(bits[1]))
    return nn.Sequential(
        nn.Conv2d(channels, c(48), 5), nn.MaxPool2d(2, ceil_mode=True), act(),
        q(c(48), c(64), 3, 1), bn(64), act(),
        q(c(64), c(64), 3, 1), bn(64), nn.MaxPool2d(2, ceil_mode=True), act(),
        q(c(64), c(128), 3, 0), bn(128), act(),
        q(c(128), c(128), 3, 1), bn(128), act(),
        q(c(128), c(128), 3, 0), bn(128), act(), nn.Dropout(0.5),
        q(c(128), c(512), 5, 0), bn(512), nn.ReLU() if relu else CAbs(),
        nn.Flatten(), nn.Linear(c(512), 10))


def int8_engine():
    """The best int8 engine this torch has: x86 (2.0 on), onednn, fbgemm, else qnnpack."""
    have = torch.backends.quantized.supported_engines
    for e in ("x86", "onednn", "fbgemm", "qnnpack"):
        if e in have:
            return e
    raise SystemExit(f"no int8 engine in this torch ({have})")


def to_int8(net, x, batches=4):
    """Post-training static quantization, FX graph mode: conv+bn+relu fused, int8 weights
    (per channel where the engine's default says) and activations, calibrated on a few batches."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    engine = int8_engine()
    torch.backends.quantized.engine = engine
    net.eval()
    prepared = prepare_fx(net, get_default_qconfig_mapping(engine), example_inputs=(x[:1],))
    with torch.no_grad():
        for i in range(batches):
            prepared(torch.rand_like(x))
    return convert_fx(prepared), engine


def infer(net, x, a):
    net.eval()
    mode = "fp32"
    if a.int8:
        net, engine = to_int8(net, x)
        mode = f"int8 ({engine})"
    elif a.channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
        mode = "fp32 channels_last"
    rates, lat = [], []
    with torch.no_grad():
        for rep in range(-1, a.repeats):
            t0 = time.perf_counter()
            for _ in range(2 if rep < 0 else a.steps):
                net(x)
            if rep >= 0:
                rates.append(a.steps * a.batch / (time.perf_counter() - t0))
        one = x[:1]
        for i in range(220):
            t0 = time.perf_counter()
            net(one)
            if i >= 20:
                lat.append(1e3 * (time.perf_counter() - t0))
    lat.sort()
    print(f"pytorch {torch.__version__} infer svhn-{a.model} {mode} batch {a.batch} input 40x40x{a.channels}: "
          f"median {statistics.median(rates):.1f} images/s ({a.repeats} repeats of {a.steps} batches); "
          f"batch 1 latency p50 {lat[len(lat) // 2]:.3f} ms p90 {lat[int(len(lat) * 0.9)]:.3f} ms "
          f"p99 {lat[int(len(lat) * 0.99)]:.3f} ms")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="a", choices="abcd")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--bits", default="32,32,32", help="W,A,G (32 = float)")
    ap.add_argument("--infer", action="store_true",
                    help="time evaluation-mode inference (no grad) instead of training; "
                         "also batch-1 latency")
    ap.add_argument("--channels-last", action="store_true",
                    help="channels_last memory (NHWC) for the model and input: fp32 only")
    ap.add_argument("--int8", action="store_true",
                    help="--infer after post-training static int8 quantization (ReLU for cabs)")
    a = ap.parse_args()
    bits = tuple(int(b) for b in a.bits.split(","))
    torch.set_num_threads(a.threads or os.cpu_count())
    torch.manual_seed(1)
    net = svhn_model(a.channels, {"a": 1, "b": 2, "c": 4, "d": 8}[a.model], bits, relu=a.int8)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-5)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(a.batch, a.channels, 40, 40)
    y = torch.arange(a.batch) % 10
    if a.infer:
        return infer(net, x, a)
    if a.channels_last:
        if bits != (32, 32, 32):
            ap.error("--channels-last is for fp32 (--bits 32,32,32)")
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
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
    memory = " channels_last" if a.channels_last else ""
    print(f"pytorch {torch.__version__} train svhn-{a.model} bits {a.bits}{memory} batch {a.batch} "
          f"input 40x40x{a.channels}: "
          f"median {statistics.median(rates):.1f} images/s ({a.repeats} repeats of {a.steps} steps)")


if __name__ == "__main__":
    main()
