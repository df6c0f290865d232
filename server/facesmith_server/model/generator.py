"""StyleGAN2 generator (config-f architecture) in pure PyTorch.

Module names follow rosinality's `stylegan2-pytorch` `g_ema`, split into a mapping and a
synthesis network; `official_names` translates the names.
Layouts: z and w are [N, style_dim]; ws (W+) is [N, num_ws, style_dim]; images [N, 3, R, R].
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from facesmith_server.errors import InvalidInput
from facesmith_server.model.layers import (
    BLUR_TAPS,
    ConstantInput,
    EqualLinear,
    PixelNorm,
    StyledConv,
    ToRGB,
)

NOISE_MODES = ("const", "random", "none")


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
        """z: [N, dim] -> image [N, 3, size, size]; truncation_latent: [dim] or [1, dim].

        Truncation ψ < 1 pulls w towards ``truncation_latent``; ψ >= 1 leaves w as it is, as
        in the reference implementations (rosinality's and NVIDIA's only truncate below 1):
        facesmith never extrapolates away from the mean.
        """
        w = self.mapping(z)
        if truncation < 1.0 and truncation_latent is not None:
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
