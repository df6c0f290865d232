"""Which photos a batch edits and where each result goes: OUTPUT_DIR mirrors INPUT_DIR (same
relative path, name and format). Standard library only.

A result is written atomically, so one that exists is complete: a re-run skips it (unless
--overwrite) and so continues where an interrupted run stopped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from facesmith.files import same_file_key

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".webp", ".bmp"})


class PlanError(ValueError):
    """The folders given cannot make a batch (missing input, output inside out, …)."""


@dataclass(frozen=True)
class Job:
    """One photo of the batch."""

    name: str  # path relative to INPUT_DIR, with "/" (how the manifest names it)
    source: Path
    out: Path


def find_photos(input_dir: Path, skip: Path | None = None) -> list[Path]:
    """Photo files under ``input_dir`` (any depth, sorted), hidden ones and ``skip`` left out."""
    if not input_dir.is_dir():
        raise PlanError(f"{input_dir} is not a folder")
    skip_key = same_file_key(skip) if skip is not None else None
    found = []
    for folder, subdirs, files in os.walk(input_dir):
        subdirs[:] = sorted(
            d
            for d in subdirs
            if not d.startswith(".") and same_file_key(Path(folder, d)) != skip_key
        )
        for file in sorted(files):
            path = Path(folder, file)
            if not file.startswith(".") and path.suffix.lower() in PHOTO_SUFFIXES:
                found.append(path)
    return sorted(found, key=lambda p: p.relative_to(input_dir).as_posix())


def plan_jobs(input_dir: Path, output_dir: Path, overwrite: bool) -> tuple[list[Job], list[Job]]:
    """→ (photos to edit, photos whose result already exists and is kept)."""
    if same_file_key(output_dir) == same_file_key(input_dir):
        raise PlanError("OUTPUT_DIR must differ from INPUT_DIR: the results would replace the "
                        "photos")  # fmt: skip
    todo: list[Job] = []
    done: list[Job] = []
    for source in find_photos(input_dir, skip=output_dir):
        name = source.relative_to(input_dir).as_posix()
        job = Job(name, source, output_dir / name)
        (todo if overwrite or not os.path.lexists(job.out) else done).append(job)
    return todo, done


def group_jobs(jobs: list[Job], photos_per_group: int) -> list[list[Job]]:
    """Consecutive photos in groups: a group's faces go to the server together, so every
    engine makes the same calls and writes the same bytes."""
    size = max(1, photos_per_group)
    return [jobs[i : i + size] for i in range(0, len(jobs), size)]
