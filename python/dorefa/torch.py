"""dorefa networks as PyTorch modules, and back.

    import dorefa.torch as dt
    net = dt.to_module("run/best.ckpt")          # torch.nn.Module with DoReFa fake quantizers
    logits = net(dt.to_input(images))             # images: N x H x W x C pixels 0..255
    ...train it in PyTorch...
    dt.from_module(net, "default", "torch.ckpt")  # a checkpoint for dorefa eval / export / the engine

    net = dt.build("default", channels=1, bits="1,2,4")   # a new network, dorefa's initialisation

The module computes what dorefa's training graph computes, in PyTorch's
NCHW layout: conv and fc layers use f_w(W) (and pass their output's gradient
through f_g), bounded activations quantize with f_a, under the same bits and
first/last-layer policy (dorefa's planning pass decides, and describes it).
Its input is N x C x H x W pixels / 256, as dorefa trains on them; its
output is the logits (the input of dorefa's softmax layer).

Quantizers: f_w and f_a round with straight-through gradients (f_w^1's scale
E as a constant; f_w^k's tanh normalisation differentiated, as in dorefa);
f_g is the identity forward and quantizes the gradient backward, per sample,
with PyTorch's random numbers (dorefa's own noise is keyed by seed, step,
layer and sample, so the noise differs; its distribution does not).

Layouts converted exactly: conv weights dorefa [out][kh][kw][in] <-> torch
[out][in][kh][kw]; fc weights over dorefa's NHWC-flattened input <-> torch's
NCHW flattening; BN gamma/beta/running mean/var as weight/bias/running_mean/
running_var (momentum m <-> 1 - m).
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import DorefaError, Trainer

__all__ = ["to_module", "from_module", "build", "to_input", "DorefaNet", "f_w", "f_a", "f_g"]


# ---- the quantizers, as autograd functions -------------------------------------------------------

class _Round(torch.autograd.Function):
    """round half to even (as C's rintf), straight-through gradient."""

    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, g):
        return g


class _SignScale(torch.autograd.Function):
    """E sign(w) with sign(0) = +1; the gradient passes straight through (E a constant)."""

    @staticmethod
    def forward(ctx, w, e):
        return torch.where(w >= 0, e, -e)

    @staticmethod
    def backward(ctx, g):
        return g, None


def f_w(w, k):
    """DoReFa weight quantizer f_w^k (k = 1..8; 32: identity), on one layer's weights."""
    if k >= 32:
        return w
    if k == 1:
        e = (w.detach().double().abs().sum() / w.numel()).float()  # as dorefa: the sum in double
        return _SignScale.apply(w, e)
    n = float(2 ** k - 1)
    t = torch.tanh(w)
    inv = 0.5 / t.abs().max()
    return 2.0 * (_Round.apply(n * (t * inv + 0.5)) / n) - 1.0


def f_a(x, k):
    """DoReFa activation quantizer f_a^k = quantize_k(x), x in [0, 1] (32: identity)."""
    if k >= 32:
        return x
    n = float(2 ** k - 1)
    return _Round.apply(x * n) / n


class _Same(torch.autograd.Function):
    """The value of b, the gradient of a (b computes a's value exactly)."""

    @staticmethod
    def forward(ctx, a, b):
        return b

    @staticmethod
    def backward(ctx, g):
        return g, None


class _GradQuant(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, k):
        ctx.k = k
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        n = float(2 ** ctx.k - 1)
        flat = g.reshape(g.shape[0], -1)
        m = flat.abs().amax(dim=1, keepdim=True)
        m = torch.where(m >= torch.finfo(g.dtype).tiny, m, torch.zeros_like(m))
        inv2m = torch.where(m > 0, 0.5 / torch.where(m > 0, m, torch.ones_like(m)), torch.zeros_like(m))
        u = torch.rand_like(flat)
        x = (flat * inv2m + 0.5 + (u - 0.5) * (1.0 / n)).clamp(0, 1)
        q = (2 * m) * (torch.round(n * x) / n - 0.5)
        return q.view_as(g), None


def f_g(x, k):
    """Identity forward; backward, the DoReFa gradient quantizer f_g^k on the gradient of x
    (per sample along the first axis: its maximum, uniform noise, rounding)."""
    return x if k >= 32 else _GradQuant.apply(x, k)


# ---- layers ---------------------------------------------------------------------------------------

def _ints(v):
    return tuple(int(x) for x in v.split(","))


def _parse(text):
    lines = [ln.split() for ln in text.strip().splitlines()]
    head = dict(kv.split("=", 1) for kv in lines[0][1:])
    layers = [dict(kv.split("=", 1) for kv in ln[1:]) for ln in lines[1:]]
    return head, layers


