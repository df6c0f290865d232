"""Run `facesmith train pack`: encode the labelled training crops, fit the directions, write
the pack. Held-out faces are never used (they are what `facesmith train measure` scores)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from facesmith_server.devices import choose_device
from facesmith_server.model.checkpoints import load_encoder, load_generator
from facesmith_train.directions.from_labels import encode_crops, fit_attributes
from facesmith_train.gan.checkpoint import sample_w
from facesmith_train.pack.build import fit_report, write_pack
from facesmith_train.progress import ProgressLog

W_SAMPLES = 10_000  # the generator's W distribution, for the directions' scale


def training_split(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(crops, labels, label_names, alignment) of the crops that are not held out."""
    with np.load(path, allow_pickle=False) as data:
        keep = ~data["held_out"].astype(bool)
        return (
            data["crops"][keep],
            data["labels"][keep],
            data["label_names"],
            str(data["alignment"]),
        )


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    generator, _ = load_generator(args.generator, device)
    encoder, latent_avg = load_encoder(args.encoder, device)
    codes, labels, alignments = {}, {}, set()
    for dataset, path in (("utkface", args.utkface), ("celeba", args.celeba)):
        crops, values, names, alignment = training_split(path)
        if crops.shape[1] != generator.size:
            raise ValueError(
                f"{path}: {crops.shape[1]} px crops, the generator makes {generator.size}"
            )
        progress = ProgressLog(f"encoding {dataset}", len(crops))
        codes[dataset] = encode_crops(encoder, latent_avg, crops, device, progress.update)
        progress.finish(len(crops))
        labels[dataset] = (values, names)
        alignments.add(alignment)
    if len(alignments) != 1:
        raise ValueError(f"the datasets were aligned differently: {sorted(alignments)}")
    fitted = fit_attributes(
        codes,
        labels,
        sample_w(generator, W_SAMPLES, args.seed).double().cpu().numpy(),
        seed=args.seed,
    )
    report = {"directions": fit_report(fitted), "crops": {k: len(v) for k, v in codes.items()}}
    write_pack(args.out, args.generator, args.encoder, fitted, alignments.pop(), generator.size,
               report, name=args.name)  # fmt: skip
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    print(f"wrote the pack {args.out}", flush=True)
    return 0
