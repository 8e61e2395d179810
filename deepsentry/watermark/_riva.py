"""The RivaGAN encoder/decoder networks shipped in the invisible-watermark wheel, run in NumPy by FFT.

The wheel ships two ONNX graphs (``rivagan_encoder.onnx``, ``rivagan_decoder.onnx``). Every
convolution in them is a 3-D convolution with a (1, 11, 11) kernel on a single frame, i.e. a 2-D
11x11 convolution. onnxruntime runs those through im2col + GEMM: ~240 ms (encoder) and ~320 ms
(decoder) for the two halves of a 160-px canonical copy on one core of this machine. An 11x11 kernel
is large enough that the convolution is much cheaper as a product of spectra, so this module reads
the weights out of the ONNX files (a small protobuf reader: no ``onnx`` package needed) and runs the
same networks with ``scipy.fft``: rfft of each input map once, one complex matrix product per
frequency (32 x 32 for the wide layers), one inverse rfft per output map. The results match
onnxruntime to float32 rounding (``tests/watermark``: max |difference| of scores < 1e-3).

Weight spectra depend on the FFT size; they are cached per size (~110 MB for a wide layer at the
canonical size; the most recent sizes up to SPECTRA_BYTES per layer) and computed as a separable
11-tap DFT (~0.07 s for a 32 x 32 layer). The product streams them from memory, so a smaller input
reads about twice as fast at its own FFT size (the reader's crop hypotheses) as padded to a larger
one. ``backend="onnx"`` runs the original graphs with onnxruntime
(one thread) for comparison.
"""

from __future__ import annotations

import importlib.util
import os
import struct
import threading
from collections import OrderedDict
import weakref
from functools import lru_cache
from pathlib import Path

import numpy as np

from deepsentry.errors import ModelUnavailable

_lock = threading.Lock()
_sessions: dict[str, object] = {}
RADIUS = 5                    # the kernels are 11 x 11
SPECTRA_BYTES = 320 << 20     # per layer, weight spectra of the most recent FFT sizes are kept up to this size (the
                              # newest always): a wide layer's take ~110 / 65 / 40 MB at the canonical copy of a
                              # 16:9 frame and its 0.8x and 0.6x crop copies (280 MB for 2.4:1), under the bound


def _model_dir() -> Path:
    """The installed ``imwatermark`` package's folder, found without importing it (its import pulls in
    onnxruntime and PyWavelets: ~1.3 s that a reader using the FFT backend does not need)."""
    spec = importlib.util.find_spec("imwatermark")
    if spec is None or not spec.origin:
        raise ModelUnavailable("invisible-watermark is not installed (pip install --no-deps invisible-watermark)")
    return Path(spec.origin).resolve().parent


def _model_path(name: str) -> Path:
    path = _model_dir() / f"rivagan_{name}.onnx"
    if not path.is_file():
        raise ModelUnavailable(f"RivaGAN model missing: {path}")
    return path


def _threads() -> int:
    """Threads for reading frames in parallel and for the video codecs: DEEPSENTRY_WM_THREADS, else
    the CPU count up to 4. Each network run itself is single-threaded (FFT workers=1: on this
    problem size more FFT workers did not help; whole frames in parallel do)."""
    from deepsentry.settings import load_settings

    env = load_settings().wm_threads
    if env:
        return max(1, env)
    return max(1, min(4, os.cpu_count() or 1))


# --------------------------------------------------------------------------- minimal ONNX (protobuf) reader
def _varint(b: bytes, i: int) -> tuple[int, int]:
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def _fields(b: bytes):
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 2:
            n, i = _varint(b, i)
            v = b[i:i + n]
            i += n
        elif wt == 5:
            v = b[i:i + 4]
            i += 4
        elif wt == 1:
            v = b[i:i + 8]
            i += 8
        else:
            raise ModelUnavailable(f"unexpected protobuf wire type {wt} in RivaGAN model")
        yield f, wt, v


def _packed(v, wt) -> list[int]:
    if wt == 0:
        return [v]
    out, j = [], 0
    while j < len(v):
        d, j = _varint(v, j)
        out.append(d)
    return out


