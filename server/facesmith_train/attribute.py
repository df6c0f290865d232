"""A small binary attribute classifier (e.g. CelebA's Bald) trained on the prepared crops.

It scores the pack's own edits, so it sees faces exactly as the pack does: crops framed by the
pack's alignment template (prepare.py), at 64 px. Bald is about 2 % of CelebA, so batches are
drawn half positive, half negative; the output is then P(yes) under equal priors and 0.5 is
the decision threshold that balanced accuracy asks for (choosing one on the held-out faces
would leak them). Held-out faces are never trained on; they give the reported accuracy.

Python API: `train_attribute`, `save_attribute`, `load_attribute`; CLI: `run(args)`.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facesmith.files import atomic_write

FORMAT = "facesmith-attribute-1"
INPUT_SIZE = 64  # the network's working resolution; other sizes are resized to it
WIDTHS = (32, 64, 128, 192)  # channels of the four stride-2 stages: 64 -> 32 -> 16 -> 8 -> 4
THRESHOLD = 0.5  # on P(yes) under equal priors (see the module docstring)
LR = 2e-3
WEIGHT_DECAY = 0.01
WARMUP_FRACTION = 0.05
EVAL_BATCH = 256
PROGRESS_LINES = 20  # about this many progress lines per run
# Light augmentation: the crops are already aligned, so only small geometric jitter.
SHIFT = 0.06  # of the side
SCALE = 0.06  # zoom in or out by up to 6 %
ROTATE_DEGREES = 6.0
BRIGHTNESS, CONTRAST, SATURATION = 0.15, 0.2, 0.3  # +- ranges, on images in [-1, 1]


class AttributeNet(nn.Module):
    """Four stages of (3x3 conv stride 2, 3x3 conv), batch norm and ReLU, then global
    average pooling and one linear unit.

    Layout: images [N, 3, S, S] in [-1, 1] (resized to 64 inside) -> logits [N].
    """

    def __init__(
        self,
        widths: Sequence[int] = WIDTHS,  # channels of each stage; each halves the side
        dropout: float = 0.2,  # before the final linear layer (train mode only)
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
        self.head = nn.Linear(previous, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images [N, 3, S, S], got {tuple(images.shape)}")
        if images.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            images = F.interpolate(
                images, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False,
                antialias=images.shape[-1] > INPUT_SIZE,
            )  # fmt: skip
        pooled = self.features(images).mean(dim=(2, 3))  # [N, C]
        return self.head(self.dropout(pooled)).squeeze(1)


def _conv(in_channels: int, out_channels: int, stride: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


@dataclass(frozen=True)
class AttributeReport:
    """How the classifier does on the held-out faces (at `threshold` on P(yes))."""

    held_out_accuracy: float
    held_out_balanced_accuracy: float  # mean of the recalls of "yes" and "no"
    n_train: int
    n_test: int
    positives_train: int
    positives_test: int
    threshold: float


# -- data --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttributeData:
    crops: np.ndarray  # uint8 [N, S, S, 3] RGB
    labels: np.ndarray  # bool [N]: has the attribute
    held_out: np.ndarray  # bool [N]
    alignment: str | None  # the template the crops were aligned with (prepare.py)


def label_names(path: Path) -> list[str]:
    with np.load(path, allow_pickle=False) as data:
        return [str(name) for name in data["label_names"]]


def load_attribute_data(path: Path, attribute: str) -> AttributeData:
    """One label column of a prepared .npz as a yes/no array (values > 0 mean yes, so both
    0/1 and -1/1 labels work); ValueError naming the attributes if it has no such one."""
    with np.load(path, allow_pickle=False) as data:
        names = [str(name) for name in data["label_names"]]
        if attribute not in names:
            raise ValueError(f"{path} has no attribute {attribute!r}; it has: {', '.join(names)}")
        labels = data["labels"][:, names.index(attribute)] > 0
        held_out = data["held_out"].astype(bool)
        alignment = str(data["alignment"]) if "alignment" in data.files else None
        return AttributeData(data["crops"], labels, held_out, alignment)


# -- training ----------------------------------------------------------------------------------


def train_attribute(
    crops: np.ndarray,
    labels: np.ndarray,
    held_out: np.ndarray,
    *,
    iterations: int,
    batch: int,
    seed: int,
    device: torch.device | str,
    report: Callable[[str], None] | None = None,
) -> tuple[AttributeNet, AttributeReport]:
    """Train on the faces not held out, evaluate on the held-out ones.

    crops: uint8 [N, S, S, 3] RGB; labels: [N], > 0 means yes; held_out: bool [N].
    Batches are half "yes", half "no" (drawn with replacement), lightly augmented; AdamW with
    warm-up and cosine decay. `report` gets progress lines. Deterministic for a seed on CPU.
    """
    crops, yes, held_out = _check_inputs(crops, labels, held_out)
    if iterations < 1 or batch < 2:
        raise ValueError("iterations must be at least 1 and batch at least 2")
    device = torch.device(device)
    train = ~held_out
    positives = np.flatnonzero(yes[train])
    negatives = np.flatnonzero(~yes[train])
    if len(positives) == 0 or len(negatives) == 0:
        raise ValueError("the training split needs faces both with and without the attribute")
    images = _to_nchw(crops[train], device)
    targets = torch.from_numpy(yes[train]).float().to(device)
    torch.manual_seed(seed)
    net = AttributeNet().to(device)
    rng = torch.Generator().manual_seed(seed + 1)  # batches and augmentation
    optimiser = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, _lr_factor(iterations))
    pos, neg = torch.from_numpy(positives), torch.from_numpy(negatives)
    meter = _Meter(iterations, report)
    net.train()
    for step in range(1, iterations + 1):
        index = balanced_batch(pos, neg, batch, rng).to(device)
        x = augment_light(_to_signed(images[index]), rng)
        loss = F.binary_cross_entropy_with_logits(net(x), targets[index])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise RuntimeError(f"the loss became non-finite at step {step}")
        meter.add(step, loss_value)
    net.eval()
    scores = probabilities(net, _to_nchw(crops[held_out], device))
    result = AttributeReport(
        **held_out_accuracy(scores, yes[held_out], THRESHOLD),
        n_train=int(train.sum()),
        n_test=int(held_out.sum()),
        positives_train=len(positives),
        positives_test=int(yes[held_out].sum()),
        threshold=THRESHOLD,
    )
    return net, result


def _check_inputs(
    crops: np.ndarray, labels: np.ndarray, held_out: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    crops = np.asarray(crops)
    n = crops.shape[0] if crops.ndim == 4 else -1
    if crops.ndim != 4 or crops.shape[3] != 3 or crops.dtype != np.uint8:
        raise ValueError(f"crops must be uint8 [N, S, S, 3], got {crops.dtype} {crops.shape}")
    yes = np.asarray(labels).reshape(-1) > 0
    held_out = np.asarray(held_out, dtype=bool).reshape(-1)
    if len(yes) != n or len(held_out) != n:
        raise ValueError(f"{n} crops but {len(yes)} labels and {len(held_out)} held_out flags")
    if not held_out.any():
        raise ValueError("no held-out faces to measure the classifier on")
    return crops, yes, held_out


def _lr_factor(iterations: int) -> Callable[[int], float]:
    """Linear warm-up over the first 5 % of the steps, then cosine decay to zero."""
    warmup = max(1, round(WARMUP_FRACTION * iterations))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, iterations - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def balanced_batch(
    positives: torch.Tensor, negatives: torch.Tensor, batch: int, rng: torch.Generator
) -> torch.Tensor:
    """Indices [batch]: half from `positives`, the rest from `negatives`, with replacement."""
    n_pos = batch // 2
    pick_pos = torch.randint(len(positives), (n_pos,), generator=rng)
    pick_neg = torch.randint(len(negatives), (batch - n_pos,), generator=rng)
    return torch.cat([positives[pick_pos], negatives[pick_neg]])


def augment_light(images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Random mirror, small shift / zoom / rotation (border pixels repeated) and colour jitter.

    images: float [N, 3, S, S] in [-1, 1] -> same shape; randomness only from `rng` (CPU).
    """
    n = images.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return (torch.rand(n, generator=rng) * (high - low) + low).to(images.device)

    angle = uniform(-ROTATE_DEGREES, ROTATE_DEGREES) * (math.pi / 180.0)
    scale = uniform(1.0 - SCALE, 1.0 + SCALE)
    mirror = torch.where(uniform(0.0, 1.0) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos * mirror, -sin, uniform(-2 * SHIFT, 2 * SHIFT)], dim=1),
            torch.stack([sin * mirror, cos, uniform(-2 * SHIFT, 2 * SHIFT)], dim=1),
        ],
        dim=1,
    )  # [N, 2, 3], output -> input in [-1, 1] coordinates (a shift of 2 * SHIFT = SHIFT sides)
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    x = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    x = x + uniform(-BRIGHTNESS, BRIGHTNESS)[:, None, None, None]
    grey = x.mean(dim=1, keepdim=True)
    x = grey + (x - grey) * uniform(1.0 - SATURATION, 1.0 + SATURATION)[:, None, None, None]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = mean + (x - mean) * uniform(1.0 - CONTRAST, 1.0 + CONTRAST)[:, None, None, None]
    return x.clamp(-1.0, 1.0)


