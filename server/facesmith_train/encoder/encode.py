"""Encoding prepared crops with a trained encoder, in chunks (for measurement and fits)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from facesmith import pixels
from facesmith_server.latent.invert import encode
from facesmith_server.model.encoder import Encoder4Editing

ENCODE_BATCH = 64


def encode_crops(
    encoder: Encoder4Editing,
    latent_avg: torch.Tensor,
    crops: np.ndarray,
    device: torch.device,
    report: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Crops [N, S, S, 3] (any pixels dtype: uint8, or float 0..1) -> W+ codes float32
    [N, num_ws, dim]."""
    top = np.float32(pixels.max_value(crops.dtype))
    out = [np.zeros((0, encoder.num_ws, encoder.style_dim), np.float32)]  # for no crops at all
    for start in range(0, len(crops), ENCODE_BATCH):
        batch = torch.from_numpy(crops[start : start + ENCODE_BATCH].astype(np.float32) / top)
        images = batch.permute(0, 3, 1, 2).to(device).mul(2.0).sub(1.0)
        out.append(encode(encoder, latent_avg, images).cpu().numpy())
        if report is not None:
            report(min(start + ENCODE_BATCH, len(crops)), len(crops))
    return np.concatenate(out).astype(np.float32)
