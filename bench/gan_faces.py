"""A GAN family of our own: a DCGAN trained here on real face crops, and faces sampled from it.

    .venv/bin/python bench/gan_faces.py [--minutes 45] [--n 400] [--out runs/gan_faces] [--threads 1]
    .venv/bin/python bench/detector_families.py --data ../shared/datasets/faces ../shared/datasets/faces_more runs/gan_faces

Faces a GAN drew whole are the family users meet that our training data lacks most (the private held-out
set's GAN faces scored 0.319 with v9), and no GAN can be downloaded here. So this trains one: DCGAN
(Radford, Metz and Chintala 2016: a generator of stride-2 transposed convolutions, a strided-convolution
discriminator, batch norm, Adam at 2e-4 with beta1 0.5) at 64 px on the train-split real crops of DFDC
(paid actors who consented to face-manipulation research). The detector never trains on its output, and
no detector code is used to make it, so it is a family held out of every model we ship: its AUC is a
held-out number. Its faces are small and soft next to StyleGAN's; it measures whether a detector knows
"a generator drew this" at all, not how it does on the best GANs.

Training checkpoints to ``OUT/dcgan.pt`` every few minutes and resumes from it, so ``--minutes`` adds to
what is there. Then ``--n`` faces are sampled (fixed seed), saved as JPEG (quality 92, like web images)
at the generator's 64 px, and listed in ``OUT/index.csv`` (split val, label fake, source ``own_gan``,
family ``GAN faces (own DCGAN)``) in the format of the shared crop indexes, for
``bench/detector_families.py``. The index also lists a control: the DFDC *val* real crops brought to the
same 64 px and JPEG quality (source ``dfdc_64px``, label real), so that the GAN faces can be scored against
reals that look as small and soft as they do (``detector_families``' column "vs own index reals"), and a
detector that calls every soft face fake gains nothing there. A sheet of 32 samples goes to
``OUT/samples.png`` to look at. ``--minutes 0`` only samples from the checkpoint. ``--train-n N`` adds N
faces from another seed in the train split: with them the family is no longer held out of a model trained
on the folder, which is the point of that option (training a detector on a GAN family of our own).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FACES = ROOT.parent / "shared" / "datasets" / "faces"
SIZE, Z = 64, 100


def generator(width: int) -> nn.Sequential:
    def up(cin, cout):
        return [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
    return nn.Sequential(nn.ConvTranspose2d(Z, 8 * width, 4, 1, 0, bias=False), nn.BatchNorm2d(8 * width), nn.ReLU(True),
                         *up(8 * width, 4 * width), *up(4 * width, 2 * width), *up(2 * width, width),
                         nn.ConvTranspose2d(width, 3, 4, 2, 1, bias=False), nn.Tanh())


def discriminator(width: int) -> nn.Sequential:
    def down(cin, cout, bn=True):
        return [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), *([nn.BatchNorm2d(cout)] if bn else []),
                nn.LeakyReLU(0.2, True)]
    return nn.Sequential(*down(3, width, bn=False), *down(width, 2 * width), *down(2 * width, 4 * width),
                         *down(4 * width, 8 * width), nn.Conv2d(8 * width, 1, 4, 1, 0, bias=False), nn.Flatten())


def init_weights(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def real_faces(data: Path, split: str) -> np.ndarray:
    """The DFDC real crops of one split at 64 px, (N, 64, 64, 3) uint8 RGB."""
    from deepsentry.detector.data import load_images, read_index

    rows = [r for r in read_index(data / "index.csv") if r.split == split and r.label == 0 and r.source == "dfdc"]
    if not rows:
        raise SystemExit(f"{data}: no DFDC real crops in the {split} split")
    imgs = load_images(data, rows, None, progress=False)
    return np.stack([cv2.resize(np.asarray(i), (SIZE, SIZE), interpolation=cv2.INTER_AREA) for i in imgs])


def as_tensor(imgs: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def train(out: Path, reals: torch.Tensor, minutes: float, width: int, batch: int, seed: int) -> dict:
    torch.manual_seed(seed)
    g, d = generator(width), discriminator(width)
    g.apply(init_weights)
    d.apply(init_weights)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ckpt = out / "dcgan.pt"
    state = {"steps": 0, "seconds": 0.0}
    if ckpt.is_file():
        saved = torch.load(ckpt, map_location="cpu")
        g.load_state_dict(saved["g"]), d.load_state_dict(saved["d"])
        opt_g.load_state_dict(saved["opt_g"]), opt_d.load_state_dict(saved["opt_d"])
        state = saved["state"]
        print(f"resuming after {state['steps']} steps ({state['seconds'] / 60:.0f} min)", flush=True)

    def save() -> None:
        tmp = ckpt.with_suffix(".tmp")
        torch.save({"g": g.state_dict(), "d": d.state_dict(), "opt_g": opt_g.state_dict(),
                    "opt_d": opt_d.state_dict(), "state": state, "width": width}, tmp)
        tmp.replace(ckpt)

    bce = nn.BCEWithLogitsLoss()
    rng = np.random.default_rng([seed, state["steps"]])
    t0 = last_save = time.time()
    start_s = state["seconds"]
    while time.time() - t0 < minutes * 60:
        x = reals[rng.integers(0, len(reals), batch)]
        flip = torch.from_numpy(rng.random(batch) < 0.5)
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
        z = torch.randn(batch, Z, 1, 1)
        fake = g(z)
        # discriminator: reals labelled 0.9 (one-sided label smoothing), fakes 0
        loss_d = bce(d(x), torch.full((batch, 1), 0.9)) + bce(d(fake.detach()), torch.zeros(batch, 1))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = bce(d(fake), torch.ones(batch, 1))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        state["steps"] += 1
        state["seconds"] = start_s + time.time() - t0
        if state["steps"] % 200 == 0:
            print(f"step {state['steps']}: loss D {loss_d.item():.3f}, G {loss_g.item():.3f}, "
                  f"{state['seconds'] / 60:.1f} min", flush=True)
        if time.time() - last_save > 300:
            save()
            last_save = time.time()
    save()
    return {"g": g, **state}


def sample(g: nn.Module, n: int, seed: int) -> np.ndarray:
    """``n`` faces from the generator, (n, 64, 64, 3) uint8 RGB, the same for the same seed."""
    g.eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        faces = g(torch.randn(n, Z, 1, 1, generator=gen))
    return ((faces.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()


def write_family(out: Path, g: nn.Module, n: int, seed: int, controls: np.ndarray, train_n: int = 0) -> None:
    imgs = sample(g, n, seed)
    rows = []
    for kind, split, batch in (("fake", "val", imgs), ("real", "val", controls),
                               ("fake", "train", sample(g, train_n, seed + 1) if train_n else [])):
        source = "own_gan" if kind == "fake" else "dfdc_64px"
        folder = out / source / split
        folder.mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(batch):
            rel = f"{source}/{split}/{'dcgan' if kind == 'fake' else 'real'}_{i:04d}.jpg"
            cv2.imwrite(str(out / rel), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
            rows.append({"path": rel, "split": split, "label": kind, "source": source,
                         "group": f"{source}:{split}:{i}", "cluster": f"{source}:{split}:{i}",
                         "family": "GAN faces (own DCGAN)" if kind == "fake" else "real", "original": "",
                         "meta": f"dcgan_64px;seed={seed if split == 'val' else seed + 1};index={i}" if kind == "fake"
                         else f"DFDC val real at {SIZE} px"})
    with open(out / "index.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    sheet = np.vstack([np.hstack(list(imgs[r * 8:(r + 1) * 8])) for r in range(min(4, n // 8))])
    cv2.imwrite(str(out / "samples.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=45.0, help="training time to add (resumes from OUT/dcgan.pt)")
    ap.add_argument("--n", type=int, default=400, help="faces to sample")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "gan_faces")
    ap.add_argument("--data", type=Path, default=FACES, help="crop index with DFDC real train crops")
    ap.add_argument("--train-n", type=int, default=0,
                    help="also sample this many faces (another seed) into the train split, to train on")
    ap.add_argument("--width", type=int, default=32, help="DCGAN base channel width")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    reals = as_tensor(real_faces(args.data, "train"))
    print(f"{len(reals)} real DFDC train crops at {SIZE} px", flush=True)
    result = train(args.out, reals, args.minutes, args.width, args.batch, args.seed)
    write_family(args.out, result["g"], args.n, seed=1234, controls=real_faces(args.data, "val"),
                 train_n=args.train_n)
    print(f"{result['steps']} steps ({result['seconds'] / 60:.0f} min) -> {args.n} faces in {args.out / 'index.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
