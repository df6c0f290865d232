"""`facesmith batch INPUT_DIR OUTPUT_DIR --age 20 ...`: the same edit over every photo of a
folder, resumable, in this process (--engine local, against one or several --server) or on
Ray (--engine ray [--address ADDR]). Parser only at import."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facesmith.arguments import add_device_argument, add_token_arguments
from facesmith_client.cli.connect import CliError, status
from facesmith_client.cli.edit import add_edit_options, collect_edits
from facesmith_client.cli.outputs import add_output_arguments, int_between

if TYPE_CHECKING:
    from facesmith_client.batch.local import ServerLost
    from facesmith_client.batch.plan import Job
    from facesmith_client.batch.stages import EditSettings, Outcome

DEFAULT_PHOTOS_PER_CALL = 4
INTERRUPTED = 130  # the shell's status for a run ended by Ctrl-C


def add_batch_parser(commands: Any) -> None:
    p = commands.add_parser(
        "batch",
        help="edit every photo of a folder (resumable; local, several servers or Ray)",
        description="Edit every face of every photo under INPUT_DIR; results go to the same "
        "relative path under OUTPUT_DIR, and a line per photo to OUTPUT_DIR/"
        "facesmith-batch.jsonl. A re-run skips photos already done, so an interrupted run "
        "continues where it stopped.",
    )
    p.add_argument("input_dir", type=Path, metavar="INPUT_DIR")
    p.add_argument("output_dir", type=Path, metavar="OUTPUT_DIR")
    add_edit_options(p)
    add_output_arguments(p)
    p.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: this process (default); ray: Ray Data with model actors "
        "(pip install 'facesmith[scale]')",
    )
    p.add_argument(
        "--server",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="a running facesmith-server; repeat to spread the photos over several "
        "(local engine; default: start one for this run)",
    )
    add_token_arguments(p)
    p.add_argument(
        "--pack",
        type=Path,
        help="model pack of the servers started for the run (default: the built-in demo)",
    )
    add_device_argument(p, help="device of the local server")
    p.add_argument(
        "--photos-per-call",
        type=int_between(1, 64),
        default=DEFAULT_PHOTOS_PER_CALL,
        metavar="N",
        help=f"photos whose faces go to the model together ({DEFAULT_PHOTOS_PER_CALL})",
    )
    ray = p.add_argument_group("Ray (--engine ray)")
    ray.add_argument(
        "--address", help="a running Ray cluster (`ray start --head`); default: a local Ray"
    )
    ray.add_argument(
        "--actors",
        type=int_between(1),
        default=1,
        metavar="N",
        help="model actors, each with its own copy of the pack (1)",
    )
    ray.add_argument("--cpus-per-actor", type=float, default=1.0, metavar="N")
    ray.add_argument(
        "--gpus-per-actor",
        type=float,
        default=0.0,
        metavar="N",
        help="GPUs per model actor (0: CPU; e.g. 1, or 0.5 to share a GPU)",
    )
    p.set_defaults(run="facesmith_client.cli.batch:run")


def run(args: argparse.Namespace) -> int:
    from facesmith_client.batch.stages import EditSettings

    edits = collect_edits(args)
    if not edits:
        raise CliError("no edit given; e.g. --age 20, --gender -1, --set age=70 or --swap-gender")
    if args.engine == "ray" and args.server:
        raise CliError("--server is for the local engine; Ray starts its own servers on --pack")
    if args.engine == "local" and args.address:
        raise CliError("--address is for --engine ray")
    settings = EditSettings(
        tuple(edits), args.mode, args.quality, args.refine_steps, args.min_face_size, args.fast
    )
    return run_batch(args, settings)


def run_batch(args: argparse.Namespace, settings: EditSettings) -> int:
    """→ 0 if every photo was edited, 1 if some failed (see the manifest), 130 if stopped."""
    from facesmith_client.batch.local import NoServerLeft
    from facesmith_client.batch.manifest import Manifest
    from facesmith_client.batch.plan import PlanError, group_jobs, plan_jobs
    from facesmith_client.batch.progress import RunProgress

    try:
        todo, kept = plan_jobs(args.input_dir, args.output_dir, args.overwrite)
        args.output_dir.mkdir(parents=True, exist_ok=True)
    except (PlanError, OSError) as err:
        raise CliError(str(err)) from None
    status(f"{len(todo)} photo(s) to edit in {args.input_dir}, {len(kept)} already done in "
           f"{args.output_dir} (--overwrite redoes them)")  # fmt: skip
    if not todo:
        return 0
    groups = group_jobs(todo, args.photos_per_call)
    progress = RunProgress(len(todo))
    stopped_short = 0  # photos with notes (a set or swap edit stopped at its range's end)
    with Manifest(args.output_dir) as manifest, _outcomes(args, settings, groups) as outcomes:
        try:
            for outcome in outcomes:
                manifest.record(outcome.entry(settings.edits))
                progress.update(outcome)
                stopped_short += bool(outcome.notes)
        except KeyboardInterrupt:
            progress.close()
            status(f"stopped after {progress.done} of {len(todo)} photos; run the same "
                   "command again to continue")  # fmt: skip
            return INTERRUPTED
        except NoServerLeft as err:
            raise CliError(f"{err}; run again to continue") from None
    progress.close()
    short = f" ({stopped_short} with a set or swap edit stopped short)" if stopped_short else ""
    status(f"{progress.done - progress.failed} photo(s) edited{short}, {progress.failed} "
           f"failed; see {manifest.path}")  # fmt: skip
    return 1 if progress.failed else 0


@contextlib.contextmanager
def _outcomes(
    args: argparse.Namespace, settings: EditSettings, groups: list[list[Job]]
) -> Iterator[Generator[Outcome, None, None]]:
    """The engine's stream of outcomes, closed (workers and servers stopped) on leaving."""
    if args.engine == "ray":
        from facesmith_client.batch.on_ray import RayMissing, RayPlan, check_ray_run, run_on_ray

        plan = RayPlan(_pack(args), args.address, args.actors, args.cpus_per_actor,
                       args.gpus_per_actor)  # fmt: skip
        try:
            frame = check_ray_run(plan, settings)
        except (RayMissing, ValueError) as err:
            raise CliError(str(err)) from None
        stream = run_on_ray(groups, settings, plan, frame)
        try:
            yield stream
        finally:
            stream.close()
        return
    from facesmith_client.batch.local import run_on_servers

    token = _token(args)
    with _servers(args) as addresses:
        _check_server(addresses[0], token, settings)
        stream = run_on_servers(groups, settings, addresses, token, _say_lost)
        try:
            yield stream
        finally:
            stream.close()


