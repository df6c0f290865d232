"""`facesmith train sketch`: train the pack's sketch encoder and install it in the pack;
`facesmith train measure-sketch`: how well its faces follow their sketches."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

from facesmith.arguments import apply_threads
from facesmith_server.model.encoder import Encoder4Editing
from facesmith_server.model.pack import load_pack
from facesmith_train.progress import ProgressLog
from facesmith_train.sketch.install import install_sketch_encoder, load_installed
from facesmith_train.sketch.train import train_sketch_encoder


def run(args: argparse.Namespace) -> int:
    from facesmith_train.gan.train import load_training_images

    apply_threads(args)
    pack = load_pack(args.pack, "cpu")
    photos = load_training_images(args.data, pack.generator.size) if args.data else None
    start = load_installed(args.pack) if args.resume else None
    log = ProgressLog("sketch encoder", args.steps)
    sums: dict[str, float] = {}

    def on_step(step: int, terms: dict[str, float], net: Encoder4Editing) -> None:
        for name, value in terms.items():
            sums[name] = sums.get(name, 0.0) + value
        if step % args.save_every == 0 and step < args.steps:  # --resume goes on from here
            install_sketch_encoder(args.pack, net, pack.encoder_latent_avg)
            print(f"step {step}: " + "  ".join(f"{k} {v / args.save_every:.4f}"
                                               for k, v in sums.items()), flush=True)  # fmt: skip
            sums.clear()
        log.step(step)

    net, report = train_sketch_encoder(pack, photos, args.steps, batch=args.batch,
                                       seed=args.seed, network=start, on_step=on_step)  # fmt: skip
    log.finish(args.steps)
    entry = install_sketch_encoder(args.pack, net, pack.encoder_latent_avg)
    summary = {"file": entry.path, "bytes": entry.size,
               "photos": 0 if photos is None else len(photos), **report.__dict__}  # fmt: skip
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


def run_measure(args: argparse.Namespace) -> int:
    """`facesmith train measure-sketch`: the table (printed, OUT/table.md, OUT/sketch.json)
    and OUT/grid.png."""

    from facesmith.files import atomic_write
    from facesmith_client.vision.detect import load_detector
    from facesmith_train.gan.samples import write_png
    from facesmith_train.measure.models import engine_for
    from facesmith_train.measure.sets import load_npz_set
    from facesmith_train.sketch.measure import grid, measure_sketches, table

    apply_threads(args)
    pack = load_pack(args.pack, "cpu")
    size = pack.generator.size
    sets = [load_npz_set(path, size, args.limit, args.seed) for path in args.data]
    photos = np.concatenate([s.crops for s in sets])
    engine = engine_for(pack, torch.device("cpu"))
    figures, refs, made = measure_sketches(
        engine, photos, load_detector("cpu"), args.follow, log=lambda s: print(s, file=sys.stderr)
    )
    text = table(figures, refs, torch.get_num_threads())
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"figures": [f.__dict__ for f in figures], "references": refs.__dict__}
    atomic_write(args.out / "sketch.json", (json.dumps(report, indent=2) + "\n").encode())
    atomic_write(args.out / "table.md", text.encode())
    write_png(args.out / "grid.png", grid(photos, made))
    sys.stdout.write(text)
    return 0
