"""Faces that do not exist: a seed → z → W, truncated towards the generator's mean W.

Each face's z comes from its own seeded generator, so a seed gives the same face whatever
else is in the request (and the same on every machine: z is drawn on the CPU).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from facesmith.quality import MAX_SEED
from facesmith_server.model.generator import Generator
from facesmith_server.model.seeded_z import seeded_z


@torch.no_grad()
def seeded_ws(
    generator: Generator, seeds: Sequence[int], truncation: float, latent_avg: torch.Tensor
) -> torch.Tensor:
    """W [len(seeds), dim] of ``seeds``, ψ-truncated: avg + ψ (w − avg); ψ in [0, 1]."""
    if not 0.0 <= truncation <= 1.0:
        raise ValueError(f"truncation must be in [0, 1] (1 = none), got {truncation}")
    for seed in seeds:
        if not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seed {seed} is out of range: 0 to {MAX_SEED}")
    z = torch.cat([seeded_z(1, generator.style_dim, seed) for seed in seeds])
    avg = latent_avg.reshape(1, -1)
    w = generator.mapping(z.to(avg.device))
    return avg + truncation * (w - avg)
