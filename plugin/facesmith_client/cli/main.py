"""`facesmith`: edit faces in photos from the command line.

facesmith edit IMG... --age 20 --gender -1 --bald 1 [--edit NAME=STRENGTH ...] [--out-dir D]
facesmith batch IN_DIR OUT_DIR --age 20 a folder, resumable (--engine local|ray, --server ×N)
facesmith faces IMG...                  detected faces as JSON (one line per image)
facesmith generate --seed 7 --count 16  faces that do not exist (--set age=60 ...)
facesmith sketch DRAWING...             a face from each line drawing (--follow 0..1)
facesmith info                          the server's pack and its edits
facesmith bench                         per-stage timings on a 12-megapixel photo
facesmith pack | directions | score | train ...   (see `facesmith COMMAND -h`)

Only the parsers are imported to read a command line, so `facesmith --help` is instant; a
command's own module (and torch, numpy, the models) is imported when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from facesmith_client.cli.batch import add_batch_parser
from facesmith_client.cli.bench import add_bench_parser
from facesmith_client.cli.connect import CliError, status
from facesmith_client.cli.directions import add_directions_parser
from facesmith_client.cli.edit import add_edit_parser, add_faces_parser
from facesmith_client.cli.generate import add_generate_parser
from facesmith_client.cli.info import add_info_parser
from facesmith_client.cli.packs import add_pack_parser
from facesmith_client.cli.score import add_score_parser
from facesmith_client.cli.sketch import add_sketch_parser
from facesmith_client.cli.train import add_train_parser

Run = Callable[[argparse.Namespace], int]
TUNES_ALLOCATOR_ITSELF = "facesmith_client.cli.bench:run_bench"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facesmith",
        description="Face attribute editing (age, gender, bald, ...) with StyleGAN2.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    adders = [add_edit_parser, add_batch_parser, add_faces_parser, add_info_parser]
    adders += [add_generate_parser, add_sketch_parser, add_bench_parser]
    adders += [add_pack_parser, add_directions_parser, add_score_parser, add_train_parser]
    for add in adders:
        add(commands)
    return parser


def resolve(run: Run | str) -> Run:
    """A command's run function, or its "module:function" name imported now."""
    if callable(run):
        return run
    module, _, name = run.partition(":")
    function: Run = getattr(importlib.import_module(module), name)
    return function


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from facesmith.memory import retain_freed_memory
    from facesmith_client.remote.client import ClientError
    from facesmith_client.remote.local_server import LocalServerError

    if args.run != TUNES_ALLOCATOR_ITSELF:  # the bench measures the untuned allocator first
        retain_freed_memory()  # detection on big photos allocates large buffers again and again
    try:
        return resolve(args.run)(args)
    except (CliError, ClientError, LocalServerError, ValueError, OSError) as err:
        status(f"facesmith: error: {err}")
        return 1
    except KeyboardInterrupt:
        status("facesmith: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
