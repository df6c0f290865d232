"""Small yes/no attribute classifiers (e.g. CelebA's Bald, Gray_Hair, ...) that read the
pack's edits: the network (one shared body, one output per attribute), its saved file and the
Classifier each output becomes when loaded. Training: classify.train.

It sees faces as the pack does: crops framed by the pack's alignment template, at 64 px.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facesmith_train.checkpoint_files import atomic_torch_save, read_tagged

FORMAT = "facesmith-attribute-1"
INPUT_SIZE = 64  # the network's working resolution; other sizes are resized to it
WIDTHS = (32, 64, 128, 192)  # channels of the four stride-2 stages: 64 -> 32 -> 16 -> 8 -> 4
THRESHOLD = 0.5  # on P(yes) under equal priors (classify.train balances its batches)
EVAL_BATCH = 256


class AttributeNet(nn.Module):
    """Four stages of (3x3 conv stride 2, 3x3 conv), batch norm and ReLU, then global
    average pooling and one linear unit per attribute.

    Layout: images [N, 3, S, S] in [-1, 1] (resized to 64 inside) -> logits [N, outputs].
    """

    def __init__(
        self,
        widths: Sequence[int] = WIDTHS,  # channels of each stage; each halves the side
        dropout: float = 0.2,  # before the final linear layer (train mode only)
        outputs: int = 1,  # attributes read at once
    ) -> None:
        super().__init__()
        self.widths = tuple(int(w) for w in widths)
        layers: list[nn.Module] = []
        previous = 3
        for width in self.widths:
            layers += _conv(previous, width, stride=2) + _conv(width, width, stride=1)
            previous = width
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.outputs = outputs
        self.head = nn.Linear(previous, outputs)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images [N, 3, S, S], got {tuple(images.shape)}")
        if images.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            images = F.interpolate(
                images, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False,
                antialias=images.shape[-1] > INPUT_SIZE,
            )  # fmt: skip
        pooled = self.features(images).mean(dim=(2, 3))  # [N, C]
        return self.head(self.dropout(pooled))


def _conv(in_channels: int, out_channels: int, stride: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


def to_signed(images: torch.Tensor) -> torch.Tensor:
    """uint8 -> float [-1, 1]."""
    return images.float().div(127.5).sub(1.0)


@torch.no_grad()
def probabilities(net: AttributeNet, images: torch.Tensor) -> np.ndarray:
    """P(yes) float64 [N, outputs] for uint8 [N, 3, S, S] or float [-1, 1] images; the logits
    of each image and its mirror are averaged (the training saw both)."""
    net.eval()
    device = next(net.parameters()).device
    out = []
    for start in range(0, images.shape[0], EVAL_BATCH):
        x = images[start : start + EVAL_BATCH].to(device)
        x = to_signed(x) if x.dtype == torch.uint8 else x.float()
        logits = (net(x) + net(x.flip(3))) / 2
        out.append(torch.sigmoid(logits).double().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, net.outputs), np.float64)


# -- files -------------------------------------------------------------------------------------


def save_attribute(path: Path, net: AttributeNet, meta: dict[str, Any]) -> None:
    """Write the weights and `meta` (plain JSON-like values: name, threshold, report, ...)
    to `path` atomically; `load_attribute` reads it with weights_only=True."""
    json.dumps(meta)  # plain values only: a TypeError now rather than an unloadable file
    payload = {
        "format": FORMAT,
        "widths": list(net.widths),
        "outputs": net.outputs,
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "meta": meta,
    }
    atomic_torch_save(path, payload)


class AttributeClassifier:
    """A trained attribute as a Classifier (facesmith_server.latent.classifiers): binary, returns
    P(yes) for images float32 [N, H, W, 3] in 0..1 aligned with the pack's template."""

    kind = "binary"

    def __init__(
        self, net: AttributeNet, name: str, threshold: float, meta: dict[str, Any], head: int = 0
    ) -> None:
        self.net = net.eval()
        self.name = name
        self.threshold = threshold  # P(yes) >= threshold: the classifier calls it "yes"
        self.meta = meta
        self.head = head  # which of the net's outputs

    def __call__(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4 or images.shape[3] != 3:
            raise ValueError(f"expected images [N, H, W, 3] in 0..1, got {images.shape}")
        x = torch.from_numpy(images).permute(0, 3, 1, 2).mul(2.0).sub(1.0)
        return probabilities(self.net, x)[:, self.head]

    def decide(self, images: np.ndarray) -> np.ndarray:
        """bool [N]: whether the classifier calls each image "yes"."""
        return self(images) >= self.threshold


def load_attributes(
    path: Path, device: torch.device | str = "cpu"
) -> dict[str, AttributeClassifier]:
    """Every attribute of a file `save_attribute` wrote, by name (ValueError if `path` is not
    one). meta["heads"] names each output ({"name", "threshold", ...}); a file without it has
    one output named meta["name"] (or the file's stem)."""
    payload = read_tagged(path, FORMAT, "attribute classifier")
    net = _net(payload).to(device)
    meta = dict(payload["meta"])
    heads = meta.get("heads") or [{"name": meta.get("name") or path.stem, **meta}]
    return {
        str(h["name"]): AttributeClassifier(net, str(h["name"]),
                                            float(h.get("threshold", THRESHOLD)), dict(h), i)
        for i, h in enumerate(heads)
    }  # fmt: skip


def load_attribute_net(path: Path, device: torch.device | str = "cpu") -> AttributeNet:
    """The network of a classifier file, every output, in eval mode and frozen (a loss term
    reads images through it)."""
    payload = read_tagged(path, FORMAT, "attribute classifier")
    return _net(payload).to(device).eval().requires_grad_(False)


def _net(payload: dict[str, Any]) -> AttributeNet:
    net = AttributeNet(payload["widths"], outputs=int(payload.get("outputs", 1)))
    net.load_state_dict(payload["state_dict"])
    return net


def load_attribute(
    path: Path, device: torch.device | str = "cpu", name: str | None = None
) -> AttributeClassifier:
    """One attribute of a classifier file: ``name``, or its only one."""
    found = load_attributes(path, device)
    if name is None and len(found) == 1:
        return next(iter(found.values()))
    if name not in found:
        raise ValueError(f"{path} reads {', '.join(found)}; name one of them, not {name!r}")
    return found[name]


def classifiers_from(
    specs: Sequence[str], device: torch.device | str = "cpu"
) -> dict[str, AttributeClassifier]:
    """Command-line classifier specs → readers by name: ``FILE.pt`` gives every attribute of
    the file, ``NAME=FILE.pt`` the one called NAME. ValueError for a missing file or name."""
    found: dict[str, AttributeClassifier] = {}
    for spec in specs:
        name, sep, file = spec.rpartition("=")
        if not Path(file).is_file():
            raise ValueError(f"--classifier {spec!r}: no such file {file!r}")
        if sep:
            found[name] = load_attribute(Path(file), device, name)
        else:
            found.update(load_attributes(Path(file), device))
    return found
