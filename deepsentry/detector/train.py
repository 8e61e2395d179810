"""Training: crop index -> pseudo-tracks with SBI and augmentation -> CNN+LSTM, then calibration.

``train(opts)`` is what ``deepsentry train`` runs. A run directory holds the caches (crop array,
landmarks), ``ckpt_last.pt`` written after every epoch (resume with ``resume``), ``history.jsonl``
(per-epoch loss and validation metrics) and, at the end, the calibrated weights file.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING
from pathlib import Path

import numpy as np

from deepsentry.detector.augment import TRAIN_VIEW_SCALE
from deepsentry.errors import BadRequest

if TYPE_CHECKING:
    import torch


@dataclass
class TrainOptions:
    data: Path | tuple[Path, ...]            # folder with index.csv (or the CSV itself), or a video dataset;
                                             # several crop indexes are trained on as one
    out: Path = Path("runs/detector/model.pt")
    run_dir: Path | None = None              # default: out's folder
    arch: str = "mobilenet_v3_small_lstm"
    epochs: int = 10
    batch_size: int = 48                     # tracks per step
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_steps: int = 100
    seed: int = 0
    device: str = "auto"
    workers: int = 1
    threads: int | None = None
    exclude_source: tuple[str, ...] = ()
    p_sbi: dict = field(default_factory=lambda: {"utkface": 0.5, "default": 0.2})
    track_weight: float = 0.5
    resume: Path | None = None
    init: Path | None = None                 # start from these weights (a weights file), fresh optimiser
    paired: bool = True                      # rows of one group (a fake and its original) share a batch
                                             # and their augmentations
    degrade_strength: float = 1.0
    p_clean: float = 0.0                     # share of tracks with no degradation
    p_ring: float = 0.0                      # share of tracks whose crop border comes from another crop
    p_resynth: float = 0.0                   # share of real tracks re-rendered through a random upsampler
                                             # (deepsentry.detector.resynth), synthesis fakes
    p_match: float = 0.0                     # share of tracks brought to a random quality (augment.MatchQuality)
    match_on: str = "pair"                   # fit that quality on a fake's original ("pair") or each crop ("track")
    crop_shift: float | None = None          # override the arch's crop centre shift (box heights)
    max_train: int | None = None             # cap on training items per epoch (random subset each epoch)
    time_budget_min: float | None = None     # stop after this many minutes of training; the LR schedule
                                             # then follows elapsed time (for shared/slow machines)
    input_size: int | None = None            # override the arch's input size
    tta_flip: bool = True                    # the weights average each crop's and its mirror's logits
    ema_decay: float | None = None           # keep an exponential moving average of the weights (e.g. 0.999)
                                             # and validate, calibrate and save it instead of the raw weights
    val_subset: int = 1000                   # val crops scored after each epoch (all at the end)
    pretrained: bool = False                 # start the backbone from the ImageNet weights its package ships
    trunk_lr_scale: float = 1.0              # the backbone's learning rate relative to ``lr`` (heads: 1.0)
    branch_weight: float = 0.5               # loss weight of each branch head (reals + its own family's fakes)
    leave_out: tuple[str, ...] = ()          # train rows whose family or source contains one of these are
                                             # dropped; val scores them but calibration is not fitted on
                                             # them (leave-one-family-out evaluation)
    progress: bool = True
    version: str = "1"


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _index_path(data: Path) -> Path:
    data = Path(data)
    if data.is_file() and data.suffix.lower() == ".csv":
        return data
    if (data / "index.csv").is_file():
        return data / "index.csv"
    return None


def _log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def paired_order(groups: list[str], gen) -> list[int]:
    """A permutation of range(len(groups)) in which the members of each group are adjacent (groups in
    random order, members in random order), so a fake and the real video it came from usually land in
    one batch."""
    import torch

    units: dict[str, list[int]] = {}
    for k, g in enumerate(groups):
        units.setdefault(g, []).append(k)
    order = list(units.values())
    out: list[int] = []
    for u in torch.randperm(len(order), generator=gen).tolist():
        members = order[u]
        out.extend(members[j] for j in torch.randperm(len(members), generator=gen).tolist())
    return out


def match_anchors(rows) -> np.ndarray:
    """For each row, the index of the real row of its group (a fake's original; a real is its own), or
    the row itself where the group has no real: what ``TrackDataset`` fits quality matching on."""
    real_of = {}
    for n, r in enumerate(rows):
        if r.label == 0:
            real_of.setdefault(r.group, n)
    return np.array([real_of.get(r.group, n) for n, r in enumerate(rows)], np.int64)


def branch_loss(logits: torch.Tensor, kinds: torch.Tensor, branch_idx: list[int]) -> torch.Tensor:
    """Sum over branch heads of the BCE on reals (target 0) and that branch's own fakes (target 1);
    fakes of other branches are left out, so a head never learns that another family is "real".
    ``logits``: (N, len(branch_idx)); ``kinds``: (N,) 0 real, 1 + branch index for fakes."""
    import torch.nn.functional as F

    total = logits.new_zeros(())
    for col, b in enumerate(branch_idx):
        m = (kinds == 0) | (kinds == 1 + b)
        if m.any():
            total = total + F.binary_cross_entropy_with_logits(logits[m, col], (kinds[m] == 1 + b).float())
    return total


def predict_frames(model, loader, device, parts: bool = False):
    """Scored frame logits (``model.scored_logits``, mean over test-time views) and labels over a loader
    of (single-frame) tracks; with ``parts``, (raw frame-head logits, labels, (N, K) branch logits, kinds)
    instead, the inputs of the combiner."""
    import torch

    from deepsentry.detector.model import tta_views

    model.eval()
    logits, labels, branches, kinds = [], [], [], []
    with torch.no_grad():
        for x, lengths, y, fy, kind in loader:
            views = [model.frame_features(v) for v in tta_views(x.to(device), model.cfg)]
            if parts:
                logits.append(torch.stack([model.frame_logits(f) for f in views]).mean(0).float().cpu().numpy())
                branches.append(torch.stack([model.branch_logits(f) for f in views]).mean(0).float().cpu().numpy())
                kinds.append(kind.repeat_interleave(lengths).numpy())
            else:
                logits.append(model.view_logits(views)[0].float().cpu().numpy())
            labels.append(fy.numpy())
    if parts:
        return np.concatenate(logits), np.concatenate(labels), np.concatenate(branches), np.concatenate(kinds)
    return np.concatenate(logits), np.concatenate(labels)


def predict_tracks(model, loader, device) -> tuple[np.ndarray, np.ndarray]:
    import torch

    from deepsentry.detector.model import tta_views

    model.eval()
    logits, labels = [], []
    with torch.no_grad():
        for x, lengths, y, fy, _kind in loader:
            views = [model.frame_features(v) for v in tta_views(x.to(device), model.cfg)]
            logits.append(model.view_logits(views, lengths)[1].float().cpu().numpy())
            labels.append(y.numpy())
    return np.concatenate(logits), np.concatenate(labels)


def val_metrics(logits: np.ndarray, labels: np.ndarray, sources: list[str]) -> dict:
    from deepsentry.detector.calibrate import sigmoid
    from deepsentry.detector.metrics import summary

    p = sigmoid(logits)
    out = {"all": summary(labels, p)}
    src = np.asarray(sources)
    for s in sorted(set(sources)):
        m = src == s
        if labels[m].min() == labels[m].max():      # a one-class source is scored against every real
            m = m | (labels == 0) if labels[m].min() == 1 else m | (labels == 1)
        out[s] = summary(labels[m], p[m])
    return out


def train(opts: TrainOptions) -> dict:
    """Train, calibrate and write the weights file; returns the final metrics dict."""
    import torch

    prev_threads = torch.get_num_threads()
    if opts.threads:
        torch.set_num_threads(opts.threads)
    try:
        return Trainer(opts).run()
    finally:
        torch.set_num_threads(prev_threads)


def _initial_model(opts: TrainOptions):
    """The registered architecture, from ImageNet weights with ``pretrained``, then ``init``'s weights."""
    from deepsentry.detector.model import create_detector, load_weights

    model = create_detector(opts.arch, pretrained=opts.pretrained, input_size=opts.input_size,
                            crop_shift=opts.crop_shift, view_scale=TRAIN_VIEW_SCALE, tta_flip=opts.tta_flip)
    if opts.init:
        init_model, _ = load_weights(Path(opts.init))
        if init_model.cfg.arch != model.cfg.arch:
            raise BadRequest(f"--init {opts.init} is a {init_model.cfg.arch}, not a {model.cfg.arch}")
        model.load_state_dict(init_model.state_dict())
        _log(f"initialised from {opts.init}")
    return model


def _read_data(opts: TrainOptions, cfg, run_dir: Path):
    """(the index files, the folder their paths are relative to, rows) of every ``--data``; a video
    dataset folder's face tracks are extracted into ``run_dir`` once."""
    from deepsentry.detector.data import extract_video_tracks, find_video_dataset, read_index, read_indexes

    datas = [Path(d) for d in opts.data] if isinstance(opts.data, (list, tuple)) else [Path(opts.data)]
    indexes = []
    for data in datas:
        index = _index_path(data)
        if index is None:
            if not data.is_dir():
                raise BadRequest(f"--data {data}: not a crop index (index.csv) or a video dataset folder")
            _log(f"video dataset {data}: extracting face tracks once")
            index = extract_video_tracks(find_video_dataset(data), cfg, run_dir / f"video_crops_{data.name}",
                                         progress=opts.progress)
        indexes.append(index)
    root, rows = (indexes[0].parent, read_index(indexes[0])) if len(indexes) == 1 else read_indexes(indexes)
    return indexes, root, rows


class Trainer:
    """One training run: ``Trainer(opts).run()`` trains epoch by epoch (each followed by
    :meth:`validate` and :meth:`checkpoint`), then calibrates and writes the weights file.

    Setting up reads the data and builds the model, the datasets, the optimiser, the learning-rate
    schedule and the weight average, and resumes from ``opts.resume`` when given. The time budget is
    wall-clock training time summed over resumed runs (``elapsed_s`` in the checkpoint)."""

    def __init__(self, opts: TrainOptions):
        self.opts = opts
        self.t_start = time.time()
        self.device = resolve_device(opts.device)
        self._seed()
        self.out = Path(opts.out)
        self.run_dir = Path(opts.run_dir) if opts.run_dir else self.out.parent
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.model = _initial_model(opts)
        self.cfg = self.model.cfg
        self._load_data()
        self._build_optimiser()
        self.start_epoch = 0
        self._elapsed_before = 0.0
        self._since = time.time()
        ck = self._resume() if opts.resume else None
        self.ema = self._weight_average(ck)
        self.out_of_time = False
        self.epochs_done = float(self.start_epoch)

    # ---- set-up --------------------------------------------------------------------------------
    def _seed(self) -> None:
        import torch

        torch.manual_seed(self.opts.seed)
        np.random.seed(self.opts.seed)
        random.seed(self.opts.seed)

    def _load_data(self) -> None:
        from torch.utils.data import DataLoader

        from deepsentry.detector.data import BRANCHES, TrackDataset, collate_tracks, load_images, row_kinds
        from deepsentry.detector.sbi import cache_landmarks

        opts, cfg = self.opts, self.cfg
        self.indexes, root, rows = _read_data(opts, cfg, self.run_dir)
        if opts.exclude_source:
            rows = [r for r in rows if r.source not in set(opts.exclude_source)]
        self.train_rows = [r for r in rows if r.split == "train" and not _left_out(r, opts.leave_out)]
        val_rows = [r for r in rows if r.split == "val"]
        if not self.train_rows or not val_rows:
            raise BadRequest("the index needs rows in both the train and val split")
        _log(f"data: {len(self.train_rows)} train, {len(val_rows)} val crops from {self.indexes[0]} on {self.device}")

        self.images = load_images(root, rows, self.run_dir / "crops160.npy", progress=opts.progress)
        pos = {r.path: i for i, r in enumerate(rows)}
        real_paths = [r.path for r in self.train_rows if r.label == 0]
        lms = cache_landmarks(root, real_paths, self.run_dir / "landmarks.npz", progress=opts.progress)
        self.tr_idx = np.array([pos[r.path] for r in self.train_rows])
        self.va_idx = np.array([pos[r.path] for r in val_rows])
        # the val rows calibration is fitted on: a family left out of training is scored but not fitted on
        self.fit_mask = np.array([not _left_out(r, opts.leave_out) for r in val_rows], bool)
        self.labels = np.array([r.label for r in rows])
        self.sources = [r.source for r in rows]
        self.kinds = row_kinds(rows)
        landmarks = [lms.get(r.path) if r.label == 0 else None for r in rows]
        self.p_sbi = {s: opts.p_sbi.get(s, opts.p_sbi.get("default", 0.2)) for s in set(self.sources)}

        group_ids = {g: n for n, g in enumerate(dict.fromkeys(r.group for r in rows))}
        aug_keys = np.array([group_ids[r.group] for r in rows]) if opts.paired else None
        anchors = match_anchors(rows) if opts.paired and opts.match_on == "pair" else None
        self.train_ds = TrackDataset(self.images, self.labels, self.sources, cfg, landmarks=landmarks,
                                     p_sbi=self.p_sbi, train=True, seed=opts.seed, indices=self.tr_idx,
                                     aug_keys=aug_keys, degrade_strength=opts.degrade_strength,
                                     p_clean=opts.p_clean, p_ring=opts.p_ring, p_match=opts.p_match,
                                     match_anchors=anchors, p_resynth=opts.p_resynth,
                                     kinds=self.kinds)
        self.tr_groups = [rows[i].group for i in self.tr_idx]
        val_sources = [self.sources[i] for i in self.va_idx]
        sub = np.random.default_rng(opts.seed).permutation(len(self.va_idx))[:opts.val_subset]
        sub.sort()
        self.val_sub_loader = DataLoader(
            TrackDataset(self.images, self.labels, self.sources, cfg, train=False, indices=self.va_idx[sub],
                         kinds=self.kinds),
            batch_size=128, shuffle=False, num_workers=0, collate_fn=collate_tracks)
        self.val_sub_sources = [val_sources[i] for i in sub]
        self.branch_idx = [BRANCHES.index(b) for b in cfg.branches]

    def _build_optimiser(self) -> None:
        import torch

        opts, model = self.opts, self.model
        model.to(self.device)
        if self.device == "cpu":
            model.to(memory_format=torch.channels_last)
        trunk_params = list(model.trunk.parameters())
        trunk_ids = {id(p) for p in trunk_params}
        self.optimiser = torch.optim.AdamW(
            [{"params": trunk_params, "lr": opts.lr * opts.trunk_lr_scale},
             {"params": [p for p in model.parameters() if id(p) not in trunk_ids]}],
            lr=opts.lr, weight_decay=opts.weight_decay)
        n_items = len(self.tr_idx) if not opts.max_train else min(len(self.tr_idx), opts.max_train)
        self.total_steps = max(1, math.ceil(n_items / opts.batch_size) * opts.epochs)
        self.budget_s = opts.time_budget_min * 60.0 if opts.time_budget_min else None
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimiser, self._lr_factor)
        self.use_amp = self.device.startswith("cuda")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.bce = torch.nn.BCEWithLogitsLoss()

    def _lr_factor(self, step: int) -> float:
        """Linear warm-up, then a cosine to 2 % that follows the time budget when it runs out first."""
        opts = self.opts
        if step < opts.warmup_steps:
            return (step + 1) / opts.warmup_steps
        frac = (step - opts.warmup_steps) / max(1, self.total_steps - opts.warmup_steps)
        if self.budget_s:
            frac = max(frac, self.elapsed() / self.budget_s)
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))

    def _resume(self) -> dict:
        import torch

        ck = torch.load(self.opts.resume, map_location="cpu", weights_only=False)
        self.model.load_state_dict(ck["state_dict"])
        self.optimiser.load_state_dict(ck["optimizer"])
        self.scheduler.load_state_dict(ck["scheduler"])
        self.start_epoch = int(ck["epoch"]) + 1
        self._elapsed_before = float(ck.get("elapsed_s", 0.0))
        _log(f"resumed from {self.opts.resume} at epoch {self.start_epoch}")
        return ck

    def _weight_average(self, ck: dict | None):
        if not self.opts.ema_decay:
            return None
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(self.opts.ema_decay), use_buffers=True)
        if ck is not None and "ema" in ck:
            ema.load_state_dict(ck["ema"])
        else:
            ema.update_parameters(self.model)    # the average starts at the weights training starts from
        return ema

    # ---- the loop ------------------------------------------------------------------------------
    def elapsed(self) -> float:
        """Seconds of training so far, this run and the runs it resumes."""
        return self._elapsed_before + time.time() - self._since

    @property
    def eval_model(self):
        """The model validated, calibrated and saved: the weight average when there is one."""
        return self.ema.module if self.ema is not None else self.model

    def run(self) -> dict:
        self._since = time.time()
        for epoch in range(self.start_epoch, self.opts.epochs):
            t0 = time.time()
            stats = self.epoch(epoch)
            val = self.validate()
            rec = {"epoch": epoch + 1, **stats, "epoch_s": round(time.time() - t0, 1),
                   "lr": self.scheduler.get_last_lr()[0], **val}
            _log(json.dumps(rec))
            with open(self.run_dir / "history.jsonl", "a") as f:
                f.write(json.dumps(rec) + "\n")
            self.checkpoint(epoch)
            if self.out_of_time:
                break
        return self.finish()

    def _epoch_order(self, epoch: int) -> list[int]:
        import torch

        g = torch.Generator().manual_seed(self.opts.seed * 1000 + epoch)
        order = paired_order(self.tr_groups, g) if self.opts.paired else torch.randperm(len(self.tr_idx), generator=g).tolist()
        return order[:self.opts.max_train] if self.opts.max_train and self.opts.max_train < len(self.tr_idx) else order

    def epoch(self, epoch: int) -> dict:
        """Train one epoch (or until the time budget runs out); returns its mean loss and frame count."""
        from torch.utils.data import DataLoader

        from deepsentry.detector.data import collate_tracks

        opts = self.opts
        self.train_ds.set_epoch(epoch)
        order = self._epoch_order(epoch)
        loader = DataLoader(self.train_ds, batch_size=opts.batch_size, sampler=order, num_workers=max(0, int(opts.workers)),
                            collate_fn=collate_tracks, drop_last=True, persistent_workers=False,
                            pin_memory=self.use_amp)
        self.model.train()
        it = loader
        if opts.progress:
            from tqdm import tqdm
            it = tqdm(loader, desc=f"epoch {epoch + 1}/{opts.epochs}", unit="batch", mininterval=30)
        run_loss, n_seen, n_frames = 0.0, 0, 0
        for batch in it:
            loss, n_tracks, n_crops = self._step(*batch)
            run_loss += loss * n_tracks
            n_seen += n_tracks
            n_frames += n_crops
            if self.budget_s and self.elapsed() >= self.budget_s:
                self.out_of_time = True
                _log(f"time budget of {opts.time_budget_min} min reached in epoch {epoch + 1}")
                break
        self.epochs_done = epoch + (min(1.0, n_seen / max(1, len(order))) if self.out_of_time else 1.0)
        return {"train_loss": run_loss / max(1, n_seen), "frames": n_frames}

    def _step(self, x, lengths, y, fy, kind) -> tuple[float, int, int]:
        import torch

        device, opts = self.device, self.opts
        x, y, fy = x.to(device, non_blocking=True), y.to(device), fy.to(device)
        if device == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=self.use_amp):
            o = self.model(x, lengths)
            loss = self.bce(o.frame_logits.float(), fy) + opts.track_weight * self.bce(o.track_logits.float(), y)
            if self.branch_idx:
                loss = loss + opts.branch_weight * branch_loss(self.model.branch_logits(o.features).float(),
                                                               kind.repeat_interleave(lengths).to(device),
                                                               self.branch_idx)
        self.optimiser.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimiser)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.scaler.step(self.optimiser)
        self.scaler.update()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        return float(loss.detach()), len(y), x.shape[0]

    def validate(self) -> dict:
        """AUC on the fixed validation subset, overall and per source (``val_auc``, ``val_auc_<source>``)."""
        vl, vy = predict_frames(self.eval_model, self.val_sub_loader, self.device)
        vm = val_metrics(vl, vy, self.val_sub_sources)
        return {"val_auc": vm["all"]["auc"], **{f"val_auc_{s}": vm[s]["auc"] for s in vm if s != "all"}}

    def checkpoint(self, epoch: int) -> Path:
        """Write ``ckpt_last.pt`` atomically: the weights, optimiser, schedule, average and elapsed time."""
        import torch

        ck = {"state_dict": self.model.state_dict(), "optimizer": self.optimiser.state_dict(),
              "scheduler": self.scheduler.state_dict(),
              **({"ema": self.ema.state_dict()} if self.ema is not None else {}),
              "epoch": epoch, "cfg": self.cfg.to_dict(), "elapsed_s": self.elapsed(),
              "options": {k: str(v) for k, v in asdict(self.opts).items()}}
        path = self.run_dir / "ckpt_last.pt"
        torch.save(ck, self.run_dir / "ckpt_last.tmp")
        os.replace(self.run_dir / "ckpt_last.tmp", path)
        return path

    def finish(self) -> dict:
        """Calibrate the evaluated model on the whole validation split and write the weights file."""
        from deepsentry.detector.model import save_weights

        opts = self.opts
        model = self.eval_model
        if self.ema is not None:
            _log(f"calibrating and saving the weights' moving average (decay {opts.ema_decay})")
        n_ep = round(self.epochs_done, 2)
        model.cfg = self.cfg.replace(version=opts.version, trained_on=self._trained_on(n_ep))
        metrics = calibrate_on_val(model, self.images, self.labels, self.sources, self.va_idx, self.device,
                                   seed=opts.seed, kinds=self.kinds, fit_mask=self.fit_mask)
        metrics.update({"train_seconds": round(time.time() - self.t_start, 1), "device": self.device,
                        "epochs_run": n_ep, "options": {k: str(v) for k, v in asdict(opts).items()}})
        save_weights(model, self.out, model.cfg, extra={"metrics": metrics})
        (self.run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        _log_written(self.out, metrics)
        return metrics

    def _trained_on(self, n_ep: float) -> str:
        opts = self.opts
        return (" + ".join(f"{i.parent.name}/{i.name}" for i in self.indexes) + f": {len(self.train_rows)} train crops"
                + (f" (excluding source {','.join(opts.exclude_source)})" if opts.exclude_source else "")
                + (f" (leaving out {','.join(opts.leave_out)})" if opts.leave_out else "")
                + f", {n_ep} epochs, SBI p={self.p_sbi}"
                + (f", resynthesis p={opts.p_resynth}" if opts.p_resynth else "")
                + (f", initialised from {Path(opts.init).name}" if opts.init else "")
                + (f", weight EMA {opts.ema_decay}" if self.ema is not None else ""))


def _log_written(out: Path, metrics: dict) -> None:
    f = metrics["frame"]
    _log(f"wrote {out}; val AUC {f['all']['auc']:.4f}; " + ", ".join(f"{s} {f[s]['auc']:.4f}" for s in f if s != "all"))


def _left_out(row, leave_out: tuple[str, ...]) -> bool:
    """Whether a crop row belongs to a family named in ``--leave-out`` (a substring of its family or
    source, case-insensitive)."""
    return any(k.lower() in f"{row.family} {row.source}".lower() for k in leave_out)


def calibrate_on_val(model, images, labels, sources: list[str], va_idx: np.ndarray, device: str,
                     seed: int = 0, kinds: np.ndarray | None = None, fit_mask: np.ndarray | None = None) -> dict:
    """Fit the branch fusion, temperatures, threshold and uncertain band on the validation crops
    ``va_idx`` with the model's own preprocessing (``cfg.view_scale``, ``cfg.tta_flip``); sets
    ``model.cfg`` and returns the validation metrics of all of ``va_idx``. ``fit_mask`` (one bool per
    crop of ``va_idx``) keeps crops out of the fit while still scoring them: a family left out of
    training must not steer the fusion weights either, or its held-out AUC is not held out."""
    from torch.utils.data import DataLoader

    from deepsentry.detector.calibrate import choose_threshold, choose_uncertain_band, fit_temperature, sigmoid
    from deepsentry.detector.data import TrackDataset, ValTrackDataset, collate_tracks
    from deepsentry.detector.metrics import summary

    _log("calibrating on the validation split")
    cfg = model.cfg
    val_sources = [sources[i] for i in va_idx]
    val_loader = DataLoader(TrackDataset(images, labels, sources, cfg, train=False, indices=va_idx, kinds=kinds),
                            batch_size=128, shuffle=False, num_workers=0, collate_fn=collate_tracks)
    fit = np.ones(len(va_idx), bool) if fit_mask is None else np.asarray(fit_mask, bool)
    changes = {}
    if cfg.branches:
        from deepsentry.detector.calibrate import fit_logistic
        from deepsentry.detector.model import fuse

        raw, vy, bl, vk = predict_frames(model, val_loader, device, parts=True)
        changes["fusion"] = tuple(round(w, 5) for w in fit_logistic(np.c_[raw, bl][fit], vy[fit]))
        fk = vk[fit]
        changes["branch_temperature"] = tuple(
            round(fit_temperature(bl[fit][(fk == 0) | (fk == 1 + k), k], fk[(fk == 0) | (fk == 1 + k)] > 0), 4)
            for k in range(bl.shape[1]))
        vl = fuse(changes["fusion"], raw, bl)
        model.cfg = cfg = cfg.replace(**changes)
    else:
        vl, vy = predict_frames(model, val_loader, device)
    t_frame = fit_temperature(vl[fit], vy[fit])
    sub = np.sort(np.random.default_rng(seed).permutation(np.flatnonzero(fit))[:400])
    tsub = va_idx[sub]
    track_loader = DataLoader(ValTrackDataset(np.asarray(images[tsub]), labels[tsub], cfg, length=4),
                              batch_size=32, num_workers=0, collate_fn=collate_tracks)
    tl, ty = predict_tracks(model, track_loader, device)
    t_track = fit_temperature(tl, ty)
    p_val = sigmoid(vl / t_frame)
    thr = choose_threshold(p_val[fit], vy[fit])
    band = choose_uncertain_band(p_val[fit], vy[fit], thr)
    model.cfg = cfg.replace(temperature_frame=round(t_frame, 4), temperature_track=round(t_track, 4),
                            threshold=round(thr, 4), uncertain_band=band)
    src = np.asarray(val_sources)
    return {"frame": val_metrics(vl / t_frame, vy, val_sources),
            "track_pseudo": val_metrics(tl / t_track, ty, [sources[i] for i in tsub]),
            "calibration": {"temperature_frame": t_frame, "temperature_track": t_track, "threshold": thr,
                            "uncertain_band": list(band), "view_scale": cfg.view_scale, "tta_flip": cfg.tta_flip},
            "frame_at_threshold": {"all": summary(vy, p_val, thr),
                                   **{s: summary(vy[src == s], p_val[src == s], thr) for s in sorted(set(val_sources))}}}


def recalibrate(weights: Path, data: Path, out: Path, *, view_scale: float | None = None,
                tta_flip: bool | None = None, version: str | None = None, track_score: str | None = None,
                device: str = "auto") -> dict:
    """Refit a weights file's calibration on the validation split of a crop index, optionally with a new
    view scale or test-time flip (both change the scores, so the calibration must follow them) or track
    score, and write the result to ``out``. The network weights are unchanged."""
    from deepsentry.detector.data import load_images, read_index
    from deepsentry.detector.model import load_weights, save_weights

    device = resolve_device(device)
    index = _index_path(Path(data))
    if index is None:
        raise BadRequest(f"--data {data}: no index.csv")
    rows = [r for r in read_index(index) if r.split == "val"]
    if not rows:
        raise BadRequest(f"{index}: no rows in the val split")
    model, _ = load_weights(Path(weights), device=device)
    changes = {k: v for k, v in (("view_scale", view_scale), ("tta_flip", tta_flip), ("version", version),
                                 ("track_score", track_score)) if v is not None}
    model.cfg = model.cfg.replace(**changes)
    images = load_images(index.parent, rows, None, progress=False)
    metrics = calibrate_on_val(model, images, np.array([r.label for r in rows]), [r.source for r in rows],
                               np.arange(len(rows)), device)
    metrics["recalibrated_from"] = Path(weights).name
    save_weights(model, Path(out), model.cfg, extra={"metrics": metrics})
    _log_written(out, metrics)
    return metrics