class _Products(nn.Module):
    """conv or fc with f_w weights and f_g on its output's gradient."""

    def __init__(self, d):
        super().__init__()
        self.fc = d["type"] == "fc"
        self.kh, self.kw = _ints(d["k"])
        self.stride = _ints(d["stride"])
        self.pad = _ints(d["pad"])  # top, left, bottom, right
        self.groups = int(d["groups"])
        self.wbits, self.gbits, self.inbits = int(d["wbits"]), int(d["gbits"]), int(d["inbits"])
        # in evaluation, a layer with quantized weights and input sums integer codes exactly, as
        # dorefa's bit kernels do (AND + popcount), and scales them as they do: y = u a (sum m q) + b
        self.exact = self.wbits < 32 and self.inbits < 32
        ih, iw, ic = _ints(d["in"])
        oc = _ints(d["out"])[2]
        if self.fc:
            self.weight = nn.Parameter(torch.zeros(oc, ic * ih * iw))
        else:
            self.weight = nn.Parameter(torch.zeros(oc, ic // self.groups, self.kh, self.kw))
        self.bias = nn.Parameter(torch.zeros(oc)) if d["bias"] == "1" else None

    def _products(self, x, w, bias):
        if self.fc:
            return F.linear(x.flatten(1), w, bias)[:, :, None, None]
        t, l, b, r = self.pad
        if t or l or b or r:
            x = F.pad(x, (l, r, t, b))
        return F.conv2d(x, w, bias, self.stride, 0, 1, self.groups)

    def _integer_products(self, x, wq):
        """dorefa's bit-kernel forward: integer sums of weight and activation codes (exact in
        float64), times u ascale in float32, plus the bias."""
        na = float(2 ** self.inbits - 1)
        qa = torch.round(x.detach().double() * na)
        if self.wbits == 1:
            m = torch.where(self.weight.detach() >= 0, 1.0, -1.0).double()
            u = wq.detach().abs().max().float()  # E
        else:
            nw = float(2 ** self.wbits - 1)
            m = torch.round(wq.detach().double() * nw)  # 2 q - n_W
            u = torch.tensor(1.0, dtype=torch.float32) / nw
        scale = u * (torch.tensor(1.0, dtype=torch.float32) / na)
        y = scale * self._products(qa, m, None).float()
        if self.bias is not None:
            y = y + self.bias.detach()[None, :, None, None]
        return y

    def forward(self, x):
        w = f_w(self.weight, self.wbits)
        y = self._products(x, w, self.bias)
        if self.exact and not self.training:
            y = _Same.apply(y, self._integer_products(x, w))
        return f_g(y, self.gbits)


class _MaxPool(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.k, self.stride, self.pad = _ints(d["k"]), _ints(d["stride"]), _ints(d["pad"])

    def forward(self, x):
        t, l, b, r = self.pad
        if t or l or b or r:
            x = F.pad(x, (l, r, t, b), value=float("-inf"))  # padded cells never win
        return F.max_pool2d(x, self.k, self.stride)


class _Act(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fn, self.abits = d["fn"], int(d["abits"])

    def forward(self, x):
        if self.fn == "relu":
            x = torch.relu(x)
        elif self.fn == "crelu":
            x = x.clamp(0, 1)
        elif self.fn == "cabs":
            x = x.abs().clamp(max=1)
        return f_a(x, self.abits)

    def extra_repr(self):
        return f"fn={self.fn}, abits={self.abits}"


class _GlobalAvg(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3), keepdim=True)


class _Add(nn.Module):
    def forward(self, a, b):
        return a + b


class _Logits(nn.Module):
    """dorefa's softmax layer: the module returns its input, the logits."""

    def forward(self, x):
        return x.flatten(1)


def _make(d):
    t = d["type"]
    if t in ("conv", "fc"):
        return _Products(d)
    if t == "bn":
        c = _ints(d["in"])[2]
        return nn.BatchNorm2d(c, eps=float(d["eps"]), momentum=1.0 - float(d["momentum"]))
    if t == "maxpool":
        return _MaxPool(d)
    if t == "avgpool":
        return _GlobalAvg()
    if t == "act":
        return _Act(d)
    if t == "dropout":
        return nn.Dropout(float(d["rate"]))
    if t == "add":
        return _Add()
    if t == "softmax":
        return _Logits()
    raise DorefaError(f"layer type {t} has no PyTorch counterpart here")


class DorefaNet(nn.Module):
    """A dorefa network as a torch.nn.Module (built by to_module or build). Attributes: bits
    ("W,A,G"), quantize_first, quantize_last, bounded_act, input_shape (H, W, C), classes,
    class_names, description (dorefa's text of it)."""

    def __init__(self, description, class_names=None):
        super().__init__()
        head, layers = _parse(description)
        self.description = description
        self.input_shape = _ints(head["input"])
        self.classes = int(head["classes"])
        self.bits = head["bits"]
        self.quantize_first, self.quantize_last = head["first"] == "1", head["last"] == "1"
        self.bounded_act = None if head["bounded"] == "-" else head["bounded"]
        self.class_names = list(class_names) if class_names else [str(i) for i in range(self.classes)]
        self._layers = layers
        self._from = [_ints(d["from"]) for d in layers]
        self.layers = nn.ModuleDict((d["name"], _make(d)) for d in layers)

    def forward(self, x):
        outs = []
        for (name, layer), src in zip(self.layers.items(), self._from):
            args = [x if s < 0 else outs[s] for s in src]
            outs.append(layer(*args))
        return outs[-1]


# ---- conversion ---------------------------------------------------------------------------------

def _load_tensors(net, trainer):
    """dorefa's tensors into the module (exact copies, layouts converted)."""
    with torch.no_grad():
        for d, m in zip(net._layers, net.layers.values()):
            names = [] if d["params"] == "-" else d["params"].split(",")
            if d["type"] in ("conv", "fc"):
                w = trainer.get_tensor(names[0])
                ih, iw, ic = _ints(d["in"])
                oc = _ints(d["out"])[2]
                if d["type"] == "fc":  # [out][h][w][c] -> [out][c][h][w] flattened
                    w = w.reshape(oc, ih, iw, ic).transpose(0, 3, 1, 2).reshape(oc, -1)
                else:
                    w = w.reshape(oc, m.kh, m.kw, ic // m.groups).transpose(0, 3, 1, 2)
                m.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
                if m.bias is not None:
                    m.bias.copy_(torch.from_numpy(trainer.get_tensor(names[1])))
            elif d["type"] == "bn":
                c = _ints(d["in"])[2]
                m.weight.copy_(torch.from_numpy(trainer.get_tensor(names[0])))
                m.bias.copy_(torch.from_numpy(trainer.get_tensor(names[1])))
                st = trainer.get_tensor(d["name"] + ".state")
                m.running_mean.copy_(torch.from_numpy(st[:c]))
                m.running_var.copy_(torch.from_numpy(st[c:]))


def _store_tensors(net, trainer):
    """The module's tensors into dorefa's network (the inverse of _load_tensors)."""
    head, layers = _parse(trainer.describe())
    if [(d["type"], d["name"], d["in"], d["out"]) for d in layers] != \
            [(d["type"], d["name"], d["in"], d["out"]) for d in net._layers]:
        raise DorefaError("the module and the model file describe different networks (layers, names or shapes)")
    for d, m in zip(layers, net.layers.values()):
        names = [] if d["params"] == "-" else d["params"].split(",")
        if d["type"] in ("conv", "fc"):
            w = m.weight.detach().cpu().float().numpy()
            ih, iw, ic = _ints(d["in"])
            oc = _ints(d["out"])[2]
            if d["type"] == "fc":
                w = w.reshape(oc, ic, ih, iw).transpose(0, 2, 3, 1)
            else:
                w = w.transpose(0, 2, 3, 1)
            trainer.set_tensor(names[0], w)
            if m.bias is not None:
                trainer.set_tensor(names[1], m.bias.detach().cpu().float().numpy())
        elif d["type"] == "bn":
            trainer.set_tensor(names[0], m.weight.detach().cpu().float().numpy())
            trainer.set_tensor(names[1], m.bias.detach().cpu().float().numpy())
            trainer.set_tensor(d["name"] + ".state", np.concatenate(
                [m.running_mean.detach().cpu().float().numpy(), m.running_var.detach().cpu().float().numpy()]))


def to_module(checkpoint):
    """A torch.nn.Module of a dorefa checkpoint: its layers, bits, parameters and BN
    statistics (call .eval() for inference, .train() to go on training in PyTorch)."""
    with Trainer.open(checkpoint) as t:
        net = DorefaNet(t.describe(), t.class_names)
        _load_tensors(net, t)
    return net


def build(model, channels, class_names=None, **options):
    """A new network of a model file (or shipped name) for `channels`-channel images, as
    dorefa would initialise it; options as for dorefa.Trainer (bits="1,2,4", seed=1, ...)."""
    with Trainer(model, **options) as t:
        t.build(channels)
        net = DorefaNet(t.describe(), class_names or t.class_names)
        _load_tensors(net, t)
    return net


def from_module(module, model_file, checkpoint, class_names=None):
    """Writes a dorefa checkpoint from a DorefaNet's state (trained in PyTorch, say) for the
    network of model_file under the module's bits and policy; dorefa eval, dorefa export and
    the engine read it. Returns the checkpoint's path."""
    if not isinstance(module, DorefaNet):
        raise TypeError("from_module takes a dorefa.torch.DorefaNet (from to_module or build)")
    opts = dict(bits=module.bits, quantize_first=module.quantize_first, quantize_last=module.quantize_last,
                bounded_act=module.bounded_act)
    with Trainer(model_file, **opts) as t:
        t.build(module.input_shape[2])
        _store_tensors(module, t)
        t.class_names = class_names if class_names is not None else module.class_names
        t.save(checkpoint)
    return checkpoint


def to_input(images):
    """N x H x W x C pixels (0..255, uint8 or float) -> the module's input, N x C x H x W
    pixels / 256 (float32), as dorefa trains on them."""
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))
    if x.ndim == 3:
        x = x[None]
    return x.permute(0, 3, 1, 2).contiguous() / 256.0
