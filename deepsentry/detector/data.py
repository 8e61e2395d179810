"""Training data: a labelled crop index (``index.csv`` + images, the format of ``shared/datasets/faces``),
pseudo-track sequences built from it, and video datasets in FaceForensics++ / DFDC / Celeb-DF layouts.

Crop index columns used: ``path`` (relative to the index's folder), ``split`` (train/val), ``label``
(real/fake), ``source``, ``group``/``cluster`` (leakage keys). The index's own split is kept (it never
cuts a cluster); ``split_by_cluster`` makes one for an index without a split column.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from deepsentry.detector.augment import Degrade, MatchQuality, crop_window, jitter_windows
from deepsentry.detector.model import DetectorCfg, model_view, preprocess, preprocess_batch
from deepsentry.detector.resynth import resynthesise
from deepsentry.detector.sbi import perturb_params, self_blend
from deepsentry.errors import BadRequest
from deepsentry.media import kind_from_name, load_image

CACHE_SIZE = 160      # crops are held in RAM at this size
BRANCHES = ("blend", "synthesis")     # the branch heads a family-labelled index can train


@dataclass
class CropRow:
    path: str            # relative to root
    split: str
    label: int           # 1 fake, 0 real
    source: str
    group: str
    cluster: str
    family: str = ""     # the index's ``family`` column ("real", "faceswap (DFDC mix)", ...); "" if absent


# which detector branch a fake family trains: "blend" for swaps, edits pasted into a real face and
# warps of a real face; "synthesis" for faces a generator made whole (GAN outputs, diffusion)
FAMILY_BRANCH = (("faceswap", "blend"), ("swap", "blend"), ("animat", "blend"), ("sbi", "blend"),
                 ("blend", "blend"), ("gan", "synthesis"), ("diffusion", "synthesis"), ("synth", "synthesis"))


def family_branch(family: str) -> str:
    """The branch a fake family belongs to (``FAMILY_BRANCH``); unknown families count as blend fakes."""
    f = family.lower()
    for key, branch in FAMILY_BRANCH:
        if key in f:
            return branch
    return "blend"


def row_kinds(rows: list["CropRow"]) -> np.ndarray:
    """Each row's kind as ``TrackDataset`` takes it: 0 for a real, 1 + the index in ``BRANCHES`` of its
    family's branch for a fake."""
    return np.array([0 if r.label == 0 else 1 + BRANCHES.index(family_branch(r.family or r.source)) for r in rows])


def read_indexes(index_csvs) -> tuple[Path, list[CropRow]]:
    """Rows of several crop indexes as one list, with the folder their paths are relative to (the
    indexes' common parent). Groups and clusters are prefixed by the index's folder so none collide."""
    import os

    bases = [Path(i).resolve().parent for i in index_csvs]
    root = Path(os.path.commonpath([str(b) for b in bases]))
    rows = []
    for index_csv, base in zip(index_csvs, bases):
        rel = base.relative_to(root)
        rows += [CropRow(str(rel / r.path), r.split, r.label, r.source, f"{rel}/{r.group}",
                         f"{rel}/{r.cluster}", r.family) for r in read_index(index_csv)]
    return root, rows


def read_index(index_csv: Path) -> list[CropRow]:
    """Rows of a crop index CSV. Paths stay relative to the CSV's folder."""
    index_csv = Path(index_csv)
    if not index_csv.is_file():
        raise BadRequest(f"crop index not found: {index_csv}")
    rows = []
    with open(index_csv, newline="") as f:
        for r in csv.DictReader(f):
            label = r.get("label", "").strip().lower()
            if label not in ("real", "fake"):
                raise BadRequest(f"{index_csv}: label must be real or fake, got {label!r} for {r.get('path')}")
            path = r["path"]
            rows.append(CropRow(path=path, split=(r.get("split") or "").strip() or "train",
                                label=int(label == "fake"), source=(r.get("source") or "unknown").strip(),
                                group=(r.get("group") or path), cluster=(r.get("cluster") or r.get("group") or path),
                                family=(r.get("family") or "").strip()))
    if not rows:
        raise BadRequest(f"{index_csv} has no rows")
    return rows


