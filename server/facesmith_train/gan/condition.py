"""Label-conditioned GAN training whose generator needs no label (the official layout).

The labels ride in z: label i of a fake is read off z[:, i] by quantile matching, so that
z[:, i] ~ N(0, 1) gives label i the training data's own distribution (for "male" a threshold
that makes the data's share of men; for "age" the data's age quantiles). The discriminator is
told the label (projection, `Discriminator(cond_dim=K)`) of reals and fakes alike, so the
generator must draw men where z[:, 0] is high and old faces where z[:, 1] is high. Nothing has
to be folded out on export: the generator is the plain z → image network, and a plain
z ~ N(0, I) already samples the labels as the data has them.

Labels are standardised: binary ones to -1 / +1, continuous ones to zero mean, unit spread.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

QUANTILES = 1001  # points of each label's stored quantile function
BINARY_STANDARD = (0.5, 0.5)  # (mean, scale) of a yes/no label: 0 / 1 become -1 / +1

# condition name → column of the prepared files (a label or an estimate)
SOURCES = {"male": "Male", "age": "age"}


@dataclass(frozen=True)
class Condition:
    """Per label: its name, how reals are standardised (mean, scale) and its quantile function
    in standardised units (QUANTILES values at probabilities 0..1)."""

    names: tuple[str, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    quantiles: tuple[tuple[float, ...], ...]

    @property
    def dim(self) -> int:
        return len(self.names)

    def is_binary(self, name: str) -> bool:
        """Whether label ``name`` is yes/no (standardised to -1 / +1 by `fit_condition`)."""
        i = self.names.index(name)
        return (self.means[i], self.scales[i]) == BINARY_STANDARD

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "means": list(self.means),
            "scales": list(self.scales),
            "quantiles": [list(q) for q in self.quantiles],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Condition:
        return cls(
            names=tuple(str(n) for n in d["names"]),
            means=tuple(float(v) for v in d["means"]),
            scales=tuple(float(v) for v in d["scales"]),
            quantiles=tuple(tuple(float(v) for v in q) for q in d["quantiles"]),
        )


def fit_condition(names: Sequence[str], columns: Sequence[np.ndarray]) -> Condition:
    """The condition of raw label columns ([N] each; NaN = unknown, left out of the fit)."""
    means, scales, quantiles = [], [], []
    for name, raw in zip(names, columns, strict=True):
        values = np.asarray(raw, np.float64)
        values = values[np.isfinite(values)]
        if values.size == 0:
            raise ValueError(f"label {name!r} has no known values")
        binary = set(np.unique(values)) <= {0.0, 1.0}
        mean, scale = (
            BINARY_STANDARD if binary else (float(values.mean()), float(values.std() or 1.0))
        )
        standard = (values - mean) / scale
        means.append(mean)
        scales.append(scale)
        points = np.quantile(standard, np.linspace(0.0, 1.0, QUANTILES))
        quantiles.append(tuple(float(v) for v in points))
    return Condition(tuple(names), tuple(means), tuple(scales), tuple(quantiles))


def standardise(condition: Condition, columns: Sequence[np.ndarray]) -> np.ndarray:
    """Raw label columns → float32 [N, K] in standardised units (NaN stays NaN)."""
    rows = [
        (np.asarray(c, np.float64) - m) / s
        for c, m, s in zip(columns, condition.means, condition.scales, strict=True)
    ]
    return np.stack(rows, axis=1).astype(np.float32)


def labels_from_z(condition: Condition, z: torch.Tensor) -> torch.Tensor:
    """The labels z [N, dim] stands for: [N, K], label i = quantile_i(Φ(z[:, i]))."""
    probability = 0.5 * (1.0 + torch.erf(z[:, : condition.dim].float() / math.sqrt(2.0)))
    grid = torch.linspace(0.0, 1.0, QUANTILES, device=z.device)
    table = _quantile_table(condition.quantiles, str(z.device))
    out = [_interp(probability[:, i], grid, table[i]) for i in range(condition.dim)]
    return torch.stack(out, dim=1)


@functools.lru_cache(maxsize=8)
def _quantile_table(quantiles: tuple[tuple[float, ...], ...], device: str) -> torch.Tensor:
    """The quantiles as one tensor on the device, copied there once: a copy to a GPU every
    step would wait for the GPU's queue to drain each time."""
    return torch.tensor(quantiles, device=device)


def z_for_labels(condition: Condition, labels: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """z with its label coordinates set to stand for ``labels`` [N, K] (standardised units):
    the inverse of `labels_from_z`; a binary label goes to the middle of its side."""
    z = z.clone()
    last = QUANTILES - 1
    for i, q in enumerate(condition.quantiles):
        values = torch.tensor(q, dtype=torch.float64)[None, :]
        target = labels[:, i].detach().double().cpu()[:, None]
        below = (values < target).sum(1).double()
        upto = (values <= target).sum(1).double()
        p = ((below + upto) / (2 * last)).clamp(0.5 / last, 1 - 0.5 / last)
        z[:, i] = (math.sqrt(2.0) * torch.erfinv(2 * p - 1)).to(z.device, z.dtype)
    return z


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation of (xp, fp) at x (xp increasing)."""
    index = torch.searchsorted(xp, x.clamp(xp[0], xp[-1])).clamp(1, len(xp) - 1)
    x0, x1 = xp[index - 1], xp[index]
    y0, y1 = fp[index - 1], fp[index]
    t = (x - x0) / (x1 - x0).clamp_min(1e-12)
    return y0 + t * (y1 - y0)
