"""`facesmith bench`: median time of each stage, client side on a real 12-megapixel photo
(scikit-image's astronaut, upscaled) plus the server's model rows (facesmith_server.bench)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import cv2
import numpy as np
import torch

from facesmith_server.bench import BenchRow, median_time

BENCH_SIZE = (4000, 3000)  # width, height: 12 megapixels
CROP_SIZE = 1024  # the official pack's resolution
NAME_WIDTH = 28


def twelve_megapixel_photo() -> np.ndarray:
    """scikit-image's astronaut upscaled to 4000 x 4000 and cut to 4000 x 3000 (the face is in
    the upper part) → uint8 RGB [3000, 4000, 3]."""
    from skimage import data

    width, height = BENCH_SIZE
    big = cv2.resize(data.astronaut(), (width, width), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(big[:height])


def bench_client(
    repeats: int,
    device: str = "cpu",
    on_row: Callable[[BenchRow], None] | None = None,
) -> list[BenchRow]:
    """detect, align and paste on the 12-MP photo; ``on_row`` sees each row as it is done."""
    from facesmith_client.vision.align import align_face
    from facesmith_client.vision.blend import face_mask, paste_back
    from facesmith_client.vision.detect import detect_faces, load_detector

    rows: list[BenchRow] = []

    def median(stage: Callable[[], object]) -> float:
        return median_time(stage, repeats, torch.device(device))

    def add(row: BenchRow) -> None:
        rows.append(row)
        if on_row is not None:
            on_row(row)

    image = twelve_megapixel_photo()
    start = time.perf_counter()
    detector = load_detector(device)
    add(BenchRow("load detector", time.perf_counter() - start, f"once per run, {device}"))
    faces = detect_faces(image, detector)
    if not faces:
        raise RuntimeError("the benchmark photo has no detectable face")
    size = f"{image.shape[1]}x{image.shape[0]}"
    add(
        BenchRow(
            "detect",
            median(lambda: detect_faces(image, detector)),
            f"{size}, {len(faces)} face(s)",
        )
    )
    landmarks = faces[0].landmarks
    add(
        BenchRow(
            "align",
            median(lambda: align_face(image, landmarks, CROP_SIZE)),
            f"one face → {CROP_SIZE} px crop",
        )
    )
    crop, matrix = align_face(image, landmarks, CROP_SIZE)
    edited = np.clip(crop * 0.9 + 0.05, 0, 1).astype(np.float32)
    mask = face_mask(CROP_SIZE)
    add(
        BenchRow(
            "paste",
            median(lambda: paste_back(image, edited, mask, matrix, reconstruction=crop)),
            f"one face, residual, into {size}",
        )
    )
    return rows


def format_rows(rows: Sequence[BenchRow]) -> str:
    """A plain table: median, stage, note (median first so long names cannot shift it)."""
    lines = []
    for row in rows:
        median = "n/a" if math.isnan(row.median_s) else _seconds(row.median_s)
        lines.append(f"{median:>9}  {row.name:<{NAME_WIDTH}}  {row.note}".rstrip())
    return "\n".join(lines)


def table_header() -> str:
    return f"{'median':>9}  {'stage':<{NAME_WIDTH}}  note"


def _seconds(value: float) -> str:
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


HELP_COMMANDS = (("facesmith --help", ["--help"]), ("facesmith edit --help", ["edit", "--help"]))
HELP_TARGET_S = 0.5


def bench_help(repeats: int) -> list[BenchRow]:
    """Wall time of a fresh `facesmith --help` (and `edit --help`) process; the note compares
    it with a bare `python -c pass` measured in the same run."""
    import subprocess
    import sys

    def timed(argv: list[str]) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, *argv], check=True, capture_output=True)
        return time.perf_counter() - start

    def median(argv: list[str]) -> float:
        times = sorted(timed(argv) for _ in range(max(3, repeats)))
        return times[len(times) // 2]

    bare = median(["-c", "pass"])
    rows = []
    for name, args in HELP_COMMANDS:
        seconds = median(["-m", "facesmith_client.cli.main", *args])
        verdict = "PASS" if seconds < HELP_TARGET_S else "FAIL"
        note = f"{verdict} (target < {HELP_TARGET_S} s); bare python start {bare * 1000:.0f} ms"
        rows.append(BenchRow(name, seconds, note))
    return rows
