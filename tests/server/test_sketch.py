"""FromSketch (faces from line drawings) through a real server, the pipeline and the CLI: the
face per drawing and its handle, following the lines, every refusal with its status code."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest
import torch
from serving import serve

from facesmith import wire
from facesmith.v1 import facesmith_pb2 as pb
from facesmith.v1 import facesmith_pb2_grpc as pb_grpc
from facesmith_client.cli.main import main
from facesmith_client.events import Progress, Result
from facesmith_client.pipeline.sketch import face_from_sketch
from facesmith_client.remote.client import EditSpec, collect_result
from facesmith_client.remote.grpc_client import GrpcClient
from facesmith_client.vision.images import read_image, write_image
from facesmith_server.latent.sketch import lines_loss
from facesmith_server.model.pack import load_pack
from facesmith_server.service.engine import Engine

SIZE = 64


def drawing(size: int = SIZE, shift: int = 0) -> np.ndarray:
    """A face outline, eyes and a mouth in black on white paper, uint8 RGB."""
    import cv2

    paper = np.full((size, size, 3), 255, np.uint8)
    c, s = size // 2 + shift, size / 64
    cv2.ellipse(paper, (c, c), (int(20 * s), int(26 * s)), 0, 0, 360, (0, 0, 0), max(1, int(s)))
    for dx in (-8, 8):
        cv2.circle(paper, (c + int(dx * s), c - int(6 * s)), max(1, int(3 * s)), (0, 0, 0), -1)
    cv2.line(paper, (c - int(7 * s), c + int(12 * s)), (c + int(7 * s), c + int(12 * s)),
             (0, 0, 0), max(1, int(s)))  # fmt: skip
    return paper


def sketch_request(drawings: list[np.ndarray], **fields) -> pb.FromSketchRequest:
    return pb.FromSketchRequest(drawings=[wire.encode_image(d) for d in drawings], **fields)


def refusal(address: str, request: pb.FromSketchRequest) -> tuple[grpc.StatusCode, str]:
    with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError) as err:
        list(pb_grpc.FacesmithStub(channel).FromSketch(request, timeout=60))
    return err.value.code(), err.value.details()


def test_a_face_per_drawing_with_a_handle_that_renders_edits(sketch_server: str) -> None:
    with GrpcClient(sketch_server) as client:
        assert client.info().sketch
        events = list(client.from_sketch([drawing(), drawing(shift=3)], follow=0.0))
        result = events[-1]
        assert isinstance(result, Result) and len(result.faces) == 2
        assert [e.stage for e in events if isinstance(e, Progress)] == ["encode"]
        face = result.faces[0]
        assert face.image is not None and face.image.shape == (SIZE, SIZE, 3)
        again = collect_result(client.from_sketch([drawing(), drawing(shift=3)], follow=0.0))
        assert np.array_equal(again.faces[0].image, face.image)  # the same drawing, the same face
        assert not np.array_equal(result.faces[1].image, face.image)
        recoloured = collect_result(client.from_sketch([drawing(), drawing(shift=3)], 0.0,
                                                       seed=7)).faces[0]  # fmt: skip
        assert np.abs(recoloured.image.astype(int) - face.image.astype(int)).mean() > 1
        assert np.array_equal(recoloured.latent[:8], face.latent[:8])  # the drawing's rows
        plain = client.render([face.handle]).faces[0].image
        assert np.array_equal(plain, face.image)
        older = client.render([face.handle], [EditSpec("age", 40.0)]).faces[0].image
        assert np.abs(older.astype(int) - plain.astype(int)).mean() > 0.5


def test_following_the_lines_draws_the_face_closer_to_them(sketch_pack: Path) -> None:
    device = torch.device("cpu")
    engine = Engine(load_pack(sketch_pack, device), device)
    steps: list[tuple[str, int, int]] = []
    loose = engine.from_sketch([drawing()], 0.0)[0]
    close = engine.from_sketch(
        [drawing()], 0.5, on_progress=lambda s, d, t, _: steps.append((s, d, t))
    )[0]
    assert steps[-1] == ("follow", 50, 50)
    ink = engine._drawings_to_ink([drawing()])
    images = engine.render([loose.latent, close.latent])
    renders = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2) * 2 - 1
    before, after = lines_loss(renders, ink.expand(2, -1, -1, -1)).tolist()
    assert after < 0.9 * before


def test_refusals_name_what_is_wrong(sketch_server: str, test_pack: Path) -> None:
    white = np.full((SIZE, SIZE, 3), 255, np.uint8)
    black = np.zeros((SIZE, SIZE, 3), np.uint8)
    cases = [
        (sketch_request([white]), "has no lines"),
        (sketch_request([black]), "mostly ink"),
        (sketch_request([drawing(32)]), "needs 64x64 drawings"),
        (sketch_request([drawing()], follow=1.5), "follow must be in [0, 1]"),
        (sketch_request([drawing()], seed=2**40), "seed 1099511627776 is out of range"),
        (sketch_request([]), "no drawings"),
        (sketch_request([drawing()], edits=[pb.EditSpec(name="nose", strength=1)]), "unknown edit"),
    ]
    for request, words in cases:
        code, details = refusal(sketch_server, request)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and words in details, (words, details)
    server, plain = serve(test_pack)
    try:
        code, details = refusal(plain, sketch_request([drawing()]))
    finally:
        server.stop(grace=None)
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "no sketch encoder" in details


def test_the_face_lands_where_the_drawing_was(sketch_server: str) -> None:
    layer = np.zeros((300, 400, 4), np.uint8)  # lines on a transparent layer
    lines = drawing(120)
    layer[100:220, 200:320, 3] = 255 - lines[:, :, 0]
    with GrpcClient(sketch_server) as client:
        sketched = face_from_sketch(client, layer, follow=0.0)
    face, box = sketched.image, sketched.box
    assert sketched.short_edits == ()
    assert face.shape == (box.side, box.side, 3) and face.dtype == np.uint8
    assert abs(box.x + box.side / 2 - 260) <= 2 and abs(box.y + box.side / 2 - 160) <= 2
    assert 100 < box.side < 160  # the lines' box and a margin for the head around them


def test_cli_writes_a_face_per_drawing(sketch_server: str, tmp_path: Path, capsys) -> None:
    assert main(["info", "--server", sketch_server]) == 0
    assert "faces from line drawings: facesmith sketch" in capsys.readouterr().out
    write_image(tmp_path / "lines.png", drawing(128))
    write_image(tmp_path / "blank.png", np.full((50, 50, 3), 255, np.uint8))
    drawings = [str(tmp_path / "lines.png"), str(tmp_path / "blank.png")]
    argv = ["sketch", *drawings, "--follow", "0", "--age", "10", "--server", sketch_server,
            "--out-dir", str(tmp_path / "out")]  # fmt: skip
    assert main(argv) == 1  # the blank page is skipped, with the reason
    out = capsys.readouterr()
    assert "has no lines" in out.err
    face = read_image(tmp_path / "out" / "lines_facesmith_face.png")
    assert face.shape[2] == 3 and 100 < face.shape[0] == face.shape[1] < 160
    assert out.out.strip() == str(tmp_path / "out" / "lines_facesmith_face.png")


def test_set_edits_beyond_the_range_are_reported(
    sketch_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The test pack's age range is ±50 years: the face stops short of 0 or of 100, never
    both; the CLI says which, as `edit` does."""
    with GrpcClient(sketch_server) as client:
        short = [face_from_sketch(client, drawing(), follow=0.0,
                                  edits=[EditSpec("age", mode="set", target=goal)]).short_edits
                 for goal in (0.0, 100.0)]  # fmt: skip
    ((edit,),) = [s for s in short if s]
    assert (edit.name, edit.mode) == ("age", "set") and edit.goal in (0.0, 100.0)
    write_image(tmp_path / "lines.png", drawing(128))
    said = []
    for goal in (0, 100):
        argv = ["sketch", str(tmp_path / "lines.png"), "--follow", "0", "--set", f"age={goal}",
                "--server", sketch_server, "--out-dir", str(tmp_path / str(goal))]  # fmt: skip
        assert main(argv) == 0
        said += [line for line in capsys.readouterr().err.splitlines() if "stopped" in line]
    (line,) = said
    assert line.startswith(f"{tmp_path / 'lines.png'}: age stopped at ")
    assert f"short of the {edit.goal:.0f} asked for" in line
