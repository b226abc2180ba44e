"""The Python package (python/dorefa) against the command line and the C code.

Run by CTest (test_python) with PYTHONPATH=python, DOREFA_LIBRARY=the shared
library and DOREFA_CLI=the dorefa program; skips without numpy or Fashion-MNIST.
"""
import os
import subprocess
import sys
import tempfile
import unittest

try:
    import numpy as np
except ImportError:
    print("test_python: skipped: no numpy (Debian: python3-numpy)")
    sys.exit(0)

import fashion  # noqa: E402 (tests/fashion.py)

fashion.require("test_python")
FASHION = fashion.FASHION

import dorefa  # noqa: E402

CLI = os.environ.get("DOREFA_CLI", "build/dorefa")
TMP = tempfile.mkdtemp(prefix="dorefa-python-")
N = 300


def setUpModule():
    run = os.path.join(TMP, "run")
    subprocess.run([CLI, "train", "--model", "default", "--bits", "1,2,4", "--limit-train", "512", "--limit-test",
                    "64", "--epochs", "1", "--quiet", "--out", run], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([CLI, "export", os.path.join(run, "last.ckpt"), "-o", os.path.join(TMP, "m.dorefa")], check=True,
                   stdout=subprocess.DEVNULL)


class TestModel(unittest.TestCase):
    def test_attributes(self):
        m = dorefa.load(os.path.join(TMP, "m.dorefa"))
        self.assertEqual(m.input_shape, (28, 28, 1))
        self.assertEqual(m.classes, 10)
        self.assertEqual(m.bits, "1,2,4")
        self.assertIn("1,2,4", repr(m))

    def test_predict_matches_the_command_line(self):
        x, y = fashion.read("t10k", N)
        with dorefa.load(os.path.join(TMP, "m.dorefa"), max_batch=64) as m:
            p = m.predict(x)
            self.assertEqual(p.shape, (N, 10))
            self.assertEqual(p.dtype, np.float32)
            np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-5)
            # uint8 and float32 pixels, one image and a batch: the same probabilities
            np.testing.assert_array_equal(m.predict(x.astype(np.float32)), p)
            # one image alone: the float classifier's sgemm may sum in another order at batch 1
            # (seen on AVX-512: one probability 1 ulp apart), so equal to float rounding
            np.testing.assert_allclose(m.predict(x[7]), p[7], rtol=1e-6, atol=1e-9)
        acc = float(np.mean(p.argmax(axis=1) == y))
        out = subprocess.run([CLI, "infer", os.path.join(TMP, "m.dorefa"), FASHION, "--limit", str(N)], check=True,
                             capture_output=True, text=True).stdout
        self.assertIn(f"accuracy {100 * acc:.2f}%", out, out)

    def test_errors_name_the_file(self):
        missing = os.path.join(TMP, "missing.dorefa")
        with self.assertRaises(dorefa.DorefaError) as e:
            dorefa.load(missing)
        self.assertIn(missing, str(e.exception))
        with self.assertRaises(dorefa.DorefaError) as e:
            dorefa.load(os.path.join(TMP, "run", "last.ckpt"))
        self.assertIn("not a dorefa model file", str(e.exception))
        m = dorefa.load(os.path.join(TMP, "m.dorefa"))
        with self.assertRaises(ValueError):
            m.predict(np.zeros((2, 27, 28, 1)))
        m.close()
        with self.assertRaises(dorefa.DorefaError):
            m.predict(np.zeros((1, 28, 28, 1)))


