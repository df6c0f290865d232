"""Command-line options of `facesmith train encoder` (no torch import: the CLI stays fast)."""

from __future__ import annotations

import argparse
from pathlib import Path

from facesmith.arguments import (
    add_device_argument,
    add_max_minutes_argument,
    add_threads_argument,
)
from facesmith_train.encoder.config import EncoderTrainConfig

DESCRIPTION = (
    "Train an e4e-style encoder into W+ of a trained generator (frozen), on aligned crops "
    "(.npz from `facesmith train prepare`; held-out faces are skipped). OUT gets "
    "encoder-checkpoint.pt (resumable), e4e.pt (e4e layout) and samples/recon-*.png."
)
DEFAULTS = EncoderTrainConfig(iterations=0)


def add_encoder_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--gan",
        type=Path,
        required=True,
        metavar="CHECKPOINT",
        help="checkpoint.pt of `facesmith train gan` (its g_ema and discriminator are used)",
    )
    p.add_argument("--data", type=Path, action="append", required=True, metavar="FILE.npz")
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    p.add_argument("--iterations", type=int, required=True, metavar="N")
    p.add_argument("--batch", type=int, default=DEFAULTS.batch, metavar="B", help="real crops")
    p.add_argument(
        "--synthetic",
        type=int,
        default=DEFAULTS.synthetic,
        metavar="B",
        help="generated faces per step (latent loss)",
    )
    p.add_argument("--lr", type=float, default=DEFAULTS.lr)
    p.add_argument("--width", type=int, default=DEFAULTS.width, help="encoder stem channels")
    p.add_argument("--block-width", type=int, default=DEFAULTS.block_width)
    p.add_argument(
        "--input-size",
        type=int,
        default=DEFAULTS.input_size,
        metavar="PX",
        help="encoder input resolution (the generator's; a grown generator's encoder can keep "
        "the smaller one it was trained at and --warm-start from it)",
    )
    p.add_argument(
        "--identity",
        type=float,
        default=DEFAULTS.identity,
        metavar="W",
        help="weight of the identity term (face-api's port of dlib's face recognition net; "
        "0 = off, 0.5 recommended)",
    )
    p.add_argument(
        "--face-api",
        type=Path,
        metavar="DIR",
        help="face-api weights folder (default: $FACESMITH_FACE_API or ../shared/models/face-api)",
    )
    p.add_argument(
        "--attributes",
        type=float,
        default=DEFAULTS.attributes,
        metavar="W",
        help="weight of the attribute term: the classifiers of --attribute-net read the same "
        "on each reconstruction as on its photo (0 = off)",
    )
    p.add_argument(
        "--attribute-net",
        type=Path,
        metavar="FILE.pt",
        help="an attribute classifier file of `facesmith train classifier` (every output is "
        "used, e.g. one trained with --attribute male=Male to keep gender)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=DEFAULTS.log_every, metavar="N")
    p.add_argument("--sample-every", type=int, default=DEFAULTS.sample_every, metavar="N")
    p.add_argument("--checkpoint-every", type=int, default=DEFAULTS.checkpoint_every)
    p.add_argument("--resume", action="store_true", help="continue from OUT's checkpoint")
    p.add_argument(
        "--warm-start",
        type=Path,
        metavar="E4E",
        help="start from this e4e file's encoder weights (e.g. the encoder of an earlier "
        "snapshot of the same GAN run); same --width, --block-width and --input-size; for a "
        "generator grown finer its new W+ rows start as its finest",
    )
    add_max_minutes_argument(p)
    add_device_argument(p)
    add_threads_argument(p)


def config_from_args(args: argparse.Namespace) -> EncoderTrainConfig:
    if args.iterations < 1 or args.batch < 1 or args.synthetic < 1:
        raise ValueError("--iterations, --batch and --synthetic must be at least 1")
    if args.width < 8 or args.block_width < 1:
        raise ValueError("--width must be at least 8 (squeeze-excitation reduction 8)")
    if args.attributes and args.attribute_net is None:
        raise ValueError("--attributes needs --attribute-net FILE.pt")
    return EncoderTrainConfig(
        iterations=args.iterations, batch=args.batch, synthetic=args.synthetic, lr=args.lr,
        width=args.width, block_width=args.block_width, input_size=args.input_size,
        seed=args.seed, identity=args.identity,
        attributes=args.attributes,
        log_every=args.log_every, sample_every=args.sample_every,
        checkpoint_every=args.checkpoint_every, max_minutes=args.max_minutes,
    )  # fmt: skip
