"""Hostile, load and fault runs against facesmith on loopback, and their figures (issue 15).

    python tests/hostile/run.py           # the long run: 10,000 fuzzed gRPC requests, 2,000
                                          # mutated worker streams, 16- and 64-client bursts
    python tests/hostile/run.py --short   # the short run (tests/hostile/test_hostile.py, CI)

A server on the tiny test pack is started for the run (facesmith-server, 127.0.0.1, port 0);
nothing leaves the machine. Printed: requests tried, their statuses, crashes, hangs, INTERNAL
answers to client faults, the slowest rejection, the server's resident memory (baseline, peak,
and after each phase), burst latencies, how long each fault took to be noticed, and whether
every file write was atomic. The exit status is 1 when a target is missed:

    0 crashes, 0 hangs, 0 INTERNAL for client faults, no rejection slower than 2 s or costing
    more than 300 MiB, memory back within 10 % of its baseline after each burst, every write
    atomic, every fault noticed within 15 s.

Linux only (it reads the server's memory from /proc).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import random
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: tests/ is where `hostile` lives
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import grpc
import numpy as np

from facesmith import wire
from facesmith.v1 import facesmith_pb2 as pb
from hostile.h2 import NonReadingCall

SERVICE = "/facesmith.v1.Facesmith/"
METHODS = ("GetInfo", "Render", "Invert", "Edit", "Generate", "Translate", "FromSketch")
STREAMING = {"Invert", "Edit", "FromSketch"}
CALL_TIMEOUT_S = 30.0  # a call without an answer by then is a hang
SLOW_READER_S = 2.0
IDLE_S = 3.5  # the server hands freed memory back after 2 s idle
MAX_REJECTION_S = 2.0
MAX_REJECTION_MIB = 300.0
MAX_GROWTH = 0.10
MAX_NOTICE_S = 15.0
WARM_UP_CALLS = 15  # per each of 40 clients at once
WARM_UP_FUZZ = 1000  # hostile requests of the warm-up


@dataclass(frozen=True)
class Sizes:
    fuzz_requests: int
    worker_streams: int
    bursts: tuple[int, ...]  # clients per burst
    burst_s: float
    slow_readers: int
    writer_kills: int


SHORT = Sizes(400, 300, (8, 16), 8.0, 16, 3)
LONG = Sizes(10_000, 2_000, (16, 64), 25.0, 16, 10)


# -- the server ----------------------------------------------------------------------------------


class ServerProcess:
    """facesmith-server on ``pack`` at 127.0.0.1:0, its resident memory watched."""

    def __init__(self, pack: Path, *extra: str) -> None:
        command = [sys.executable, "-m", "facesmith_server.cli", "serve", "--pack", str(pack)]
        command += ["--listen", "127.0.0.1:0", "--slow-reader-s", str(SLOW_READER_S), *extra]
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.log, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"the server did not start: {line}{self.log_tail()}")
        self.address = line.split()[-1]
        self.peak_kib = 0
        self._sampling = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss_mib(self) -> float:
        return _status_kib(self.pid, "VmRSS") / 1024

    def reset_peak(self) -> None:
        self.peak_kib = _status_kib(self.pid, "VmRSS")
        with contextlib.suppress(OSError):
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # resets VmHWM

    def peak_mib(self) -> float:
        return max(self.peak_kib, _status_kib(self.pid, "VmHWM")) / 1024

    def _sample(self) -> None:
        while self.alive() and not self._sampling.is_set():
            self.peak_kib = max(self.peak_kib, _status_kib(self.pid, "VmRSS"))
            time.sleep(0.02)

    def idle_rss_mib(self) -> float:
        """Resident memory once the server has been idle long enough to hand memory back."""
        time.sleep(IDLE_S)
        return self.rss_mib()

    def log_tail(self) -> str:
        self.log.seek(0)
        return self.log.read()[-2000:]

    def stop(self) -> None:
        self._sampling.set()
        if self.alive():
            os.kill(self.pid, signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.log.close()


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


# -- hostile requests ----------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(side: int = 8192) -> bytes:
    """A real, valid PNG of side² 16-bit RGB zeros: about 0.4 MB that inflates to 384 MiB."""
    row = b"\0" * (1 + side * 6)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        _png_chunk(k, d) for k, d in ((b"IHDR", header), (b"IDAT", body), (b"IEND", b""))
    )


@dataclass
class Templates:
    """Valid requests for the test pack, and the pieces hostile ones are made of."""

    resolution: int
    num_ws: int
    dim: int
    bomb: bytes

    def face(self, value: int = 0, dtype: Any = np.uint8) -> pb.Image:
        side = self.resolution
        return wire.encode_image(np.full((side, side, 3), value, dtype))

    def drawing(self) -> pb.Image:
        """A square outline in black on white paper."""
        side = self.resolution
        paper = np.full((side, side, 3), 255, np.uint8)
        paper[side // 4 : 3 * side // 4, side // 4] = paper[
            side // 4, side // 4 : 3 * side // 4
        ] = 0
        return wire.encode_image(paper)

    def latent(self) -> pb.Latent:
        return wire.encode_latent(np.zeros((self.num_ws, self.dim), np.float32), "w+")

    def valid(self, rng: random.Random) -> tuple[str, bytes]:
        method = rng.choice(METHODS)
        edits = [pb.EditSpec(name="age", strength=rng.uniform(-20, 20), hold=["gender"])]
        faces = [self.face(rng.randrange(256)) for _ in range(rng.randint(1, 3))]
        request: Any = {
            "GetInfo": pb.GetInfoRequest(),
            "Render": pb.RenderRequest(faces=[pb.LatentRef(latent=self.latent())], edits=edits),
            "Invert": pb.InvertRequest(faces=faces),
            "Edit": pb.EditRequest(faces=faces, edits=edits),
            "Generate": pb.GenerateRequest(seeds=[rng.randrange(2**32)], edits=edits),
            "Translate": pb.TranslateRequest(
                faces=faces, edits=[pb.EditSpec(name="age", strength=rng.uniform(-20, 20))]
            ),
            "FromSketch": pb.FromSketchRequest(
                drawings=[self.drawing()], follow=rng.choice([0.0, 0.05]), edits=edits
            ),
        }[method]
        return method, request.SerializeToString()


def hostile_request(t: Templates, rng: random.Random, i: int) -> tuple[str, str, bytes]:
    """(kind, method, serialised request): a client fault of some kind, or 1 in 10 valid."""
    if i % 10 == 0:
        method, data = t.valid(rng)
        return "valid", method, data
    kinds = BIG_KINDS if i % 1000 == 7 else KINDS  # now and then, the report's expensive ones
    kind = rng.choice(sorted(kinds))
    method, request = kinds[kind](t, rng)
    data = request if isinstance(request, bytes) else request.SerializeToString()
    return kind, method, data


Maker = Callable[[Templates, random.Random], tuple[str, Any]]


def _holding(names: list[str]) -> Maker:
    return lambda t, rng: ("Render", _render(t, [pb.EditSpec(name="bald", hold=names)]))


def _raw_shape_lie(t: Templates, rng: random.Random) -> tuple[str, Any]:
    face = pb.Image(
        encoding=pb.Image.ENCODING_RAW, height=t.resolution, width=t.resolution, channels=3,
        dtype=pb.DTYPE_UINT8, data=b"\0" * 7,
    )  # fmt: skip
    return "Invert", pb.InvertRequest(faces=[face])


def _bad_resolution(t: Templates, rng: random.Random) -> tuple[str, Any]:
    refs = [pb.LatentRef(latent=t.latent())]
    return "Render", pb.RenderRequest(faces=refs, resolution=rng.choice([7, 99999, 2**31]))


KINDS: dict[str, Maker] = {
    "random bytes": lambda t, rng: (rng.choice(METHODS), rng.randbytes(rng.randint(1, 400))),
    "mutated request": lambda t, rng: _mutated(t, rng),
    "65 faces": lambda t, rng: ("Edit", pb.EditRequest(faces=[t.face()] * 65)),
    "declared 8192² PNG": lambda t, rng: ("Invert", pb.InvertRequest(faces=[_declared(8192)])),
    "real PNG bomb": lambda t, rng: ("Edit", pb.EditRequest(faces=[_bomb(t)])),
    "16 KB edit name": lambda t, rng: ("Edit", _edits(t, [pb.EditSpec(name="x" * 16_000)])),
    "16 KB held name": _holding(["y" * 16_000]),
    "20k held names": _holding(["gender"] * 20_000),
    "33 edits": lambda t, rng: ("Edit", _edits(t, [pb.EditSpec(name="age")] * 33)),
    "duplicate edits": lambda t, rng: ("Render", _render(t, [pb.EditSpec(name="age")] * 2)),
    "NaN strength": lambda t, rng: (
        "Render", _render(t, [pb.EditSpec(name="age", strength=float("nan"))])
    ),
    "NaN float face": lambda t, rng: ("Invert", pb.InvertRequest(faces=[_nan_face(t)])),
    "NaN latent": lambda t, rng: ("Render", _nan_latent(t)),
    "wrong face size": lambda t, rng: (
        "Edit", pb.EditRequest(faces=[wire.encode_image(np.zeros((65, 65, 3), np.uint8))])
    ),
    "raw shape lie": _raw_shape_lie,
    "unknown 16 KB handle": lambda t, rng: (
        "Render", pb.RenderRequest(faces=[pb.LatentRef(handle="h" * 16_000)])
    ),
    "unknown handle": lambda t, rng: (
        "Render", pb.RenderRequest(faces=[pb.LatentRef(handle="0" * 24)])
    ),
    "bad resolution": _bad_resolution,
    "bad dtype": lambda t, rng: ("Edit", pb.EditRequest(faces=[t.face()], output_dtype=77)),
    "10^6 refine steps": lambda t, rng: (
        "Invert",
        pb.InvertRequest(faces=[t.face()], options=pb.InvertOptions(refine_steps=10**6)),
    ),
    "no faces": lambda t, rng: (
        rng.choice(["Render", "Invert", "Edit", "Generate", "Translate", "FromSketch"]), b""
    ),
    "65 seeds": lambda t, rng: ("Generate", pb.GenerateRequest(seeds=list(range(65)))),
    "seed 2^64-1": lambda t, rng: ("Generate", pb.GenerateRequest(seeds=[2**64 - 1])),
    "NaN truncation": lambda t, rng: (
        "Generate", pb.GenerateRequest(seeds=[1], truncation=float("nan"))
    ),
    "16 KB edit name, generated": lambda t, rng: (
        "Generate", pb.GenerateRequest(seeds=[1], edits=[pb.EditSpec(name="x" * 16_000)])
    ),
    "65 faces, one pass": lambda t, rng: (
        "Translate", pb.TranslateRequest(faces=[t.face()] * 65, edits=[pb.EditSpec(name="age")])
    ),
    "one-pass set": lambda t, rng: ("Translate", pb.TranslateRequest(
        faces=[t.face()], edits=[pb.EditSpec(name="age", mode=pb.EditSpec.MODE_SET)]
    )),
    "33 one-pass edits": lambda t, rng: (
        "Translate", pb.TranslateRequest(faces=[t.face()], edits=[pb.EditSpec(name="age")] * 33)
    ),
    "blank drawing": lambda t, rng: ("FromSketch", pb.FromSketchRequest(drawings=[t.face(255)])),
    "65 drawings": lambda t, rng: ("FromSketch", pb.FromSketchRequest(drawings=[t.drawing()] * 65)),
    "NaN follow": lambda t, rng: (
        "FromSketch", pb.FromSketchRequest(drawings=[t.drawing()], follow=float("nan"))
    ),
    "drawing 8192² declared": lambda t, rng: (
        "FromSketch", pb.FromSketchRequest(drawings=[_declared(8192)])
    ),
}  # fmt: skip
BIG_KINDS: dict[str, Maker] = {
    "128 PNG bombs (60 MB)": lambda t, rng: ("Edit", pb.EditRequest(faces=[_bomb(t)] * 128)),
    "1M held names (8 MB)": _holding(["gender"] * 1_000_000),
}


def _declared(side: int) -> pb.Image:
    header = struct.pack(">IIBBBBB", side, side, 16, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IEND", b"")
    return pb.Image(encoding=pb.Image.ENCODING_PNG, data=data)


def _bomb(t: Templates) -> pb.Image:
    return pb.Image(encoding=pb.Image.ENCODING_PNG, data=t.bomb)


def _edits(t: Templates, edits: list[pb.EditSpec]) -> pb.EditRequest:
    return pb.EditRequest(faces=[t.face()], edits=edits)


def _render(t: Templates, edits: list[pb.EditSpec]) -> pb.RenderRequest:
    return pb.RenderRequest(faces=[pb.LatentRef(latent=t.latent())], edits=edits)


def _nan_face(t: Templates) -> pb.Image:
    side = t.resolution
    return wire.encode_image(np.full((side, side, 3), np.nan, np.float32))


def _nan_latent(t: Templates) -> pb.RenderRequest:
    latent = t.latent()
    latent.values[0] = float("nan")
    return pb.RenderRequest(faces=[pb.LatentRef(latent=latent)])


def _mutated(t: Templates, rng: random.Random) -> tuple[str, bytes]:
    method, data = t.valid(rng)
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        if not buffer:
            break
        action = rng.randrange(3)
        at = rng.randrange(len(buffer))
        if action == 0:
            buffer[at] = rng.randrange(256)
        elif action == 1:
            buffer[at:at] = rng.randbytes(rng.randint(1, 16))
        else:
            del buffer[at:]
    return method, bytes(buffer)


# -- phase 1: fuzzed gRPC requests ---------------------------------------------------------------


@dataclass
class FuzzFigures:
    tried: int = 0
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    internal: list[str] = field(default_factory=list)  # kinds answered INTERNAL
    hangs: list[str] = field(default_factory=list)
    crashes: int = 0
    slowest: tuple[float, str] = (0.0, "")
    cold_mib: float = 0.0  # just started
    baseline_mib: float = 0.0  # idle after the warm-up
    peak_mib: float = 0.0
    final_mib: float = 0.0


def fuzz_server(server: ServerProcess, t: Templates, count: int, seed: int) -> FuzzFigures:
    figures = FuzzFigures(baseline_mib=server.idle_rss_mib())
    server.reset_peak()
    lock = threading.Lock()
    counter = iter(range(count))

    def worker(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        with grpc.insecure_channel(
            server.address,
            options=[("grpc.max_send_message_length", 80 << 20)],
        ) as channel:
            calls = {
                m: (channel.unary_stream if m in STREAMING else channel.unary_unary)(SERVICE + m)
                for m in METHODS
            }
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                kind, method, data = hostile_request(t, rng, i)
                started = time.monotonic()
                try:
                    reply = calls[method](data, timeout=CALL_TIMEOUT_S)
                    if method in STREAMING:
                        list(reply)
                    code = "OK"
                except grpc.RpcError as err:
                    code = err.code().name if isinstance(err, grpc.Call) else "UNKNOWN"
                took = time.monotonic() - started
                with lock:
                    figures.tried += 1
                    figures.statuses[code] += 1
                    if code == "INTERNAL" and kind != "valid":
                        figures.internal.append(kind)
                    if code == "DEADLINE_EXCEEDED":
                        figures.hangs.append(kind)
                    if code != "OK" and kind != "valid" and took > figures.slowest[0]:
                        figures.slowest = (took, kind)
                if not server.alive():
                    return

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    figures.crashes = 0 if server.alive() else 1
    if server.alive():
        figures.peak_mib = server.peak_mib()
        figures.final_mib = server.idle_rss_mib()
    return figures


# -- phase 2: mutated worker streams -------------------------------------------------------------


@dataclass
class WorkerFigures:
    streams: int = 0
    frames_answered: int = 0
    error_codes: collections.Counter[str] = field(default_factory=collections.Counter)
    crashes: int = 0
    hangs: int = 0
    internal: int = 0


def fuzz_worker(count: int, seed: int) -> WorkerFigures:
    """Mutated request streams through the worker (in this process, a fake server behind it):
    every stream must end with replies, never an exception or a hang."""
    from facesmith_client.host.session import HostSession
    from facesmith_client.host.worker import EXIT_PROTOCOL_ERROR, Worker
    from facesmith_client.remote.fake_client import FakeClient
    from facesmith_host import protocol
    from facesmith_host.protocol import Array

    def frame(header: dict[str, Any], arrays: tuple[Array, ...] = ()) -> bytes:
        out = io.BytesIO()
        protocol.write_frame(out, header, arrays)
        return out.getvalue()

    image = np.full((96, 96, 4), 128, np.uint8)
    landmarks = [[30, 40], [66, 40], [48, 58], [34, 76], [62, 76]]
    good_face = {"box": [10, 10, 86, 90], "landmarks": landmarks}
    hostile_faces = [
        {"box": [10, 10, 86, 90], "landmarks": [[40, 40]] * 5},
        {"box": [float("nan"), 10, 86, 90], "landmarks": landmarks},
        {"box": [10, 10, 86, 90], "landmarks": [[1e30, 1e30], *landmarks[1:]]},
        {"box": [90, 10, 10, 90], "landmarks": landmarks},
        {"box": "nope", "landmarks": 3},
    ]
    nested = b"[" * 1000 + b"]" * 1000
    rng = random.Random(seed)
    figures = WorkerFigures()

    def base() -> bytes:
        face = rng.choice([good_face, *hostile_faces])
        parts = [
            frame({"id": 1, "op": "hello", "protocol": 1}),
            frame({"id": 2, "op": "info"}),
            frame(
                {
                    "id": 3,
                    "op": "edit",
                    "order": "BGRA",
                    "faces": [face],
                    "edits": [{"name": "age", "strength": rng.uniform(-50, 50)}],
                },
                (Array("image", (96, 96, 4), "u8", image.tobytes()),),
            ),
            frame({"id": 4, "op": "cancel", "target": 3}),
        ]
        if rng.random() < 0.2:
            parts.insert(2, protocol.PREFIX.pack(protocol.MAGIC, len(nested), 0) + nested)
        return b"".join([*parts, frame({"id": 5, "op": "shutdown"})])

    def mutate(data: bytes) -> bytes:
        buffer = bytearray(data)
        for _ in range(rng.randint(0, 4)):
            kind = rng.randrange(4)
            at = rng.randrange(len(buffer))
            if kind == 0:
                buffer[at] = rng.randrange(256)
            elif kind == 1:
                del buffer[at:]
            elif kind == 2:
                buffer[at:at] = rng.randbytes(rng.randint(1, 32))
            else:
                struct.pack_into(">I", buffer, 4, rng.choice([0, 1, 17, 1 << 20, (1 << 32) - 1]))
            if not buffer:
                break
        return bytes(buffer)

    def no_detector() -> Any:
        raise AssertionError("faces are given")

    for _ in range(count):
        data = mutate(base())
        out = io.BytesIO()
        result: list[Any] = []

        def serve(d: bytes = data, o: io.BytesIO = out, r: list[Any] = result) -> None:
            try:
                r.append(Worker(HostSession(FakeClient, no_detector), o).serve(io.BytesIO(d)))
            except BaseException as err:
                r.append(err)

        runner = threading.Thread(target=serve, daemon=True)
        runner.start()
        runner.join(10)
        figures.streams += 1
        if runner.is_alive():
            figures.hangs += 1
            continue
        if (
            not result
            or isinstance(result[0], BaseException)
            or result[0] not in (0, EXIT_PROTOCOL_ERROR)
        ):
            figures.crashes += 1
            continue
        replies = io.BytesIO(out.getvalue())
        try:
            while (reply := protocol.read_frame(replies)) is not None:
                figures.frames_answered += 1
                if reply.op == "error":
                    code = str(reply.header.get("code"))
                    figures.error_codes[code] += 1
                    figures.internal += code == "internal"
        except protocol.ProtocolError:
            figures.crashes += 1  # the worker wrote a frame it could not write whole
    return figures


# -- phase 3: bursts of clients ------------------------------------------------------------------


@dataclass
class BurstFigures:
    clients: int
    seconds: float
    edit_s: list[float] = field(default_factory=list)
    invert_render_s: list[float] = field(default_factory=list)
    render_s: list[float] = field(default_factory=list)  # the Render of Invert+Render
    gave_up: collections.Counter[str] = field(default_factory=collections.Counter)
    baseline_mib: float = 0.0
    peak_mib: float = 0.0
    final_mib: float = 0.0

    def median(self, values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    def p95(self, values: list[float]) -> float:
        return sorted(values)[int(0.95 * (len(values) - 1))] if values else float("nan")


def burst(server: ServerProcess, clients: int, seconds: float, baseline: float) -> BurstFigures:
    """``clients`` clients at once, half editing (one call), half inverting then rendering
    (two calls), each as fast as it can for ``seconds``; busy refusals are waited out."""
    from facesmith_client.remote.client import ClientError, collect_result
    from facesmith_client.remote.grpc_client import GrpcClient

    figures = BurstFigures(clients, seconds, baseline_mib=baseline)
    server.reset_peak()
    lock = threading.Lock()
    start = threading.Barrier(clients)
    end = time.monotonic() + seconds + 5  # time for every client to connect first

    def client(index: int) -> None:
        from facesmith_client.remote.client import EditSpec

        with GrpcClient(server.address, busy_wait_s=60) as remote:
            info = remote.info()
            crop = np.full((info.resolution, info.resolution, 3), index % 256, np.uint8)
            edits = [EditSpec("age", 10.0)]
            start.wait()
            stop = time.monotonic() + seconds
            while time.monotonic() < min(stop, end + 60):
                began = time.monotonic()
                try:
                    if index % 2 == 0:
                        collect_result(remote.edit([crop], edits))
                        took, into = time.monotonic() - began, figures.edit_s
                    else:
                        face = collect_result(remote.invert([crop])).faces[0]
                        rendering = time.monotonic()
                        try:
                            remote.render([face.handle], edits)
                        except ClientError as err:  # evicted meanwhile: as the runtime does,
                            if err.code != "not_found" or face.latent is None:
                                raise
                            remote.render([face.latent], edits)  # render by latent
                        took, into = time.monotonic() - began, figures.invert_render_s
                        with lock:
                            figures.render_s.append(time.monotonic() - rendering)
                except ClientError as err:
                    with lock:
                        figures.gave_up[err.code] += 1
                    continue
                with lock:
                    into.append(took)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 180)
    figures.peak_mib = server.peak_mib()
    figures.final_mib = server.idle_rss_mib()
    return figures


# -- phase 4: slow readers -----------------------------------------------------------------------


@dataclass
class SlowReaderFigures:
    readers: int
    get_info_s: float = float("inf")
    dropped: int = 0


def slow_readers(server: ServerProcess, t: Templates, count: int) -> SlowReaderFigures:
    figures = SlowReaderFigures(count)
    request = pb.EditRequest(faces=[t.face()], output_dtype=pb.DTYPE_FLOAT32).SerializeToString()
    calls = [
        NonReadingCall(server.address, SERVICE + "Edit", request, (("facesmith-client", f"r{i}"),))
        for i in range(count)
    ]
    try:
        time.sleep(1.0)  # their jobs run; the replies then wait for readers
        with grpc.insecure_channel(server.address) as channel:
            started = time.monotonic()
            with contextlib.suppress(grpc.RpcError):
                channel.unary_unary(SERVICE + "GetInfo")(b"", timeout=10)
                figures.get_info_s = time.monotonic() - started
        # the jobs take the device one at a time, so the last is dropped about count x
        # SLOW_READER_S after the first: one deadline for all, not a fixed wait per call
        deadline = time.monotonic() + count * (SLOW_READER_S + 4)
        figures.dropped = sum(
            call.ended_by_server(wait_s=max(1.0, deadline - time.monotonic())) for call in calls
        )
    finally:
        for call in calls:
            call.close()
    return figures


# -- phase 5: faults -----------------------------------------------------------------------------


@dataclass
class FaultFigures:
    stopped_noticed_s: float = float("inf")
    stopped_message: str = ""
    killed_noticed_s: float = float("inf")
    local_server_restart_s: float = float("inf")
    worker_restart_s: float = float("inf")
    writes: int = 0
    truncated: int = 0


WRITER = """
import sys, numpy as np
from facesmith_client.vision.images import write_image
image = np.random.default_rng(0).integers(0, 65535, (2000, 2500, 3), dtype=np.uint16)
while True:
    write_image(sys.argv[1], image)
