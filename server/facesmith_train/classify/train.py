"""Training of the attribute classifier (classify.model) on the prepared crops, for one or
several attributes at once (one shared body).

Bald is about 2 % of CelebA, so half of each batch is drawn from the faces with any of the
attributes; each attribute's loss then weighs its positives by how rarely the batches hold
them, so every output is P(yes) under equal priors and 0.5 is the decision threshold that
balanced accuracy asks for (choosing one on the held-out faces would leak them). Held-out faces
are never trained on; they give the reported accuracies. CLI: classify.run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from facesmith_train.classify.model import THRESHOLD, AttributeNet, probabilities, to_signed

LR = 2e-3
WEIGHT_DECAY = 0.01
WARMUP_FRACTION = 0.05
PROGRESS_LINES = 20  # about this many progress lines per run
# Light augmentation: the crops are already aligned, so only small geometric jitter.
SHIFT = 0.06  # of the side
SCALE = 0.06  # zoom in or out by up to 6 %
ROTATE_DEGREES = 6.0
BRIGHTNESS, CONTRAST, SATURATION = 0.15, 0.2, 0.3  # +- ranges, on images in [-1, 1]


@dataclass(frozen=True)
class AttributeReport:
    """How the classifier does on the held-out faces (at `threshold` on P(yes))."""

    held_out_accuracy: float
    held_out_balanced_accuracy: float  # mean of the recalls of "yes" and "no"
    n_train: int
    n_test: int
    positives_train: int
    positives_test: int
    threshold: float


def train_attributes(
    crops: np.ndarray,
    labels: np.ndarray,
    held_out: np.ndarray,
    *,
    iterations: int,
    batch: int,
    seed: int,
    device: torch.device | str,
    report: Callable[[str], None] | None = None,
) -> tuple[AttributeNet, list[AttributeReport]]:
    """Train on the faces not held out, evaluate on the held-out ones.

    crops: uint8 [N, S, S, 3] RGB; labels: [N] or [N, K], > 0 means yes; held_out: bool [N].
    Half of each batch comes from the faces with any attribute, half from all (with
    replacement), lightly augmented; AdamW with warm-up and cosine decay. `report` gets
    progress lines. Deterministic for a seed on CPU. One report per attribute.
    """
    crops, yes, held_out = _check_inputs(crops, labels, held_out)
    if iterations < 1 or batch < 2:
        raise ValueError("iterations must be at least 1 and batch at least 2")
    device = torch.device(device)
    train = ~held_out
    rare = np.flatnonzero(yes[train].any(axis=1))
    if (yes[train].sum(axis=0) == 0).any() or yes[train].all(axis=0).any():
        raise ValueError("the training split needs faces both with and without each attribute")
    images = _to_nchw(crops[train], device)
    targets = torch.from_numpy(yes[train]).float().to(device)
    weights = torch.from_numpy(positive_weights(yes[train], len(rare))).float().to(device)
    torch.manual_seed(seed)
    net = AttributeNet(outputs=yes.shape[1]).to(device)
    rng = torch.Generator().manual_seed(seed + 1)  # batches and augmentation
    optimiser = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, _lr_factor(iterations))
    rare_index, everyone = torch.from_numpy(rare), torch.arange(int(train.sum()))
    meter = _Meter(iterations, report)
    net.train()
    for step in range(1, iterations + 1):
        index = balanced_batch(rare_index, everyone, batch, rng).to(device)
        x = augment_light(to_signed(images[index]), rng)
        loss = F.binary_cross_entropy_with_logits(net(x), targets[index], pos_weight=weights)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise RuntimeError(f"the loss became non-finite at step {step}")
        meter.add(step, loss_value)
    net.eval()
    scores = probabilities(net, _to_nchw(crops[held_out], device))
    results = [
        AttributeReport(
            **held_out_accuracy(scores[:, k], yes[held_out, k], THRESHOLD),
            n_train=int(train.sum()),
            n_test=int(held_out.sum()),
            positives_train=int(yes[train, k].sum()),
            positives_test=int(yes[held_out, k].sum()),
            threshold=THRESHOLD,
        )
        for k in range(yes.shape[1])
    ]
    return net, results


def train_attribute(
    crops: np.ndarray, labels: np.ndarray, held_out: np.ndarray, **kwargs: Any
) -> tuple[AttributeNet, AttributeReport]:
    """One attribute (labels [N]): `train_attributes` with a single output."""
    net, (result,) = train_attributes(crops, np.asarray(labels).reshape(-1, 1), held_out, **kwargs)
    return net, result


def positive_weights(yes: np.ndarray, rare: int) -> np.ndarray:
    """Per attribute, the weight of its positives that makes the loss see equal priors under
    the sampling of `train_attributes` (half from the ``rare`` faces with any attribute, half
    from all): (1 − r) / r, r being how often a sampled face has the attribute."""
    positives = yes.sum(axis=0).astype(np.float64)
    rate = 0.5 * positives / max(rare, 1) + 0.5 * positives / len(yes)
    return (1.0 - rate) / rate


def _check_inputs(
    crops: np.ndarray, labels: np.ndarray, held_out: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    crops = np.asarray(crops)
    n = crops.shape[0] if crops.ndim == 4 else -1
    if crops.ndim != 4 or crops.shape[3] != 3 or crops.dtype != np.uint8:
        raise ValueError(f"crops must be uint8 [N, S, S, 3], got {crops.dtype} {crops.shape}")
    yes = np.asarray(labels) > 0
    yes = yes.reshape(len(yes), -1)
    held_out = np.asarray(held_out, dtype=bool).reshape(-1)
    if len(yes) != n or len(held_out) != n:
        raise ValueError(f"{n} crops but {len(yes)} labels and {len(held_out)} held_out flags")
    if not held_out.any():
        raise ValueError("no held-out faces to measure the classifier on")
    return crops, yes, held_out


def _lr_factor(iterations: int) -> Callable[[int], float]:
    """Linear warm-up over the first 5 % of the steps, then cosine decay to zero."""
    warmup = max(1, round(WARMUP_FRACTION * iterations))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, iterations - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def balanced_batch(
    positives: torch.Tensor, negatives: torch.Tensor, batch: int, rng: torch.Generator
) -> torch.Tensor:
    """Indices [batch]: half from `positives`, the rest from `negatives` (or from everyone),
    with replacement."""
    n_pos = batch // 2
    pick_pos = torch.randint(len(positives), (n_pos,), generator=rng)
    pick_neg = torch.randint(len(negatives), (batch - n_pos,), generator=rng)
    return torch.cat([positives[pick_pos], negatives[pick_neg]])


def augment_light(images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Random mirror, small shift / zoom / rotation (border pixels repeated) and colour jitter.

    images: float [N, 3, S, S] in [-1, 1] -> same shape; randomness only from `rng` (CPU).
    """
    n = images.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return (torch.rand(n, generator=rng) * (high - low) + low).to(images.device)

    angle = uniform(-ROTATE_DEGREES, ROTATE_DEGREES) * (math.pi / 180.0)
    scale = uniform(1.0 - SCALE, 1.0 + SCALE)
    mirror = torch.where(uniform(0.0, 1.0) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos * mirror, -sin, uniform(-2 * SHIFT, 2 * SHIFT)], dim=1),
            torch.stack([sin * mirror, cos, uniform(-2 * SHIFT, 2 * SHIFT)], dim=1),
        ],
        dim=1,
    )  # [N, 2, 3], output -> input in [-1, 1] coordinates (a shift of 2 * SHIFT = SHIFT sides)
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    x = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    x = x + uniform(-BRIGHTNESS, BRIGHTNESS)[:, None, None, None]
    grey = x.mean(dim=1, keepdim=True)
    x = grey + (x - grey) * uniform(1.0 - SATURATION, 1.0 + SATURATION)[:, None, None, None]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = mean + (x - mean) * uniform(1.0 - CONTRAST, 1.0 + CONTRAST)[:, None, None, None]
    return x.clamp(-1.0, 1.0)


