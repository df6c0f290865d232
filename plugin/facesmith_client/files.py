"""Reading and writing photos with their depth and alpha intact (see facesmith.pixels)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facesmith import pixels

EIGHT_BIT_ONLY = {".jpg", ".jpeg", ".bmp", ".webp"}
FLOAT_OK = {".tif", ".tiff", ".exr"}


def read_image(path: str | Path) -> np.ndarray:
    """The photo at ``path`` as an image of the pixel conventions: 8/16-bit or float, gray,
    RGB or RGBA, as stored."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    data = np.fromfile(path, dtype=np.uint8)  # works with any path encoding
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"{path} is not an image facesmith can read")
    if image.dtype not in pixels.DTYPES:
        raise ValueError(f"{path}: {image.dtype} pixels are not supported (8/16-bit or float32)")
    return pixels.from_opencv(image)


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write ``image`` keeping its depth and alpha; refuse formats that would lose them."""
    path = Path(path)
    image = pixels.check_image(image)
    suffix = path.suffix.lower()
    if image.dtype != np.uint8 and suffix in EIGHT_BIT_ONLY:
        raise ValueError(f"{suffix} holds 8-bit only; write {image.dtype} images as .png or .tif")
    if image.dtype == np.float32 and suffix not in FLOAT_OK:
        raise ValueError(f"{suffix} cannot hold float pixels; use .tif")
    if image.shape[2] == 4 and suffix in {".jpg", ".jpeg"}:
        raise ValueError("JPEG has no alpha; write RGBA images as .png or .tif")
    ok, buf = cv2.imencode(suffix, pixels.to_opencv(image))
    if not ok:
        raise ValueError(f"could not encode {path.name} as {suffix}")
    path.parent.mkdir(parents=True, exist_ok=True)
    buf.tofile(path)
