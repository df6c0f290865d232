"""Generate: faces that do not exist, through a real server on the test pack — one per seed,
the same for the same seed, editable again by handle; bad requests refused in words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from facesmith.quality import MAX_SEED
from facesmith_client.remote.client import ClientError, EditSpec
from facesmith_client.remote.grpc_client import GrpcClient


@pytest.fixture(scope="module")
def client(server: str) -> Iterator[GrpcClient]:
    with GrpcClient(server) as c:
        yield c


def images(result: object) -> list[np.ndarray]:
    return [face.image for face in result.faces]  # type: ignore[attr-defined]


def test_a_seed_gives_the_same_face_every_time(client: GrpcClient) -> None:
    first = client.generate([5, 6, 7])
    again = client.generate([5, 6, 7])
    assert all(np.array_equal(a, b) for a, b in zip(images(first), images(again), strict=True))
    a, b, c = images(first)
    assert not np.array_equal(a, b) and not np.array_equal(b, c)
    # with other seeds beside it, or alone, a seed's face is the same (float sums may round
    # a level apart with another batch size)
    (alone,) = images(client.generate([6]))
    assert np.abs(alone.astype(int) - b.astype(int)).max() <= 1
    assert {f.handle for f in first.faces}.isdisjoint({f.handle for f in again.faces})
    info = client.info()
    assert a.shape == (info.resolution, info.resolution, 3) and a.dtype == np.uint8


def test_truncation_zero_is_the_average_face_and_one_the_full_variety(
    client: GrpcClient,
) -> None:
    average = images(client.generate([1, 2, 3], truncation=0.0))
    assert all(np.array_equal(average[0], face) for face in average[1:])
    spread = [images(client.generate([1, 2, 3], truncation=t)) for t in (0.3, 1.0)]
    distances = [np.mean([np.abs(f.astype(float) - average[0]).mean() for f in faces])
                 for faces in spread]  # fmt: skip
    assert 0 < distances[0] < distances[1]


def test_edits_apply_and_the_handle_edits_the_face_again(client: GrpcClient) -> None:
    plain = client.generate([11, 12])
    older = client.generate([11, 12], [EditSpec("age", 20.0)])
    assert not np.array_equal(images(plain)[0], images(older)[0])
    again = client.render([f.handle for f in plain.faces], [EditSpec("age", 20.0)])
    for a, b in zip(images(again), images(older), strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    target = client.generate([11], [EditSpec("age", mode="set", target=60.0)])
    assert target.faces[0].latent is not None
    assert not np.array_equal(target.faces[0].latent, plain.faces[0].latent)


def test_16_bit_and_previews(client: GrpcClient) -> None:
    info = client.info()
    (deep,) = images(client.generate([3], output_dtype=np.uint16))
    assert deep.dtype == np.uint16
    if info.preview_resolutions:
        small = info.preview_resolutions[0]
        (preview,) = images(client.generate([3], resolution=small))
        assert preview.shape[:2] == (small, small)


@pytest.mark.parametrize(
    ("seeds", "kwargs", "message"),
    [
        ([], {}, "no seeds"),
        ([MAX_SEED + 1], {}, "out of range"),
        (list(range(65)), {}, "at most"),
        ([1], {"truncation": 1.5}, "truncation"),
        ([1], {"truncation": float("nan")}, "truncation"),
        ([1], {"edits": [EditSpec("wings", 1.0)]}, "unknown edit 'wings'"),
        ([1], {"resolution": 3}, "resolution"),
    ],
)
def test_bad_requests_are_invalid_arguments(
    client: GrpcClient, seeds: list[int], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ClientError) as info:
        client.generate(seeds, **kwargs)  # type: ignore[arg-type]
    assert info.value.code == "invalid_argument"
    assert message in str(info.value)


def test_the_cli_writes_faces_and_a_contact_sheet(server: str, tmp_path: Path) -> None:
    from facesmith_client.cli.main import main
    from facesmith_client.vision.images import read_image

    out = tmp_path / "faces"
    args = ["generate", "--seed", "40", "--count", "3", "--size", "48", "--server", server]
    assert main([*args, "--out-dir", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["face_40.png", "face_41.png", "face_42.png", "faces_40-42.png"]
    assert read_image(out / "face_40.png").shape == (48, 48, 3)
    assert read_image(out / "faces_40-42.png").shape == (96, 96, 3)  # 2 x 2, one cell empty
    first = (out / "face_41.png").read_bytes()
    assert main([*args, "--out-dir", str(out), "--overwrite"]) == 0
    assert (out / "face_41.png").read_bytes() == first
    assert main(["generate", "--seed", str(MAX_SEED), "--count", "2", "--server", server,
                 "--out-dir", str(out)]) == 1  # fmt: skip


def test_set_edits_beyond_the_range_are_reported_per_face(
    client: GrpcClient, server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The test pack's age range is ±50 years: a face stops short of 0 or of 100, never both
    (as through Edit and Render)."""
    from facesmith_client.cli.main import main

    seeds = [21, 22, 23]
    short = {goal: [f.short_edits for f in client.generate(seeds, [EditSpec("age", mode="set",
                                                                            target=goal)]).faces]
             for goal in (0.0, 100.0)}  # fmt: skip
    for low, high in zip(short[0.0], short[100.0], strict=True):
        ((edit,),) = [s for s in (low, high) if s]
        assert (edit.name, edit.mode) == ("age", "set") and abs(edit.goal - edit.reached) > 0
    args = ["generate", "--seed", "21", "--count", "3", "--server", server]
    said = []
    for goal in (0, 100):
        assert main([*args, "--set", f"age={goal}", "--out-dir", str(tmp_path / str(goal))]) == 0
        said += [line for line in capsys.readouterr().err.splitlines() if "stopped" in line]
    assert sorted(line.split(":")[0] for line in said) == ["face_21", "face_22", "face_23"]
