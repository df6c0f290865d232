"""Run `facesmith train classifier`: train one yes/no label of a prepared .npz, write the
weights and the report (JSON) beside them."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facesmith.files import atomic_write
from facesmith_train.classify.model import INPUT_SIZE, save_attribute
from facesmith_train.classify.train import train_attribute
from facesmith_train.data.prepared import load_prepared


@dataclass(frozen=True)
class AttributeData:
    crops: np.ndarray  # uint8 [N, S, S, 3] RGB
    labels: np.ndarray  # bool [N]: has the attribute
    held_out: np.ndarray  # bool [N]
    alignment: str | None  # the template the crops were aligned with (prepare.py)


def load_attribute_data(path: Path, attribute: str) -> AttributeData:
    """One label column of a prepared .npz as a yes/no array (values > 0 mean yes, so both
    0/1 and -1/1 labels work); ValueError naming the attributes if it has no such one."""
    prepared = load_prepared(path, split="all")
    if attribute not in prepared.label_names:
        names = ", ".join(prepared.label_names)
        raise ValueError(f"{path} has no attribute {attribute!r}; it has: {names}")
    labels = prepared.column(attribute) > 0
    return AttributeData(prepared.crops, labels, prepared.held_out, prepared.alignment)


def report_path(weights: Path) -> Path:
    """bald.pt -> bald.json beside it."""
    return weights.with_suffix(".json")


def run(args: argparse.Namespace) -> int:
    """Run a parsed `facesmith train classifier` command line."""
    from facesmith_server.devices import choose_device, describe

    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_attribute_data(args.data, args.attribute)
    if args.negate:
        data = replace(data, labels=~data.labels)
    device = choose_device(args.device)
    name = ("not_" if args.negate else "") + args.attribute.lower()
    train = ~data.held_out

    def say(line: str) -> None:  # progress on stderr, results on stdout
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    say(
        f"training {args.attribute!r} on {int(train.sum())} faces "
        f"({int(data.labels[train].sum())} yes), {args.iterations} steps of {args.batch}, "
        f"{describe(device)}"
    )
    started = time.monotonic()
    net, result = train_attribute(
        data.crops, data.labels, data.held_out, iterations=args.iterations, batch=args.batch,
        seed=args.seed, device=device, report=say,
    )  # fmt: skip
    meta: dict[str, Any] = {
        "name": name,
        "attribute": args.attribute,
        "negated": bool(args.negate),
        "threshold": result.threshold,
        "alignment": data.alignment,
        "input_size": INPUT_SIZE,
        "data": str(args.data),
        "iterations": args.iterations,
        "batch": args.batch,
        "seed": args.seed,
        "seconds": round(time.monotonic() - started, 1),
        "report": asdict(result),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_attribute(args.out, net, meta)
    atomic_write(report_path(args.out), (json.dumps(meta, indent=2) + "\n").encode())
    sys.stdout.write(
        f"{args.attribute}: held-out accuracy {result.held_out_accuracy:.3f}, balanced accuracy "
        f"{result.held_out_balanced_accuracy:.3f} ({result.n_test} faces, "
        f"{result.positives_test} with it; threshold {result.threshold}) in {meta['seconds']} s\n"
        f"wrote {args.out} and {report_path(args.out)}\n"
    )
    return 0