@contextlib.contextmanager
def _servers(args: argparse.Namespace) -> Iterator[list[str]]:
    """The servers given with --server, or one started on the pack for this run."""
    if args.server:
        yield list(args.server)
        return
    from facesmith_client.remote.local_server import LocalServer

    pack = _pack(args)
    status(f"starting a local facesmith server on {pack} …")
    with LocalServer(pack, device=args.device) as server:
        yield [server.address]


def _check_server(address: str, token: str | None, settings: EditSettings) -> None:
    """Before any photo: can the (first) server make the batch's edits?"""
    from facesmith_client.batch.stages import server_frame
    from facesmith_client.remote.client import ClientError
    from facesmith_client.remote.grpc_client import GrpcClient

    try:
        with GrpcClient(address, token=token) as client:
            server_frame(client.info(), settings)
    except (ClientError, ValueError) as err:
        raise CliError(f"server {address}: {err}") from None


def _pack(args: argparse.Namespace) -> Path:
    from facesmith_client.remote.local_server import default_pack_dir

    return Path(args.pack) if args.pack is not None else default_pack_dir()


def _token(args: argparse.Namespace) -> str | None:
    from facesmith.arguments import token_of

    try:
        return token_of(args)
    except ValueError as err:
        raise CliError(str(err)) from None


def _say_lost(lost: ServerLost) -> None:
    status(f"server {lost.address}: {lost.reason} — its photos go to the other servers")
