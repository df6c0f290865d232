"""Reading and writing photos with their depth, alpha and metadata intact (see facesmith.pixels).

``read_photo`` returns the pixels and a ``PhotoFile``: what the file holds besides them — EXIF,
the ICC profile, XMP and IPTC, comments, resolution, PNG text chunks, TIFF tags and, for JPEG,
the quantisation tables and chroma subsampling. ``write_photo`` writes an edited photo with
all of it kept: a JPEG is encoded with its source's tables and subsampling in its stored
orientation (its EXIF orientation tag is kept and applied once, by whoever shows it), so the
blocks away from the faces decode almost exactly as before instead of being re-compressed.

Every write is atomic: the file is written under a temporary name in the output folder and
renamed over the destination, so an interrupted write never leaves a truncated file under the
final name, and an existing symbolic link at the destination is replaced, never followed.

CMYK and palette (indexed) images are refused with a message, not silently made RGB.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facesmith import pixels
from facesmith.files import atomic_write

EIGHT_BIT_ONLY = {".jpg", ".jpeg", ".bmp", ".webp"}
JPEG_SUFFIXES = {".jpg", ".jpeg", ".jpe"}
PNG_SUFFIXES = {".png"}
TIFF_SUFFIXES = {".tif", ".tiff"}
FLOAT_OK = {".tif", ".tiff", ".exr"}
# Pillow modes facesmith cannot edit without changing what the file is
REFUSED_MODES = {
    "CMYK": "a CMYK image",
    "P": "a palette (indexed-colour) image",
    "PA": "a palette (indexed-colour) image",
    "LAB": "a Lab image",
}
CONVERT_HINT = "convert it to RGB (or grayscale) first, e.g. in GIMP: Image ▸ Mode ▸ RGB"
# PNG chunks kept from the source: colour space, resolution, text, EXIF, time — and any other
# chunk its type marks safe to copy (fourth letter lower case).
PNG_KEPT = {b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"cICP", b"pHYs", b"tEXt", b"zTXt", b"iTXt"}
PNG_KEPT |= {b"eXIf", b"tIME"}
PNG_NEVER = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"sBIT", b"bKGD", b"hIST", b"sPLT"}
# TIFF tags kept from the source (baseline descriptive tags, resolution, orientation, XMP, IPTC)
TIFF_KEPT = {
    269: "DocumentName",
    270: "ImageDescription",
    271: "Make",
    272: "Model",
    274: "Orientation",
    305: "Software",
    306: "DateTime",
    315: "Artist",
    316: "HostComputer",
    700: "XMP",
    33432: "Copyright",
    33723: "IPTC",
}
TIFF_TYPES = {1, 2, 3, 4, 5, 7}  # BYTE, ASCII, SHORT, LONG, RATIONAL, UNDEFINED


@dataclass(frozen=True)
class PhotoFile:
    """What a photo file holds besides its pixels (all optional)."""

    format: str = ""  # "jpeg", "png", "tiff", or "" for anything else
    orientation: int = 1  # EXIF orientation, applied to the pixels read (JPEG)
    exif: bytes | None = None
    icc_profile: bytes | None = None
    xmp: bytes | None = None
    comment: bytes | None = None
    dpi: tuple[float, float] | None = None
    jpeg_qtables: dict[int, list[int]] | None = None
    jpeg_subsampling: int | None = None  # Pillow: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0
    jpeg_progressive: bool = False
    jpeg_markers: bytes = b""  # other APPn markers (e.g. IPTC in APP13), raw
    png_chunks: tuple[tuple[bytes, bytes], ...] = ()  # (type, data) of kept chunks
    tiff_tags: tuple[tuple[int, int, Any], ...] = ()  # (tag, TIFF type, value)
    tiff_compressed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


# -- reading -------------------------------------------------------------------------------------


def read_image(path: str | Path) -> np.ndarray:
    """The photo at ``path`` as an image of the pixel conventions: 8/16-bit or float, gray,
    RGB or RGBA, as stored (EXIF orientation applied to JPEGs)."""
    return read_photo(path)[0]


def read_photo(path: str | Path) -> tuple[np.ndarray, PhotoFile]:
    """The photo at ``path`` → (pixels, what else the file holds). ValueError with the reason
    (missing, a folder, not an image, CMYK or palette) if it cannot be edited."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(
            f"{path} is a folder, not a photo (give the photos in it, e.g. {path}/*.jpg)"
        )
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    data = np.fromfile(path, dtype=np.uint8)  # works with any path encoding
    head = data[:16].tobytes()
    info = _describe(path, data.tobytes(), head)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)  # as stored: orientation is ours to apply
    if image is None:
        raise ValueError(f"{path} is not an image facesmith can read")
    if image.dtype not in pixels.DTYPES:
        raise ValueError(f"{path}: {image.dtype} pixels are not supported (8/16-bit or float32)")
    image = pixels.from_opencv(image)
    if info.format == "jpeg" and info.orientation != 1:
        image = np.ascontiguousarray(orient(image, info.orientation))
    return image, info


