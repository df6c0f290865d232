"""Hostile requests against the gRPC server (issue 15, findings 1–6): each is refused before
it costs anything, with the client's status code and a short message; a client that leaves or
stops reading frees what it held; the queue is fair and says when to try again."""

from __future__ import annotations

import contextlib
import logging
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import torch
from hostile.h2 import NonReadingCall

from facesmith import wire
from facesmith.v1 import facesmith_pb2 as pb
from facesmith.v1 import facesmith_pb2_grpc as pb_grpc
from facesmith_server.errors import Busy, Cancelled
from facesmith_server.model.pack import load_pack
from facesmith_server.service import limits
from facesmith_server.service.admission import CHEAP, HEAVY, FairQueue
from facesmith_server.service.engine import Engine
from facesmith_server.service.servicer import RETRY_PUSHBACK_KEY, create_server

CPU = torch.device("cpu")
INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture(scope="module")
def engine(test_pack: Path) -> Engine:
    return Engine(load_pack(test_pack, CPU), CPU, max_batch=2, max_queue=4)


@pytest.fixture
def serve(engine: Engine) -> Iterator[Callable[..., pb_grpc.FacesmithStub]]:
    """Start a server on ``engine`` (or another) with create_server's options → a stub."""
    started: list[tuple[grpc.Server, grpc.Channel]] = []

    def start(on: Engine | None = None, **options: object) -> pb_grpc.FacesmithStub:
        server, port = create_server("127.0.0.1:0", on or engine, **options)  # type: ignore[arg-type]
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        started.append((server, channel))
        return pb_grpc.FacesmithStub(channel)

    yield start
    for server, channel in started:
        channel.close()
        server.stop(None)


def faces(engine: Engine, n: int = 1) -> list[pb.Image]:
    image = np.zeros((engine.info.resolution, engine.info.resolution, 3), np.uint8)
    return [wire.encode_image(image + i) for i in range(n)]


def mean_latent(engine: Engine) -> pb.Latent:
    latent = engine.check_latent(engine.pack.latent_avg.cpu().numpy()[None])
    return wire.encode_latent(latent, "w+")


