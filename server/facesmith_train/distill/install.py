"""A trained student into a pack: its file under students/, its entry in manifest.json (the
manifest is rewritten atomically, every other entry kept)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import torch

from facesmith.files import atomic_write, sha256_file
from facesmith_server.model.pack import (
    MANIFEST_NAME,
    StudentEntry,
    parse_manifest,
    read_manifest_json,
)
from facesmith_server.model.student import STUDENT_FORMAT, StudentNet, load_student, save_student

SOURCE = "distilled by facesmith (facesmith train student) from the pack's generator"


def install_student(
    pack_root: Path,
    name: str,
    network: StudentNet,
    *,
    edit: str,
    mode: str,
    strength_range: tuple[float, float] = (0.0, 0.0),
    description: str = "",
) -> StudentEntry:
    """Write ``network`` (fp16) as PACK/students/NAME.pt and list it in the manifest, replacing
    a student of the same name. The student inherits the pack's licence (its generator made
    every pair it learnt from)."""
    manifest = parse_manifest(read_manifest_json(pack_root))
    if edit not in manifest.directions:
        raise ValueError(f"the pack has no direction {edit!r}")
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"a student's name must be a plain file name, got {name!r}")
    relative = f"students/{name}.pt"
    path = pack_root / relative
    path.parent.mkdir(exist_ok=True)
    buffer = io.BytesIO()
    save_student(buffer, network, half=True)
    atomic_write(path, buffer.getvalue())
    low, high = strength_range if mode == "relative" else (0.0, 0.0)
    licence = manifest.generator.license or manifest.license
    entry = StudentEntry(relative, STUDENT_FORMAT, sha256_file(path), path.stat().st_size,
                         SOURCE, licence, edit=edit, mode=mode, min=low, max=high,
                         description=description)  # fmt: skip
    students = {**manifest.students, name: entry}
    updated = dataclasses.replace(manifest, students=students)
    atomic_write(pack_root / MANIFEST_NAME, updated.to_json().encode("utf-8"))
    return entry


def load_installed(pack_root: Path, name: str) -> StudentNet:
    """A student of the pack by name (for continuing its training)."""
    return load_student(pack_root / "students" / f"{name}.pt", torch.device("cpu"))
