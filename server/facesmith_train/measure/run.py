"""`facesmith train measure`: what a model pack's edits do to faces its training never saw.

Each face is inverted once by the server's own engine at the default quality, rendered back
(the reconstruction) and rendered with each edit at full strength, an absolute age and the
gender swap (`models`); the photo, the reconstruction and every edit are read by the same
instruments (`classify.readers`) and summed up as figures (`figures`), with the variety of
random samples against the real faces and the seconds per face of each quality. Python API:
`measure(...)`; CLI: `run(args)`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from facesmith.alignment import parse_alignment
from facesmith.arguments import apply_threads
from facesmith.files import atomic_write
from facesmith_client.pipeline.score import identity_distance
from facesmith_server.errors import PackError
from facesmith_server.model.pack import Pack
from facesmith_train.classify.readers import ScorerFactory, Scorers, enlarge, threshold_of
from facesmith_train.gan.samples import write_png
from facesmith_train.measure.figures import Figure, build_figures, describe_edits, markdown_table
from facesmith_train.measure.grid import edit_grid
from facesmith_train.measure.models import (
    Log,
    Measures,
    SetResult,
    engine_for,
    measure_set,
    random_samples,
    read_images,
    seconds_per_face,
)
from facesmith_train.measure.sets import FaceSet, load_npz_set, load_photo_set

GRID_EDITS = ("younger", "older", "gender swap", "bald", "grey_hair", "smile")
QUALITIES = ("encoder", "default", "refine", "pivotal")

# -- the report --------------------------------------------------------------------------------


def grid_columns(result: SetResult) -> list[tuple[str, np.ndarray]]:
    names = ["photo", "reconstruction", *(e for e in GRID_EDITS if e in result.grid)]
    return [(name, result.grid[name]) for name in names]


def face_records(result: SetResult) -> list[dict[str, Any]]:
    """Per face of a set: labels, and what the instruments read on the photo, the
    reconstruction and each edit (with the identity distance to the photo)."""

    def read(m: Measures, i: int) -> dict[str, float]:
        out = {"age": float(m.age[i]), "male": round(float(m.male[i]), 4)}
        return out | {k: round(float(v[i]), 4) for k, v in m.attributes.items()}

    def ident(m: Measures, i: int) -> float:
        return round(identity_distance(result.photo.descriptors[i], m.descriptors[i]), 4)

    rows = []
    for i, face_id in enumerate(result.faces.ids):
        rec = result.reconstruction
        rows.append({
            "id": face_id,
            "labels": {k: float(v[i]) for k, v in result.faces.labels.items()},
            "photo": read(result.photo, i),
            "reconstruction": read(rec, i) | {"identity": ident(rec, i)},
            "edits": {
                e.label: read(result.edited[e.label], i)
                | {"identity": ident(result.edited[e.label], i)}
                for e in result.edits
            },
        })  # fmt: skip
    return rows


# -- measuring ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    figures: list[Figure]
    table: str
    report: dict[str, Any]
    grid: np.ndarray


def measure(
    pack: Pack,
    sets: Sequence[FaceSet],
    make_scorers: ScorerFactory,
    samples: int,
    seed: int,
    device: torch.device,
    log: Log,
    timing_faces: int = 0,
    quality: str = "default",
    paste: str = "render",
) -> Outcome:
    """Every figure for ``sets`` (empty sets are left out) and ``samples`` random samples, the
    edits as pasted back in mode ``paste`` (`models.pasted`), and the seconds per face of each
    quality on the first ``timing_faces`` faces."""
    sets = [s for s in sets if len(s)]
    if not sets:
        raise ValueError("no faces to measure: give --data with held-out faces or --photos")
    names = [s.name for s in sets]
    if len(set(names)) != len(names):
        raise ValueError(f"two sets share a name (their file names): {names}")
    scorers = make_scorers(np.concatenate([s.crops for s in sets]))
    thresholds = {k: threshold_of(c) for k, c in scorers.attributes.items()}
    engine = engine_for(pack, device)
    results = [measure_set(s, engine, scorers, log, quality, paste) for s in sets]
    found, sampled = None, None
    if samples > 0:
        started = time.monotonic()
        images = random_samples(pack, samples, seed, device)
        found = np.asarray(scorers.face_found(enlarge(images)), np.float64)
        sampled = read_images(images, scorers)
        log(f"random samples: {samples} in {time.monotonic() - started:.0f} s")
    figures = build_figures(results, sampled, found, thresholds)
    timed = sets[0].crops[:timing_faces]
    timings = (
        {q: round(seconds_per_face(engine, timed, q), 3) for q in QUALITIES} if len(timed) else {}
    )
    log(f"seconds per face: {timings}")
    photos = next((r for r in results if r.faces.name == "photos"), results[0])
    report = {
        "sets": {
            r.faces.name: {"faces": len(r.faces), "info": r.faces.info, "per_face": face_records(r)}
            for r in results
        },
        "edits": describe_edits(results),
        "scorers": scorers.notes | {"thresholds": thresholds},
        "random_samples": {"count": samples, "seed": seed,
                           "found": int(found.sum()) if found is not None else None},
        "figures": [f.to_json() for f in figures],
        "seconds_per_face": timings,
    }  # fmt: skip
    table = markdown_table(figures, sets) + timing_table(timings, torch.get_num_threads())
    return Outcome(figures, table, report, edit_grid(grid_columns(photos)))


def timing_table(timings: dict[str, float], threads: int) -> str:
    """Seconds per face (invert and render) at each quality, as a markdown table."""
    lines = [f"\n| quality | seconds per face ({threads} CPU threads) |", "|---|---|"]
    lines += [f"| {quality} | {seconds:.2f} |" for quality, seconds in timings.items()]
    return "\n".join(lines) + "\n"


# -- the command -------------------------------------------------------------------------------


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def alignment_warnings(pack_alignment: str, sets: Sequence[FaceSet]) -> list[str]:
    """A line for each set whose crops were framed otherwise than the pack frames faces."""
    template = parse_alignment(pack_alignment)
    out = []
    for s in sets:
        framed = s.info.get("alignment")
        if framed is None:
            continue
        try:
            same = parse_alignment(str(framed)) == template
        except ValueError:
            same = False
        if not same:
            out.append(
                f"{s.name}: crops framed {framed!r} but the pack frames {pack_alignment!r}: "
                "its figures do not describe the pack's real use"
            )
    return out


def run(args: argparse.Namespace, make_scorers: ScorerFactory | None = None) -> int:
    """Run a parsed `facesmith train measure` command line; ``make_scorers`` replaces the
    real instruments (tests)."""

    from facesmith_client.vision.detect import load_detector
    from facesmith_server.devices import choose_device, describe
    from facesmith_server.model.pack import load_pack
    from facesmith_train.classify.readers import load_real_scorers

    started = time.monotonic()
    if args.limit < 1 or args.samples < 0:
        raise ValueError("--limit must be at least 1 and --samples at least 0")
    from facesmith_train.classify.model import classifiers_from

    read = set(classifiers_from(args.classifier))  # checks the files early
    apply_threads(args)
    for path in args.data:
        if not path.is_file():
            raise ValueError(f"--data: no such file: {path}")
    device = choose_device(args.device)
    try:
        pack = load_pack(args.pack, device)
    except PackError as err:
        raise ValueError(f"--pack: {err}") from None
    resolution = pack.generator.size
    template = parse_alignment(pack.manifest.alignment)
    sets = [load_npz_set(path, resolution, args.limit, args.seed) for path in args.data]
    detector = load_detector(device)
    if args.photos is not None:
        sets.append(load_photo_set(args.photos, detector, template, resolution, args.limit,
                                   args.seed))  # fmt: skip
    warnings = alignment_warnings(pack.manifest.alignment, sets)
    unread = [n for n in pack.directions if n not in ("age", "gender", *read)]
    warnings += [f"no --classifier {name}=FILE: its figure is not measured" for name in unread]
    for line in warnings:
        _stderr(f"warning: {line}")
    _stderr(f"measuring pack {pack.manifest.name!r} on {describe(device)}: "
            + ", ".join(f"{s.name} {len(s)} faces" for s in sets))  # fmt: skip
    if make_scorers is None:

        def make_scorers(real: np.ndarray) -> Scorers:
            return load_real_scorers(real, detector, args.classifier, device)

    outcome = measure(pack, sets, make_scorers, args.samples, args.seed, device, _stderr,
                      args.timing_faces, args.quality, args.paste)  # fmt: skip
    seconds = time.monotonic() - started
    report = {
        "pack": {"root": str(args.pack), "name": pack.manifest.name, "resolution": resolution,
                 "alignment": pack.manifest.alignment},
        "device": describe(device),
        "limit": args.limit,
        "quality": args.quality,
        "paste": args.paste,
        "warnings": warnings,
        **outcome.report,
        "seconds": round(seconds, 1),
    }  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "measure.json", (json.dumps(report, indent=2) + "\n").encode())
    atomic_write(args.out / "table.md", outcome.table.encode())
    write_png(args.out / "grid.png", outcome.grid)
    sys.stdout.write(outcome.table)
    sys.stdout.write(f"\n{len(outcome.figures)} figures in {seconds:.0f} s; wrote measure.json, "
                     f"table.md and grid.png in {args.out}\n")  # fmt: skip
    return 0
