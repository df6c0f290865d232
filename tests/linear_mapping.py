"""A mapping network through which a Z boundary is exactly linear in W (tests of Z → W
conversion: tests/server and tests/client)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from facesmith_server.model.layers import PixelNorm


class LinearMapping(nn.Module):
    """w = A · PixelNorm(z): a mapping through which a Z boundary is exactly linear in W."""

    def __init__(self, matrix: np.ndarray) -> None:
        super().__init__()
        self.norm = PixelNorm()
        self.register_buffer("matrix", torch.from_numpy(matrix).float())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.norm(z) @ self.matrix.T
