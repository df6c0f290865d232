"""Images and latents through their messages: every dtype and channel count survives;
malformed or hostile data is refused before it costs memory."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from facesmith import wire
from facesmith.v1 import facesmith_pb2 as pb

rng = np.random.default_rng(0)


@pytest.mark.parametrize("png", [True, False])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_images_round_trip_exactly(png: bool, dtype: type, channels: int) -> None:
    if dtype == np.float32:
        image = rng.random((5, 7, channels)).astype(np.float32)
    else:
        image = rng.integers(0, np.iinfo(dtype).max, (5, 7, channels), endpoint=True).astype(dtype)
    back = wire.decode_image(wire.encode_image(image, png=png))
    assert back.dtype == image.dtype and back.shape == image.shape
    np.testing.assert_array_equal(back, image)


def _png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height RGBA (its data is a tiny stub)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body).to_bytes(4, "big")
        return len(body).to_bytes(4, "big") + kind + body + crc

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 6, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def test_png_declaring_a_huge_image_is_refused_before_decoding() -> None:
    bomb = pb.Image(encoding=pb.Image.ENCODING_PNG, data=_png_declaring(60000, 60000))
    with pytest.raises(ValueError, match="too large"):
        wire.decode_image(bomb)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (pb.Image(encoding=pb.Image.ENCODING_PNG, data=b"GIF89a"), "not a PNG"),
        (pb.Image(encoding=pb.Image.ENCODING_PNG, data=b"\x89PNG\r\n\x1a\n"), "header"),
        (pb.Image(encoding=pb.Image.ENCODING_UNSPECIFIED, data=b"x"), "not RAW or PNG"),
        (
            pb.Image(encoding=pb.Image.ENCODING_RAW, height=2, width=2, channels=3, dtype=9),
            "unknown dtype",
        ),
        (
            pb.Image(
                encoding=pb.Image.ENCODING_RAW, height=60000, width=60000, channels=4,
                dtype=pb.DTYPE_UINT8,
            ),
            "too large",
        ),
    ],
)  # fmt: skip
def test_malformed_images_get_a_reason(message: pb.Image, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        wire.decode_image(message)


def test_latents_round_trip_and_bad_ones_are_refused() -> None:
    latent = rng.normal(size=(10, 64)).astype(np.float32)
    np.testing.assert_array_equal(wire.decode_latent(wire.encode_latent(latent, "w+")), latent)
    with pytest.raises(ValueError, match="holds 5 values"):
        wire.decode_latent(pb.Latent(num_ws=2, dim=3, values=[0.0] * 5))


def test_strength_range_is_checked_in_float32() -> None:
    top = float(np.float32(2.2))  # what GetInfo sends for a range that ends at 2.2
    assert wire.strength_in_range(top, -2.2, 2.2)
    assert wire.strength_in_range(2.2, -2.2, 2.2)
    assert not wire.strength_in_range(2.3, -2.2, 2.2)
    assert not wire.strength_in_range(float("nan"), -2.2, 2.2)
