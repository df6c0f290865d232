"""The runtime worker as adapters use it: a child process behind WorkerLink, a real server.

Layers travel as hosts hand them over (Krita's B,G,R,A integers, half floats, …) and must come
back in the same layout with only the faces changed.
"""

from __future__ import annotations

import io
import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facesmith_client.host.session import HostSession
from facesmith_client.host.worker import Worker
from facesmith_client.remote.client import ClientError
from facesmith_client.remote.fake_client import FakeClient
from facesmith_client.vision.images import read_image
from facesmith_host import jobs, protocol
from facesmith_host.config import (
    RuntimeConfig,
    RuntimeNotInstalled,
    load_config,
    save_config,
    worker_command,
)
from facesmith_host.link import WorkerError, WorkerLink


@pytest.fixture(scope="module")
def link(server: str):
    worker = WorkerLink([sys.executable, "-m", "facesmith_client.host.worker", "--server", server])
    yield worker
    worker.close()


def host_image(photo: np.ndarray, dtype: str, order: str) -> jobs.HostImage:
    data = photo[:, :, [2, 1, 0, 3]] if order == "BGRA" else photo
    height, width, channels = photo.shape
    return jobs.HostImage(
        width, height, channels, dtype, order, np.ascontiguousarray(data).tobytes()
    )


