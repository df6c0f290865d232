"""Inversion: aligned face crops -> W+ latents (e4e encoding, then optional refinement)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from facesmith_server.errors import Cancelled, InvalidInput
from facesmith_server.model.encoder import Encoder4Editing
from facesmith_server.model.generator import SynthesisNetwork

if TYPE_CHECKING:
    from facesmith_server.model.identity import FaceRecognitionNet

MULTISCALE_LEVELS = 3  # extra MSE terms at 1/2, 1/4, 1/8 resolution (colour / layout)
MIN_SCALE_SIZE = 8

ProgressFn = Callable[[int, int, float], None]
StopFn = Callable[[], bool]
IdentityLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (images, target) -> [N]
IDENTITY_WEIGHT = 0.05  # descriptor distances (~0.3-0.6) against pixel errors (~0.01-0.1)


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """[N, 3, R, R] -> [N, 3, size, size]: area for integer downscales, else antialiased."""
    r = images.shape[-1]
    if r == size:
        return images
    if r > size and r % size == 0:
        return F.avg_pool2d(images, r // size)
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True)


def encode(
    encoder: Encoder4Editing, latent_avg: torch.Tensor, images: torch.Tensor
) -> torch.Tensor:
    """images [N, 3, R, R] in [-1, 1] -> ws [N, num_ws, dim] = e4e offsets + latent_avg.

    latent_avg: [num_ws, dim] or [dim].
    """
    _check_images(images, "images")
    with torch.no_grad():
        x = resize_images(images.float(), encoder.input_size)
        return encoder(x) + latent_avg.to(x.device)


def reconstruction_loss(images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-face loss [N]: pixel MSE plus MSE of 2x, 4x, 8x average-pooled copies."""
    loss = (images - target).square().mean(dim=[1, 2, 3])
    for _ in range(MULTISCALE_LEVELS):
        if images.shape[-1] < MIN_SCALE_SIZE:
            break
        images, target = F.avg_pool2d(images, 2), F.avg_pool2d(target, 2)
        loss = loss + (images - target).square().mean(dim=[1, 2, 3])
    return loss


def refine(
    synthesis: SynthesisNetwork,
    target: torch.Tensor,
    ws_init: torch.Tensor,
    steps: int,
    lr: float = 0.01,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    identity: IdentityLoss | None = None,
) -> torch.Tensor:
    """Optimise W+ so synthesis(ws) matches target; returns detached ws [N, num_ws, dim].

    target: [N, 3, R, R] in [-1, 1] (renders are resized to R); ws_init: [N, num_ws, dim].
    Adam on the latents only; all faces in one forward pass (faces are independent: the
    loss is the sum of per-face losses). on_progress(step, steps, mean loss) after each
    step; should_stop() True raises errors.Cancelled. ``identity``: an extra per-face term
    (face-recognition descriptor distance, weighted by IDENTITY_WEIGHT).
    """
    _check_images(target, "target")
    if ws_init.shape[0] != target.shape[0]:
        raise InvalidInput(f"{ws_init.shape[0]} latents for {target.shape[0]} target images")
    target = target.detach().float()
    ws = ws_init.detach().clone().float().requires_grad_(True)
    optimiser = torch.optim.Adam([ws], lr=lr)
    for step in range(steps):
        if should_stop is not None and should_stop():
            raise Cancelled(f"refinement stopped at step {step} of {steps}")
        with torch.enable_grad():
            images = resize_images(synthesis(ws, noise_mode="const"), target.shape[-1])
            loss = reconstruction_loss(images, target)
            if identity is not None:
                loss = loss + IDENTITY_WEIGHT * identity(images, target)
            optimiser.zero_grad(set_to_none=True)
            loss.sum().backward()
        optimiser.step()
        if on_progress is not None:
            on_progress(step + 1, steps, float(loss.detach().mean()))
    return ws.detach()


def _check_images(images: torch.Tensor, name: str) -> None:
    if images.ndim != 4 or images.shape[1] != 3 or images.shape[2] != images.shape[3]:
        raise InvalidInput(f"{name} must be [N, 3, R, R], got {list(images.shape)}")


def identity_term(net: FaceRecognitionNet) -> IdentityLoss:
    """The per-face descriptor distance of a face recognition net (model.identity) between
    renders and targets, FFHQ-framed in [-1, 1]."""
    from facesmith_server.model.identity import ffhq_descriptors

    def loss(images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            wanted = ffhq_descriptors(net, target)
        got = ffhq_descriptors(net, images)
        return (got - wanted).square().sum(dim=1).add(1e-8).sqrt()

    return loss
