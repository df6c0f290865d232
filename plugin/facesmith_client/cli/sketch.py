"""`facesmith sketch`: a face from each line drawing.

facesmith sketch DRAWING... [--follow F] [--seed N] [--age 30 | --set age=60 ...] [--out-dir D]

Writes STEM_facesmith_face.png per drawing (beside it, or in --out-dir): the face the lines
show, at the size they were drawn. Parser only at import.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facesmith.arguments import add_server_arguments
from facesmith.quality import DEFAULT_FOLLOW, MAX_SEED
from facesmith_client.cli.connect import CliError, connect, status
from facesmith_client.cli.edit import add_edit_choices, collect_edits
from facesmith_client.cli.generate import unit_interval
from facesmith_client.cli.outputs import (
    OUTPUT_SUFFIX,
    Planned,
    add_output_arguments,
    int_between,
    plan_outputs,
    prepare_out_dir,
    to_write,
    usable_inputs,
)
from facesmith_client.cli.progress import ProgressBar

if TYPE_CHECKING:
    from facesmith_client.remote.client import EditSpec, FacesmithClient


def add_sketch_parser(commands: Any) -> None:
    p = commands.add_parser(
        "sketch",
        help="make a face from a line drawing",
        description="Make the face a line drawing shows (dark lines on light paper, or on a "
        "transparent background), optionally edited. Writes STEM_facesmith_face.png per "
        "drawing, at the size the face was drawn.",
    )
    p.add_argument("drawings", nargs="+", metavar="DRAWING", help="drawing files")
    p.add_argument(
        "--follow",
        type=unit_interval,
        default=DEFAULT_FOLLOW,
        metavar="F",
        help=f"how closely the face follows the lines: 0 (fastest: the sketch encoder's face) "
        f"… 1 (the most refinement against the lines) ({DEFAULT_FOLLOW})",
    )
    p.add_argument("--seed", type=int_between(0, MAX_SEED), default=0, metavar="N",
                   help="the face whose colours and fine texture the faces take; another seed, "
                   "another variation (0)")  # fmt: skip
    add_edit_choices(p)
    p.add_argument("--out-dir", type=Path, help="output folder (default: beside each drawing)")
    add_output_arguments(p)
    add_server_arguments(p)
    p.set_defaults(run="facesmith_client.cli.sketch:run_sketch")


def run_sketch(args: argparse.Namespace) -> int:
    """A face per drawing; unreadable or empty drawings are reported and skipped (status 1)."""
    from facesmith_client.remote.client import check_edits

    edits = collect_edits(args)
    prepare_out_dir(args.out_dir)
    names, failures = usable_inputs(args.drawings, status)
    plans = plan_outputs(names, args.out_dir, f"{OUTPUT_SUFFIX}_face", ".png")
    todo = to_write(plans, args.overwrite)
    if not todo:
        return 1 if failures else 0
    with connect(args) as client:
        info = client.info()
        if not info.sketch:
            raise CliError(f"the pack {info.pack_name!r} has no sketch encoder: use a pack with "
                           "one (facesmith train sketch adds it)")  # fmt: skip
        try:
            check_edits(info, edits)
        except ValueError as err:
            raise CliError(str(err)) from None
        failures += sum(not _sketch_one(plan, client, edits, args) for plan in todo)
    return 1 if failures else 0


def _sketch_one(plan: Planned, client: FacesmithClient, edits: list[EditSpec], args: Any) -> bool:
    from facesmith_client.cli.edit import per_input
    from facesmith_client.pipeline.notes import face_notes
    from facesmith_client.pipeline.sketch import face_from_sketch
    from facesmith_client.vision.images import read_image, write_image

    def work(bar: ProgressBar) -> tuple[Path, str, list[str]]:
        drawing = read_image(plan.name)
        face = face_from_sketch(client, drawing, args.follow, edits, seed=args.seed,
                                on_event=bar)  # fmt: skip
        write_image(plan.out, face.image)
        notes = face_notes(face.short_edits, client.info())
        return plan.out, f"a face of {face.box.side} px", notes

    return per_input(plan.name, work)
