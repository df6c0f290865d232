"""A pack's attribute models (how `--set` and the swap read a face) refitted on the latents its
own encoder gives labelled training faces. A new encoder (`install-encoder`) places photos
elsewhere in W than the one the models were fitted for: on the demo pack, the age model kept
at build time read the 15,500-step encoder's training faces with Pearson r 0.005 (the
13,500-step one's 14.7 years on average, for faces labelled 39.4); refitted, 0.74."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facesmith.files import sha256_file
from facesmith_server.model.pack import Manifest, Pack, ScoreEntry, load_pack
from facesmith_train.directions.photo_models import (
    MIN_PHOTOS,
    PHOTOS_PER_FILE,
    Column,
    Model,
    encode_crops,
    labelled_crops,
    refit_model,
)
from facesmith_train.pack.build import REPORT_NAME
from facesmith_train.pack.staged import ChangeDoesNotLoad, update_pack

REPORT_KEY = "photo_models_refitted"  # in the pack's training.json, beside the build's report


def refit_pack_models(
    pack_root: Path,
    data: Sequence[Path],
    columns: Mapping[str, Column],
    device: torch.device | str = "cpu",
    per_file: int = PHOTOS_PER_FILE,
    seed: int = 0,
) -> dict[str, Any]:
    """Refit the model of every edit that has one and a label ``columns`` names, on
    ``per_file`` training faces of each prepared file; write the new ones into the pack (a
    model that would push the wrong way along its edit is kept) → the report per edit, also
    kept in the pack's training.json. ValueError, the pack unchanged, if it does not load
    after."""
    pack = load_pack(pack_root, device)
    wanted = {name: column for name, column in columns.items() if _score(pack, name)}
    if not wanted:
        raise ValueError("no label column for any edit of the pack that has a model")
    crops, values = labelled_crops(data, wanted, per_file, seed)
    encoded = encode_crops(crops, pack.manifest.resolution, pack.encoder, pack.encoder_latent_avg)
    models: dict[str, Model] = {}
    report: dict[str, Any] = {"photos": len(crops)}
    for name in wanted:
        labelled = np.isfinite(values[name])
        if labelled.sum() < MIN_PHOTOS:
            report[name] = {"kept": f"{int(labelled.sum())} labelled photos"}
            continue
        models[name] = _refit(pack, name, encoded[labelled], values[name][labelled], seed)
        report[name] = models[name].report
    changed = {name: m for name, m in models.items() if m.normal is not None}
    try:
        update_pack(pack_root, lambda root, manifest: _write(root, manifest, changed, report))
    except ChangeDoesNotLoad as err:
        raise ValueError(str(err)) from None
    return report


def _score(pack: Pack, name: str) -> bool:
    direction = pack.directions.get(name)
    return direction is not None and direction.score is not None


def _refit(pack: Pack, name: str, encoded: np.ndarray, values: np.ndarray, seed: int) -> Model:
    direction = pack.directions[name]
    score = direction.score
    assert score is not None  # _score
    return refit_model(score.kind, direction.vector, score.normal, score.intercept, encoded,
                       values, seed, was="previous")  # fmt: skip


def _write(
    root: Path, manifest: Manifest, models: Mapping[str, Model], report: dict[str, Any]
) -> Manifest:
    directions = dict(manifest.directions)
    for name, model in models.items():
        entry = directions[name]
        assert entry.score is not None and model.normal is not None
        if entry.score.format != "npy":
            raise ValueError(f"edit {name!r}: its model is a {entry.score.format!r} file, "
                             "not the npy this writes")  # fmt: skip
        path = root / entry.score.path
        np.save(path, model.normal[None].astype(np.float32))
        score: ScoreEntry = dataclasses.replace(entry.score, sha256=sha256_file(path),
                                                size=path.stat().st_size,
                                                intercept=model.intercept)  # fmt: skip
        directions[name] = dataclasses.replace(entry, score=score)
    training = root / REPORT_NAME
    built = json.loads(training.read_text(encoding="utf-8")) if training.is_file() else {}
    training.write_text(json.dumps({**built, REPORT_KEY: report}, indent=2) + "\n",
                        encoding="utf-8")  # fmt: skip
    return dataclasses.replace(manifest, directions=directions)
