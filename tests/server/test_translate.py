"""Translate (one-pass edits by a pack's students) through a real server and the CLI: the
students listed by GetInfo, the crops edited, every refusal with its status code and words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from serving import serve

from facesmith import wire
from facesmith.v1 import facesmith_pb2 as pb
from facesmith.v1 import facesmith_pb2_grpc as pb_grpc
from facesmith_client.cli.main import main
from facesmith_client.remote.client import ClientError, EditSpec
from facesmith_client.remote.grpc_client import GrpcClient
from facesmith_client.vision.images import read_image


@pytest.fixture()
def address(student_pack: Path) -> Iterator[str]:
    server, where = serve(student_pack)
    yield where
    server.stop(grace=None)


def crops(count: int, size: int = 64) -> list[np.ndarray]:
    return [np.random.default_rng(i).integers(0, 256, (size, size, 3), np.uint8)
            for i in range(count)]  # fmt: skip


def code_of(address: str, request: pb.TranslateRequest) -> tuple[grpc.StatusCode, str]:
    with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError) as err:
        pb_grpc.FacesmithStub(channel).Translate(request, timeout=30)
    return err.value.code(), err.value.details()


def test_students_are_listed_and_edit_crops_in_one_pass(address: str) -> None:
    with GrpcClient(address) as client:
        info = client.info()
        assert [(s.name, s.edit, s.mode, s.min, s.max) for s in info.students] == [
            ("age", "age", "relative", -50.0, 50.0),
            ("gender-swap", "gender", "swap", 0.0, 0.0),
        ]
        faces = crops(3)
        older = client.translate(faces, [EditSpec("age", 40.0)]).faces
        swapped = client.translate(faces, [EditSpec("gender", mode="swap")]).faces
        both = client.translate(faces, [EditSpec("age", 40.0), EditSpec("gender", mode="swap")])
        sixteen = client.translate(faces[:1], [EditSpec("age", 40.0)], output_dtype=np.uint16)
    assert [f.image.shape for f in older] == [(64, 64, 3)] * 3
    assert np.abs(swapped[0].image.astype(int) - faces[0]).max() <= 1  # untrained: no change
    assert not np.array_equal(older[0].image, faces[0])
    assert np.abs(both.faces[0].image.astype(int) - older[0].image).max() <= 1
    assert sixteen.faces[0].image.dtype == np.uint16


def test_bad_one_pass_requests_are_refused_in_words(address: str) -> None:
    face = [wire.encode_image(crops(1)[0])]

    def spec(name: str, strength: float = 0.0, mode: int = 0) -> pb.EditSpec:
        return pb.EditSpec(name=name, strength=strength, mode=mode)

    bad = {
        "no edits given": pb.TranslateRequest(faces=face),
        "no student makes the edit 'bald'": pb.TranslateRequest(
            faces=face, edits=[spec("bald", 1)]
        ),
        "outside [-50.0, 50.0]": pb.TranslateRequest(faces=face, edits=[spec("age", 80)]),
        "in mode 'set'": pb.TranslateRequest(
            faces=face, edits=[spec("age", mode=pb.EditSpec.MODE_SET)]
        ),
        "no faces": pb.TranslateRequest(edits=[spec("age", 1)]),
        "cannot hold": pb.TranslateRequest(
            faces=face, edits=[pb.EditSpec(name="age", strength=1, hold=["gender"])]
        ),
        "32x32": pb.TranslateRequest(
            faces=[wire.encode_image(crops(1, 32)[0])], edits=[spec("age", 1)]
        ),
    }
    for words, request in bad.items():
        code, details = code_of(address, request)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and words in details, (words, details)


def test_a_pack_without_students_says_so(server: str) -> None:
    request = pb.TranslateRequest(
        faces=[wire.encode_image(crops(1)[0])], edits=[pb.EditSpec(name="age", strength=1)]
    )
    code, details = code_of(server, request)
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "has no students" in details
    with GrpcClient(server) as client:
        assert client.info().students == ()
        with pytest.raises(ClientError) as err:
            client.translate(crops(1), [EditSpec("age", 1.0)])
    assert err.value.code == "failed_precondition"


def test_edit_fast_on_a_real_photo(
    address: str, server: str, photos_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = photos_dir / "whole" / "obama.jpg"
    argv = ["edit", str(photo), "--fast", "--age", "40", "--out-dir", str(tmp_path)]
    assert main([*argv, "--server", address]) == 0, capsys.readouterr().err
    source, out = read_image(photo), read_image(tmp_path / "obama_facesmith.jpg")
    changed = np.any(np.abs(out.astype(int) - source) > 8, axis=2)
    assert out.shape == source.shape and changed.any()
    rows, cols = np.nonzero(changed)
    height, width = source.shape[:2]  # the change stays on the head (its hair nears the top)
    assert np.percentile(rows, 99) < 0.5 * height and cols.min() > 0.02 * width
    assert changed.mean() < 0.2  # not the frame
    assert main([*argv, "--server", address, "--overwrite", "--sweep", "age"]) == 1
    assert "cannot be combined with --fast" in capsys.readouterr().err
    assert main([*argv, "--server", address, "--overwrite", "--bald", "1"]) == 1
    assert "no one-pass edit makes bald" in capsys.readouterr().err
    assert main([*argv, "--server", server, "--overwrite"]) == 1
    assert "has no one-pass edits" in capsys.readouterr().err
    assert main(["info", "--server", address]) == 0
    assert "one-pass (edit --fast)" in capsys.readouterr().out


def test_hosts_ask_for_one_pass_edits_through_the_worker(address: str, photos_dir: Path) -> None:
    import sys

    from facesmith_host import jobs
    from facesmith_host.link import WorkerError, WorkerLink

    photo = read_image(photos_dir / "whole" / "obama.jpg")
    alpha = np.full((*photo.shape[:2], 1), 128, np.uint8)
    bgra = np.ascontiguousarray(np.concatenate([photo[:, :, ::-1], alpha], axis=2))
    image = jobs.HostImage(photo.shape[1], photo.shape[0], 4, "u8", "BGRA", bgra.tobytes())
    link = WorkerLink([sys.executable, "-m", "facesmith_client.host.worker", "--server", address])
    try:
        status = jobs.server_info(link)
        assert status.fast == (("age", "relative"), ("gender", "swap"))
        assert status.has_fast([("age", 20.0)]) and status.has_fast(
            [jobs.HostEdit("gender", mode="swap")]
        )
        assert not status.has_fast([("bald", 1.0)]) and not status.has_fast([])
        outcome = jobs.edit(link, image, [("age", 40.0)], fast=True)
        after = np.frombuffer(outcome.data, np.uint8).reshape(bgra.shape)
        assert outcome.faces_edited == 1 and np.any(after != bgra)
        assert np.array_equal(after[:, :, 3], bgra[:, :, 3])
        with pytest.raises(WorkerError, match="no one-pass edit makes bald"):
            jobs.edit(link, image, [("bald", 1.0)], fast=True)
    finally:
        link.close()


def test_batch_fast_edits_a_folder_in_one_pass(
    address: str, photos_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("obama.jpg", "two_people.jpg"):
        shutil.copy(photos_dir / "whole" / name, folder / name)
    argv = ["batch", str(folder), str(tmp_path / "out"), "--fast", "--age", "40"]
    assert main([*argv, "--server", address]) == 0, capsys.readouterr().err
    for name in ("obama.jpg", "two_people.jpg"):
        source, out = read_image(folder / name), read_image(tmp_path / "out" / name)
        assert out.shape == source.shape and np.any(np.abs(out.astype(int) - source) > 8)
    assert main([*argv, "--server", address, "--bald", "1", "--overwrite"]) == 1
    assert "no one-pass edit makes bald" in capsys.readouterr().err
