"""Contact sheets: one photo at several strengths of an edit, side by side (``--sweep``)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from facesmith import pixels
from facesmith_client.pipeline.photo import DEFAULT_MODE, InvertedPhoto, Mode, render_photo
from facesmith_client.remote.client import EditInfo, EditSpec, FacesmithClient

TILE_HEIGHT = 384
LABEL_HEIGHT = 28
GAP = 8
SHEET_ASPECT = 16 / 9
EMPTY_CELL_COST = 0.2  # prefer full rows over a slightly better aspect
FACE_MARGIN = 0.6  # context around the faces, as a share of the largest face box


def sweep_strengths(edit: EditInfo, steps: int) -> list[float]:
    """``steps`` strengths evenly across the edit's range (ends included)."""
    if steps < 2:
        raise ValueError("a sweep needs at least 2 strengths")
    return [round(float(s), 3) for s in np.linspace(edit.min, edit.max, steps)]


def contact_sheet(
    photo: InvertedPhoto,
    client: FacesmithClient,
    name: str,
    strengths: Sequence[float],
    base_edits: Sequence[EditSpec] = (),
    *,
    hold: tuple[str, ...] = (),
    mode: Mode = DEFAULT_MODE,
) -> np.ndarray:
    """The original then one tile per strength of edit ``name`` (plus ``base_edits``), cut to
    the region around the faces, in a grid → uint8 RGB [H, W, 3], each tile labelled."""
    others = [spec for spec in base_edits if spec.name != name]
    region = face_region(photo)
    tiles = [_tile(photo.image, region, "original")]
    for strength in strengths:
        edits = [*others, EditSpec(name, strength, tuple(h for h in hold if h != name))]
        rendered = render_photo(photo, client, edits, mode=mode).image
        tiles.append(_tile(rendered, region, f"{name} {strength:+g}"))
    return _grid(tiles)


def face_region(photo: InvertedPhoto) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the faces' boxes together, grown by a margin, inside the image."""
    boxes = np.array([aligned.face.box for aligned in photo.faces], np.float64)
    x0, y0 = boxes[:, 0].min(), boxes[:, 1].min()
    x1, y1 = boxes[:, 2].max(), boxes[:, 3].max()
    margin = FACE_MARGIN * float(
        np.max(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]))
    )
    h, w = photo.image.shape[:2]
    return (
        int(max(0, x0 - margin)),
        int(max(0, y0 - margin)),
        int(min(w, x1 + margin)),
        int(min(h, y1 + margin)),
    )


def _tile(image: np.ndarray, region: tuple[int, int, int, int], label: str) -> np.ndarray:
    """The region as uint8 RGB, TILE_HEIGHT tall, with ``label`` on a white strip above."""
    x0, y0, x1, y1 = region
    part = pixels.from_float(pixels.to_float(pixels.rgb(image[y0:y1, x0:x1])), np.uint8)
    width = max(1, round(part.shape[1] * TILE_HEIGHT / part.shape[0]))
    part = cv2.resize(part, (width, TILE_HEIGHT), interpolation=cv2.INTER_AREA)
    strip = np.full((LABEL_HEIGHT, width, 3), 255, np.uint8)
    cv2.putText(
        strip,
        label,
        (6, LABEL_HEIGHT - 8),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.6,
        (0, 0, 0),
        1,
        cv2.LINE_AA,
    )
    return np.concatenate([strip, part], axis=0)


def _grid(tiles: Sequence[np.ndarray]) -> np.ndarray:
    """Tiles (same size) in reading order, in the number of columns whose sheet comes
    closest to a 16:9 landscape shape with few empty cells."""
    h, w = tiles[0].shape[:2]
    columns = min(range(1, len(tiles) + 1), key=lambda c: _shape_error(len(tiles), c, w, h))
    blank = np.full_like(tiles[0], 255)
    padded = list(tiles) + [blank] * (-len(tiles) % columns)
    rows = [_join(padded[i : i + columns], axis=1) for i in range(0, len(padded), columns)]
    return _join(rows, axis=0)


def _shape_error(count: int, columns: int, width: int, height: int) -> float:
    rows = -(-count // columns)
    sheet_w = columns * width + (columns - 1) * GAP
    sheet_h = rows * height + (rows - 1) * GAP
    empty = rows * columns - count
    return abs(float(np.log(sheet_w / sheet_h / SHEET_ASPECT))) + EMPTY_CELL_COST * empty


def _join(parts: Sequence[np.ndarray], axis: int) -> np.ndarray:
    """Concatenate with a white GAP between parts."""
    shape = list(parts[0].shape)
    shape[axis] = GAP
    gap = np.full(shape, 255, np.uint8)
    joined: list[np.ndarray] = []
    for part in parts:
        joined += [part, gap]
    return np.concatenate(joined[:-1], axis=axis)
