"""Official (rosinality `g_ema`) state-dict names of the generator.

`Generator` splits `g_ema` into a mapping and a synthesis network; these helpers translate
between its module keys and the official flat names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from facesmith_server.model.generator import Generator

MAPPING_PREFIX = "mapping.layers."
OFFICIAL_MAPPING_PREFIX = "style."
SYNTHESIS_PREFIX = "synthesis."


def module_key_from_official(key: str) -> str:
    """'style.1.weight' -> 'mapping.layers.1.weight'; 'conv1.x' -> 'synthesis.conv1.x'."""
    if key.startswith(OFFICIAL_MAPPING_PREFIX):
        return MAPPING_PREFIX + key[len(OFFICIAL_MAPPING_PREFIX) :]
    return SYNTHESIS_PREFIX + key


def official_key_from_module(key: str) -> str:
    """Inverse of `module_key_from_official`."""
    if key.startswith(MAPPING_PREFIX):
        return OFFICIAL_MAPPING_PREFIX + key[len(MAPPING_PREFIX) :]
    if key.startswith(SYNTHESIS_PREFIX):
        return key[len(SYNTHESIS_PREFIX) :]
    raise ValueError(f"not a generator key: {key!r}")


def official_state_dict(generator: Generator) -> dict[str, torch.Tensor]:
    """The generator's weights under rosinality `g_ema` names (detached CPU-agnostic views)."""
    return {official_key_from_module(k): v for k, v in generator.state_dict().items()}


def load_official_state_dict(generator: Generator, state: Mapping[str, torch.Tensor]) -> None:
    """Strictly load a rosinality `g_ema` state dict (raises RuntimeError on any mismatch)."""
    generator.load_state_dict({module_key_from_official(k): v for k, v in state.items()})
