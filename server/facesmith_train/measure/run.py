"""`facesmith train measure`: what a model pack's edits do to faces its training never saw.

Each face is inverted once, rendered back (the reconstruction) and rendered with each edit at
full strength (`measure_models`); the photo, the reconstruction and every edit are read by the
same instruments (`measure_scores`) and summed up as figures (`measure_figures`). Python API:
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
from facesmith.files import atomic_write
from facesmith_client.pipeline.score import identity_distance
from facesmith_server.errors import PackError
from facesmith_server.model.pack import Pack
from facesmith_train.classify.readers import ScorerFactory, Scorers, enlarge, threshold_of
from facesmith_train.gan.samples import write_png
from facesmith_train.measure.figures import Figure, build_figures, describe_edits, markdown_table
from facesmith_train.measure.grid import edit_grid
from facesmith_train.measure.models import Log, Measures, SetResult, measure_set, random_samples
from facesmith_train.measure.sets import FaceSet, load_npz_set, load_photo_set

GRID_EDITS = ("younger", "older", "gender swap", "bald", "smile")

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
                | {"strength": float(e.strengths[i]), "identity": ident(result.edited[e.label], i)}
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
) -> Outcome:
    """Every figure for ``sets`` (empty sets are left out) and ``samples`` random samples."""
    sets = [s for s in sets if len(s)]
    if not sets:
        raise ValueError("no faces to measure: give --data with held-out faces or --photos")
    names = [s.name for s in sets]
    if len(set(names)) != len(names):
        raise ValueError(f"two sets share a name (their file names): {names}")
    scorers = make_scorers(np.concatenate([s.crops for s in sets]))
    thresholds = {k: threshold_of(c) for k, c in scorers.attributes.items()}
    results = [measure_set(s, pack, scorers, device, log) for s in sets]
    found = None
    if samples > 0:
        started = time.monotonic()
        images = enlarge(random_samples(pack, samples, seed, device))
        found = np.asarray(scorers.face_found(images), np.float64)
        log(f"random samples: {samples} in {time.monotonic() - started:.0f} s")
    figures = build_figures(results, found, thresholds)
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
    }  # fmt: skip
    return Outcome(figures, markdown_table(figures, sets), report, edit_grid(grid_columns(photos)))


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
    import cv2

    from facesmith_client.vision.detect import load_detector
    from facesmith_server.devices import choose_device, describe
    from facesmith_server.model.pack import load_pack
    from facesmith_train.classify.readers import load_real_scorers

    started = time.monotonic()
    if args.limit < 1 or args.samples < 0:
        raise ValueError("--limit must be at least 1 and --samples at least 0")
    if args.bald_classifier is not None and not args.bald_classifier.is_file():
        raise ValueError(f"--bald-classifier: no such file: {args.bald_classifier}")
    if args.threads:
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
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
    if args.bald_classifier is None and "bald" in pack.directions:
        warnings.append("no --bald-classifier: the bald edit's main figure is not measured")
    for line in warnings:
        _stderr(f"warning: {line}")
    _stderr(f"measuring pack {pack.manifest.name!r} on {describe(device)}: "
            + ", ".join(f"{s.name} {len(s)} faces" for s in sets))  # fmt: skip
    if make_scorers is None:

        def make_scorers(real: np.ndarray) -> Scorers:
            return load_real_scorers(real, detector, args.bald_classifier, device)

    outcome = measure(pack, sets, make_scorers, args.samples, args.seed, device, _stderr)
    seconds = time.monotonic() - started
    report = {
        "pack": {"root": str(args.pack), "name": pack.manifest.name, "resolution": resolution,
                 "alignment": pack.manifest.alignment},
        "device": describe(device),
        "limit": args.limit,
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
