"""Command-line options of `facesmith train gan` (no torch import: the CLI stays fast)."""

from __future__ import annotations

import argparse
from pathlib import Path

from facesmith.arguments import (
    add_device_argument,
    add_max_minutes_argument,
    add_threads_argument,
)
from facesmith_train.gan.config import PRECISIONS

DESCRIPTION = (
    "Train the project's StyleGAN2 generator and a matching discriminator on aligned crops "
    "(.npz from `facesmith train prepare`; held-out faces are skipped). OUT gets "
    "checkpoint.pt (resumable), weights.pt (fp16 networks, no optimiser: --warm-start reads it), "
    "stylegan2.pt (g_ema, rosinality layout), snapshots/g_ema-STEP.pt and samples/*.png."
)


def add_gan_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        type=Path,
        action="append",
        required=True,
        metavar="FILE.npz",
        help="aligned crops (repeat for several datasets)",
    )
    p.add_argument("--size", type=int, default=64, metavar="PX", help="resolution (64)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    p.add_argument(
        "--iterations",
        type=int,
        required=True,
        metavar="N",
        help="total steps; a resumed run continues up to N (at or below the step it starts "
        "from, it only writes OUT's files: a --warm-start weights file becomes a run)",
    )
    p.add_argument("--batch", type=int, default=8, metavar="B")
    p.add_argument("--channel-multiplier", type=int, default=2, metavar="M")
    p.add_argument(
        "--channels-max",
        type=int,
        default=512,
        metavar="C",
        help="cap on channels at every resolution (512 = config-f)",
    )
    p.add_argument("--style-dim", type=int, default=512, metavar="D")
    p.add_argument("--n-mlp", type=int, default=8, metavar="L", help="mapping depth (8)")
    p.add_argument(
        "--lr", type=float, default=0.002,
        help="Adam learning rate (0.002); with --resume it replaces the saved one (lower it "
        "to anneal a run that has levelled off)",
    )  # fmt: skip
    p.add_argument(
        "--r1",
        type=float,
        default=None,
        metavar="GAMMA",
        help="R1 weight (default 0.0002 * size^2 / batch)",
    )
    p.add_argument(
        "--augment-p",
        type=float,
        default=0.3,
        metavar="P",
        help="probability of each augmentation per sample (0.3; 0 = off)",
    )
    p.add_argument(
        "--condition",
        metavar="NAMES",
        help="labels the discriminator is told and z carries, e.g. male,age (ages come from "
        "`facesmith train estimate`); the exported generator stays unconditional",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="autocast on CUDA (auto = bf16 where supported); CPU is always fp32",
    )
    p.add_argument("--log-every", type=int, default=50, metavar="N")
    p.add_argument("--sample-every", type=int, default=500, metavar="N")
    p.add_argument("--checkpoint-every", type=int, default=1000, metavar="N")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/checkpoint.pt (its architecture wins)",
    )
    p.add_argument(
        "--warm-start",
        type=Path,
        metavar="weights.pt",
        help="with no checkpoint to resume, start from a run's fp16 weights file (OUT/weights.pt "
        "of another run; optimisers start afresh); one of half --size is grown: a new block at "
        "--size that starts as the old image, upsampled",
    )
    add_max_minutes_argument(p)
    add_device_argument(p)
    add_threads_argument(p)


def build_parser(prog: str = "facesmith train gan") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    add_gan_arguments(parser)
    return parser
