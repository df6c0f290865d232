"""Resumable GAN checkpoints and the g_ema export.

A checkpoint holds everything that decides the rest of the run: the three networks, both
optimisers (and fp16 grad scalers), the step and every RNG state, so that training N steps,
saving, and resuming for M more gives the same weights as N + M steps straight through.
Files are written atomically (temp file + fsync + rename) and read with weights_only=True.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from facesmith_server.model.checkpoints import save_generator
from facesmith_server.model.generator import Generator
from facesmith_server.model.seeded_z import seeded_z
from facesmith_train.checkpoint_files import atomic_export, atomic_torch_save, read_tagged
from facesmith_train.gan.condition import Condition
from facesmith_train.gan.config import ModelConfig
from facesmith_train.gan.discriminator import Discriminator

CHECKPOINT_NAME = "checkpoint.pt"
WEIGHTS_NAME = "weights.pt"  # fp16 networks only: small enough to keep in the repository
WEIGHTS_FORMAT = "facesmith-gan-weights-1"
EXPORT_NAME = "stylegan2.pt"  # rosinality layout, what a pack ships
FORMAT = "facesmith-gan-1"
LATENT_AVG_SAMPLES = 10_000
LATENT_AVG_SEED = 0


@dataclass
class GanState:
    """The networks, optimisers and counters of a run."""

    model: ModelConfig
    generator: Generator
    g_ema: Generator
    discriminator: Discriminator
    g_optim: torch.optim.Optimizer
    d_optim: torch.optim.Optimizer
    g_scaler: torch.amp.GradScaler
    d_scaler: torch.amp.GradScaler
    data_rng: torch.Generator  # draws the training batches and flips
    step: int = 0
    condition: Condition | None = None  # labels carried in z (conditional runs)


def save_checkpoint(path: Path, state: GanState) -> None:
    """Write the full training state to `path` atomically."""
    payload = {
        "format": FORMAT,
        "model": state.model.to_dict(),
        "step": state.step,
        "generator": state.generator.state_dict(),
        "g_ema": state.g_ema.state_dict(),
        "discriminator": state.discriminator.state_dict(),
        "g_optim": state.g_optim.state_dict(),
        "d_optim": state.d_optim.state_dict(),
        "g_scaler": state.g_scaler.state_dict(),
        "d_scaler": state.d_scaler.state_dict(),
        "rng": _rng_states(state.data_rng),
        "condition": state.condition.to_dict() if state.condition else None,
    }
    atomic_torch_save(path, payload)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint dict (tensors on CPU); refuses files with code or another format."""
    return read_tagged(path, FORMAT, "GAN checkpoint")


def restore_checkpoint(ckpt: dict[str, Any], state: GanState) -> None:
    """Load `read_checkpoint`'s dict into a state built with the same ModelConfig."""
    if ModelConfig.from_dict(ckpt["model"]) != state.model:
        raise ValueError(f"checkpoint model {ckpt['model']} != {state.model.to_dict()}")
    state.generator.load_state_dict(ckpt["generator"])
    state.g_ema.load_state_dict(ckpt["g_ema"])
    state.discriminator.load_state_dict(ckpt["discriminator"])
    state.g_optim.load_state_dict(ckpt["g_optim"])
    state.d_optim.load_state_dict(ckpt["d_optim"])
    for scaler, key in ((state.g_scaler, "g_scaler"), (state.d_scaler, "d_scaler")):
        if ckpt[key]:  # empty when fp16 scaling was off
            scaler.load_state_dict(ckpt[key])
    state.step = int(ckpt["step"])
    state.condition = condition_of(ckpt)
    _restore_rng(ckpt["rng"], state.data_rng)


def save_weights(path: Path, state: GanState) -> None:
    """The three networks in fp16 with the step and the condition, no optimiser or RNG states:
    what a run needs to go on elsewhere (`restore_weights`; Adam starts afresh)."""

    def half(module: torch.nn.Module) -> dict[str, torch.Tensor]:
        return {k: v.half() if v.is_floating_point() else v
                for k, v in module.state_dict().items()}  # fmt: skip

    atomic_torch_save(path, {
        "format": WEIGHTS_FORMAT,
        "model": state.model.to_dict(),
        "step": state.step,
        "generator": half(state.generator),
        "g_ema": half(state.g_ema),
        "discriminator": half(state.discriminator),
        "condition": state.condition.to_dict() if state.condition else None,
    })  # fmt: skip


def read_weights(path: Path) -> dict[str, Any]:
    return read_tagged(path, WEIGHTS_FORMAT, "GAN weights file")


def condition_of(payload: dict[str, Any]) -> Condition | None:
    """The labels a checkpoint's or weights file's generator was conditioned on (None if it
    was not)."""
    stored = payload.get("condition")
    return Condition.from_dict(stored) if stored else None


def restore_weights(weights: dict[str, Any], state: GanState) -> None:
    """Load `read_weights`'s dict into a fresh state built with the same ModelConfig."""
    if ModelConfig.from_dict(weights["model"]) != state.model:
        raise ValueError(f"weights of model {weights['model']} != {state.model.to_dict()}")
    for name in ("generator", "g_ema", "discriminator"):
        module = getattr(state, name)
        module.load_state_dict({k: v.float() if v.is_floating_point() else v
                                for k, v in weights[name].items()})  # fmt: skip
    state.step = int(weights["step"])
    state.condition = condition_of(weights)


def export_generator(path: Path, g_ema: Generator) -> None:
    """g_ema as `{"g_ema", "latent_avg"}` in rosinality names (`load_generator` reads it)."""
    latent_avg = mean_w(g_ema)
    atomic_export(path, lambda to: save_generator(to, g_ema, latent_avg))


@torch.no_grad()
def sample_w(generator: Generator, count: int, seed: int) -> torch.Tensor:
    """W [count, dim] of z from a private seeded RNG (the training RNG is untouched)."""
    z = seeded_z(count, generator.style_dim, seed)
    device = next(generator.parameters()).device
    return generator.mapping(z.to(device))


def mean_w(generator: Generator) -> torch.Tensor:
    """Mean w [dim] of LATENT_AVG_SAMPLES z from a fixed seed."""
    return sample_w(generator, LATENT_AVG_SAMPLES, LATENT_AVG_SEED).mean(dim=0)


def _rng_states(data_rng: torch.Generator) -> dict[str, Any]:
    """Global CPU/CUDA RNG states (z, noise, augmentation) and the data sampler's state."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {"torch": torch.get_rng_state(), "cuda": cuda, "data": data_rng.get_state()}


def _restore_rng(states: dict[str, Any], data_rng: torch.Generator) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    data_rng.set_state(states["data"])
