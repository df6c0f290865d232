"""StyleGAN2 generator (config-f architecture) in pure PyTorch.

Module names follow rosinality's `stylegan2-pytorch` `g_ema`, split into a mapping and a
synthesis network; `official_state_dict` / `load_official_state_dict` translate the names.
Layouts: z and w are [N, style_dim]; ws (W+) is [N, num_ws, style_dim]; images [N, 3, R, R].
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from . import ops
from .errors import InvalidInput

BLUR_TAPS = (1.0, 3.0, 3.0, 1.0)
NOISE_MODES = ("const", "random", "none")
MAPPING_PREFIX = "mapping.layers."
OFFICIAL_MAPPING_PREFIX = "style."
SYNTHESIS_PREFIX = "synthesis."


def config_f_channels(size: int, channel_multiplier: int = 2) -> dict[int, int]:
    """rosinality's channel table {resolution: channels} for resolutions 4..size."""
    table = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}
    return {
        res: ch if res <= 32 else ch * channel_multiplier
        for res, ch in table.items()
        if res <= size
    }


def num_ws_for(size: int) -> int:
    """Number of W+ vectors of a generator of output size `size` (18 at 1024)."""
    return 2 * int(math.log2(size)) - 2


# --------------------------------------------------------------------------------------------
# Layers (attribute names are the official state-dict names)


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
        out = ops.modulated_conv2d(x, weight, styles, self.demodulate, self.upsample)
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


# --------------------------------------------------------------------------------------------
# Networks


