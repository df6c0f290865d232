"""`facesmith train student`: pairs from the pack's generator → a trained student → the pack."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from facesmith.arguments import apply_threads
from facesmith_server.model.pack import Pack, load_pack
from facesmith_server.model.student import StudentConfig
from facesmith_train.distill.install import install_student, load_installed
from facesmith_train.distill.pairs import Pairs, check_mode, make_pairs
from facesmith_train.distill.train import train_student
from facesmith_train.progress import ProgressLog


def run(args: argparse.Namespace) -> int:
    apply_threads(args)
    pack = load_pack(args.pack, "cpu")
    if args.edit not in pack.directions:
        raise ValueError(f"--edit: the pack has no {args.edit!r}; it has {sorted(pack.directions)}")
    direction = pack.directions[args.edit]
    check_mode(direction, args.mode)
    name = args.name or (args.edit if args.mode == "relative" else f"{args.edit}-swap")
    pairs = _pairs(args, pack)
    config = StudentConfig(tuple(args.widths), conditioned=args.mode == "relative")
    start = load_installed(args.pack, name) if args.resume else None
    log = ProgressLog(f"student {name}", args.steps)
    net, report = train_student(
        pairs, config, args.steps, strength_range=(direction.min, direction.max),
        batch=args.batch, seed=args.seed, network=start, on_step=lambda i, _: log.step(i),
    )  # fmt: skip
    log.finish(args.steps)
    swap = args.mode == "swap"
    entry = install_student(
        args.pack, name, net, edit=args.edit, mode=args.mode,
        strength_range=(direction.min, direction.max),
        description=f"swap {args.edit} in one pass" if swap
        else f"{direction.description}, in one pass",
    )  # fmt: skip
    summary = {
        "student": name,
        "file": entry.path,
        "bytes": entry.size,
        "pairs": len(pairs.sources),
        "kept": round(pairs.kept, 3),
        **report.__dict__,
    }
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


def _pairs(args: argparse.Namespace, pack: Pack) -> Pairs:
    """The pairs: read from --pairs-file if it exists (made for the same edit and mode), else
    made (and saved there if given)."""
    cache: Path | None = args.pairs_file
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as data:
            if "edit" not in data.files:
                raise ValueError(f"--pairs-file {cache} was not written by facesmith train student")
            made_for = (str(data["edit"]), str(data["mode"]))
            if made_for != (args.edit, args.mode):
                raise ValueError(f"--pairs-file {cache} holds pairs for {made_for[0]} "
                                 f"({made_for[1]}), not {args.edit} ({args.mode})")  # fmt: skip
            return Pairs(data["sources"], data["targets"], data["strengths"], float(data["kept"]))
    log = ProgressLog("pairs", args.pairs)
    pairs = make_pairs(pack, args.edit, args.mode, args.pairs, seed=args.seed,
                       margin=args.margin, on_progress=lambda done, _: log.step(done))  # fmt: skip
    log.finish(args.pairs)
    if cache is not None:
        with cache.open("wb") as f:  # exactly that name (np.savez would add .npz to a path)
            np.savez(f, sources=pairs.sources, targets=pairs.targets, strengths=pairs.strengths,
                     kept=pairs.kept, edit=args.edit, mode=args.mode)  # fmt: skip
    return pairs


def run_measure(args: argparse.Namespace) -> int:
    """`facesmith train measure-students`: figures, table.md, students.json and grid.png."""

    from facesmith.files import atomic_write
    from facesmith_client.vision.detect import load_detector
    from facesmith_train.classify.readers import load_real_scorers
    from facesmith_train.distill.measure import measure_students, report, table
    from facesmith_train.gan.samples import write_png
    from facesmith_train.measure.models import engine_for
    from facesmith_train.measure.sets import load_npz_set, load_photo_set

    apply_threads(args)
    pack = load_pack(args.pack, "cpu")
    size = pack.generator.size
    sets = [load_npz_set(path, size, args.limit, args.seed) for path in args.data]
    detector = load_detector("cpu")
    if args.photos is not None:
        from facesmith.alignment import parse_alignment

        template = parse_alignment(pack.manifest.alignment)
        sets.append(load_photo_set(args.photos, detector, template, size, args.limit, args.seed))
    if not any(len(s) for s in sets):
        raise ValueError("no faces to measure: give --data with held-out faces or --photos")
    crops = np.concatenate([s.crops for s in sets if len(s)])
    scorers = load_real_scorers(crops, detector, args.classifier, "cpu")
    engine = engine_for(pack, torch.device("cpu"))
    figures, grid = measure_students(pack, engine, crops, scorers, args.quality, _log)
    text = table(figures, args.quality, torch.get_num_threads(), len(crops))
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(
        args.out / "students.json", (json.dumps(report(figures), indent=2) + "\n").encode()
    )
    atomic_write(args.out / "table.md", text.encode())
    write_png(args.out / "grid.png", grid)
    sys.stdout.write(text)
    return 0


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
