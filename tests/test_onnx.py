"""dorefa export --format onnx: valid ONNX (onnx.checker, strict shape inference), the
low-bitwidth structure visible (QuantizeLinear -> Clip -> DequantizeLinear per quantized
activation, at most 2^W weight values per quantized layer), and the same classes as
dorefa's engine when the graph is run (by a small interpreter over PyTorch's operators:
Debian has no ONNX runtime).

Run by CTest (test_onnx); skips without numpy, onnx (python3-onnx), torch or Fashion-MNIST.
"""
import os
import subprocess
import sys
import tempfile
import unittest

try:
    import numpy as np
    import onnx
    import onnx.numpy_helper
    import torch
    import torch.nn.functional as F
except ImportError as e:
    print(f"test_onnx: skipped: {e.name} is missing (Debian: python3-numpy, python3-onnx, python3-torch)")
    sys.exit(0)

import fashion  # noqa: E402 (tests/fashion.py)

fashion.require("test_onnx")

import dorefa  # noqa: E402

CLI = os.environ.get("DOREFA_CLI", "build/dorefa")
TMP = tempfile.mkdtemp(prefix="dorefa-onnx-")
N = 200


def run_onnx(model, pixels):
    """The graph on N x C x H x W float pixels, op by op (the ONNX operator semantics)."""
    env = {t.name: torch.from_numpy(onnx.numpy_helper.to_array(t).copy()) for t in model.graph.initializer}
    env[model.graph.input[0].name] = torch.from_numpy(pixels)
    for nd in model.graph.node:
        a = {x.name: onnx.helper.get_attribute_value(x) for x in nd.attribute}
        x = [env[i] for i in nd.input]
        op = nd.op_type
        if op == "Mul":
            y = x[0] * x[1]
        elif op == "Add":
            y = x[0] + x[1]
        elif op in ("Conv", "MaxPool"):
            t, l, b, r = a["pads"]
            if op == "Conv":
                y = F.conv2d(F.pad(x[0], (l, r, t, b)), x[1], x[2] if len(x) > 2 else None, a["strides"], 0, 1,
                             a.get("group", 1))
            else:
                y = F.max_pool2d(F.pad(x[0], (l, r, t, b), value=float("-inf")), a["kernel_shape"], a["strides"])
        elif op == "Flatten":
            y = x[0].flatten(a.get("axis", 1))
        elif op == "Gemm":
            y = x[0] @ (x[1].T if a.get("transB") else x[1]) + (x[2] if len(x) > 2 else 0)
        elif op == "BatchNormalization":
            shape = (1, -1) + (1,) * (x[0].dim() - 2)
            y = (x[0] - x[3].view(shape)) / torch.sqrt(x[4].view(shape) + a["epsilon"]) * x[1].view(shape) + \
                x[2].view(shape)
        elif op == "GlobalAveragePool":
            y = x[0].mean(dim=(2, 3), keepdim=True)
        elif op == "Relu":
            y = torch.relu(x[0])
        elif op == "Abs":
            y = x[0].abs()
        elif op == "Identity":
            y = x[0]
        elif op == "Clip":
            y = torch.minimum(torch.maximum(x[0], x[1]), x[2])
        elif op == "QuantizeLinear":  # saturate(round(x / scale) + zero point), half to even
            y = (torch.round(x[0] / x[1]) + x[2].float()).clamp(0, 255).to(torch.uint8)
        elif op == "DequantizeLinear":
            y = (x[0].float() - x[2].float()) * x[1]
        elif op == "Softmax":
            y = torch.softmax(x[0], dim=a.get("axis", -1))
        else:
            raise AssertionError(f"op {op} is not in this interpreter")
        env[nd.output[0]] = y
    return env[model.graph.output[0].name].numpy()


class TestOnnx(unittest.TestCase):
    def export(self, model, bits):
        run = os.path.join(TMP, f"{model}-{bits}")
        subprocess.run([CLI, "train", "--model", model, "--bits", bits, "--epochs", "1", "--limit-train", "512",
                        "--limit-test", "64", "--batch", "64", "--quiet", "--out", run], check=True,
                       stdout=subprocess.DEVNULL)
        out = subprocess.run([CLI, "export", os.path.join(run, "last.ckpt"), "--format", "onnx"], check=True,
                             capture_output=True, text=True).stdout
        self.assertIn("QuantizeLinear -> Clip -> DequantizeLinear", out)
        subprocess.run([CLI, "export", os.path.join(run, "last.ckpt"), "-o", os.path.join(run, "m.dorefa")],
                       check=True, stdout=subprocess.DEVNULL)
        return os.path.join(run, "last.onnx"), os.path.join(run, "m.dorefa")

    def check(self, model, bits, min_agree):
        path, engine_file = self.export(model, bits)
        m = onnx.load(path)
        onnx.checker.check_model(m, full_check=True)
        inferred = onnx.shape_inference.infer_shapes(m, strict_mode=True)
        self.assertEqual([d.dim_param or d.dim_value for d in
                          inferred.graph.output[0].type.tensor_type.shape.dim], ["N", 10])
        ops = [n.op_type for n in m.graph.node]
        w, a, _ = (int(b) for b in bits.split(","))
        with dorefa.load(engine_file) as e:
            h, wd, c = e.input_shape
            x, _ = fashion.read("t10k", N)
            if h != 28:
                x = torch.nn.functional.interpolate(torch.from_numpy(x.copy()).permute(0, 3, 1, 2).float(),
                                                    size=(h, wd), mode="bilinear", align_corners=False)
                x = x.round().clamp(0, 255).permute(0, 2, 3, 1).numpy().astype(np.uint8)
            pe = e.predict(x)
        if a < 32:
            self.assertGreater(ops.count("QuantizeLinear"), 0)
            self.assertEqual(ops.count("QuantizeLinear"), ops.count("DequantizeLinear"))
        else:
            self.assertNotIn("QuantizeLinear", ops)
        # weights as their quantized values: at most 2^W distinct values in a quantized layer
        inits = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
        conv_w = [inits[n.input[1]] for n in m.graph.node if n.op_type in ("Conv", "Gemm")]
        quantized = [v for v in conv_w if len(np.unique(v)) <= 2 ** w]
        if w < 32:
            self.assertGreaterEqual(len(quantized), len(conv_w) - 2)  # the first and last layers stay float
        po = run_onnx(m, x.transpose(0, 3, 1, 2).astype(np.float32))
        agree = float(np.mean(po.argmax(1) == pe.argmax(1)))
        print(f"{model} {bits}: {len(ops)} nodes, ONNX and the engine agree on {100 * agree:.1f}% of {N} images, "
              f"max |dp| {np.abs(po - pe).max():.1e}")
        self.assertGreaterEqual(agree, min_agree)

    def test_default_network(self):
        self.check("default", "1,2,4", 0.99)

    def test_model_d(self):
        self.check("svhn-d", "1,2,4", 0.99)

    def test_float(self):
        self.check("default", "32,32,32", 1.0)

    def test_python_export_is_the_command_line_one(self):
        path, _ = self.export("svhn-d", "2,2,4")
        with dorefa.Trainer.open(os.path.join(os.path.dirname(path), "last.ckpt")) as t:
            mine = t.export(os.path.join(TMP, "api.onnx"), format="onnx")
        with open(mine, "rb") as a, open(path, "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_bad_format(self):
        r = subprocess.run([CLI, "export", "x.ckpt", "--format", "tflite"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--format tflite: expected dorefa or onnx", r.stderr)


if __name__ == "__main__":
    unittest.main()
