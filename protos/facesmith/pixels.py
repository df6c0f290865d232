"""The one place that declares facesmith's pixel conventions.

An image is a numpy array of shape H x W x C (rows top to bottom, channels interleaved) with
C = 1 (gray), 3 (RGB) or 4 (RGBA, straight alpha), in R, G, B, A order, of dtype uint8, uint16
or float32. float32 images hold 0..1. Host adapters convert their native layouts (Krita's
B,G,R,A integer pixelData, GEGL formats) to this at their boundary; files are read and written
through these functions so depth and alpha survive.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

DTYPES: Final = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))
CHANNELS: Final = (1, 3, 4)

FloatImage = npt.NDArray[np.float32]
Image = npt.NDArray[np.generic]


def max_value(dtype: npt.DTypeLike) -> float:
    """The value that means full intensity in an image of this dtype."""
    dt = np.dtype(dtype)
    if dt == np.uint8:
        return 255.0
    if dt == np.uint16:
        return 65535.0
    if dt == np.float32:
        return 1.0
    raise ValueError(f"unsupported pixel dtype {dt}; use one of {[str(d) for d in DTYPES]}")


def check_image(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as H x W x C, raising ValueError if it breaks the conventions."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in CHANNELS:
        raise ValueError(f"image must be H x W x C with C in {CHANNELS}, got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image is empty: shape {image.shape}")
    max_value(image.dtype)
    return image


def to_float(image: np.ndarray) -> FloatImage:
    """Any supported image as float32 0..1, same shape."""
    image = check_image(image)
    return (image.astype(np.float32) / np.float32(max_value(image.dtype))).astype(np.float32)


def stack_to_float(images: np.ndarray) -> FloatImage:
    """A stack of images [N, H, W, C] as float32 0..1, same shape."""
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected a stack N x H x W x C, got shape {images.shape}")
    return (images.astype(np.float32) / np.float32(max_value(images.dtype))).astype(np.float32)


def from_float(image: np.ndarray, dtype: npt.DTypeLike) -> np.ndarray:
    """float 0..1 back to ``dtype``, clipped and rounded to nearest."""
    top = max_value(dtype)
    out = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0) * np.float32(top)
    if np.dtype(dtype) == np.float32:
        return out.astype(np.float32)
    return np.rint(out).astype(dtype)


def rgb(image: np.ndarray) -> np.ndarray:
    """The colour channels as RGB (gray is repeated, alpha dropped), dtype kept."""
    image = check_image(image)
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return image[:, :, :3]


def alpha(image: np.ndarray) -> np.ndarray | None:
    """The alpha channel (H x W x 1) or None."""
    image = check_image(image)
    return image[:, :, 3:4] if image.shape[2] == 4 else None


def ink(image: np.ndarray) -> FloatImage:
    """How much line each pixel of a drawing carries, H x W float32 0..1: dark lines on light
    paper or on a transparent layer (alpha × (1 − luminance), Rec. 601)."""
    colour = to_float(rgb(image))
    darkness = 1.0 - colour @ np.array([0.299, 0.587, 0.114], np.float32)
    cover = alpha(image)
    if cover is not None:
        darkness = darkness * to_float(cover)[:, :, 0]
    return np.clip(darkness, 0.0, 1.0).astype(np.float32)


def from_opencv(image: np.ndarray) -> np.ndarray:
    """OpenCV's B,G,R(,A) order (as cv2.imread/imdecode return it) to ours."""
    image = check_image(image)
    if image.shape[2] == 3:
        return np.ascontiguousarray(image[:, :, ::-1])
    if image.shape[2] == 4:
        return np.ascontiguousarray(image[:, :, [2, 1, 0, 3]])
    return image


def to_opencv(image: np.ndarray) -> np.ndarray:
    """Ours to OpenCV's B,G,R(,A) order (the swap is its own inverse)."""
    return from_opencv(image)


# -- host layouts --------------------------------------------------------------------------------
# Host adapters hand layers over as they hold them: Krita's integer pixelData is B,G,R,A, its
# float data and GEGL's formats R,G,B,A; Krita also has half floats. The runtime converts at
# its edge with these two functions, so adapters never touch single pixels.

HOST_ORDERS: Final = ("RGB", "RGBA", "BGR", "BGRA")
HOST_DTYPES: Final[dict[str, np.dtype[Any]]] = {
    "u8": np.dtype("<u1"),
    "u16": np.dtype("<u2"),
    "f16": np.dtype("<f2"),
    "f32": np.dtype("<f4"),
}


def from_host(
    buffer: bytes | bytearray | memoryview, shape: tuple[int, int, int], dtype: str, order: str
) -> np.ndarray:
    """A host layer's bytes → an image in our conventions (half floats widened to float32)."""
    if order not in HOST_ORDERS or len(order) != shape[2]:
        raise ValueError(f"pixel order must be one of {HOST_ORDERS} matching {shape[2]} channels")
    if dtype not in HOST_DTYPES:
        raise ValueError(f"pixel type must be one of {sorted(HOST_DTYPES)}, got {dtype!r}")
    image = np.frombuffer(buffer, dtype=HOST_DTYPES[dtype]).reshape(shape)
    if dtype == "f16":
        image = image.astype(np.float32)
    return check_image(_swap_red_blue(image) if order.startswith("B") else image)


def dtype_for_host(dtype: str) -> np.dtype[Any]:
    """Our dtype of an image that goes to a ``dtype`` host layer (half floats are kept as
    float32 and narrowed by ``to_host``)."""
    return np.dtype(np.float32) if dtype == "f16" else HOST_DTYPES[dtype]


def to_host(image: np.ndarray, dtype: str, order: str) -> bytes:
    """The inverse of ``from_host``: our image → the host's bytes."""
    image = check_image(image)
    expected = dtype_for_host(dtype)
    if image.dtype != expected:
        raise ValueError(f"a {dtype} layer needs a {np.dtype(expected)} image, got {image.dtype}")
    if order.startswith("B"):
        image = _swap_red_blue(image)
    return np.ascontiguousarray(image, dtype=HOST_DTYPES[dtype]).tobytes()


def _swap_red_blue(image: np.ndarray) -> np.ndarray:
    return from_opencv(image)
