"""Model packs: a folder with manifest.json, a generator, an encoder and edit directions, and
optionally students (one-pass edits distilled from the generator) and a sketch encoder (faces
from line drawings).

manifest.json (version 1) names each file with its format, sha256, size, source and licence.
`load_pack` verifies every file and returns the loaded models (`Pack`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch

from facesmith.alignment import parse_alignment
from facesmith.files import sha256_file
from facesmith_server.errors import CheckpointError, PackError
from facesmith_server.model.checkpoints import load_encoder, load_generator
from facesmith_server.model.encoder import Encoder4Editing
from facesmith_server.model.generator import Generator
from facesmith_server.model.sketch_encoder import (
    SKETCH_ENCODER_FORMAT,
    SketchEncoder,
    load_sketch_encoder,
)
from facesmith_server.model.student import STUDENT_FORMAT, StudentNet, load_student

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
DIRECTION_FORMATS = ("torch-tensor", "npy")
DIRECTION_SPACES = ("w", "w+")
SCORE_KINDS = ("binary", "continuous")
STUDENT_MODES = ("relative", "swap")


@dataclass(frozen=True)
class FileEntry:
    """One file of the pack; `path` is relative to the pack folder (POSIX separators)."""

    path: str
    format: str
    sha256: str
    size: int
    source: str = ""
    license: str = ""


@dataclass(frozen=True)
class ScoreEntry(FileEntry):
    """The attribute's linear model in W, for absolute edits (`--set`) and swaps: the file holds
    a normal [1, dim] (or [dim]); value(w) = mean over rows of w · normal + intercept.

    kind "continuous": value in ``unit`` (e.g. years), targets in [min, max];
    kind "binary": value is a logit (0 = the boundary), targets are probabilities in [0, 1].
    """

    intercept: float = 0.0
    kind: str = "binary"
    unit: str = ""
    min: float = 0.0
    max: float = 1.0


@dataclass(frozen=True)
class DirectionEntry(FileEntry):
    """An edit direction file plus its slider range (strength units of the CLI), the group it
    is listed under, and optionally the attribute's linear model (``score``)."""

    space: str = "w"
    min: float = -3.0
    max: float = 3.0
    default: float = 0.0
    description: str = ""
    group: str = ""
    score: ScoreEntry | None = None


@dataclass(frozen=True)
class StudentEntry(FileEntry):
    """A student file: it makes the pack's edit ``edit`` in one pass — by a strength in [min,
    max] (mode "relative", the direction's strength units) or the swap of a yes/no attribute."""

    edit: str = ""
    mode: str = "relative"
    min: float = 0.0
    max: float = 0.0
    description: str = ""


@dataclass(frozen=True)
class Manifest:
    """Typed manifest.json."""

    name: str
    resolution: int
    generator: FileEntry
    encoder: FileEntry
    directions: dict[str, DirectionEntry] = field(default_factory=dict)
    students: dict[str, StudentEntry] = field(default_factory=dict)
    sketch_encoder: FileEntry | None = None
    description: str = ""
    latent_space: str = "w+"
    alignment: str = "ffhq"
    license: str = ""
    manifest_version: int = MANIFEST_VERSION

    def to_json(self) -> str:
        """manifest.json text (keys in the documented order)."""
        data = {
            "manifest_version": self.manifest_version,
            "name": self.name,
            "description": self.description,
            "resolution": self.resolution,
            "latent_space": self.latent_space,
            "alignment": self.alignment,
            "license": self.license,
            "generator": asdict(self.generator),
            "encoder": asdict(self.encoder),
            "directions": {k: _direction_json(v) for k, v in self.directions.items()},
        }
        if self.students:
            data["students"] = {k: asdict(v) for k, v in self.students.items()}
        if self.sketch_encoder is not None:
            data["sketch_encoder"] = asdict(self.sketch_encoder)
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _direction_json(entry: DirectionEntry) -> dict[str, Any]:
    """A direction entry as manifest JSON: no empty group, no null score."""
    data = asdict(entry)
    if not data["group"]:
        del data["group"]
    if data["score"] is None:
        del data["score"]
    return data


