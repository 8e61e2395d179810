"""MobileNetV3-Small's convolutional trunk (Howard et al. 2019), laid out module for module like
torchvision's ``mobilenet_v3_small().features``, so weights trained with that trunk (the v9 detector)
load with ``strict=True``.

Written here so that scoring never imports torchvision: its package loads native libraries that add
about 165 MB to the resident memory of the daemon. A test loads one state dict into both and compares
their outputs.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

# (in, kernel, expanded, out, squeeze-excite, hard-swish, stride): torchvision's "mobilenet_v3_small"
_SMALL = ((16, 3, 16, 16, True, False, 2), (16, 3, 72, 24, False, False, 2), (24, 3, 88, 24, False, False, 1),
          (24, 5, 96, 40, True, True, 2), (40, 5, 240, 40, True, True, 1), (40, 5, 240, 40, True, True, 1),
          (40, 5, 120, 48, True, True, 1), (48, 5, 144, 48, True, True, 1), (48, 5, 288, 96, True, True, 2),
          (96, 5, 576, 96, True, True, 1), (96, 5, 576, 96, True, True, 1))
SMALL_CHANNELS = 576


def _divisible(v: float, d: int = 8) -> int:
    out = max(d, int(v + d / 2) // d * d)
    return out + d if out < 0.9 * v else out


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: type[nn.Module] | None = None):
    """Conv (no bias) → BatchNorm → activation, as one Sequential (indices 0, 1, 2 like torchvision's)."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout, eps=0.001, momentum=0.01)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1))))
        return x * F.hardsigmoid(s)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, k: int, exp: int, cout: int, se: bool, hs: bool, stride: int):
        super().__init__()
        act = nn.Hardswish if hs else nn.ReLU
        layers: list[nn.Module] = []
        if exp != cin:
            layers.append(_conv_bn(cin, exp, 1, act=act))
        layers.append(_conv_bn(exp, exp, k, stride, groups=exp, act=act))
        if se:
            layers.append(SqueezeExcite(exp, _divisible(exp // 4)))
        layers.append(_conv_bn(exp, cout, 1))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


def mobilenet_v3_small_trunk() -> nn.Sequential:
    """(N,3,H,W) → (N,576,H/32,W/32), randomly initialised as torchvision initialises it."""
    layers: list[nn.Module] = [_conv_bn(3, 16, 3, 2, act=nn.Hardswish)]
    layers += [InvertedResidual(*cfg) for cfg in _SMALL]
    layers.append(_conv_bn(96, SMALL_CHANNELS, 1, act=nn.Hardswish))
    trunk = nn.Sequential(*layers)
    for m in trunk.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return trunk