def _tensor(b: bytes) -> tuple[str, np.ndarray]:
    """TensorProto -> (name, array); float32 / int64 tensors only (all this model has)."""
    dims: list[int] = []
    name, raw, dtype, floats = "", None, 1, []
    for f, wt, v in _fields(b):
        if f == 1:
            dims += _packed(v, wt)
        elif f == 2:
            dtype = v
        elif f == 8:
            name = v.decode()
        elif f == 9:
            raw = v
        elif f == 4:
            floats += list(np.frombuffer(v, "<f4")) if wt == 2 else [struct.unpack("<f", v)[0]]
    if raw is not None:
        arr = np.frombuffer(raw, {1: "<f4", 7: "<i8"}[dtype]).reshape(dims)
    else:
        arr = np.asarray(floats, np.float32).reshape(dims)
    return name, arr


@lru_cache(maxsize=2)
def _graph(name: str) -> tuple[list[dict], dict[str, np.ndarray]]:
    """(nodes, initializers + constants) of one of the two RivaGAN graphs."""
    data = _model_path(name).read_bytes()
    graph = next(v for f, _, v in _fields(data) if f == 7)
    nodes, tensors = [], {}
    for f, _, v in _fields(graph):
        if f == 5:
            tname, arr = _tensor(v)
            tensors[tname] = arr
        elif f == 1:
            node: dict = {"input": [], "output": [], "op": "", "attrs": {}}
            for f2, wt2, v2 in _fields(v):
                if f2 == 1:
                    node["input"].append(v2.decode())
                elif f2 == 2:
                    node["output"].append(v2.decode())
                elif f2 == 4:
                    node["op"] = v2.decode()
                elif f2 == 5:
                    attr: dict = {}
                    for f3, wt3, v3 in _fields(v2):
                        if f3 == 1:
                            attr["name"] = v3.decode()
                        elif f3 == 2:
                            attr["f"] = struct.unpack("<f", v3)[0]
                        elif f3 == 5:
                            attr["t"] = _tensor(v3)[1]
                    node["attrs"][attr.get("name", "")] = attr
            if node["op"] == "Constant" and "t" in node["attrs"].get("value", {}):
                tensors[node["output"][0]] = node["attrs"]["value"]["t"]
            nodes.append(node)
    return nodes, tensors


