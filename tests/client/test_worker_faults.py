"""The worker under hostile frames and faults (issue 15, findings 7 and 8): every frame gets
a reply and the worker goes on; bad faces are the caller's error; a dead local server is
started again."""

from __future__ import annotations

import io
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from facesmith_client.host.session import HostSession
from facesmith_client.host.worker import Worker
from facesmith_client.remote.fake_client import FakeClient
from facesmith_host import jobs, protocol
from facesmith_host.link import WorkerLink
from facesmith_host.protocol import Array

LANDMARKS = [[40, 50], [88, 50], [64, 75], [45, 100], [83, 100]]
BOX = [20, 20, 108, 120]


def frame_bytes(header: dict, arrays: tuple[Array, ...] = ()) -> bytes:
    stream = io.BytesIO()
    protocol.write_frame(stream, header, arrays)
    return stream.getvalue()


def serve(data: bytes) -> tuple[int, list[protocol.Frame]]:
    out = io.BytesIO()

    def no_detector():  # type: ignore[no-untyped-def]
        raise AssertionError("these requests never need the detector")

    status = Worker(HostSession(FakeClient, no_detector), out).serve(io.BytesIO(data))
    replies = io.BytesIO(out.getvalue())
    frames = []
    while (frame := protocol.read_frame(replies)) is not None:
        frames.append(frame)
    return status, frames


def test_a_deeply_nested_header_gets_an_error_reply_and_the_worker_goes_on() -> None:
    nested = b"[" * 1000 + b"]" * 1000
    data = (
        protocol.PREFIX.pack(protocol.MAGIC, len(nested), 0)
        + nested
        + frame_bytes({"id": 2, "op": "hello"})
    )
    status, replies = serve(data)
    assert status == 0
    assert [(f.id, f.op) for f in replies] == [(0, "error"), (2, "hello")]
    assert replies[0].header["code"] == "protocol"
    assert "nested" in replies[0].header["message"]


def edit_frame(request_id: int, face: dict) -> bytes:
    image = np.full((128, 128, 4), 128, np.uint8)
    header = {
        "id": request_id,
        "op": "edit",
        "order": "RGBA",
        "edits": [{"name": "age", "strength": 10}],
        "faces": [face],
    }
    return frame_bytes(header, (Array("image", (128, 128, 4), "u8", image.tobytes()),))


@pytest.mark.parametrize(
    "face",
    [
        {"box": BOX, "landmarks": [[60, 60]] * 5},  # degenerate: every point the same
        {"box": BOX, "landmarks": [[1e30, 1e30], *LANDMARKS[1:]]},  # huge
        {"box": [float("nan"), 20, 108, 120], "landmarks": LANDMARKS},  # a NaN box
        {"box": [108, 20, 20, 120], "landmarks": LANDMARKS},  # x0 > x1
        {"box": BOX, "landmarks": [[x + 1e5, y] for x, y in LANDMARKS]},  # far outside
        {"box": BOX, "landmarks": [[64, 50], [64.5, 50], [64, 50.2], [64, 50.3], [64.4, 50.3]]},
    ],
)
def test_bad_faces_are_the_callers_error_not_a_bug(face: dict) -> None:
    status, replies = serve(edit_frame(7, face) + frame_bytes({"id": 8, "op": "hello"}))
    assert status == 0
    (reply,) = [f for f in replies if f.id == 7 and f.op != "progress"]
    assert reply.op == "error" and reply.header["code"] == "bad_request", reply.header
    assert "bug" not in reply.header["hint"].lower()
    assert any(f.id == 8 and f.op == "hello" for f in replies)


def test_a_good_face_is_still_edited() -> None:
    status, replies = serve(edit_frame(7, {"box": BOX, "landmarks": LANDMARKS}))
    assert status == 0 and [f.op for f in replies if f.id == 7][-1] == "result"


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_the_worker_starts_a_new_local_server_when_its_own_died(test_pack: Path) -> None:
    argv = [sys.executable, "-m", "facesmith_client.host.worker", "--server", "local"]
    link = WorkerLink([*argv, "--pack", str(test_pack)])
    image = jobs.HostImage(
        128, 128, 4, "u8", "RGBA", np.full((128, 128, 4), 128, np.uint8).tobytes()
    )
    face = jobs.FaceBox(0, tuple(BOX), 1.0, tuple(tuple(p) for p in LANDMARKS), True)  # type: ignore[arg-type]
    try:
        assert jobs.edit(link, image, [("age", 10.0)], faces=[face]).faces_edited == 1
        assert link._process is not None
        (first,) = _children(link._process.pid)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while first in _children(link._process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        # the next request finds it dead, starts another and succeeds
        assert jobs.edit(link, image, [("age", -10.0)], faces=[face]).faces_edited == 1
        (second,) = _children(link._process.pid)
        assert second != first
        assert "starting a new one" in link.stderr_tail()
    finally:
        link.close()
