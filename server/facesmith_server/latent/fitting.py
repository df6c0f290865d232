"""Linear fits that turn scored latents into an edit direction (InterFaceGAN / TL-GAN recipe).

Inputs are latents x [N, dim] (W codes) and one score per latent. Binary attributes are fitted
with L2-regularised logistic regression (Newton / IRLS), continuous ones with ridge regression;
both in numpy, in the latent's own coordinates, because the direction is added to raw W codes.
A held-out split reports accuracy (binary) or Pearson correlation (continuous).

Scaling: a binary direction has unit norm (strengths in the usual InterFaceGAN units); a
continuous direction is scaled so that strength 1 moves the predicted attribute by one unit
of the score (one year of age for an age regressor).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from facesmith_server.latent.edit import hold_fixed

Array = npt.NDArray[np.float32]
KINDS = ("binary", "continuous")
NEWTON_STEPS = 50
NEWTON_TOL = 1e-8


@dataclass(frozen=True)
class Fit:
    """A fitted direction and how well the linear model predicts held-out samples.

    direction: [1, dim] (or [num_ws, dim] after conditioning on a W+ direction), float32.
    """

    direction: Array
    kind: str  # "binary" | "continuous"
    metric_name: str  # "accuracy" (binary) | "pearson" (continuous)
    metric: float  # on the held-out split
    n_train: int
    n_test: int
    score_mean: float  # of all scores (binary: the fraction of positives when 0/1 labels)
    score_std: float
    held: tuple[str, ...] = ()
    # The fitted model, for absolute edits: value = x · normal + intercept (binary: a logit).
    normal: Array | None = None  # [dim]
    intercept: float = 0.0


def split_indices(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random (train, test) split of range(n); both non-empty."""
    if n < 4:
        raise ValueError(f"need at least 4 samples to fit and test, got {n}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_test = min(n - 2, max(2, round(n * test_fraction)))
    return order[n_test:], order[:n_test]


def ridge(x: np.ndarray, y: np.ndarray, alpha: float = 1e-3) -> tuple[np.ndarray, float]:
    """Least squares y ≈ x·β + b with penalty alpha·N·v̄·|β|² (v̄: mean variance of x) → (β, b)."""
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    mean_x, mean_y = x64.mean(axis=0), float(y64.mean())
    xc = x64 - mean_x
    gram = xc.T @ xc
    penalty = alpha * float(np.trace(gram)) / gram.shape[0]
    beta = np.linalg.solve(gram + penalty * np.eye(gram.shape[0]), xc.T @ (y64 - mean_y))
    return beta, mean_y - float(mean_x @ beta)


def logistic(x: np.ndarray, labels: np.ndarray, alpha: float = 1e-4) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression P(label=1) = σ(x·β + b) by Newton's method → (β, b).

    The penalty is alpha·N·v̄·|β|² (scale-free, as in `ridge`); it keeps separable data
    finite.
    """
    x64 = x.astype(np.float64)
    t = labels.astype(np.float64)
    if t.min() == t.max():
        raise ValueError("every sample got the same label: nothing to separate")
    mean_x = x64.mean(axis=0)
    xa = np.hstack([x64 - mean_x, np.ones((len(x64), 1))])  # last column: intercept
    dim = xa.shape[1]
    penalty = alpha * float(np.einsum("ij,ij->", xa[:, :-1], xa[:, :-1])) / (dim - 1)
    reg = np.full(dim, penalty)
    reg[-1] = 0.0
    theta = np.zeros(dim)
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-np.clip(xa @ theta, -30, 30)))
        grad = xa.T @ (p - t) + reg * theta
        hess = (xa * (p * (1 - p))[:, None]).T @ xa + np.diag(reg) + 1e-9 * np.eye(dim)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if float(np.abs(step).max()) < NEWTON_TOL:
            break
    beta = theta[:-1]
    return beta, float(theta[-1] - mean_x @ beta)


def ridge_with_rate(
    x: np.ndarray, y: np.ndarray, along: np.ndarray, rate: float, alpha: float = 1e-3
) -> tuple[np.ndarray, float]:
    """``ridge`` with the model's change per unit of ``along`` [dim] given (along · β = rate)
    → (β, b): the rest of β is fitted on x with its component along ``along`` removed, so the
    data decide how a latent is read, not how fast a move along ``along`` changes it."""
    x64, u = x.astype(np.float64), np.asarray(along, np.float64).reshape(-1)
    norm2 = float(u @ u)
    if not norm2 > 0:
        raise ValueError("the direction to fix the rate along is zero")
    fixed = rate * u / norm2
    unit = u / np.sqrt(norm2)
    beta, bias = ridge(x64 - np.outer(x64 @ unit, unit), y.astype(np.float64) - x64 @ fixed, alpha)
    beta -= (beta @ unit) * unit  # exactly across, so the rate is the one given
    return fixed + beta, bias


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two [N] arrays (0 when either is constant)."""
    a64 = a.astype(np.float64) - float(np.mean(a))
    b64 = b.astype(np.float64) - float(np.mean(b))
    denom = float(np.linalg.norm(a64) * np.linalg.norm(b64))
    return float(a64 @ b64 / denom) if denom > 0 else 0.0


def fit_direction(
    latents: np.ndarray,
    scores: np.ndarray,
    kind: str,
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    threshold: float = 0.5,
    held: Sequence[tuple[str, np.ndarray]] = (),
    alpha: float | None = None,
) -> Fit:
    """Fit a direction in latent space that moves ``scores``.

    latents [N, dim]; scores [N]: probabilities / 0-1 labels (binary; label = score > threshold)
    or attribute values (continuous). ``held``: (name, direction [1 or num_ws, dim]) pairs the
    result must leave unchanged (conditional direction, see edit.hold_fixed). ``alpha``: the
    L2 penalty (default 1e-4 logistic, 1e-3 ridge; stronger biases the direction towards the
    latent's high-variance axes).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    x = np.asarray(latents, dtype=np.float64)
    y = np.asarray(scores, dtype=np.float64).reshape(-1)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"latents [N, dim] and scores [N] needed, got {x.shape} and {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("the classifier returned non-finite scores")
    train, test = split_indices(len(x), test_fraction, seed)
    if kind == "binary":
        labels = y > threshold
        beta, bias = logistic(x[train], labels[train], 1e-4 if alpha is None else alpha)
        predicted = x[test] @ beta + bias > 0
        metric_name, metric = "accuracy", float(np.mean(predicted == labels[test]))
        vector = beta / np.linalg.norm(beta)
    else:
        beta, bias = ridge(x[train], y[train], 1e-3 if alpha is None else alpha)
        metric_name, metric = "pearson", pearson(x[test] @ beta + bias, y[test])
        norm2 = float(beta @ beta)
        if norm2 <= 0:
            raise ValueError("the scores do not depend on the latent: no direction to fit")
        vector = beta / norm2  # strength 1 = one unit of the score
    direction = vector.reshape(1, -1).astype(np.float32)
    if held:
        direction = hold_fixed(direction, [h for _, h in held])
    return Fit(
        direction=direction,
        kind=kind,
        metric_name=metric_name,
        metric=metric,
        n_train=len(train),
        n_test=len(test),
        score_mean=float(y.mean()),
        score_std=float(y.std()),
        held=tuple(name for name, _ in held),
        normal=beta.astype(np.float32),
        intercept=float(bias),
    )


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors (flattened)."""
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(a64 @ b64 / (np.linalg.norm(a64) * np.linalg.norm(b64)))
