"""Grow a trained GAN run to twice its resolution (progressive growing, done once).

The generator keeps every layer it had and gains one block at the new resolution; that
block's ToRGB starts at zero, so the grown generator first draws exactly its old image,
upsampled by the skip path, and learns the finer level from there. The discriminator keeps
its lower blocks (each one index further down the list) under a fresh input block and
ResBlock at the new resolution. The mapping network, the label embedding and the condition
are kept as they were.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from facesmith_train.gan.config import ModelConfig

Weights = dict[str, torch.Tensor]
_D_BLOCK = re.compile(r"^convs\.(\d+)\.(.*)$")


def grow_weights(
    stored: dict[str, Any], fresh: dict[str, Weights], model: ModelConfig
) -> dict[str, Any]:
    """A weights file's dict (`read_weights`) of a run at half `model.size`, grown onto
    ``fresh`` state dicts ({"generator", "g_ema", "discriminator"}) of `model`'s networks.
    Raises ValueError unless `model` is the stored one at twice the size."""
    old = ModelConfig.from_dict(stored["model"])
    if ModelConfig.from_dict({**old.to_dict(), "size": model.size}) != model:
        raise ValueError(f"cannot grow {old.to_dict()} into {model.to_dict()}")
    if model.size != 2 * old.size:
        raise ValueError(f"grows only to twice the size: {old.size} px -> {model.size} px")
    top_rgb = f"synthesis.to_rgbs.{_top_rgb_index(fresh['generator'])}.conv.weight"
    grown = {
        name: _grown_generator(stored[name], fresh[name], top_rgb)
        for name in ("generator", "g_ema")
    }
    grown["discriminator"] = _grown_discriminator(stored["discriminator"], fresh["discriminator"])
    return {**stored, **grown, "model": model.to_dict()}


def _top_rgb_index(generator: Weights) -> int:
    return max(
        int(m.group(1)) for k in generator if (m := re.match(r"synthesis\.to_rgbs\.(\d+)\.", k))
    )


def _grown_generator(old: Weights, fresh: Weights, top_rgb: str) -> Weights:
    """Every old tensor under its own name (the new block's names are new); the new ToRGB's
    weight zeroed: its output adds nothing to the upsampled old image until trained."""
    out = {k: v.clone() for k, v in fresh.items()}
    for name, tensor in old.items():
        _put(out, name, tensor)
    out[top_rgb] = torch.zeros_like(out[top_rgb])
    out[top_rgb.replace("conv.weight", "bias")].zero_()
    return out


def _grown_discriminator(old: Weights, fresh: Weights) -> Weights:
    """Old blocks 1.. become blocks 2.. (block 0, the old input layer, is dropped: the fresh
    input layer and ResBlock at the new size feed them); the head is kept."""
    out = {k: v.clone() for k, v in fresh.items()}
    for name, tensor in old.items():
        match = _D_BLOCK.match(name)
        if match is None:
            _put(out, name, tensor)
        elif int(match.group(1)) > 0:
            _put(out, f"convs.{int(match.group(1)) + 1}.{match.group(2)}", tensor)
    return out


def _put(out: Weights, name: str, tensor: torch.Tensor) -> None:
    if name not in out or out[name].shape != tensor.shape:
        raise ValueError(f"{name} {tuple(tensor.shape)} has no place in the grown network")
    out[name] = tensor.to(out[name].dtype).clone()
