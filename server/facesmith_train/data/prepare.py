"""`facesmith train prepare`: detect, frame and align every labelled face, one .npz a dataset.

Two passes over each tar: detect every face (keeping only landmarks), choose the pack's
template from those landmarks, then decode again and align with it. Decoding twice is cheap
next to detection and keeps memory to the landmarks instead of 33k decoded images.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facesmith import pixels
from facesmith.alignment import Template
from facesmith_client.vision.align import align_face
from facesmith_client.vision.detect import Detector, Face, detect_faces
from facesmith_train.data.datasets import (
    ReadCounts,
    Record,
    celeba_records,
    count_images,
    lfw_records,
    read_celeba_attributes,
    read_lfw_labels,
    utkface_records,
)
from facesmith_train.data.framing import (
    DEFAULT_MAX_PADDING,
    FaceGeometry,
    assess_template,
    choose_template,
)
from facesmith_train.progress import ProgressLog

MIN_FACE_FRACTION = 0.2  # of the image's short side: 20 px on CelebA's 89 × 109 crops
HELD_OUT_FRACTION = 0.1
TEMPLATE_SAMPLE = 1000  # faces per dataset the template is chosen from

RecordStream = Callable[[ReadCounts], Iterator[Record]]


@dataclass(frozen=True)
class DatasetSource:
    """A dataset to prepare: ``records`` opens a fresh stream (it is read twice)."""

    name: str
    records: RecordStream
    total: int  # image members the stream will read (for progress)


@dataclass
class Detections:
    counts: ReadCounts
    no_face: int = 0
    landmarks: dict[str, np.ndarray] = field(default_factory=dict)  # source id → [5, 2]
    shapes: dict[str, tuple[int, int]] = field(default_factory=dict)  # source id → (h, w)
    seconds: float = 0.0


@dataclass(frozen=True)
class AlignedSet:
    crops: np.ndarray  # uint8 [N, S, S, 3]
    labels: np.ndarray  # int16 [N, K]
    label_names: list[str]
    source_ids: list[str]
    held_out: np.ndarray  # bool [N]
    landmarks: np.ndarray  # float32 [N, 5, 2], in crop pixels
    unalignable: int
    seconds: float


DATASETS = ("lfw", "celeba", "utkface")
DEFAULT_DATASETS = ("lfw", "celeba")  # whole heads; UTKFace's crops cut the crown (see README)


@dataclass(frozen=True)
class DatasetFiles:
    """Where each dataset lies (../shared/datasets by default)."""

    utkface: Path
    celeba: Path
    celeba_attributes: Path
    lfw: Path
    lfw_labels: Path


def dataset_sources(
    files: DatasetFiles, names: Sequence[str], limit: int | None = None
) -> list[DatasetSource]:
    """The named datasets (of DATASETS), each read up to ``limit`` images."""
    unknown = sorted(set(names) - set(DATASETS))
    if unknown:
        raise ValueError(f"unknown dataset {', '.join(unknown)}; known: {', '.join(DATASETS)}")
    if "celeba" in names:
        read_celeba_attributes(files.celeba_attributes)  # fail on a bad CSV now, not later
    if "lfw" in names:
        read_lfw_labels(files.lfw_labels)

    def utkface(counts: ReadCounts) -> Iterator[Record]:
        return utkface_records(files.utkface, counts, limit)

    def celeba(counts: ReadCounts) -> Iterator[Record]:
        return celeba_records(files.celeba, files.celeba_attributes, counts, limit)

    def lfw(counts: ReadCounts) -> Iterator[Record]:
        return lfw_records(files.lfw, files.lfw_labels, counts, limit)

    streams = {"utkface": (utkface, files.utkface), "celeba": (celeba, files.celeba),
               "lfw": (lfw, files.lfw)}  # fmt: skip
    return [
        DatasetSource(name, streams[name][0], count_images(streams[name][1], limit))
        for name in names
    ]


def min_face_size(height: int, width: int) -> int:
    return max(12, round(MIN_FACE_FRACTION * min(height, width)))  # 12: MTCNN's smallest


def main_face(faces: Sequence[Face], height: int, width: int) -> Face | None:
    """The largest face, less its centre's distance from the image centre (these are crops of
    one person: a bystander is smaller and off-centre)."""
    centre = np.array([width, height], np.float64) / 2

    def weight(face: Face) -> float:
        x0, y0, x1, y1 = face.box
        offset = np.hypot(*(np.array([x0 + x1, y0 + y1]) / 2 - centre))
        return face.size - float(offset)

    return max(faces, key=weight, default=None)


def is_held_out(source_id: str, fraction: float = HELD_OUT_FRACTION) -> bool:
    """Deterministic split: the id's hash, not its position, so --limit and reruns agree."""
    digest = hashlib.sha256(source_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") < fraction * 2**64


def detect_dataset(source: DatasetSource, detector: Detector) -> Detections:
    found = Detections(ReadCounts())
    log = ProgressLog(f"{source.name} detect", source.total)
    started = time.monotonic()
    for record in source.records(found.counts):
        height, width = record.image.shape[:2]
        faces = detect_faces(record.image, detector, min_face_size=min_face_size(height, width))
        face = main_face(faces, height, width)
        if face is None:
            found.no_face += 1
        else:
            found.landmarks[record.source_id] = face.landmarks
            found.shapes[record.source_id] = (height, width)
        log.step(found.counts.read)
    log.finish(found.counts.read)
    found.seconds = time.monotonic() - started
    return found


def geometry_sample(found: Detections, n: int = TEMPLATE_SAMPLE) -> FaceGeometry:
    """Up to ``n`` faces, picked by id hash (tar order may be grouped)."""
    ids = sorted(found.landmarks, key=lambda i: hashlib.sha256(i.encode()).digest())[:n]
    landmarks = np.array([found.landmarks[i] for i in ids], np.float64).reshape(-1, 5, 2)
    shapes = np.array([found.shapes[i] for i in ids], np.float64).reshape(-1, 2)
    return FaceGeometry(landmarks, shapes)


def align_dataset(
    source: DatasetSource, found: Detections, template: Template, size: int
) -> AlignedSet:
    crops, labels, ids, keys, marks = [], [], [], [], []
    label_names: list[str] = []
    unalignable = 0
    log = ProgressLog(f"{source.name} align", len(found.landmarks))
    started = time.monotonic()
    for record in source.records(ReadCounts()):
        landmarks = found.landmarks.get(record.source_id)
        if landmarks is None:
            continue
        try:
            crop, matrix = align_face(record.image, landmarks, size, template=template)
        except ValueError:  # degenerate landmarks, or a crop wholly outside the image
            unalignable += 1
            continue
        label_names = label_names or list(record.labels)
        crops.append(pixels.from_float(crop, np.uint8))
        labels.append([record.labels[k] for k in label_names])
        ids.append(record.source_id)
        keys.append(record.split_key)
        marks.append(landmarks @ matrix[:, :2].T + matrix[:, 2])
        log.step(len(ids) + unalignable)
    log.finish(len(ids) + unalignable)
    return AlignedSet(
        crops=np.array(crops, np.uint8).reshape(-1, size, size, 3),
        labels=np.array(labels, np.int16).reshape(len(ids), len(label_names)),
        label_names=label_names,
        source_ids=ids,
        held_out=np.array([is_held_out(k) for k in keys], bool),
        landmarks=np.array(marks, np.float32).reshape(-1, 5, 2),
        unalignable=unalignable,
        seconds=time.monotonic() - started,
    )


def write_npz(path: Path, aligned: AlignedSet, template: Template) -> None:
    """Plain arrays only (no pickles): loads with numpy.load(allow_pickle=False)."""
    np.savez_compressed(
        path,
        crops=aligned.crops,
        labels=aligned.labels,
        label_names=np.array(aligned.label_names, dtype=str),
        source_ids=np.array(aligned.source_ids, dtype=str),
        held_out=aligned.held_out,
        landmarks=aligned.landmarks,
        alignment=np.array(template.to_manifest()),
    )


def dataset_report(found: Detections, aligned: AlignedSet, path: Path) -> dict[str, Any]:
    """Counts that add up: read = duplicates + unlabelled + unreadable + no_face + unalignable
    + kept."""
    return {
        **asdict(found.counts),
        "no_face": found.no_face,
        "unalignable": aligned.unalignable,
        "kept": len(aligned.source_ids),
        "held_out": int(aligned.held_out.sum()),
        "detect_seconds": round(found.seconds, 1),
        "align_seconds": round(aligned.seconds, 1),
        "file": str(path),
        "file_bytes": path.stat().st_size,
    }


def prepare(
    sources: Sequence[DatasetSource],
    detector: Detector,
    out_dir: Path,
    size: int = 64,
    max_padding: float = DEFAULT_MAX_PADDING,
    template: Template | None = None,
) -> dict[str, Any]:
    """Write OUT/NAME.npz for each source and OUT/report.json; returns the report. The
    template is chosen from the landmarks unless one is given."""
    started = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    found = {source.name: detect_dataset(source, detector) for source in sources}
    samples = {name: geometry_sample(f) for name, f in found.items()}
    if template is None:
        choice = choose_template(samples, max_padding)
    else:
        choice = assess_template(samples, template, max_padding)
    datasets = {}
    for source in sources:
        aligned = align_dataset(source, found[source.name], choice.template, size)
        path = out_dir / f"{source.name}.npz"
        write_npz(path, aligned, choice.template)
        datasets[source.name] = dataset_report(found[source.name], aligned, path)
    report = {
        "size": size,
        "template": choice.to_dict(),
        "datasets": datasets,
        "held_out_fraction": HELD_OUT_FRACTION,
        "min_face_fraction": MIN_FACE_FRACTION,
        "seconds": round(time.monotonic() - started, 1),
    }
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
