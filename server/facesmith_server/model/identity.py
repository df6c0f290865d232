"""dlib's face descriptor (``dlib_face_recognition_resnet_model_v1``) in PyTorch.

The weights are face-api's TF.js port of dlib's ResNet (``face_recognition_model.bin`` and its
weights manifest, see ../shared/models/SOURCES.md); the architecture is written here from
dlib's network definition:

    input  (RGB - mean) / 256, 150 x 150
    conv32_down      7x7 conv stride 2 (no padding) → affine → relu → 3x3 max-pool stride 2
    conv32_1..3      residual blocks, 32 channels               (35 x 35)
    conv64_down      down block, then conv64_1..3               (17 x 17)
    conv128_down     down block, then conv128_1..2              (8 x 8)
    conv256_down     down block, then conv256_1..2              (4 x 4)
    conv256_down_out down block                                 (2 x 2)
    mean over space → fc [256, 128] (no bias) → 128-d descriptor

A residual block is ``relu(affine(conv(relu(affine(conv(x))))) + shortcut(x))`` with 3x3
convs. In a down block the first conv has stride 2 and no padding, and the shortcut is a 2x2
average pool, stride 2, whose extra channels are zeros; where the two branches differ in size
(from 8 x 8: a 3 x 3 conv output and a 4 x 4 pool; from 4 x 4: 1 x 1 and 2 x 2) dlib adds
them zero-padded at the bottom right, i.e. in the top-left corner of the larger one.
On dlib's own face chips the port matches dlib's descriptors within about 0.01 per element
(mean 0.003, what the uint8 quantisation of the weights alone causes); see
tests/server/test_identity.py. The same person is below a distance of about 0.6.

Layouts: images float [N, 3, 150, 150] RGB in 0..255 → descriptors [N, 128];
``ffhq_descriptors`` takes FFHQ-aligned faces [N, 3, S, S] in [-1, 1] of any size S.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MANIFEST = "face_recognition_model-weights_manifest.json"
TENSOR_COUNT = 117  # tensors in the manifest
ENV_FOLDER = "FACESMITH_FACE_API"  # overrides the default weights folder
DEFAULT_FOLDER = Path(__file__).resolve().parents[3].parent / "shared" / "models" / "face-api"

INPUT_SIZE = 150  # dlib's face chip side
DESCRIPTOR_SIZE = 128
MEAN_RGB = (122.782, 117.001, 104.298)  # dlib's input_rgb_image: (pixel - mean) / 256
INPUT_DIVISOR = 256.0
SAME_PERSON_MAX = 0.6  # dlib's rule of thumb for its descriptor distances

# Where dlib's 150 x 150 face chip (get_face_chip_details, size 150, padding 0.25) lies in an
# FFHQ-aligned crop, as fractions of its side (left, top, right, bottom; outer pixel edges):
# the mean over the 46 aligned CelebA-HQ faces of ../shared/photos, found by dlib's detector
# and 5-point landmarks (per face: standard deviation about 0.02 of the side, angle -4..+5°,
# which a fixed box cannot follow). On faces aligned by facesmith (MTCNN landmarks) the mean is
# within 0.013 of it, and this box ranks their pairs no worse than that mean would.
FFHQ_CHIP_BOX = (0.1537, 0.2663, 0.8531, 0.9657)

# (name, input channels, output channels, stride of the first conv) of the residual blocks.
BLOCKS: tuple[tuple[str, int, int, int], ...] = (
    ("conv32_1", 32, 32, 1),
    ("conv32_2", 32, 32, 1),
    ("conv32_3", 32, 32, 1),
    ("conv64_down", 32, 64, 2),
    ("conv64_1", 64, 64, 1),
    ("conv64_2", 64, 64, 1),
    ("conv64_3", 64, 64, 1),
    ("conv128_down", 64, 128, 2),
    ("conv128_1", 128, 128, 1),
    ("conv128_2", 128, 128, 1),
    ("conv256_down", 128, 256, 2),
    ("conv256_1", 256, 256, 1),
    ("conv256_2", 256, 256, 1),
    ("conv256_down_out", 256, 256, 2),
)


# -- weights -------------------------------------------------------------------------------------


def load_face_api_weights(folder: Path) -> dict[str, torch.Tensor]:
    """face-api's face recognition weights in ``folder`` → {manifest name: float32 tensor}.

    The manifest lists the tensors (name, shape, dtype, optional uint8 ``quantization``
    {scale, min}: value = byte * scale + min), stored back to back in the .bin file(s) named
    by its ``paths``. Shapes as stored: conv filters HWIO, ``fc`` [256, 128].
    """
    manifest = _read_manifest(Path(folder) / MANIFEST)
    weights: dict[str, torch.Tensor] = {}
    for group in manifest:
        data = b"".join(_read_bytes(Path(folder) / name) for name in group["paths"])
        offset = 0
        for spec in group["weights"]:
            array, offset = _decode(spec, data, offset)
            weights[spec["name"]] = torch.from_numpy(array)
        if offset != len(data):
            raise ValueError(f"{folder}: the weights use {offset} of {len(data)} bytes")
    if len(weights) != TENSOR_COUNT:
        raise ValueError(f"{folder}: expected {TENSOR_COUNT} tensors, found {len(weights)}")
    return weights


def _read_manifest(path: Path) -> list[dict[str, Any]]:
    """The manifest's weight groups; ValueError when missing or not a TF.js weights manifest."""
    if not path.is_file():
        raise ValueError(f"face-api weights manifest missing: {path}")
    try:
        manifest = json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"not a TF.js weights manifest (bad JSON): {path}") from exc
    groups_ok = isinstance(manifest, list) and all(
        isinstance(group, dict)
        and isinstance(group.get("paths"), list)
        and isinstance(group.get("weights"), list)
        for group in manifest
    )
    if not groups_ok:
        raise ValueError(f"not a TF.js weights manifest (no paths / weights groups): {path}")
    return manifest


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise ValueError(f"face-api weights file missing: {path}")
    return path.read_bytes()


