"""Students: small image-to-image networks that make one edit in a single forward pass.

Distilled from the pack's generator (facesmith_train.distill): trained on pairs of a generated
face and the same face moved along one direction, they map an aligned crop straight to its
edited version — no encoder, no generator. A U-Net predicting the change (output = input +
change, the change starting at zero); a "relative" student also takes the edit's strength,
scaled to [-1, 1] by the pack's range, as a per-channel bias in every block.

File format "facesmith-student": a torch file of plain tensors and numbers
{"config": {...StudentConfig}, "state_dict": {...}}, read with ``weights_only=True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import nn
from torch.nn import functional as F

STUDENT_FORMAT = "facesmith-student"


@dataclass(frozen=True)
class StudentConfig:
    widths: tuple[int, ...] = (16, 32, 64, 128)  # channels at full, 1/2, 1/4, 1/8 resolution
    conditioned: bool = True  # takes a strength (mode "relative"); a swap student does not

    def to_dict(self) -> dict[str, Any]:
        return {"widths": list(self.widths), "conditioned": self.conditioned}

    @staticmethod
    def from_dict(data: Any) -> StudentConfig:
        if not isinstance(data, dict):
            raise ValueError("the student's config is not a mapping")
        try:
            widths = tuple(int(w) for w in data.get("widths", ()))
        except (TypeError, ValueError):
            raise ValueError("the student's widths are not whole numbers") from None
        if not 2 <= len(widths) <= 6 or any(not 1 <= w <= 1024 for w in widths):
            raise ValueError(f"the student's widths {widths} are not 2 to 6 sizes of 1..1024")
        return StudentConfig(widths, bool(data.get("conditioned", True)))


class _Block(nn.Module):
    """Two 3x3 convolutions; the strength (if any) shifts each channel after the first."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.strength_bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: torch.Tensor, strength: torch.Tensor | None) -> torch.Tensor:
        h = self.conv1(x)
        if strength is not None:
            h = h + strength[:, None, None, None] * self.strength_bias[None, :, None, None]
        h = F.leaky_relu(h, 0.2)
        return F.leaky_relu(self.conv2(h), 0.2)


class StudentNet(nn.Module):
    """[N, 3, R, R] in [-1, 1] (R divisible by 2^(levels-1)) → the edited faces, same range."""

    def __init__(self, config: StudentConfig) -> None:
        super().__init__()
        self.config = config
        w = config.widths
        self.down = nn.ModuleList(
            [_Block(3, w[0])] + [_Block(w[i - 1], w[i], stride=2) for i in range(1, len(w))]
        )
        self.up = nn.ModuleList(
            [_Block(w[i] + w[i - 1], w[i - 1]) for i in range(len(w) - 1, 0, -1)]
        )
        self.to_change = nn.Conv2d(w[0], 3, 1)
        for parameter in self.to_change.parameters():
            nn.init.zeros_(parameter)  # starts as the identity: no change

    def forward(self, x: torch.Tensor, strength: torch.Tensor | None = None) -> torch.Tensor:
        if self.config.conditioned != (strength is not None):
            need = "needs" if self.config.conditioned else "takes no"
            raise ValueError(f"this student {need} a strength")
        skips = []
        h = x
        for block in self.down:
            h = block(h, strength)
            skips.append(h)
        skips.pop()
        for block in self.up:
            skip = skips.pop()
            h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = block(torch.cat([h, skip], dim=1), strength)
        return x + self.to_change(h)

    @property
    def multiple(self) -> int:
        """Input sides must be a multiple of this."""
        return 2 ** (len(self.config.widths) - 1)


def scaled_strength(strength: float, low: float, high: float) -> float:
    """A strength of the range [low, high] as the network takes it: ±1 at the farther end."""
    return float(strength) / max(abs(low), abs(high))


def save_student(path: Path | BinaryIO, network: StudentNet, half: bool = False) -> None:
    """Write ``network`` in the facesmith-student format (fp16 tensors if ``half``)."""
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone()
             for k, v in network.state_dict().items()}  # fmt: skip
    torch.save({"config": network.config.to_dict(), "state_dict": state}, path)


def load_student(path: Path, device: torch.device | str) -> StudentNet:
    """A student from its file (float32, eval mode, on ``device``); ValueError if the file is
    not a facesmith-student file."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # not a torch file, or one holding more than tensors and numbers
        raise ValueError(f"{path}: cannot read the student ({err})") from None
    if not isinstance(data, dict) or "state_dict" not in data:
        raise ValueError(f"{path}: not a {STUDENT_FORMAT} file")
    network = StudentNet(StudentConfig.from_dict(data.get("config")))
    state = {k: v.float() if v.is_floating_point() else v for k, v in data["state_dict"].items()}
    try:
        network.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{path}: the weights do not fit the student's config ({err})") from None
    return network.to(device).eval()
