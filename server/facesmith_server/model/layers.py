"""StyleGAN2 building-block layers (config-f) in pure PyTorch.

Attribute names are the official (rosinality `stylegan2-pytorch`) state-dict names; the
networks that assemble these layers live in `generator`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from facesmith_server.model import ops

BLUR_TAPS = (1.0, 3.0, 3.0, 1.0)


class PixelNorm(nn.Module):
    """Normalise each z [N, C] to unit RMS over C."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate; optional fused leaky ReLU."""

    def __init__(
        self,
        in_dim: int,  # input features
        out_dim: int,  # output features
        bias_init: float = 0.0,  # initial bias value (1 for style modulation)
        lr_mul: float = 1.0,  # learning-rate multiplier (0.01 in the mapping network)
        activate: bool = False,  # fused leaky ReLU after the bias
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, in_dim] -> [N, out_dim]."""
        bias = self.bias * self.lr_mul
        if self.activate:
            return ops.fused_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias)


class Blur(nn.Module):
    """FIR low-pass filter applied after a stride-2 transposed conv (buffer `kernel` [K, K])."""

    kernel: torch.Tensor

    def __init__(self, taps: Sequence[float], pad: tuple[int, int], gain: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("kernel", ops.make_blur_kernel(taps, gain))
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ops.upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """2x FIR upsampling of the RGB skip image (buffer `kernel` [K, K])."""

    kernel: torch.Tensor

    def __init__(self, taps: Sequence[float], factor: int = 2) -> None:
        super().__init__()
        self.register_buffer("kernel", ops.make_blur_kernel(taps, gain=factor**2))
        self.factor = factor
        p = len(taps) - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ops.upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class ModulatedConv2d(nn.Module):
    """Style-modulated conv (weight `[1, C_out, C_in, K, K]`), optionally 2x upsampling."""

    def __init__(
        self,
        in_channels: int,  # C_in
        out_channels: int,  # C_out
        kernel_size: int,  # K (3 for convs, 1 for ToRGB)
        style_dim: int,  # w dimension
        demodulate: bool = True,  # weight demodulation (False for ToRGB)
        upsample: bool = False,  # stride-2 transposed conv followed by a blur
        blur_taps: Sequence[float] = BLUR_TAPS,  # FIR taps of the blur
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(
            torch.randn(1, out_channels, in_channels, kernel_size, kernel_size)
        )
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1.0)
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.demodulate = demodulate
        self.upsample = upsample
        if upsample:
            p = (len(blur_taps) - 2) - (kernel_size - 1)
            self.blur = Blur(blur_taps, pad=((p + 1) // 2 + 1, p // 2 + 1), gain=4.0)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """x: [N, C_in, H, W], w: [N, style_dim] -> [N, C_out, H', W'] (H' = 2H if upsample)."""
        styles = self.modulation(w)  # [N, C_in]
        weight = self.weight[0] * self.scale  # [C_out, C_in, K, K]
        # On a GPU a batch shares one conv: the grouped per-sample conv took a third of an
        # H200's step time. On CPUs the grouped conv measured as fast or faster (gan_speed.py).
        shared = x.shape[0] > 1 and x.device.type != "cpu"
        conv = ops.modulated_conv2d_shared if shared else ops.modulated_conv2d
        out = conv(x, weight, styles, self.demodulate, self.upsample)
        return self.blur(out) if self.upsample else out

    def folded_weight(self, w: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        """Style, demodulation and `gain` folded into one weight [C_out, C_in, K, K].

        w: [1, style_dim] (one sample). Used by the batch-1 fast path.
        """
        styles = self.modulation(w)  # [1, C_in]
        weight = self.weight[0] * self.scale * styles[0, None, :, None, None]
        if self.demodulate:
            demod = torch.rsqrt(weight.square().sum(dim=[1, 2, 3]) + ops.DEMOD_EPS)
            weight = weight * demod[:, None, None, None]
        return weight * gain

    def forward_fast(
        self, x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None, gain: float = 1.0
    ) -> torch.Tensor:
        """Batch-1 inference: `gain * conv(x) + bias` with folded weights, in x's dtype/layout.

        x: [1, C_in, H, W]; w: [1, style_dim]; bias: [C_out] or None (added after the blur).
        """
        weight = self.folded_weight(w, gain).to(x.dtype)
        bias = None if bias is None else bias.to(x.dtype)
        if not self.upsample:
            return F.conv2d(x, weight, bias, padding=weight.shape[-1] // 2)
        out = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)  # [1, C_out, 2H+1, 2W+1]
        return ops.blur_depthwise(out, self.blur.kernel, self.blur.pad, bias)


class NoiseInjection(nn.Module):
    """Adds per-pixel noise [N or 1, 1, H, W] scaled by the learned `weight` [1]."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        return x if noise is None else x + self.weight * noise


class FusedLeakyReLU(nn.Module):
    """Bias (`bias` [C]) + leaky ReLU + gain sqrt(2)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ops.fused_leaky_relu(x, self.bias)


class StyledConv(nn.Module):
    """Modulated 3x3 conv + noise + fused leaky ReLU."""

    def __init__(
        self,
        in_channels: int,  # C_in
        out_channels: int,  # C_out
        style_dim: int,  # w dimension
        upsample: bool = False,  # doubles the resolution
        blur_taps: Sequence[float] = BLUR_TAPS,  # FIR taps of the upsampling blur
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(
            in_channels, out_channels, 3, style_dim, upsample=upsample, blur_taps=blur_taps
        )
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        """x: [N, C_in, H, W], w: [N, style_dim], noise: [N|1, 1, H', W'] -> [N, C_out, H', W']."""
        return self.activate(self.noise(self.conv(x, w), noise))

    def forward_fast(
        self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None
    ) -> torch.Tensor:
        """Batch-1 inference, same maths: lrelu(g*y) = g*lrelu(y) lets the gain g = sqrt(2)
        fold into the conv weight, bias and noise strength; the rest runs in place."""
        gain = ops.LRELU_GAIN
        out = self.conv.forward_fast(x, w, self.activate.bias * gain, gain)
        if noise is not None:
            out.add_((noise * (self.noise.weight * gain)).to(out.dtype))
        return F.leaky_relu_(out, ops.LRELU_SLOPE)


class ToRGB(nn.Module):
    """1x1 modulated conv to RGB plus the upsampled RGB skip of the previous resolution."""

    def __init__(
        self,
        in_channels: int,  # C_in
        style_dim: int,  # w dimension
        upsample: bool = True,  # upsample the incoming skip (False at 4x4)
        blur_taps: Sequence[float] = BLUR_TAPS,  # FIR taps of the skip upsampling
    ) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_taps)
        self.conv = ModulatedConv2d(in_channels, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        """x: [N, C_in, H, W], w: [N, style_dim], skip: [N, 3, H/2, W/2] -> [N, 3, H, W]."""
        out = self.conv(x, w) + self.bias
        return out if skip is None else out + self.upsample(skip)

    def forward_fast(
        self, x: torch.Tensor, w: torch.Tensor, skip: torch.Tensor | None
    ) -> torch.Tensor:
        """Batch-1 inference; the skip image stays float32 whatever x's dtype."""
        out = self.conv.forward_fast(x, w, self.bias.view(3)).float()
        if skip is None:
            return out
        return out.add_(ops.upsample_depthwise(skip, self.upsample.kernel, self.upsample.pad))


class ConstantInput(nn.Module):
    """The learned 4x4 input tensor `input` [1, C, 4, 4]."""

    def __init__(self, channels: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.expand(batch, -1, -1, -1)
