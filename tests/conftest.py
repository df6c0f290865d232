"""Fixtures shared by every test: the test photos and a freshly made tiny test pack."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "photos"


def pytest_configure(config: pytest.Config) -> None:
    # As the server and the runtime do at start, before any worker thread exists (the malloc
    # settings are process-wide; applied mid-run they can starve the gRPC threads).
    from facesmith.memory import retain_freed_memory

    retain_freed_memory()


@pytest.fixture(scope="session")
def photos_dir() -> Path:
    """../shared/photos; in CI its absence is a failure, elsewhere the test is skipped."""
    if not PHOTOS.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"test photos missing: {PHOTOS} (CI needs ../shared beside the repo)")
        pytest.skip(f"test photos not found at {PHOTOS}")
    return PHOTOS


@pytest.fixture(scope="session")
def test_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from facesmith_server.testpack import make_test_pack

    return make_test_pack(tmp_path_factory.mktemp("packs") / "test", seed=0)
