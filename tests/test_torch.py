"""dorefa.torch against dorefa: checkpoints as PyTorch modules and back.

Run by CTest (test_torch) with PYTHONPATH=python, DOREFA_LIBRARY and DOREFA_CLI;
skips without numpy, torch (Debian: python3-torch) or Fashion-MNIST.

Tolerances (seen on this machine, 200 test images, a few hundred training steps):
float networks (32,32,32) match dorefa to float rounding (max |dp| ~ 1e-5). With
quantized activations the float layers' rounding differs from dorefa's own order of
summation, and an activation within that rounding of a quantization threshold may land
on the other code; its effect then travels on: classes agree on >= 99% of images
(seen: 100% for the default network and Model D, 99.5-100% for Model A), and the mean
|dp| stays below 2e-3 (seen: 1e-7 to 3e-4). Quantized layers themselves compute
dorefa's integer sums exactly in evaluation mode.
"""
import os
import re
import subprocess
import sys
import tempfile
import unittest

try:
    import numpy as np
    import torch
except ImportError as e:
    print(f"test_torch: skipped: {e.name} is missing (Debian: python3-numpy, python3-torch)")
    sys.exit(0)

import fashion  # noqa: E402 (tests/fashion.py)

fashion.require("test_torch")

import dorefa  # noqa: E402
import dorefa.torch as dt  # noqa: E402

CLI = os.environ.get("DOREFA_CLI", "build/dorefa")
TMP = tempfile.mkdtemp(prefix="dorefa-torch-")
N_TEST = 200
torch.manual_seed(0)
torch.set_num_threads(2)


