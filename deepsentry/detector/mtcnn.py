"""MTCNN (Zhang et al. 2016): the three cascaded networks and the search, using the trained weights that
ship inside the ``facenet-pytorch`` wheel (``facenet_pytorch/data/{pnet,rnet,onet}.pt``).

The weights are read from the installed package's folder without importing the package: facenet-pytorch
imports torchvision (for one NMS call), and torchvision's libraries add about 165 MB to the resident memory
of every process that loads the detector. The search follows facenet-pytorch's ``detect_face`` step for
step (image pyramid, P-Net proposals, R-Net and O-Net refinement, the same thresholds, NMS rules and box
arithmetic), so boxes, scores and landmarks agree with it; a test compares the two on the fixtures.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from deepsentry.errors import ModelUnavailable

THRESHOLDS = (0.6, 0.7, 0.7)     # P-Net, R-Net, O-Net face probability
FACTOR = 0.709                   # pyramid step


def weights_dir() -> Path:
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable("the face detector's weights need the 'facenet-pytorch' package "
                               "(pip install --no-deps facenet-pytorch)", code="face_model_missing")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _load(net: nn.Module, name: str) -> nn.Module:
    state = torch.load(weights_dir() / f"{name}.pt", map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    return net.eval()


class PNet(nn.Module):
    """Proposal network: fully convolutional, a face score and a box offset per 12 px cell (stride 2)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, x):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), F.softmax(self.conv4_1(x), dim=1)


class RNet(nn.Module):
    """Refinement network on 24 px candidates."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        # the weights were converted from Caffe/TF: the dense layer reads the map in (w, h, c) order
        x = self.prelu4(self.dense4(x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)))
        return self.dense5_2(x), F.softmax(self.dense5_1(x), dim=1)


class ONet(nn.Module):
    """Output network on 48 px candidates: score, box offset and five landmarks."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)))
        return self.dense6_2(x), self.dense6_3(x), F.softmax(self.dense6_1(x), dim=1)


def _nms(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou: float,
         *, plus_one: bool = False, by_min: bool = False) -> torch.Tensor:
    """Greedy NMS within each group (boxes of different groups never suppress each other): the kept
    indices, best score first. ``plus_one`` counts pixels inclusively; ``by_min`` divides the overlap by
    the smaller area instead of the union (MTCNN's last stage)."""
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long)
    b = boxes.detach().double().numpy().copy()
    b += (groups.double().numpy() * (b.max() + 1.0))[:, None]
    s = scores.detach().double().numpy()
    one = 1.0 if plus_one else 0.0
    area = (b[:, 2] - b[:, 0] + one) * (b[:, 3] - b[:, 1] + one)
    order = np.argsort(-s, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(b[i, 2], b[rest, 2]) - np.maximum(b[i, 0], b[rest, 0]) + one)
        h = np.maximum(0.0, np.minimum(b[i, 3], b[rest, 3]) - np.maximum(b[i, 1], b[rest, 1]) + one)
        inter = w * h
        denom = np.minimum(area[i], area[rest]) if by_min else area[i] + area[rest] - inter
        order = rest[inter / denom <= iou]
    return torch.as_tensor(np.array(keep, np.int64))


