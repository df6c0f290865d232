"""Attribute models that read inverted photos: each edit's model (normal and intercept, used by
`--set` and the gender swap) is refitted on the encoder's latents of labelled real faces.

Fitted on the generator's own W, a model misreads the encoder's W+ of a photo, which lies
elsewhere: on the step-31,000 demo pack the gender model called 85 % of encoded training faces
men (58 % are), and the swap — a mirror across the model's boundary — made most women more
feminine. Refitted on 3,000 encoded training faces it reads held-out ones 95 % right (the
samples' model 75 %). The edit directions stay the ones fitted where the generator varies;
only the models change, and a continuous model (age) keeps the rate along its edit that the
edit was scaled by: the photos decide how a face is read, not how fast the edit moves it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facesmith_server.latent.fitting import fit_direction, pearson, ridge_with_rate, split_indices
from facesmith_server.latent.invert import encode, resize_images
from facesmith_server.model.encoder import Encoder4Editing
from facesmith_train.classify.model import to_signed
from facesmith_train.data.prepared import PreparedSet, load_prepared
from facesmith_train.directions.from_samples import EDIT_ALPHA, FittedEdit

PHOTOS_PER_FILE = 1500  # training-split faces of each prepared file
MIN_PHOTOS = 200  # labelled faces an edit needs for its model to be refitted
TEST_FRACTION = 0.2  # of the labelled faces, held out for the report (as fit_direction's)
CHUNK = 64

Column = tuple[str, bool]  # a prepared file's label column, and whether "yes" is its absence


@dataclass(frozen=True)
class Photos:
    """Encoded real faces: the mean W+ row of each [N, dim] and each edit's label [N] (NaN
    where the face's file has no such column)."""

    encoded: np.ndarray
    values: dict[str, np.ndarray]


def labelled_crops(
    files: Sequence[Path], columns: Mapping[str, Column], per_file: int, seed: int = 0
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Up to ``per_file`` seeded training-split crops of each file, uint8 [N, S, S, 3], and
    each edit's label (a column > 0 means yes, negated if asked; NaN where missing)."""
    crops: list[np.ndarray] = []
    values: dict[str, list[np.ndarray]] = {name: [] for name in columns}
    rng = np.random.default_rng(seed)
    for path in files:
        prepared = load_prepared(path, "train")
        pick = np.sort(rng.permutation(len(prepared))[:per_file])
        crops.append(prepared.crops[pick])
        for name, (column, negated) in columns.items():
            values[name].append(_column(prepared, column, negated, pick))
    return np.concatenate(crops), {k: np.concatenate(v) for k, v in values.items()}


def _column(prepared: PreparedSet, column: str, negated: bool, pick: np.ndarray) -> np.ndarray:
    known = (*prepared.label_names, *prepared.estimates)
    if column not in known:
        return np.full(len(pick), np.nan)
    value = prepared.column(column)[pick]
    if column in prepared.estimates:  # an estimate (age in years) is a continuous value
        return value
    return ((value > 0) != negated).astype(np.float64)


@torch.no_grad()
def encode_crops(
    crops: np.ndarray, resolution: int, encoder: Encoder4Editing, latent_avg: torch.Tensor
) -> np.ndarray:
    """uint8 crops [N, S, S, 3] at the pack's resolution, as the server sees them → the mean
    over rows of each one's encoded W+ [N, dim]."""
    device = latent_avg.device
    out = []
    for i in range(0, len(crops), CHUNK):
        x = to_signed(torch.from_numpy(crops[i : i + CHUNK]).permute(0, 3, 1, 2))
        x = resize_images(x.to(device), resolution)
        out.append(encode(encoder, latent_avg, x).mean(dim=1).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, latent_avg.shape[-1]))


def refit_on_photos(
    fitted: Mapping[str, FittedEdit], photos: Photos, seed: int = 0
) -> tuple[dict[str, FittedEdit], dict[str, Any]]:
    """Every edit with enough labelled photos gets a model fitted on their encoded latents; the
    report gives its held-out figure and the sample-fitted model's on the same faces."""
    out = dict(fitted)
    report: dict[str, Any] = {"photos": len(photos.encoded)}
    for name, edit in fitted.items():
        values = photos.values.get(name)
        if values is None:
            continue
        labelled = np.isfinite(values)
        if labelled.sum() < MIN_PHOTOS:
            report[name] = {"kept": f"{int(labelled.sum())} labelled photos"}
            continue
        out[name], report[name] = _refit(edit, photos.encoded[labelled], values[labelled], seed)
    return out, report


