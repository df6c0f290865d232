"""MTCNN's three networks in plain PyTorch, loading the weights facenet-pytorch ships.

The facenet-pytorch package is never imported (its modules pull in torchvision); only its
weight files ``facenet_pytorch/data/{pnet,rnet,onet}.pt`` (plain state dicts) are read, with
``weights_only=True``. Module names here are the state-dict names of those files.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import nn


class PNet(nn.Module):
    """Proposal net, fully convolutional: [N,3,H,W] → (box offsets [N,4,h,w], face prob [N,h,w])."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), dim=1)[:, 1]


class RNet(nn.Module):
    """Refine net: 24×24 crops [N,3,24,24] → (box offsets [N,4], face prob [N])."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = self.prelu4(self.dense4(_caffe_flatten(x)))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), dim=1)[:, 1]


class ONet(nn.Module):
    """Output net: 48×48 crops → (box offsets [N,4], landmarks [N,10] (x1..x5, y1..y5),
    face prob [N])."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(_caffe_flatten(x)))
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), dim=1)[:, 1]


def _caffe_flatten(x: torch.Tensor) -> torch.Tensor:
    """[N,C,H,W] → [N, W·H·C]: the dense weights were converted from Caffe, which flattened
    feature maps width-major."""
    return x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)


def weights_dir() -> Path:
    """facenet_pytorch/data inside the installed package, found without importing it."""
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "MTCNN weights not found: install them with "
            "`pip install --no-deps facenet-pytorch==2.6.0`"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def load_nets(device: torch.device | str = "cpu") -> tuple[PNet, RNet, ONet]:
    """The three nets with their weights, in eval mode on ``device``."""
    nets = (PNet(), RNet(), ONet())
    for net, name in zip(nets, ("pnet", "rnet", "onet"), strict=True):
        path = weights_dir() / f"{name}.pt"
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        # channels-last conv weights match the channels-last inputs: ~20 % faster P-Net on CPU
        net.to(device).to(memory_format=torch.channels_last).eval()  # type: ignore[call-overload]
    return nets
