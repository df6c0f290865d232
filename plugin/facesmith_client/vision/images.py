"""Reading and writing photos with their depth and alpha intact (see facesmith.pixels)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facesmith import pixels

EIGHT_BIT_ONLY = {".jpg", ".jpeg", ".bmp", ".webp"}
# JPEGs are 8-bit without alpha: read them so that OpenCV applies their EXIF orientation
# (IMREAD_UNCHANGED would ignore it) while keeping gray as gray.
JPEG_FLAGS = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH
FLOAT_OK = {".tif", ".tiff", ".exr"}


def read_image(path: str | Path) -> np.ndarray:
    """The photo at ``path`` as an image of the pixel conventions: 8/16-bit or float, gray,
    RGB or RGBA, as stored."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    data = np.fromfile(path, dtype=np.uint8)  # works with any path encoding
    is_jpeg = data[:3].tobytes() == b"\xff\xd8\xff"
    image = cv2.imdecode(data, JPEG_FLAGS if is_jpeg else cv2.IMREAD_UNCHANGED)
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
    if not suffix:
        raise ValueError(f"{path}: give the file an extension (.png, .tif, .jpg) to pick a format")
    if image.dtype != np.uint8 and suffix in EIGHT_BIT_ONLY:
        raise ValueError(f"{suffix} holds 8-bit only; write {image.dtype} images as .png or .tif")
    if image.dtype == np.float32 and suffix not in FLOAT_OK:
        raise ValueError(f"{suffix} cannot hold float pixels; use .tif")
    if image.shape[2] == 4 and suffix in {".jpg", ".jpeg"}:
        raise ValueError("JPEG has no alpha; write RGBA images as .png or .tif")
    try:
        ok, buf = cv2.imencode(suffix, pixels.to_opencv(image))
    except cv2.error as err:
        raise ValueError(f"could not write {path.name}: OpenCV cannot encode {suffix}") from err
    if not ok:
        raise ValueError(f"could not encode {path.name} as {suffix}")
    path.parent.mkdir(parents=True, exist_ok=True)
    buf.tofile(path)
