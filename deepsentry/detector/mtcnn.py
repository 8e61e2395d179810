"""MTCNN (Zhang et al. 2016): the three cascaded networks and the search, using the trained weights that
ship inside the ``facenet-pytorch`` wheel (``facenet_pytorch/data/{pnet,rnet,onet}.pt``).

The weights are read from the installed package's folder without importing the package: facenet-pytorch
imports torchvision (for one NMS call), and torchvision's libraries add about 165 MB to the resident memory
of every process that loads the detector. The search follows facenet-pytorch's ``detect_face`` step for
step (image pyramid, P-Net proposals, R-Net and O-Net refinement, the same thresholds, NMS rules and box
arithmetic), so boxes, scores and landmarks agree with it; a test compares the two on the fixtures.

One thing is done differently, for speed: every area resampling (each pyramid level, each candidate's
24 or 48 px patch) is read from one integer summed-area table of the batch, built once per search, where
facenet-pytorch averages the frame again for every level and resizes the candidates one at a time. The
cells and their averages are the same (an exact integer sum divided by the cell's pixel count; a test
compares the two), and the frame is read once per search instead of once per level and candidate.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from deepsentry.detector.threads import on_torch_thread
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


def _integral(frames: torch.Tensor) -> torch.Tensor:
    """The summed-area table of (N, H, W, 3) uint8 frames: (N, H + 1, W + 1, 3) integers, zero first row
    and column; int32 up to a 4K frame (its pixel sum fits), int64 beyond. Every resampling of the search
    reads from it."""
    n, h, w, c = frames.shape
    dtype = torch.int32 if 255 * h * w < 2 ** 31 else torch.int64
    table = torch.zeros(n, h + 1, w + 1, c, dtype=dtype, device=frames.device)
    inner = table[:, 1:, 1:]
    torch.cumsum(frames, 1, dtype=dtype, out=inner)
    inner.cumsum_(2)                        # in place: the table is the only frame-sized buffer kept
    return table


def _bins(start: torch.Tensor, length: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """First and one-past-last input index of each of ``size`` output cells over ``length`` inputs from
    ``start``, as adaptive average pooling (``interpolate(mode="area")``) divides them."""
    i = torch.arange(size, device=start.device)
    lo = (i * length.unsqueeze(-1)) // size
    hi = ((i + 1) * length.unsqueeze(-1) + size - 1) // size
    return start.unsqueeze(-1) + lo, start.unsqueeze(-1) + hi


def _normalised(sums: torch.Tensor, area: torch.Tensor) -> torch.Tensor:
    """Cell sums (..., H, W, 3) as the networks' input: mean pixel scaled to [-1, 1], laid out NCHW."""
    return sums.float().div_(area.unsqueeze(-1)).sub_(127.5).mul_(0.0078125).permute(0, 3, 1, 2)


