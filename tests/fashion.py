"""Fashion-MNIST for the Python tests, as Debian's dataset-fashion-mnist installs it.

    import fashion
    fashion.require("test_x")           # exits 0 with a skip message when the data is missing
    x, y = fashion.read("t10k", 200)    # uint8 N x 28 x 28 x 1, uint8 labels
"""
import gzip
import os
import sys

import numpy as np

FASHION = "/usr/share/datasets/fashion-mnist"


def require(test):
    if not os.path.exists(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")):
        print(f"{test}: skipped: no Fashion-MNIST at {FASHION}")
        sys.exit(0)


def read(split, n):
    """The first n images and labels of a split ("train" or "t10k")."""
    with gzip.open(os.path.join(FASHION, f"{split}-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), dtype=np.uint8, offset=16)[: n * 784].reshape(n, 28, 28, 1)
    with gzip.open(os.path.join(FASHION, f"{split}-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), dtype=np.uint8, offset=8)[:n]
    return x, y
