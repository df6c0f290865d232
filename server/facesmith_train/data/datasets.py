"""Labelled face images streamed straight out of the dataset tars (nothing extracted to disk).

UTKFace: labels in the file name, ``AGE_GENDER_RACE_DATE.jpg.chip.jpg``; a few names lack a
field and are skipped, and ~390 files are byte-identical copies of others and are dropped.
CelebA 10k: ``NNNNNN.jpg`` with its 40 attributes (0/1) in a CSV keyed by the file name.
LFW (lfw192): ``Person_Name_NNNN.jpg``, whole heads, gender in a CSV; held out by person.
"""

from __future__ import annotations

import csv
import hashlib
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facesmith import pixels

UTKFACE_LABELS = ("age", "gender", "race")
UTKFACE_RANGES = {"age": (1, 116), "gender": (0, 1), "race": (0, 4)}  # inclusive, per SOURCES.md
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class Record:
    """One labelled image: uint8 RGB [H, W, 3] (facesmith.pixels), its labels, and an id that
    is stable across runs (the member's file name) for splits and reports."""

    source_id: str
    image: np.ndarray
    labels: dict[str, int]
    group: str = ""  # what the held-out split keeps together (a person); "" = source_id

    @property
    def split_key(self) -> str:
        return self.group or self.source_id


@dataclass
class ReadCounts:
    """What reading a dataset skipped; read = yielded + duplicates + unlabelled + unreadable."""

    read: int = 0
    duplicates: int = 0
    unlabelled: int = 0
    unreadable: int = 0


def tar_images(tar_path: Path, limit: int | None = None) -> Iterator[tuple[str, bytes]]:
    """(file name, bytes) of each image member, in tar order; at most ``limit`` of them."""
    with tarfile.open(tar_path) as tar:
        taken = 0
        for member in tar:
            if limit is not None and taken >= limit:
                return
            name = Path(member.name).name
            if not member.isfile() or not name.lower().endswith(IMAGE_SUFFIXES):
                continue
            stream = tar.extractfile(member)
            if stream is None:
                continue
            taken += 1
            yield name, stream.read()


def count_images(tar_path: Path, limit: int | None = None) -> int:
    """How many images ``tar_images`` will yield (reads the headers only)."""
    with tarfile.open(tar_path) as tar:
        count = sum(m.isfile() and Path(m.name).name.lower().endswith(IMAGE_SUFFIXES) for m in tar)
    return count if limit is None else min(count, limit)


def decode_rgb8(data: bytes) -> np.ndarray | None:
    """JPEG/PNG bytes → uint8 RGB [H, W, 3], or None if they are not a readable image."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return None
    return pixels.from_opencv(image)


def parse_utkface_name(name: str) -> dict[str, int] | None:
    """``AGE_GENDER_RACE_DATE.jpg.chip.jpg`` → {age, gender, race}; None if a field is missing
    or out of range (e.g. ``61_1_20170109150557335.jpg.chip.jpg`` has no race)."""
    fields = name.split("_")
    if len(fields) < 4:
        return None
    try:
        values = [int(f) for f in fields[:3]]
    except ValueError:
        return None
    labels = dict(zip(UTKFACE_LABELS, values, strict=True))
    for key, (low, high) in UTKFACE_RANGES.items():
        if not low <= labels[key] <= high:
            return None
    return labels


def read_celeba_attributes(csv_path: Path) -> dict[str, dict[str, int]]:
    """celeba10k_attributes.csv → {image file name: {attribute: 0 or 1}}."""
    with open(csv_path, newline="") as f:
        rows = csv.DictReader(f)
        table: dict[str, dict[str, int]] = {}
        for row in rows:
            name = row.pop("image_id")
            table[name] = {key: int(value) for key, value in row.items()}
    return table


def labelled_records(
    tar_path: Path,
    label_of: dict[str, dict[str, int]] | None,
    counts: ReadCounts,
    limit: int | None = None,
    group_of: Callable[[str], str] | None = None,
) -> Iterator[Record]:
    """Decoded, labelled, de-duplicated records of a tar; ``counts`` is updated as it goes.

    Labels come from ``label_of`` (file name → labels) or, when it is None, from UTKFace's
    file names. Exact copies (same bytes) of an earlier member are dropped: otherwise one
    photo could land in both the training and the held-out split."""
    seen: set[bytes] = set()
    for name, data in tar_images(tar_path, limit):
        counts.read += 1
        digest = hashlib.sha256(data).digest()
        if digest in seen:
            counts.duplicates += 1
            continue
        seen.add(digest)
        labels = parse_utkface_name(name) if label_of is None else label_of.get(name)
        if labels is None:
            counts.unlabelled += 1
            continue
        image = decode_rgb8(data)
        if image is None:
            counts.unreadable += 1
            continue
        yield Record(name, image, labels, group_of(name) if group_of else "")


def utkface_records(
    tar_path: Path, counts: ReadCounts, limit: int | None = None
) -> Iterator[Record]:
    return labelled_records(tar_path, None, counts, limit)


def celeba_records(
    tar_path: Path, attributes_csv: Path, counts: ReadCounts, limit: int | None = None
) -> Iterator[Record]:
    return labelled_records(tar_path, read_celeba_attributes(attributes_csv), counts, limit)


LFW_MAX_PER_PERSON = 8  # LFW is unbalanced (one person has 530 photos): keep each one's first 8


def read_lfw_labels(
    csv_path: Path, max_per_person: int = LFW_MAX_PER_PERSON
) -> dict[str, dict[str, int]]:
    """lfw192_labels.csv → {file name: {Male, grayscale, black_permille}} for the photos with a
    gender, at most ``max_per_person`` of each person (the lowest image numbers)."""
    with open(csv_path, newline="") as f:
        table: dict[str, dict[str, int]] = {}
        for row in csv.DictReader(f):
            if row["gender"] not in ("M", "F") or int(row["image_num"]) > max_per_person:
                continue
            table[row["file"]] = {
                "Male": int(row["gender"] == "M"),
                "grayscale": int(row["grayscale"]),
                "black_permille": round(1000 * float(row["black_frac"])),
            }
    return table


def lfw_person(name: str) -> str:
    """``George_W_Bush_0001.jpg`` → ``George_W_Bush``."""
    return name.rsplit("_", 1)[0]


def lfw_records(
    tar_path: Path, labels_csv: Path, counts: ReadCounts, limit: int | None = None
) -> Iterator[Record]:
    """LFW photos with a gender label (others count as unlabelled), grouped by person."""
    return labelled_records(tar_path, read_lfw_labels(labels_csv), counts, limit, lfw_person)
