#!/usr/bin/env python3
"""Train a low-bitwidth network from numpy arrays, export it, load it and classify images.

    PYTHONPATH=python python3 examples/train_and_classify.py            # from the build tree
    python3 examples/train_and_classify.py --train 60000 --epochs 3     # once installed

Reads Fashion-MNIST (Debian's dataset-fashion-mnist) into numpy arrays, trains dorefa's
default network at W,A,G = 1,2,4 with the bit kernels, exports it for the engine, loads the
exported model and classifies a few test images; with matplotlib, draws them with their
predicted classes into predictions.png.
"""
import argparse
import gzip
import os

import numpy as np

import dorefa

FASHION = "/usr/share/datasets/fashion-mnist"


def read(split, n):
    with gzip.open(os.path.join(FASHION, f"{split}-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28, 1)[:n]
    with gzip.open(os.path.join(FASHION, f"{split}-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), dtype=np.uint8, offset=8)[:n]
    return x, y


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=20000, help="training images (default: 20000)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--bits", default="1,2,4", help="W,A,G (default: 1,2,4)")
    ap.add_argument("--out", default=".", help="folder for model.dorefa and predictions.png")
    args = ap.parse_args()

    x, y = read("train", args.train)
    xt, yt = read("t10k", 2000)
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    def progress(p):
        if p.end_of_epoch:
            print(f"epoch {p.epoch}/{p.epochs}: train loss {p.train_loss:.4f}, test accuracy "
                  f"{100 * p.test_accuracy:.2f}% ({p.images_per_second:.0f} images/s)")

    trainer = dorefa.Trainer("default", bits=args.bits, epochs=args.epochs, seed=1)
    trainer.set_data(x, y, xt, yt, class_names=names)
    trainer.train(progress=progress)
    model_file = trainer.export(os.path.join(args.out, "model.dorefa"))

    model = dorefa.load(model_file)
    print(model)
    probs = model.predict(xt[:8])
    for i, p in enumerate(probs):
        k = int(p.argmax())
        print(f"test image {i}: {model.class_names[k]} ({100 * p[k]:.1f}%), truly {names[yt[i]]}")
    acc = float(np.mean(model.predict(xt).argmax(axis=1) == yt))
    print(f"engine accuracy on {len(yt)} test images: {100 * acc:.2f}%")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no matplotlib: no picture; Debian: python3-matplotlib)")
        return
    fig, axes = plt.subplots(1, 8, figsize=(12, 2.2))
    for i, ax in enumerate(axes):
        ax.imshow(xt[i, :, :, 0], cmap="gray")
        k = int(probs[i].argmax())
        ax.set_title(f"{model.class_names[k]}\n{100 * probs[i][k]:.0f}%", fontsize=8,
                     color="black" if k == yt[i] else "red")
        ax.axis("off")
    fig.tight_layout()
    png = os.path.join(args.out, "predictions.png")
    fig.savefig(png, dpi=100)
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