@dataclass(frozen=True)
class Score:
    """A loaded attribute model: value(w) = mean over rows of w · normal + intercept (a logit
    for binary attributes); targets of absolute edits lie in [min, max]."""

    normal: np.ndarray  # [dim] float32
    intercept: float
    kind: str
    unit: str
    min: float
    max: float

    def value(self, latent: np.ndarray) -> float:
        """The attribute's value (years, logit, ...) of a latent [num_ws, dim]."""
        return float(np.asarray(latent, np.float64).mean(axis=0) @ self.normal) + self.intercept

    def readable(self, value: float) -> float:
        """A value of the model in the unit targets are given in: a binary attribute's logit
        as a probability, a continuous attribute's value as it is."""
        if self.kind != "binary":
            return value
        return 0.5 * (1.0 + math.tanh(0.5 * value))  # the logistic, without overflow


@dataclass(frozen=True)
class Direction:
    """A loaded edit direction: vector [1, dim] (space w) or [num_ws, dim] (space w+)."""

    name: str
    vector: np.ndarray
    space: str
    min: float
    max: float
    default: float
    description: str
    group: str = ""
    score: Score | None = None


@dataclass(frozen=True)
class Student:
    """A loaded student: ``network`` makes edit ``edit`` in mode ``mode`` (strengths of a
    relative student lie in [min, max])."""

    name: str
    edit: str
    mode: str
    min: float
    max: float
    description: str
    network: StudentNet


@dataclass
class Pack:
    """A loaded, verified model pack."""

    root: Path
    manifest: Manifest
    generator: Generator
    latent_avg: torch.Tensor  # [dim]
    encoder: Encoder4Editing
    encoder_latent_avg: torch.Tensor  # [num_ws, dim]
    directions: dict[str, Direction]
    students: dict[str, Student] = field(default_factory=dict)
    sketch: SketchEncoder | None = None


def load_pack(root: Path | str, device: torch.device | str) -> Pack:
    """Read manifest.json, verify sizes and sha256, load the models onto `device`."""
    root = Path(root)
    if not root.is_dir():
        raise PackError(f"{root}: model pack folder does not exist")
    manifest = parse_manifest(read_manifest_json(root))
    generator, latent_avg = load_generator(verified_file(root, manifest.generator), device)
    encoder, enc_avg = load_encoder(verified_file(root, manifest.encoder), device)
    _check_models_agree(root, manifest, generator, encoder)
    directions = {
        name: load_direction(root, name, entry, generator.num_ws, generator.style_dim)
        for name, entry in manifest.directions.items()
    }
    students = {
        name: load_student_entry(root, name, entry, manifest, device)
        for name, entry in manifest.students.items()
    }
    sketch = None
    if manifest.sketch_encoder is not None:
        sketch = load_sketch_entry(root, manifest.sketch_encoder, generator, device)
    return Pack(root, manifest, generator, latent_avg, encoder, enc_avg, directions, students,
                sketch)  # fmt: skip


def load_sketch_entry(
    root: Path, entry: FileEntry, generator: Generator, device: torch.device | str
) -> SketchEncoder:
    """The manifest's sketch encoder, verified and loaded; PackError if it does not fit."""
    try:
        sketch = load_sketch_encoder(verified_file(root, entry), device)
    except ValueError as err:
        raise PackError(str(err)) from None
    shape = (sketch.network.num_ws, sketch.network.style_dim)
    if shape != (generator.num_ws, generator.style_dim):
        raise PackError(f"manifest: sketch_encoder gives {shape[0]} x {shape[1]} latents, the "
                        f"generator needs {generator.num_ws} x {generator.style_dim}")  # fmt: skip
    return sketch


