"""Sample grids of the EMA generator on fixed latents, to watch a run's progress by eye."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import torch

from facesmith import pixels
from facesmith.files import atomic_write
from facesmith_server.model.generator import Generator
from facesmith_server.model.seeded_z import seeded_z

GRID_SEED = 12345  # the same faces at every step and in every run
RENDER_CHUNK = 16


def fixed_latents(count: int, style_dim: int) -> torch.Tensor:
    """z [count, style_dim] from a private seeded RNG (the training RNG is untouched)."""
    return seeded_z(count, style_dim, GRID_SEED)


@torch.no_grad()
def render_grid(generator: Generator, z: torch.Tensor) -> np.ndarray:
    """Images of z tiled into a square-ish grid: uint8 RGB [rows*S, cols*S, 3]."""
    device = next(generator.parameters()).device
    chunks = [
        generator(z[i : i + RENDER_CHUNK].to(device), noise_mode="const").float().cpu()
        for i in range(0, z.shape[0], RENDER_CHUNK)
    ]
    images = torch.cat(chunks).clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    n, _, s, _ = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = torch.zeros(rows * cols, 3, s, s, dtype=torch.uint8)
    grid[:n] = images
    grid = grid.reshape(rows, cols, 3, s, s).permute(0, 3, 1, 4, 2).reshape(rows * s, cols * s, 3)
    return grid.numpy()


def write_png(path: Path, image: np.ndarray) -> None:
    """uint8 RGB [H, W, 3] -> PNG file, written atomically."""
    ok, encoded = cv2.imencode(".png", pixels.to_opencv(image))
    if not ok:
        raise OSError(f"could not encode {path}")
    atomic_write(path, encoded.tobytes())
