"""Pivotal tuning (PTI): tune a copy of the generator around one face's latent (the pivot) so
that the render matches the photo, while latents near the pivot still render as the original
generator does — so edits, which move the latent a little, keep working.

Losses, per step: the reconstruction loss at the pivot (pixels at several scales, as in
refinement, plus an optional identity term), and a locality term (Roich et al.): a latent
part-way from the pivot towards a random one must render as the original generator renders it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch

from facesmith_server.errors import Cancelled, InvalidInput
from facesmith_server.latent.invert import (
    IDENTITY_WEIGHT,
    IdentityLoss,
    reconstruction_loss,
    resize_images,
)
from facesmith_server.model.generator import SynthesisNetwork

DEFAULT_LR = 3e-4  # PTI's learning rate
LOCALITY_WEIGHT = 1.0
LOCALITY_ALPHA = 0.3  # how far towards the random latent the locality sample lies

ProgressFn = Callable[[int, int, float], None]
StopFn = Callable[[], bool]


def tune_pivot(
    synthesis: SynthesisNetwork,
    target: torch.Tensor,
    pivot: torch.Tensor,
    steps: int,
    random_ws: torch.Tensor,
    lr: float = DEFAULT_LR,
    identity: IdentityLoss | None = None,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> SynthesisNetwork:
    """A tuned copy of ``synthesis`` (the original is untouched) for one face.

    target [1, 3, R, R] in [-1, 1]; pivot [1, num_ws, dim]; random_ws [steps, num_ws, dim]:
    one latent of the generator's own distribution per step, for the locality term.
    """
    if target.ndim != 4 or target.shape[0] != 1 or pivot.shape[0] != 1:
        raise InvalidInput("pivotal tuning takes one face at a time")
    if random_ws.shape[0] < steps:
        raise InvalidInput(f"{random_ws.shape[0]} random latents for {steps} steps")
    tuned = copy.deepcopy(synthesis).train(False).requires_grad_(True)
    optimiser = torch.optim.Adam(tuned.parameters(), lr=lr)
    pivot = pivot.detach().float()
    target = target.detach().float()
    for step in range(steps):
        if should_stop is not None and should_stop():
            raise Cancelled(f"pivotal tuning stopped at step {step} of {steps}")
        near = pivot + LOCALITY_ALPHA * (random_ws[step : step + 1].float() - pivot)
        with torch.no_grad():
            expected = synthesis(near, noise_mode="const")
        with torch.enable_grad():
            loss = _tuning_loss(tuned, target, pivot, near, expected, identity)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
        optimiser.step()
        if on_progress is not None:
            on_progress(step + 1, steps, float(loss.detach()))
    return tuned.requires_grad_(False)


def _tuning_loss(
    tuned: SynthesisNetwork,
    target: torch.Tensor,
    pivot: torch.Tensor,
    near: torch.Tensor,
    expected: torch.Tensor,
    identity: IdentityLoss | None,
) -> torch.Tensor:
    image = resize_images(tuned(pivot, noise_mode="const"), target.shape[-1])
    loss = reconstruction_loss(image, target).sum()
    if identity is not None:
        loss = loss + IDENTITY_WEIGHT * identity(image, target).sum()
    locality = (tuned(near, noise_mode="const") - expected).square().mean()
    return loss + LOCALITY_WEIGHT * locality
