"""`facesmith edit` and `facesmith faces`: edit every face of photos, or list the faces found.

facesmith edit IMG... --age 20 --gender -1 --bald 1 [--edit NAME=STRENGTH ...] [--out-dir D]
               [--server HOST:PORT] [--token T] [--mode adaptive|residual|replace]
               [--refine-steps N]
facesmith edit --sweep age IMG          contact sheet: the photo at strengths across the range
facesmith edit astronaut --age 20       scikit-image's astronaut photo (no file needed)
facesmith faces IMG...                  detected faces as JSON (one line per image)

Parsers only at import; the runtime's stages are imported when a command runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facesmith.arguments import add_server_arguments
from facesmith.quality import DEFAULT_PASTE_MODE, MAX_REFINE_STEPS, PASTE_MODES, QUALITIES
from facesmith_client.cli.connect import CliError, connect, skip_or_raise, status
from facesmith_client.cli.outputs import (
    EXAMPLE_NAME,
    OUTPUT_SUFFIX,
    Planned,
    add_output_arguments,
    int_between,
    output_path,
    plan_outputs,
    prepare_out_dir,
    to_write,
    usable_inputs,
)
from facesmith_client.cli.progress import ProgressBar

if TYPE_CHECKING:
    import numpy as np

    from facesmith_client.remote.client import EditSpec, FacesmithClient, ServerInfo
    from facesmith_client.vision.images import PhotoFile

SHORTCUT_EDITS = ("age", "gender", "bald", "smile")
__all__ = ["EXAMPLE_NAME", "OUTPUT_SUFFIX", "output_path"]  # also used from here


def edit_argument(text: str) -> EditSpec:
    """``NAME=STRENGTH`` → EditSpec (argparse type)."""
    from facesmith_client.remote.client import EditSpec

    name, sep, value = text.partition("=")
    try:
        strength = float(value)
    except ValueError:
        strength = float("nan")
    if not sep or not name.strip() or not math.isfinite(strength):
        raise argparse.ArgumentTypeError(
            f"expected NAME=STRENGTH (e.g. age=20 or gender=-1), got {text!r}"
        )
    return EditSpec(name.strip(), strength)


def add_edit_parser(commands: Any) -> None:
    p = commands.add_parser(
        "edit",
        help="edit every face of each photo",
        description="Edit every face of each photo; writes IMG_facesmith.EXT beside the input "
        f"(or in --out-dir). The name {EXAMPLE_NAME!r} loads scikit-image's astronaut photo.",
    )
    p.add_argument("images", nargs="+", metavar="IMG", help="photo files")
    add_edit_options(p)
    p.add_argument(
        "--sweep",
        metavar="NAME",
        help="write a contact sheet: the photo at strengths of NAME across its range",
    )
    p.add_argument(
        "--sweep-steps", type=int_between(2), default=5, metavar="N", help="strengths in a sweep"
    )
    p.add_argument(
        "--compare",
        action="store_true",
        help="also write NAME_facesmith_compare.png: the photo and the result side by side",
    )
    p.add_argument("--out-dir", type=Path, help="output folder (default: beside each input)")
    add_output_arguments(p)
    add_server_arguments(p)
    p.set_defaults(run="facesmith_client.cli.edit:run_edit")


def add_edit_options(p: argparse.ArgumentParser) -> None:
    """The edits and how faces are inverted and pasted back: shared by `edit` and `batch`."""
    add_edit_choices(p)
    add_inversion_options(p)


def add_edit_choices(p: argparse.ArgumentParser) -> None:
    """Which edits, how strong (read by collect_edits): `edit`, `batch` and `generate`."""
    for name in SHORTCUT_EDITS:
        p.add_argument(f"--{name}", type=float, metavar="S", help=f"same as --edit {name}=S")
    p.add_argument(
        "--edit",
        dest="edits",
        action="append",
        type=edit_argument,
        default=[],
        metavar="NAME=STRENGTH",
        help="any edit the server offers (`facesmith info` lists them); repeatable",
    )
    p.add_argument(
        "--set",
        dest="targets",
        action="append",
        type=target_argument,
        default=[],
        metavar="NAME=VALUE",
        help="move each face until the pack's model of the attribute says VALUE: age=70 "
        "(years), bald=1 or smile=0 (yes/no: a probability); repeatable",
    )
    p.add_argument(
        "--swap-gender",
        action="store_true",
        help="mirror each face across the gender boundary: men become women and women men",
    )
    p.add_argument(
        "--hold",
        action="append",
        default=[],
        metavar="NAME",
        help="keep this attribute fixed while editing the others (e.g. --hold gender)",
    )


def add_inversion_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--mode",
        choices=PASTE_MODES,
        default=DEFAULT_PASTE_MODE,
        help="adaptive: the generated face (with the photo's finest detail) where the edit "
        "changes the face much, elsewhere only the change (default); residual: only the "
        "change (hair and outline edits show as a ghost); replace: the generated face",
    )
    p.add_argument(
        "--quality",
        choices=QUALITIES,
        default="default",
        help="encoder: fastest; refine: optimise the latent too; pivotal: also tune the "
        "generator to the face (best likeness, slowest); default: the server's choice for "
        "its pack (refinement on small packs)",
    )
    p.add_argument(
        "--refine-steps",
        type=int_between(0, MAX_REFINE_STEPS),
        default=0,
        metavar="N",
        help="optimisation steps after the encoder (0: as --quality says)",
    )
    p.add_argument("--min-face-size", type=int_between(12), default=40, metavar="PX")
    p.add_argument(
        "--fast",
        action="store_true",
        help="one-pass edits by the pack's students (no inversion: much faster, coarser); "
        "`facesmith info` lists them",
    )


def add_faces_parser(commands: Any) -> None:
    p = commands.add_parser("faces", help="print the detected faces as JSON")
    p.add_argument("images", nargs="+", metavar="IMG")
    p.add_argument("--min-face-size", type=int_between(12), default=40, metavar="PX")
    p.set_defaults(run="facesmith_client.cli.edit:run_faces")


def target_argument(text: str) -> EditSpec:
    """``NAME=VALUE`` → an absolute ("set") EditSpec (argparse type)."""
    spec = edit_argument(text)
    return replace(spec, mode="set", target=spec.strength, strength=0.0)


def collect_edits(args: argparse.Namespace) -> list[EditSpec]:
    """The shortcut flags, --edit, --set and --swap-gender; each name at most once; --hold
    added to all."""
    from facesmith_client.remote.client import EditSpec

    edits = [EditSpec(n, getattr(args, n)) for n in SHORTCUT_EDITS if getattr(args, n) is not None]
    edits += args.edits + args.targets
    if args.swap_gender:
        edits.append(EditSpec("gender", mode="swap"))
    names = [spec.name for spec in edits]
    for name in names:
        if names.count(name) > 1:
            raise CliError(f"edit {name!r} is given more than once")
    hold = tuple(args.hold)
    return [replace(s, hold=tuple(h for h in hold if h != s.name)) for s in edits]


def load_input(name: str) -> np.ndarray:
    """The photo at ``name`` (or scikit-image's astronaut for the example name)."""
    return load_photo(name)[0]


def load_photo(name: str) -> tuple[np.ndarray, PhotoFile | None]:
    """The photo at ``name`` and what its file holds besides the pixels (nothing for the
    example)."""
    from facesmith_client.vision.images import read_photo

    if name == EXAMPLE_NAME and not Path(name).exists():
        return example_photo(), None
    return read_photo(Path(name))


def example_photo() -> np.ndarray:
    """scikit-image's astronaut (NASA, public domain): 512 x 512 x 3 uint8 RGB."""
    import numpy as np

    try:
        from skimage import data
    except ImportError as err:
        raise CliError(
            f"the {EXAMPLE_NAME!r} example needs scikit-image: pip install scikit-image"
        ) from err
    return np.ascontiguousarray(data.astronaut())


def run_edit(args: argparse.Namespace) -> int:
    """Edit every photo given; each result gets its own new name (see cli/outputs.py).
    Missing, unreadable and faceless photos are reported and skipped (exit status 1)."""
    from facesmith_client.vision.detect import load_detector

    edits = collect_edits(args)
    if not edits and not args.sweep:
        raise CliError(
            "no edit given; e.g. --age 20, --gender -1, --bald 1, --set age=70, --swap-gender "
            "or --edit NAME=S"
        )
    if args.fast and args.sweep:
        raise CliError("--sweep renders latents; it cannot be combined with --fast")
    prepare_out_dir(args.out_dir)
    names, failures = usable_inputs(args.images, status)
    if args.sweep:
        plans = plan_outputs(names, args.out_dir, f"{OUTPUT_SUFFIX}_sweep_{args.sweep}", ".png")
    else:
        plans = plan_outputs(names, args.out_dir)
    todo = to_write(plans, args.overwrite)
    if not todo:
        return 1 if failures else 0
    detector = load_detector("cpu")
    with connect(args) as client:
        info = client.info()
        _check_edit_names(info, edits, args.sweep, args.fast)
        edit_one = _sweep_one if args.sweep else _edit_one
        failures += sum(not edit_one(plan, client, detector, edits, args) for plan in todo)
    return 1 if failures else 0


def _check_edit_names(
    info: ServerInfo, edits: Sequence[EditSpec], sweep: str | None, fast: bool
) -> None:
    from facesmith_client.remote.client import check_edits, check_fast_edits

    try:
        (check_fast_edits if fast else check_edits)(info, edits)
        if sweep:
            info.edit(sweep)
    except ValueError as err:
        raise CliError(str(err)) from None


def per_input(name: str, work: Callable[[ProgressBar], tuple[Path, str, list[str]]]) -> bool:
    """Run ``work`` for one input under a progress bar → True, after printing where its result
    went and the notes it left (e.g. set edits that stopped short); False (after saying why)
    when the input is skipped. Fatal errors propagate."""
    from facesmith_client.remote.client import ClientError

    bar = ProgressBar(Path(name).name)
    try:
        out, done, notes = work(bar)
    except (ValueError, ClientError) as err:  # unreadable file, no face, refused by the server
        bar.close()
        skip_or_raise(name, err)
        return False
    bar.close()
    status(f"{name}: {done} → {out}")
    print(out)
    for note in notes:
        status(f"{name}: {note}")
    return True


def _edit_one(
    plan: Planned, client: FacesmithClient, detector: Any, edits: list[EditSpec], args: Any
) -> bool:
    """Edit one photo and write the result; False (after saying why) if it cannot be done."""
    from facesmith_client.pipeline.notes import short_edit_notes
    from facesmith_client.pipeline.photo import edit_photo
    from facesmith_client.vision.images import write_photo

    def work(bar: ProgressBar) -> tuple[Path, str, list[str]]:
        photo, source = load_photo(plan.name)
        edited = edit_photo(
            photo,
            client,
            detector,
            edits,
            mode=args.mode,
            min_face_size=args.min_face_size,
            refine_steps=args.refine_steps,
            quality=args.quality,
            fast=args.fast,
            on_event=bar,
        )
        write_photo(plan.out, edited.image, source)
        if args.compare:
            _write_compare(plan.out, photo, edited.image, args.overwrite)
        notes = short_edit_notes(edited.short_edits, client.info())
        return plan.out, f"{len(edited.faces)} face(s) edited", notes

    return per_input(plan.name, work)


def _write_compare(out: Path, photo: Any, edited: Any, overwrite: bool) -> None:
    """OUT_compare.png: the photo and its result side by side; an existing file is kept
    unless ``overwrite``."""
    import numpy as np

    from facesmith_client.vision.images import write_image

    path = out.with_name(f"{out.stem}_compare.png")
    if os.path.lexists(path) and not overwrite:
        status(f"{path} already exists — comparison not written (--overwrite replaces it)")
        return
    write_image(path, np.concatenate([photo, edited], axis=1))


def _sweep_one(
    plan: Planned, client: FacesmithClient, detector: Any, edits: list[EditSpec], args: Any
) -> bool:
    """Write the contact sheet of one photo; False (after saying why) if it cannot be done."""
    from facesmith_client.pipeline.photo import invert_photo
    from facesmith_client.pipeline.sweep import contact_sheet, sweep_strengths
    from facesmith_client.vision.images import write_image

    def work(bar: ProgressBar) -> tuple[Path, str, list[str]]:
        photo = invert_photo(
            load_input(plan.name),
            client,
            detector,
            min_face_size=args.min_face_size,
            refine_steps=args.refine_steps,
            quality=args.quality,
            on_event=bar,
        )
        strengths = sweep_strengths(client.info().edit(args.sweep), args.sweep_steps)
        sheet = contact_sheet(
            photo, client, args.sweep, strengths, edits, hold=tuple(args.hold), mode=args.mode
        )
        write_image(plan.out, sheet)
        return plan.out, f"contact sheet of {args.sweep} at {strengths}", []

    return per_input(plan.name, work)


def run_faces(args: argparse.Namespace) -> int:
    from facesmith_client.vision.detect import detect_faces, load_detector

    names, failures = usable_inputs(args.images, status)
    if not names:
        return 1
    detector = load_detector("cpu")
    for name in names:
        try:
            image = load_input(name)
        except ValueError as err:
            status(f"{name}: {err} — skipped")
            failures += 1
            continue
        faces = detect_faces(image, detector, min_face_size=args.min_face_size)
        print(json.dumps(faces_json(name, image, faces)), flush=True)
    return 1 if failures else 0


def faces_json(name: str, image: np.ndarray, faces: Sequence[Any]) -> dict[str, Any]:
    """One image's faces: box (x0, y0, x1, y1), score, landmarks [[x, y] × 5] in pixels."""
    return {
        "image": name,
        "width": int(image.shape[1]),
        "height": int(image.shape[0]),
        "faces": [
            {
                "box": [round(float(v), 1) for v in face.box],
                "score": round(float(face.score), 4),
                "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in face.landmarks],
            }
            for face in faces
        ],
    }
