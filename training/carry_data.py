"""Carry prepared training crops to a GPU machine in a fraction of their size.

A `facesmith train prepare` file holds raw uint8 crops (about 400 MB for LFW at 128 px);
the machine that trains on a GPU takes at most 64 MiB of files. `pack` keeps the training
faces only (the held-out ones stay here, where they are measured) as WebP and the other
columns as they are; `unpack`, run there, writes an ordinary prepared file again:

    python training/carry_data.py pack data/lfw.npz carry/lfw.npz --quality 85
    python training/carry_data.py unpack carry/lfw.npz data/lfw.npz

The estimates file beside a prepared one (`NAME.estimates.npz`) is small: copy it along,
keeping only the training rows (`pack` writes it beside its output when there is one).
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from facesmith_train.data.prepared import estimates_path

CROPS, BYTES, ENDS = "crops", "webp_bytes", "webp_ends"


def pack(source: Path, target: Path, quality: int) -> None:
    with np.load(source) as data:
        keep = ~data["held_out"]
        arrays = {k: _rows(data[k], keep) for k in data.files if k != CROPS}
        encoded = [_webp(crop, quality) for crop in data[CROPS][keep]]
    arrays[BYTES] = np.frombuffer(b"".join(encoded), np.uint8)
    arrays[ENDS] = np.cumsum([len(b) for b in encoded])
    np.savez(target, **arrays)
    if estimates_path(source).is_file():
        with np.load(estimates_path(source)) as data:
            rows = {k: _rows(data[k], keep) for k in data.files}
        np.savez(estimates_path(target), **rows)
    print(f"{target}: {int(keep.sum())} faces, {target.stat().st_size / 2**20:.1f} MiB")


def unpack(source: Path, target: Path) -> None:
    with np.load(source) as data:
        arrays = {k: data[k] for k in data.files if k not in (BYTES, ENDS)}
        buffer, ends = data[BYTES].tobytes(), data[ENDS]
    starts = np.concatenate([[0], ends[:-1]])
    with ThreadPoolExecutor() as pool:
        crops = list(
            pool.map(lambda se: _decoded(buffer[se[0] : se[1]]), zip(starts, ends, strict=True))
        )
    np.savez(target, crops=np.stack(crops), **arrays)
    if estimates_path(source).is_file():
        estimates_path(target).write_bytes(estimates_path(source).read_bytes())
    print(f"{target}: {len(crops)} faces")


def _rows(column: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Per-face columns lose the held-out rows; the others (names, alignment) stay whole."""
    return column[keep] if column.ndim and len(column) == len(keep) else column


def _webp(crop: np.ndarray, quality: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(crop).save(out, "WEBP", quality=quality, method=6)
    return out.getvalue()


def _decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    packing = verbs.add_parser("pack")
    packing.add_argument("source", type=Path)
    packing.add_argument("target", type=Path)
    packing.add_argument("--quality", type=int, default=85)
    unpacking = verbs.add_parser("unpack")
    unpacking.add_argument("source", type=Path)
    unpacking.add_argument("target", type=Path)
    args = parser.parse_args(argv)
    if args.verb == "pack":
        pack(args.source, args.target, args.quality)
    else:
        unpack(args.source, args.target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
