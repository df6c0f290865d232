"""Rough sketches from faces: the line extraction (facesmith_server.latent.sketch) made to look
drawn by hand — line weight varies, strokes break off, wobble, and the whole drawing sits a
little off the aligned frame — so that the encoder learns from a user's drawing, not only from
clean edges. Layouts: images [N, 3, S, S] in [-1, 1] -> ink [N, 1, S, S] in 0..1."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from facesmith_server.latent.sketch import line_drawing, normalise_ink

SIGMA_SCALE = (0.8, 1.5)  # finer or broader lines
THICKEN_P = 0.25  # share of sketches drawn with a heavier line (a 1 px dilation)
DROP_MAX = 0.3  # up to this share of the strokes left out
DROP_CELLS = 8  # the dropout mask's grid (strokes break off in pieces, not in pixels)
WOBBLE_PX = 1.0  # largest smooth displacement of the lines
WOBBLE_CELLS = 6
SCALE = (0.92, 1.08)  # the drawing's size against the aligned frame
SHIFT = 0.05  # its offset, a share of the side


def rough_sketches(images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Hand-drawn-looking sketches of ``images`` (no gradient)."""
    with torch.no_grad():
        n = images.shape[0]
        scales = _uniform(rng, n, *SIGMA_SCALE)
        ink = torch.cat([line_drawing(images[i : i + 1], float(scales[i])) for i in range(n)])
        heavy = (_uniform(rng, n, 0, 1) < THICKEN_P).view(-1, 1, 1, 1)
        ink = torch.where(heavy, F.max_pool2d(ink, 3, stride=1, padding=1), ink)
        ink = ink * _stroke_mask(ink, rng)
        ink = _warp(ink, rng)
        return normalise_ink(ink)


def _uniform(rng: torch.Generator, n: int, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=rng)


def _stroke_mask(ink: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    n, _, s, _ = ink.shape
    keep = torch.rand(n, 1, DROP_CELLS, DROP_CELLS, generator=rng)
    keep = F.interpolate(keep, size=(s, s), mode="bilinear", align_corners=False)
    drop = _uniform(rng, n, 0, DROP_MAX).view(-1, 1, 1, 1)
    return (keep >= drop).float()


def _warp(ink: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """A random similarity transform plus a smooth wobble (paper outside: no ink)."""
    n, _, s, _ = ink.shape
    scale = _uniform(rng, n, *SCALE)
    shift = (torch.rand(n, 2, generator=rng) * 2 - 1) * SHIFT * 2  # grid units span 2
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(ink.shape), align_corners=False)
    wobble = torch.randn(n, 2, WOBBLE_CELLS, WOBBLE_CELLS, generator=rng)
    wobble = F.interpolate(wobble, size=(s, s), mode="bicubic", align_corners=False)
    grid = grid + wobble.permute(0, 2, 3, 1) * (WOBBLE_PX * 2 / s) / 2
    return F.grid_sample(ink, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
