"""The RivaGAN encoder/decoder networks shipped in the invisible-watermark wheel, run with onnxruntime.

We call the ONNX sessions directly (not ``imwatermark.WatermarkEncoder``) because we need the raw
decoder outputs (soft per-bit scores), batching of the two half-frames in one call, and no torch.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from deepsentry.errors import ModelUnavailable

_lock = threading.Lock()
_sessions: dict[str, object] = {}


def _model_dir() -> Path:
    try:
        import imwatermark
    except ImportError as exc:  # pragma: no cover - install problem
        raise ModelUnavailable("invisible-watermark is not installed (pip install --no-deps invisible-watermark)") from exc
    return Path(imwatermark.__file__).resolve().parent


def _threads() -> int:
    env = os.environ.get("DEEPSENTRY_WM_THREADS")
    if env:
        return max(1, int(env))
    return max(1, min(2, os.cpu_count() or 1))


def session(name: str):
    """The cached onnxruntime session for ``encoder`` or ``decoder``."""
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
            path = _model_dir() / f"rivagan_{name}.onnx"
            if not path.is_file():
                raise ModelUnavailable(f"RivaGAN model missing: {path}")
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = _threads()
            opts.inter_op_num_threads = 1
            sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            _sessions[name] = sess
    return sess


def _to_input(batch: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) RGB 0..255 -> (N, 3, 1, H, W) in [-1, 1]."""
    x = batch.astype(np.float32) * (1.0 / 127.5) - 1.0
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)[:, :, None])


def encode_residual(batch: np.ndarray, words: np.ndarray) -> np.ndarray:
    """Residual (in 0..255 units, float32, N x H x W x 3) the encoder adds to each image for its word."""
    x = _to_input(batch)
    out = session("encoder").run(None, {"frame": x, "data": words.astype(np.float32)})[0]
    return ((np.clip(out, -1.0, 1.0) - x)[:, :, 0].transpose(0, 2, 3, 1) * 127.5).astype(np.float32)


def decode_scores(batch: np.ndarray) -> np.ndarray:
    """Raw decoder scores (N x 32); > 0 reads as bit 1."""
    return session("decoder").run(None, {"frame": _to_input(batch)})[0]