def split_by_cluster(rows: list[CropRow], val_fraction: float = 0.1, seed: str = "deepsentry") -> list[CropRow]:
    """Assign train/val by hashing the cluster key, so no cluster (source video) is in both."""
    out = []
    for r in rows:
        h = int(hashlib.sha256(f"{seed}:{r.cluster}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        out.append(CropRow(r.path, "val" if h < val_fraction else "train", r.label, r.source, r.group, r.cluster,
                           r.family))
    return out


def load_images(root: Path, rows: list[CropRow], cache_file: Path | None = None, progress: bool = True) -> np.ndarray:
    """All crops as one (N, 160, 160, 3) uint8 array; stored as .npy in ``cache_file`` and memory-mapped
    on later runs (DataLoader workers then share the page cache)."""
    import cv2

    key = hashlib.sha256("\n".join(r.path for r in rows).encode()).hexdigest()[:16]
    if cache_file is not None:
        cache_file = Path(cache_file)
        meta = cache_file.with_suffix(".json")
        if cache_file.is_file() and meta.is_file() and json.loads(meta.read_text()).get("key") == key:
            return np.load(cache_file, mmap_mode="r")
    arr = np.zeros((len(rows), CACHE_SIZE, CACHE_SIZE, 3), np.uint8)
    it = enumerate(rows)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, total=len(rows), desc="load crops", unit="img", mininterval=10)
    for i, r in it:
        img = load_image(Path(root) / r.path)
        if img.shape[:2] != (CACHE_SIZE, CACHE_SIZE):
            img = cv2.resize(img, (CACHE_SIZE, CACHE_SIZE),
                             interpolation=cv2.INTER_AREA if img.shape[0] > CACHE_SIZE else cv2.INTER_LINEAR)
        arr[i] = img
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        # both files are written aside and renamed over: a cache linked from another run is replaced
        # by this run's own files, never written through (the other run's cache stays as it was)
        tmp, tmp_meta = cache_file.with_name(cache_file.stem + ".tmp.npy"), meta.with_suffix(".tmp.json")
        np.save(tmp, arr)
        tmp_meta.write_text(json.dumps({"key": key, "n": len(rows)}))
        tmp.replace(cache_file)
        tmp_meta.replace(meta)
    return arr


def eval_tensor(crop: np.ndarray, cfg: DetectorCfg) -> torch.Tensor:
    """The deterministic (validation/inference) path from a dataset-framed face crop to the model input:
    the model's view of it (``model_view``), preprocessed."""
    return preprocess(model_view(crop, cfg), cfg)


