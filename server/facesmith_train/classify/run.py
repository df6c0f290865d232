"""Run `facesmith train classifier`: train one network on yes/no labels of a prepared .npz
(one output each), write the weights and the report (JSON) beside them."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facesmith.arguments import apply_threads
from facesmith.files import atomic_write
from facesmith_train.classify.model import INPUT_SIZE, save_attribute
from facesmith_train.classify.train import train_attributes
from facesmith_train.data.prepared import load_prepared


@dataclass(frozen=True)
class Wanted:
    """One output of the classifier: its name and the label it reads (negated: its absence)."""

    name: str
    label: str
    negated: bool = False


def parse_wanted(spec: str) -> Wanted:
    """``Bald``, ``bald=Bald`` or ``beard=~No_Beard`` (the label's absence) → Wanted."""
    name, sep, label = spec.partition("=")
    if not sep:
        name, label = spec.lstrip("~").lower(), spec
    negated = label.startswith("~")
    label = label.lstrip("~")
    if not name or not label:
        raise ValueError(f"--attribute {spec!r}: expected LABEL, NAME=LABEL or NAME=~LABEL")
    return Wanted(name, label, negated)


@dataclass(frozen=True)
class AttributeData:
    crops: np.ndarray  # uint8 [N, S, S, 3] RGB
    labels: np.ndarray  # bool [N, K]: has each attribute
    held_out: np.ndarray  # bool [N]
    alignment: str | None  # the template the crops were aligned with (prepare.py)


def load_attribute_data(path: Path, wanted: list[Wanted]) -> AttributeData:
    """The wanted label columns of a prepared .npz as yes/no arrays (values > 0 mean yes, so
    both 0/1 and -1/1 labels work); ValueError naming the labels if one is missing."""
    prepared = load_prepared(path, split="all")
    missing = [w.label for w in wanted if w.label not in prepared.label_names]
    if missing:
        names = ", ".join(prepared.label_names)
        raise ValueError(f"{path} has no attribute {missing[0]!r}; it has: {names}")
    labels = np.stack([(prepared.column(w.label) > 0) != w.negated for w in wanted], axis=1)
    return AttributeData(prepared.crops, labels, prepared.held_out, prepared.alignment)


def report_path(weights: Path) -> Path:
    """bald.pt -> bald.json beside it."""
    return weights.with_suffix(".json")


def run(args: argparse.Namespace) -> int:
    """Run a parsed `facesmith train classifier` command line."""
    from facesmith_server.devices import choose_device, describe

    apply_threads(args)
    wanted = [parse_wanted(spec) for spec in args.attribute]
    data = load_attribute_data(args.data, wanted)
    device = choose_device(args.device)
    train = ~data.held_out

    def say(line: str) -> None:  # progress on stderr, results on stdout
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    counts = ", ".join(f"{w.name} {int(data.labels[train, k].sum())}"
                       for k, w in enumerate(wanted))  # fmt: skip
    say(f"training on {int(train.sum())} faces (yes: {counts}), {args.iterations} steps of "
        f"{args.batch}, {describe(device)}")  # fmt: skip
    started = time.monotonic()
    net, results = train_attributes(
        data.crops, data.labels, data.held_out, iterations=args.iterations, batch=args.batch,
        seed=args.seed, device=device, report=say,
    )  # fmt: skip
    heads = [
        {"name": w.name, "attribute": w.label, "negated": w.negated,
         "threshold": r.threshold, "report": asdict(r)}
        for w, r in zip(wanted, results, strict=True)
    ]  # fmt: skip
    meta: dict[str, Any] = {
        "heads": heads,
        "alignment": data.alignment,
        "input_size": INPUT_SIZE,
        "data": str(args.data),
        "iterations": args.iterations,
        "batch": args.batch,
        "seed": args.seed,
        "seconds": round(time.monotonic() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_attribute(args.out, net, meta)
    atomic_write(report_path(args.out), (json.dumps(meta, indent=2) + "\n").encode())
    for w, r in zip(wanted, results, strict=True):
        sys.stdout.write(
            f"{w.name}: held-out accuracy {r.held_out_accuracy:.3f}, balanced accuracy "
            f"{r.held_out_balanced_accuracy:.3f} ({r.n_test} faces, {r.positives_test} with it; "
            f"threshold {r.threshold})\n"
        )
    sys.stdout.write(f"in {meta['seconds']} s; wrote {args.out} and {report_path(args.out)}\n")
    return 0
