"""Framing a drawing as a face crop and placing the face where it was drawn
(facesmith_client.pipeline.sketch), against the fake server."""

from __future__ import annotations

import numpy as np
import pytest

from facesmith_client.events import Progress
from facesmith_client.pipeline.sketch import EmptyDrawing, face_from_sketch, frame_drawing
from facesmith_client.remote.client import CancelToken, ClientError, EditSpec
from facesmith_client.remote.fake_client import FakeClient


def outline(height: int, width: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """A black rectangle outline (top, left, bottom, right) on white paper, uint8 RGB."""
    top, left, bottom, right = box
    paper = np.full((height, width, 3), 255, np.uint8)
    paper[top:bottom, [left, right - 1]] = 0
    paper[[top, bottom - 1], left:right] = 0
    return paper


def test_the_square_frames_the_lines_with_room_for_the_head() -> None:
    square, box = frame_drawing(outline(200, 300, (50, 100, 150, 180)), 64)
    assert square.shape == (64, 64, 1) and square.dtype == np.uint8
    assert box.side == round(100 * 1.3)  # the larger side of the lines, 15 % more each side
    assert (box.x + box.side / 2, box.y + box.side / 2) == (140, 100)  # centred on them
    ink = square[:, :, 0] < 200  # a 1 px line halves in strength at half the size
    rows = np.nonzero(ink)[0]
    assert rows.min() > 3 and rows.max() < 60  # the margin is paper


def test_lines_on_a_transparent_layer_frame_like_lines_on_paper() -> None:
    paper = outline(120, 120, (30, 30, 90, 90))
    layer = np.zeros((120, 120, 4), np.uint16)
    layer[:, :, 3] = (255 - paper[:, :, 0]).astype(np.uint16) * 257  # lines only, any colour
    a, box_a = frame_drawing(paper, 64)
    b, box_b = frame_drawing(layer, 64)
    assert box_a == box_b and np.array_equal(a, b)


def test_past_the_edge_is_paper_and_an_empty_drawing_is_refused() -> None:
    square, box = frame_drawing(outline(100, 100, (0, 0, 100, 100)), 32)
    assert box.x < 0 and box.y < 0 and box.side > 100
    assert square[0, 0, 0] == 255 and square[16, 16, 0] == 255  # beyond the edge; inside
    with pytest.raises(EmptyDrawing, match="no lines"):
        frame_drawing(np.full((50, 50, 3), 250, np.uint8), 32)


def test_the_face_comes_back_at_the_box_in_the_drawing_dtype() -> None:
    client = FakeClient()
    events: list[Progress] = []
    drawing = outline(400, 400, (100, 120, 260, 280)).astype(np.float32) / 255
    sketched = face_from_sketch(client, drawing, 0.1, [EditSpec("age", 50.0)],
                                on_event=events.append)  # fmt: skip
    face, box = sketched.image, sketched.box
    assert face.dtype == np.float32 and face.shape == (box.side, box.side, 3)
    assert [e.stage for e in events][-1] == "refine" and events[-1].done == 10
    assert client.calls[-1] == ("from_sketch", 1)
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(ClientError) as err:
        face_from_sketch(client, drawing, 0.5, cancel=cancel)
    assert err.value.code == "cancelled"
