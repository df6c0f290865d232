"""Training a student on pairs: L1 between its output and the edited face, both flipped
left-right at random (faces are nearly symmetric, the edits are)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from facesmith_server.model.student import StudentConfig, StudentNet, scaled_strength
from facesmith_train.distill.pairs import Pairs

LEARNING_RATE = 2e-3
HELD_OUT = 0.1  # share of pairs kept for the held-out loss (at least one batch)


@dataclass(frozen=True)
class TrainReport:
    steps: int
    train_l1: float  # mean over the last tenth of the steps
    held_out_l1: float  # the student on held-out pairs
    identity_l1: float  # doing nothing on the same pairs (what the student must beat)
    seconds: float


def train_student(
    pairs: Pairs,
    config: StudentConfig,
    steps: int,
    *,
    strength_range: tuple[float, float] = (0.0, 1.0),
    batch: int = 16,
    seed: int = 0,
    network: StudentNet | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> tuple[StudentNet, TrainReport]:
    """A student trained ``steps`` steps on most of ``pairs``, scored on the rest.

    ``strength_range``: the direction's [min, max] (a relative student's strengths are
    scaled by it); ``network`` continues training an existing student."""
    started = time.monotonic()
    torch.manual_seed(seed)
    net = network if network is not None else StudentNet(config)
    x, y, s = _tensors(pairs, strength_range if config.conditioned else None)
    held = max(min(batch, len(x) // 2), int(len(x) * HELD_OUT))
    test = slice(0, held)  # the first pairs; training draws from the rest
    optimiser = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE, betas=(0.9, 0.99))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, max(steps, 1))
    rng = np.random.default_rng(seed)
    losses: list[float] = []
    net.train()
    for step in range(steps):
        idx = torch.from_numpy(rng.integers(held, len(x), batch))
        xb, yb = x[idx], y[idx]
        flip = torch.from_numpy(rng.random(batch) < 0.5)
        xb[flip], yb[flip] = xb[flip].flip(-1), yb[flip].flip(-1)
        loss = F.l1_loss(net(xb, s[idx] if s is not None else None), yb)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(loss.item())
        if on_step is not None:
            on_step(step + 1, losses[-1])
    net.eval()
    tail = losses[-max(1, steps // 10) :] if losses else [float("nan")]
    report = TrainReport(
        steps=steps,
        train_l1=float(np.mean(tail)),
        held_out_l1=_l1(net, x[test], y[test], s[test] if s is not None else None),
        identity_l1=float(F.l1_loss(x[test], y[test])),
        seconds=time.monotonic() - started,
    )
    return net, report


def _tensors(
    pairs: Pairs, strength_range: tuple[float, float] | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    def faces(images: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1

    strengths = None
    if strength_range is not None:
        low, high = strength_range
        scaled = [scaled_strength(v, low, high) for v in pairs.strengths]
        strengths = torch.tensor(scaled, dtype=torch.float32)
    return faces(pairs.sources), faces(pairs.targets), strengths


@torch.no_grad()
def _l1(net: StudentNet, x: torch.Tensor, y: torch.Tensor, s: torch.Tensor | None) -> float:
    total = 0.0
    for start in range(0, len(x), 64):
        part = slice(start, start + 64)
        out = net(x[part], s[part] if s is not None else None).clamp(-1, 1)
        total += float(F.l1_loss(out, y[part], reduction="sum"))
    return total / max(1, y.numel())