class _Conv:
    """One 11x11 convolution layer (weights O x C x 11 x 11, bias O), with its spectra per FFT size."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        w = np.asarray(weight, np.float32)
        if w.ndim == 5:
            w = w[:, :, 0]
        if w.shape[-2:] != (2 * RADIUS + 1, 2 * RADIUS + 1):
            raise ModelUnavailable(f"unexpected RivaGAN kernel shape {w.shape}")
        self.weight = w
        self.bias = np.asarray(bias, np.float32)
        self._spectra: OrderedDict = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()      # frames are read on several threads

    def spectrum(self, shape: tuple[int, int]) -> np.ndarray:
        """(frequencies, O, C) complex64: the correlation kernels as circular convolutions, centred."""
        with self._lock:
            spec = self._spectra.get(shape)
            if spec is not None:
                self._spectra.move_to_end(shape)
                return spec
            spec = self._compute(shape)
            self._spectra[shape] = spec
            self._bytes += spec.nbytes
            while len(self._spectra) > 1 and self._bytes > SPECTRA_BYTES:
                self._bytes -= self._spectra.popitem(last=False)[1].nbytes
            return spec

    def _compute(self, shape: tuple[int, int]) -> np.ndarray:
        # The kernel is 11 x 11, so its spectrum is a separable DFT of 11 taps per axis: two small
        # complex matrix products (about 3x faster than FFTs of the zero-padded kernels, and no
        # O x C x H x W padded array). Tap a sits at offset a - RADIUS; correlation conjugates the phase.
        o, c, k, _ = self.weight.shape
        n1, n2 = shape
        taps = np.arange(k) - RADIUS
        e1 = np.exp(2j * np.pi * np.outer(np.arange(n1), taps) / n1).astype(np.complex64)           # (N1, k)
        e2 = np.exp(2j * np.pi * np.outer(np.arange(n2 // 2 + 1), taps) / n2).astype(np.complex64)  # (F2, k)
        w = self.weight.transpose(2, 3, 0, 1).reshape(k, k, o * c).astype(np.complex64)           # (a, b, OC)
        cols = np.matmul(e2[None], w)                                                                # (a, F2, OC)
        return (e1 @ cols.reshape(k, -1)).reshape(-1, o, c)                                          # (F, O, C)


def _bn(tensors: dict, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    g, b = tensors[prefix + ".weight"], tensors[prefix + ".bias"]
    m, v = tensors[prefix + ".running_mean"], tensors[prefix + ".running_var"]
    scale = (g / np.sqrt(v + 1e-5)).astype(np.float32)
    return scale[:, None, None], (b - m * scale).astype(np.float32)[:, None, None]


_LOADED: "weakref.WeakSet[_Net]" = weakref.WeakSet()     # the networks loaded in this process


class _Net:
    """Weights of one RivaGAN network (attention branch + conv branch)."""

    def __init__(self, name: str) -> None:
        nodes, t = _graph(name)
        self.name = name
        _LOADED.add(self)
        self.att0 = _Conv(t["_attention.0.weight"], t["_attention.0.bias"])
        self.att3 = _Conv(t["_attention.3.weight"], t["_attention.3.bias"])
        self.bn_att2 = _bn(t, "_attention.2")
        self.bn_att5 = _bn(t, "_attention.5")
        self.conv0 = _Conv(t["_conv.0.weight"], t["_conv.0.bias"])
        self.conv3 = _Conv(t["_conv.3.weight"], t["_conv.3.bias"])
        self.bn_conv2 = _bn(t, "_conv.2")
        self.linf = 1.0
        if name == "encoder":
            # output = frame + linf * tanh(conv): the scale is the constant multiplied in before the Add
            mul = [n for n in nodes if n["op"] == "Mul" and n["output"] and
                   any(m["op"] == "Add" and n["output"][0] in m["input"] for m in nodes)]
            consts = [t[i] for i in mul[0]["input"] if i in t] if mul else []
            if not consts:
                raise ModelUnavailable("cannot find the RivaGAN encoder's output scale")
            self.linf = float(np.asarray(consts[0]).reshape(-1)[0])
        # the first layers of both branches read the same input: one matrix product for both
        if name == "decoder":
            self.first = _Conv(np.concatenate([self.att0.weight, self.conv0.weight]),
                               np.concatenate([self.att0.bias, self.conv0.bias]))


@lru_cache(maxsize=2)
def _net(name: str) -> _Net:
    return _Net(name)


def release_spectra() -> int:
    """Drop the cached weight spectra of every loaded network (they are rebuilt on the next read, at
    some cost to its speed); returns the bytes released. For a long-running process going idle."""
    freed = 0
    for net in list(_LOADED):
        for layer in vars(net).values():
            if isinstance(layer, _Conv):
                with layer._lock:
                    freed += layer._bytes
                    layer._spectra.clear()
                    layer._bytes = 0
    return freed


def _fft_shape(h: int, w: int) -> tuple[int, int]:
    from scipy import fft as sfft

    return sfft.next_fast_len(h + RADIUS, real=True), sfft.next_fast_len(w + RADIUS, real=True)


def _rfft(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    from scipy import fft as sfft

    return sfft.rfft2(x, s=shape, workers=1)


def _conv(spec: np.ndarray, layer: _Conv, shape: tuple[int, int], hw: tuple[int, int]) -> np.ndarray:
    """The layer applied to inputs given by their spectra (N, C, F1, F2): (N, O, H, W) float32."""
    from scipy import fft as sfft

    n, c = spec.shape[:2]
    w = layer.spectrum(shape)
    x = spec.reshape(n, c, -1).transpose(2, 1, 0)               # (F, C, N)
    y = np.matmul(w, x)                                         # (F, O, N)
    y = np.ascontiguousarray(y.transpose(2, 1, 0)).reshape((n, w.shape[1]) + spec.shape[2:])
    out = sfft.irfft2(y, s=shape, workers=1)[:, :, :hw[0], :hw[1]]
    return out + layer.bias[:, None, None]


def _softmax(x: np.ndarray, axis: int = 1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def _bn_tanh(x: np.ndarray, bn: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    np.tanh(x, out=x)
    x *= bn[0]
    x += bn[1]
    return x


def _attention(net: _Net, a1: np.ndarray, shape, hw) -> np.ndarray:
    a2 = _bn_tanh(_conv(_rfft(a1, shape), net.att3, shape, hw), net.bn_att5)
    return _softmax(a2, axis=1)


def _to_input(batch: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) RGB 0..255 -> (N, 3, H, W) in [-1, 1]."""
    x = batch.astype(np.float32) * (1.0 / 127.5) - 1.0
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _fft_encode(x: np.ndarray, words: np.ndarray) -> np.ndarray:
    """Encoder output minus input, (N, 3, H, W), in [-1, 1] units (before clipping)."""
    net = _net("encoder")
    hw = x.shape[2:]
    shape = _fft_shape(*hw)
    xs = _rfft(x, shape)
    a1 = _bn_tanh(_conv(xs, net.att0, shape, hw), net.bn_att2)
    att = _attention(net, a1, shape, hw)
    signs = (words.astype(np.float32) * 2.0 - 1.0)[:, :, None, None]
    m = np.sum(att * signs, axis=1, keepdims=True)
    spec = np.concatenate([xs, _rfft(m, shape)], axis=1)
    h = _bn_tanh(_conv(spec, net.conv0, shape, hw), net.bn_conv2)
    return np.tanh(_conv(_rfft(h, shape), net.conv3, shape, hw)) * net.linf


