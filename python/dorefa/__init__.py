"""dorefa from Python: train and run low-bitwidth networks, and the DoReFa quantizers.

    import dorefa
    t = dorefa.Trainer("default", bits="1,2,4", epochs=2)   # options of 'dorefa train'
    t.set_data(x_train, y_train, x_test, y_test)             # uint8 N x H x W x C, int labels (or a data path)
    t.train(progress=lambda p: print(p.epoch, p.train_loss)) # return True from it to stop
    t.export("model.dorefa")

    m = dorefa.load("model.dorefa")          # from 'dorefa export CHECKPOINT -o model.dorefa' too
    probs = m.predict(images)                # N x H x W x C pixels (uint8 or float32, 0..255)
    m.input_shape, m.classes, m.bits         # (H, W, C), 10, "1,2,4"
    m.class_names                            # ["T-shirt/top", ..., "Ankle boot"]

    dorefa.f_w(w, 2), dorefa.f_a(x, 2), dorefa.f_g(g, 4, seed=1, step=0, layer=3)

A thin ctypes layer over libdorefa.so (the C API of include/dorefa.h and
include/dorefa_train.h): the values are the C code's. Library errors raise
dorefa.DorefaError with the library's message. The library is found through
DOREFA_LIBRARY, then where 'cmake --install' put it, then in the build tree
beside python/.
"""
import ctypes
import ctypes.util
import os

import numpy as np

__all__ = ["DorefaError", "Model", "load", "Trainer", "Progress", "f_w", "f_a", "f_g", "library_path"]


class DorefaError(Exception):
    """An error of the dorefa library, with its one-line message."""


def _candidates():
    env = os.environ.get("DOREFA_LIBRARY")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        from . import _installed  # written by 'cmake --install'
        yield _installed.LIBRARY
    except ImportError:
        pass
    for build in ("build", "build-release"):
        yield os.path.join(here, "..", "..", build, "libdorefa.so.0")
    found = ctypes.util.find_library("dorefa")
    if found:
        yield found


def _open():
    tried = []
    for path in _candidates():
        if path and (os.path.exists(path) or not os.path.dirname(path)):
            try:
                return ctypes.CDLL(path), path
            except OSError as e:
                tried.append(f"{path}: {e}")
        else:
            tried.append(f"{path}: no such file")
    raise DorefaError("libdorefa.so not found (set DOREFA_LIBRARY, or build with cmake): " + "; ".join(tried))


_lib, library_path = _open()
_f32p = ctypes.POINTER(ctypes.c_float)
_lib.dorefa_load.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)]
_lib.dorefa_free.argtypes = [ctypes.c_void_p]
_lib.dorefa_input_shape.argtypes = [ctypes.c_void_p] + [ctypes.POINTER(ctypes.c_int)] * 3
_lib.dorefa_classes.argtypes = [ctypes.c_void_p]
_lib.dorefa_bits.argtypes = [ctypes.c_void_p]
_lib.dorefa_bits.restype = ctypes.c_char_p
_lib.dorefa_class_name.argtypes = [ctypes.c_void_p, ctypes.c_int]
_lib.dorefa_class_name.restype = ctypes.c_char_p
_lib.dorefa_predict.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]  # data addresses
_lib.dorefa_quantize_weights.argtypes = [_f32p, ctypes.c_long, ctypes.c_int, _f32p]
_lib.dorefa_quantize_activations.argtypes = [_f32p, ctypes.c_long, ctypes.c_int, _f32p]
_lib.dorefa_quantize_gradients.argtypes = [_f32p, ctypes.c_int, ctypes.c_long, ctypes.c_int, ctypes.c_ulonglong,
                                           ctypes.c_ulonglong, ctypes.c_int, _f32p]
_lib.dorefa_last_error.restype = ctypes.c_char_p
_lib.dorefa_version.restype = ctypes.c_char_p
__version__ = _lib.dorefa_version().decode()


def _check(rc):
    if rc != 0:
        raise DorefaError(_lib.dorefa_last_error().decode(errors="replace"))


def _floats(a, what):
    a = np.ascontiguousarray(a, dtype=np.float32)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{what}: values must be finite")
    return a


def _ptr(a):
    return a.ctypes.data_as(_f32p)


