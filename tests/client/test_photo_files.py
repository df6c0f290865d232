"""Photo files keep what a photographer gave us (issue 15, findings 10 and 11): writes are
atomic and never follow a link; a JPEG keeps its quantisation tables, subsampling and
metadata, so pixels away from the faces barely change; PNG and TIFF keep their ICC profile and
text; CMYK and palette images are refused with a message."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from facesmith_client.vision.images import (
    orient,
    read_image,
    read_photo,
    unorient,
    write_image,
    write_photo,
)


def srgb_profile() -> bytes:
    from PIL import ImageCms

    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


FAKE_ICC = srgb_profile()  # a real profile: libpng checks what it reads
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'


def exif_with(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "facesmith test camera"  # Make
    return exif.tobytes()


def photo_like(height: int = 240, width: int = 320) -> np.ndarray:
    """Smooth gradients and some texture, like a photo (JPEG-friendly)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(3)
    r = 128 + 80 * np.sin(x / 23) * np.cos(y / 31)
    g = 100 + 60 * np.cos(x / 17 + y / 29)
    b = 90 + 0.4 * x - 0.2 * y
    image = np.stack([r, g, b], axis=2) + rng.normal(0, 4, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


# -- atomic writes, links -------------------------------------------------------------------------


def test_a_failed_write_leaves_the_old_file_and_no_stray_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "result.png"
    write_image(out, np.full((8, 8, 3), 10, np.uint8))
    before = out.read_bytes()

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        write_image(out, np.full((8, 8, 3), 200, np.uint8))
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.png"]


WRITER = """
import sys, numpy as np
from facesmith_client.vision.images import write_image
image = np.random.default_rng(0).integers(0, 65535, (2000, 2500, 3), dtype=np.uint16)
while True:
    write_image(sys.argv[1], image)
"""


def test_a_killed_writer_never_leaves_a_truncated_file(tmp_path: Path) -> None:
    """kill -9 the moment the result's name appears, over and over: whatever is under the
    final name is a whole image."""
    out = tmp_path / "big.tif"
    for attempt in range(3):
        out.unlink(missing_ok=True)
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(out)])
        deadline = time.monotonic() + 60
        while not os.path.lexists(out) and time.monotonic() < deadline:
            time.sleep(0.0005)
        time.sleep(attempt * 0.01)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        assert out.exists(), "the writer never wrote"
        assert read_image(out).shape == (2000, 2500, 3), f"attempt {attempt}: truncated"


def test_a_link_at_the_destination_is_replaced_not_followed(tmp_path: Path) -> None:
    precious = tmp_path / "precious.png"
    write_image(precious, np.full((8, 8, 3), 7, np.uint8))
    before = precious.read_bytes()
    link = tmp_path / "result.png"
    link.symlink_to(precious)
    write_image(link, np.full((8, 8, 3), 99, np.uint8))
    assert precious.read_bytes() == before
    assert not link.is_symlink() and read_image(link)[0, 0, 0] == 99


def test_written_files_get_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_image(tmp_path / "x.png", np.zeros((4, 4, 3), np.uint8))
    finally:
        os.umask(old)
    assert (tmp_path / "x.png").stat().st_mode & 0o777 == 0o644


# -- JPEG: tables, subsampling, orientation, metadata ---------------------------------------------


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_jpeg_keeps_tables_subsampling_and_metadata(tmp_path: Path, orientation: int) -> None:
    source = tmp_path / "camera.jpg"
    Image.fromarray(photo_like()).save(
        source, "JPEG", quality=83, subsampling=2, exif=exif_with(orientation),
        icc_profile=FAKE_ICC, xmp=XMP, comment=b"shot on film", dpi=(300, 300),
    )  # fmt: skip
    image, info = read_photo(source)
    shown = (240, 320) if orientation in (1, 3) else (320, 240)
    assert image.shape[:2] == shown  # the orientation is applied once, on reading
    edited = image.copy()
    edited[100:140, 100:140] = 255 - edited[100:140, 100:140]  # "a face"
    out = tmp_path / "camera_facesmith.jpg"
    write_photo(out, edited, info)
    with Image.open(source) as a, Image.open(out) as b:
        assert b.quantization == a.quantization
        assert JpegImagePlugin.get_sampling(b) == JpegImagePlugin.get_sampling(a) == 2
        assert b.getexif().get(0x0112) == orientation  # stored as before: shown as before
        assert b.getexif().get(0x010F) == "facesmith test camera"
        assert b.info.get("icc_profile") == FAKE_ICC
        assert b.info.get("xmp") == XMP and b.info.get("comment") == b"shot on film"
        assert b.info.get("dpi") == pytest.approx((300, 300))
        assert b.size == a.size  # stored orientation kept
    back = read_image(out)
    assert back.shape == image.shape
    outside = np.ones(image.shape[:2], bool)
    outside[84:156, 84:156] = False  # the edited square grown to the 16 px blocks it touches
    changed = np.any(back != image, axis=2)[outside].mean()
    assert changed < 0.05, f"{changed:.1%} of the pixels outside the edit changed"
    assert np.abs(back.astype(int) - image)[outside].max() <= 8


def test_orientations_round_trip() -> None:
    image = np.arange(2 * 3 * 1).reshape(2, 3, 1)
    for code in range(1, 9):
        assert np.array_equal(unorient(orient(image, code), code), image), code
    with Image.open(io.BytesIO(_jpeg_with(6))) as im:
        from PIL import ImageOps

        pil = np.asarray(ImageOps.exif_transpose(im).convert("L"))[:, :, None]
        ours = orient(np.asarray(im.convert("L"))[:, :, None], 6)
    assert ours.shape == pil.shape and np.abs(ours.astype(int) - pil).max() == 0