def _refit(
    edit: FittedEdit, encoded: np.ndarray, values: np.ndarray, seed: int
) -> tuple[FittedEdit, dict[str, Any]]:
    model = refit_model(edit.spec.kind, edit.direction, edit.normal, edit.intercept, encoded,
                        values, seed)  # fmt: skip
    if model.normal is None:
        return edit, model.report
    rate = model.report["model_change_per_unit"]
    refitted = replace(edit, normal=model.normal, intercept=model.intercept,
                       report={**edit.report, "model_change_per_unit": rate})  # fmt: skip
    return refitted, model.report


@dataclass(frozen=True)
class Model:
    """An attribute model refitted on photos (``normal`` None: the old one is kept, the report
    says why) and the report: the held-out figure of the new and the old model."""

    normal: np.ndarray | None
    intercept: float
    report: dict[str, Any]


def refit_model(
    kind: str,
    direction: np.ndarray,
    normal: np.ndarray,
    intercept: float,
    encoded: np.ndarray,
    values: np.ndarray,
    seed: int = 0,
    was: str = "samples",
) -> Model:
    """The model of an attribute (``kind``) moved by ``direction`` [k, dim], fitted on encoded
    photos [N, dim] and their labels [N]; kept as ``normal``/``intercept`` (the ``was``
    model's) where the new one would fall along the edit (set and swap would push the wrong
    way). A continuous model keeps the ``was`` model's rate along the edit (see
    ``_with_old_rate``)."""
    alpha = EDIT_ALPHA if kind == "binary" else None
    fit = fit_direction(encoded, values, kind, seed=seed, test_fraction=TEST_FRACTION, alpha=alpha)
    assert fit.normal is not None
    figure = _held_out_figure(kind, normal, intercept, encoded, values, seed)
    report = {fit.metric_name: round(fit.metric, 4), f"{fit.metric_name}_of_the_{was}_model":
              round(figure, 4), "photos": len(values)}  # fmt: skip
    rate = float(direction.astype(np.float64).mean(axis=0) @ fit.normal)
    if not rate > 0:
        kept = f"the photos' model falls along the edit: the {was} model kept"
        return Model(None, intercept, {**report, "kept": kept})
    report["model_change_per_unit"] = round(rate, 4)
    old_rate = float(direction.astype(np.float64).mean(axis=0) @ normal)
    if kind == "continuous" and old_rate > 0:
        return _with_old_rate(direction, old_rate, encoded, values, seed, report)
    return Model(fit.normal, fit.intercept, report)


def _held_out_figure(
    kind: str,
    normal: np.ndarray,
    intercept: float,
    encoded: np.ndarray,
    values: np.ndarray,
    seed: int,
) -> float:
    """The ``was`` model's figure on the faces the new fit holds out: the old model may itself
    have been fitted on these photos (a refit of a refit), so read over all of them it would
    be an in-sample figure set against the new model's held-out one."""
    _, test = split_indices(len(values), TEST_FRACTION, seed)
    read = encoded[test] @ normal.astype(np.float64) + intercept
    if kind == "binary":
        return float(np.mean((read > 0) == (values[test] > 0.5)))
    return pearson(read, values[test])


def _with_old_rate(
    direction: np.ndarray,
    rate: float,
    encoded: np.ndarray,
    values: np.ndarray,
    seed: int,
    report: dict[str, Any],
) -> Model:
    """Photos spread little along an edit, so a fit on them sets the model's rate along it
    poorly — on the demo pack the age model's, refitted freely, was 0.33 and 0.80 years per
    unit with two encoders 2,000 steps apart, where the edit pasted into photos moves their
    estimated age 0.20 — while they read a face well: the photos decide the reading across the
    edit, the rate stays the one the edit was scaled by."""
    train, test = split_indices(len(values), TEST_FRACTION, seed)
    along = direction.astype(np.float64).mean(axis=0)
    normal, intercept = ridge_with_rate(encoded[train], values[train], along, rate)
    figure = pearson(encoded[test] @ normal + intercept, values[test])
    report = {**report, "pearson_free": report["pearson"], "pearson": round(figure, 4),
              "model_change_per_unit_free": report["model_change_per_unit"],
              "model_change_per_unit": round(rate, 4)}  # fmt: skip
    return Model(normal, intercept, report)


def read_photos(
    files: Sequence[Path],
    columns: Mapping[str, Column],
    encoder_file: Path,
    resolution: int,
    device: torch.device | str = "cpu",
    per_file: int = PHOTOS_PER_FILE,
) -> Photos:
    """Labelled training-split faces of ``files``, encoded by the pack's encoder."""
    from facesmith_server.model.checkpoints import load_encoder

    encoder, latent_avg = load_encoder(encoder_file, device)
    crops, values = labelled_crops(files, columns, per_file)
    return Photos(encode_crops(crops, resolution, encoder, latent_avg.to(device)), values)
