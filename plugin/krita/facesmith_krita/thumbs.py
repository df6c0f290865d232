"""Small pictures for the docker (face thumbnails, the preview), drawn by Krita itself: the
pixels go into a paint layer that never joins the document, whose ``thumbnail`` converts any
colour depth to a displayable QImage. Main thread only.
"""

from __future__ import annotations

from typing import Any

from facesmith_host.jobs import HostImage

from . import layers
from .layers import Rect  # here: inside the snapshot's image


def grown_box(box: tuple[float, float, float, float], margin: float, image: HostImage) -> Rect:
    """``box`` (x0, y0, x1, y1) grown by ``margin`` × its size on each side, inside the image."""
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    left, top = max(0, int(x0 - dx)), max(0, int(y0 - dy))
    right, bottom = min(image.width, int(x1 + dx + 1)), min(image.height, int(y1 + dy + 1))
    return left, top, max(1, right - left), max(1, bottom - top)


def union(rects: list[Rect]) -> Rect:
    left = min(r[0] for r in rects)
    top = min(r[1] for r in rects)
    right = max(r[0] + r[2] for r in rects)
    bottom = max(r[1] + r[3] for r in rects)
    return left, top, right - left, bottom - top


def crop(image: HostImage, data: bytes | bytearray | memoryview, rect: Rect) -> bytes:
    """The bytes of ``rect`` out of ``data`` laid out like ``image`` (row by row: no numpy)."""
    x, y, width, height = rect
    pixel = memoryview(image.data).nbytes // (image.width * image.height)
    view = memoryview(data).cast("B")
    row, start = image.width * pixel, x * pixel
    return b"".join(
        view[(y + i) * row + start : (y + i) * row + start + width * pixel] for i in range(height)
    )


def picture(document: Any, source: Any, image: HostImage, data: Any, rect: Rect, size: int) -> Any:
    """A QImage of ``rect`` of ``data`` (pixels laid out like ``image``, in ``source``'s
    colour space), fitted into size × size."""
    _, _, width, height = rect
    pixels = crop(image, data, rect)
    node = layers.detached_layer(document, source, "facesmith", pixels, (0, 0, width, height))
    scale = size / max(width, height)
    return node.thumbnail(max(1, round(width * scale)), max(1, round(height * scale)))
