"""Pure-PyTorch reference ops of StyleGAN2 (no CUDA extensions, runs on CPU, CUDA and MPS).

Layouts: images and feature maps are [N, C, H, W]; styles are [N, C_in].
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
DEMOD_EPS = 1e-8


def make_blur_kernel(taps: Sequence[float], gain: float = 1.0) -> torch.Tensor:
    """Separable FIR taps [K] -> normalised 2-D kernel [K, K] that sums to `gain`."""
    k1 = torch.tensor(list(taps), dtype=torch.float32)
    kernel = k1[None, :] * k1[:, None]
    return kernel / kernel.sum() * gain


def upfirdn2d(
    x: torch.Tensor,
    kernel: torch.Tensor,
    up: int = 1,
    down: int = 1,
    pad: tuple[int, int] = (0, 0),
) -> torch.Tensor:
    """Upsample (zero insertion), pad, FIR-filter and downsample every channel.

    x: [N, C, H, W]; kernel: [K, K] (applied as a true convolution, i.e. flipped);
    pad: (before, after), the same on both axes, may be negative (crop).
    Returns [N, C, H', W'] with H' = (H * up + pad0 + pad1 - K) // down + 1.
    """
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, (0, up - 1, 0, 0, 0, up - 1))
        x = x.reshape(n, c, h * up, w * up)
    x = _pad_or_crop(x, pad)
    weight = torch.flip(kernel, [0, 1]).to(x.dtype)[None, None].repeat(c, 1, 1, 1)
    x = F.conv2d(x, weight, groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def _pad_or_crop(x: torch.Tensor, pad: tuple[int, int]) -> torch.Tensor:
    """Pad [N, C, H, W] by (before, after) on both spatial axes; negative values crop."""
    p0, p1 = pad
    x = F.pad(x, (max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)))
    h, w = x.shape[2], x.shape[3]
    return x[:, :, max(-p0, 0) : h - max(-p1, 0), max(-p0, 0) : w - max(-p1, 0)]


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Bias add, leaky ReLU (slope 0.2) and gain sqrt(2), as StyleGAN2's FusedLeakyReLU.

    x: [N, C, ...]; bias: [C].
    """
    shape = (1, bias.shape[0]) + (1,) * (x.ndim - 2)
    return F.leaky_relu(x + bias.view(shape), LRELU_SLOPE) * LRELU_GAIN


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool = True,
    upsample: bool = False,
) -> torch.Tensor:
    """Reference modulated convolution with per-sample weights (grouped conv over the batch).

    x: [N, C_in, H, W]; weight: [C_out, C_in, K, K], already multiplied by the equalised-lr
    scale; styles: [N, C_in]. With upsample the result is the stride-2 transposed conv
    [N, C_out, 2H + K - 2, 2W + K - 2] (the caller blurs it); otherwise 'same' padding.
    """
    n, c_in, h, w = x.shape
    c_out, _, k, _ = weight.shape
    w_n = weight[None] * styles[:, None, :, None, None]  # [N, C_out, C_in, K, K]
    if demodulate:
        demod = torch.rsqrt(w_n.square().sum(dim=[2, 3, 4]) + DEMOD_EPS)  # [N, C_out]
        w_n = w_n * demod[:, :, None, None, None]
    x = x.reshape(1, n * c_in, h, w)
    if upsample:
        # conv_transpose2d wants [C_in, C_out, K, K] per group.
        w_t = w_n.transpose(1, 2).reshape(n * c_in, c_out, k, k)
        out = F.conv_transpose2d(x, w_t, stride=2, groups=n)
    else:
        out = F.conv2d(x, w_n.reshape(n * c_out, c_in, k, k), padding=k // 2, groups=n)
    return out.reshape(n, c_out, out.shape[2], out.shape[3])


def modulated_conv2d_shared(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool = True,
    upsample: bool = False,
) -> torch.Tensor:
    """`modulated_conv2d` as one conv whose weight the whole batch shares: the styles scale
    the input channels and demodulation the output channels (the same sum, since the
    weight's square summed over its taps is all demodulation needs). A batch of N runs as one
    plain conv instead of N grouped ones, which GPUs (and their bf16 kernels) do far faster.
    """
    out = x * styles[:, :, None, None].to(x.dtype)
    if upsample:
        out = F.conv_transpose2d(out, weight.transpose(0, 1), stride=2)
    else:
        out = F.conv2d(out, weight, padding=weight.shape[-1] // 2)
    if not demodulate:
        return out
    energy = styles.square() @ weight.square().sum(dim=[2, 3]).t()  # [N, C_out]
    return out * torch.rsqrt(energy + DEMOD_EPS)[:, :, None, None].to(out.dtype)


def blur_depthwise(
    x: torch.Tensor, kernel: torch.Tensor, pad: tuple[int, int], bias: torch.Tensor | None = None
) -> torch.Tensor:
    """`upfirdn2d(x, kernel, pad=pad)` (+ bias [C]) as one depthwise conv; keeps channels_last.

    x: [N, C, H, W]; kernel: [K, K] -> [N, C, H + pad0 + pad1 - K + 1, ...].
    """
    c = x.shape[1]
    weight = torch.flip(kernel, [0, 1]).to(x.dtype)[None, None].repeat(c, 1, 1, 1)
    if pad[0] == pad[1] and pad[0] >= 0:
        return F.conv2d(x, weight, bias, padding=pad[0], groups=c)
    return F.conv2d(_pad_or_crop(x, pad), weight, bias, groups=c)


def upsample_depthwise(x: torch.Tensor, kernel: torch.Tensor, pad: tuple[int, int]) -> torch.Tensor:
    """`upfirdn2d(x, kernel, up=2, pad=pad)` as a stride-2 depthwise transposed conv.

    x: [N, C, H, W]; kernel: [K, K] -> [N, C, 2H + pad0 + pad1 - K + 1, ...].
    Transposed conv padding p gives out[o] = sum_i k[o - 2i + p] x[i]; zero insertion then
    padding by pad0 gives out[o] = sum_i k[2i - o + pad0]; equal for p = K - 1 - pad0.
    """
    c, k = x.shape[1], kernel.shape[0]
    if pad[1] + 1 != pad[0] or k - 1 - pad[0] < 0:
        return upfirdn2d(x, kernel, up=2, pad=pad)  # sizes differ: use the reference
    weight = kernel.to(x.dtype)[None, None].repeat(c, 1, 1, 1)
    return F.conv_transpose2d(x, weight, stride=2, padding=k - 1 - pad[0], groups=c)
