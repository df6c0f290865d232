"""The one reader of prepared training files (`facesmith train prepare` → NAME.npz) and of the
estimates written beside them (`facesmith train estimate` → NAME.estimates.npz).

A prepared file holds uint8 crops [N, S, S, 3], int16 labels [N, K] with their names, the
held-out flags, source ids, landmarks and the alignment template; the estimates file holds
what the instruments read on the same N crops (age in years, P(male)), in the same order.
Everything loads with allow_pickle=False.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

Split = Literal["train", "held_out", "all"]
ESTIMATES_SUFFIX = ".estimates.npz"


@dataclass(frozen=True)
class PreparedSet:
    """One prepared dataset, cut to a split. ``crops`` is empty ([0, S, S, 3]) when not read."""

    path: Path
    crops: np.ndarray  # uint8 [N, S, S, 3]
    labels: np.ndarray  # int16 [N, K]
    label_names: tuple[str, ...]
    source_ids: tuple[str, ...]
    held_out: np.ndarray  # bool [N]: in the held-out split (all True / False unless "all")
    alignment: str
    estimates: dict[str, np.ndarray] = field(default_factory=dict)  # name → float [N]

    def __len__(self) -> int:
        return len(self.source_ids)

    def column(self, name: str) -> np.ndarray:
        """A label column (as float) or an estimate by name; ValueError naming what exists."""
        if name in self.label_names:
            return self.labels[:, self.label_names.index(name)].astype(np.float64)
        if name in self.estimates:
            return self.estimates[name]
        known = [*self.label_names, *self.estimates]
        raise ValueError(f"{self.path.name}: no label or estimate {name!r}; has {', '.join(known)}")


def estimates_path(path: Path) -> Path:
    """NAME.npz → NAME.estimates.npz beside it."""
    return path.with_name(path.name.removesuffix(".npz") + ESTIMATES_SUFFIX)


def load_prepared(path: Path, split: Split = "train", crops: bool = True) -> PreparedSet:
    """Read a prepared file (and its estimates, when present) restricted to ``split``."""
    with np.load(path, allow_pickle=False) as data:
        missing = {"crops", "held_out"} - set(data.files)
        if missing:
            raise ValueError(f"{path}: no {' or '.join(sorted(missing))} array (not from prepare?)")
        held = data["held_out"].astype(bool)
        n = int(data["crops"].shape[0])
        keep = _split_mask(held, n, split)
        images = data["crops"][keep] if crops else np.zeros((0, *data["crops"].shape[1:]), np.uint8)
        labels = data["labels"][keep] if "labels" in data.files else np.zeros((int(keep.sum()), 0))
        names = tuple(str(v) for v in data["label_names"]) if "label_names" in data.files else ()
        ids = data["source_ids"][keep] if "source_ids" in data.files else np.arange(n)[keep]
        alignment = str(data["alignment"]) if "alignment" in data.files else "ffhq"
    held_out = held[keep]
    estimates = _read_estimates(estimates_path(path), n, keep)
    ids = tuple(str(i) for i in ids)
    return PreparedSet(path, images, labels, names, ids, held_out, alignment, estimates)


def load_many(paths: Sequence[Path], split: Split = "train") -> list[PreparedSet]:
    return [load_prepared(p, split) for p in paths]


def _split_mask(held: np.ndarray, n: int, split: Split) -> np.ndarray:
    if split == "all":
        return np.ones(n, bool)
    return held if split == "held_out" else ~held


def _read_estimates(path: Path, n: int, keep: np.ndarray) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as data:
        out = {}
        for key in data.files:
            values = data[key]
            if values.ndim == 1 and values.shape[0] == n:
                out[key] = values[keep].astype(np.float64)
    return out
