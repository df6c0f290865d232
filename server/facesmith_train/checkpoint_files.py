"""Training files written atomically and read back with weights_only=True, tagged with a
format string so that one kind of file is never mistaken for another."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from facesmith.files import atomic_write


def atomic_torch_save(path: Path, payload: dict[str, Any]) -> None:
    """torch.save `payload` to `path` (temp file + fsync + rename: never half written)."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write(path, buffer.getvalue())


def read_tagged(path: Path, fmt: str, what: str) -> dict[str, Any]:
    """The dict in `path` (tensors on CPU) if its "format" is `fmt`; refuses code (pickles
    with objects) and other files with ValueError naming `what` was expected."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise ValueError(f"{path}: not a facesmith {what} ({fmt})")
    return payload


def atomic_export(path: Path, save: Callable[[Path], None]) -> None:
    """Run a writer that takes a path (e.g. save_generator) so that `path` appears whole."""
    staging = path.with_name(path.name + ".tmp-export")
    save(staging)
    atomic_write(path, staging.read_bytes())
    staging.unlink()
