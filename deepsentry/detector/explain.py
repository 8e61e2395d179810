"""Grad-CAM (Selvaraju et al. 2017) on the last conv stage: where the model looked for the fake cue."""

from __future__ import annotations

import numpy as np


def grad_cam(model, crop: np.ndarray, device: str = "cpu", target: str = "predicted") -> np.ndarray:
    """Heatmap (S, S) float32 in [0, 1] for one RGB uint8 crop, S = the crop's own size.

    The map is the ReLU of the last conv stage's activations weighted by the spatially averaged
    gradient of the scored per-frame logit (``model.scored_logits``: with branches, the fused one) of the ``target`` class — "predicted" (the evidence for the model's
    own decision on this crop, standard Grad-CAM), "fake" or "real" — upsampled bilinearly and scaled
    to a maximum of 1 (all zeros when nothing contributes)."""
    import cv2
    import torch

    from deepsentry.detector.model import preprocess

    was_training = model.training
    model.eval()
    x = preprocess(crop, model.cfg).unsqueeze(0).to(device)
    with torch.enable_grad():
        fmap = model.feature_map(x)
        fmap.retain_grad()
        logit = model.scored_logits(model.embed_map(fmap))[0]
        if target == "predicted":
            sign = 1.0 if float(logit.detach()) >= 0 else -1.0
        elif target in ("fake", "real"):
            sign = 1.0 if target == "fake" else -1.0
        else:
            raise ValueError(f"target must be predicted, fake or real, not {target!r}")
        model.zero_grad(set_to_none=True)
        (sign * logit).backward()
    grads = fmap.grad[0]                               # (C, h, w)
    weights = grads.mean(dim=(1, 2), keepdim=True)
    cam = torch.relu((weights * fmap[0]).sum(0)).detach().float().cpu().numpy()
    model.zero_grad(set_to_none=True)
    if was_training:
        model.train()
    h, w = crop.shape[:2]
    cam = cv2.resize(cam, (w, h), interpolation=cv2.INTER_LINEAR)
    m = float(cam.max())
    return (cam / m).astype(np.float32) if m > 0 else np.zeros((h, w), np.float32)
