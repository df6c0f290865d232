"""`facesmith generate`: faces that do not exist, one per seed (the same seed, the same face).

facesmith generate --seed 7 [--count 16] [--truncation 0.7] [--set age=60 --set gender=0]
                   [--size 256] --out-dir D

Writes D/face_SEED.png per face and, with --count, a contact sheet D/faces_FIRST-LAST.png.
Parser only at import.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facesmith.arguments import add_server_arguments
from facesmith.quality import DEFAULT_TRUNCATION, MAX_SEED
from facesmith_client.cli.connect import CliError, connect, status
from facesmith_client.cli.edit import add_edit_choices, collect_edits
from facesmith_client.cli.outputs import add_output_arguments, int_between, prepare_out_dir

if TYPE_CHECKING:
    import numpy as np

MAX_COUNT = 64  # faces per run (one server call)
MAX_SIZE = 2048


def add_generate_parser(commands: Any) -> None:
    p = commands.add_parser(
        "generate",
        help="make faces that do not exist (one per seed)",
        description="Make faces that do not exist: one per seed, the same face for the same "
        "seed; optionally edited (--set age=60 --set gender=0: about 60, female). Writes "
        "face_SEED.png per face in --out-dir, and a contact sheet with --count.",
    )
    p.add_argument("--seed", type=int_between(0, MAX_SEED), default=0, metavar="N",
                   help="the first face's seed (0)")  # fmt: skip
    p.add_argument("--count", type=int_between(1, MAX_COUNT), default=1, metavar="K",
                   help="faces of seeds N, N+1, …, N+K-1 (1)")  # fmt: skip
    p.add_argument(
        "--truncation",
        type=unit_interval,
        default=DEFAULT_TRUNCATION,
        metavar="T",
        help=f"0: the average face … 1: the generator's full variety ({DEFAULT_TRUNCATION})",
    )
    add_edit_choices(p)
    p.add_argument("--size", type=int_between(0, MAX_SIZE), default=0, metavar="PX",
                   help="scale the faces to PX (0: the pack's resolution)")  # fmt: skip
    p.add_argument("--out-dir", type=Path, required=True, help="output folder")
    add_output_arguments(p)
    add_server_arguments(p)
    p.set_defaults(run="facesmith_client.cli.generate:run_generate")


def unit_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}")
    return value


def run_generate(args: argparse.Namespace) -> int:
    from facesmith_client.pipeline.notes import face_notes
    from facesmith_client.remote.client import check_edits

    seeds = list(range(args.seed, args.seed + args.count))
    if seeds[-1] > MAX_SEED:
        raise CliError(f"--seed {args.seed} with --count {args.count} passes {MAX_SEED}")
    edits = collect_edits(args)
    prepare_out_dir(args.out_dir)
    with connect(args) as client:
        try:
            check_edits(client.info(), edits)
        except ValueError as err:
            raise CliError(str(err)) from None
        result = client.generate(seeds, edits, truncation=args.truncation)
        notes = [f"face_{seed}: {note}" for seed, face in zip(seeds, result.faces, strict=True)
                 for note in face_notes(face.short_edits, client.info())]  # fmt: skip
    faces = [_scaled(face.image, args.size) for face in result.faces]
    written = [
        _write(args.out_dir / f"face_{seed}.png", face, args.overwrite)
        for seed, face in zip(seeds, faces, strict=True)
    ]
    if len(faces) > 1:
        sheet = args.out_dir / f"faces_{seeds[0]}-{seeds[-1]}.png"
        written.append(_write(sheet, contact_sheet(faces), args.overwrite))
    for path in written:
        if path is not None:
            print(path)
    for note in notes:
        status(note)
    return 0


def _scaled(image: np.ndarray | None, size: int) -> np.ndarray:
    import cv2

    from facesmith import pixels

    if image is None:
        raise CliError("the server returned no image")
    if not size or image.shape[0] == size:
        return image
    resized = cv2.resize(pixels.to_float(image), (size, size), interpolation=cv2.INTER_CUBIC)
    return pixels.from_float(resized.clip(0, 1), image.dtype)


def contact_sheet(faces: list[np.ndarray]) -> np.ndarray:
    """Faces (same size) in a near-square grid, row by row; empty cells black."""
    import numpy as np

    columns = math.ceil(math.sqrt(len(faces)))
    rows = math.ceil(len(faces) / columns)
    side = faces[0].shape[0]
    sheet = np.zeros((rows * side, columns * side, 3), faces[0].dtype)
    for i, face in enumerate(faces):
        r, c = divmod(i, columns)
        sheet[r * side : (r + 1) * side, c * side : (c + 1) * side] = face[:, :, :3]
    return sheet


def _write(path: Path, image: np.ndarray, overwrite: bool) -> Path | None:
    from facesmith_client.vision.images import write_image

    if os.path.lexists(path) and not overwrite:
        status(f"{path} already exists — not written (--overwrite replaces it)")
        return None
    write_image(path, image)
    return path
