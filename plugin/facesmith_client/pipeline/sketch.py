"""A drawing in, a face out: frame the drawing's lines as an aligned crop is framed → the
server's sketch encoder (and refinement against the lines) → the face, placed where the
drawing was.

Drawings follow facesmith.pixels (dark lines on light paper, or on a transparent layer:
pixels.ink); faces come back in the drawing's dtype, RGB.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from facesmith import pixels
from facesmith.quality import DEFAULT_FOLLOW
from facesmith_client.events import Progress, ShortEdit
from facesmith_client.remote.client import CancelToken, EditSpec, FacesmithClient, collect_result

ProgressFn = Callable[[Progress], None]

INKED = 0.1  # a pixel with this much ink is part of a line
# An aligned crop's head outline spans about three quarters of its side: the square sent
# around the lines' bounding box is this much larger than the box on each side.
HEAD_MARGIN = 0.15


class EmptyDrawing(ValueError):
    """The drawing has no lines."""


@dataclass(frozen=True)
class Box:
    """A square in the drawing's pixels (it may reach past the drawing's edges)."""

    x: int
    y: int
    side: int


@dataclass(frozen=True)
class SketchedFace:
    """The face a drawing shows (RGB, the drawing's dtype), the square of the drawing it
    fills, and the set and swap edits that stopped at the end of their range on it."""

    image: np.ndarray
    box: Box
    short_edits: tuple[ShortEdit, ...] = ()


def head_box(ink: np.ndarray) -> Box:
    """The square an aligned face of these lines fills: around their bounding box, with
    HEAD_MARGIN more on each side. ink: H x W (pixels.ink); EmptyDrawing without lines."""
    rows, cols = np.nonzero(ink >= INKED)
    if not len(rows):
        raise EmptyDrawing("the drawing has no lines: draw dark lines on light paper or on a "
                           "transparent layer")  # fmt: skip
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    side = round(max(bottom - top, right - left) * (1 + 2 * HEAD_MARGIN))
    return Box(int((left + right - side) // 2), int((top + bottom - side) // 2), max(side, 1))


def frame_drawing(drawing: np.ndarray, size: int) -> tuple[np.ndarray, Box]:
    """The drawing's lines framed as an aligned face (`head_box`, paper beyond the drawing's
    edges), as a uint8 gray image size x size (white paper, black lines), and that square in
    the drawing."""
    ink = pixels.ink(drawing)
    box = head_box(ink)
    square = np.zeros((box.side, box.side), np.float32)  # no ink beyond the drawing
    y0, x0 = max(box.y, 0), max(box.x, 0)
    y1, x1 = min(box.y + box.side, ink.shape[0]), min(box.x + box.side, ink.shape[1])
    square[y0 - box.y : y1 - box.y, x0 - box.x : x1 - box.x] = ink[y0:y1, x0:x1]
    interpolation = cv2.INTER_AREA if box.side > size else cv2.INTER_LINEAR
    small = cv2.resize(square, (size, size), interpolation=interpolation)
    paper = pixels.from_float(1.0 - np.clip(small, 0.0, 1.0), np.uint8)
    return paper[:, :, None], box


def face_from_sketch(
    client: FacesmithClient,
    drawing: np.ndarray,
    follow: float = DEFAULT_FOLLOW,
    edits: Sequence[EditSpec] = (),
    *,
    seed: int = 0,
    on_event: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> SketchedFace:
    """The face the drawing shows, its colours from ``seed``'s face, scaled to the square it
    was drawn in."""
    info = client.info()
    square, box = frame_drawing(drawing, info.resolution)
    events = client.from_sketch([square], follow, edits, seed=seed, output_dtype=np.float32,
                                cancel=cancel)  # fmt: skip
    face = collect_result(events, on_event).faces[0]
    if face.image is None:
        raise ValueError("the server returned no face")
    scaled = cv2.resize(pixels.to_float(pixels.rgb(face.image)), (box.side, box.side),
                        interpolation=cv2.INTER_CUBIC)  # fmt: skip
    image = pixels.from_float(np.clip(scaled, 0.0, 1.0), drawing.dtype)
    return SketchedFace(image, box, face.short_edits)