def _describe(path: Path, data: bytes, head: bytes) -> PhotoFile:
    if head.startswith(b"\xff\xd8\xff"):
        return _describe_jpeg(path, data)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _describe_png(path, data)
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return _describe_tiff(path, data)
    _refuse_mode(path, data)
    return PhotoFile()


def _refuse_mode(path: Path, data: bytes) -> str:
    """Pillow's mode for the image (""), refusing CMYK, palette and Lab images."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            mode = im.mode
    except (UnidentifiedImageError, OSError, ValueError):
        return ""
    if mode in REFUSED_MODES:
        raise ValueError(f"{path} is {REFUSED_MODES[mode]}; facesmith edits RGB and gray "
                         f"photos: {CONVERT_HINT}")  # fmt: skip
    return mode


def _describe_jpeg(path: Path, data: bytes) -> PhotoFile:
    from PIL import Image, JpegImagePlugin, UnidentifiedImageError

    _refuse_mode(path, data)
    try:
        with Image.open(io.BytesIO(data)) as im:
            info = dict(im.info)
            qtables = {k: list(v) for k, v in getattr(im, "quantization", {}).items()}
            sampling = JpegImagePlugin.get_sampling(im)
            orientation = int(im.getexif().get(0x0112, 1) or 1)
            applist = list(getattr(im, "applist", []))
    except (UnidentifiedImageError, OSError, ValueError):
        return PhotoFile(format="jpeg")
    markers = b"".join(
        _jpeg_marker(name, body)
        for name, body in applist
        if name not in ("APP0", "APP2", "APP14")  # JFIF, ICC, Adobe: Pillow writes its own
        and not (name == "APP1" and body.startswith((b"Exif\0", b"http://ns.adobe.com/xap/")))
    )
    return PhotoFile(
        format="jpeg",
        orientation=orientation if orientation in range(1, 9) else 1,
        exif=info.get("exif"),
        icc_profile=info.get("icc_profile"),
        xmp=info.get("xmp"),
        comment=info.get("comment"),
        dpi=_dpi(info.get("dpi")),
        jpeg_qtables=qtables or None,
        jpeg_subsampling=sampling if sampling in (0, 1, 2) else None,
        jpeg_progressive=bool(info.get("progressive") or info.get("progression")),
        jpeg_markers=markers,
    )


def _jpeg_marker(name: str, body: bytes) -> bytes:
    if not name.startswith("APP") or len(body) > 65533:
        return b""
    return bytes([0xFF, 0xE0 + int(name[3:])]) + struct.pack(">H", len(body) + 2) + body


def _dpi(value: Any) -> tuple[float, float] | None:
    try:
        x, y = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return (x, y) if x > 0 and y > 0 else None


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk of a PNG file."""
    chunks, at = [], 8
    while at + 8 <= len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        kind = data[at + 4 : at + 8]
        chunks.append((kind, data[at + 8 : at + 8 + length]))
        at += 12 + length
        if kind == b"IEND":
            break
    return chunks


def _describe_png(path: Path, data: bytes) -> PhotoFile:
    chunks = _png_chunks(data)
    if chunks and chunks[0][0] == b"IHDR" and len(chunks[0][1]) >= 10 and chunks[0][1][9] == 3:
        raise ValueError(f"{path} is {REFUSED_MODES['P']}; facesmith edits RGB and gray "
                         f"photos: {CONVERT_HINT}")  # fmt: skip
    kept = tuple(
        (kind, body)
        for kind, body in chunks
        if kind not in PNG_NEVER and (kind in PNG_KEPT or (len(kind) == 4 and kind[3:4].islower()))
    )
    return PhotoFile(format="png", png_chunks=kept)


