"""The faces `facesmith train measure` scores: held-out crops of the prepared datasets and the
faces of a folder of whole photos, all framed by the pack's template at its resolution.

Every set is the first ``limit`` faces in a seeded random order, so reruns and other packs see
the same faces. Labels get one vocabulary whatever the dataset wrote: ``age`` in years and
0/1 attributes named as the pack's directions (``male``, ``bald``, ``smile``, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facesmith import pixels
from facesmith.alignment import Template
from facesmith_client.vision.align import align_face
from facesmith_client.vision.detect import Detector, detect_faces
from facesmith_client.vision.images import read_image
from facesmith_train.classify.readers import resized
from facesmith_train.data.prepared import load_prepared

# npz label name → the measure's name; CelebA's attributes are -1/1 or 0/1 (> 0 means yes)
BINARY_LABELS = {
    "Male": "male",
    "Bald": "bald",
    "Smiling": "smile",
    "Gray_Hair": "grey_hair",
    "Eyeglasses": "eyeglasses",
    "Young": "young",
}
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
MIN_FACE_SIZE = 40  # pixels, as the runtime's default: smaller faces are not edited either


@dataclass(frozen=True)
class FaceSet:
    """Faces of one source: crops float32 [N, R, R, 3] 0..1 (pixels conventions), their ids,
    labels {name: float [N]} and what loading them found (for the report)."""

    name: str
    crops: np.ndarray
    ids: tuple[str, ...]
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)


def seeded_order(count: int, seed: int) -> np.ndarray:
    """A permutation of range(count) that depends only on (count, seed)."""
    return np.random.default_rng(seed).permutation(count)


def standard_labels(names: Sequence[str], labels: np.ndarray) -> dict[str, np.ndarray]:
    """labels int [N, K] named ``names`` → {measure name: float [N]}: UTKFace's age (years) and
    gender (0 = male) become ``age`` and ``male``; CelebA's attributes their BINARY_LABELS
    names. Others are left out."""
    out: dict[str, np.ndarray] = {}
    for k, name in enumerate(names):
        column = labels[:, k].astype(np.float64)
        if name == "age":
            out["age"] = column
        elif name == "gender":
            out["male"] = (column == 0).astype(np.float64)
        elif name in BINARY_LABELS:
            out[BINARY_LABELS[name]] = (column > 0).astype(np.float64)
    return out


def load_npz_set(path: Path, resolution: int, limit: int, seed: int) -> FaceSet:
    """The first ``limit`` held-out faces of a `facesmith train prepare` .npz, in a seeded
    order, resized to ``resolution``; ValueError if it has no held-out faces."""
    if not path.is_file():
        raise ValueError(f"--data: no such file: {path}")
    held = load_prepared(path, split="held_out")
    if len(held) == 0:
        raise ValueError(f"{path}: no held-out faces (the measure never uses training faces)")
    chosen = seeded_order(len(held), seed)[:limit]
    return FaceSet(
        name=path.stem,
        crops=resized(pixels.stack_to_float(held.crops[chosen]), resolution),
        ids=tuple(held.source_ids[i] for i in chosen),
        labels=standard_labels(list(held.label_names), held.labels[chosen]),
        info={"source": str(path), "held_out": len(held), "alignment": held.alignment,
              "crop_size": int(held.crops.shape[1])},
    )  # fmt: skip


def photo_files(folder: Path) -> list[Path]:
    """The image files directly inside ``folder``, sorted by name."""
    if not folder.is_dir():
        raise ValueError(f"--photos: no such folder: {folder}")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)


def load_photo_set(
    folder: Path,
    detector: Detector,
    template: Template,
    resolution: int,
    limit: int,
    seed: int,
    min_face_size: int = MIN_FACE_SIZE,
) -> FaceSet:
    """Every face the runtime's detector finds in the photos of ``folder`` (photos in a seeded
    order, faces left to right), aligned as the runtime aligns them for the pack, until
    ``limit`` faces. Unreadable photos and photos without a face are counted, not fatal."""
    files = photo_files(folder)
    crops: list[np.ndarray] = []
    ids: list[str] = []
    read = unreadable = without_face = 0
    for index in seeded_order(len(files), seed):
        if len(crops) >= limit:
            break
        path = files[index]
        read += 1
        try:
            image = read_image(path)
        except ValueError:
            unreadable += 1
            continue
        faces = detect_faces(image, detector, min_face_size=min_face_size)
        without_face += not faces
        for k, face in enumerate(faces[: limit - len(crops)]):
            crops.append(align_face(image, face.landmarks, resolution, template)[0])
            ids.append(f"{path.name}#{k}")
    return FaceSet(
        name="photos",
        crops=np.array(crops, np.float32).reshape(-1, resolution, resolution, 3),
        ids=tuple(ids),
        info={"source": str(folder), "photos": len(files), "photos_read": read,
              "unreadable": unreadable, "without_face": without_face},
    )  # fmt: skip