class TestQuantizers(unittest.TestCase):
    def setUp(self):
        self.r = np.random.default_rng(3)

    def test_f_a_is_quantize_k(self):
        x = self.r.random(1000, dtype=np.float32)
        x[:5] = [0, 1, 0.5, 1 / 6, 1 / 3]
        for k in range(1, 9):
            n = 2 ** k - 1
            np.testing.assert_array_equal(dorefa.f_a(x, k), (np.rint(x * n) / n).astype(np.float32))
        np.testing.assert_array_equal(dorefa.f_a(x, 32), x)
        with self.assertRaises(dorefa.DorefaError):
            dorefa.f_a(np.array([1.5], dtype=np.float32), 2)

    def test_f_w(self):
        w = self.r.standard_normal((16, 9)).astype(np.float32)
        e = np.mean(np.abs(w))
        np.testing.assert_allclose(dorefa.f_w(w, 1), e * np.sign(w), rtol=1e-6)
        for k in range(2, 9):
            n = 2 ** k - 1
            t = np.tanh(w.astype(np.float64))
            ref = 2 * np.rint((t / (2 * np.abs(t).max()) + 0.5) * n) / n - 1
            q = dorefa.f_w(w, k)
            self.assertEqual(q.shape, w.shape)
            # on the k-bit grid of [-1, 1], equal to the formula but where float rounding meets a tie
            np.testing.assert_allclose((q + 1) / 2 * n, np.rint((q + 1) / 2 * n), atol=1e-4)
            self.assertLessEqual(int(np.sum(np.abs(q - ref) > 1e-5)), 1)
        with self.assertRaises(dorefa.DorefaError):
            dorefa.f_w(w, 9)

    def test_f_g(self):
        g = self.r.standard_normal((4, 3, 50)).astype(np.float32)
        for k in (1, 2, 4, 8):
            q = dorefa.f_g(g, k, seed=1, step=2, layer=3)
            n = 2 ** k - 1
            m = np.abs(g).reshape(4, -1).max(axis=1)[:, None, None]
            # values on the grid 2m (i/n - 1/2), the same for the same key, other noise for another step
            np.testing.assert_allclose(((q / (2 * m) + 0.5) * n), np.rint((q / (2 * m) + 0.5) * n), atol=1e-3)
            np.testing.assert_array_equal(q, dorefa.f_g(g, k, seed=1, step=2, layer=3))
            self.assertFalse(np.array_equal(q, dorefa.f_g(g, k, seed=1, step=3, layer=3)))
        # unbiased: the mean over many draws approaches g
        mean = np.mean([dorefa.f_g(g, 2, seed=1, step=s) for s in range(400)], axis=0)
        self.assertLess(float(np.max(np.abs(mean - g) / np.abs(g).max())), 0.15)

def write_png(path, img):
    """A grey 8-bit PNG of img (H x W uint8), with zlib alone."""
    import struct
    import zlib
    h, w = img.shape
    raw = b"".join(b"\0" + img[y].tobytes() for y in range(h))
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class TestImages(unittest.TestCase):
    def test_infer_on_images_matches_predict(self):
        # 'dorefa infer MODEL IMAGE' and the API see the same pixels the same way (both once skipped
        # the training's / 256)
        x, _ = fashion.read("t10k", 4)
        m = dorefa.load(os.path.join(TMP, "m.dorefa"))
        for i in range(4):
            path = os.path.join(TMP, f"img{i}.png")
            write_png(path, x[i, :, :, 0])
            out = subprocess.run([CLI, "infer", os.path.join(TMP, "m.dorefa"), path, "--top", "1"], check=True,
                                 capture_output=True, text=True).stdout
            # "path: Ankle boot (97.1%)": the class's name, from the training data set
            name, pct = out.rstrip().split(": ", 1)[1].rsplit(" (", 1)
            p = m.predict(x[i])
            self.assertEqual(name, m.class_names[int(p.argmax())], out)
            self.assertAlmostEqual(float(pct.strip("(%)")), 100 * float(p.max()), delta=0.051)

    def test_class_names(self):
        m = dorefa.load(os.path.join(TMP, "m.dorefa"))
        self.assertEqual(m.class_names[0], "T-shirt/top")
        self.assertEqual(m.class_names[9], "Ankle boot")
        self.assertEqual(len(m.class_names), 10)