def refusal(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        result = call()
        if isinstance(result, Iterator):
            list(result)
    return info.value


def png_header(width: int, height: int, depth: int = 16, colour: int = 2) -> bytes:
    """A PNG that declares ``width`` x ``height`` (its pixel data is a stub)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


# -- 1. decode before count -----------------------------------------------------------------------


def test_faces_are_counted_and_sized_before_any_is_decoded(
    engine: Engine, serve: Callable[..., pb_grpc.FacesmithStub], monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[int] = []
    imdecode = wire.cv2.imdecode
    monkeypatch.setattr(wire.cv2, "imdecode", lambda *a: decoded.append(1) or imdecode(*a))
    stub = serve()
    too_many = pb.EditRequest(faces=faces(engine, wire.MAX_FACES + 1))
    assert refusal(lambda: stub.Edit(too_many)).code() == INVALID
    bomb = pb.Image(encoding=pb.Image.ENCODING_PNG, data=png_header(8192, 8192))
    for request in (
        pb.EditRequest(faces=[*faces(engine), bomb]),
        pb.InvertRequest(faces=[*faces(engine, 3), bomb]),
    ):
        method = stub.Edit if isinstance(request, pb.EditRequest) else stub.Invert
        err = refusal(lambda m=method, r=request: m(r))
        assert err.code() == INVALID and "8192x8192" in (err.details() or "")
    assert decoded == [], "faces were decoded before the request was refused"


def test_large_faces_are_limited_by_the_working_memory_they_need() -> None:
    assert limits.max_faces(64) == wire.MAX_FACES
    assert limits.max_faces(1024) * 1024 * 1024 * 3 * 4 * 3 <= limits.MAX_WORK_BYTES
    with pytest.raises(Exception, match="at most 14 of 1024 px"):
        limits.check_faces([pb.Image()] * 15, 1024)


# -- 2. unbounded edits and holds, Render not cancellable ----------------------------------------


def test_a_render_holding_one_name_thousands_of_times_is_refused_at_once(
    engine: Engine, serve: Callable[..., pb_grpc.FacesmithStub]
) -> None:
    stub = serve()
    edit = pb.EditSpec(name="bald", strength=1, hold=["gender"] * 20_000)
    request = pb.RenderRequest(faces=[pb.LatentRef(latent=mean_latent(engine))], edits=[edit])
    started = time.monotonic()
    err = refusal(lambda: stub.Render(request, timeout=10))
    assert err.code() == INVALID and "at most 16" in (err.details() or "")
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        ([pb.EditSpec(name="age", strength=0)] * 33, "at most 32"),
        (
            [pb.EditSpec(name="age", strength=1), pb.EditSpec(name="age", strength=2)],
            "more than once",
        ),
        ([pb.EditSpec(name="bald", strength=1, hold=["age", "age"])], "twice"),
    ],
)
def test_edit_counts_and_duplicates_are_limited(
    engine: Engine, serve: Callable[..., pb_grpc.FacesmithStub], edits: list, message: str
) -> None:
    stub = serve()
    render = pb.RenderRequest(faces=[pb.LatentRef(latent=mean_latent(engine))], edits=edits)
    err = refusal(lambda: stub.Render(render))
    assert err.code() == INVALID and message in (err.details() or "")
    edit = pb.EditRequest(faces=faces(engine), edits=edits)
    err = refusal(lambda: stub.Edit(edit))
    assert err.code() == INVALID and message in (err.details() or "")


def test_a_render_stops_when_its_client_is_gone(
    test_pack: Path, serve: Callable[..., pb_grpc.FacesmithStub]
) -> None:
    slow = Engine(load_pack(test_pack, CPU), CPU, max_batch=2, max_queue=4)
    synthesis = slow.pack.generator.synthesis
    forward, batches = synthesis.forward, []

    def slow_forward(*args: object, **kwargs: object) -> torch.Tensor:
        batches.append(1)
        time.sleep(0.25)
        return forward(*args, **kwargs)

    synthesis.forward = slow_forward  # type: ignore[method-assign]
    stub = serve(slow)
    request = pb.RenderRequest(faces=[pb.LatentRef(latent=mean_latent(slow))] * 40)  # 20 batches
    assert refusal(lambda: stub.Render(request, timeout=0.6)).code() == (
        grpc.StatusCode.DEADLINE_EXCEEDED
    )
    deadline = time.monotonic() + 1.5
    while slow.jobs and time.monotonic() < deadline:
        time.sleep(0.02)
    assert slow.jobs == 0, "the render went on after its client left"
    assert len(batches) < 10


# -- 3. slow readers ------------------------------------------------------------------------------


def test_clients_that_never_read_do_not_block_others(
    test_pack: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """16 calls whose clients never read (a flow-control window of 0) used to hold every RPC
    thread in a blocked send, so no other client got even GetInfo answered."""
    roomy = Engine(load_pack(test_pack, CPU), CPU, max_batch=8, max_queue=16)
    server, port = create_server("127.0.0.1:0", roomy, slow_reader_s=1.5)
    address = f"127.0.0.1:{port}"
    request = pb.EditRequest(faces=faces(roomy), output_dtype=pb.DTYPE_FLOAT32)
    unread = [
        NonReadingCall(
            address, "/facesmith.v1.Facesmith/Edit", request.SerializeToString(),
            (("facesmith-client", f"c{i}"),),
        )
        for i in range(16)
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (roomy.jobs or time.monotonic() < deadline - 18):
            time.sleep(0.05)  # the jobs run; their replies then wait for readers
        with grpc.insecure_channel(address) as channel:
            started = time.monotonic()
            info = pb_grpc.FacesmithStub(channel).GetInfo(pb.GetInfoRequest(), timeout=5)
            assert info.resolution == 64 and time.monotonic() - started < 2.0
        assert all(call.ended_by_server(wait_s=6) for call in unread), "readers not dropped"
    finally:
        for call in unread:
            call.close()
        server.stop(None)


# -- 4. work thrown away --------------------------------------------------------------------------


def test_a_reply_too_large_to_send_is_refused_before_the_work(
    engine: Engine, serve: Callable[..., pb_grpc.FacesmithStub]
) -> None:
    stub = serve(max_message_bytes=1 << 20)
    request = pb.EditRequest(
        faces=faces(engine, 16),
        options=pb.InvertOptions(include_reconstruction=True),
        output_dtype=pb.DTYPE_FLOAT32,
    )
    events: list[pb.EditEvent] = []
    with pytest.raises(grpc.RpcError) as info:
        events.extend(stub.Edit(request))
    assert info.value.code() == INVALID
    assert "message limit" in (info.value.details() or "") and "at most" in info.value.details()
    assert events == []  # nothing ran
    fits = pb.EditRequest(faces=faces(engine, 2), output_dtype=pb.DTYPE_FLOAT32)
    assert list(stub.Edit(fits))[-1].HasField("result")


# -- 5. status codes ------------------------------------------------------------------------------


def test_requests_that_do_not_parse_are_invalid_argument_in_one_log_line(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    server, port = create_server("127.0.0.1:0", engine)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    rng = np.random.default_rng(5)
    codes: dict[str, int] = {}
    caplog.set_level(logging.INFO)
    for method in ("GetInfo", "Render", "Invert", "Edit"):
        path = f"/facesmith.v1.Facesmith/{method}"
        streaming = method in ("Invert", "Edit")
        call = channel.unary_stream(path) if streaming else channel.unary_unary(path)
        for _ in range(40):
            payload = rng.integers(0, 256, rng.integers(1, 300)).astype(np.uint8).tobytes()
            try:
                result = call(payload, timeout=10)
                list(result) if streaming else result
                code = grpc.StatusCode.OK
            except grpc.RpcError as err:
                code = err.code()
            codes[code.name] = codes.get(code.name, 0) + 1
    channel.close()
    server.stop(None)
    assert "INTERNAL" not in codes, codes
    assert codes.get("INVALID_ARGUMENT", 0) > 100, codes
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


def test_echoed_client_strings_are_cut_short(
    engine: Engine, serve: Callable[..., pb_grpc.FacesmithStub]
) -> None:
    stub = serve()
    long_name = "x" * 16_000
    for request in (
        pb.EditRequest(faces=faces(engine), edits=[pb.EditSpec(name=long_name, strength=1)]),
        pb.EditRequest(
            faces=faces(engine), edits=[pb.EditSpec(name="bald", strength=1, hold=[long_name])]
        ),
    ):
        err = refusal(lambda r=request: stub.Edit(r))
        assert err.code() == INVALID and len(err.details() or "") < 300, err.details()
    handle = pb.RenderRequest(faces=[pb.LatentRef(handle="h" * 16_000)])
    err = refusal(lambda: stub.Render(handle))
    assert err.code() == INVALID and len(err.details() or "") < 300


def test_non_finite_pixels_are_refused_and_nothing_is_cached(
    engine: Engine, serve: Callable[..., pb_grpc.FacesmithStub]
) -> None:
    stub = serve()
    size = engine.info.resolution
    cached = len(engine.cache)
    for value in (np.nan, np.inf):
        crop = np.full((size, size, 3), value, np.float32)
        face = wire.encode_image(crop)
        for method, request in (
            (stub.Invert, pb.InvertRequest(faces=[face])),
            (stub.Edit, pb.EditRequest(faces=[face])),
        ):
            err = refusal(lambda m=method, r=request: m(r))
            assert err.code() == INVALID and "NaN or infinite" in (err.details() or "")
    assert len(engine.cache) == cached


def test_non_finite_latents_are_refused(
    engine: Engine, serve: Callable[..., pb_grpc.FacesmithStub]
) -> None:
    stub = serve()
    latent = mean_latent(engine)
    latent.values[0] = float("nan")
    err = refusal(lambda: stub.Render(pb.RenderRequest(faces=[pb.LatentRef(latent=latent)])))
    assert err.code() == INVALID


# -- 6. fairness under load -----------------------------------------------------------------------


def test_a_busy_refusal_says_when_to_try_again(
    test_pack: Path, serve: Callable[..., pb_grpc.FacesmithStub]
) -> None:
    small = Engine(load_pack(test_pack, CPU), CPU, max_batch=2, max_queue=1)
    stub = serve(small)
    slow = pb.InvertRequest(faces=faces(small), options=pb.InvertOptions(refine_steps=2000))
    running = stub.Invert(slow)
    next(running)  # it holds the only slot now
    other = (("facesmith-client", "other"),)
    err = refusal(lambda: stub.Invert(pb.InvertRequest(faces=faces(small)), metadata=other))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "try again in about" in (err.details() or "")
    pushback = dict(err.trailing_metadata() or ())  # type: ignore[attr-defined]
    assert int(pushback[RETRY_PUSHBACK_KEY]) > 0
    # a render is not refused for inversions filling the queue: it goes next
    render = pb.RenderRequest(faces=[pb.LatentRef(latent=mean_latent(small))])
    rendered: list[pb.RenderResponse] = []
    thread = threading.Thread(
        target=lambda: rendered.append(stub.Render(render, metadata=other, timeout=30))
    )
    thread.start()
    deadline = time.monotonic() + 10
    while small.jobs < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert small.jobs == 2  # admitted, waiting for its turn
    running.cancel()
    thread.join(30)
    assert len(rendered[0].images) == 1


def test_one_client_cannot_take_every_queue_slot() -> None:
    fair = FairQueue(max_queue=4)
    with contextlib.ExitStack() as held:
        held.enter_context(fair.admit("a"))
        held.enter_context(fair.admit("a"))
        with pytest.raises(Busy, match="2 of your requests") as caught:
            held.enter_context(fair.admit("a"))
        assert caught.value.retry_after_s > 0
        held.enter_context(fair.admit("b"))
        held.enter_context(fair.admit("c"))
        with pytest.raises(Busy, match="4 requests are queued"):
            held.enter_context(fair.admit("d"))
    assert fair.jobs == 0


def test_turns_go_to_cheap_jobs_first_then_round_robin_over_clients() -> None:
    fair = FairQueue(max_queue=16, per_client=8, cheap_streak=2)
    order: list[str] = []
    gate = threading.Event()

    def job(client: str, kind: str, label: str) -> threading.Thread:
        def run() -> None:
            with fair.admit(client, kind) as ticket, fair.turn(ticket):
                order.append(label)
                gate.wait(5)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    first = job("a", HEAVY, "a1")  # takes the device at once
    while not order:
        time.sleep(0.01)
    queued = [("a", HEAVY, "a2"), ("a", HEAVY, "a3"), ("b", HEAVY, "b1"), ("c", HEAVY, "c1")]
    queued += [("b", CHEAP, "b-render"), ("d", CHEAP, "d-render"), ("d", CHEAP, "d-render2")]
    threads = [first]
    for spec in queued:
        threads.append(job(*spec))
        time.sleep(0.05)  # arrival order
    gate.set()
    for thread in threads:
        thread.join(10)
    # cheap first, at most 2 in a row while heavy ones wait; each turn to the client served
    # longest ago with that kind: b and c (b came first) before a, who just ran; b's render
    # does not put its inversion behind c's
    assert order == ["a1", "b-render", "d-render", "b1", "d-render2", "c1", "a2", "a3"]


def test_a_job_waiting_for_its_turn_leaves_when_its_client_does() -> None:
    fair = FairQueue(max_queue=4)
    gone = threading.Event()
    with fair.admit("a") as holder, fair.turn(holder), fair.admit("b") as waiter:
        gone.set()
        with pytest.raises(Cancelled), fair.turn(waiter, gone.is_set):
            pass
    assert fair.jobs == 0


def test_the_render_after_an_inversion_is_not_refused_for_a_full_queue() -> None:
    fair = FairQueue(max_queue=1, per_client=2)
    with fair.admit("a", HEAVY):
        pass  # a has just inverted its faces
    with contextlib.ExitStack() as held:
        held.enter_context(fair.admit("b", CHEAP))  # every render slot is taken
        with pytest.raises(Busy):
            held.enter_context(fair.admit("c", CHEAP))
        held.enter_context(fair.admit("a", CHEAP))  # a's render follows its inversion
        assert fair.jobs == 2


def test_a_freed_slot_goes_to_the_client_refused_first() -> None:
    """A client that sends its next request the moment its last one ends used to win every
    slot from those told to wait."""
    fair = FairQueue(max_queue=1)
    first = fair.admit("eager")
    first.__enter__()
    with pytest.raises(Busy), fair.admit("patient"):
        pass  # told to wait
    first.__exit__(None, None, None)  # the slot frees up: it is held for "patient"
    with pytest.raises(Busy), fair.admit("eager"):
        pass  # asks again at once: refused, behind "patient"
    with fair.admit("patient"):
        assert fair.jobs == 1
    with fair.admit("eager"):  # then its turn
        pass
