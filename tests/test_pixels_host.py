"""Host layouts ↔ our pixel conventions: channel order and depth must survive exactly."""

from __future__ import annotations

import numpy as np
import pytest

from facesmith import pixels

# A 1 x 2 RGBA image with distinct channels: red, then blue, half transparent.
RGBA8 = np.array([[[250, 10, 20, 255], [5, 6, 240, 128]]], dtype=np.uint8)


def test_krita_bgra_bytes_become_rgba_and_back():
    bgra = RGBA8[:, :, [2, 1, 0, 3]].tobytes()
    image = pixels.from_host(bgra, (1, 2, 4), "u8", "BGRA")
    np.testing.assert_array_equal(image, RGBA8)
    assert pixels.to_host(image, "u8", "BGRA") == bgra


@pytest.mark.parametrize(
    ("dtype", "numpy_dtype", "scale"),
    [("u16", "<u2", 257), ("f16", "<f2", 1 / 255), ("f32", "<f4", 1 / 255)],
)
def test_deep_layers_keep_their_values(dtype, numpy_dtype, scale):
    host = (RGBA8.astype(np.float64) * scale).astype(numpy_dtype)
    image = pixels.from_host(host.tobytes(), (1, 2, 4), dtype, "RGBA")
    assert image.dtype == (np.float32 if dtype.startswith("f") else np.uint16)
    np.testing.assert_array_equal(image, host.astype(image.dtype))
    assert image[0, 0, 0] > image[0, 0, 2], "red stayed red"
    assert pixels.to_host(image, dtype, "RGBA") == host.tobytes()


def test_rgb_without_alpha_swaps_too():
    bgr = RGBA8[:, :, [2, 1, 0]].tobytes()
    np.testing.assert_array_equal(pixels.from_host(bgr, (1, 2, 3), "u8", "BGR"), RGBA8[:, :, :3])


@pytest.mark.parametrize(
    ("shape", "dtype", "order", "message"),
    [
        ((1, 2, 4), "u8", "ARGB", "pixel order"),
        ((1, 2, 3), "u8", "RGBA", "pixel order"),
        ((1, 2, 4), "u32", "RGBA", "pixel type"),
    ],
)
def test_unknown_layouts_are_refused(shape, dtype, order, message):
    with pytest.raises(ValueError, match=message):
        pixels.from_host(bytes(16), shape, dtype, order)


def test_to_host_refuses_an_image_of_another_depth():
    with pytest.raises(ValueError, match="u8 layer needs a uint8 image"):
        pixels.to_host(RGBA8.astype(np.uint16), "u8", "RGBA")