class MappingNetwork(nn.Module):
    """z [N, dim] -> w [N, dim]: PixelNorm then n_mlp EqualLinear layers (lr_mul, fused lrelu)."""

    def __init__(
        self,
        style_dim: int = 512,  # z and w dimension
        n_mlp: int = 8,  # number of fully connected layers
        lr_mul: float = 0.01,  # learning-rate multiplier of the layers
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [PixelNorm()]
        layers += [
            EqualLinear(style_dim, style_dim, lr_mul=lr_mul, activate=True) for _ in range(n_mlp)
        ]
        self.layers = nn.Sequential(*layers)
        self.style_dim = style_dim
        self.n_mlp = n_mlp

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.layers(z)


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, dim] -> image [N, 3, size, size] in about [-1, 1].

    W+ index use: conv1 0, to_rgb1 1; at each later resolution level l (1-based), the two
    convs use 2l - 1 and 2l, its ToRGB 2l + 1 (rosinality's layout).
    """

    def __init__(
        self,
        size: int,  # output resolution, a power of two >= 4
        style_dim: int = 512,  # w dimension
        channels: Mapping[int, int] | None = None,  # {resolution: channels}; config-f if None
        channel_multiplier: int = 2,  # used when channels is None (2 = config-f)
        blur_taps: Sequence[float] = BLUR_TAPS,  # FIR taps of the upsampling filters
    ) -> None:
        super().__init__()
        if size < 4 or size & (size - 1):
            raise ValueError(f"generator size must be a power of two >= 4, got {size}")
        self.size = size
        self.style_dim = style_dim
        self.num_ws = num_ws_for(size)
        self.resolutions = [2**i for i in range(2, int(math.log2(size)) + 1)]
        table = dict(channels) if channels else config_f_channels(size, channel_multiplier)
        self.channels = {res: table[res] for res in self.resolutions}

        ch4 = self.channels[4]
        self.input = ConstantInput(ch4)
        self.conv1 = StyledConv(ch4, ch4, style_dim, blur_taps=blur_taps)
        self.to_rgb1 = ToRGB(ch4, style_dim, upsample=False)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        in_ch = ch4
        for res in self.resolutions[1:]:
            out_ch = self.channels[res]
            self.convs.append(StyledConv(in_ch, out_ch, style_dim, True, blur_taps))
            self.convs.append(StyledConv(out_ch, out_ch, style_dim, blur_taps=blur_taps))
            self.to_rgbs.append(ToRGB(out_ch, style_dim, blur_taps=blur_taps))
            in_ch = out_ch
        self.noises = nn.Module()
        for idx in range(2 * len(self.resolutions) - 1):
            res = 2 ** ((idx + 5) // 2)
            self.noises.register_buffer(f"noise_{idx}", torch.randn(1, 1, res, res))

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: str = "const",
        stop_resolution: int | None = None,
        fast: bool = False,
    ) -> torch.Tensor:
        """ws: [N, num_ws, dim] -> [N, 3, r, r] float32, r = stop_resolution or size.

        noise_mode: "const" (stored buffers, deterministic), "random", "none" (zeros).
        stop_resolution: return the RGB skip image at that resolution (cheap preview).
        fast: inference-only `forward_fast` (float32, channels_last); same maths.
        """
        if fast:
            return self.forward_fast(ws, noise_mode, stop_resolution)
        self._check_inputs(ws, noise_mode, stop_resolution)
        n = ws.shape[0]
        x = self.conv1(self.input(n), ws[:, 0], self._noise(0, n, ws, noise_mode))
        skip = self.to_rgb1(x, ws[:, 1], None)
        for level in range(self._levels_until(stop_resolution)):
            i = 2 * level + 1
            up, conv, to_rgb = self.level_layers(level)
            x = up(x, ws[:, i], self._noise(i, n, ws, noise_mode))
            x = conv(x, ws[:, i + 1], self._noise(i + 1, n, ws, noise_mode))
            skip = to_rgb(x, ws[:, i + 2], skip)
        return skip

    @torch.no_grad()
    def forward_fast(
        self,
        ws: torch.Tensor,
        noise_mode: str = "const",
        stop_resolution: int | None = None,
        dtype: torch.dtype = torch.float32,
        channels_last: bool = True,
    ) -> torch.Tensor:
        """Inference-only synthesis, one sample at a time: style, demodulation and gains are
        folded into per-sample conv weights (no per-pixel modulation), bias/noise/activation
        run in place. Same result as `forward` up to float rounding (dtype float32), or
        reduced precision with dtype=torch.bfloat16. Returns [N, 3, r, r] float32.
        """
        self._check_inputs(ws, noise_mode, stop_resolution)
        layout = torch.channels_last if channels_last else torch.contiguous_format
        images = [
            self._forward_one(ws[i : i + 1], noise_mode, stop_resolution, dtype, layout)
            for i in range(ws.shape[0])
        ]
        return torch.cat(images).contiguous()

    def _forward_one(
        self,
        ws: torch.Tensor,
        noise_mode: str,
        stop_resolution: int | None,
        dtype: torch.dtype,
        layout: torch.memory_format,
    ) -> torch.Tensor:
        """ws: [1, num_ws, dim] -> [1, 3, r, r] float32 via the layers' forward_fast."""
        x = self.input.input.to(dtype).contiguous(memory_format=layout)
        x = self.conv1.forward_fast(x, ws[:, 0], self._noise(0, 1, ws, noise_mode))
        skip = self.to_rgb1.forward_fast(x, ws[:, 1], None)
        for level in range(self._levels_until(stop_resolution)):
            i = 2 * level + 1
            up, conv, to_rgb = self.level_layers(level)
            x = up.forward_fast(x, ws[:, i], self._noise(i, 1, ws, noise_mode))
            x = conv.forward_fast(x, ws[:, i + 1], self._noise(i + 1, 1, ws, noise_mode))
            skip = to_rgb.forward_fast(x, ws[:, i + 2], skip)
        return skip

    def level_layers(self, level: int) -> tuple[StyledConv, StyledConv, ToRGB]:
        """(upsampling conv, conv, ToRGB) of resolution level `level` (0 = 8x8)."""
        up, conv = self.convs[2 * level], self.convs[2 * level + 1]
        to_rgb = self.to_rgbs[level]
        assert isinstance(up, StyledConv) and isinstance(conv, StyledConv)
        assert isinstance(to_rgb, ToRGB)
        return up, conv, to_rgb

    def _levels_until(self, stop_resolution: int | None) -> int:
        """Number of resolution levels after 4x4 to run to reach stop_resolution (or size)."""
        stop = stop_resolution or self.size
        return sum(1 for res in self.resolutions[1:] if res <= stop)

    def _check_inputs(self, ws: torch.Tensor, noise_mode: str, stop: int | None) -> None:
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.style_dim):
            raise InvalidInput(
                f"ws must be [N, {self.num_ws}, {self.style_dim}], got {list(ws.shape)}"
            )
        if noise_mode not in NOISE_MODES:
            raise InvalidInput(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if stop is not None and stop not in self.resolutions:
            raise InvalidInput(f"stop_resolution must be one of {self.resolutions}, got {stop}")

    def _noise(self, idx: int, batch: int, like: torch.Tensor, mode: str) -> torch.Tensor | None:
        """Noise [1 or N, 1, r, r] of layer `idx` (noise_idx buffer), or None for "none"."""
        buffer = getattr(self.noises, f"noise_{idx}")
        if mode == "const":
            return buffer
        if mode == "random":
            return torch.randn(batch, *buffer.shape[1:], device=like.device)
        return None


class Generator(nn.Module):
    """StyleGAN2 generator: mapping z -> w, then synthesis W+ -> image."""

    def __init__(
        self,
        size: int,  # output resolution (1024 for FFHQ config-f)
        style_dim: int = 512,  # z / w dimension
        n_mlp: int = 8,  # mapping network depth
        channel_multiplier: int = 2,  # 2 = config-f; ignored when `channels` is given
        channels: Mapping[int, int] | None = None,  # {resolution: channels} (narrow test nets)
        lr_mlp: float = 0.01,  # mapping learning-rate multiplier (scales weights at runtime)
        blur_taps: Sequence[float] = BLUR_TAPS,  # FIR taps of the upsampling filters
    ) -> None:
        super().__init__()
        self.mapping = MappingNetwork(style_dim, n_mlp, lr_mlp)
        self.synthesis = SynthesisNetwork(size, style_dim, channels, channel_multiplier, blur_taps)
        self.size = size
        self.style_dim = style_dim
        self.num_ws = self.synthesis.num_ws
        self.n_mlp = n_mlp

    def forward(
        self,
        z: torch.Tensor,
        truncation: float = 1.0,
        truncation_latent: torch.Tensor | None = None,
        noise_mode: str = "const",
    ) -> torch.Tensor:
        """z: [N, dim] -> image [N, 3, size, size]; truncation_latent: [dim] or [1, dim]."""
        w = self.mapping(z)
        if truncation != 1.0 and truncation_latent is not None:
            w = truncation_latent.reshape(1, -1) + truncation * (
                w - truncation_latent.reshape(1, -1)
            )
        ws = w[:, None, :].expand(-1, self.num_ws, -1)
        return self.synthesis(ws, noise_mode=noise_mode)

    @torch.no_grad()
    def mean_latent(self, n: int, device: torch.device | str) -> torch.Tensor:
        """Mean w of n random z: [1, dim]."""
        z = torch.randn(n, self.style_dim, device=device)
        return self.mapping(z).mean(dim=0, keepdim=True)


# --------------------------------------------------------------------------------------------
# Official (rosinality g_ema) state-dict names


def module_key_from_official(key: str) -> str:
    """'style.1.weight' -> 'mapping.layers.1.weight'; 'conv1.x' -> 'synthesis.conv1.x'."""
    if key.startswith(OFFICIAL_MAPPING_PREFIX):
        return MAPPING_PREFIX + key[len(OFFICIAL_MAPPING_PREFIX) :]
    return SYNTHESIS_PREFIX + key


def official_key_from_module(key: str) -> str:
    """Inverse of `module_key_from_official`."""
    if key.startswith(MAPPING_PREFIX):
        return OFFICIAL_MAPPING_PREFIX + key[len(MAPPING_PREFIX) :]
    if key.startswith(SYNTHESIS_PREFIX):
        return key[len(SYNTHESIS_PREFIX) :]
    raise ValueError(f"not a generator key: {key!r}")


def official_state_dict(generator: Generator) -> dict[str, torch.Tensor]:
    """The generator's weights under rosinality `g_ema` names (detached CPU-agnostic views)."""
    return {official_key_from_module(k): v for k, v in generator.state_dict().items()}


def load_official_state_dict(generator: Generator, state: Mapping[str, torch.Tensor]) -> None:
    """Strictly load a rosinality `g_ema` state dict (raises RuntimeError on any mismatch)."""
    generator.load_state_dict({module_key_from_official(k): v for k, v in state.items()})
