"""How varied a set of faces is, as pure functions of what the instruments read on them.

Used to watch a GAN run (`facesmith train monitor`) and in `train measure`: the generator's
samples against real faces — share of men, age mean and spread, mean pairwise identity
distance (dlib descriptors), and the Fréchet distance between the two sets' descriptor
distributions (FID's formula in a face network's 128-d space instead of Inception's).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Variety:
    """Figures of one set of N faces."""

    count: int
    face_found: float  # share of images the detector finds a face in
    male_share: float  # share with P(male) >= 0.5
    age_mean: float
    age_std: float
    pairwise_distance: float  # mean dlib distance over all pairs (higher = more people)

    def to_dict(self) -> dict[str, float]:
        return {k: round(float(v), 4) for k, v in asdict(self).items()}


def variety(
    found: np.ndarray, male: np.ndarray, age: np.ndarray, descriptors: np.ndarray
) -> Variety:
    """found bool [N], P(male) [N], age years [N], descriptors [N, D] → Variety."""
    male, age = np.asarray(male, np.float64), np.asarray(age, np.float64)
    return Variety(
        count=len(male),
        face_found=float(np.mean(found)) if len(found) else 0.0,
        male_share=float(np.mean(male >= 0.5)) if len(male) else 0.0,
        age_mean=float(age.mean()) if len(age) else 0.0,
        age_std=float(age.std()) if len(age) else 0.0,
        pairwise_distance=mean_pairwise_distance(descriptors),
    )


def mean_pairwise_distance(descriptors: np.ndarray) -> float:
    """Mean Euclidean distance over all unordered pairs of rows of [N, D] (0 for N < 2)."""
    x = np.asarray(descriptors, np.float64)
    n = len(x)
    if n < 2:
        return 0.0
    squared = np.sum(x * x, axis=1)
    d2 = np.maximum(squared[:, None] + squared[None, :] - 2.0 * x @ x.T, 0.0)
    upper = np.triu_indices(n, k=1)
    return float(np.sqrt(d2[upper]).mean())


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to the rows of a [N, D] and b [M, D]:
    |μa − μb|² + tr(Σa + Σb − 2 (Σa Σb)^½)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _psd_sqrt(cov_a)
    # tr((Σa Σb)^½) = tr((Σa^½ Σb Σa^½)^½): the inner matrix is symmetric PSD
    inner = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    cross = np.sqrt(np.clip(inner, 0.0, None)).sum()
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
