"""The sketch encoder: an e4e network that reads a line drawing (facesmith_server.latent.
sketch.encoder_input) and answers a W+ latent of the pack's generator.

File format "facesmith-sketch-encoder": a torch file of plain tensors
{"format", "state_dict": {e4e encoder weights, fp16}, "latent_avg": [num_ws, dim]}, read with
``weights_only=True``. It holds no generator (the pack has one), unlike an e4e file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import torch

from facesmith_server.model.encoder import Encoder4Editing, EncoderConfig

SKETCH_ENCODER_FORMAT = "facesmith-sketch-encoder"


@dataclass
class SketchEncoder:
    network: Encoder4Editing  # eval mode
    latent_avg: torch.Tensor  # [num_ws, dim]: the network predicts offsets from it


def save_sketch_encoder(
    path: Path | BinaryIO, network: Encoder4Editing, latent_avg: torch.Tensor
) -> None:
    """Write the encoder in fp16 with its latent_avg (rows [num_ws, dim])."""
    state = {k: (v.half() if v.is_floating_point() else v).detach().cpu().clone()
             for k, v in network.state_dict().items()}  # fmt: skip
    rows = latent_avg.detach().float().cpu().reshape(-1, network.style_dim)
    torch.save({"format": SKETCH_ENCODER_FORMAT, "state_dict": state,
                "latent_avg": rows.expand(network.num_ws, -1).clone()}, path)  # fmt: skip


def load_sketch_encoder(path: Path, device: torch.device | str) -> SketchEncoder:
    """The sketch encoder of a file (float32, eval mode, on ``device``); ValueError if the file
    is not a facesmith-sketch-encoder file."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # not a torch file, or one holding more than tensors
        raise ValueError(f"{path}: cannot read the sketch encoder ({err})") from None
    if not isinstance(data, dict) or data.get("format") != SKETCH_ENCODER_FORMAT:
        raise ValueError(f"{path}: not a {SKETCH_ENCODER_FORMAT} file")
    state = {k: v.float() if v.is_floating_point() else v for k, v in data["state_dict"].items()}
    try:
        network = Encoder4Editing(EncoderConfig.from_state_dict(state))
        network.load_state_dict(state)
    except (KeyError, IndexError, ValueError, RuntimeError) as err:
        raise ValueError(f"{path}: not an e4e encoder's weights ({err})") from None
    latent_avg = data.get("latent_avg")
    if not isinstance(latent_avg, torch.Tensor) or latent_avg.shape != (
        network.num_ws,
        network.style_dim,
    ):
        raise ValueError(f"{path}: latent_avg must be [{network.num_ws}, {network.style_dim}]")
    network = network.to(device).eval().requires_grad_(False)
    return SketchEncoder(network, latent_avg.float().to(device))
