"""The Ray engine (`facesmith[scale]`): Ray Data streams groups of photos through CPU tasks
(decode, detect, align), model actors (each starts one facesmith server on the pack, loaded
once, and edits a whole group's faces per call) and CPU tasks again (paste back, write).

The stages are batch/stages.py's, as on the local engine, with the same groups, so both write
the same bytes. An actor that dies (killed, out of memory, its server gone) is restarted and
its group retried, a bounded number of times. The pack folder must be readable at the same
path on every node of a cluster.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Generator, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from facesmith.alignment import parse_alignment
from facesmith_client.batch.plan import Job
from facesmith_client.batch.stages import (
    EditSettings,
    Frame,
    Outcome,
    PhotoWork,
    edit_group,
    finish_photo,
    prepare_photo,
    server_frame,
)
from facesmith_client.vision.detect import Detector

ACTOR_RESTARTS = 3  # a group is retried at most this many times on a new actor
_detector: Detector | None = None  # one per worker process, loaded by its first task


class RayMissing(RuntimeError):
    """`--engine ray` without Ray installed."""


@dataclass(frozen=True)
class RayPlan:
    """Where and how wide the run goes."""

    pack: Path
    address: str | None = None  # None: a local Ray started for the run
    actors: int = 1
    cpus_per_actor: float = 1.0
    gpus_per_actor: float = 0.0


def pack_frame(pack: Path, manifest: dict[str, Any]) -> Frame:
    """The pack's framing, from its manifest (the driver loads no model)."""
    try:
        return Frame(int(manifest["resolution"]), parse_alignment(manifest["alignment"]))
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"cannot read the pack's manifest in {pack}: {err}") from None


def check_ray_run(plan: RayPlan, settings: EditSettings) -> Frame:
    """Before Ray starts: Ray is installed and the pack has a direction for every edit and
    hold (the actors check strengths and targets against the loaded pack) → the pack's frame.
    RayMissing or ValueError (in words) if not."""
    _import_ray()
    pack = plan.pack
    manifest = _manifest(pack)
    offered = set(manifest.get("directions") or {})
    for spec in settings.edits:
        for name in (spec.name, *spec.hold):
            if name not in offered:
                raise ValueError(f"the pack {pack} has no edit {name!r}; it offers "
                                 f"{', '.join(sorted(offered)) or 'none'}")  # fmt: skip
    return pack_frame(pack, manifest)


def _manifest(pack: Path) -> dict[str, Any]:
    try:
        data = json.loads((pack / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read the pack's manifest in {pack}: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"the pack's manifest in {pack} is not a JSON object")
    return data


def run_on_ray(
    groups: Sequence[Sequence[Job]], settings: EditSettings, plan: RayPlan, frame: Frame
) -> Generator[Outcome, None, None]:
    """Outcomes as photos end (in no fixed order); Ray is stopped afterwards if started here."""
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=plan.address, num_cpus=_local_cpus(plan), include_dashboard=False,
                 log_to_driver=False, logging_level="WARNING")  # fmt: skip
    try:
        yield from _stream(ray, groups, settings, plan, frame)
    finally:
        if started_here:
            ray.shutdown()


def _stream(
    ray: Any, groups: Sequence[Sequence[Job]], settings: EditSettings, plan: RayPlan, frame: Frame
) -> Iterator[Outcome]:
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the driver shows the run's own progress
    rows = [{"jobs": list(group)} for group in groups]
    dataset = ray.data.from_items(rows, override_num_blocks=max(1, len(rows)))
    dataset = dataset.map(
        _prepare_row,
        fn_kwargs={"frame": frame, "min_face_size": settings.min_face_size},
        num_cpus=1,
    )
    with warnings.catch_warnings():
        # Ray 2.60 names no parameter for actor restarts (unbounded by default) and documents
        # these keywords for them; its warning about them is not ours to show the user.
        warnings.simplefilter("ignore", DeprecationWarning)
        dataset = _model_stage(ray, dataset, settings, plan)
    dataset = dataset.flat_map(_finish_row, num_cpus=1)
    for row in dataset.iter_rows():
        notes = tuple(str(row.pop("notes")).splitlines())
        yield Outcome(**row, notes=notes)


def _model_stage(ray: Any, dataset: Any, settings: EditSettings, plan: RayPlan) -> Any:
    return dataset.map_batches(
        ModelActor,
        fn_constructor_kwargs={"plan": plan, "settings": settings},
        batch_size=1,  # one group per call: the group is what the server batches
        compute=ray.data.ActorPoolStrategy(size=plan.actors),
        num_cpus=plan.cpus_per_actor,
        num_gpus=plan.gpus_per_actor,
        max_restarts=ACTOR_RESTARTS,
        max_task_retries=ACTOR_RESTARTS,
    )


def _local_cpus(plan: RayPlan) -> int | None:
    """CPUs of a Ray started for the run: the machine's, or enough for every actor and one CPU
    task (a pool that takes every CPU would starve the tasks that feed it)."""
    if plan.address is not None:
        return None
    return max(os.cpu_count() or 1, math.ceil(plan.actors * plan.cpus_per_actor) + 1)


def _prepare_row(row: dict[str, Any], frame: Frame, min_face_size: int) -> dict[str, Any]:
    """CPU task: decode, detect and align each photo of a group."""
    global _detector
    if _detector is None:
        from facesmith_client.vision.detect import load_detector

        _detector = load_detector("cpu")
    return {"photos": [prepare_photo(j, _detector, frame, min_face_size) for j in row["jobs"]]}


def _finish_row(row: dict[str, Any]) -> list[dict[str, Any]]:
    """CPU task: paste back and write each photo of a group → one outcome row per photo."""
    worker = f"ray {row['worker']}"
    # notes as one string: a column of lists, some empty, would not merge across blocks
    return [{**asdict(outcome), "notes": "\n".join(outcome.notes)}
            for outcome in (finish_photo(work, worker) for work in row["photos"])]  # fmt: skip


class ModelActor:
    """Holds a facesmith server on the pack for the actor's life and edits groups through it."""

    def __init__(self, plan: RayPlan, settings: EditSettings) -> None:
        from facesmith_client.remote.grpc_client import GrpcClient
        from facesmith_client.remote.local_server import LocalServer

        gpu = plan.gpus_per_actor > 0
        threads = None if gpu else max(1, round(plan.cpus_per_actor))
        self.server = LocalServer(plan.pack, device="cuda" if gpu else "cpu", threads=threads)
        self.server.start()
        self.client = GrpcClient(self.server.address)
        server_frame(self.client.info(), settings)  # refuses edits the pack cannot make
        self.settings = settings
        self.name = f"actor {os.getpid()}"

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        from facesmith_client.remote.client import ClientError

        edited: list[list[PhotoWork]] = []
        for photos in batch["photos"]:
            try:
                edited.append(edit_group(self.client, list(photos), self.settings))
            except ClientError:
                if self.server.running:
                    raise
                os._exit(1)  # our server died: end the actor so Ray restarts it and retries
        return {"photos": edited, "worker": [self.name] * len(edited)}


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayMissing(
            "--engine ray needs Ray: pip install 'facesmith[scale]' (or use --engine local)"
        ) from None
    return ray
