"""Training smoke (a few steps reduce the loss), the full train() path on a tiny index, SBI, and the
eval CLI on a crop index and on a real/ fake/ media folder made at test time."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from deepsentry.detector.data import TrackDataset, collate_tracks, read_index
from deepsentry.detector.model import create_detector, load_weights
from deepsentry.detector.sbi import face_landmarks, self_blend


def test_sbi_changes_only_the_face_region(face_crop_160):
    lm = face_landmarks(face_crop_160)
    assert lm is not None and lm.shape == (68, 2)
    # landmarks land on the face: the nose tip is near the crop centre
    assert 40 < lm[30, 0] < 120 and 40 < lm[30, 1] < 130
    fake, params = self_blend(face_crop_160, lm, np.random.default_rng(3))
    diff = np.abs(fake.astype(int) - face_crop_160.astype(int)).sum(2)
    assert diff.max() > 10
    # the blend sits on the face and its boundary stays inside the crop: for every draw the mask covers
    # the centre and leaves most of the crop's outer ring alone
    from deepsentry.detector.sbi import hull_mask

    assert diff[60:100, 60:100].mean() > 2.0
    for seed in range(8):
        m = hull_mask(face_crop_160.shape[:2], lm, np.random.default_rng(seed))
        ring = np.concatenate([m[:6].ravel(), m[-6:].ravel(), m[:, :6].ravel(), m[:, -6:].ravel()])
        assert m[70:90, 70:90].mean() > 0.9 and ring.mean() < 0.6, (seed, ring.mean())
    again, _ = self_blend(face_crop_160, lm, np.random.default_rng(99), params)
    assert np.array_equal(again, fake)          # params reproduce the blend exactly


def _grid_energy(img: np.ndarray) -> float:
    """Spectral energy of a crop's high-passed grey image on the lines of the pixel grid's Nyquist
    frequency, relative to its mean: where a stride-2 upsampler leaves its period-2 pattern."""
    g = img.astype(np.float32).mean(2)
    g = g - cv2.GaussianBlur(g, (0, 0), 1.0)
    f = np.abs(np.fft.fft2(g))
    h, w = g.shape
    return float((f[h // 2 - 1:h // 2 + 2].mean() + f[:, w // 2 - 1:w // 2 + 2].mean()) / f.mean())


def test_resynthesis_leaves_the_upsamplers_grid_pattern_that_a_clean_resample_does_not(face_crop_160):
    from deepsentry.detector.resynth import resynthesise

    for seed in range(6):
        fake, params = resynthesise(face_crop_160, np.random.default_rng(seed))
        assert fake.shape == face_crop_160.shape and fake.dtype == np.uint8
        assert cv2.PSNR(fake, face_crop_160) > 20          # the same face, re-rendered
        # the control loses the same detail (area-down by the same factor, bilinear up) without the pattern
        f = 2 ** params["steps"]
        control = cv2.resize(cv2.resize(face_crop_160, (160 // f, 160 // f), interpolation=cv2.INTER_AREA),
                             (160, 160), interpolation=cv2.INTER_LINEAR)
        assert _grid_energy(fake) > 1.5 * _grid_energy(control), (seed, params["steps"])
        again, _ = resynthesise(face_crop_160, np.random.default_rng(99), params)
        assert np.array_equal(again, fake)                  # params render another frame alike


def test_resynthesised_reals_are_synthesis_fakes_in_training(face_crop_160):
    from deepsentry.detector.data import BRANCHES

    other = np.full_like(face_crop_160, 90)
    cfg = create_detector("mobilenet_v3_small_lstm").cfg
    images, labels = np.stack([face_crop_160, other]), np.array([0, 1])
    kinds = np.array([0, 1 + BRANCHES.index("blend")])
    ds = TrackDataset(images, labels, ["a", "b"], cfg, p_resynth=1.0, track_lengths=(1,), kinds=kinds, p_clean=1.0)
    real_as_fake, fake = ds[0], ds[1]
    assert real_as_fake[1] == 1.0 and real_as_fake[3] == 1 + BRANCHES.index("synthesis")
    assert fake[1] == 1.0 and fake[3] == 1 + BRANCHES.index("blend")      # a fake stays what it was
    plain = TrackDataset(images, labels, ["a", "b"], cfg, p_resynth=0.0, track_lengths=(1,), kinds=kinds, p_clean=1.0)
    assert plain[0][1] == 0.0 and plain[0][3] == 0
    # the same draw of windows and flips, so the two views differ only by the resynthesis
    assert not torch.equal(real_as_fake[0], plain[0][0])


def test_border_swap_keeps_the_face_and_takes_the_border_from_the_other_crop(face_crop_160):
    from deepsentry.detector.data import swap_border

    other = np.full_like(face_crop_160, 17)
    out = swap_border(face_crop_160, other, np.random.default_rng(0))
    assert out.shape == face_crop_160.shape and out.dtype == np.uint8
    assert np.abs(out[60:100, 60:100].astype(int) - face_crop_160[60:100, 60:100]).max() <= 1   # the face
    assert np.abs(out[:8].astype(int) - 17).max() <= 3 and np.abs(out[:, -8:].astype(int) - 17).max() <= 3  # border
    # in training, a track whose border was swapped still carries its own crop's label
    labels = np.array([0, 1])
    ds = TrackDataset(np.stack([face_crop_160, other]), labels, ["a", "b"], create_detector("mobilenet_v3_small_lstm").cfg,
                      p_ring=1.0, track_lengths=(1,))
    assert [ds[k][1] for k in range(2)] == [0.0, 1.0]


def test_training_steps_reduce_loss(tiny_index):
    torch.manual_seed(0)
    rows = read_index(tiny_index / "index.csv")
    imgs = np.stack([cv2.imread(str(tiny_index / r.path))[:, :, ::-1] for r in rows])
    model = create_detector("tiny_test")
    ds = TrackDataset(imgs, np.array([r.label for r in rows]), [r.source for r in rows], model.cfg,
                      train=True, track_lengths=(1, 2, 3), seed=0)
    x, lengths, y, fy, _ = collate_tracks([ds[i] for i in range(12)])
    assert x.shape[0] == int(lengths.sum()) and fy.shape[0] == x.shape[0]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    bce = torch.nn.BCEWithLogitsLoss()
    model.train()

    def loss_now():
        o = model(x, lengths)
        return bce(o.frame_logits, fy) + 0.5 * bce(o.track_logits, y)

    first = float(loss_now().detach())
    for _ in range(25):
        loss = loss_now()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        o = model(x, lengths)
        last = float(bce(o.frame_logits, fy) + 0.5 * bce(o.track_logits, y))
    assert last < 0.7 * first, (first, last)


def test_train_writes_calibrated_weights(tiny_weights, tiny_index):
    model, blob = load_weights(tiny_weights)
    cfg = model.cfg
    assert cfg.arch == "tiny_test"
    assert cfg.temperature_frame > 0 and cfg.temperature_track > 0
    assert cfg.uncertain_band[0] <= cfg.threshold <= cfg.uncertain_band[1]
    assert "index.csv" in cfg.trained_on
    m = blob["extra"]["metrics"]
    assert m["frame"]["all"]["n"] == 8
    run_dir = tiny_weights.parent
    assert (run_dir / "ckpt_last.pt").is_file() and (run_dir / "history.jsonl").is_file()
    assert (run_dir / "landmarks.npz").is_file()


def test_calibration_is_not_fitted_on_the_crops_left_out(tiny_weights, tiny_index):
    # leave-one-family-out: the family left out of training is scored on val but must not steer the
    # temperatures, threshold or band, or its held-out AUC and verdicts are not held out
    from deepsentry.detector.train import calibrate_on_val

    rows = read_index(tiny_index / "index.csv")
    imgs = np.stack([cv2.imread(str(tiny_index / r.path))[:, :, ::-1] for r in rows])
    labels, sources = np.array([r.label for r in rows]), [r.source for r in rows]
    va = np.array([i for i, r in enumerate(rows) if r.split == "val"])
    fit = np.ones(len(va), bool)
    fit[np.flatnonzero(labels[va] == 1)[1::2]] = False                # every other val fake left out
    assert 0 < (~fit).sum() < (labels[va] == 1).sum()
    changed = imgs.copy()
    changed[va[~fit]] = 255 - changed[va[~fit]]                       # only the left-out crops change

    def calibration(images, mask):
        model = load_weights(tiny_weights)[0]
        metrics = calibrate_on_val(model, images, labels, sources, va, "cpu", fit_mask=mask)
        c = model.cfg
        return (c.temperature_frame, c.temperature_track, c.threshold, tuple(c.uncertain_band)), metrics

    before, _ = calibration(imgs, fit)
    after, metrics = calibration(changed, fit)
    assert after == before
    assert metrics["frame"]["all"]["n"] == len(va)                    # still scored
    assert calibration(changed, None)[0] != before                     # fitted on, they would move it


def test_train_resume_continues(tiny_weights, tiny_index, tmp_path):
    from deepsentry.detector.train import TrainOptions, train

    run = tiny_weights.parent
    out = tmp_path / "resumed.pt"
    train(TrainOptions(data=tiny_index, out=out, run_dir=run, arch="tiny_test", epochs=2, batch_size=8,
                       workers=0, threads=1, warmup_steps=1, progress=False, val_subset=8,
                       resume=run / "ckpt_last.pt"))
    hist = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in hist] == [1, 2]
    assert load_weights(out)[0].cfg.arch == "tiny_test"


def test_eval_cli_on_crop_index(tiny_weights, tiny_index, tmp_path, capsys):
    from deepsentry.cli import main

    png = tmp_path / "roc.png"
    rc = main(["eval", str(tiny_index / "index.csv"), "--weights", str(tiny_weights), "--json",
               "--roc-png", str(png)])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    for k in ("n", "auc", "accuracy", "precision", "recall", "f1", "eer", "items", "per_source"):
        assert k in res
    assert res["n"] == 8 and len(res["items"]) == 8
    assert {it["label"] for it in res["items"]} == {"real", "fake"}
    assert all(0.0 <= it["score"] <= 1.0 for it in res["items"])
    assert set(res["per_source"]) == {"astro", "other"}
    assert cv2.imread(str(png)) is not None
    # text mode prints the metrics
    assert main(["eval", str(tiny_index / "index.csv"), "--weights", str(tiny_weights)]) == 0
    assert "AUC" in capsys.readouterr().out


def test_eval_cli_on_media_folder(tiny_weights, face_crop_160, tmp_path, capsys):
    """real/ and fake/ images and a video, through the daemon's pipeline; a face-free image is listed."""
    from deepsentry.cli import main
    from tests.mediautil import astronaut, face_clip, scene

    root = tmp_path / "media"
    (root / "real").mkdir(parents=True)
    (root / "fake").mkdir()
    img = astronaut()
    cv2.imwrite(str(root / "real" / "astronaut.jpg"), img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    cv2.imwrite(str(root / "real" / "empty.png"), scene(320, 240, seed=2)[:, :, ::-1])
    face_clip(root / "real" / "clip.mp4", seconds=2.0, fps=8, size=(640, 360))
    # a fake: the astronaut with a self-blended face pasted back in place
    lm = face_landmarks(img)
    fake = self_blend(img, lm, np.random.default_rng(1))[0]
    cv2.imwrite(str(root / "fake" / "astronaut_sbi.jpg"), fake[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    rc = main(["eval", str(root), "--weights", str(tiny_weights), "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res["level"] == "media"
    assert res["no_face"]["count"] == 1 and res["no_face"]["items"][0]["path"].endswith("empty.png")
    assert res["n"] == 3
    kinds = {it["path"]: it["kind"] for it in res["items"]}
    assert kinds["real/clip.mp4"] == "video" and kinds["fake/astronaut_sbi.jpg"] == "image"
    assert res["frame_level"]["n"] >= 3
    for k in ("auc", "accuracy", "precision", "recall", "f1"):
        assert k in res


def test_video_dataset_layouts_and_track_extraction(tmp_path):
    """FaceForensics++/Celeb-DF layouts are recognised by folder names; a DFDC-style folder of real
    H.264 clips becomes a crop index through the daemon's face pipeline."""
    from deepsentry.detector.data import extract_video_tracks, find_video_dataset
    from deepsentry.detector.model import DetectorCfg
    from tests.mediautil import face_clip

    ff = tmp_path / "ffpp"
    for rel in ("original_sequences/youtube/c23/videos/033.mp4",
                "manipulated_sequences/Deepfakes/c23/videos/033_097.mp4",
                "manipulated_sequences/FaceSwap/c23/videos/033_097.mp4"):
        (ff / rel).parent.mkdir(parents=True, exist_ok=True)
        (ff / rel).write_bytes(b"")
    items = find_video_dataset(ff)
    assert [(i.label, i.group) for i in items] == [(0, "ffpp:033"), (1, "ffpp:033"), (1, "ffpp:033")]
    cd = tmp_path / "celebdf"
    for rel in ("Celeb-real/id0_0001.mp4", "Celeb-synthesis/id1_id0_0001.mp4", "YouTube-real/00001.mp4"):
        (cd / rel).parent.mkdir(parents=True, exist_ok=True)
        (cd / rel).write_bytes(b"")
    labels = {i.path.name: (i.label, i.group) for i in find_video_dataset(cd)}
    assert labels["id0_0001.mp4"] == (0, "celebdf:id0_0001")
    assert labels["id1_id0_0001.mp4"] == (1, "celebdf:id0_0001")     # same target identity and clip
    assert labels["00001.mp4"][0] == 0

    dfdc = tmp_path / "dfdc"
    dfdc.mkdir()
    face_clip(dfdc / "aaa.mp4", seconds=1.0, fps=6, size=(640, 360))
    face_clip(dfdc / "bbb.mp4", seconds=1.0, fps=6, size=(640, 360), drift=4)
    (dfdc / "metadata.json").write_text(json.dumps({
        "aaa.mp4": {"label": "REAL"}, "bbb.mp4": {"label": "FAKE", "original": "aaa.mp4"}}))
    items = find_video_dataset(dfdc)
    assert [(i.label, i.group) for i in items] == [(0, "dfdc:aaa"), (1, "dfdc:aaa")]
    index = extract_video_tracks(items, DetectorCfg(), tmp_path / "crops", frames_per_video=4, fps=4.0,
                                 progress=False)
    rows = read_index(index)
    assert len(rows) >= 4 and {r.label for r in rows} == {0, 1}
    assert len({r.split for r in rows}) == 1                 # one group -> one split
    img = cv2.imread(str(index.parent / rows[0].path))
    assert img.shape == (160, 160, 3)


def test_paired_order_keeps_groups_adjacent():
    from deepsentry.detector.train import paired_order

    groups = ["a", "b", "a", "c", "b", "d", "a", "e"]
    order = paired_order(groups, torch.Generator().manual_seed(3))
    assert sorted(order) == list(range(len(groups)))
    seen = [groups[k] for k in order]
    # each group's members form one contiguous run
    for g in set(groups):
        pos = [i for i, s in enumerate(seen) if s == g]
        assert pos == list(range(pos[0], pos[0] + len(pos))), (g, seen)
    other = paired_order(groups, torch.Generator().manual_seed(4))
    assert other != order or paired_order(groups, torch.Generator().manual_seed(5)) != order


def test_shared_aug_key_gives_a_fake_and_its_original_the_same_augmentation(face_crop_160):
    """Rows with one aug key (a DFDC fake and its original) get the same track length, windows and
    degradation, so their tensors differ only where the images differ (the face)."""
    from deepsentry.detector.model import DetectorCfg

    fake = face_crop_160.copy()
    fake[56:104, 56:104] = cv2.GaussianBlur(fake, (0, 0), 3)[56:104, 56:104] // 2 + 60   # a "swapped" centre
    imgs = np.stack([face_crop_160, fake, face_crop_160])
    cfg = DetectorCfg(input_size=64)
    ds = TrackDataset(imgs, np.array([0, 1, 0]), ["s"] * 3, cfg, train=True, seed=0,
                      aug_keys=np.array([7, 7, 8]), p_sbi={})
    differs = 0
    for epoch in range(6):
        ds.set_epoch(epoch)
        (xo, yo, _, _), (xf, yf, _, _), (xu, _, _, _) = ds[0], ds[1], ds[2]
        assert (yo, yf) == (0.0, 1.0) and xo.shape == xf.shape
        d = (xo - xf).abs().mean((0, 1))
        # windows, colour, blur, noise and JPEG agree: the outer rows and columns match, the centre differs
        edge = torch.cat([d[:6].ravel(), d[-6:].ravel(), d[:, :6].ravel(), d[:, -6:].ravel()]).mean()
        assert edge < 0.03 and d[26:38, 26:38].mean() > 0.3, (epoch, float(edge), float(d[26:38, 26:38].mean()))
        # another key draws its own augmentation for the same image
        differs += xu.shape != xo.shape or not torch.equal(xu, xo)
    assert differs >= 5


def test_train_init_from_weights(tiny_weights, tiny_index, tmp_path):
    from deepsentry.detector.train import TrainOptions, train

    out = tmp_path / "init.pt"
    train(TrainOptions(data=tiny_index, out=out, run_dir=tmp_path / "run", arch="tiny_test", epochs=1,
                       batch_size=8, workers=0, threads=1, warmup_steps=1, progress=False, val_subset=8,
                       init=tiny_weights, lr=1e-9, crop_shift=0.1))
    a, _ = load_weights(tiny_weights)
    b, _ = load_weights(out)
    assert b.cfg.crop_shift == 0.1 and "initialised from tiny.pt" in b.cfg.trained_on
    # at a vanishing learning rate the weights are the ones it started from (BatchNorm statistics move)
    wa, wb = dict(a.named_parameters()), dict(b.named_parameters())
    assert all(torch.allclose(wa[k], wb[k], atol=1e-4) for k in wa)
    fresh = dict(create_detector("tiny_test").named_parameters())
    assert not all(torch.allclose(wa[k], fresh[k], atol=1e-4) for k in wa)


def test_train_saves_the_weight_average_with_ema(tiny_weights, tiny_index, tmp_path):
    """With ``ema_decay`` the saved weights are the moving average, not the last step's weights: at a
    decay near 1 they stay at the starting point while the raw weights in the checkpoint move away."""
    from deepsentry.detector.train import TrainOptions, train

    out, run = tmp_path / "ema.pt", tmp_path / "run"
    train(TrainOptions(data=tiny_index, out=out, run_dir=run, arch="tiny_test", epochs=1, batch_size=8,
                       workers=0, threads=1, warmup_steps=1, progress=False, val_subset=8,
                       init=tiny_weights, lr=5e-2, ema_decay=0.999999))
    start = dict(load_weights(tiny_weights)[0].named_parameters())
    saved = dict(load_weights(out)[0].named_parameters())
    ck = torch.load(run / "ckpt_last.pt", map_location="cpu", weights_only=False)
    raw = ck["state_dict"]
    assert "weight EMA 0.999999" in load_weights(out)[0].cfg.trained_on and "ema" in ck
    assert all(torch.allclose(saved[k], start[k], atol=1e-3) for k in start)
    assert not all(torch.allclose(raw[k], start[k], atol=1e-3) for k in start)
    # resuming continues the same average (its update count goes on) rather than starting a new one
    n1 = int(ck["ema"]["n_averaged"])
    train(TrainOptions(data=tiny_index, out=tmp_path / "ema2.pt", run_dir=run, arch="tiny_test", epochs=2,
                       batch_size=8, workers=0, threads=1, warmup_steps=1, progress=False, val_subset=8,
                       resume=run / "ckpt_last.pt", lr=5e-2, ema_decay=0.999999))
    ck2 = torch.load(run / "ckpt_last.pt", map_location="cpu", weights_only=False)
    assert ck2["epoch"] == 1 and int(ck2["ema"]["n_averaged"]) == 2 * n1 - 1


def test_calibrate_cli_refits_for_a_new_view(tiny_weights, tiny_index, tmp_path, capsys):
    """``deepsentry calibrate`` keeps the network, stores the new view/TTA and refits the calibration
    on the val split; eval then reports the new scores."""
    from deepsentry.cli import main

    out = tmp_path / "recal.pt"
    assert main(["calibrate", str(tiny_weights), "--data", str(tiny_index), "--out", str(out),
                 "--view-scale", "0.9", "--tta-flip", "--version", "1.1", "--device", "cpu"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["view_scale"] == 0.9 and printed["tta_flip"] is True
    a, _ = load_weights(tiny_weights)
    b, blob = load_weights(out)
    assert b.cfg.view_scale == 0.9 and b.cfg.tta_flip and a.cfg.view_scale == 0.925 and a.cfg.tta_flip
    assert b.cfg.version == "1.1" and a.cfg.version == "1"
    assert b.cfg.temperature_frame == pytest.approx(printed["temperature_frame"], abs=1e-4)
    assert blob["extra"]["metrics"]["recalibrated_from"] == "tiny.pt"
    wa, wb = a.state_dict(), b.state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert main(["eval", str(tiny_index / "index.csv"), "--weights", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 8 and report["threshold"] == pytest.approx(b.cfg.threshold)


def test_crop_cache_linked_from_another_run_is_replaced_not_written_through(face_crop_160, tmp_path):
    """A run that links another run's crop cache (as bench/leave_one_out.py does) and has other rows
    builds its own cache; the linked run's files keep their crops and key."""
    from deepsentry.detector.data import CropRow, load_images

    root = tmp_path / "data"
    root.mkdir()
    cv2.imwrite(str(root / "a.png"), face_crop_160[:, :, ::-1])
    cv2.imwrite(str(root / "b.png"), face_crop_160[::-1, :, ::-1].copy())
    row_a = CropRow("a.png", "train", 0, "s", "g1", "c1")
    row_b = CropRow("b.png", "train", 1, "s", "g2", "c2")
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    base = load_images(root, [row_a], first / "crops160.npy", progress=False)
    meta_before = (first / "crops160.json").read_text()
    for name in ("crops160.npy", "crops160.json"):
        (second / name).symlink_to(first / name)

    both = load_images(root, [row_a, row_b], second / "crops160.npy", progress=False)
    assert both.shape[0] == 2 and not (second / "crops160.npy").is_symlink()
    assert (first / "crops160.json").read_text() == meta_before
    again = load_images(root, [row_a], first / "crops160.npy", progress=False)
    assert isinstance(again, np.memmap) and np.array_equal(np.asarray(again), np.asarray(base))
    reread = load_images(root, [row_a, row_b], second / "crops160.npy", progress=False)
    assert isinstance(reread, np.memmap) and np.array_equal(np.asarray(reread), both)


def test_calibrate_cli_sets_the_track_score_without_data_and_keeps_the_rest(tiny_weights, tmp_path, capsys):
    """``deepsentry calibrate W --track-score mean`` needs no crop index: only ``track_score`` (and the
    version) change; network and calibration stay. Asking for a refit without ``--data`` is refused."""
    from deepsentry.cli import main

    out = tmp_path / "mean.pt"
    assert main(["calibrate", str(tiny_weights), "--out", str(out), "--track-score", "mean"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["track_score"] == "mean"
    a, _ = load_weights(tiny_weights)
    b, _ = load_weights(out)
    assert b.cfg == a.cfg.replace(track_score="mean") and a.cfg.track_score == "lstm"
    wa, wb = a.state_dict(), b.state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert main(["calibrate", str(tiny_weights), "--out", str(tmp_path / "x.pt"), "--view-scale", "0.9"]) == 1
    assert "--data is needed" in capsys.readouterr().err and not (tmp_path / "x.pt").exists()


def test_quality_matching_brings_a_sharp_and_a_soft_crop_to_the_same_look(face_crop_160):
    """``MatchQuality`` takes any crop to the drawn brightness, contrast and sharpness, so two crops that
    differed in quality (a sharp, contrasty one and a soft, flat one) leave it alike: what training then
    sees carries no quality cue to the label. One track keeps one setting; the draw never depends on the
    crop."""
    from deepsentry.detector.augment import MatchQuality, sharpness

    sharp = face_crop_160
    soft = cv2.GaussianBlur(((sharp.astype(np.float32) - 128) * 0.4 + 150).astype(np.uint8), (0, 0), 2.0)

    def stats(img):
        grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return np.array([np.log(sharpness(img)), np.log(grey.std()), grey.mean() / 255])

    before = np.abs(stats(sharp) - stats(soft))
    gaps = []
    for seed in range(12):
        a, b = MatchQuality(np.random.default_rng(seed)), MatchQuality(np.random.default_rng(seed))
        assert (a.sharpness, a.contrast, a.brightness) == (b.sharpness, b.contrast, b.brightness)
        out_a, out_b = a(sharp), b(soft)
        grey = cv2.cvtColor(out_a, cv2.COLOR_RGB2GRAY).astype(np.float32)
        # near the targets (clipping at black and white moves a dark or bright target's mean a little)
        assert abs(grey.mean() - a.brightness) < 15 and abs(np.log(grey.std() / a.contrast)) < 0.4
        assert abs(np.log(sharpness(out_a) / a.sharpness)) < 0.7      # sharpening is bounded: approached
        assert np.array_equal(a(sharp), out_a)                     # the track's later frames: the same setting
        gaps.append(np.abs(stats(out_a) - stats(out_b)))
    assert np.all(np.median(gaps, axis=0) < 0.35 * before), (before, np.median(gaps, axis=0))


def test_quality_matching_fitted_on_the_original_keeps_a_swap_softer_than_its_original(face_crop_160):
    """With ``match_anchors`` a fake is brought to the drawn quality by the operations fitted on its
    original, so a soft swap stays softer than the video it came from (the cue that tells them apart
    within a pair), while fitting each crop on its own makes the two equally sharp."""
    from deepsentry.detector.model import DetectorCfg
    from deepsentry.detector.train import match_anchors

    real = face_crop_160
    fake = cv2.GaussianBlur(real, (0, 0), 1.2)
    images = np.stack([real, fake])

    def lap_var(x: torch.Tensor) -> float:        # first frame, grey, after preprocessing (same for both)
        g = x[0].mean(0).numpy()
        return float(np.var(g[1:-1, 1:-1] * 4 - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]))

    def ratios(anchors):
        ds = TrackDataset(images, np.array([0, 1]), ["dfdc", "dfdc"], DetectorCfg(input_size=128),
                          aug_keys=np.array([0, 0]), p_clean=1.0, p_match=1.0, match_anchors=anchors)
        out = []
        for epoch in range(8):
            ds.set_epoch(epoch)
            out.append(lap_var(ds[1][0]) / lap_var(ds[0][0]))
        return np.array(out)

    class Row:
        def __init__(self, label, group):
            self.label, self.group = label, group

    anchors = match_anchors([Row(1, "a"), Row(0, "a"), Row(1, "b")])
    assert anchors.tolist() == [1, 1, 2]          # a fake's original; a group without a real: itself
    raw = lap_var(TrackDataset(images, np.array([0, 1]), ["dfdc"] * 2, DetectorCfg(input_size=128),
                               train=False)[1][0]) / lap_var(
        TrackDataset(images, np.array([0, 1]), ["dfdc"] * 2, DetectorCfg(input_size=128), train=False)[0][0])
    paired, each = ratios(np.array([0, 0])), ratios(None)
    assert raw < 0.6
    assert np.all(paired < 0.75), (raw, paired)                # the swap stays clearly softer
    assert np.median(np.abs(np.log(each))) < 0.5 * abs(np.log(raw)), (raw, each)  # each on its own: alike