class TrackDataset(Dataset):
    """Pseudo-tracks from still crops.

    Item i is a track of L frames made from crop i: the crop window drifts frame to frame (like a face
    detector's box), one set of degradations is applied to all frames. A real crop becomes, with
    probability ``p_sbi[source]``, a self-blended fake; its blend is either fixed over the track or
    redrawn frame to frame (a temporally inconsistent fake). Returns (frames (L,3,S,S), track label,
    frame labels (L,), kind): kind 0 real, else 1 + the index of the fake's branch in
    ``BRANCHES`` (``kinds`` gives each row's; an SBI fake is a blend fake).

    ``aug_keys`` (one int per row) ties items together: rows with the same key (a DFDC fake and the real
    video it was made from) get the same track length, crop windows and degradations, so within a batch
    the only difference the model can use is the manipulation itself. ``degrade_strength`` scales the
    quality degradations and ``p_clean`` is the share of tracks left undegraded. With probability
    ``p_ring`` a track's crop keeps only its middle (the face) and takes its border from another crop of
    the set drawn at random whatever its label (:func:`swap_border`), so hair, background and framing,
    which differ between the sources of reals and of fakes, stop telling them apart. With probability
    ``p_match`` a track is first brought to a brightness, contrast, saturation and sharpness drawn alike
    for both classes (:class:`~deepsentry.detector.augment.MatchQuality`; rows sharing a key share the
    draw), so that sharp, contrasty generated portraits and soft real crops stop telling them apart.
    ``match_anchors`` (one row index per row) names the crop whose first frame the matching settings are
    fitted on: a fake's original, so that the fake gets the very operations its original gets and keeps
    what differs between them (a swap is softer than the video it came from; matching each crop on its
    own erased that, and cost DFDC AUC in training). A row that is its own anchor is fitted on its crop
    before any self-blend. Without anchors each track is fitted on its own first frame.

    With probability ``p_resynth`` a real crop that is not self-blended becomes a self-resynthesised
    fake (:func:`~deepsentry.detector.resynth.resynthesise`: the face re-rendered through a random
    generator-like upsampler, the same for every frame of the track), a synthesis fake.

    With ``train=False`` every item is the single crop through ``eval_tensor`` (no randomness)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, sources: list[str], cfg: DetectorCfg,
                 landmarks: list[np.ndarray | None] | None = None, p_sbi: dict[str, float] | None = None,
                 train: bool = True, track_lengths=(1, 1, 1, 1, 1, 2, 3, 4), seed: int = 0, indices=None,
                 aug_keys: np.ndarray | None = None, degrade_strength: float = 1.0, p_clean: float = 0.0,
                 kinds: np.ndarray | None = None, p_ring: float = 0.0, p_match: float = 0.0,
                 match_anchors: np.ndarray | None = None, p_resynth: float = 0.0):
        self.images = images
        self.p_resynth = float(p_resynth)
        self.match_anchors = None if match_anchors is None else np.asarray(match_anchors, np.int64)
        self.p_ring = float(p_ring)
        self.p_match = float(p_match)
        self.kinds = None if kinds is None else np.asarray(kinds, np.int64)
        self.labels = np.asarray(labels, np.int64)
        self.sources = list(sources)
        self.cfg = cfg
        self.landmarks = landmarks
        self.p_sbi = p_sbi or {}
        self.train = train
        self.track_lengths = tuple(track_lengths)
        self.seed = seed
        self.epoch = 0
        self.indices = np.arange(len(self.labels)) if indices is None else np.asarray(indices)
        self.aug_keys = None if aug_keys is None else np.asarray(aug_keys, np.int64)
        self.degrade_strength = float(degrade_strength)
        self.p_clean = float(p_clean)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int):
        i = int(self.indices[k])
        img = np.asarray(self.images[i])
        label = int(self.labels[i])
        kind = int(self.kinds[i]) if self.kinds is not None else label
        if not self.train:
            return eval_tensor(img, self.cfg).unsqueeze(0), float(label), torch.tensor([float(label)]), kind
        rng = np.random.default_rng([self.seed, self.epoch, i])
        key = int(self.aug_keys[i]) if self.aug_keys is not None else i
        arng = np.random.default_rng([self.seed, self.epoch, 1, key])     # shared by rows with one key
        L = int(arng.choice(self.track_lengths))
        lm = self.landmarks[i] if self.landmarks is not None else None
        if self.p_ring and rng.random() < self.p_ring:
            img = swap_border(img, np.asarray(self.images[int(rng.integers(len(self.images)))]), rng)
        sbi = (label == 0 and lm is not None and len(lm) == 68
               and rng.random() < self.p_sbi.get(self.sources[i], 0.0))
        inconsistent = sbi and L > 1 and rng.random() < 0.5
        resynth = label == 0 and not sbi and self.p_resynth > 0 and rng.random() < self.p_resynth
        windows = jitter_windows(img, L, arng)
        degrade = Degrade(arng, self.degrade_strength) if arng.random() >= self.p_clean else (lambda a: a)
        match = MatchQuality(arng) if self.p_match and arng.random() < self.p_match else (lambda a: a)
        if self.match_anchors is not None and isinstance(match, MatchQuality):
            a = int(self.match_anchors[i])
            anchor = img if a == i else np.asarray(self.images[a])
            match.fit(crop_window(anchor, *windows[0], self.cfg.input_size))
        params = None
        frames = []
        base = resynthesise(img, rng)[0] if resynth else img
        for t in range(L):
            if sbi:
                if params is None or inconsistent:
                    params = perturb_params(params, rng) if params is not None else None
                    base, params = self_blend(img, lm, rng, params)
            cx, cy, side, angle = windows[t]
            frames.append(degrade(match(crop_window(base, cx, cy, side, angle, self.cfg.input_size))))
        y = 1.0 if (label == 1 or sbi or resynth) else 0.0
        x = preprocess_batch(frames, self.cfg)
        if sbi or resynth:
            kind = 1 + BRANCHES.index("blend" if sbi else "synthesis")
        return x, y, torch.full((L,), y), kind


def swap_border(img: np.ndarray, other: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``img`` with its outer border (an eighth to a fifth of the side, feathered) taken from ``other``
    (same size): the face stays, what surrounds it belongs to a random crop."""
    s = img.shape[0]
    b = int(rng.uniform(0.125, 0.2) * s)
    mask = np.zeros((s, s), np.float32)
    mask[b:s - b, b:s - b] = 1.0
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, b / 4))[:, :, None]
    return (img * mask + other * (1.0 - mask)).astype(np.uint8)