def load_student_entry(
    root: Path, name: str, entry: StudentEntry, manifest: Manifest, device: torch.device | str
) -> Student:
    """A student of the manifest, verified and loaded; PackError if it does not fit the pack."""
    where = f"students.{name}"
    if entry.edit not in manifest.directions:
        raise PackError(f"manifest: {where}.edit {entry.edit!r} is not a direction of the pack")
    try:
        network = load_student(verified_file(root, entry), device)
    except ValueError as err:
        raise PackError(str(err)) from None
    if network.config.conditioned != (entry.mode == "relative"):
        takes = "takes" if network.config.conditioned else "takes no"
        raise PackError(
            f"manifest: {where} is mode {entry.mode!r} but its network {takes} a strength"
        )
    if manifest.resolution % network.multiple:
        raise PackError(
            f"manifest: {where} needs sides that are multiples of {network.multiple}, the pack "
            f"is {manifest.resolution} px"
        )
    return Student(name, entry.edit, entry.mode, entry.min, entry.max, entry.description, network)


def read_manifest_json(root: Path) -> Any:
    """The parsed JSON of root/manifest.json, or PackError."""
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise PackError(f"{root}: no {MANIFEST_NAME} in the model pack")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PackError(f"{path}: invalid JSON ({exc})") from exc


def parse_manifest(data: Any) -> Manifest:
    """Validate a manifest JSON object -> Manifest, or PackError naming the bad field."""
    obj = _object(data, "manifest")
    version = _field(obj, "manifest_version", int, "manifest")
    if version != MANIFEST_VERSION:
        raise PackError(f"manifest_version {version} is not supported (expected 1)")
    directions = _object(obj.get("directions", {}), "directions")
    students = _object(obj.get("students", {}), "students")
    return Manifest(
        name=_field(obj, "name", str, "manifest"),
        resolution=_field(obj, "resolution", int, "manifest"),
        generator=_file_entry(_object(obj.get("generator"), "generator"), "generator"),
        encoder=_file_entry(_object(obj.get("encoder"), "encoder"), "encoder"),
        directions={str(k): _direction_entry(v, str(k)) for k, v in directions.items()},
        students={str(k): _student_entry(v, str(k)) for k, v in students.items()},
        sketch_encoder=_sketch_entry(obj.get("sketch_encoder")),
        description=str(obj.get("description", "")),
        latent_space=str(obj.get("latent_space", "w+")),
        alignment=_alignment(obj.get("alignment", "ffhq")),
        license=str(obj.get("license", "")),
        manifest_version=version,
    )


def _alignment(value: Any) -> str:
    """The manifest's alignment, checked so a client can always parse what GetInfo says."""
    try:
        return parse_alignment(str(value)).to_manifest()
    except ValueError as err:
        raise PackError(f"manifest: {err}") from None


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PackError(f"manifest: '{where}' must be a JSON object")
    return value