def rgba(photo: np.ndarray) -> np.ndarray:
    alpha = np.full((*photo.shape[:2], 1), np.iinfo(photo.dtype).max // 2, photo.dtype)
    return np.concatenate([photo, alpha], axis=2)


def changed_outside(before: np.ndarray, after: np.ndarray, faces: list[jobs.FaceBox]) -> int:
    """Pixels that changed outside the faces' boxes grown to twice their size."""
    outside = np.ones(before.shape[:2], dtype=bool)
    for face in faces:
        x0, y0, x1, y1 = face.box
        w, h = x1 - x0, y1 - y0
        outside[max(0, int(y0 - h)) : int(y1 + h), max(0, int(x0 - w)) : int(x1 + w)] = False
    return int(np.any(before != after, axis=2)[outside].sum())


def test_edit_of_a_krita_layer_changes_only_the_face_and_keeps_alpha(link, photos_dir: Path):
    photo = rgba(read_image(photos_dir / "whole" / "obama.jpg"))
    image = host_image(photo, "u8", "BGRA")
    faces = jobs.detect(link, image)
    progress: list[float] = []
    outcome = jobs.edit(link, image, [("age", 30.0)], on_progress=lambda f, _: progress.append(f))
    after = np.frombuffer(outcome.data, np.uint8).reshape(photo.shape)
    before = np.frombuffer(image.data, np.uint8).reshape(photo.shape)
    assert len(faces) == 1 and outcome.faces_edited == 1
    assert np.any(after != before), "the face was not edited"
    assert changed_outside(before, after, faces) == 0
    np.testing.assert_array_equal(after[:, :, 3], before[:, :, 3])
    assert progress and progress[-1] == 1.0
    preview = jobs.edit(link, image, [("age", -30.0)], preview=True)
    assert bytes(preview.data) != bytes(outcome.data)


def test_the_swap_gender_preset_swaps_each_face_through_the_worker(link, photos_dir: Path):
    photo = rgba(read_image(photos_dir / "whole" / "obama.jpg"))
    image = host_image(photo, "u8", "BGRA")
    status = jobs.server_info(link)
    assert status.edit("gender").swappable and not status.edit("bald").swappable
    preset = next(p for p in jobs.PRESETS if p.key == "swap_gender")
    edit = jobs.preset_edit(preset, status)
    assert edit == jobs.HostEdit("gender", mode="swap")
    assert jobs.layer_name([edit, ("age", 20.0)]) == "facesmith: gender swapped, age +20"
    outcome = jobs.edit(link, image, [edit])
    after = np.frombuffer(outcome.data, np.uint8).reshape(photo.shape)
    assert outcome.faces_edited == 1 and np.any(after != photo[:, :, [2, 1, 0, 3]])
    absolute = jobs.edit(link, image, [jobs.HostEdit("age", mode="set", target=70.0)])
    assert bytes(absolute.data) != bytes(image.data)
    # the test pack's age range is ±50 years: the face stops short of 0 or of 100, not both
    notes = [jobs.edit(link, image, [jobs.HostEdit("age", mode="set", target=goal)]).notes
             for goal in (0.0, 100.0)]  # fmt: skip
    (note,) = notes[0] + notes[1]
    goal = 0 if notes[0] else 100
    assert note.startswith("face 1: age stopped") and f"short of the {goal} asked for" in note
    with pytest.raises(WorkerError, match="cannot be swapped"):
        jobs.edit(link, image, [jobs.HostEdit("age", mode="swap")])


@pytest.mark.parametrize(
    ("dtype", "order", "numpy_dtype"), [("u16", "BGRA", "<u2"), ("f16", "RGBA", "<f2")]
)
def test_deep_layers_come_back_in_their_own_depth(
    link, photos_dir: Path, dtype, order, numpy_dtype
):
    photo8 = rgba(read_image(photos_dir / "whole" / "biden.jpg"))
    photo = (
        (photo8.astype(np.uint16) * 257) if dtype == "u16" else (photo8 / 255).astype(np.float16)
    )
    image = host_image(photo, dtype, order)
    outcome = jobs.edit(link, image, [("gender", -1.5)])
    after = np.frombuffer(outcome.data, numpy_dtype).reshape(photo.shape)
    before = np.frombuffer(image.data, numpy_dtype).reshape(photo.shape)
    faces = jobs.detect(link, image)
    assert np.any(after != before)
    assert changed_outside(before, after, faces) == 0


def test_a_selection_limits_the_edit_to_the_faces_inside_it(link, photos_dir: Path):
    photo = rgba(read_image(photos_dir / "whole" / "two_people.jpg"))
    height, width = photo.shape[:2]
    image = host_image(photo, "u8", "RGBA")
    faces = jobs.detect(link, image)
    assert len(faces) == 2
    left, right = faces
    split = int((left.box[2] + right.box[0]) / 2)
    mask = np.zeros((height, width), np.uint8)
    mask[:, :split] = 255
    selection = jobs.Selection(width, height, mask.tobytes())
    assert [f.in_selection for f in jobs.detect(link, image, selection)] == [True, False]
    outcome = jobs.edit(link, image, [("smile", 2.0)], selection=selection)
    after = np.frombuffer(outcome.data, np.uint8).reshape(photo.shape)
    assert outcome.faces_edited == 1
    assert np.any(after[:, :split] != photo[:, :split])
    np.testing.assert_array_equal(after[:, split:], photo[:, split:])


def test_user_errors_are_reported_and_the_worker_keeps_serving(link, photos_dir: Path):
    blank = jobs.HostImage(96, 96, 4, "u8", "BGRA", bytes(96 * 96 * 4))
    with pytest.raises(WorkerError) as no_face:
        jobs.edit(link, blank, [("age", 10.0)])
    assert no_face.value.code == "no_face" and no_face.value.hint
    photo = rgba(read_image(photos_dir / "whole" / "obama.jpg"))
    with pytest.raises(WorkerError) as unknown:
        jobs.edit(link, host_image(photo, "u8", "BGRA"), [("wings", 1.0)])
    assert unknown.value.code == "unknown_edit" and "wings" in unknown.value.message
    with pytest.raises(WorkerError) as outside:
        jobs.edit(link, host_image(photo, "u8", "BGRA"), [("age", 500.0)])
    assert outside.value.code == "unknown_edit" and "outside its range" in outside.value.message
    gray = jobs.HostImage(4, 4, 2, "u8", "GA", bytes(32))
    with pytest.raises(WorkerError) as mode:
        jobs.detect(link, gray)
    assert mode.value.code == "unsupported_image" and "RGB" in str(mode.value)
    assert jobs.server_info(link).pack == "test"


def test_an_unreachable_server_says_how_to_start_one():
    dead = WorkerLink(
        [sys.executable, "-m", "facesmith_client.host.worker", "--server", "127.0.0.1:9"]
    )
    try:
        with pytest.raises(WorkerError) as caught:
            jobs.server_info(dead)
    finally:
        dead.close()
    assert caught.value.code == "unavailable" and "facesmith-server" in caught.value.hint


# -- the link: crashes, restarts, a missing runtime ----------------------------------------------

CRASHING_WORKER = """
import sys
from facesmith_host import protocol
with open(sys.argv[1], "a") as starts:
    starts.write("start\\n")
frame = protocol.read_frame(sys.stdin.buffer)
protocol.write_frame(sys.stdout.buffer, {"id": frame.id, "op": "hello", "protocol": 1})
protocol.read_frame(sys.stdin.buffer)
print("segfault in a native library", file=sys.stderr, flush=True)
sys.exit(3)
"""


def test_a_dying_worker_gives_a_clear_error_and_restarts_on_next_use(tmp_path: Path):
    starts = tmp_path / "starts"
    link = WorkerLink([sys.executable, "-c", CRASHING_WORKER, str(starts)])
    for attempt in (1, 2):
        with pytest.raises(WorkerError) as caught:
            link.request("info")
        assert caught.value.code == "worker_died"
        assert "exit code 3" in caught.value.message
        assert "segfault in a native library" in caught.value.message
        assert starts.read_text().count("start") == attempt
    link.close()


def test_a_missing_runtime_says_to_run_the_installer(tmp_path: Path):
    link = WorkerLink([str(tmp_path / "no-such-python"), "-m", "facesmith_client.host.worker"])
    with pytest.raises(WorkerError) as caught:
        link.request("info")
    assert caught.value.code == "not_installed" and "installer" in caught.value.hint


class BlockingSession(HostSession):
    """Edits wait until cancelled, so cancelling is tested without racing a real job."""

    def __init__(self) -> None:
        super().__init__(FakeClient, lambda: None)  # type: ignore[arg-type, return-value]
        self.started = threading.Event()

    def edit(self, frame, cancel, on_event):  # type: ignore[override]
        self.started.set()
        while not cancel.cancelled:
            cancel._event.wait(0.05)
        raise ClientError("cancelled", "cancelled")


def test_cancel_stops_the_running_request():
    read_fd, write_fd = os.pipe()
    out = io.BytesIO()
    session = BlockingSession()
    worker = Worker(session, out)
    served = threading.Thread(target=worker.serve, args=(os.fdopen(read_fd, "rb"),))
    served.start()
    with os.fdopen(write_fd, "wb") as requests:
        protocol.write_frame(requests, {"id": 5, "op": "edit"})
        assert session.started.wait(10)
        protocol.write_frame(requests, {"id": 6, "op": "cancel", "target": 5})
    served.join(10)
    assert not served.is_alive()
    replies = io.BytesIO(out.getvalue())
    reply = protocol.read_frame(replies)
    assert reply is not None and (reply.id, reply.op, reply.header["code"]) == (
        5,
        "error",
        "cancelled",
    )


# -- where the runtime lives ---------------------------------------------------------------------


def test_runtime_config_round_trips_privately(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("FACESMITH_RUNTIME_CONFIG", str(tmp_path / "cfg" / "runtime.json"))
    monkeypatch.setenv("PYTHONPATH", "/host/only")
    path = save_config(
        RuntimeConfig(python="/opt/rt/bin/python", server="127.0.0.1:5000", token="s3")
    )
    assert path == tmp_path / "cfg" / "runtime.json"
    assert path.stat().st_mode & 0o077 == 0
    config = load_config()
    assert config == RuntimeConfig("/opt/rt/bin/python", "127.0.0.1:5000", "s3")
    argv, env = worker_command(config)
    assert argv == [
        "/opt/rt/bin/python",
        "-m",
        "facesmith_client.host.worker",
        "--server",
        "127.0.0.1:5000",
    ]
    assert env["FACESMITH_TOKEN"] == "s3" and "PYTHONPATH" not in env


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{", "cannot read"),
        ('{"version": 1}', "does not name"),
        ('{"version": 9, "python": "p"}', "version 9"),
    ],
)
def test_a_missing_or_broken_config_says_to_run_the_installer(tmp_path: Path, content, message):
    path = tmp_path / "runtime.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(RuntimeNotInstalled, match=message) as caught:
        load_config(path)
    assert caught.value.code == "not_installed" and "installer" in caught.value.hint


# -- a face that does not exist ------------------------------------------------------------------


def test_generate_makes_a_face_as_large_as_fits_the_rectangle(link: WorkerLink) -> None:
    face = jobs.generate(link, 7, 300, 200, dtype="u8", order="BGRA")
    layer = face.image
    assert (layer.width, layer.height, layer.channels) == (200, 200, 4)
    assert (face.left, face.top) == (50, 0)  # centred
    pixels = np.frombuffer(layer.data, np.uint8).reshape(200, 200, 4)
    assert (pixels[:, :, 3] == 255).all()
    assert pixels[:, :, :3].std() > 5  # a face, not a flat fill
    again = jobs.generate(link, 7, 300, 200, dtype="u8", order="BGRA")
    assert again.image.data == layer.data  # the same seed, the same face
    other = jobs.generate(link, 8, 300, 200, dtype="u8", order="BGRA")
    assert other.image.data != layer.data
    deep = jobs.generate(link, 7, 64, 90, dtype="u16", order="RGBA", edits=[("age", 20.0)])
    assert len(deep.image.data) == 64 * 64 * 4 * 2 and (deep.left, deep.top) == (0, 13)
    assert face.notes == deep.notes == ()


def test_generate_says_when_a_set_edit_stopped_short(link: WorkerLink) -> None:
    """The test pack's age range is ±50 years: the face stops short of 0 or of 100."""
    notes = [jobs.generate(link, 7, 64, 64, edits=[jobs.HostEdit("age", mode="set",
                                                                 target=goal)]).notes
             for goal in (0.0, 100.0)]  # fmt: skip
    (note,) = notes[0] + notes[1]
    goal = 0 if notes[0] else 100
    assert note.startswith("age stopped") and f"short of the {goal} asked for" in note


@pytest.mark.parametrize(
    ("seed", "width", "order", "truncation", "message"),
    [
        (-1, 64, "RGBA", None, "seed must be"),
        (2**32, 64, "RGBA", None, "seed must be"),
        (1, 0, "RGBA", None, "width must be"),
        (1, 64, "RGB", None, "4 channels"),
        (1, 64, "RGBA", 2.0, "truncation"),
    ],
)
def test_generate_refuses_bad_requests(
    link: WorkerLink, seed: int, width: int, order: str, truncation: float | None, message: str
) -> None:
    with pytest.raises(WorkerError) as info:
        jobs.generate(link, seed, width, 64, order=order, truncation=truncation)
    assert info.value.code == "bad_request" and message in str(info.value)


# -- a face from a sketch -------------------------------------------------------------------------

FAKE_WORKER = """
import sys
from facesmith_client.host.session import HostSession
from facesmith_client.host.worker import Worker, protocol_stdout
from facesmith_client.remote.fake_client import FakeClient
out = protocol_stdout()
sys.exit(Worker(HostSession(FakeClient, lambda: None), out).serve(sys.stdin.buffer))
"""


@pytest.fixture()
def fake_link():
    """The real worker process in front of the fake server (whose packs draw sketches)."""
    worker = WorkerLink([sys.executable, "-c", FAKE_WORKER])
    yield worker
    worker.close()


def drawn_layer(
    height: int, width: int, faces: list[tuple[int, int]], dtype=np.uint8, channels: int = 4
) -> np.ndarray:
    """Face outlines with eyes in black around each (x, y): on a transparent layer (4
    channels) or on white paper (3)."""
    import cv2

    layer = np.zeros((height, width, 4), np.uint8)
    for x, y in faces:
        cv2.ellipse(layer, (x, y), (40, 52), 0, 0, 360, (0, 0, 0, 255), 3)
        for dx in (-16, 16):
            cv2.circle(layer, (x + dx, y - 13), 5, (0, 0, 0, 255), -1)
    if np.issubdtype(dtype, np.floating):
        top, layer = 1.0, (layer / 255).astype(dtype)
    else:
        top, layer = np.iinfo(dtype).max, layer.astype(dtype) * (np.iinfo(dtype).max // 255)
    if channels == 3:
        return np.repeat(top - layer[:, :, 3:], 3, axis=2)
    return layer


def expected_box(layer: np.ndarray):
    from facesmith_client.pipeline.sketch import frame_drawing

    return frame_drawing(layer, 64)[1]


def test_sketch_makes_an_opaque_face_where_the_lines_were_drawn(fake_link: WorkerLink) -> None:
    drawing = drawn_layer(240, 300, [(200, 120)])
    image = host_image(drawing, "u8", "BGRA")
    progress: list[tuple[float, str]] = []
    status = jobs.server_info(fake_link)
    assert status.sketch
    status.check_sketch()
    face = jobs.sketch(fake_link, image, 0.2, on_progress=lambda f, s: progress.append((f, s)))
    box = expected_box(drawing)
    assert (face.left, face.top) == (box.x, box.y)
    layer = face.image
    assert (layer.width, layer.height, layer.channels) == (box.side, box.side, 4)
    assert (layer.dtype, layer.order) == ("u8", "BGRA")
    pixels = np.frombuffer(layer.data, np.uint8).reshape(box.side, box.side, 4)
    assert (pixels[:, :, 3] == 255).all()
    # the fake server's face is the drawing's lines, dark on skin: dark where the lines are
    lines = drawing[box.y : box.y + box.side, box.x : box.x + box.side, 3] > 0
    assert pixels[:, :, :3][lines].mean() < pixels[:, :, :3][~lines].mean() - 50
    assert progress and progress[-1][0] == 1.0 and {s for _, s in progress} >= {"refine"}


def test_sketch_keeps_the_drawings_depth_clips_to_the_canvas_and_honours_the_selection(
    fake_link: WorkerLink,
) -> None:
    paper = drawn_layer(200, 400, [(60, 100), (330, 100)], np.uint16, channels=3)
    image = host_image(paper, "u16", "RGB")
    mask = np.zeros((200, 400), np.uint8)
    mask[:, 200:] = 255  # the right face only
    selection = jobs.Selection(400, 200, mask.tobytes())
    canvas = (0, 0, 380, 200)  # the face is cut 20 px from the drawing's right edge
    face = jobs.sketch(fake_link, image, 0.0, selection=selection, canvas=canvas)
    right = paper.copy()
    right[:, :200] = np.iinfo(np.uint16).max  # what the selection leaves: the right face
    box = expected_box(right)
    assert (face.left, face.top) == (box.x, max(box.y, 0))
    assert face.image.width == 380 - box.x
    assert face.image.height == min(box.y + box.side, 200) - max(box.y, 0)
    assert (face.image.dtype, face.image.order, face.image.channels) == ("u16", "RGBA", 4)
    pixels = np.frombuffer(face.image.data, "<u2").reshape(face.image.height, face.image.width, 4)
    assert (pixels[:, :, 3] == 65535).all()
    with pytest.raises(WorkerError) as off:
        jobs.sketch(fake_link, image, 0.0, canvas=(500, 0, 100, 100))
    assert off.value.code == "bad_request" and "off the canvas" in off.value.message


def test_sketch_refuses_an_empty_drawing_and_bad_requests(fake_link: WorkerLink) -> None:
    empty = host_image(np.zeros((80, 80, 4), np.uint8), "u8", "BGRA")
    with pytest.raises(WorkerError) as no_lines:
        jobs.sketch(fake_link, empty)
    assert no_lines.value.code == "no_lines"
    assert "Draw dark lines on the layer first" in no_lines.value.hint
    drawing = host_image(drawn_layer(160, 160, [(80, 80)]), "u8", "BGRA")
    mask = np.zeros((160, 160), np.uint8)  # a selection with no lines in it
    mask[:20, :20] = 255
    with pytest.raises(WorkerError) as outside:
        jobs.sketch(fake_link, drawing, selection=jobs.Selection(160, 160, mask.tobytes()))
    assert outside.value.code == "no_lines"
    bad_fields: list[tuple[dict[str, Any], str]] = [
        ({"follow": 1.5}, "follow must be"),
        ({"follow": True}, "follow must be"),
        ({"canvas": [0, 0, 0, 10]}, "canvas must be"),
        ({"canvas": "all"}, "canvas must be"),
        ({"edits": [{"name": "wings", "strength": 1}]}, "wings"),
    ]
    for fields, words in bad_fields:
        header = {"order": "BGRA", "follow": 0.5, **fields}
        with pytest.raises(WorkerError) as bad:
            fake_link.request("sketch", header, [drawing.array()])
        assert words in bad.value.message, (fields, bad.value)
    with pytest.raises(WorkerError) as no_image:
        fake_link.request("sketch", {"order": "BGRA"})
    assert no_image.value.code == "bad_request"
    assert jobs.server_info(fake_link).pack == "fake"  # the worker kept serving


def test_sketch_is_refused_by_a_pack_without_a_sketch_encoder(link: WorkerLink) -> None:
    status = jobs.server_info(link)
    assert not status.sketch
    with pytest.raises(WorkerError) as hosts:
        status.check_sketch()
    drawing = host_image(drawn_layer(160, 160, [(80, 80)]), "u8", "BGRA")
    with pytest.raises(WorkerError) as worker:
        jobs.sketch(link, drawing)
    assert hosts.value.code == worker.value.code == "no_sketch"
    assert str(hosts.value) == str(worker.value) == str(jobs.no_sketch("test"))
    assert "cannot make faces from sketches" in hosts.value.message


def test_sketch_through_a_real_server_with_a_sketch_encoder(sketch_pack: Path) -> None:
    import torch

    from facesmith_server.model.pack import load_pack
    from facesmith_server.service.engine import Engine
    from facesmith_server.service.servicer import create_server

    device = torch.device("cpu")
    engine = Engine(load_pack(sketch_pack, device), device, default_refine_steps=0)
    grpc_server, port = create_server("127.0.0.1:0", engine)
    argv = [sys.executable, "-m", "facesmith_client.host.worker", "--server", f"127.0.0.1:{port}"]
    worker = WorkerLink(argv)
    drawing = drawn_layer(200, 260, [(130, 100)], np.float16)
    try:
        assert jobs.server_info(worker).sketch
        stages: list[str] = []
        face = jobs.sketch(
            worker,
            host_image(drawing, "f16", "RGBA"),
            0.05,
            edits=[("age", 20.0)],
            on_progress=lambda _f, s: stages.append(s),
        )
    finally:
        worker.close()
        grpc_server.stop(grace=None)
    box = expected_box(drawing.astype(np.float32))  # f16 layers travel widened to f32
    assert (face.left, face.top, face.image.width) == (box.x, box.y, box.side)
    assert (face.image.dtype, face.image.order) == ("f16", "RGBA")
    pixels = np.frombuffer(face.image.data, "<f2").reshape(box.side, box.side, 4)
    assert (pixels[:, :, 3] == 1).all() and pixels[:, :, :3].std() > 0.01
    assert {"encode", "follow"} <= set(stages)


class BlockingSketchClient(FakeClient):
    """Faces from sketches that wait until cancelled: cancelling is tested without racing."""

    started = threading.Event()

    def from_sketch(
        self, drawings, follow=0.5, edits=(), *, seed=0, output_dtype=np.uint8, cancel=None
    ):
        def events():
            self.started.set()
            while cancel is not None and not cancel.cancelled:
                cancel.wait(0.05)
            raise ClientError("cancelled", "cancelled")
            yield  # a generator, as the real clients' calls

        return events()


def test_cancel_stops_a_running_sketch():
    read_fd, write_fd = os.pipe()
    out = io.BytesIO()
    worker = Worker(HostSession(BlockingSketchClient, lambda: None), out)  # type: ignore[arg-type, return-value]
    served = threading.Thread(target=worker.serve, args=(os.fdopen(read_fd, "rb"),))
    served.start()
    drawing = host_image(drawn_layer(160, 160, [(80, 80)]), "u8", "BGRA").array()
    with os.fdopen(write_fd, "wb") as requests:
        protocol.write_frame(requests, {"id": 5, "op": "sketch", "order": "BGRA"}, (drawing,))
        assert BlockingSketchClient.started.wait(10)
        protocol.write_frame(requests, {"id": 6, "op": "cancel", "target": 5})
    served.join(10)
    assert not served.is_alive()
    reply = protocol.read_frame(io.BytesIO(out.getvalue()))
    assert reply is not None and (reply.id, reply.op, reply.header["code"]) == (
        5,
        "error",
        "cancelled",
    )
