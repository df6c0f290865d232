"""StyleGAN2 residual discriminator that matches the project's generator.

Same building blocks as the generator (equalised learning rate, FIR blur of `layers`/`ops`,
fused leaky ReLU) and the same channel table; module names follow rosinality's
`Discriminator` (`convs`, `final_conv`, `final_linear`) so its checkpoints read naturally.
Layout: images [N, 3, size, size] in about [-1, 1] -> logits [N, 1].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from facesmith_server.model.generator import config_f_channels
from facesmith_server.model.layers import BLUR_TAPS, Blur, EqualLinear, FusedLeakyReLU

MIN_SIZE, MAX_SIZE = 16, 1024
STDDEV_GROUP = 4  # minibatch-stddev group size (StyleGAN2)


def channel_table(
    size: int, channel_multiplier: int = 2, channels_max: int = 512
) -> dict[int, int]:
    """{resolution: channels} for 4..size: config-f scaled by the multiplier, capped.

    Used for both networks, so a `--channels-max 64` run is narrow end to end.
    """
    return {
        res: min(ch, channels_max)
        for res, ch in config_f_channels(size, channel_multiplier).items()
    }


class EqualConv2d(nn.Module):
    """Conv with equalised learning rate (weights N(0, 1) scaled by 1/sqrt(fan_in) at runtime)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
        padding: int = 0, bias: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.stride = stride
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, self.stride, self.padding)


class ConvLayer(nn.Sequential):
    """[blur] -> conv (stride 2 when downsampling) -> [bias + leaky ReLU]."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int,
        downsample: bool = False, activate: bool = True,
    ) -> None:  # fmt: skip
        layers: list[nn.Module] = []
        if downsample:
            # Low-pass before the stride-2 conv so that it does not alias (as in StyleGAN2).
            p = len(BLUR_TAPS) - 2 + kernel_size - 1
            layers.append(Blur(BLUR_TAPS, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        # With an activation the bias lives in FusedLeakyReLU (rosinality's naming).
        layers.append(
            EqualConv2d(in_channels, out_channels, kernel_size, stride, padding,
                        bias=not activate)
        )  # fmt: skip
        if activate:
            layers.append(FusedLeakyReLU(out_channels))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Two 3x3 convs (the second halves the resolution) plus a 1x1 downsampling skip."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_channels, in_channels, 3)
        self.conv2 = ConvLayer(in_channels, out_channels, 3, downsample=True)
        self.skip = ConvLayer(in_channels, out_channels, 1, downsample=True, activate=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # 1/sqrt(2) keeps the variance of the sum equal to that of each branch.
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2.0)


def minibatch_stddev(x: torch.Tensor, group_size: int = STDDEV_GROUP) -> torch.Tensor:
    """Append one feature map: the mean std over groups of samples ([N, C, H, W] -> C + 1).

    Lets D see the batch's diversity, which discourages mode collapse. The group is the
    largest divisor of N not above group_size, so any batch size works.
    """
    n, c, h, w = x.shape
    group = max(g for g in range(1, min(group_size, n) + 1) if n % g == 0)
    y = x.reshape(group, n // group, 1, c, h, w)
    std = torch.sqrt(y.var(dim=0, unbiased=False) + 1e-8)  # [N/G, 1, C, H, W]
    std = std.mean(dim=[2, 3, 4]).reshape(n // group, 1, 1, 1)
    std = std.repeat(group, 1, h, w)  # sample i gets the value of its group i % (N / G)
    return torch.cat([x, std], dim=1)


class Discriminator(nn.Module):
    """StyleGAN2 residual discriminator for square images of size 16..1024.

    With ``cond_dim`` > 0 it is told each image's labels [N, cond_dim] and adds a projection
    term <embed(labels), features> to its logit (Miyato & Koyama's projection discriminator):
    an image must look real *for its labels*.
    """

    def __init__(
        self, size: int, channels: dict[int, int] | None = None, cond_dim: int = 0
    ) -> None:
        super().__init__()
        if not MIN_SIZE <= size <= MAX_SIZE or size & (size - 1):
            raise ValueError(f"discriminator size must be a power of two in 16..1024, got {size}")
        table = channels if channels is not None else channel_table(size)
        self.size = size
        self.channels = {res: table[res] for res in table if res <= size}
        blocks: list[nn.Module] = [ConvLayer(3, self.channels[size], 1)]  # fromRGB
        res = size
        while res > 4:
            blocks.append(ResBlock(self.channels[res], self.channels[res // 2]))
            res //= 2
        self.convs = nn.Sequential(*blocks)
        ch4 = self.channels[4]
        self.final_conv = ConvLayer(ch4 + 1, ch4, 3)
        self.final_linear = nn.Sequential(
            EqualLinear(ch4 * 4 * 4, ch4, activate=True), EqualLinear(ch4, 1)
        )
        self.cond_dim = cond_dim
        self.embed = EqualLinear(cond_dim, ch4) if cond_dim > 0 else None

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """images [N, 3, size, size] (and labels [N, cond_dim] when conditional) -> logits
        [N, 1] (real > 0 > fake once trained)."""
        if images.shape[1:] != (3, self.size, self.size):
            raise ValueError(f"expected [N, 3, {self.size}, {self.size}], got {list(images.shape)}")
        if (labels is None) != (self.embed is None):
            raise ValueError(f"this discriminator takes {self.cond_dim} labels per image")
        x = self.final_conv(minibatch_stddev(self.convs(images)))
        features = self.final_linear[0](x.flatten(1))  # [N, ch4]
        logits = self.final_linear[1](features)
        if self.embed is None or labels is None:
            return logits
        projection = (self.embed(labels.to(features.dtype)) * features).sum(1, keepdim=True)
        return logits + projection / math.sqrt(features.shape[1])
