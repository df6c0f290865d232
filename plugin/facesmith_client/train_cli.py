"""`facesmith train`: build the project's own model pack from the labelled face datasets.

facesmith train prepare [--utkface TAR] [--celeba TAR] [--celeba-attributes CSV]
                        [--size 64] --out DIR [--limit N] [--max-padding F]
                        [--alignment TEXT] [--threads N]
facesmith train gan --data FILE.npz [--data ...] --size 64 --out DIR --iterations N
                    [--batch B] [--channel-multiplier M] [--channels-max C] [--resume]
                    [--device auto|cpu|cuda]   (see `facesmith train gan -h`)

The training package is imported only when a subcommand runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# ../shared/datasets beside the repository checkout (see SOURCES.md there)
SHARED_DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
DATASET_FILES = {
    "utkface": "utkface.tar",
    "celeba": "celeba10k.tar",
    "celeba_attributes": "celeba10k_attributes.csv",
}


def add_train_parser(commands: Any) -> None:
    p = commands.add_parser(
        "train",
        help="prepare data for and train the project's own model pack",
        description="Train a model pack from UTKFace and CelebA (non-commercial data).",
    )
    sub = p.add_subparsers(dest="train_command", required=True, metavar="ACTION")

    prep = sub.add_parser(
        "prepare",
        help="detect and align every labelled face; one .npz per dataset",
        description="Stream the dataset tars, detect each face with the runtime's detector, "
        "choose the pack's alignment template, align every face and write OUT/utkface.npz, "
        "OUT/celeba.npz and OUT/report.json (also printed).",
    )
    for dest, name in DATASET_FILES.items():
        flag = "--" + dest.replace("_", "-")
        where = f"default: {name} in {SHARED_DATASETS} if present"
        prep.add_argument(flag, type=Path, default=_default(name), metavar="PATH", help=where)
    prep.add_argument("--size", type=int, default=64, metavar="PX", help="crop side (64)")
    prep.add_argument("--out", type=Path, required=True, metavar="DIR")
    prep.add_argument("--limit", type=int, metavar="N", help="read at most N images of each")
    prep.add_argument(
        "--max-padding",
        type=float,
        default=0.03,
        metavar="F",
        help="largest mean fraction of a crop outside its image the template may need (0.03)",
    )
    prep.add_argument(
        "--alignment",
        metavar="TEXT",
        help="use this template instead of choosing one: 'ffhq' or "
        "'template eye_scale=… mouth_scale=… centre_shift=…'",
    )
    prep.add_argument("--threads", type=int, default=1, help="torch threads for detection (1)")
    prep.set_defaults(run=run_prepare)

    from facesmith_train.gan_args import DESCRIPTION, add_gan_arguments  # argparse only: light

    gan = sub.add_parser("gan", help="train the StyleGAN2 generator", description=DESCRIPTION)
    add_gan_arguments(gan)
    gan.set_defaults(run=run_gan)


def _default(name: str) -> Path | None:
    path = SHARED_DATASETS / name
    return path if path.is_file() else None


def run_prepare(args: argparse.Namespace) -> int:
    import torch

    from facesmith.alignment import parse_alignment
    from facesmith_client.detect import load_detector
    from facesmith_train.prepare import prepare, standard_sources

    for dest in DATASET_FILES:
        path = getattr(args, dest)
        if path is None or not path.is_file():
            raise ValueError(f"--{dest.replace('_', '-')}: no such file: {path}")
    if args.size < 8 or (args.limit is not None and args.limit < 1):
        raise ValueError("--size must be at least 8 and --limit at least 1")
    template = parse_alignment(args.alignment) if args.alignment else None
    torch.set_num_threads(args.threads)
    sources = standard_sources(args.utkface, args.celeba, args.celeba_attributes, args.limit)
    detector = load_detector("cpu")
    report = prepare(sources, detector, args.out, args.size, args.max_padding, template)
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


def run_gan(args: argparse.Namespace) -> int:
    from facesmith_train.gan import run

    return run(args)