def _decode(spec: dict[str, Any], data: bytes, offset: int) -> tuple[np.ndarray, int]:
    """One manifest entry read from ``data`` at ``offset`` → (float32 array, next offset)."""
    shape = [int(n) for n in spec["shape"]]
    count = math.prod(shape)
    quantization = spec.get("quantization")
    if spec.get("dtype") != "float32" or (quantization and quantization["dtype"] != "uint8"):
        raise ValueError(f"unsupported dtype in face-api weights: {spec}")
    itemsize = 1 if quantization else 4
    end = offset + count * itemsize
    if end > len(data):
        raise ValueError(f"face-api weights file too short for {spec['name']}")
    if quantization:
        raw = np.frombuffer(data, np.uint8, count, offset).astype(np.float32)
        array = raw * np.float32(quantization["scale"]) + np.float32(quantization["min"])
    else:
        array = np.frombuffer(data, "<f4", count, offset).copy()
    return array.reshape(shape), end


# -- the network -------------------------------------------------------------------------------


class ConvAffine(nn.Module):
    """A conv (with bias) followed by dlib's affine layer (folded batch norm):
    [N, C_in, H, W] → [N, C_out, H', W'] = conv(x) * scale + shift per channel."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, padding)
        self.scale = nn.Parameter(torch.ones(c_out))
        self.shift = nn.Parameter(torch.zeros(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * self.scale[:, None, None] + self.shift[:, None, None]


class ResidualBlock(nn.Module):
    """dlib's residual block: [N, C_in, H, W] → [N, C_out, H', W'] (H' = H, or ⌊H / 2⌋
    for a down block, stride 2)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        # dlib pads a conv by half its size only when its stride is 1.
        self.conv1 = ConvAffine(c_in, c_out, 3, stride, 1 if stride == 1 else 0)
        self.conv2 = ConvAffine(c_out, c_out, 3, 1, 1)
        self.down = stride != 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.relu(self.conv1(x)))
        shortcut = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(_add_padded(out, shortcut))


