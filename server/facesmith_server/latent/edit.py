"""Edits as pure latent arithmetic, so that moving a slider never re-runs the encoder.

Shapes: a latent is [num_ws, dim] (W+); a direction is [1, dim] (a W direction, applied to every
layer) or [num_ws, dim] (a W+ direction). Strengths are multiples of the stored direction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from facesmith_server.model.pack import Score

Array = npt.NDArray[np.float32]
SET_PROBABILITY = (0.05, 0.95)  # a binary target of 0 / 1 means these probabilities
# A swap lands at least this far past the boundary (P = 0.99 of the other side): mirrored, a
# face the model reads as barely a man became barely a woman, which no one sees as a swap. On
# 90 held-out faces of the demo pack, pasted, P = 0.9 flipped 21 % of them, 0.99 36 %.
SWAP_MARGIN = math.log(99.0)


def _check_direction(direction: np.ndarray, num_ws: int, dim: int) -> None:
    if direction.ndim != 2 or direction.shape[1] != dim or direction.shape[0] not in (1, num_ws):
        raise ValueError(
            f"direction must be [1, {dim}] or [{num_ws}, {dim}], got {list(direction.shape)}"
        )


def apply_edits(
    latent: np.ndarray, directions: Sequence[np.ndarray], strengths: Sequence[float]
) -> Array:
    """latent [num_ws, dim] + Σ strength_i · direction_i (each [1 or num_ws, dim]) → [num_ws, dim].

    Linear in every strength, so an edit at 2s moves exactly twice as far as at s.
    """
    if latent.ndim != 2:
        raise ValueError(f"latent must be [num_ws, dim], got {list(latent.shape)}")
    if len(directions) != len(strengths):
        raise ValueError(f"{len(directions)} directions but {len(strengths)} strengths")
    out = np.array(latent, dtype=np.float32)
    for direction, strength in zip(directions, strengths, strict=True):
        _check_direction(direction, *latent.shape)
        out += np.float32(strength) * direction.astype(np.float32)
    return out


def hold_fixed(direction: np.ndarray, held: Sequence[np.ndarray]) -> Array:
    """Make ``direction`` leave the ``held`` attributes unchanged (conditional editing).

    Row by row, the component of ``direction`` inside the span of the held directions is
    projected out (InterFaceGAN's conditional manipulation, generalised to several conditions
    by an orthonormal basis). The result is rescaled so that its own attribute moves as much as
    before: ``result · d̂ = |d|``, so strengths keep their meaning.

    direction: [k, dim]; held: each [1 or k', dim] → [max(k, k'…), dim].
    """
    if not held:
        return direction.astype(np.float32)
    rows = max([direction.shape[0], *(h.shape[0] for h in held)])
    d = np.broadcast_to(direction, (rows, direction.shape[1])).astype(np.float64)
    out = np.empty_like(d)
    for r in range(rows):
        basis = _orthonormal_basis([np.asarray(h[r if h.shape[0] > 1 else 0]) for h in held])
        free = d[r] - basis.T @ (basis @ d[r])
        along = float(free @ d[r])
        if along <= 1e-8 * float(d[r] @ d[r]) or not np.isfinite(along):
            raise ValueError("the direction lies in the span of the directions held fixed")
        out[r] = free * float(d[r] @ d[r]) / along
    return out.astype(np.float32)


def _orthonormal_basis(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """Rows spanning the same space as ``vectors`` (each [dim], at least one), orthonormal:
    [rank, dim]."""
    stacked = np.stack([v.astype(np.float64) for v in vectors], axis=1)  # [dim, n]
    q, r = np.linalg.qr(stacked)
    keep = np.abs(np.diag(r)) > 1e-10 * max(1.0, float(np.abs(r).max()))
    return np.asarray(q[:, keep].T)


def strength_to_target(
    latent: np.ndarray,
    direction: np.ndarray,
    score: Score,
    mode: str,
    target: float,
    limits: tuple[float, float],
) -> float:
    """``strength_to_goal``'s strength clipped to ``limits`` (the direction's range)."""
    strength, _ = strength_to_goal(latent, direction, score, mode, target)
    low, high = limits
    return min(max(strength, low), high)


def strength_to_goal(
    latent: np.ndarray, direction: np.ndarray, score: Score, mode: str, target: float
) -> tuple[float, float]:
    """(strength, goal): the strength along ``direction`` [1 | num_ws, dim] that takes
    ``latent`` [num_ws, dim] to ``target`` by the attribute's linear model (mode "set"), or to
    the mirror point across a binary attribute's boundary ("swap": the logit changes sign, same
    distance, at least SWAP_MARGIN); and that goal as the model's value (a logit for binary
    attributes). ValueError when the direction does not move the model.

    Set targets of binary attributes are probabilities, taken between SET_PROBABILITY.
    """
    rate = float(np.asarray(direction, np.float64).mean(axis=0) @ score.normal)
    if not math.isfinite(rate) or abs(rate) < 1e-9:
        raise ValueError("the direction does not move its attribute's model")
    now = score.value(latent)
    if mode == "swap":
        goal = -math.copysign(max(abs(now), SWAP_MARGIN), now)
    elif score.kind == "binary":
        p = min(max(target, SET_PROBABILITY[0]), SET_PROBABILITY[1])
        goal = math.log(p / (1.0 - p))
    else:
        goal = target
    return (goal - now) / rate, goal