"""


def faults(pack: Path, kills: int) -> FaultFigures:
    from facesmith_client.remote.client import ClientError
    from facesmith_client.remote.grpc_client import GrpcClient

    figures = FaultFigures()
    latent = np.zeros((1, 1), np.float32)
    server = ServerProcess(pack)
    try:  # SIGSTOP: the client says the server stopped answering
        client = GrpcClient(server.address, connect_timeout=5, keepalive_s=2, keepalive_timeout_s=2)
        info = client.info()
        latent = np.zeros((info.num_ws, info.latent_dim), np.float32)
        client.render([latent])
        os.kill(server.pid, signal.SIGSTOP)
        started = time.monotonic()
        with contextlib.suppress(ClientError):
            _within(MAX_NOTICE_S * 2, lambda: client.render([latent]), figures, "stopped")
        figures.stopped_noticed_s = time.monotonic() - started
        os.kill(server.pid, signal.SIGCONT)
        client.close()
        client = GrpcClient(server.address)  # kill -9: the call ends at once
        client.info()
        os.kill(server.pid, signal.SIGKILL)
        started = time.monotonic()
        with contextlib.suppress(ClientError):
            client.render([latent])
        figures.killed_noticed_s = time.monotonic() - started
        client.close()
    finally:
        server.stop()
    figures.local_server_restart_s, figures.worker_restart_s = _worker_faults(pack)
    figures.writes, figures.truncated = _writer_kills(kills)
    return figures


def _within(seconds: float, work: Callable[[], Any], figures: FaultFigures, what: str) -> None:
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            work()
            outcome.append(None)
        except BaseException as err:
            outcome.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if outcome and outcome[0] is not None:
        figures.stopped_message = str(outcome[0])[:120]


def _worker_faults(pack: Path) -> tuple[float, float]:
    """kill -9 the worker's local server, then the worker itself: how long the next request
    takes (it must succeed)."""
    from facesmith_host import jobs
    from facesmith_host.link import WorkerLink

    landmarks = ((40.0, 50.0), (88.0, 50.0), (64.0, 75.0), (45.0, 100.0), (83.0, 100.0))
    face = jobs.FaceBox(0, (20.0, 20.0, 108.0, 120.0), 1.0, landmarks)
    image = jobs.HostImage(128, 128, 4, "u8", "RGBA", bytes([128]) * (128 * 128 * 4))
    argv = [sys.executable, "-m", "facesmith_client.host.worker", "--server", "local"]
    link = WorkerLink([*argv, "--pack", str(pack)])
    try:
        jobs.edit(link, image, [("age", 10.0)], faces=[face])
        assert link._process is not None
        children = _children(link._process.pid)
        for child in children:
            os.kill(child, signal.SIGKILL)
        time.sleep(0.5)
        started = time.monotonic()
        jobs.edit(link, image, [("age", 10.0)], faces=[face])
        server_restart = time.monotonic() - started
        os.kill(link._process.pid, signal.SIGKILL)
        time.sleep(0.5)
        started = time.monotonic()
        with contextlib.suppress(jobs.WorkerError):  # the request in flight may fail once
            jobs.server_info(link)
        jobs.edit(link, image, [("age", 10.0)], faces=[face])
        worker_restart = time.monotonic() - started
    finally:
        link.close()
    return server_restart, worker_restart


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _writer_kills(kills: int) -> tuple[int, int]:
    """kill -9 a process writing a 29 MB TIFF over and over, at moments spread over its
    writes: is whatever lies under the final name a whole image?"""
    from facesmith_client.vision.images import read_image

    truncated = 0
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "photo_facesmith.tif"
        for attempt in range(kills):
            out.unlink(missing_ok=True)
            writer = subprocess.Popen([sys.executable, "-c", WRITER, str(out)])
            deadline = time.monotonic() + 60
            while not os.path.lexists(out) and time.monotonic() < deadline:
                time.sleep(0.0005)
            time.sleep(attempt % 5 * 0.05)
            writer.send_signal(signal.SIGKILL)
            writer.wait()
            try:
                read_image(out)
            except ValueError:
                truncated += 1
    return kills, truncated


# -- the report ----------------------------------------------------------------------------------


def with_optional_parts(pack: Path) -> Path:
    """The test pack with two untrained students (Translate has work to do) and a sketch
    encoder (a copy of its encoder: FromSketch has work to do)."""
    import torch

    from facesmith_server.model.pack import load_pack
    from facesmith_server.model.student import StudentConfig, StudentNet
    from facesmith_train.distill.install import install_student
    from facesmith_train.sketch.install import install_sketch_encoder

    age, swap = StudentNet(StudentConfig()), StudentNet(StudentConfig(conditioned=False))
    install_student(pack, "age", age, edit="age", mode="relative", strength_range=(-50, 50))
    install_student(pack, "gender-swap", swap, edit="gender", mode="swap")
    loaded = load_pack(pack, torch.device("cpu"))
    install_sketch_encoder(pack, loaded.encoder, loaded.encoder_latent_avg)
    return pack


def run(sizes: Sizes, seed: int, pack: Path | None = None) -> tuple[bool, dict[str, Any]]:
    """Every phase → (all targets met, the figures); prints them as it goes."""
    from facesmith_server.model.testpack import make_test_pack

    with tempfile.TemporaryDirectory() as scratch:
        pack = pack or with_optional_parts(make_test_pack(Path(scratch) / "test", seed=0))
        report: dict[str, Any] = {}
        misses: list[str] = []
        server = ServerProcess(pack, "--max-queue", "8")
        try:
            info = pb.ServerInfo.FromString(
                grpc.insecure_channel(server.address).unary_unary(SERVICE + "GetInfo")(b"")
            )
            t = Templates(info.resolution, info.num_ws, info.latent_dim, png_bomb())
            cold = server.rss_mib()
            _warm_up(server, t)

            fuzz = fuzz_server(server, t, sizes.fuzz_requests, seed)
            fuzz.cold_mib = cold
            report["server fuzz"] = fuzz
            print(_fuzz_line(fuzz), flush=True)
            misses += _fuzz_misses(fuzz)
            if not server.alive():
                misses.append(f"the server crashed: {server.log_tail()}")
                return False, report

            worker = fuzz_worker(sizes.worker_streams, seed)
            report["worker frames"] = worker
            print(_worker_line(worker), flush=True)
            if worker.crashes or worker.hangs or worker.internal:
                misses.append("worker: crashes, hangs or internal errors")

            for clients in sizes.bursts:
                figures = burst(server, clients, sizes.burst_s, fuzz.baseline_mib)
                report[f"burst {clients}"] = figures
                print(_burst_line(figures), flush=True)
                if figures.final_mib > figures.baseline_mib * (1 + MAX_GROWTH):
                    misses.append(f"burst {clients}: memory not back within 10 %")
                if sum(figures.gave_up.values()):
                    misses.append(f"burst {clients}: clients gave up {dict(figures.gave_up)}")

            readers = slow_readers(server, t, sizes.slow_readers)
            report["slow readers"] = readers
            print(_readers_line(readers), flush=True)
            if readers.get_info_s > 2.0 or readers.dropped < readers.readers:
                misses.append("slow readers held the server up")
            if not server.alive():
                misses.append("the server crashed")
        finally:
            server.stop()

        fault = faults(pack, sizes.writer_kills)
        report["faults"] = fault
        print(_fault_line(fault), flush=True)
        if fault.truncated:
            misses.append("a killed write left a truncated file")
        noticed = (
            fault.stopped_noticed_s, fault.killed_noticed_s,
            fault.local_server_restart_s, fault.worker_restart_s,
        )  # fmt: skip
        if max(noticed) > MAX_NOTICE_S or "stopped answering" not in fault.stopped_message:
            misses.append("a fault was not noticed (or restarted from) in time")
    print("targets: " + ("all met" if not misses else "MISSED: " + "; ".join(misses)), flush=True)
    return not misses, report


def _warm_up(server: ServerProcess, t: Templates) -> None:
    """Bring the server to its working state before its baseline is taken: every RPC thread
    started (its stack and per-thread buffers stay), the latent cache full (512 handles), a
    short burst of the runtime's clients, a thousand hostile requests, large ones included.
    (Measured: resident memory grows by some 70 MiB, once, over the first thousands of
    requests of every kind — caches of the code paths they reach — then stays flat: four
    fuzz runs of 2,500 requests in a row left it at 344, 344, 344, 345 MiB.)"""
    rng = random.Random(0)
    options = [("grpc.max_send_message_length", 80 << 20)]

    def valid_calls(count: int) -> None:
        with grpc.insecure_channel(server.address, options=options) as channel:
            for _ in range(count):
                method, data = t.valid(rng)
                call = channel.unary_stream if method in STREAMING else channel.unary_unary
                with contextlib.suppress(grpc.RpcError):  # busy, while all start at once
                    reply = call(SERVICE + method)(data, timeout=CALL_TIMEOUT_S)
                    if method in STREAMING:
                        list(reply)

    threads = [threading.Thread(target=valid_calls, args=(WARM_UP_CALLS,)) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    burst(server, 8, 3.0, 0.0)  # the runtime's own client, busy retries and all
    fuzz_server(server, t, WARM_UP_FUZZ, seed=-1)  # every code path the fuzz reaches
    with grpc.insecure_channel(server.address, options=options) as channel:
        for kind in sorted(BIG_KINDS):
            method, request = BIG_KINDS[kind](t, rng)
            call = channel.unary_stream if method in STREAMING else channel.unary_unary
            with contextlib.suppress(grpc.RpcError):
                reply = call(SERVICE + method)(request.SerializeToString(), timeout=60)
                if method in STREAMING:
                    list(reply)


def _fuzz_misses(f: FuzzFigures) -> list[str]:
    misses = []
    if f.crashes or f.hangs:
        misses.append(f"server fuzz: {f.crashes} crashes, {len(f.hangs)} hangs {f.hangs[:5]}")
    if f.internal:
        misses.append(f"server fuzz: INTERNAL for client faults: {collections.Counter(f.internal)}")
    if f.slowest[0] > MAX_REJECTION_S:
        misses.append(f"server fuzz: a rejection took {f.slowest[0]:.1f} s ({f.slowest[1]})")
    if f.peak_mib - f.baseline_mib > MAX_REJECTION_MIB:
        misses.append(f"server fuzz: memory peaked {f.peak_mib - f.baseline_mib:.0f} MiB up")
    if f.final_mib > f.baseline_mib * (1 + MAX_GROWTH):
        misses.append("server fuzz: memory not back within 10 %")
    return misses


def _fuzz_line(f: FuzzFigures) -> str:
    statuses = ", ".join(f"{k} {v}" for k, v in f.statuses.most_common())
    return (
        f"server fuzz: {f.tried} requests tried ({statuses}); INTERNAL for client faults "
        f"{len(f.internal)}; crashes {f.crashes}; hangs {len(f.hangs)}; slowest rejection "
        f"{f.slowest[0]:.2f} s ({f.slowest[1]}); RSS at start {f.cold_mib:.0f} MiB, baseline "
        f"after the warm-up {f.baseline_mib:.0f} MiB, peak "
        f"{f.peak_mib:.0f} MiB (+{f.peak_mib - f.baseline_mib:.0f}), after "
        f"{f.final_mib:.0f} MiB ({_growth(f.baseline_mib, f.final_mib)})"
    )


def _worker_line(w: WorkerFigures) -> str:
    codes = ", ".join(f"{k} {v}" for k, v in w.error_codes.most_common())
    return (
        f"worker frames: {w.streams} mutated streams, {w.frames_answered} replies (errors: "
        f"{codes}); internal {w.internal}; crashes {w.crashes}; hangs {w.hangs}"
    )


def _burst_line(b: BurstFigures) -> str:
    return (
        f"burst of {b.clients} clients for {b.seconds:.0f} s: Edit {len(b.edit_s)} calls, "
        f"median {b.median(b.edit_s):.2f} s, p95 {b.p95(b.edit_s):.2f} s; Invert+Render "
        f"{len(b.invert_render_s)}, median {b.median(b.invert_render_s):.2f} s, p95 "
        f"{b.p95(b.invert_render_s):.2f} s (its Render: median {b.median(b.render_s):.2f} s); "
        f"gave up {sum(b.gave_up.values())}; RSS baseline "
        f"{b.baseline_mib:.0f} MiB, peak {b.peak_mib:.0f} MiB, after {b.final_mib:.0f} MiB "
        f"({_growth(b.baseline_mib, b.final_mib)})"
    )


def _readers_line(r: SlowReaderFigures) -> str:
    return (
        f"slow readers: {r.readers} streams never read; another client's GetInfo answered in "
        f"{r.get_info_s:.2f} s; {r.dropped}/{r.readers} dropped after {SLOW_READER_S:.0f} s"
    )


def _fault_line(f: FaultFigures) -> str:
    return (
        f'faults: SIGSTOP noticed in {f.stopped_noticed_s:.1f} s ("{f.stopped_message[:60]}…"); '
        f"kill -9 server noticed in {f.killed_noticed_s:.2f} s; worker's local server killed → "
        f"next edit in {f.local_server_restart_s:.1f} s (restarted); worker killed → next edit in "
        f"{f.worker_restart_s:.1f} s; {f.writes} writers killed mid-write → {f.truncated} "
        "truncated files"
    )


def _growth(base: float, now: float) -> str:
    return f"{(now - base) / base * 100:+.1f} %" if base else "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="the short run (CI)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--pack", type=Path, help="a pack to serve (default: a new test pack)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if not Path("/proc/self/status").exists():
        print("this run reads memory from /proc: Linux only", file=sys.stderr)
        return 2
    sizes = SHORT if args.short else LONG
    print(f"facesmith hostile run ({'short' if args.short else 'long'}, seed {args.seed}): "
          f"{sizes}", flush=True)  # fmt: skip
    started = time.monotonic()
    ok, report = run(sizes, args.seed, args.pack)
    print(f"took {time.monotonic() - started:.0f} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, default=_plain, indent=1))
    return 0 if ok else 1


def _plain(value: Any) -> Any:
    return value.__dict__ if hasattr(value, "__dict__") else str(value)


if __name__ == "__main__":
    sys.exit(main())