class ValTrackDataset(Dataset):
    """Deterministic pseudo-tracks of validation crops (fixed jitter, no degradation): used to fit the
    track head's temperature."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, cfg: DetectorCfg, length: int = 6, seed: int = 1234):
        self.images, self.labels, self.cfg, self.length, self.seed = images, np.asarray(labels), cfg, length, seed

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        img = np.asarray(self.images[i])
        rng = np.random.default_rng([self.seed, i])
        h = img.shape[0]
        frames = [crop_window(img, cx, cy, side, angle, self.cfg.input_size)
                  for cx, cy, side, angle in jitter_windows(img, self.length, rng, base=(h / 2, h / 2, h * min(0.96, self.cfg.view_scale)))]
        y = float(self.labels[i])
        return preprocess_batch(frames, self.cfg), y, torch.full((self.length,), y), int(y)


def collate_tracks(batch):
    """Tracks laid end to end: (frames (N,3,S,S), lengths (B,), track labels (B,), frame labels (N,),
    kinds (B,): 0 real, 1 + branch index for fakes)."""
    xs, ys, fys, kinds = zip(*batch)
    lengths = torch.tensor([x.shape[0] for x in xs], dtype=torch.long)
    return (torch.cat(xs), lengths, torch.tensor(ys, dtype=torch.float32), torch.cat(fys),
            torch.tensor([int(k) for k in kinds], dtype=torch.long))


# --------------------------------------------------------------------------- video datasets



@dataclass
class VideoItem:
    path: Path
    label: int
    group: str
    source: str


def find_video_dataset(root: Path) -> list[VideoItem]:
    """Labelled videos from a FaceForensics++, DFDC or Celeb-DF folder, recognised by layout:

    - FaceForensics++: ``original_sequences/<src>/<comp>/videos/*.mp4`` (real) and
      ``manipulated_sequences/<method>/<comp>/videos/<target>_<source>.mp4`` (fake); group = the
      target id, so a real video and its manipulations share one.
    - DFDC: one or more folders with ``metadata.json`` mapping file -> {label: REAL|FAKE, original};
      group = the original's id.
    - Celeb-DF (v1/v2): ``Celeb-real/``, ``YouTube-real/`` (real), ``Celeb-synthesis/`` (fake,
      ``id<a>_id<b>_<n>.mp4``); group = the target identity and clip.
    - Otherwise ``real/`` and ``fake/`` subfolders; group = file stem.
    """
    root = Path(root)
    items: list[VideoItem] = []
    if (root / "original_sequences").is_dir() or (root / "manipulated_sequences").is_dir():
        for p in sorted(root.glob("original_sequences/*/*/videos/*")):
            if kind_from_name(p) == "video":
                items.append(VideoItem(p, 0, f"ffpp:{p.stem}", "ffpp"))
        for p in sorted(root.glob("manipulated_sequences/*/*/videos/*")):
            if kind_from_name(p) == "video":
                items.append(VideoItem(p, 1, f"ffpp:{p.stem.split('_')[0]}", "ffpp"))
        return items
    metas = sorted(root.rglob("metadata.json"))
    if metas:
        for meta in metas:
            data = json.loads(meta.read_text())
            for name, info in sorted(data.items()):
                p = meta.parent / name
                if not p.is_file():
                    continue
                fake = str(info.get("label", "")).upper() == "FAKE"
                orig = Path(info.get("original") or name).stem if fake else Path(name).stem
                items.append(VideoItem(p, int(fake), f"dfdc:{orig}", "dfdc"))
        return items
    if (root / "Celeb-synthesis").is_dir() or (root / "Celeb-real").is_dir():
        for sub, label in (("Celeb-real", 0), ("YouTube-real", 0), ("Celeb-synthesis", 1)):
            for p in sorted((root / sub).glob("*")):
                if kind_from_name(p) != "video":
                    continue
                parts = p.stem.split("_")
                grp = f"celebdf:{parts[0]}_{parts[-1]}" if label == 0 or len(parts) < 3 else f"celebdf:{parts[1]}_{parts[-1]}"
                if sub == "YouTube-real":
                    grp = f"celebdf:yt{p.stem}"
                items.append(VideoItem(p, label, grp, "celebdf"))
        return items
    for sub, label in (("real", 0), ("fake", 1)):
        for p in sorted((root / sub).rglob("*")) if (root / sub).is_dir() else []:
            if kind_from_name(p) == "video":
                items.append(VideoItem(p, label, f"{root.name}:{p.stem}", root.name))
    if not items:
        raise BadRequest(f"{root}: no FaceForensics++, DFDC, Celeb-DF or real/fake video layout found")
    return items


def video_face_tracks(path: Path, detector, frames_per_video: int, fps: float, cfg: DetectorCfg, size: int) -> list[np.ndarray]:
    """Face tracks of one video as (T, size, size, 3) crop arrays, longest first, with the daemon's own
    pieces: ``deepsentry.media.sample_frames``, ``faces.FaceDetector``, ``faces.link_tracks`` and
    ``model.dataset_crop`` (the training framing; inference narrows it by ``cfg.view_scale`` exactly as
    training's random windows do on average)."""
    from deepsentry.detector.faces import link_tracks
    from deepsentry.detector.model import dataset_crop
    from deepsentry.media import sample_frames

    frames, times = [], []
    for fr in sample_frames(path, fps=fps, max_frames=frames_per_video):
        frames.append(fr.image)
        times.append(float(fr.t))
    if not frames:
        return []
    tracks = sorted(link_tracks(detector.detect(frames), times), key=len, reverse=True)
    return [np.stack([dataset_crop(frames[fi], d.box, cfg, size) for fi, d in zip(tr.frame_indices, tr.detections)])
            for tr in tracks if len(tr) >= 2]


def extract_video_tracks(items: list[VideoItem], cfg: DetectorCfg, out_dir: Path, frames_per_video: int = 16,
                         fps: float = 4.0, progress: bool = True, device: str = "cpu") -> Path:
    """Face-track crops of each video, written once as a crop index (``out_dir/index.csv`` + JPEGs,
    one row per frame of the video's longest face track; group = the video's group, ``track`` column
    = the track id). Splits are assigned by group hash (``split_by_cluster``). A video's label applies
    to its main (longest) track only: a second person in a fake video may be untouched."""
    import cv2

    from deepsentry.detector.faces import FaceDetector

    out_dir = Path(out_dir)
    (out_dir / "crops").mkdir(parents=True, exist_ok=True)
    detector = FaceDetector(device=device)
    rows = []
    it = items
    if progress:
        from tqdm import tqdm
        it = tqdm(items, desc="extract faces", unit="video", mininterval=10)
    for k, item in enumerate(it):
        try:
            tracks = video_face_tracks(item.path, detector, frames_per_video, fps, cfg, CACHE_SIZE)
        except Exception as exc:  # one unreadable video must not stop extraction
            print(f"skipping {item.path}: {exc}", flush=True)
            continue
        for ti, crops in enumerate(tracks[:1]):
            for fi, crop in enumerate(crops):
                rel = f"crops/{k:06d}_{ti}_{fi:03d}.jpg"
                cv2.imwrite(str(out_dir / rel), np.ascontiguousarray(crop[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 95])
                rows.append({"path": rel, "label": "fake" if item.label else "real", "source": item.source,
                             "group": item.group, "cluster": item.group, "track": f"{k}_{ti}"})
    if not rows:
        raise BadRequest("no face tracks found in the video dataset")
    split = {r.cluster: r.split for r in split_by_cluster(
        [CropRow(r["path"], "", 0, r["source"], r["group"], r["cluster"]) for r in rows])}
    with open(out_dir / "index.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["path", "split", "label", "source", "group", "cluster", "track"])
        w.writeheader()
        for r in rows:
            w.writerow({**r, "split": split[r["cluster"]]})
    return out_dir / "index.csv"
