"""Paired faces for a student, made by the pack's own generator.

Each pair: a random latent (truncation drawn per face) rendered, and the same latent moved along
the direction — by a strength drawn across the direction's range (mode "relative"), or to the
mirror point across a yes/no attribute's boundary ("swap", as the server makes it: clipped to
the direction's range). For a swap, only faces the attribute's model reads confidently
(|logit| ≥ margin) and that the swap moves by at least the margin are kept, so each pair
shows the change clearly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from facesmith_server.latent import edit
from facesmith_server.model.pack import Direction, Pack

TRUNCATION = (0.6, 1.0)  # per-face truncation range: typical faces and varied ones
BATCH = 32
MAX_DRAWS_PER_PAIR = 20  # a margin that keeps fewer faces than 1 in 20 is an error


@dataclass(frozen=True)
class Pairs:
    sources: np.ndarray  # uint8 [N, r, r, 3] RGB
    targets: np.ndarray  # uint8 [N, r, r, 3]: the same faces edited
    strengths: np.ndarray  # float32 [N] (0 for a swap)
    kept: float  # share of the faces drawn that were kept


def make_pairs(
    pack: Pack,
    name: str,
    mode: str,
    count: int,
    *,
    seed: int = 0,
    margin: float = 1.0,
    on_progress: Callable[[int, int], None] | None = None,
) -> Pairs:
    """``count`` pairs for the direction ``name`` in ``mode`` ("relative" or "swap")."""
    direction = pack.directions[name]
    check_mode(direction, mode)
    rng = np.random.default_rng(seed)
    sources, targets, strengths = [], [], []
    drawn = kept = 0
    while kept < count:
        if drawn > MAX_DRAWS_PER_PAIR * count:
            raise ValueError(
                f"only {kept} of {drawn} random faces qualify for a {name} {mode} pair; "
                "lower --margin"
            )
        latents = _random_latents(pack, rng, BATCH)
        moves = _strengths(direction, mode, latents, rng, margin)
        chosen = np.flatnonzero(~np.isnan(moves))[: count - kept]
        full = len(chosen) == count - kept
        drawn += int(chosen[-1]) + 1 if full else len(latents)  # faces looked at
        if not len(chosen):
            continue
        latents, moves = latents[chosen], moves[chosen]
        edited = latents + moves[:, None, None] * direction.vector[None]
        sources.append(_render(pack, latents))
        targets.append(_render(pack, edited))
        strengths.append(moves.astype(np.float32))
        kept += len(latents)
        if on_progress is not None:
            on_progress(kept, count)
    swap = mode == "swap"
    return Pairs(
        np.concatenate(sources),
        np.concatenate(targets),
        np.zeros(count, np.float32) if swap else np.concatenate(strengths),
        kept / max(drawn, 1),
    )


def check_mode(direction: Direction, mode: str) -> None:
    """ValueError unless ``direction`` can be distilled in ``mode``."""
    if mode == "swap" and (direction.score is None or direction.score.kind != "binary"):
        raise ValueError(f"{direction.name} has no yes/no attribute model: it cannot be swapped")
    if mode not in ("relative", "swap"):
        raise ValueError(f"mode must be relative or swap, got {mode!r}")


def _random_latents(pack: Pack, rng: np.random.Generator, count: int) -> np.ndarray:
    """W+ [count, num_ws, dim] of random faces, each at its own truncation."""
    g = pack.generator
    z = torch.from_numpy(rng.standard_normal((count, g.style_dim)).astype(np.float32))
    psi = torch.from_numpy(rng.uniform(*TRUNCATION, count).astype(np.float32))[:, None]
    with torch.inference_mode():
        w = g.mapping(z.to(pack.latent_avg.device)).float().cpu()
    avg = pack.latent_avg.float().cpu()[None]
    w = avg + psi * (w - avg)
    return np.repeat(w.numpy()[:, None], g.num_ws, axis=1)


def _strengths(
    direction: Direction, mode: str, latents: np.ndarray, rng: np.random.Generator, margin: float
) -> np.ndarray:
    """Strength per face; NaN for a face to drop."""
    if mode == "relative":
        return rng.uniform(direction.min, direction.max, len(latents)).astype(np.float64)
    score = direction.score
    assert score is not None  # check_mode
    limits = (direction.min, direction.max)
    out = np.full(len(latents), np.nan)
    for i, latent in enumerate(latents):
        before = score.value(latent)
        if abs(before) < margin:
            continue
        move = edit.strength_to_target(latent, direction.vector, score, "swap", 0.0, limits)
        after = score.value(latent + move * direction.vector)
        if abs(after - before) >= margin:
            out[i] = move
    return out


def _render(pack: Pack, latents: np.ndarray) -> np.ndarray:
    """uint8 [N, r, r, 3] of W+ latents (the pack's generator, constant noise)."""
    ws = torch.from_numpy(latents.astype(np.float32)).to(pack.latent_avg.device)
    with torch.inference_mode():
        rgb = pack.generator.synthesis(ws, noise_mode="const", fast=True).float()
    rgb = ((rgb.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return rgb.permute(0, 2, 3, 1).cpu().numpy()
