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
