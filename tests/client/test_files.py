"""Photos keep their depth, channels and alpha through read_image / write_image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facesmith_client.vision.images import read_image, write_image

rng = np.random.default_rng(0)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_round_trip_keeps_everything(
    tmp_path: Path, suffix: str, dtype: type, channels: int
) -> None:
    image = rng.integers(0, np.iinfo(dtype).max, (17, 23, channels), endpoint=True).astype(dtype)
    write_image(tmp_path / f"x{suffix}", image)
    back = read_image(tmp_path / f"x{suffix}")
    assert back.dtype == dtype and back.shape == image.shape
    np.testing.assert_array_equal(back, image)


def test_float_tiff_round_trips(tmp_path: Path) -> None:
    image = rng.random((8, 9, 3)).astype(np.float32)
    write_image(tmp_path / "x.tif", image)
    np.testing.assert_array_equal(read_image(tmp_path / "x.tif"), image)


def test_real_rgba_photo_reads_as_rgba(photos_dir: Path) -> None:
    image = read_image(photos_dir / "whole" / "32bit.png")
    assert image.shape == (1200, 626, 4) and image.dtype == np.uint8


def test_lossy_or_unsupported_writes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="8-bit only"):
        write_image(tmp_path / "x.jpg", np.zeros((4, 4, 3), np.uint16))
    with pytest.raises(ValueError, match="no alpha"):
        write_image(tmp_path / "x.jpg", np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="float"):
        write_image(tmp_path / "x.png", np.zeros((4, 4, 3), np.float32))


def test_unreadable_files_get_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ValueError, match="not an image"):
        read_image(tmp_path / "text.png")


def test_jpeg_exif_orientation_is_applied(tmp_path: Path) -> None:
    from PIL import Image

    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :10] = 255  # a white band on the left of a landscape picture
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    Image.fromarray(pixels).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    shown = read_image(tmp_path / "phone.jpg")
    assert shown.shape == (40, 20, 3)  # portrait, as a viewer shows it
    assert shown[:10].mean() > 200 and shown[-10:].mean() < 50  # the band is now on top


def test_gray_jpeg_stays_gray(tmp_path: Path) -> None:
    write_image(tmp_path / "g.jpg", np.full((8, 8, 1), 100, np.uint8))
    assert read_image(tmp_path / "g.jpg").shape == (8, 8, 1)


def test_a_path_without_extension_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="extension"):
        write_image(tmp_path / "noext", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="cannot encode"):
        write_image(tmp_path / "x.xyz", np.zeros((4, 4, 3), np.uint8))