def _fft_decode(x: np.ndarray) -> np.ndarray:
    net = _net("decoder")
    hw = x.shape[2:]
    shape = _fft_shape(*hw)
    first = _conv(_rfft(x, shape), net.first, shape, hw)
    k = net.att0.weight.shape[0]
    a1 = _bn_tanh(first[:, :k], net.bn_att2)
    c1 = _bn_tanh(first[:, k:], net.bn_conv2)
    att = _attention(net, a1, shape, hw)
    c2 = _conv(_rfft(c1, shape), net.conv3, shape, hw)
    return np.mean((c2 * att).reshape(x.shape[0], c2.shape[1], -1), axis=2)


@lru_cache(maxsize=2)
def torch_decoder(device: str = "cpu"):
    """The decoder as a differentiable torch function on ``device``: (N, 3, H, W) in [-1, 1] -> (N, 32) scores.

    Same weights and layers as :func:`decode_scores` (direct 11x11 convolutions: with autograd they
    were faster on this CPU than torch's FFT). Used to refine a residual by gradient steps (``_refine``).
    """
    import torch
    import torch.nn.functional as F

    net = _net("decoder")

    def t(a):
        return torch.from_numpy(np.array(a, np.float32)).to(device)

    conv = {k: (t(getattr(net, k).weight), t(getattr(net, k).bias)) for k in ("att0", "att3", "conv0", "conv3")}
    bn = {k: (t(v[0]), t(v[1])) for k, v in (("att2", net.bn_att2), ("att5", net.bn_att5), ("conv2", net.bn_conv2))}

    def layer(x, name, norm):
        y = torch.tanh(F.conv2d(x, *conv[name], padding=RADIUS))
        return y * bn[norm][0] + bn[norm][1]

    def decode(x):
        att = torch.softmax(layer(layer(x, "att0", "att2"), "att3", "att5"), dim=1)
        c = F.conv2d(layer(x, "conv0", "conv2"), *conv["conv3"], padding=RADIUS)
        return (c * att).flatten(2).mean(2)

    return decode


# ------------------------------------------------------------------------------ onnxruntime (reference)
def session(name: str):
    """The cached onnxruntime session for ``encoder`` or ``decoder`` (reference backend)."""
    sess = _sessions.get(name)
    if sess is not None:
        return sess
    with _lock:
        sess = _sessions.get(name)
        if sess is None:
            try:
                import onnxruntime as ort
            except ImportError as exc:  # pragma: no cover - install problem
                raise ModelUnavailable("onnxruntime is not installed") from exc
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = _threads()
            opts.inter_op_num_threads = 1
            sess = ort.InferenceSession(str(_model_path(name)), opts, providers=["CPUExecutionProvider"])
            _sessions[name] = sess
    return sess


def load(name: str) -> None:
    """Load (and check) a network's weights up front, so the first frame does not pay for it."""
    _net(name)


# ----------------------------------------------------------------------------------------------- API
def encode_residual(batch: np.ndarray, words: np.ndarray, *, backend: str = "fft") -> np.ndarray:
    """Residual (in 0..255 units, float32, N x H x W x 3) the encoder adds to each image for its word."""
    x = _to_input(batch)
    if backend == "onnx":
        out = session("encoder").run(None, {"frame": x[:, :, None], "data": words.astype(np.float32)})[0][:, :, 0]
    else:
        out = x + _fft_encode(x, words)
    return ((np.clip(out, -1.0, 1.0) - x).transpose(0, 2, 3, 1) * 127.5).astype(np.float32)


def decode_scores(batch: np.ndarray, *, backend: str = "fft") -> np.ndarray:
    """Raw decoder scores (N x 32); > 0 reads as bit 1."""
    x = _to_input(batch)
    if backend == "onnx":
        return session("decoder").run(None, {"frame": x[:, :, None]})[0]
    return _fft_decode(x).astype(np.float32)
