"""One StyleGAN2 training step: D update, lazy R1, G update, EMA (as in rosinality's loop)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from facesmith_server.model.generator import Generator
from facesmith_train.gan.augment import augment
from facesmith_train.gan.checkpoint import GanState
from facesmith_train.gan.condition import Condition, labels_from_z
from facesmith_train.gan.config import TrainConfig
from facesmith_train.gan.losses import discriminator_loss, generator_loss, r1_penalty


@dataclass
class StepLosses:
    """One step's losses as 0-dim tensors on the device (read them with float(): reading
    one waits for the GPU, so the loop reads them only when it logs)."""

    d: torch.Tensor
    g: torch.Tensor
    r1: torch.Tensor | None  # only on lazy-regularisation steps
    real_logit: torch.Tensor
    fake_logit: torch.Tensor

    def finite(self) -> torch.Tensor:
        """A bool tensor: are D's and G's losses finite?"""
        return torch.isfinite(self.d) & torch.isfinite(self.g)


def amp_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The autocast dtype, or None for fp32. Mixed precision only on CUDA."""
    if device.type != "cuda" or precision == "fp32":
        return None
    if precision == "fp16":
        return torch.float16
    if precision == "auto" and not torch.cuda.is_bf16_supported():
        return None
    return torch.bfloat16


def train_step(
    state: GanState,
    reals: torch.Tensor,
    config: TrainConfig,
    dtype: torch.dtype | None,
    labels: torch.Tensor | None = None,
) -> StepLosses:
    """Advance every network by one step on reals [B, 3, S, S] in [-1, 1] (with their
    standardised labels [B, K] in a conditional run); step += 1."""
    d_loss, real_logit, fake_logit = _discriminator_step(state, reals, labels, config, dtype)
    r1 = None
    if config.d_reg_every > 0 and state.step % config.d_reg_every == 0:
        r1 = _r1_step(state, reals, labels, config)
    g_loss = _generator_step(state, reals.shape[0], config, dtype)
    update_ema(state.g_ema, state.generator, ema_beta(config, state.step + 1))
    state.step += 1
    return StepLosses(d_loss, g_loss, r1, real_logit, fake_logit)


def sample_ws(
    generator: Generator, batch: int, mixing: float, device: torch.device, shared: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(W+ [B, num_ws, dim], z [B, dim]) of random z; with probability `mixing` a sample
    switches to a second w at a random layer (style mixing: keeps the layers' styles
    independent). The second z shares the first ``shared`` coordinates (the labels) of the
    first, so that mixing never muddles a sample's labels."""
    z = torch.randn(2 * batch, generator.style_dim, device=device)
    if shared:
        z[batch:, :shared] = z[:batch, :shared]
    w = generator.mapping(z)
    first, second = w[:batch], w[batch:]
    num_ws = generator.num_ws
    mixed = torch.rand(batch, device=device) < mixing
    cut = torch.where(mixed, torch.randint(1, num_ws, (batch,), device=device), num_ws)
    use_second = torch.arange(num_ws, device=device)[None, :] >= cut[:, None]  # [B, num_ws]
    return torch.where(use_second[:, :, None], second[:, None, :], first[:, None, :]), z[:batch]


def ema_beta(config: TrainConfig, step: int) -> float:
    """StyleGAN2-ADA's EMA: half-life ema_kimg thousand images, ramped up early in a run."""
    ema_kimg = config.ema_kimg if config.ema_kimg is not None else config.batch * 10 / 32
    ema_nimg = ema_kimg * 1000
    if config.ema_rampup > 0:
        ema_nimg = min(ema_nimg, step * config.batch * config.ema_rampup)
    return 0.5 ** (config.batch / max(ema_nimg, 1e-8))


@torch.no_grad()
def update_ema(g_ema: nn.Module, generator: nn.Module, beta: float) -> None:
    for p_ema, p in zip(g_ema.parameters(), generator.parameters(), strict=True):
        p_ema.lerp_(p, 1.0 - beta)
    for b_ema, b in zip(g_ema.buffers(), generator.buffers(), strict=True):
        b_ema.copy_(b)


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def _fakes(
    state: GanState, batch: int, config: TrainConfig, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Fake images [B, 3, S, S] and, in a conditional run, the labels their z stands for."""
    condition: Condition | None = state.condition
    shared = condition.dim if condition else 0
    ws, z = sample_ws(state.generator, batch, config.mixing, device, shared)
    images = state.generator.synthesis(ws, noise_mode="random")
    return images, labels_from_z(condition, z) if condition else None


def _discriminator_step(
    state: GanState,
    reals: torch.Tensor,
    labels: torch.Tensor | None,
    config: TrainConfig,
    dtype: torch.dtype | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g, d = state.generator, state.discriminator
    g.requires_grad_(False)
    d.requires_grad_(True)
    with _autocast(reals.device, dtype):
        with torch.no_grad():
            fakes, fake_labels = _fakes(state, reals.shape[0], config, reals.device)
        fake_logits = d(augment(fakes, config.augment_p), fake_labels)
        real_logits = d(augment(reals, config.augment_p), labels)
        loss = discriminator_loss(real_logits.float(), fake_logits.float())
    state.d_optim.zero_grad(set_to_none=True)
    state.d_scaler.scale(loss).backward()
    state.d_scaler.step(state.d_optim)
    state.d_scaler.update()
    return loss.detach(), real_logits.detach().float().mean(), fake_logits.detach().float().mean()


def _r1_step(
    state: GanState, reals: torch.Tensor, labels: torch.Tensor | None, config: TrainConfig
) -> torch.Tensor:
    """Lazy R1 in fp32 (a gradient of a gradient is fragile in low precision), weighted by
    d_reg_every because it runs only that often. The gradient is taken at the un-augmented
    reals, through the augmentation, as rosinality does."""
    d = state.discriminator
    reals = reals.detach().requires_grad_(True)
    real_logits = d(augment(reals, config.augment_p), labels)
    penalty = r1_penalty(real_logits, reals)
    gamma = config.r1_gamma if config.r1_gamma is not None else 0.0
    # `0 * logits` keeps every D parameter in the graph (unused ones would get no grad).
    loss = gamma / 2 * penalty * config.d_reg_every + 0 * real_logits[0, 0]
    state.d_optim.zero_grad(set_to_none=True)
    loss.backward()
    state.d_optim.step()
    return penalty.detach()


def _generator_step(
    state: GanState, batch: int, config: TrainConfig, dtype: torch.dtype | None
) -> torch.Tensor:
    g, d = state.generator, state.discriminator
    g.requires_grad_(True)
    d.requires_grad_(False)
    device = next(g.parameters()).device
    with _autocast(device, dtype):
        fakes, fake_labels = _fakes(state, batch, config, device)
        loss = generator_loss(d(augment(fakes, config.augment_p), fake_labels).float())
    state.g_optim.zero_grad(set_to_none=True)
    state.g_scaler.scale(loss).backward()
    state.g_scaler.step(state.g_optim)
    state.g_scaler.update()
    return loss.detach()
