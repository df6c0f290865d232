"""`facesmith bench`: median time of each stage (the client's stages on a 12-megapixel photo,
and the server's models), plus how long `facesmith --help` takes to start."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from facesmith.arguments import add_device_argument
from facesmith_client.cli.connect import CliError


def add_bench_parser(commands: Any) -> None:
    p = commands.add_parser("bench", help="time each stage on a 12-megapixel photo")
    p.add_argument("--repeats", type=int, default=5, metavar="N")
    add_device_argument(p, default="cpu", help="device for the model rows")
    p.add_argument("--no-models", action="store_true", help="time the client stages only")
    p.add_argument(
        "--batch",
        type=Path,
        metavar="DIR",
        help="instead: photos per minute of `facesmith batch` over DIR with each engine (local, "
        "two servers, Ray with 1 and 2 actors) and a Ray actor's memory",
    )
    p.add_argument("--pack", type=Path, help="pack of the --batch runs (default: the demo)")
    p.add_argument("--photos-per-call", type=int, default=4, metavar="N")
    p.set_defaults(run="facesmith_client.cli.bench:run_bench")


def run_bench(args: argparse.Namespace) -> int:
    from facesmith.memory import retain_freed_memory
    from facesmith_client.cli.stage_bench import bench_client, bench_help, format_rows, table_header
    from facesmith_server.bench import BenchRow, bench_models

    if args.repeats < 1:
        raise CliError("--repeats must be at least 1")
    if args.batch is not None:
        return _bench_batch(args)

    def show(row: BenchRow) -> None:
        print(format_rows([row]), flush=True)

    print(table_header(), flush=True)
    for row in bench_help(args.repeats):  # first: before this process warms the file cache
        show(row)
    if not args.no_models:  # first: it times the reference before tuning the allocator
        for row in bench_models(args.device, args.repeats):
            show(row)
    else:
        retain_freed_memory()
    bench_client(args.repeats, on_row=show)
    return 0


def _bench_batch(args: argparse.Namespace) -> int:
    from facesmith_client.batch.on_ray import RayMissing
    from facesmith_client.cli.batch_bench import bench_batch
    from facesmith_client.remote.local_server import default_pack_dir

    if not args.batch.is_dir():
        raise CliError(f"--batch {args.batch} is not a folder")
    pack = args.pack if args.pack is not None else default_pack_dir()
    try:
        bench_batch(args.batch, pack, args.photos_per_call, lambda line: print(line, flush=True))
    except RayMissing as err:
        raise CliError(str(err)) from None
    return 0
