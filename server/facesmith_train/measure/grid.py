"""The picture of `facesmith train measure`: real faces × edits, one column per edit under a
header row naming it (OpenCV only)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from facesmith import pixels
from facesmith_train.classify.readers import resized

CELL = 128  # pixels per face
HEADER = 28  # height of the header row
GAP = 2  # white pixels between cells
FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.45


def edit_grid(columns: Sequence[tuple[str, np.ndarray]], cell: int = CELL) -> np.ndarray:
    """uint8 RGB image: column j shows the images of ``columns[j]`` (name, float32
    [rows, R, R, 3] 0..1, the same rows in every column) enlarged to ``cell`` px, under its
    name. ValueError if the columns disagree on the number of rows or there are none."""
    if not columns:
        raise ValueError("a grid needs at least one column")
    rows = {len(images) for _, images in columns}
    if len(rows) != 1:
        raise ValueError(f"every column needs the same number of faces, got {sorted(rows)}")
    (n_rows,) = rows
    width = len(columns) * (cell + GAP) - GAP
    height = HEADER + n_rows * (cell + GAP)
    grid = np.full((height, width, 3), 255, np.uint8)
    for j, (name, images) in enumerate(columns):
        x = j * (cell + GAP)
        _header(grid, name, x, cell)
        if n_rows == 0:
            continue
        faces = pixels.from_float(resized(images, cell), np.uint8)
        for i, face in enumerate(faces):
            y = HEADER + i * (cell + GAP)
            grid[y : y + cell, x : x + cell] = face
    return grid


def _header(grid: np.ndarray, name: str, x: int, cell: int) -> None:
    """``name`` centred above the column at ``x``, shrunk until it fits the cell."""
    scale = FONT_SCALE
    (tw, th), _ = cv2.getTextSize(name, FONT, scale, 1)
    while tw > cell - 4 and scale > 0.25:
        scale -= 0.05
        (tw, th), _ = cv2.getTextSize(name, FONT, scale, 1)
    org = (x + (cell - tw) // 2, (HEADER + th) // 2)
    cv2.putText(grid, name, org, FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
