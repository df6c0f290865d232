"""`facesmith bench --batch DIR`: photos per minute of `facesmith batch` on the same photos
with the local engine (one server), two local servers, and Ray on this machine (1 and 2
model actors), as ratios to the local engine in one run; and the memory of a Ray model actor
(the actor and its server process, peak resident set, read from /proc).

Each engine's time is split into start-up (until its first photo is written) and the steady
rate after it, since start-up (Ray, loading the pack) does not grow with the shoot.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from facesmith_client.batch.local import run_on_servers
from facesmith_client.batch.on_ray import RayPlan, check_ray_run, run_on_ray
from facesmith_client.batch.plan import Job, group_jobs, plan_jobs
from facesmith_client.batch.stages import EditSettings, Outcome
from facesmith_client.remote.client import EditSpec
from facesmith_client.remote.local_server import LocalServer

Engine = Callable[[list[list[Job]]], Iterator[Outcome]]


@dataclass(frozen=True)
class BatchTiming:
    engine: str
    photos: int
    startup_s: float  # until the first photo was written
    steady_per_min: float  # photos per minute after the first
    total_per_min: float
    peak_actor_mb: float = 0.0


def bench_batch(folder: Path, pack: Path, photos_per_call: int, say: Callable[[str], None]) -> None:
    """Run every engine over the photos of ``folder`` and print the table."""
    settings = EditSettings((EditSpec("age", 20.0),))
    cores = os.cpu_count() or 1
    engines: list[tuple[str, Engine]] = [
        ("local, 1 server", lambda g: _on_servers(g, settings, pack, 1, cores)),
        ("local, 2 servers", lambda g: _on_servers(g, settings, pack, 2, max(1, cores // 2))),
    ]
    for actors in (1, 2):
        plan = RayPlan(pack, actors=actors, cpus_per_actor=max(1, cores // actors))
        engines.append((f"ray, {actors} actor(s)", _on_ray(settings, plan)))
    timings = []
    for name, engine in engines:
        timing = _time_engine(name, engine, folder, photos_per_call)
        timings.append(timing)
        say(_row(timing, timings[0]))
    say(f"(cores: {cores}; ratios against `{timings[0].engine}`, steady rate after the first "
        "photo; peak actor memory: the actor process and its server)")  # fmt: skip


def _on_ray(settings: EditSettings, plan: RayPlan) -> Engine:
    frame = check_ray_run(plan, settings)
    return lambda groups: run_on_ray(groups, settings, plan, frame)


def _on_servers(
    groups: list[list[Job]], settings: EditSettings, pack: Path, count: int, threads: int
) -> Iterator[Outcome]:
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(LocalServer(pack, threads=threads)) for _ in range(count)]
        yield from run_on_servers(groups, settings, [s.address for s in servers])


def _time_engine(name: str, engine: Engine, folder: Path, photos_per_call: int) -> BatchTiming:
    out = Path(tempfile.mkdtemp(prefix="facesmith-bench-"))
    try:
        todo, _ = plan_jobs(folder, out, overwrite=True)
        started = time.perf_counter()
        first = 0.0
        with _PeakActorMemory() as memory:
            count = 0
            for _ in engine(group_jobs(todo, photos_per_call)):
                count += 1
                first = first or time.perf_counter()
        total = time.perf_counter() - started
    finally:
        shutil.rmtree(out, ignore_errors=True)
    steady = (count - 1) * 60 / max(total - (first - started), 1e-6) if count > 1 else 0.0
    return BatchTiming(name, count, first - started, steady, count * 60 / total, memory.peak_mb)


def _row(timing: BatchTiming, reference: BatchTiming) -> str:
    ratio = timing.steady_per_min / reference.steady_per_min if reference.steady_per_min else 0
    memory = f"  actor peak {timing.peak_actor_mb:.0f} MB" if timing.peak_actor_mb else ""
    return (
        f"{timing.engine:<18} {timing.photos:>4} photos  start {timing.startup_s:5.1f} s  "
        f"steady {timing.steady_per_min:6.1f}/min ({ratio:.2f}×)  "
        f"overall {timing.total_per_min:6.1f}/min{memory}"
    )


class _PeakActorMemory:
    """Samples the resident memory of Ray model actors (and their server processes)."""

    def __init__(self, every_s: float = 0.5) -> None:
        self.every_s = every_s
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> _PeakActorMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(self.every_s):
            sizes = [_tree_rss_mb(pid) for pid in model_actor_pids()]
            self.peak_mb = max([self.peak_mb, *sizes])


def model_actor_pids() -> list[int]:
    """The processes of this machine's Ray model actors (Linux: read from /proc)."""
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if b"ModelActor" in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
    return pids


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children, in MB."""
    return sum(_rss_mb(p) for p in (pid, *_children(pid)))


def _children(pid: int) -> Sequence[int]:
    kids = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0
