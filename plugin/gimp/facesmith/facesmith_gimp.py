"""The GIMP plug-in's decisions that need no GIMP: the format pixels travel in, which spans of
the result changed, whether the selection touches the layer, what a menu strength means.

Standard library only, so tests run these without GIMP; facesmith.py does the GIMP calls.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

# Procedure names in GIMP's PDB: lowercase words joined by hyphens.
EDIT_PROCEDURE = "plug-in-facesmith-edit"
NEW_FACE_PROCEDURE = "plug-in-facesmith-new-face"
NEW_FACE_LABEL = "New random face"
SKETCH_PROCEDURE = "plug-in-facesmith-sketch"
SKETCH_LABEL = "Face from sketch"
SKETCH_LAYER_NAME = "facesmith: face from sketch"
DEFAULT_FOLLOW = 0.0  # facesmith_host.jobs.DEFAULT_FOLLOW (which a broken install lacks)
SETUP_PROCEDURE = "plug-in-facesmith-set-up"
SETUP_LABEL = "Set up"
MAX_SEED = 2**31 - 1  # GIMP's integer arguments are 32-bit signed
PRESET_PREFIX = "plug-in-facesmith-"
MENU_PATH = "<Image>/Filters/facesmith"
ITEM_BYTES = {"u8": 1, "u16": 2, "f32": 4}


@dataclass(frozen=True)
class PixelFormat:
    """How the layer's pixels travel: a babl encoding (GEGL converts to and from the layer's
    own storage) and the matching facesmith_host.jobs.HostImage fields."""

    encoding: str  # e.g. "R'G'B'A u16"; the plug-in adds the image's colour space to it
    dtype: str  # "u8" | "u16" | "f32"
    channels: int  # 3 or 4
    order: str  # "RGB" | "RGBA"

    @property
    def pixel_bytes(self) -> int:
        return self.channels * ITEM_BYTES[self.dtype]


def pixel_format(precision_nick: str, has_alpha: bool) -> PixelFormat:
    """The format a layer of ``precision_nick`` (Gimp.Precision's value_nick, e.g.
    "u16-non-linear") travels in: its own depth where it is u8/u16 and gamma-encoded (exact
    both ways); perceptual float otherwise, so the face model always sees gamma-encoded values
    (u8/u16/half linear survive the round trip exactly; float, u32 and double may lose their
    last bits, which only the changed spans ever see: see changed_spans)."""
    parts = precision_nick.split("-", 1)
    component, trc = parts[0], parts[1] if len(parts) > 1 else ""
    if component in ("u8", "u16") and trc in ("non-linear", "perceptual"):
        dtype = component
    else:
        dtype, trc = "f32", "non-linear"
    # ' = the space's own curve (sRGB for sRGB images); ~ = the perceptual (sRGB) curve
    mark = "~" if trc == "perceptual" else "'"
    encoding = f"R{mark}G{mark}B{mark}" + ("A" if has_alpha else "")
    babl_type = {"u8": "u8", "u16": "u16", "f32": "float"}[dtype]
    order = "RGBA" if has_alpha else "RGB"
    return PixelFormat(f"{encoding} {babl_type}", dtype, len(order), order)


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height


def overlap(a: Rect, b: Rect) -> Rect | None:
    """The part of ``a`` that ``b`` covers, or None if they do not meet."""
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.right, b.right), min(a.bottom, b.bottom)
    if x1 <= x0 or y1 <= y0:
        return None
    return Rect(x0, y0, x1 - x0, y1 - y0)


def selection_misses(layer: Rect, selection_bounds: Rect) -> bool:
    """True when the selection lies wholly off the layer: then no face on it can be edited,
    and the user should hear that rather than "no face found"."""
    return overlap(layer, selection_bounds) is None


def changed_spans(
    sent: bytes, returned: bytes, width: int, height: int, pixel_bytes: int
) -> list[tuple[int, int, int]]:
    """(row, first pixel, end pixel) of every row where ``returned`` differs from ``sent``.

    The runtime returns pixels away from the faces byte for byte as it got them, so writing
    only these spans over an exact copy of the source keeps everything else exact even where
    the transfer format cannot round-trip the layer's own (linear float, u32, double).
    Bytes comparisons run at memcmp speed; a binary search finds each row's ends."""
    row_bytes = width * pixel_bytes
    spans = []
    for y in range(height):
        start = y * row_bytes
        a, b = sent[start : start + row_bytes], returned[start : start + row_bytes]
        if a == b:
            continue
        first, end = _first_difference(a, b), _end_of_difference(a, b)
        spans.append((y, first // pixel_bytes, -(-end // pixel_bytes)))
    return spans


def _first_difference(a: bytes, b: bytes) -> int:
    """Index of the first byte where ``a`` and ``b`` (equal lengths, not equal) differ."""
    same, differs = 0, len(a)  # a[:same] == b[:same]; a[:differs] != b[:differs]
    while differs - same > 1:
        mid = (same + differs) // 2
        if a[:mid] == b[:mid]:
            same = mid
        else:
            differs = mid
    return same


def _end_of_difference(a: bytes, b: bytes) -> int:
    """One past the last byte where ``a`` and ``b`` (equal lengths, not equal) differ."""
    differs, same = 0, len(a)  # a[differs:] != b[differs:]; a[same:] == b[same:]
    while same - differs > 1:
        mid = (same + differs) // 2
        if a[mid:] == b[mid:]:
            same = mid
        else:
            differs = mid
    return same


def preset_fraction(preset_fraction: float, strength_percent: float) -> float:
    """A menu entry's strength (0–100 % of the edit's range, in the entry's direction) as the
    signed fraction jobs.preset_strength expects."""
    share = min(max(strength_percent, 0.0), 100.0) / 100.0
    return math.copysign(share, preset_fraction)


def preset_procedure(key: str) -> str:
    return PRESET_PREFIX + key.replace("_", "-")


def error_text(message: str, hint: str) -> str:
    """What GIMP shows: what happened (said to come from facesmith), then the next step."""
    said = message if "facesmith" in message else f"facesmith: {message}"
    return f"{said}\n{hint}" if hint else said


def chosen_seed(seed: int) -> int:
    """The seed a "New random face" or "Face from sketch" run uses: the one given, or a random
    one for -1."""
    return random.randint(0, MAX_SEED) if seed < 0 else seed


PREVIEW_SIDE = 200  # px: the dialog's face preview
PREVIEW_MARGIN = 0.4  # the preview shows this share of the face's size around it


def preview_box(box: tuple[float, float, float, float], width: int, height: int) -> Rect:
    """The square around a face box (layer pixels) that the dialog previews, grown by
    PREVIEW_MARGIN and kept inside the layer."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1 + 2 * PREVIEW_MARGIN)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = max(0, int(cx - side / 2)), max(0, int(cy - side / 2))
    right, bottom = min(width, int(cx + side / 2) + 1), min(height, int(cy + side / 2) + 1)
    return Rect(left, top, max(1, right - left), max(1, bottom - top))