def _add_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a + b, each [N, C, H, W] zero-padded at the end of C, H and W to the larger size
    (dlib's add_prev layer)."""
    size = [max(n, m) for n, m in zip(a.shape[1:], b.shape[1:], strict=True)]
    return _pad_to(a, size) + _pad_to(b, size)


def _pad_to(x: torch.Tensor, size: list[int]) -> torch.Tensor:
    """[N, C, H, W] zero-padded after its last channel, row and column to [N, *size]."""
    c, h, w = (target - n for target, n in zip(size, x.shape[1:], strict=True))
    return F.pad(x, (0, w, 0, h, 0, c)) if c or h or w else x


class FaceRecognitionNet(nn.Module):
    """dlib's ResNet face descriptor: images [N, 3, 150, 150] RGB in 0..255 → [N, 128].

    Attribute names follow face-api's tensor names (``conv32_1.conv1.conv.weight`` is
    ``conv32_1/conv1/conv/filters``), see ``state_from_face_api``.
    """

    mean: torch.Tensor  # [1, 3, 1, 1] dlib's mean RGB

    def __init__(self) -> None:
        super().__init__()
        self.conv32_down = ConvAffine(3, 32, 7, 2, 0)
        self.blocks = nn.ModuleDict(
            {name: ResidualBlock(c_in, c_out, stride) for name, c_in, c_out, stride in BLOCKS}
        )
        self.fc = nn.Parameter(torch.zeros(256, DESCRIPTOR_SIZE))  # [in, out], no bias
        self.register_buffer("mean", torch.tensor(MEAN_RGB).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images - self.mean) / INPUT_DIVISOR
        x = F.max_pool2d(F.relu(self.conv32_down(x)), 3, 2)  # [N, 32, 35, 35] at 150 px
        for block in self.blocks.values():
            x = block(x)  # ends [N, 256, 2, 2] at 150 px
        return x.mean(dim=(2, 3)) @ self.fc


# face-api's last two name parts → the attribute in ConvAffine.
_LEAVES = {
    "conv/filters": "conv.weight",
    "conv/bias": "conv.bias",
    "scale/weights": "scale",
    "scale/biases": "shift",
}


def state_from_face_api(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """face-api's tensors (``load_face_api_weights``) → FaceRecognitionNet's state dict:
    ``conv32_down/conv/filters`` → ``conv32_down.conv.weight``, ``conv64_1/conv2/scale/biases``
    → ``blocks.conv64_1.conv2.shift``, ``fc`` → ``fc``; filters HWIO → OIHW."""
    state = {}
    for name, tensor in weights.items():
        if name == "fc":
            state["fc"] = tensor
            continue
        parts = name.split("/")
        leaf = _LEAVES.get("/".join(parts[-2:]))
        if leaf is None or len(parts) not in (3, 4):
            raise ValueError(f"unexpected face-api tensor {name!r}")
        module = parts[0] if len(parts) == 3 else f"blocks.{parts[0]}.{parts[1]}"
        state[f"{module}.{leaf}"] = tensor.permute(3, 2, 0, 1) if leaf == "conv.weight" else tensor
    return state


def default_folder() -> Path:
    """$FACESMITH_FACE_API, else ../shared/models/face-api beside the repository."""
    override = os.environ.get(ENV_FOLDER)
    return Path(override) if override else DEFAULT_FOLDER


def load_identity_net(
    folder: Path | None = None, device: torch.device | str = "cpu"
) -> FaceRecognitionNet:
    """The descriptor net with face-api's weights from ``folder`` (default ``default_folder()``),
    frozen and in eval mode on ``device``; gradients still flow to its input."""
    weights = load_face_api_weights(folder if folder is not None else default_folder())
    net = FaceRecognitionNet()
    net.load_state_dict(state_from_face_api(weights))  # strict: every tensor, no other
    return net.requires_grad_(False).eval().to(device)


# -- FFHQ-aligned faces ------------------------------------------------------------------------


def ffhq_chip(images: torch.Tensor, box: tuple[float, ...] = FFHQ_CHIP_BOX) -> torch.Tensor:
    """FFHQ-aligned faces [N, 3, H, W] (any values) → dlib's face chip [N, 3, 150, 150]:
    the ``box`` (left, top, right, bottom, fractions of the sides) resampled to 150 x 150,
    differentiably. Large images are first shrunk with antialiasing so that the box is about
    150 px, then the box is sampled bilinearly at sub-pixel precision."""
    left, top, right, bottom = box
    height, width = images.shape[-2:]
    shrink = INPUT_SIZE / min((right - left) * width, (bottom - top) * height)
    if shrink < 1.0:  # a resize to given sizes keeps the box's fractions
        size = (max(1, round(height * shrink)), max(1, round(width * shrink)))
        images = F.interpolate(images, size=size, mode="bilinear", antialias=True)
    # affine_grid maps the output's [-1, 1] (align_corners=False: pixel edges) into the box.
    theta = images.new_tensor(
        [[right - left, 0.0, left + right - 1.0], [0.0, bottom - top, top + bottom - 1.0]]
    )
    grid = F.affine_grid(
        theta.expand(images.shape[0], 2, 3),
        [images.shape[0], 3, INPUT_SIZE, INPUT_SIZE],
        align_corners=False,
    )
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def ffhq_descriptors(net: FaceRecognitionNet, images: torch.Tensor) -> torch.Tensor:
    """FFHQ-aligned faces [N, 3, S, S] RGB in [-1, 1] (facesmith's crops, generator output)
    → dlib descriptors [N, 128], differentiable w.r.t. ``images``."""
    chips = ffhq_chip(images.to(net.fc.dtype))
    return net((chips + 1.0) * 127.5)  # [-1, 1] → 0..255, unclamped (keeps gradients)


def identity_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distance of descriptors [..., 128] → [...] (same person below ~0.6)."""
    return torch.linalg.vector_norm(a - b, dim=-1)