class TestTrainer(unittest.TestCase):
    OPTS = dict(bits="1,2,4", epochs=1, batch=64, limit_train=512, limit_test=64, seed=4)

    def test_same_checkpoint_as_the_command_line(self):
        run = os.path.join(TMP, "cli-run")
        subprocess.run([CLI, "train", "--model", "default", "--data", FASHION, "--bits", "1,2,4", "--epochs", "1",
                        "--batch", "64", "--limit-train", "512", "--limit-test", "64", "--seed", "4", "--quiet",
                        "--out", run], check=True, stdout=subprocess.DEVNULL)
        seen = []
        with dorefa.Trainer("default", **self.OPTS) as t:
            t.set_data(FASHION)
            t.train(progress=lambda p: seen.append((p.step, p.end_of_epoch, p.test_accuracy)))
            path = t.save(os.path.join(TMP, "py.ckpt"))
            self.assertEqual((t.epoch, t.step), (1, 8))
            acc, loss = t.evaluate()
        self.assertEqual([s for s, _, _ in seen], [1, 2, 3, 4, 5, 6, 7, 8, 8])
        self.assertEqual(seen[-1][1:], (1, acc))
        with open(path, "rb") as a, open(os.path.join(run, "last.ckpt"), "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_arrays_stop_go_on_and_export(self):
        x, y = fashion.read("train", 600)
        xt, yt = fashion.read("t10k", 200)
        names = ["top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
        t = dorefa.Trainer("default", bits="1,2,4", batch=100, seed=2)
        t.set_data(x[..., 0], y, xt, yt.astype(np.int64), class_names=names)  # N x H x W is one channel
        t.train(1, progress=lambda p: p.step == 3)  # stops after the third step
        self.assertEqual((t.epoch, t.step), (0, 3))
        t.train(2)  # the rest of the first epoch and one more
        self.assertEqual((t.epoch, t.step), (2, 12))
        acc, _ = t.evaluate()
        self.assertGreater(acc, 0.5)  # seen: about 0.7; chance 0.1
        m = dorefa.load(t.export(os.path.join(TMP, "arrays.dorefa")))
        self.assertEqual(m.class_names, names)
        p = m.predict(xt)
        # the engine on the exported model: the training graph's accuracy within a few images
        self.assertLess(abs(float(np.mean(p.argmax(axis=1) == yt)) - acc), 0.03)
        # the first layer as 8-bit integers: nearly always the same classes
        p8 = dorefa.load(t.export(os.path.join(TMP, "arrays8.dorefa"), first_layer="int8")).predict(xt)
        self.assertGreater(float(np.mean(p8.argmax(axis=1) == p.argmax(axis=1))), 0.95)
        with open(os.path.join(TMP, "arrays8.dorefa"), "rb") as f:
            self.assertEqual(f.read(9)[8], 3)  # the file version with the integer layer
        with self.assertRaises(ValueError):
            t.export(os.path.join(TMP, "bad.dorefa"), first_layer="int4")
        # a checkpoint goes on in a new trainer as in this one
        ck = t.save(os.path.join(TMP, "arrays.ckpt"))
        u = dorefa.Trainer.open(ck, epochs=3)
        u.set_data(x, y, xt, yt)
        u.train()
        t.train(1)
        self.assertEqual(u.step, t.step)
        np.testing.assert_array_equal(dorefa.load(u.export(os.path.join(TMP, "u.dorefa"))).predict(xt),
                                      dorefa.load(t.export(os.path.join(TMP, "t.dorefa"))).predict(xt))

    def test_callback_exception_is_raised(self):
        x, y = fashion.read("train", 200)
        t = dorefa.Trainer("default", batch=50)
        t.set_data(x, y)
        with self.assertRaises(ZeroDivisionError):
            t.train(1, progress=lambda p: 1 / 0)
        self.assertEqual(t.step, 1)

    def test_bad_input(self):
        with self.assertRaises(dorefa.DorefaError) as e:
            dorefa.Trainer("default", bitz="1,2,4")
        self.assertIn("bitz", str(e.exception))
        with self.assertRaises(dorefa.DorefaError) as e:
            dorefa.Trainer(os.path.join(TMP, "missing.net"))
        self.assertIn("missing.net", str(e.exception))
        with self.assertRaises(dorefa.DorefaError) as e:
            dorefa.Trainer.open(os.path.join(TMP, "missing.ckpt"))
        self.assertIn("missing.ckpt", str(e.exception))
        t = dorefa.Trainer("default")
        x, y = fashion.read("train", 10)
        with self.assertRaises(ValueError):
            t.set_data(x.astype(np.float32), y)  # pixels as uint8
        with self.assertRaises(ValueError):
            t.set_data(x, y[:5])  # a label per image
        with self.assertRaises(dorefa.DorefaError) as e:
            t.set_data(np.zeros((4, 32, 32, 1), np.uint8), np.zeros(4, int))
        self.assertIn("the model takes 28x28", str(e.exception))
        with self.assertRaises(dorefa.DorefaError) as e:
            t.evaluate()
        self.assertIn("no data set yet", str(e.exception))
        t.close()
        with self.assertRaises(dorefa.DorefaError) as e:
            t.train(1)
        self.assertIn("closed", str(e.exception))


if __name__ == "__main__":
    unittest.main()
