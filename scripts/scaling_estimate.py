#!/usr/bin/env python3
"""Step time of data-parallel training against nodes, on paper (docs/scaling.md).

Each node keeps its per-node batch (weak scaling: the global batch grows with
the nodes), computes its part in t_compute, and exchanges S bytes of
gradients per step. The all-reduce costs what a ring costs (spec section 6):

    t_comm(N) = 2 (N-1) (alpha + S / (N beta))

With overlap the exchange runs during the backward pass, a share BACKWARD of
the compute: t_exposed = max(0, t_comm - BACKWARD t_compute). K-bit exchange
sends S K/32 bytes and spends CODE seconds per byte of gradients coding and
decoding. Batch norm over the global batch adds, per BN layer, one small sum
forward and one backward, each a latency-bound all-gather of about
log2(N) alpha (`--bn local` has none).

    t_step(N) = t_compute + t_exposed + t_code + 2 n_bn log2(N) alpha

    python3 scripts/scaling_estimate.py NAME:MS:BYTES:NBN ... [--code-ms-per-mb X]

Each NAME:MS:BYTES:NBN is a model: its compute per step on one node (ms), its
gradient bytes, its batch-norm layers. docs/scaling.md says where each
measured number comes from.
"""
import math
import sys

ALPHA = 20e-6    # per message: TCP on a data-centre network (RDMA: about 2 us)
BACKWARD = 0.6   # share of a step in the backward pass (dorefa bench train --layers)
NODES = [2, 4, 8, 16, 32, 64]
LINKS = [(10, "10 Gb/s"), (25, "25 Gb/s"), (100, "100 Gb/s")]


def step(n, t_compute, size, nbn, gbps, bits, code_s_per_byte):
    s = size * bits / 32
    comm = 2 * (n - 1) * (ALPHA + s / (n * gbps * 1e9 / 8))
    exposed = max(0.0, comm - BACKWARD * t_compute)
    code = 0 if bits == 32 else code_s_per_byte * size
    bn = 2 * nbn * math.ceil(math.log2(n)) * ALPHA
    return t_compute + exposed + code + bn, comm


def table(name, t_compute, size, nbn, code):
    print(f"\n### {name}: {t_compute * 1e3:.1f} ms compute per step, {size / 1e6:.1f} MB of gradients, "
          f"{nbn} batch-norm layers\n")
    print("Step time in ms (efficiency: one node's compute over the step). In brackets: the ring's "
          "communication time, before overlap hides part of it.\n")
    print("| exchange | link | " + " | ".join(f"N={n}" for n in NODES) + " |")
    print("|" + " --- |" * (len(NODES) + 2))
    for bits in (32, 4, 1):
        for gbps, label in LINKS:
            cells = []
            for n in NODES:
                t, comm = step(n, t_compute, size, nbn, gbps, bits, code)
                cells.append(f"{t * 1e3:.0f} ({100 * t_compute / t:.0f}%) [{comm * 1e3:.0f}]")
            kind = "float" if bits == 32 else f"{bits}-bit"
            print(f"| {kind} | {label} | " + " | ".join(cells) + " |")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    code = 0.0
    for i, a in enumerate(sys.argv):
        if a == "--code-ms-per-mb":
            code = float(sys.argv[i + 1]) * 1e-3 / 1e6
            args.remove(sys.argv[i + 1])
    if not args:
        sys.exit(__doc__)
    for spec in args:
        name, ms, size, nbn = spec.rsplit(":", 3)
        table(name, float(ms) / 1e3, float(size), int(nbn), code)


if __name__ == "__main__":
    main()