def _describe_tiff(path: Path, data: bytes) -> PhotoFile:
    try:
        import tifffile
    except ImportError:  # metadata is then not kept; pixels still are
        return PhotoFile(format="tiff")
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages.first
            photometric = int(page.photometric)
            tags = []
            for tag in page.tags.values():
                if tag.code in TIFF_KEPT and int(tag.dtype) in TIFF_TYPES:
                    tags.append((tag.code, int(tag.dtype), tag.value))
            icc = page.tags.get(34675)
            resolution = (page.tags.get(282), page.tags.get(283), page.tags.get(296))
            compressed = int(page.compression) != 1
    except Exception:  # tifffile raises many kinds on odd files; cv2 may still read it
        return PhotoFile(format="tiff")
    if photometric == 5:
        raise ValueError(f"{path} is {REFUSED_MODES['CMYK']}; facesmith edits RGB and gray "
                         f"photos: {CONVERT_HINT}")  # fmt: skip
    if photometric == 3:
        raise ValueError(f"{path} is {REFUSED_MODES['P']}; facesmith edits RGB and gray "
                         f"photos: {CONVERT_HINT}")  # fmt: skip
    extra: dict[str, Any] = {}
    if all(tag is not None for tag in resolution):
        x, y, unit = (tag.value for tag in resolution)  # type: ignore[union-attr]
        extra["resolution"] = (x, y, int(unit))
    return PhotoFile(
        format="tiff",
        icc_profile=bytes(icc.value) if icc is not None else None,
        tiff_tags=tuple(tags),
        tiff_compressed=compressed,
        extra=extra,
    )


# -- orientation -----------------------------------------------------------------------------------


