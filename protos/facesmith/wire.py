"""Images and latents to and from their protobuf messages (facesmith.v1)."""

from __future__ import annotations

import cv2
import numpy as np

from facesmith import pixels
from facesmith.v1 import facesmith_pb2 as pb

_DTYPE_TO_WIRE: dict[np.dtype, pb.DType] = {
    np.dtype(np.uint8): pb.DTYPE_UINT8,
    np.dtype(np.uint16): pb.DTYPE_UINT16,
    np.dtype(np.float32): pb.DTYPE_FLOAT32,
}
_WIRE_TO_DTYPE: dict[int, np.dtype] = {v: k for k, v in _DTYPE_TO_WIRE.items()}
# Protocol limits, shared by server and client.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # gRPC send/receive limit on both sides
MAX_FACES = 64  # faces in one request
# A decoded image may hold at most this many values (guards memory against hostile sizes,
# including small PNGs that inflate to huge arrays).
MAX_VALUES = 8192 * 8192 * 4


def dtype_to_wire(dtype: np.dtype | type) -> pb.DType:
    return _DTYPE_TO_WIRE[np.dtype(dtype)]


def dtype_from_wire(value: int, default: np.dtype | None = None) -> np.dtype:
    if value == pb.DTYPE_UNSPECIFIED and default is not None:
        return default
    if value not in _WIRE_TO_DTYPE:
        raise ValueError(f"unknown dtype {value}")
    return _WIRE_TO_DTYPE[value]


def encode_image(image: np.ndarray, png: bool = True) -> pb.Image:
    """An image (pixels conventions) as a message; PNG for integer images unless png=False."""
    image = pixels.check_image(image)
    h, w, c = image.shape
    msg = pb.Image(height=h, width=w, channels=c, dtype=dtype_to_wire(image.dtype))
    if png and image.dtype != np.float32:
        ok, buf = cv2.imencode(".png", pixels.to_opencv(image), [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:
            raise ValueError("PNG encoding failed")
        msg.encoding = pb.Image.ENCODING_PNG
        msg.data = buf.tobytes()
    else:
        msg.encoding = pb.Image.ENCODING_RAW
        msg.data = np.ascontiguousarray(image).astype(image.dtype.newbyteorder("<")).tobytes()
    return msg


def decode_image(msg: pb.Image) -> np.ndarray:
    """The image a message holds; ValueError with the reason if it is malformed."""
    if msg.encoding == pb.Image.ENCODING_PNG:
        return _decode_png(msg.data)
    if msg.encoding == pb.Image.ENCODING_RAW:
        return _decode_raw(msg)
    raise ValueError(f"image encoding {msg.encoding} is not RAW or PNG")


def _decode_png(data: bytes) -> np.ndarray:
    _check_png_size(data)
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ValueError("PNG data could not be decoded")
    return pixels.from_opencv(arr)


def _check_png_size(data: bytes) -> None:
    """Refuse a PNG whose header declares more than MAX_VALUES values, before inflating it."""
    height, width, channels, _ = _png_header(data)
    if width * height * channels > MAX_VALUES:
        raise ValueError(f"PNG image of {width}x{height} is too large")


# PNG colour type → channels once decoded (an upper bound: palette and gray+alpha images may
# come out as RGBA).
_PNG_CHANNELS = {0: 1, 2: 3, 3: 4, 4: 4, 6: 4}


def _png_header(data: bytes) -> tuple[int, int, int, np.dtype]:
    """(height, width, channels, dtype) a PNG's header declares, without inflating it."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("image data is not a PNG file")
    if len(data) < 26 or data[12:16] != b"IHDR":
        raise ValueError("PNG data has no image header")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    depth, colour = data[24], data[25]
    if colour not in _PNG_CHANNELS or depth not in (1, 2, 4, 8, 16) or min(width, height) < 1:
        raise ValueError(f"PNG header is invalid (colour type {colour}, bit depth {depth})")
    dtype = np.dtype(np.uint16) if depth == 16 else np.dtype(np.uint8)
    return height, width, _PNG_CHANNELS[colour], dtype


def declared_shape(msg: pb.Image) -> tuple[int, int, int, np.dtype]:
    """(height, width, channels, dtype) the image message will decode to, read from its PNG
    header or its raw fields — nothing is decoded. ValueError if it cannot be told."""
    if msg.encoding == pb.Image.ENCODING_PNG:
        return _png_header(msg.data[:32])
    if msg.encoding == pb.Image.ENCODING_RAW:
        if msg.channels not in pixels.CHANNELS or min(msg.height, msg.width) < 1:
            raise ValueError(
                f"raw image shape {(msg.height, msg.width, msg.channels)} is not H x W x C "
                f"with C in {pixels.CHANNELS}"
            )
        return msg.height, msg.width, msg.channels, dtype_from_wire(msg.dtype)
    raise ValueError(f"image encoding {msg.encoding} is not RAW or PNG")


def _decode_raw(msg: pb.Image) -> np.ndarray:
    dtype = dtype_from_wire(msg.dtype)
    shape = (msg.height, msg.width, msg.channels)
    if msg.channels not in pixels.CHANNELS or min(shape) < 1:
        raise ValueError(f"raw image shape {shape} is not H x W x C with C in {pixels.CHANNELS}")
    count = msg.height * msg.width * msg.channels
    if count > MAX_VALUES:
        raise ValueError(f"raw image of {count} values is too large")
    if len(msg.data) != count * dtype.itemsize:
        raise ValueError(
            f"raw image data has {len(msg.data)} bytes, shape {shape} of {dtype} needs "
            f"{count * dtype.itemsize}"
        )
    arr = np.frombuffer(msg.data, dtype=dtype.newbyteorder("<")).reshape(shape)
    return arr.astype(dtype)


def strength_in_range(strength: float, low: float, high: float) -> bool:
    """Whether an edit strength lies in [low, high], compared as the float32 values that
    travel on the wire (so the top of a range sent by GetInfo is accepted back)."""
    s, lo, hi = (np.float32(v) for v in (strength, low, high))
    return bool(np.isfinite(s) and lo <= s <= hi)


def encode_latent(latent: np.ndarray, space: str) -> pb.Latent:
    """A latent of shape (num_ws, dim) as a message."""
    latent = np.asarray(latent, dtype=np.float32)
    if latent.ndim != 2:
        raise ValueError(f"latent must be num_ws x dim, got shape {latent.shape}")
    return pb.Latent(
        space=space, num_ws=latent.shape[0], dim=latent.shape[1], values=latent.ravel().tolist()
    )


def decode_latent(msg: pb.Latent) -> np.ndarray:
    """The (num_ws, dim) float32 array a message holds; ValueError if malformed."""
    if msg.num_ws < 1 or msg.dim < 1 or len(msg.values) != msg.num_ws * msg.dim:
        raise ValueError(
            f"latent declares {msg.num_ws} x {msg.dim} but holds {len(msg.values)} values"
        )
    return np.asarray(msg.values, dtype=np.float32).reshape(msg.num_ws, msg.dim)
