"""Edit directions from labelled photos: encode them, then fit in W as `directions fit` does.

Age and gender come from UTKFace's labels, the hair / glasses / smile attributes from CelebA's.
Directions are conditional where attributes are entangled in the data (bald faces are mostly
male and old): every direction is projected off the others' age and gender directions, so an
edit at any strength leaves the linear age and gender estimates where they were.

Scale: the encoder maps photos into a narrower region of W than the generator's own
distribution, so a direction measured in encoded codes is rescaled by the ratio of the two
spreads along it (the generator's W samples over the codes'): an edit then moves a face as
many standard deviations of the generator's W as the labels move the codes.
Layouts: crops uint8 [N, S, S, 3] (RGB); ws [N, num_ws, dim]; directions [1, dim] in W.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from facesmith import pixels
from facesmith_server.latent.fitting import Fit, fit_direction
from facesmith_server.latent.invert import encode
from facesmith_server.model.encoder import Encoder4Editing
from facesmith_train.data.datasets import label_column

ENCODE_BATCH = 256
BINARY_FULL_QUANTILE = 0.9  # full strength takes the mean negative face to this positive quantile
AGE_RANGE_YEARS = 40.0  # slider range of the age direction, in (linear-estimate) years


@dataclass(frozen=True)
class LabelledAttribute:
    """One direction to fit: where its labels come from and what it must leave unchanged."""

    name: str  # direction name in the pack
    dataset: str  # "utkface" | "celeba"
    label: str  # column in the dataset's label_names
    kind: str  # "binary" | "continuous"
    positive: int = 1  # label value that counts as "yes" (UTKFace gender: 0 = male)
    held: tuple[str, ...] = ("age", "gender")
    description: str = ""


ATTRIBUTES = (
    LabelledAttribute("age", "utkface", "age", "continuous", held=("gender",),
                      description="older (+) / younger (−), in years"),
    LabelledAttribute("gender", "utkface", "gender", "binary", positive=0, held=("age",),
                      description="more masculine (+) / more feminine (−)"),
    LabelledAttribute("bald", "celeba", "Bald", "binary", description="bald (+) / more hair (−)"),
    LabelledAttribute("grey_hair", "celeba", "Gray_Hair", "binary",
                      description="grey hair (+) / less grey (−)"),
    LabelledAttribute("eyeglasses", "celeba", "Eyeglasses", "binary",
                      description="glasses (+) / none (−)"),
    LabelledAttribute("smile", "celeba", "Smiling", "binary",
                      description="smile (+) / no smile (−)"),
)  # fmt: skip


@dataclass(frozen=True)
class FittedDirection:
    attribute: LabelledAttribute
    fit: Fit  # the fit in encoded codes (fit.direction: conditional, [1, dim])
    direction: np.ndarray  # what the pack ships [1, dim]: see `pack_direction`
    spread_ratio: float  # the generator's W spread over the codes' along the direction
    full_strength: float  # in the fit's units: the move that changes a typical face fully
    limit: float  # the slider's range ±limit in the pack's units (1 = full, or years)


@torch.no_grad()
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


def label_values(labels: np.ndarray, names: np.ndarray, attribute: LabelledAttribute) -> np.ndarray:
    """The attribute's scores [N]: years for age, 0/1 for binary attributes."""
    column = label_column(labels, names, attribute.label).astype(np.float64)
    return column if attribute.kind == "continuous" else (column == attribute.positive) * 1.0


def fit_attributes(
    codes: dict[str, np.ndarray],
    labels: dict[str, tuple[np.ndarray, np.ndarray]],
    generator_w: np.ndarray,
    attributes: tuple[LabelledAttribute, ...] = ATTRIBUTES,
    seed: int = 0,
) -> dict[str, FittedDirection]:
    """Fit every attribute on the mean W of its dataset's codes ({dataset: [N, num_ws, dim]}).

    labels: {dataset: (labels [N, K], label_names [K])}; generator_w: the generator's W of
    random z [M, dim] (for the scale). Age and gender are fitted first, unconditioned, so that
    the others (and each other) can be held against them.
    """
    w = {name: ws.mean(axis=1) for name, ws in codes.items()}
    plain: dict[str, np.ndarray] = {}
    scores: dict[str, np.ndarray] = {}
    for attribute in attributes:
        scores[attribute.name] = label_values(*labels[attribute.dataset], attribute)
        if attribute.name in ("age", "gender"):
            fit = fit_direction(w[attribute.dataset], scores[attribute.name], attribute.kind,
                                seed=seed)  # fmt: skip
            plain[attribute.name] = fit.direction
    fitted = {}
    for attribute in attributes:
        held = [(name, plain[name]) for name in attribute.held if name in plain]
        x, y = w[attribute.dataset], scores[attribute.name]
        fit = fit_direction(x, y, attribute.kind, seed=seed, held=held)
        ratio = spread_ratio(fit.direction[0], x, generator_w)
        full = full_strength(fit, x, y)
        direction, limit = pack_direction(fit, ratio, full)
        fitted[attribute.name] = FittedDirection(attribute, fit, direction, ratio, full, limit)
    return fitted


def pack_direction(fit: Fit, ratio: float, full: float) -> tuple[np.ndarray, float]:
    """(direction [1, dim], limit) in the pack's units: the fit rescaled to the generator's
    spread; binary strength 1 = the full move, age strength 1 = one year up to ±full years."""
    if fit.kind == "continuous":
        return (fit.direction * ratio).astype(np.float32), full
    return (fit.direction * (ratio * full)).astype(np.float32), 1.0


def spread_ratio(direction: np.ndarray, codes: np.ndarray, generator_w: np.ndarray) -> float:
    """Standard deviation along `direction` of the generator's W over that of the codes."""
    unit = direction.astype(np.float64) / np.linalg.norm(direction)
    return float(np.std(generator_w @ unit) / np.std(codes @ unit))


def full_strength(fit: Fit, w: np.ndarray, scores: np.ndarray) -> float:
    """Slider limit. Binary: the strength that moves the mean face without the attribute to
    the BINARY_FULL_QUANTILE of the faces with it, and at least one standard deviation of the
    faces along the direction (a weak fit still gets a usable slider); continuous:
    AGE_RANGE_YEARS."""
    if fit.kind == "continuous":
        return AGE_RANGE_YEARS
    d = fit.direction[0].astype(np.float64)
    along = w @ d / (d @ d)  # in strength units: strength s moves a face s along this axis
    positive, negative = along[scores > 0.5], along[scores <= 0.5]
    reach = float(np.quantile(positive, BINARY_FULL_QUANTILE) - negative.mean())
    return max(reach, float(along.std()))
