"""Differentiable augmentation for GAN training on a small dataset (DiffAugment-style).

With ~25k faces D memorises the training set and G's gradients go bad; showing D the same
random colour / translation / cutout on real and fake images alike prevents that without
the augmentations leaking into G's output (they are applied to both, and are differentiable
so G's gradient flows through them). Each operation hits each sample with probability p.
Pure torch; images [N, C, H, W] in about [-1, 1]; randomness from the global torch RNG so a
checkpointed RNG state makes training reproducible.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

TRANSLATE_FRACTION = 0.125  # shift by up to 1/8 of the side, zero (mid-grey) fill
CUTOUT_FRACTION = 0.5  # a square hole of half the side


def augment(images: torch.Tensor, p: float) -> torch.Tensor:
    """Colour, translation and cutout, each applied per sample with probability p.

    p = 0 returns the input itself (no randomness consumed).
    """
    if p <= 0.0:
        return images
    images = _where_chosen(images, _colour(images), p)
    images = _where_chosen(images, _translate(images), p)
    return _where_chosen(images, _cutout(images), p)


def _where_chosen(original: torch.Tensor, augmented: torch.Tensor, p: float) -> torch.Tensor:
    """Per sample, `augmented` with probability p, else `original`."""
    chosen = torch.rand(original.shape[0], 1, 1, 1, device=original.device) < p
    return torch.where(chosen, augmented, original)


def _uniform(images: torch.Tensor) -> torch.Tensor:
    """One U(0, 1) value per sample, shaped [N, 1, 1, 1]."""
    return torch.rand(images.shape[0], 1, 1, 1, device=images.device, dtype=images.dtype)


def _colour(x: torch.Tensor) -> torch.Tensor:
    """Brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5] (DiffAugment's ranges)."""
    x = x + (_uniform(x) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_uniform(x) * 2.0) + mean
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (_uniform(x) + 0.5) + mean


def _translate(x: torch.Tensor) -> torch.Tensor:
    """Shift each sample by an integer offset of up to 1/8 of the side; zeros fill the gap."""
    n, _, h, w = x.shape
    shift_h, shift_w = int(h * TRANSLATE_FRACTION + 0.5), int(w * TRANSLATE_FRACTION + 0.5)
    dy = torch.randint(-shift_h, shift_h + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-shift_w, shift_w + 1, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device)[None, :, None] + dy  # [N, H, 1] source row
    cols = torch.arange(w, device=x.device)[None, None, :] + dx  # [N, 1, W] source column
    padded = F.pad(x, [1, 1, 1, 1])  # index 0 / -1 of the padded image are zeros
    rows = rows.clamp(-1, h).add(1).expand(n, h, w)
    cols = cols.clamp(-1, w).add(1).expand(n, h, w)
    batch = torch.arange(n, device=x.device)[:, None, None].expand(n, h, w)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor) -> torch.Tensor:
    """Zero a random square of half the side in each sample (it may overhang the border)."""
    n, _, h, w = x.shape
    size_h, size_w = int(h * CUTOUT_FRACTION + 0.5), int(w * CUTOUT_FRACTION + 0.5)
    cy = torch.randint(0, h + (1 - size_h % 2), (n, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - size_w % 2), (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    inside = (
        (rows >= cy - size_h // 2) & (rows < cy - size_h // 2 + size_h)
        & (cols >= cx - size_w // 2) & (cols < cx - size_w // 2 + size_w)
    )  # fmt: skip
    return x * (~inside).unsqueeze(1).to(x.dtype)