def _field(obj: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    """obj[key] checked against `kind` (int accepts no bool; float accepts int)."""
    value = obj.get(key)
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise PackError(f"manifest: {where}.{key} must be a {kind.__name__}, got {value!r}")
    return value


def _file_entry(obj: Mapping[str, Any], where: str) -> FileEntry:
    return FileEntry(**_file_fields(obj, where))


def _file_fields(obj: Mapping[str, Any], where: str) -> dict[str, Any]:
    return {
        "path": _field(obj, "path", str, where),
        "format": _field(obj, "format", str, where),
        "sha256": _field(obj, "sha256", str, where).lower(),
        "size": _field(obj, "size", int, where),
        "source": str(obj.get("source", "")),
        "license": str(obj.get("license", "")),
    }


def _direction_entry(value: Any, name: str) -> DirectionEntry:
    where = f"directions.{name}"
    obj = _object(value, where)
    entry = DirectionEntry(
        **_file_fields(obj, where),
        space=_field(obj, "space", str, where),
        min=_field(obj, "min", float, where),
        max=_field(obj, "max", float, where),
        default=_field(obj, "default", float, where) if "default" in obj else 0.0,
        description=str(obj.get("description", "")),
        group=str(obj.get("group", "")),
        score=_score_entry(obj["score"], f"{where}.score") if obj.get("score") else None,
    )
    if entry.space == "z":
        raise PackError(f"manifest: {where} is in Z space: convert Z boundaries to W first")
    if entry.space not in DIRECTION_SPACES:
        raise PackError(f"manifest: {where}.space must be one of {DIRECTION_SPACES}")
    if entry.format not in DIRECTION_FORMATS:
        raise PackError(f"manifest: {where}.format must be one of {DIRECTION_FORMATS}")
    if not entry.min <= entry.default <= entry.max:
        raise PackError(f"manifest: {where} needs min <= default <= max")
    return entry


def _sketch_entry(value: Any) -> FileEntry | None:
    if value is None:
        return None
    entry = _file_entry(_object(value, "sketch_encoder"), "sketch_encoder")
    if entry.format != SKETCH_ENCODER_FORMAT:
        raise PackError(f"manifest: sketch_encoder.format must be {SKETCH_ENCODER_FORMAT}")
    return entry


def _student_entry(value: Any, name: str) -> StudentEntry:
    where = f"students.{name}"
    obj = _object(value, where)
    entry = StudentEntry(
        **_file_fields(obj, where),
        edit=_field(obj, "edit", str, where),
        mode=_field(obj, "mode", str, where),
        min=_field(obj, "min", float, where) if "min" in obj else 0.0,
        max=_field(obj, "max", float, where) if "max" in obj else 0.0,
        description=str(obj.get("description", "")),
    )
    if entry.format != STUDENT_FORMAT:
        raise PackError(f"manifest: {where}.format must be {STUDENT_FORMAT}")
    if entry.mode not in STUDENT_MODES:
        raise PackError(f"manifest: {where}.mode must be one of {STUDENT_MODES}")
    if entry.mode == "relative" and not entry.min < entry.max:
        raise PackError(f"manifest: {where} needs min < max (its strengths)")
    return entry


def _score_entry(value: Any, where: str) -> ScoreEntry:
    obj = _object(value, where)
    entry = ScoreEntry(
        **_file_fields(obj, where),
        intercept=_field(obj, "intercept", float, where),
        kind=_field(obj, "kind", str, where),
        unit=str(obj.get("unit", "")),
        min=_field(obj, "min", float, where) if "min" in obj else 0.0,
        max=_field(obj, "max", float, where) if "max" in obj else 1.0,
    )
    if entry.kind not in SCORE_KINDS:
        raise PackError(f"manifest: {where}.kind must be one of {SCORE_KINDS}")
    if entry.format != "npy":
        raise PackError(f"manifest: {where}.format must be npy")
    if not entry.min < entry.max or (entry.kind == "binary" and (entry.min, entry.max) != (0, 1)):
        raise PackError(f"manifest: {where} needs min < max (0 and 1 for a binary attribute)")
    return entry


def resolve_inside(root: Path, relative: str) -> Path:
    """root / relative, refusing absolute paths, '..' and symlinks that leave the pack."""
    parts = PurePosixPath(relative.replace("\\", "/"))
    if not relative or parts.is_absolute() or ".." in parts.parts or ":" in relative:
        raise PackError(f"{root}: manifest path {relative!r} must stay inside the pack folder")
    path = root.joinpath(*parts.parts)
    if not path.resolve().is_relative_to(root.resolve()):
        raise PackError(f"{root}: manifest path {relative!r} leaves the pack folder")
    return path


def verified_file(root: Path, entry: FileEntry) -> Path:
    """The entry's file after checking that it exists, its size and its sha256."""
    path = resolve_inside(root, entry.path)
    if not path.is_file():
        raise PackError(f"{path}: file named in the manifest is missing")
    size = path.stat().st_size
    if size != entry.size:
        raise PackError(f"{path}: size {size} bytes, manifest says {entry.size}")
    digest = sha256_file(path)
    if digest != entry.sha256:
        raise PackError(f"{path}: sha256 {digest} does not match the manifest ({entry.sha256})")
    return path


def load_direction(
    root: Path, name: str, entry: DirectionEntry, num_ws: int, dim: int
) -> Direction:
    """Load a direction file -> Direction with vector [1, dim] (w, or a z boundary) or
    [num_ws, dim] (w+), float32 whatever the file holds (STIT's are float64). Torch tensors
    are mapped to the CPU (e4e's pose.pt was saved on a CUDA device). The server itself
    never gets z: its manifest refuses Z-space directions."""
    path = verified_file(root, entry)
    raw = _read_direction_array(path, entry.format)
    vector = _direction_rows(path, raw, entry.space, num_ws, dim)
    score = load_score(root, entry.score, dim) if entry.score is not None else None
    return Direction(name, vector, entry.space, entry.min, entry.max, entry.default,
                     entry.description, entry.group, score)  # fmt: skip


def load_score(root: Path, entry: ScoreEntry, dim: int) -> Score:
    """A direction's attribute model; its normal must be [dim] or [1, dim], finite."""
    path = verified_file(root, entry)
    normal = _direction_rows(path, _read_direction_array(path, "npy"), "w", 1, dim)[0]
    if not np.isfinite(normal).all() or not np.isfinite(entry.intercept):
        raise PackError(f"{path}: the attribute model holds non-finite values")
    return Score(normal, entry.intercept, entry.kind, entry.unit, entry.min, entry.max)


def _read_direction_array(path: Path, fmt: str) -> np.ndarray:
    try:
        if fmt == "npy":
            return np.asarray(np.load(path, allow_pickle=False), dtype=np.float32)
        tensor = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unreadable file of either format
        raise PackError(f"{path}: cannot read {fmt} direction ({exc})") from exc
    if not isinstance(tensor, torch.Tensor):
        raise PackError(f"{path}: expected a tensor, found {type(tensor).__name__}")
    return tensor.detach().float().numpy()


def _direction_rows(path: Path, raw: np.ndarray, space: str, num_ws: int, dim: int) -> np.ndarray:
    """[dim] / [1, dim] / [num_ws, dim] (leading 1-dims dropped) -> rows for the space."""
    arr = raw
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    arr = arr.reshape(1, -1) if arr.ndim == 1 else arr
    rows = num_ws if space == "w+" else 1
    if arr.ndim != 2 or arr.shape[1] != dim or arr.shape[0] not in (1, rows):
        expected = f"[{dim}] or [1, {dim}]" + ("" if rows == 1 else f" or [{num_ws}, {dim}]")
        hint = ""
        if space != "w+" and arr.ndim == 2 and arr.shape == (num_ws, dim):
            hint = f' (that is a W+ direction, {num_ws} rows: its space is "w+")'
        raise PackError(
            f"{path}: {space} direction must be {expected}, got {list(raw.shape)}{hint}"
        )
    if space == "w+":
        arr = np.broadcast_to(arr, (num_ws, dim))
    return np.ascontiguousarray(arr, dtype=np.float32)


def _check_models_agree(
    root: Path, manifest: Manifest, generator: Generator, encoder: Encoder4Editing
) -> None:
    if generator.size != manifest.resolution:
        raise PackError(
            f"{root}: generator makes {generator.size} px, manifest says {manifest.resolution}"
        )
    if (encoder.num_ws, encoder.style_dim) != (generator.num_ws, generator.style_dim):
        raise CheckpointError(
            f"{root}: encoder gives {encoder.num_ws} x {encoder.style_dim} latents, generator "
            f"needs {generator.num_ws} x {generator.style_dim}"
        )
