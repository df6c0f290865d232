"""Fixtures of the model-side tests (the session `test_pack` comes from tests/conftest.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture()
def pack_copy(test_pack: Path, tmp_path: Path) -> Path:
    """A private copy of the session test pack that a test may break."""
    return Path(shutil.copytree(test_pack, tmp_path / "pack"))