def _regress(boxes: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out = boxes.clone()
    out[:, :4] = boxes[:, :4] + reg[:, :4] * torch.stack([w, h, w, h], dim=1)
    return out


def _square(boxes: torch.Tensor) -> torch.Tensor:
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = torch.max(w, h)
    out = boxes.clone()
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _patches(imgs: torch.Tensor, boxes: torch.Tensor, inds: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each candidate's region (clipped to the image, 1-based like the reference) resized to ``size``,
    normalised; and which candidates had a non-empty region."""
    h, w = imgs.shape[2:]
    b = boxes[:, :4].trunc().int().numpy()
    x = np.maximum(b[:, 0], 1)
    y = np.maximum(b[:, 1], 1)
    ex = np.minimum(b[:, 2], w)
    ey = np.minimum(b[:, 3], h)
    ok = (ey > y - 1) & (ex > x - 1)
    crops = [F.interpolate(imgs[inds[k], :, y[k] - 1:ey[k], x[k] - 1:ex[k]].unsqueeze(0), size=(size, size),
                           mode="area") for k in np.flatnonzero(ok)]
    data = torch.cat(crops) if crops else torch.empty(0, 3, size, size)
    return (data - 127.5) * 0.0078125, torch.as_tensor(ok)


class MTCNN:
    """The three networks, loaded once; :meth:`detect` searches a batch of same-size RGB frames."""

    def __init__(self, device: str = "cpu"):
        self.device = device
        self.pnet = _load(PNet(), "pnet").to(device)
        self.rnet = _load(RNet(), "rnet").to(device)
        self.onet = _load(ONet(), "onet").to(device)

    @torch.inference_mode()
    def detect(self, frames: np.ndarray, min_face: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Faces of at least ``min_face`` px in each of ``frames`` ((N, H, W, 3) uint8): per frame,
        ``(boxes (k, 4) x1y1x2y2, probabilities (k,), landmarks (k, 5, 2))``, largest face first."""
        imgs = torch.as_tensor(np.ascontiguousarray(frames), device=self.device).permute(0, 3, 1, 2).float()
        n, _, h, w = imgs.shape
        boxes, inds = self._propose(imgs, min_face)
        if len(boxes):
            boxes, inds = self._refine(imgs, boxes, inds)
        points = torch.zeros(0, 5, 2)
        if len(boxes):
            boxes, inds, points = self._output(imgs, boxes, inds)
        boxes, inds, points = boxes.cpu().numpy(), inds.cpu().numpy(), points.cpu().numpy()
        out = []
        for i in range(n):
            m = inds == i
            b, p = boxes[m], points[m]
            order = np.argsort((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))[::-1]
            out.append((b[order, :4], b[order, 4], p[order]))
        return out

    def _propose(self, imgs: torch.Tensor, min_face: int) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = imgs.shape[2:]
        scale = 12.0 / min_face
        side = min(h, w) * scale
        found, found_inds = [], []
        while side >= 12:
            data = F.interpolate(imgs, size=(int(h * scale + 1), int(w * scale + 1)), mode="area")
            reg, prob = self.pnet((data - 127.5) * 0.0078125)
            cells = prob[:, 1] >= THRESHOLDS[0]
            where = cells.nonzero()
            xy = where[:, 1:].flip(1).float()                      # (x, y) of each cell
            q1 = ((2 * xy + 1) / scale).floor()
            q2 = ((2 * xy + 12) / scale).floor()
            cand = torch.cat([q1, q2, prob[:, 1][cells].unsqueeze(1), reg.permute(0, 2, 3, 1)[cells]], dim=1)
            keep = _nms(cand[:, :4], cand[:, 4], where[:, 0], 0.5)
            found.append(cand[keep])
            found_inds.append(where[keep, 0])
            scale *= FACTOR
            side *= FACTOR
        boxes = torch.cat(found) if found else torch.zeros(0, 9)
        inds = torch.cat(found_inds) if found_inds else torch.zeros(0, dtype=torch.long)
        keep = _nms(boxes[:, :4], boxes[:, 4], inds, 0.7)
        boxes, inds = boxes[keep], inds[keep]
        bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        moved = torch.stack([boxes[:, 0] + boxes[:, 5] * bw, boxes[:, 1] + boxes[:, 6] * bh,
                             boxes[:, 2] + boxes[:, 7] * bw, boxes[:, 3] + boxes[:, 8] * bh, boxes[:, 4]], dim=1)
        return _square(moved), inds

    def _refine(self, imgs, boxes, inds):
        data, ok = _patches(imgs, boxes, inds, 24)
        boxes, inds = boxes[ok], inds[ok]
        reg, prob = self.rnet(data)
        score = prob[:, 1]
        passed = score > THRESHOLDS[1]
        boxes = torch.cat([boxes[passed, :4], score[passed].unsqueeze(1)], dim=1)
        inds, reg = inds[passed], reg[passed]
        keep = _nms(boxes[:, :4], boxes[:, 4], inds, 0.7)
        return _square(_regress(boxes[keep], reg[keep])), inds[keep]

    def _output(self, imgs, boxes, inds):
        data, ok = _patches(imgs, boxes, inds, 48)
        boxes, inds = boxes[ok], inds[ok]
        reg, marks, prob = self.onet(data)
        score = prob[:, 1]
        passed = score > THRESHOLDS[2]
        boxes = torch.cat([boxes[passed, :4], score[passed].unsqueeze(1)], dim=1)
        inds, reg, marks = inds[passed], reg[passed], marks[passed]
        bw = (boxes[:, 2] - boxes[:, 0] + 1).unsqueeze(1)
        bh = (boxes[:, 3] - boxes[:, 1] + 1).unsqueeze(1)
        points = torch.stack([bw * marks[:, :5] + boxes[:, :1] - 1, bh * marks[:, 5:] + boxes[:, 1:2] - 1], dim=2)
        boxes = _regress(boxes, reg)
        keep = _nms(boxes[:, :4], boxes[:, 4], inds, 0.7, plus_one=True, by_min=True)
        return boxes[keep], inds[keep], points[keep]