def _to_nchw(crops: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 [N, S, S, 3] -> uint8 [N, 3, S, S] on device (kept as bytes: 4x less memory)."""
    return torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).contiguous().to(device)


def held_out_accuracy(scores: np.ndarray, yes: np.ndarray, threshold: float) -> dict[str, float]:
    """Accuracy and balanced accuracy (mean recall over the classes present) of
    `scores >= threshold` against `yes`."""
    called = np.asarray(scores) >= threshold
    yes = np.asarray(yes, dtype=bool)
    recalls = [float(np.mean(called[yes == c] == c)) for c in (False, True) if (yes == c).any()]
    return {
        "held_out_accuracy": float(np.mean(called == yes)),
        "held_out_balanced_accuracy": float(np.mean(recalls)),
    }


class _Meter:
    """Mean loss since the last line, speed and ETA; about PROGRESS_LINES lines a run."""

    def __init__(self, total: int, report: Callable[[str], None] | None) -> None:
        self.total, self.report = total, report
        self.every = max(1, total // PROGRESS_LINES)
        self.started = time.monotonic()
        self.losses: list[float] = []

    def add(self, step: int, loss: float) -> None:
        self.losses.append(loss)
        if self.report is None or (step % self.every and step != self.total):
            return
        elapsed = time.monotonic() - self.started
        rate = step / max(elapsed, 1e-9)
        eta = (self.total - step) / rate
        self.report(
            f"step {step}/{self.total}  loss {np.mean(self.losses):.4f}  "
            f"{rate:.2f} it/s  ETA {int(eta) // 60}m{int(eta) % 60:02d}s"
        )
        self.losses.clear()
