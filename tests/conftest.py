"""Fixtures shared by every test: the test photos and a freshly made tiny test pack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from needs import unavailable
from serving import serve

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "photos"
DATASETS = REPO.parent / "shared" / "datasets"


def pytest_configure(config: pytest.Config) -> None:
    # As the server and the runtime do at start, before any worker thread exists (the malloc
    # settings are process-wide; applied mid-run they can starve the gRPC threads).
    from facesmith.memory import retain_freed_memory

    retain_freed_memory()


@pytest.fixture(scope="session")
def face_api_dir() -> Path:
    """../shared/models/face-api (or $FACESMITH_FACE_API); in CI its absence is a failure,
    elsewhere the test is skipped."""
    from facesmith_server.model.identity import MANIFEST, default_folder

    folder = default_folder()
    if not (folder / MANIFEST).is_file():
        unavailable(f"face-api weights missing: {folder} (CI needs ../shared beside the repo)")
    return folder


@pytest.fixture(scope="session")
def photos_dir() -> Path:
    """../shared/photos; in CI its absence is a failure, elsewhere the test is skipped."""
    if not PHOTOS.is_dir():
        unavailable(f"test photos missing: {PHOTOS} (CI needs ../shared beside the repo)")
    return PHOTOS


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """../shared/datasets (the training data); in CI its absence is a failure, elsewhere the
    test is skipped."""
    if not DATASETS.is_dir():
        unavailable(f"training data missing: {DATASETS} (CI needs ../shared beside the repo)")
    return DATASETS


@pytest.fixture(scope="session")
def runtime_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of wheel files for an offline set-up: the facesmith wheel built from this
    checkout and everything a CPU runtime installs (what a user without internet brings)."""
    import subprocess
    import sys

    from facesmith_host.setup import FACENET

    def run(*argv: str) -> None:
        subprocess.run([sys.executable, *argv], check=True, capture_output=True, timeout=600)

    folder = tmp_path_factory.mktemp("wheels")
    run("-m", "build", "--wheel", "--outdir", str(folder), str(REPO))
    (wheel,) = folder.glob("facesmith-*.whl")
    download = ("-m", "pip", "download", "--quiet", "--dest", str(folder))
    run(*download, "torch==2.13.0", f"{wheel}[server,client]")
    run(*download, "--no-deps", FACENET)
    return folder


@pytest.fixture(scope="session")
def test_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from facesmith_server.model.testpack import make_test_pack

    return make_test_pack(tmp_path_factory.mktemp("packs") / "test", seed=0)


@pytest.fixture()
def student_pack(test_pack: Path, tmp_path: Path) -> Path:
    """A copy of the test pack with two students: "age" (relative, 5 steps on the pack's own
    pairs, then made to brighten every face plainly) and "gender-swap" (untrained: it changes
    nothing)."""
    import shutil

    import torch

    from facesmith_server.model.pack import load_pack
    from facesmith_server.model.student import StudentConfig, StudentNet
    from facesmith_train.distill.install import install_student
    from facesmith_train.distill.pairs import make_pairs
    from facesmith_train.distill.train import train_student

    root = Path(shutil.copytree(test_pack, tmp_path / "student-pack"))
    pack = load_pack(root, torch.device("cpu"))
    pairs = make_pairs(pack, "age", "relative", 32)
    tiny = StudentConfig((8, 16))
    net, _ = train_student(pairs, tiny, 5, strength_range=(-50.0, 50.0))
    with torch.no_grad():
        net.to_change.bias += 0.1  # a plain change (+13 levels) on top of the little it learnt
    install_student(root, "age", net, edit="age", mode="relative", strength_range=(-50, 50))
    swap = StudentNet(StudentConfig(tiny.widths, conditioned=False))
    install_student(root, "gender-swap", swap, edit="gender", mode="swap")
    return root


@pytest.fixture()
def sketch_pack(test_pack: Path, tmp_path: Path) -> Path:
    """A copy of the test pack with a sketch encoder: the pack's own encoder, trained two
    steps on sketches of its faces."""
    import shutil

    import torch

    from facesmith_server.model.pack import load_pack
    from facesmith_train.sketch.install import install_sketch_encoder
    from facesmith_train.sketch.train import train_sketch_encoder

    root = Path(shutil.copytree(test_pack, tmp_path / "sketch-pack"))
    pack = load_pack(root, torch.device("cpu"))
    net, _ = train_sketch_encoder(pack, None, 2, batch=2)
    install_sketch_encoder(root, net, pack.encoder_latent_avg)
    return root


@pytest.fixture(scope="module")
def server(test_pack: Path) -> Iterator[str]:
    """A real facesmith server on the test pack, in this process → its address."""
    grpc_server, address = serve(test_pack)
    yield address
    grpc_server.stop(grace=None)


@pytest.fixture()
def sketch_server(sketch_pack: Path) -> Iterator[str]:
    """A real server on a copy of the test pack with a sketch encoder → its address."""
    grpc_server, address = serve(sketch_pack)
    yield address
    grpc_server.stop(grace=None)
