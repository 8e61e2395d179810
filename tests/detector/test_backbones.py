"""Our MobileNetV3-Small trunk is torchvision's, module for module: one state dict loads strictly into
both and they compute the same map, so the shipped v9 weights score exactly as they were trained."""

from __future__ import annotations

import torch

from deepsentry.detector.mobilenet import SMALL_CHANNELS, mobilenet_v3_small_trunk


def test_mobilenet_v3_small_trunk_matches_torchvision():
    import torchvision

    torch.manual_seed(0)
    ref = torchvision.models.mobilenet_v3_small(weights=None).features.eval()
    ours = mobilenet_v3_small_trunk().eval()
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, 144, 144)
    with torch.no_grad():
        a, b = ref(x), ours(x)
    assert a.shape == b.shape == (2, SMALL_CHANNELS, 5, 5)
    assert torch.allclose(a, b, atol=1e-5)