def orient(image: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixels turned as EXIF ``orientation`` (1–8) says to show them."""
    if orientation == 2:
        return image[:, ::-1]
    if orientation == 3:
        return image[::-1, ::-1]
    if orientation == 4:
        return image[::-1]
    if orientation == 5:
        return image.transpose(1, 0, 2)
    if orientation == 6:
        return np.rot90(image, k=-1)
    if orientation == 7:
        return np.rot90(image, k=-1)[:, ::-1]
    if orientation == 8:
        return np.rot90(image, k=1)
    return image


def unorient(image: np.ndarray, orientation: int) -> np.ndarray:
    """The inverse of ``orient``: shown pixels back in their stored orientation."""
    inverse = {6: 8, 8: 6}.get(orientation, orientation)
    return orient(image, inverse)


# -- writing -------------------------------------------------------------------------------------


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write ``image`` keeping its depth and alpha; refuse formats that would lose them."""
    write_photo(path, image, None)


def write_photo(path: str | Path, image: np.ndarray, source: PhotoFile | None) -> None:
    """Write ``image`` (atomically) to ``path`` in the format its suffix names, keeping its
    depth and alpha and what ``source`` holds that the format can carry; refuse formats that
    would lose depth, alpha or float pixels."""
    path = Path(path)
    image = pixels.check_image(image)
    suffix = path.suffix.lower()
    if not suffix:
        raise ValueError(f"{path}: give the file an extension (.png, .tif, .jpg) to pick a format")
    if image.dtype != np.uint8 and suffix in EIGHT_BIT_ONLY:
        raise ValueError(f"{suffix} holds 8-bit only; write {image.dtype} images as .png or .tif")
    if image.dtype == np.float32 and suffix not in FLOAT_OK:
        raise ValueError(f"{suffix} cannot hold float pixels; use .tif")
    if image.shape[2] == 4 and suffix in JPEG_SUFFIXES:
        raise ValueError("JPEG has no alpha; write RGBA images as .png or .tif")
    source = source or PhotoFile()
    if suffix in JPEG_SUFFIXES:
        payload = _encode_jpeg(image, source)
    elif suffix in TIFF_SUFFIXES and source.format == "tiff":
        payload = _encode_tiff(image, source)
    else:
        payload = _encode_opencv(path, suffix, image)
        if suffix in PNG_SUFFIXES:
            payload = _with_png_chunks(payload, _png_chunks_for(source))
    atomic_write_file(path, payload)


def _encode_opencv(path: Path, suffix: str, image: np.ndarray) -> bytes:
    try:
        ok, buf = cv2.imencode(suffix, pixels.to_opencv(image))
    except cv2.error as err:
        raise ValueError(f"could not write {path.name}: OpenCV cannot encode {suffix}") from err
    if not ok:
        raise ValueError(f"could not encode {path.name} as {suffix}")
    return bytes(buf.tobytes())


def _encode_jpeg(image: np.ndarray, source: PhotoFile) -> bytes:
    """A JPEG of ``image``: with the source's tables, subsampling and markers when it was a
    JPEG (in its stored orientation), else at quality 95."""
    from PIL import Image

    stored = unorient(image, source.orientation) if source.format == "jpeg" else image
    stored = np.ascontiguousarray(stored[:, :, 0] if stored.shape[2] == 1 else stored)
    options: dict[str, Any] = {"quality": 95}
    if source.format == "jpeg" and source.jpeg_qtables:
        tables = source.jpeg_qtables if stored.ndim == 3 else {0: source.jpeg_qtables[0]}
        options = {"qtables": tables}
        if source.jpeg_subsampling is not None and stored.ndim == 3:
            options["subsampling"] = source.jpeg_subsampling
        options["progressive"] = source.jpeg_progressive
        if source.jpeg_markers:
            options["extra"] = source.jpeg_markers
    for key in ("exif", "icc_profile", "xmp", "comment"):
        value = getattr(source, key)
        if value:
            options[key] = value
    if source.dpi:
        options["dpi"] = source.dpi
    out = io.BytesIO()
    Image.fromarray(stored).save(out, "JPEG", **options)
    return out.getvalue()


def _png_chunks_for(source: PhotoFile) -> list[tuple[bytes, bytes]]:
    """The chunks a PNG written from ``source`` carries: its own PNG chunks, or the ICC
    profile and EXIF of another format."""
    if source.format == "png":
        return list(source.png_chunks)
    chunks: list[tuple[bytes, bytes]] = []
    if source.icc_profile:
        chunks.append((b"iCCP", b"ICC Profile\0\0" + zlib.compress(source.icc_profile)))
    if source.exif:
        exif = source.exif[6:] if source.exif.startswith(b"Exif\0\0") else source.exif
        chunks.append((b"eXIf", exif))
    return chunks


def _with_png_chunks(png: bytes, chunks: list[tuple[bytes, bytes]]) -> bytes:
    """``png`` with ``chunks`` inserted after its header (before any image data), unless the
    encoder already wrote a chunk of that type."""
    present = {kind for kind, _ in _png_chunks(png)}
    extra = [(kind, body) for kind, body in chunks if kind not in present]
    if not extra:
        return png
    header_end = 8 + 12 + int.from_bytes(png[8:12], "big")
    blocks = [
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        for kind, body in extra
    ]
    return png[:header_end] + b"".join(blocks) + png[header_end:]


def _encode_tiff(image: np.ndarray, source: PhotoFile) -> bytes:
    try:
        import tifffile
    except ImportError:
        return _encode_opencv(Path("x.tif"), ".tif", image)
    extratags = [(code, kind, None, value, True) for code, kind, value in source.tiff_tags]
    options: dict[str, Any] = {
        "photometric": "minisblack" if image.shape[2] == 1 else "rgb",
        "extratags": extratags,
        "metadata": None,
        "software": False,
    }
    if image.shape[2] == 4:
        options["extrasamples"] = ("unassalpha",)
    if source.icc_profile:
        options["iccprofile"] = source.icc_profile
    if "resolution" in source.extra:
        x, y, unit = source.extra["resolution"]
        options["resolution"] = (x, y)
        options["resolutionunit"] = unit
    if source.tiff_compressed:
        options["compression"] = "zlib"
    out = io.BytesIO()
    data = image[:, :, 0] if image.shape[2] == 1 else image
    tifffile.imwrite(out, data, **options)
    return out.getvalue()


def atomic_write_file(path: Path, payload: bytes) -> None:
    """Write ``payload`` as ``path`` atomically (facesmith.files.atomic_write), making its
    folder first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, payload)
