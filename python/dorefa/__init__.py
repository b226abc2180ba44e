"""dorefa from Python: run exported low-bitwidth networks, and the DoReFa quantizers.

    import dorefa
    m = dorefa.load("model.dorefa")          # from 'dorefa export CHECKPOINT -o model.dorefa'
    probs = m.predict(images)                # N x H x W x C pixels (uint8 or float32, 0..255)
    m.input_shape, m.classes, m.bits         # (H, W, C), 10, "1,2,4"

    dorefa.f_w(w, 2), dorefa.f_a(x, 2), dorefa.f_g(g, 4, seed=1, step=0, layer=3)

A thin ctypes layer over libdorefa.so (the C API of include/dorefa.h): the
values are the C code's. Library errors raise dorefa.DorefaError with the
library's message. The library is found through DOREFA_LIBRARY, then where
'cmake --install' put it, then in the build tree beside python/.
"""
import ctypes
import ctypes.util
import os

import numpy as np

__all__ = ["DorefaError", "Model", "load", "f_w", "f_a", "f_g", "library_path"]


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
_lib.dorefa_predict.argtypes = [ctypes.c_void_p, _f32p, ctypes.c_int, _f32p]
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


class Model:
    """A deployment file loaded by the fused engine (dorefa_load)."""

    def __init__(self, path, max_batch=128):
        self._m = ctypes.c_void_p()
        _check(_lib.dorefa_load(os.fsencode(path), int(max_batch), ctypes.byref(self._m)))
        h, w, c = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        _lib.dorefa_input_shape(self._m, ctypes.byref(h), ctypes.byref(w), ctypes.byref(c))
        self.input_shape = (h.value, w.value, c.value)
        self.classes = _lib.dorefa_classes(self._m)
        self.bits = _lib.dorefa_bits(self._m).decode()
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
        x = _floats(x, "images")
        out = np.empty((x.shape[0], self.classes), dtype=np.float32)
        _check(_lib.dorefa_predict(self._m, _ptr(x), x.shape[0], _ptr(out)))
        return out[0] if one else out

    def close(self):
        if self._m is not None:
            _lib.dorefa_free(self._m)
            self._m = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

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