class _Closing:
    """close() on leaving a with block, and when garbage-collected."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class Model(_Closing):
    """A deployment file loaded by the fused engine (dorefa_load)."""

    def __init__(self, path, max_batch=128):
        self._m = ctypes.c_void_p()
        _check(_lib.dorefa_load(os.fsencode(path), int(max_batch), ctypes.byref(self._m)))
        h, w, c = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        _lib.dorefa_input_shape(self._m, ctypes.byref(h), ctypes.byref(w), ctypes.byref(c))
        self.input_shape = (h.value, w.value, c.value)
        self.classes = _lib.dorefa_classes(self._m)
        self.bits = _lib.dorefa_bits(self._m).decode()
        self.class_names = [_lib.dorefa_class_name(self._m, i).decode(errors="replace") for i in range(self.classes)]
        self.path = os.fspath(path)

    def predict(self, images):
        """Class probabilities (N x classes float32) of images N x H x W x C (or one
        H x W x C image), pixel values 0..255 as uint8 or float."""
        if self._m is None:
            raise DorefaError(f"{self.path}: the model was closed")
        x = np.asarray(images)
        one = x.ndim == 3
        if one:
            x = x[None]
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"images of shape {np.shape(images)}: the model takes N x {self.input_shape[0]} x "
                             f"{self.input_shape[1]} x {self.input_shape[2]} (height, width, channels)")
        # integer pixels are finite: only floats need the check (it is most of the call's cost at batch 1)
        x = np.ascontiguousarray(x, dtype=np.float32) if x.dtype.kind in "ui" else _floats(x, "images")
        out = np.empty((x.shape[0], self.classes), dtype=np.float32)
        _check(_lib.dorefa_predict(self._m, x.ctypes.data, x.shape[0], out.ctypes.data))
        return out[0] if one else out

    def close(self):
        if self._m is not None:
            _lib.dorefa_free(self._m)
            self._m = None

    def __repr__(self):
        return f"dorefa.Model({self.path!r}: W,A,G = {self.bits}, input {self.input_shape}, {self.classes} classes)"


def load(path, max_batch=128):
    """Loads a deployment file ('dorefa export'): a Model."""
    return Model(path, max_batch)


def f_w(w, bits):
    """f_w^k of an array of weights taken as one layer (float32, same shape)."""
    w = _floats(w, "weights")
    out = np.empty_like(w)
    _check(_lib.dorefa_quantize_weights(_ptr(w), w.size, int(bits), _ptr(out)))
    return out


def f_a(x, bits):
    """f_a^k = quantize_k(x) of values in [0, 1] (float32, same shape)."""
    x = _floats(x, "activations")
    out = np.empty_like(x)
    _check(_lib.dorefa_quantize_activations(_ptr(x), x.size, int(bits), _ptr(out)))
    return out


def f_g(g, bits, seed=0, step=0, layer=0):
    """f_g^k of gradients, the first axis the samples (each sample's maximum
    scales it); the noise is training's for (seed, step, layer, sample)."""
    g = _floats(g, "gradients")
    if g.ndim == 0:
        raise ValueError("gradients: need at least one axis (the samples)")
    out = np.empty_like(g)
    per = g.size // g.shape[0] if g.shape[0] else 0
    _check(_lib.dorefa_quantize_gradients(_ptr(g), g.shape[0], per, int(bits), int(seed), int(step), int(layer),
                                          _ptr(out)))
    return out


# ---- training (include/dorefa_train.h) -------------------------------------------------------------


class Progress(ctypes.Structure):
    """What the progress callback of Trainer.train is given, after every optimizer step
    (end_of_epoch False) and after every epoch's evaluation (end_of_epoch True)."""
    _fields_ = [("epoch", ctypes.c_int), ("epochs", ctypes.c_int), ("images_done", ctypes.c_long),
                ("images", ctypes.c_long), ("step", ctypes.c_ulonglong), ("train_loss", ctypes.c_double),
                ("train_error", ctypes.c_double), ("test_accuracy", ctypes.c_double), ("test_loss", ctypes.c_double),
                ("images_per_second", ctypes.c_double), ("end_of_epoch", ctypes.c_int)]

    def __repr__(self):
        return "Progress(" + ", ".join(f"{k}={getattr(self, k)!r}" for k, _ in self._fields_) + ")"


_PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(Progress), ctypes.c_void_p)
_vpp = ctypes.POINTER(ctypes.c_void_p)
_lib.dorefa_trainer_create.argtypes = [ctypes.c_char_p, ctypes.c_char_p, _vpp]
_lib.dorefa_trainer_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p, _vpp]
_lib.dorefa_trainer_free.argtypes = [ctypes.c_void_p]
_lib.dorefa_trainer_set_data.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_u8p, _i32p = ctypes.POINTER(ctypes.c_ubyte), ctypes.POINTER(ctypes.c_int)
_lib.dorefa_trainer_set_arrays.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, _u8p, _i32p,
                                           ctypes.c_int, _u8p, _i32p, ctypes.c_int, ctypes.c_char_p]
_lib.dorefa_trainer_train.argtypes = [ctypes.c_void_p, ctypes.c_int, _PROGRESS_FN, ctypes.c_void_p]
_lib.dorefa_trainer_evaluate.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_double),
                                         ctypes.POINTER(ctypes.c_double)]
_lib.dorefa_trainer_epoch.argtypes = [ctypes.c_void_p]
_lib.dorefa_trainer_step.argtypes = [ctypes.c_void_p]
_lib.dorefa_trainer_step.restype = ctypes.c_ulonglong
_lib.dorefa_trainer_save.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_lib.dorefa_trainer_export.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_lib.dorefa_trainer_export_first_layer.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
_lib.dorefa_trainer_export_onnx.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_lib.dorefa_trainer_build.argtypes = [ctypes.c_void_p, ctypes.c_int]
_lib.dorefa_trainer_describe.argtypes = [ctypes.c_void_p]
_lib.dorefa_trainer_describe.restype = ctypes.c_char_p
_lib.dorefa_trainer_get_tensor.argtypes = [ctypes.c_void_p, ctypes.c_char_p, _f32p, ctypes.c_long]
_lib.dorefa_trainer_get_tensor.restype = ctypes.c_long
_lib.dorefa_trainer_set_tensor.argtypes = [ctypes.c_void_p, ctypes.c_char_p, _f32p, ctypes.c_long]
_lib.dorefa_trainer_class_name.argtypes = [ctypes.c_void_p, ctypes.c_int]
_lib.dorefa_trainer_class_name.restype = ctypes.c_char_p
_lib.dorefa_trainer_set_class_names.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_lib.dorefa_trainer_predict.argtypes = [ctypes.c_void_p, _f32p, ctypes.c_int, _f32p]


def _options(kwargs):
    """Keyword arguments as the library's options: name=value (underscores as dashes), a True
    flag as its name; '%' and blanks of a value as %XX."""
    out = []
    for k, v in kwargs.items():
        name = k.replace("_", "-")
        if v is None or v is False:
            continue
        if v is True:
            out.append(name)
            continue
        if isinstance(v, (tuple, list)):
            v = ",".join(str(x) for x in v)
        text = "".join(c if c > " " and c != "%" else "%%%02X" % ord(c) for c in str(v))
        out.append(f"{name}={text}")
    return " ".join(out).encode()


def _images(x, what):
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(f"{what}: images of shape {x.shape}: expected N x H x W x C (or N x H x W)")
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.integer) or (x.size and (x.min() < 0 or x.max() > 255)):
            raise ValueError(f"{what}: pixels must be uint8 (or integers 0..255), not {x.dtype}")
        x = x.astype(np.uint8)
    return np.ascontiguousarray(x)


def _labels(y, n, what):
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{what}: labels must be {n} integers (one per image), got shape {y.shape} {y.dtype}")
    return np.ascontiguousarray(y, dtype=np.int32)


