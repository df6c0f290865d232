"""e4e encoder (Encoder4Editing): IR-SE body, feature pyramid, one GradualStyleBlock per W.

Attribute names are the official e4e names (without the checkpoint's `encoder.` prefix), so
the e4e FFHQ checkpoint loads strict. Widths, units and input size are configurable for tiny
test encoders; `EncoderConfig.from_state_dict` infers them from a state dict.
Layouts: images [N, 3, S, S] in [-1, 1]; output W+ offsets [N, num_ws, style_dim].
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from facesmith_server.model.layers import EqualLinear

COARSE_END = 3  # W indices [0, 3) read the coarsest features
MIDDLE_END = 7  # W indices [3, 7) the middle ones, the rest the finest


@dataclass(frozen=True)
class EncoderConfig:
    """Shape of an Encoder4Editing; the defaults are e4e FFHQ (IR-SE-50, 256 px, 18 x 512)."""

    num_ws: int = 18  # W+ vectors produced (2 * log2(generator size) - 2)
    style_dim: int = 512  # w dimension
    input_size: int = 256  # encoder input resolution S
    stem_width: int = 64  # channels of the input layer
    widths: tuple[int, ...] = (64, 128, 256, 512)  # channels of the four body stages
    units: tuple[int, ...] = (3, 4, 14, 3)  # bottlenecks per stage (IR-50)
    se_reduction: int = 16  # squeeze-excitation channel reduction
    block_width: int = 0  # channels of each GradualStyleBlock's convs (0: style_dim, as e4e)

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor]) -> EncoderConfig:
        """Infer the config from an encoder state dict (keys without `encoder.`)."""
        depths = _unit_depths(state)
        widths = tuple(dict.fromkeys(depths))
        units = tuple(depths.count(width) for width in widths)
        num_ws = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"styles\.(\d+)\.", k)))
        coarse_convs = sum(1 for k in state if re.fullmatch(r"styles\.0\.convs\.\d+\.weight", k))
        fc1 = state["body.0.res_layer.5.fc1.weight"]
        style_dim, block_width = (int(n) for n in state["styles.0.linear.weight"].shape)
        if len(widths) != 4:
            raise ValueError(f"expected 4 body stages of distinct widths, found widths {widths}")
        return cls(
            num_ws=num_ws,
            style_dim=style_dim,
            input_size=16 * 2**coarse_convs,
            stem_width=int(state["input_layer.0.weight"].shape[0]),
            widths=widths,
            units=units,
            se_reduction=int(fc1.shape[1]) // int(fc1.shape[0]),
            block_width=0 if block_width == style_dim else block_width,
        )


def _unit_depths(state: Mapping[str, torch.Tensor]) -> list[int]:
    """Output channels of each body unit in order (from res_layer.1, the first 3x3 conv)."""
    depths: list[int] = []
    while f"body.{len(depths)}.res_layer.1.weight" in state:
        depths.append(int(state[f"body.{len(depths)}.res_layer.1.weight"].shape[0]))
    if not depths:
        raise KeyError("body.0.res_layer.1.weight")
    return depths


class SEModule(nn.Module):
    """Squeeze-excitation: channel gates from global average pooling (`fc1`, `fc2` 1x1 convs)."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1))))
        return x * torch.sigmoid(gate)