def _area(table: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """All frames resized to ``size`` (h, w) by area averaging, normalised: what facenet-pytorch's
    ``interpolate(mode="area")`` pyramid level gives, read in four lookups per cell from the table
    instead of averaging the frame again for every level."""
    h, w = table.shape[1] - 1, table.shape[2] - 1
    zero = torch.zeros((), dtype=torch.long, device=table.device)
    y0, y1 = _bins(zero, torch.tensor(h, device=table.device), size[0])
    x0, x1 = _bins(zero, torch.tensor(w, device=table.device), size[1])
    rows = table.index_select(1, y1).sub_(table.index_select(1, y0))     # (N, h', W + 1, 3)
    sums = rows.index_select(2, x1).sub_(rows.index_select(2, x0))       # (N, h', w', 3)
    del rows
    area = ((y1 - y0).unsqueeze(1) * (x1 - x0).unsqueeze(0)).float()
    return _normalised(sums, area)


def _patches(table: torch.Tensor, boxes: torch.Tensor, inds: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each candidate's region (clipped to the image, 1-based like the reference) resized to ``size`` by
    area averaging, normalised; and which candidates had a non-empty region. All regions at once from the
    summed-area table (the reference resizes them one by one)."""
    h, w = table.shape[1] - 1, table.shape[2] - 1
    b = boxes[:, :4].trunc().long()
    x = b[:, 0].clamp(min=1)
    y = b[:, 1].clamp(min=1)
    ex = b[:, 2].clamp(max=w)
    ey = b[:, 3].clamp(max=h)
    ok = (ey > y - 1) & (ex > x - 1)
    x, y, ex, ey, k = x[ok], y[ok], ex[ok], ey[ok], inds[ok].long()
    y0, y1 = _bins(y - 1, ey - y + 1, size)                         # (K, size) each
    x0, x1 = _bins(x - 1, ex - x + 1, size)
    flat = table.reshape(-1, table.shape[3])
    r0 = (k[:, None] * (h + 1) + y0)[:, :, None] * (w + 1)          # (K, size, 1): row starts in flat
    r1 = (k[:, None] * (h + 1) + y1)[:, :, None] * (w + 1)

    def at(rows, cols):                                             # table values at (K, size, size)
        return flat.index_select(0, (rows + cols[:, None, :]).reshape(-1)).view(len(k), size, size, table.shape[3])

    sums = at(r1, x1).sub_(at(r0, x1)).sub_(at(r1, x0)).add_(at(r0, x0))
    area = ((y1 - y0)[:, :, None] * (x1 - x0)[:, None, :]).float()
    return _normalised(sums, area), ok


class MTCNN:
    """The three networks, loaded once; :meth:`detect` searches a batch of same-size RGB frames."""

    @on_torch_thread
    def __init__(self, device: str = "cpu"):
        self.device = device
        self.pnet = _load(PNet(), "pnet").to(device)
        self.rnet = _load(RNet(), "rnet").to(device)
        self.onet = _load(ONet(), "onet").to(device)

    @torch.inference_mode()
    def detect(self, frames: np.ndarray, min_face: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Faces of at least ``min_face`` px in each of ``frames`` ((N, H, W, 3) uint8): per frame,
        ``(boxes (k, 4) x1y1x2y2, probabilities (k,), landmarks (k, 5, 2))``, largest face first."""
        table = _integral(torch.as_tensor(np.ascontiguousarray(frames), device=self.device))
        n = table.shape[0]
        boxes, inds = self._propose(table, min_face)
        if len(boxes):
            boxes, inds = self._refine(table, boxes, inds)
        points = torch.zeros(0, 5, 2)
        if len(boxes):
            boxes, inds, points = self._output(table, boxes, inds)
        boxes, inds, points = boxes.cpu().numpy(), inds.cpu().numpy(), points.cpu().numpy()
        out = []
        for i in range(n):
            m = inds == i
            b, p = boxes[m], points[m]
            order = np.argsort((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))[::-1]
            out.append((b[order, :4], b[order, 4], p[order]))
        return out

    def _propose(self, table: torch.Tensor, min_face: int) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = table.shape[1] - 1, table.shape[2] - 1
        scale = 12.0 / min_face
        side = min(h, w) * scale
        found, found_inds = [], []
        while side >= 12:
            reg, prob = self.pnet(_area(table, (int(h * scale + 1), int(w * scale + 1))))
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

    def _refine(self, table, boxes, inds):
        data, ok = _patches(table, boxes, inds, 24)
        boxes, inds = boxes[ok], inds[ok]
        reg, prob = self.rnet(data)
        score = prob[:, 1]
        passed = score > THRESHOLDS[1]
        boxes = torch.cat([boxes[passed, :4], score[passed].unsqueeze(1)], dim=1)
        inds, reg = inds[passed], reg[passed]
        keep = _nms(boxes[:, :4], boxes[:, 4], inds, 0.7)
        return _square(_regress(boxes[keep], reg[keep])), inds[keep]

    def _output(self, table, boxes, inds):
        data, ok = _patches(table, boxes, inds, 48)
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