def write_idx(folder, split, x, y):
    """x, y as an IDX data set dorefa reads (its images at the model's size: no resizing)."""
    os.makedirs(folder, exist_ok=True)
    n, h, w, _ = x.shape
    with open(os.path.join(folder, f"{split}-images-idx3-ubyte"), "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + n.to_bytes(4, "big") + h.to_bytes(4, "big") + w.to_bytes(4, "big"))
        f.write(x.astype(np.uint8).tobytes())
    with open(os.path.join(folder, f"{split}-labels-idx1-ubyte"), "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + n.to_bytes(4, "big") + y.astype(np.uint8).tobytes())
    with open(os.path.join(folder, "classes.txt"), "w") as f:
        f.write("\n".join(dorefa_names()))


def dorefa_names():
    return ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def data_at(size, n_train=512):
    """Fashion-MNIST slices at size x size (bilinear, as a user's own data would be), as a folder."""
    folder = os.path.join(TMP, f"fashion{size}")
    if not os.path.exists(folder):
        for split, n in (("train", n_train), ("t10k", N_TEST)):
            x, y = fashion.read(split, n)
            if size != 28:
                t = torch.nn.functional.interpolate(torch.from_numpy(x.copy()).permute(0, 3, 1, 2).float(),
                                                    size=(size, size), mode="bilinear", align_corners=False)
                x = t.round().clamp(0, 255).permute(0, 2, 3, 1).numpy().astype(np.uint8)
            write_idx(folder, split, x, y)
    return folder


def test_images(size):
    folder = data_at(size)
    with open(os.path.join(folder, "t10k-images-idx3-ubyte"), "rb") as f:
        x = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, size, size, 1)
    with open(os.path.join(folder, "t10k-labels-idx1-ubyte"), "rb") as f:
        y = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    return x, y


def cli_accuracy(ckpt, data):
    out = subprocess.run([CLI, "eval", ckpt, "--data", data], check=True, capture_output=True, text=True).stdout
    return float(re.search(r"accuracy ([0-9.]+)%", out).group(1))


class TestQuantizers(unittest.TestCase):
    def test_torch_quantizers_are_the_c_ones(self):
        r = np.random.default_rng(5)
        w = r.standard_normal(3000).astype(np.float32)
        a = r.random(3000, dtype=np.float32)
        for k in range(1, 9):
            np.testing.assert_array_equal(dt.f_a(torch.from_numpy(a), k).numpy(), dorefa.f_a(a, k))
            q = dt.f_w(torch.from_numpy(w), k).numpy()
            c = dorefa.f_w(w, k)
            # torch's tanh may differ from C's tanhf by an ulp: a weight at a rounding tie may go the other way
            self.assertLessEqual(int(np.sum(q != c)), 2, f"k={k}")
            np.testing.assert_allclose(q, c, atol=2.0 / (2 ** k - 1) + 1e-6)

    def test_f_g_quantizes_the_gradient(self):
        x = torch.randn(4, 50, requires_grad=True)
        g = torch.randn(4, 50)
        dt.f_g(x, 2).backward(g)
        m = g.abs().amax(dim=1, keepdim=True)
        levels = (x.grad / (2 * m) + 0.5) * 3  # on the grid 2m (i/3 - 1/2)
        np.testing.assert_allclose(levels.numpy(), levels.round().numpy(), atol=1e-4)
        self.assertTrue(torch.all(x.grad.abs() <= m + 1e-6))


class TestCheckpointToModule(unittest.TestCase):
    CASES = [("default", 28), ("svhn-a", 40), ("svhn-d", 40)]

    def check(self, model, size, bits):
        data = data_at(size)
        run = os.path.join(TMP, f"run-{model}-{bits}")
        subprocess.run([CLI, "train", "--model", model, "--data", data, "--bits", bits, "--epochs", "1", "--batch",
                        "64", "--quiet", "--out", run], check=True, stdout=subprocess.DEVNULL)
        ckpt = os.path.join(run, "last.ckpt")
        net = dt.to_module(ckpt).eval()
        self.assertEqual(net.bits, bits)
        self.assertEqual(net.class_names, dorefa_names())
        x, y = test_images(size)
        with torch.no_grad():
            p = torch.softmax(net(dt.to_input(x)), dim=1).numpy()
        with dorefa.Trainer.open(ckpt) as t:
            c = t.predict(x)
        agree = float(np.mean(p.argmax(1) == c.argmax(1)))
        dp = np.abs(p - c)
        print(f"{model} {bits}: classes agree {100 * agree:.1f}%, |dp| mean {dp.mean():.1e} max {dp.max():.1e}")
        quantized = bits != "32,32,32"
        self.assertGreaterEqual(agree, 0.99 if quantized else 1.0)
        self.assertLess(float(dp.mean()), 2e-3 if quantized else 1e-5)
        if not quantized:
            self.assertLess(float(dp.max()), 1e-4)
        # the accuracy 'dorefa eval' prints, on the same images
        acc = 100 * float(np.mean(p.argmax(1) == y))
        self.assertLessEqual(abs(acc - cli_accuracy(ckpt, data)), 100.0 / N_TEST + 1e-9 if quantized else 1e-9)

    def test_models_at_1_2_4(self):
        for model, size in self.CASES:
            with self.subTest(model=model):
                self.check(model, size, "1,2,4")

    def test_models_in_float(self):
        for model, size in self.CASES:
            with self.subTest(model=model):
                self.check(model, size, "32,32,32")


class TestTrainedInTorch(unittest.TestCase):
    def test_round_trip_to_the_engine(self):
        x, y = fashion.read("train", 1024)
        xt, yt = fashion.read("t10k", N_TEST)
        net = dt.build("default", channels=1, bits="1,2,4", seed=3, class_names=dorefa_names())
        self.assertEqual((net.quantize_first, net.quantize_last), (False, False))
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        net.train()
        xs, ys = dt.to_input(x), torch.from_numpy(y.astype(np.int64))
        for step in range(32):
            i = slice(32 * step, 32 * step + 32)
            loss = torch.nn.functional.cross_entropy(net(xs[i]), ys[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            p = torch.softmax(net(dt.to_input(xt)), dim=1).numpy()
        acc = float(np.mean(p.argmax(1) == yt))
        self.assertGreater(acc, 0.5)  # trained: seen about 0.7 (chance 0.1)
        ckpt = dt.from_module(net, "default", os.path.join(TMP, "torch.ckpt"))
        model = os.path.join(TMP, "torch.dorefa")
        subprocess.run([CLI, "export", ckpt, "-o", model], check=True, stdout=subprocess.DEVNULL)
        with dorefa.load(model) as m:
            self.assertEqual(m.bits, "1,2,4")
            self.assertEqual(m.class_names, dorefa_names())
            e = m.predict(xt)
        agree = float(np.mean(e.argmax(1) == p.argmax(1)))
        print(f"PyTorch-trained default (1,2,4): torch accuracy {100 * acc:.1f}%, engine agrees on {100 * agree:.1f}%")
        self.assertGreaterEqual(agree, 0.99)
        # and back: the checkpoint as a module is the module
        back = dt.to_module(ckpt).eval()
        for (k, a), (_, b) in zip(net.state_dict().items(), back.state_dict().items()):
            if a.dtype.is_floating_point:
                torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)

    def test_errors(self):
        with self.assertRaises(dorefa.DorefaError) as e:
            dt.to_module(os.path.join(TMP, "missing.ckpt"))
        self.assertIn("missing.ckpt", str(e.exception))
        net = dt.build("svhn-d", channels=1)
        with self.assertRaises(dorefa.DorefaError) as e:
            dt.from_module(net, "default", os.path.join(TMP, "x.ckpt"))
        self.assertIn("different networks", str(e.exception))
        with self.assertRaises(TypeError):
            dt.from_module(torch.nn.Linear(2, 2), "default", os.path.join(TMP, "x.ckpt"))


if __name__ == "__main__":
    unittest.main()
