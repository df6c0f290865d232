"""The batch manifest: OUTPUT_DIR/facesmith-batch.jsonl, one JSON object per photo and run
(photo, status, faces, edits, seconds, error, worker, time), appended and flushed to disk as
each photo ends, so an interrupted run keeps every line it wrote. Standard library only."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

MANIFEST_NAME = "facesmith-batch.jsonl"


class Manifest:
    """``with Manifest(output_dir) as m: m.record({...})``."""

    def __init__(self, output_dir: Path) -> None:
        self.path = output_dir / MANIFEST_NAME
        self._file: IO[str] | None = None

    def record(self, entry: dict[str, Any]) -> None:
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        line = {**entry, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        self._file.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Manifest:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_manifest(output_dir: Path) -> list[dict[str, Any]]:
    """Every line recorded so far (a line cut short by a crash is left out)."""
    path = output_dir / MANIFEST_NAME
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return entries
