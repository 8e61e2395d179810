"""``deepsentry train``, ``deepsentry calibrate`` and ``deepsentry eval``. Heavy imports happen inside the handlers."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from deepsentry.detector.result import TRACK_SCORES
from deepsentry.errors import BadRequest


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the real/fake face detector on a crop index or video dataset")
    p.add_argument("--data", required=True, type=Path, nargs="+",
                   help="folder with index.csv (e.g. ../shared/datasets/faces), the CSV itself, or a "
                        "FaceForensics++/DFDC/Celeb-DF video folder; several are trained on as one")
    p.add_argument("--pretrained", action="store_true",
                   help="start the backbone from the ImageNet weights its package ships (lite0_lstm)")
    p.add_argument("--trunk-lr-scale", type=float, default=1.0, help="backbone learning rate relative to --lr")
    p.add_argument("--branch-weight", type=float, default=0.5, help="loss weight of each branch head")
    p.add_argument("--leave-out", action="append", default=[], metavar="FAMILY",
                   help="train without the rows whose family or source contains FAMILY (validation keeps "
                        "them: the held-out score); repeatable")
    p.add_argument("--out", type=Path, default=Path("runs/detector/model.pt"), help="weights file to write")
    p.add_argument("--run-dir", type=Path, default=None, help="checkpoints, caches and logs (default: --out's folder)")
    p.add_argument("--arch", default="mobilenet_v3_small_lstm", help="registered detector name")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=48, help="tracks per step")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1")
    p.add_argument("--workers", type=int, default=1, help="data loader processes")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--exclude-source", action="append", default=[], metavar="S",
                   help="leave out crops of this source (repeatable), for cross-source checks")
    p.add_argument("--max-train", type=int, default=None, help="training items per epoch (random subset)")
    p.add_argument("--time-budget", type=float, default=None, metavar="MIN",
                   help="stop after MIN minutes of training (the LR schedule follows the clock)")
    p.add_argument("--input-size", type=int, default=None, help="override the arch's input size (px)")
    p.add_argument("--resume", type=Path, default=None, help="checkpoint (ckpt_last.pt) to continue from")
    p.add_argument("--init", type=Path, default=None, help="weights file to start from (fresh optimiser and schedule)")
    p.add_argument("--unpaired", action="store_true",
                   help="do not keep a fake and its original video's crop in one batch with shared augmentation")
    p.add_argument("--degrade-strength", type=float, default=1.0, help="scale of the quality degradations")
    p.add_argument("--p-clean", type=float, default=0.0, help="share of tracks trained without degradation")
    p.add_argument("--p-ring", type=float, default=0.0,
                   help="share of tracks whose crop border (hair, background) comes from another random crop, so "
                        "that only the face itself tells real from fake")
    p.add_argument("--p-resynth", type=float, default=0.0,
                   help="share of real tracks re-rendered through a random generator-like upsampler and trained as "
                        "synthesis fakes (deepsentry/detector/resynth.py)")
    p.add_argument("--match-quality", type=float, default=0.0,
                   help="share of tracks brought to a random brightness, contrast, saturation and sharpness drawn "
                        "alike for reals and fakes, so that image quality stops telling them apart "
                        "(bench/shortcut_probe.py)")
    p.add_argument("--match-on", choices=("pair", "track"), default="pair",
                   help="fit that quality on a fake's original and apply the same to the fake, keeping what "
                        "differs within the pair (pair), or fit each crop on its own (track)")
    p.add_argument("--crop-shift", type=float, default=None,
                   help="crop centre moved down by this many face-box heights at inference (stored in the weights)")
    p.add_argument("--no-tta", action="store_true",
                   help="score crops once (default: average each crop's and its mirror image's logits)")
    p.add_argument("--ema", type=float, default=None, metavar="DECAY",
                   help="validate, calibrate and save a moving average of the weights (e.g. 0.999)")
    p.add_argument("--version", default="1", help="version string stored in the weights")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_train)

    c = sub.add_parser("calibrate", help="refit a weights file's temperatures, threshold and uncertain band "
                                         "on a crop index's val split (e.g. after changing its view); without "
                                         "--data, only set --track-score")
    c.add_argument("weights", type=Path, help="weights file to recalibrate")
    c.add_argument("--data", type=Path, default=None, help="folder with index.csv, or the CSV itself")
    c.add_argument("--out", required=True, type=Path, help="weights file to write (same network, new calibration)")
    c.add_argument("--view-scale", type=float, default=None,
                   help="share of a dataset-framed crop the model sees (training windows average 0.925)")
    tta = c.add_mutually_exclusive_group()
    tta.add_argument("--tta-flip", dest="tta_flip", action="store_true", default=None,
                     help="average each crop's and its mirror image's logits")
    tta.add_argument("--no-tta-flip", dest="tta_flip", action="store_false")
    c.add_argument("--version", default=None, help="version string to store (default: keep the file's)")
    c.add_argument("--track-score", default=None, choices=list(TRACK_SCORES),
                   help="how a face track's probability is made: the LSTM, the mean frame logit, or both "
                        "(no refit needed: the threshold and band are fitted on frames)")
    c.add_argument("--device", default="auto")
    c.set_defaults(func=_calibrate)

    f = sub.add_parser("fuse", help="combine several weights files into one detector: fit a calibrated combiner "
                                    "over their scores on crop indexes' val split and write an ensemble manifest")
    f.add_argument("members", nargs="+", metavar="WEIGHTS[:BRANCH]",
                   help="weights files in the manifest's folder; BRANCH names a member without branch heads "
                        "in the results' branches (e.g. deepsentry-detector-v9.pt:swap)")
    f.add_argument("--data", type=Path, nargs="+", required=True, help="folders with index.csv (mix every family)")
    f.add_argument("--out", type=Path, required=True, help="manifest to write (.json)")
    f.add_argument("--version", default="0")
    f.add_argument("--track-score", default="mean", choices=list(TRACK_SCORES),
                   help="how each member's track logit is made before fusing")
    f.set_defaults(func=_fuse)

    e = sub.add_parser("eval", help="evaluate the detector on a crop index CSV or a real/ fake/ media folder")
    e.add_argument("path", type=Path, help="crop index CSV, or a folder with real/ and fake/ (images, videos)")
    e.add_argument("--weights", type=Path, default=None, help="weights file or ensemble manifest (default: the shipped one)")
    e.add_argument("--split", default="val", help="for a crop index: which split to score ('all' for every row)")
    e.add_argument("--roc-png", type=Path, default=None, help="write a ROC curve PNG here")
    e.add_argument("--device", default="cpu")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=_eval)


def _train(args) -> int:
    from deepsentry.detector.train import TrainOptions, train

    opts = TrainOptions(data=tuple(args.data), out=args.out, run_dir=args.run_dir, arch=args.arch, epochs=args.epochs,
                        batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device,
                        workers=args.workers, threads=args.threads, exclude_source=tuple(args.exclude_source),
                        max_train=args.max_train, time_budget_min=args.time_budget, input_size=args.input_size, resume=args.resume, version=args.version,
                        init=args.init, paired=not args.unpaired, degrade_strength=args.degrade_strength,
                        p_clean=args.p_clean, p_ring=args.p_ring, p_resynth=args.p_resynth,
                        p_match=args.match_quality, match_on=args.match_on, crop_shift=args.crop_shift, tta_flip=not args.no_tta, ema_decay=args.ema,
                        progress=not args.no_progress, pretrained=args.pretrained,
                        trunk_lr_scale=args.trunk_lr_scale, branch_weight=args.branch_weight,
                        leave_out=tuple(args.leave_out))
    metrics = train(opts)
    f = metrics["frame"]
    print(json.dumps({"weights": str(args.out), "val_auc": f["all"]["auc"],
                      **{f"val_auc_{s}": f[s]["auc"] for s in f if s != "all"}}))
    return 0


def _calibrate(args) -> int:
    from deepsentry.detector.model import restamp_weights
    from deepsentry.detector.train import recalibrate

    if args.data is None:
        if args.track_score is None or args.view_scale is not None or args.tta_flip is not None:
            raise BadRequest("--data is needed to refit the calibration (only --track-score and --version "
                             "can be set without it)")
        cfg = restamp_weights(args.weights, args.out, track_score=args.track_score,
                              **({"version": args.version} if args.version else {}))
        print(json.dumps({"weights": str(args.out), "track_score": cfg.track_score, "version": cfg.version}))
        return 0
    metrics = recalibrate(args.weights, args.data, args.out, view_scale=args.view_scale, tta_flip=args.tta_flip,
                          version=args.version, track_score=args.track_score, device=args.device)
    f = metrics["frame"]
    print(json.dumps({"weights": str(args.out), "val_auc": f["all"]["auc"], **metrics["calibration"],
                      **{f"val_auc_{s}": f[s]["auc"] for s in f if s != "all"}}))
    return 0


def _fuse(args) -> int:
    from deepsentry.detector.ensemble import fit_ensemble

    if args.out.suffix != ".json":
        raise BadRequest("--out must be a .json manifest")
    paths, names = [], []
    for m in args.members:
        file, _, branch = m.partition(":")
        paths.append(Path(file))
        names.append(branch or None)
    spec, metrics = fit_ensemble(paths, names, args.data, args.out, version=args.version,
                                 track_score=args.track_score)
    print(json.dumps({"manifest": str(args.out), **metrics, "combiner": spec.combiner,
                      "threshold": spec.threshold, "uncertain_band": spec.uncertain_band}))
    return 0


def _eval(args) -> int:
    from deepsentry.detector.evaluate import evaluate_path, format_report

    result = evaluate_path(args.path, weights=args.weights, split=args.split, roc_png=args.roc_png,
                           device=args.device)
    if args.json:
        print(json.dumps(result, allow_nan=False, default=str))
    else:
        print(format_report(result))
    return 0