class BottleneckIRSE(nn.Module):
    """IR-SE residual unit (`shortcut_layer`, `res_layer.0..5`); stride on the second conv."""

    def __init__(self, in_channels: int, depth: int, stride: int, se_reduction: int) -> None:
        super().__init__()
        self.shortcut_layer: nn.Module
        if in_channels == depth:
            self.shortcut_layer = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(
                nn.Conv2d(in_channels, depth, 1, stride, bias=False), nn.BatchNorm2d(depth)
            )
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.Conv2d(in_channels, depth, 3, 1, 1, bias=False),
            nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False),
            nn.BatchNorm2d(depth),
            SEModule(depth, se_reduction),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class GradualStyleBlock(nn.Module):
    """Features [N, C, s, s] -> one w [N, style_dim]: log2(s) stride-2 convs then EqualLinear.

    e4e's convs are style_dim wide; a narrower `width` keeps small trained encoders small.
    """

    def __init__(self, in_channels: int, style_dim: int, spatial: int, width: int = 0) -> None:
        super().__init__()
        width = width or style_dim
        layers: list[nn.Module] = []
        for i in range(int(math.log2(spatial))):
            layers += [nn.Conv2d(in_channels if i == 0 else width, width, 3, 2, 1)]
            layers += [nn.LeakyReLU()]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(width, style_dim)
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x).reshape(-1, self.width))


class Encoder4Editing(nn.Module):
    """Image [N, 3, S, S] in [-1, 1] -> W+ offsets [N, num_ws, style_dim] (add latent_avg)."""

    def __init__(self, config: EncoderConfig | None = None) -> None:
        super().__init__()
        cfg = config or EncoderConfig()
        if len(cfg.widths) != 4 or len(cfg.units) != 4:
            raise ValueError(f"need 4 body stages, got widths {cfg.widths} units {cfg.units}")
        self.config = cfg
        self.input_size = cfg.input_size
        self.num_ws = cfg.num_ws
        self.style_dim = cfg.style_dim
        self.input_layer = nn.Sequential(
            nn.Conv2d(3, cfg.stem_width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cfg.stem_width),
            nn.PReLU(cfg.stem_width),
        )
        units: list[nn.Module] = []
        in_ch = cfg.stem_width
        for width, count in zip(cfg.widths, cfg.units, strict=True):
            for i in range(count):
                units.append(BottleneckIRSE(in_ch, width, 2 if i == 0 else 1, cfg.se_reduction))
                in_ch = width
        self.body = nn.Sequential(*units)
        # Feature taps: ends of stages 2, 3, 4 (units 6, 20, 23 for IR-50).
        self.taps = [sum(cfg.units[:k]) - 1 for k in (2, 3, 4)]
        top = cfg.widths[3]
        spatial = cfg.input_size // 16  # stage-4 features are S / 16
        self.styles = nn.ModuleList(
            GradualStyleBlock(top, cfg.style_dim, spatial * _pyramid_scale(i), cfg.block_width)
            for i in range(cfg.num_ws)
        )
        self.latlayer1 = nn.Conv2d(cfg.widths[2], top, 1)
        self.latlayer2 = nn.Conv2d(cfg.widths[1], top, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, 3, S, S] in [-1, 1] -> [N, num_ws, style_dim] offsets from latent_avg."""
        fine, middle, coarse = self._body_features(x)
        w0 = self.styles[0](coarse)
        deltas = [torch.zeros_like(w0)]
        features = middle_features = coarse
        for i in range(1, self.num_ws):
            if i == COARSE_END:
                features = _upsample_add(coarse, self.latlayer1(middle))
                middle_features = features
            elif i == MIDDLE_END:
                features = _upsample_add(middle_features, self.latlayer2(fine))
            deltas.append(self.styles[i](features))
        return w0[:, None, :] + torch.stack(deltas, dim=1)

    def _body_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Stage-2, stage-3 and stage-4 features ([N, widths[k], S / 2**(k+1), ...])."""
        x = self.input_layer(x)
        taps: list[torch.Tensor] = []
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i in self.taps:
                taps.append(x)
        return taps[0], taps[1], taps[2]


def _pyramid_scale(index: int) -> int:
    """Spatial size of W index's features relative to the coarsest (1, 2 or 4)."""
    if index < COARSE_END:
        return 1
    return 2 if index < MIDDLE_END else 4


def _upsample_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bilinearly upsample x [N, C, h, w] to y's size (align_corners=True as e4e) and add y."""
    return F.interpolate(x, size=y.shape[2:], mode="bilinear", align_corners=True) + y