def _to_nchw(crops: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 [N, S, S, 3] -> uint8 [N, 3, S, S] on device (kept as bytes: 4x less memory)."""
    return torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).contiguous().to(device)


def _to_signed(images: torch.Tensor) -> torch.Tensor:
    """uint8 -> float [-1, 1]."""
    return images.float().div(127.5).sub(1.0)


@torch.no_grad()
def probabilities(net: AttributeNet, images: torch.Tensor) -> np.ndarray:
    """P(yes) float64 [N] for uint8 [N, 3, S, S] or float [-1, 1] images; the logits of each
    image and its mirror are averaged (the training saw both)."""
    net.eval()
    device = next(net.parameters()).device
    out = []
    for start in range(0, images.shape[0], EVAL_BATCH):
        x = images[start : start + EVAL_BATCH].to(device)
        x = _to_signed(x) if x.dtype == torch.uint8 else x.float()
        logits = (net(x) + net(x.flip(3))) / 2
        out.append(torch.sigmoid(logits).double().cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, np.float64)


def held_out_accuracy(scores: np.ndarray, yes: np.ndarray, threshold: float) -> dict[str, float]:
    """Accuracy and balanced accuracy (mean recall over the classes present) of
    `scores >= threshold` against `yes`."""
    called = np.asarray(scores) >= threshold
    yes = np.asarray(yes, dtype=bool)
    recalls = [float(np.mean(called[yes == c] == c)) for c in (False, True) if (yes == c).any()]
    return {
        "held_out_accuracy": float(np.mean(called == yes)),
        "held_out_balanced_accuracy": float(np.mean(recalls)),
    }


class _Meter:
    """Mean loss since the last line, speed and ETA; about PROGRESS_LINES lines a run."""

    def __init__(self, total: int, report: Callable[[str], None] | None) -> None:
        self.total, self.report = total, report
        self.every = max(1, total // PROGRESS_LINES)
        self.started = time.monotonic()
        self.losses: list[float] = []

    def add(self, step: int, loss: float) -> None:
        self.losses.append(loss)
        if self.report is None or (step % self.every and step != self.total):
            return
        elapsed = time.monotonic() - self.started
        rate = step / max(elapsed, 1e-9)
        eta = (self.total - step) / rate
        self.report(
            f"step {step}/{self.total}  loss {np.mean(self.losses):.4f}  "
            f"{rate:.2f} it/s  ETA {int(eta) // 60}m{int(eta) % 60:02d}s"
        )
        self.losses.clear()


# -- files -------------------------------------------------------------------------------------


def save_attribute(path: Path, net: AttributeNet, meta: dict[str, Any]) -> None:
    """Write the weights and `meta` (plain JSON-like values: name, threshold, report, ...)
    to `path` atomically; `load_attribute` reads it with weights_only=True."""
    json.dumps(meta)  # plain values only: a TypeError now rather than an unloadable file
    payload = {
        "format": FORMAT,
        "widths": list(net.widths),
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "meta": meta,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write(path, buffer.getvalue())


class AttributeClassifier:
    """A trained attribute as a Classifier (facesmith_server.classifiers): binary, returns
    P(yes) for images float32 [N, H, W, 3] in 0..1 aligned with the pack's template."""

    kind = "binary"

    def __init__(self, net: AttributeNet, name: str, threshold: float, meta: dict[str, Any]):
        self.net = net.eval()
        self.name = name
        self.threshold = threshold  # P(yes) >= threshold: the classifier calls it "yes"
        self.meta = meta

    def __call__(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4 or images.shape[3] != 3:
            raise ValueError(f"expected images [N, H, W, 3] in 0..1, got {images.shape}")
        x = torch.from_numpy(images).permute(0, 3, 1, 2).mul(2.0).sub(1.0)
        return probabilities(self.net, x)

    def decide(self, images: np.ndarray) -> np.ndarray:
        """bool [N]: whether the classifier calls each image "yes"."""
        return self(images) >= self.threshold


def load_attribute(path: Path, device: torch.device | str = "cpu") -> AttributeClassifier:
    """The classifier `save_attribute` wrote (ValueError if `path` is not one)."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a facesmith attribute classifier ({FORMAT})")
    net = AttributeNet(payload["widths"])
    net.load_state_dict(payload["state_dict"])
    meta = dict(payload["meta"])
    name = str(meta.get("name") or path.stem)
    return AttributeClassifier(net.to(device), name, float(meta.get("threshold", THRESHOLD)), meta)


# -- command line ------------------------------------------------------------------------------


def report_path(weights: Path) -> Path:
    """bald.pt -> bald.json beside it."""
    return weights.with_suffix(".json")


def run(args: argparse.Namespace) -> int:
    """Run a parsed `facesmith train classifier` command line."""
    from facesmith_server.devices import choose_device, describe

    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_attribute_data(args.data, args.attribute)
    device = choose_device(args.device)
    name = args.attribute.lower()
    train = ~data.held_out

    def say(line: str) -> None:  # progress on stderr, results on stdout
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    say(
        f"training {args.attribute!r} on {int(train.sum())} faces "
        f"({int(data.labels[train].sum())} yes), {args.iterations} steps of {args.batch}, "
        f"{describe(device)}"
    )
    started = time.monotonic()
    net, result = train_attribute(
        data.crops, data.labels, data.held_out, iterations=args.iterations, batch=args.batch,
        seed=args.seed, device=device, report=say,
    )  # fmt: skip
    meta: dict[str, Any] = {
        "name": name,
        "attribute": args.attribute,
        "threshold": result.threshold,
        "alignment": data.alignment,
        "input_size": INPUT_SIZE,
        "data": str(args.data),
        "iterations": args.iterations,
        "batch": args.batch,
        "seed": args.seed,
        "seconds": round(time.monotonic() - started, 1),
        "report": asdict(result),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_attribute(args.out, net, meta)
    atomic_write(report_path(args.out), (json.dumps(meta, indent=2) + "\n").encode())
    sys.stdout.write(
        f"{args.attribute}: held-out accuracy {result.held_out_accuracy:.3f}, balanced accuracy "
        f"{result.held_out_balanced_accuracy:.3f} ({result.n_test} faces, "
        f"{result.positives_test} with it; threshold {result.threshold}) in {meta['seconds']} s\n"
        f"wrote {args.out} and {report_path(args.out)}\n"
    )
    return 0