class Trainer(_Closing):
    """A network in training (dorefa_trainer): 'dorefa train' as methods.

    Trainer(model, **options): model is a model file or a shipped name ("default", "model-a", ...);
    options are those of 'dorefa train' (bits="1,2,4", epochs=3, lr=1e-3, batch=64, seed=1,
    threads=2, out="runs/x" for a run folder; a flag as True). Trainer.open(checkpoint, **options)
    continues a checkpoint."""

    def __init__(self, model, _checkpoint=None, **options):
        self._t = ctypes.c_void_p()
        if _checkpoint is not None:
            self.path = os.fspath(_checkpoint)
            _check(_lib.dorefa_trainer_open(os.fsencode(_checkpoint), _options(options), ctypes.byref(self._t)))
        else:
            self.path = os.fspath(model)
            _check(_lib.dorefa_trainer_create(os.fsencode(model), _options(options), ctypes.byref(self._t)))
        self._callback_error = None
        self._io = None  # (input shape, classes), once the network is built

    @classmethod
    def open(cls, checkpoint, **options):
        """A trainer going on from a checkpoint (its network, optimizer and progress); options
        may change what 'dorefa train --resume' lets change (epochs, threads, out, ...)."""
        return cls(None, _checkpoint=checkpoint, **options)

    def _handle(self):
        if self._t is None or not self._t.value:
            raise DorefaError(f"{self.path}: the trainer was closed")
        return self._t

    def set_data(self, train_images, train_labels=None, test_images=None, test_labels=None, class_names=None):
        """A data set folder or file (a path, as --data), or arrays: uint8 images N x H x W x C
        (the model's input size) with integer labels, a test set (optional) and class names."""
        t = self._handle()
        if isinstance(train_images, (str, bytes, os.PathLike)):
            _check(_lib.dorefa_trainer_set_data(t, os.fsencode(train_images)))
            return self
        x = _images(train_images, "training data")
        y = _labels(train_labels, x.shape[0], "training data")
        if test_images is None:
            xt = np.zeros((0,) + x.shape[1:], dtype=np.uint8)
            yt = np.zeros(0, dtype=np.int32)
        else:
            xt = _images(test_images, "test data")
            yt = _labels(test_labels, xt.shape[0], "test data")
            if xt.shape[1:] != x.shape[1:]:
                raise ValueError(f"test images are {xt.shape[1:]}, training images {x.shape[1:]}")
        names = None
        if class_names is not None:
            names = list(class_names)
            if any("\n" in str(n) or not str(n) for n in names):
                raise ValueError("class names must be non-empty and one line each")
            names = "\n".join(str(n) for n in names).encode()
        _check(_lib.dorefa_trainer_set_arrays(t, x.shape[1], x.shape[2], x.shape[3], x.ctypes.data_as(_u8p),
                                              y.ctypes.data_as(_i32p), x.shape[0], xt.ctypes.data_as(_u8p),
                                              yt.ctypes.data_as(_i32p), xt.shape[0], names))
        return self

    def train(self, epochs=None, progress=None):
        """Trains `epochs` more epochs (None: up to the epochs option). progress(p) is called
        with a Progress after every step and epoch; returning True stops training there (a
        later train() goes on exactly). An exception in it stops training and is raised."""
        t = self._handle()
        self._callback_error = None

        def call(p, _user):  # also without a progress function: Ctrl-C is seen in it
            try:
                return 1 if progress is not None and progress(p.contents) else 0
            except BaseException as e:  # noqa: B902 - raised again below
                self._callback_error = e
                return 1

        fn = _PROGRESS_FN(call)
        rc = _lib.dorefa_trainer_train(t, int(epochs or 0), fn, None)
        if self._callback_error is not None:
            raise self._callback_error
        _check(rc)
        return self

    def evaluate(self):
        """(accuracy, mean loss) on the test set, in evaluation mode."""
        acc, loss = ctypes.c_double(), ctypes.c_double()
        _check(_lib.dorefa_trainer_evaluate(self._handle(), ctypes.byref(acc), ctypes.byref(loss)))
        return acc.value, loss.value

    @property
    def epoch(self):
        """Epochs completed."""
        return _lib.dorefa_trainer_epoch(self._handle())

    @property
    def step(self):
        """Optimizer steps taken."""
        return _lib.dorefa_trainer_step(self._handle())

    def build(self, channels):
        """Builds the network for images of `channels` channels without data (its weights from
        the seed), to read or set its tensors, save or export it."""
        _check(_lib.dorefa_trainer_build(self._handle(), int(channels)))
        return self

    @property
    def class_names(self):
        """The network's class names (numbers where unnamed; [] before it is built)."""
        names, i = [], 0
        while True:
            n = _lib.dorefa_trainer_class_name(self._handle(), i)
            if n is None:
                return names
            names.append(n.decode(errors="replace"))
            i += 1

    @class_names.setter
    def class_names(self, names):
        names = [str(n) for n in names]
        if any("\n" in n or not n for n in names):
            raise ValueError("class names must be non-empty and one line each")
        _check(_lib.dorefa_trainer_set_class_names(self._handle(), "\n".join(names).encode()))

    def describe(self):
        """The network as text, a line per layer (include/dorefa_train.h says what each key means)."""
        text = _lib.dorefa_trainer_describe(self._handle())
        if text is None:
            raise DorefaError(_lib.dorefa_last_error().decode(errors="replace"))
        return text.decode()

    def get_tensor(self, name):
        """A parameter ("conv1.w", dorefa's layout: [out][kh][kw][in], channels innermost) or a
        layer's state ("bn1.state": running mean then variance), as a flat float32 array."""
        n = _lib.dorefa_trainer_get_tensor(self._handle(), name.encode(), None, 0)
        if n < 0:
            raise DorefaError(_lib.dorefa_last_error().decode(errors="replace"))
        out = np.empty(n, dtype=np.float32)
        _lib.dorefa_trainer_get_tensor(self._t, name.encode(), _ptr(out), n)
        return out

    def set_tensor(self, name, values):
        """Sets a tensor (get_tensor's layout and count) from values."""
        v = np.ascontiguousarray(values, dtype=np.float32).ravel()
        _check(_lib.dorefa_trainer_set_tensor(self._handle(), name.encode(), _ptr(v), v.size))
        return self

    def predict(self, images):
        """Class probabilities of images (N x H x W x C pixels 0..255) from the training graph in
        evaluation mode (Model.predict runs the exported engine)."""
        x = np.asarray(images)
        if x.ndim == 3:
            x = x[None]
        x = _floats(x, "images")
        n = x.shape[0]
        if n and x[0].size == 0:
            raise ValueError("images: empty")
        if self._io is None:  # a built network keeps its input and classes: read them once
            first = self.describe().splitlines()[0]
            self._io = (tuple(int(v) for v in first.split("input=")[1].split()[0].split(",")),
                        int(first.split("classes=")[1].split()[0]))
        shape, classes = self._io
        if tuple(x.shape[1:]) != shape:
            raise ValueError(f"images of shape {np.shape(images)}: the network takes N x {shape[0]} x {shape[1]} x "
                             f"{shape[2]}")
        out = np.empty((n, classes), dtype=np.float32)
        _check(_lib.dorefa_trainer_predict(self._t, _ptr(x), n, _ptr(out)))
        return out

    def save(self, checkpoint):
        """Writes a checkpoint (for dorefa eval/export, --resume, Trainer.open, dorefa.torch)."""
        _check(_lib.dorefa_trainer_save(self._handle(), os.fsencode(checkpoint)))
        return os.fspath(checkpoint)

    def export(self, model_file, format="dorefa", first_layer=None):
        """Writes a deployment file for the engine (dorefa.load reads it), or with
        format="onnx" an ONNX model ('dorefa export --format onnx'); returns its path.
        first_layer: "int8" (8-bit weights, the engine's integer kernels) or "float"
        ('dorefa export --first-layer'); None: the default."""
        if format not in ("dorefa", "onnx"):
            raise ValueError(f"format {format!r}: expected 'dorefa' or 'onnx'")
        if first_layer not in (None, "int8", "float"):
            raise ValueError(f"first_layer {first_layer!r}: expected 'int8' or 'float'")
        if format == "onnx":
            if first_layer is not None:
                raise ValueError("first_layer applies to format='dorefa' only")
            _check(_lib.dorefa_trainer_export_onnx(self._handle(), os.fsencode(model_file)))
        else:
            _check(_lib.dorefa_trainer_export_first_layer(self._handle(), os.fsencode(model_file),
                                                          first_layer.encode() if first_layer else None))
        return os.fspath(model_file)

    def close(self):
        if getattr(self, "_t", None) is not None and self._t.value:
            _lib.dorefa_trainer_free(self._t)
        self._t = None