def _jpeg_with(orientation: int) -> bytes:
    out = io.BytesIO()
    gradient = np.tile(np.arange(0, 240, 8, dtype=np.uint8), (20, 1))
    Image.fromarray(gradient).save(out, "JPEG", quality=95, exif=exif_with(orientation))
    return out.getvalue()


def test_jpeg_pixels_away_from_the_faces_barely_change(
    photos_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real photo through the pipeline (fake server): outside the faces, how many pixels
    differ from the input after it is written and read back. Re-encoding at quality 95 with
    OpenCV changed 78-80 % of them."""
    from facesmith_client.pipeline.photo import edit_photo
    from facesmith_client.remote.client import EditSpec
    from facesmith_client.remote.fake_client import FakeClient
    from facesmith_client.vision.detect import load_detector

    figures = []
    for name in ("two_people.jpg", "obama.jpg", "kit_with_rose.jpg"):
        image, info = read_photo(photos_dir / "whole" / name)
        edited = edit_photo(image, FakeClient(), load_detector("cpu"), [EditSpec("age", 30)]).image
        out = tmp_path / name
        write_photo(out, edited, info)
        back = read_image(out)
        touched = np.any(edited != image, axis=2).astype(np.uint8)
        near = cv2.dilate(touched, np.ones((33, 33), np.uint8)) > 0  # + the JPEG blocks
        changed = np.any(back != image, axis=2)[~near]
        diff = np.abs(back.astype(int) - image.astype(int))[~near]
        figures.append((name, changed.mean(), int(diff.max()), float(diff.mean())))
    with capsys.disabled():
        for name, share, worst, mean in figures:
            print(f"\n  JPEG {name}: {share:.2%} of the pixels outside the faces changed "
                  f"(largest change {worst} levels, mean {mean:.3f})", end="")  # fmt: skip
    assert all(share < 0.15 for _, share, _, _ in figures), figures


# -- PNG and TIFF metadata -------------------------------------------------------------------------


def test_png_keeps_its_icc_profile_and_text(tmp_path: Path) -> None:
    from PIL import PngImagePlugin

    text = PngImagePlugin.PngInfo()
    text.add_text("Author", "a photographer")
    source = tmp_path / "scan.png"
    Image.fromarray(photo_like(32, 48)).save(
        source, pnginfo=text, icc_profile=FAKE_ICC, dpi=(600, 600)
    )
    image, info = read_photo(source)
    out = tmp_path / "scan_facesmith.png"
    write_photo(out, 255 - image, info)
    with Image.open(out) as written:
        assert written.info.get("icc_profile") == FAKE_ICC
        assert written.info.get("Author") == "a photographer"
        assert written.info.get("dpi") == pytest.approx((600, 600), abs=0.1)
    np.testing.assert_array_equal(read_image(out), 255 - image)


def test_a_jpeg_icc_profile_travels_to_a_png(tmp_path: Path) -> None:
    source = tmp_path / "camera.jpg"
    Image.fromarray(photo_like(32, 48)).save(source, icc_profile=FAKE_ICC)
    image, info = read_photo(source)
    write_photo(tmp_path / "sheet.png", image, info)
    with Image.open(tmp_path / "sheet.png") as written:
        assert written.info.get("icc_profile") == FAKE_ICC


def test_16_bit_tiff_keeps_its_icc_profile_and_tags(tmp_path: Path) -> None:
    import tifffile

    deep = photo_like(32, 48).astype(np.uint16) * 257
    source = tmp_path / "scan.tif"
    tifffile.imwrite(
        source, deep, photometric="rgb", iccprofile=FAKE_ICC, description="roll 12, frame 4",
        resolution=(300, 300), resolutionunit=2, extratags=[(315, 2, None, "a photographer", True)],
        metadata=None,
    )  # fmt: skip
    image, info = read_photo(source)
    assert image.dtype == np.uint16
    out = tmp_path / "scan_facesmith.tif"
    write_photo(out, image, info)
    np.testing.assert_array_equal(read_image(out), deep)
    with tifffile.TiffFile(out) as tif:
        tags = tif.pages.first.tags
        assert bytes(tags[34675].value) == FAKE_ICC
        assert tags[270].value == "roll 12, frame 4" and tags[315].value == "a photographer"
        assert tags[282].value == (300, 1)


# -- refused kinds ---------------------------------------------------------------------------------


def test_cmyk_and_palette_images_are_refused_with_a_message(tmp_path: Path) -> None:
    import tifffile

    Image.new("CMYK", (16, 16), (0, 50, 100, 0)).save(tmp_path / "print.jpg")
    Image.new("P", (16, 16), 3).save(tmp_path / "indexed.png")
    tifffile.imwrite(tmp_path / "print.tif", np.zeros((16, 16, 4), np.uint8),
                     photometric="separated")  # fmt: skip
    for name, kind in (("print.jpg", "CMYK"), ("indexed.png", "palette"), ("print.tif", "CMYK")):
        with pytest.raises(ValueError, match=kind) as caught:
            read_photo(tmp_path / name)
        assert "convert it to RGB" in str(caught.value)


def test_a_folder_is_not_a_photo(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is a folder"):
        read_photo(tmp_path)
