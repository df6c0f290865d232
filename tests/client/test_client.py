"""The client interface: the fake client, and the gRPC client against an in-process server
(a thin servicer over the fake, so the wire conversion, errors, token, message sizes and
cancelling are tested without models), plus one round trip through the real server."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from facesmith import wire
from facesmith.v1 import facesmith_pb2 as pb
from facesmith.v1 import facesmith_pb2_grpc as pb_grpc
from facesmith_client.events import FaceResult
from facesmith_client.remote.client import (
    CancelToken,
    ClientError,
    EditSpec,
    InvertOptions,
    Progress,
    Result,
    check_edits,
    collect_result,
)
from facesmith_client.remote.fake_client import FakeClient
from facesmith_client.remote.grpc_client import GrpcClient, error_for_status

RNG = np.random.default_rng(0)


def same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Both present and equal."""
    return a is not None and b is not None and np.array_equal(a, b)


def crops(n: int, size: int = 64, dtype: Any = np.uint8) -> list[np.ndarray]:
    top = np.iinfo(dtype).max
    return [RNG.integers(0, top, (size, size, 3), endpoint=True).astype(dtype) for _ in range(n)]


# -- the fake ------------------------------------------------------------------------------------


def test_fake_edit_streams_progress_then_result() -> None:
    client = FakeClient()
    events = list(
        client.edit(
            crops(2), [EditSpec("age", 25)], InvertOptions(refine_steps=3), output_dtype=np.uint16
        )
    )
    assert all(isinstance(e, Progress) for e in events[:-1])
    assert [e.stage for e in events[:-1] if isinstance(e, Progress)].count("refine") == 3
    result = events[-1]
    assert isinstance(result, Result) and len(result.faces) == 2
    face = result.faces[0]
    assert (
        face.image is not None and face.image.dtype == np.uint16 and face.image.shape == (64, 64, 3)
    )
    assert face.reconstruction is None  # not asked for
    assert face.latent is not None and face.latent.shape == (10, 64)


def test_fake_render_by_handle_matches_edit() -> None:
    client = FakeClient()
    result = collect_result(
        client.edit(crops(1), [EditSpec("smile", 1)], InvertOptions(include_reconstruction=True))
    )
    face = result.faces[0]
    rendered = client.render([face.handle], [EditSpec("smile", 1)], include_reconstruction=True)
    assert same(rendered.faces[0].image, face.image)
    assert same(rendered.faces[0].reconstruction, face.reconstruction)
    preview = client.render([face.handle], resolution=32).faces[0].image
    assert preview is not None and preview.shape == (32, 32, 3)


def test_fake_rejects_like_the_server() -> None:
    client = FakeClient()
    with pytest.raises(ClientError) as err:
        client.edit(crops(1, size=60), [EditSpec("age", 1)])
    assert err.value.code == "invalid_argument" and "64x64" in err.value.message
    with pytest.raises(ClientError, match=r"unknown edit 'glasses'.*age, bald, gender, smile"):
        client.edit(crops(1), [EditSpec("glasses", 1)])
    with pytest.raises(ClientError, match=r"outside its range \[-2, 2\]"):
        client.edit(crops(1), [EditSpec("bald", 3)])
    with pytest.raises(ClientError) as err:
        client.render(["fake-999"])
    assert err.value.code == "not_found"


def test_check_edits_names_the_problem() -> None:
    info = FakeClient().info()
    check_edits(info, [EditSpec("age", -50), EditSpec("gender", 2, hold=("age",))])
    with pytest.raises(ValueError, match=r"offers: age, bald, gender, smile"):
        check_edits(info, [EditSpec("beard", 1)])
    with pytest.raises(ValueError, match="age strength 51 is outside"):
        check_edits(info, [EditSpec("age", 51)])
    with pytest.raises(ValueError, match="outside"):
        check_edits(info, [EditSpec("age", float("nan"))])
    with pytest.raises(ValueError, match="unknown edit 'hat'"):
        check_edits(info, [EditSpec("age", 1, hold=("hat",))])


def test_cancel_token_runs_callbacks_once() -> None:
    token = CancelToken()
    calls: list[str] = []
    token.on_cancel(lambda: calls.append("a"))
    removed = lambda: calls.append("removed")  # noqa: E731
    token.on_cancel(removed)
    token.remove(removed)
    token.cancel()
    token.cancel()
    token.on_cancel(lambda: calls.append("late"))  # already cancelled: runs at once
    assert token.cancelled and calls == ["a", "late"]


def test_fake_edit_stops_when_cancelled() -> None:
    client, token = FakeClient(), CancelToken()
    events = client.edit(
        crops(1), [EditSpec("age", 1)], InvertOptions(refine_steps=50), cancel=token
    )
    seen = 0
    with pytest.raises(ClientError) as err:
        for _ in events:
            seen += 1
            if seen == 3:
                token.cancel()
    assert err.value.code == "cancelled" and seen == 3
    assert err.value.event().code == "cancelled"


def test_collect_result_needs_a_result() -> None:
    progress: list[Progress] = []
    with pytest.raises(ClientError, match="without a result"):
        collect_result(iter([Progress("encode", 1, 1)]), progress.append)
    assert progress == [Progress("encode", 1, 1)]


def test_status_codes_become_short_codes_with_advice() -> None:
    busy = error_for_status(grpc.StatusCode.RESOURCE_EXHAUSTED, "queue full")
    assert busy.code == "resource_exhausted" and "try again" in busy.message
    bad = error_for_status(grpc.StatusCode.INVALID_ARGUMENT, "strength 9 of edit 'bald'")
    assert bad.code == "invalid_argument" and bad.message == "strength 9 of edit 'bald'"
    token = error_for_status(grpc.StatusCode.UNAUTHENTICATED, "missing token")
    assert "--token" in token.message


# -- gRPC client against a servicer over the fake ------------------------------------------------


class FakeServicer(pb_grpc.FacesmithServicer):
    """Serves a FakeClient; records request metadata; ``delay_s`` slows each event."""

    def __init__(self, fake: FakeClient) -> None:
        self.fake = fake
        self.metadata: list[dict[str, str]] = []
        self.delay_s = 0.0
        self.cancelled = threading.Event()

    def GetInfo(self, request: pb.GetInfoRequest, context: Any) -> pb.ServerInfo:
        self.metadata.append(dict(context.invocation_metadata()))
        info = self.fake.info()
        return pb.ServerInfo(
            pack_name=info.pack_name,
            resolution=info.resolution,
            latent_space=info.latent_space,
            num_ws=info.num_ws,
            latent_dim=info.latent_dim,
            device=info.device,
            edits=[
                pb.EditInfo(name=e.name, description=e.description, min=e.min, max=e.max)
                for e in info.edits
            ],
            preview_resolutions=list(info.preview_resolutions),
            max_batch=info.max_batch,
            alignment=info.alignment,
        )

    def Edit(self, request: pb.EditRequest, context: Any) -> Iterator[pb.EditEvent]:
        self.metadata.append(dict(context.invocation_metadata()))
        context.add_callback(self.cancelled.set)
        try:
            events = self.fake.edit(
                [wire.decode_image(face) for face in request.faces],
                [EditSpec(e.name, e.strength, tuple(e.hold)) for e in request.edits],
                InvertOptions(
                    request.options.refine_steps, 0.0, request.options.include_reconstruction
                ),
                resolution=request.resolution,
                output_dtype=wire.dtype_from_wire(request.output_dtype, np.dtype(np.uint8)),
            )
            for event in events:
                time.sleep(self.delay_s)
                yield _edit_event(event)
        except ClientError as err:
            context.abort(getattr(grpc.StatusCode, err.code.upper()), err.message)

    def Render(self, request: pb.RenderRequest, context: Any) -> pb.RenderResponse:
        refs: list[str | np.ndarray] = [
            ref.handle if ref.WhichOneof("source") == "handle" else wire.decode_latent(ref.latent)
            for ref in request.faces
        ]
        try:
            result = self.fake.render(
                refs,
                resolution=request.resolution,
                include_reconstruction=request.include_reconstruction,
            )
        except ClientError as err:
            context.abort(getattr(grpc.StatusCode, err.code.upper()), err.message)
        return pb.RenderResponse(
            images=[wire.encode_image(f.image) for f in result.faces if f.image is not None],
            reconstructions=[
                wire.encode_image(f.reconstruction)
                for f in result.faces
                if f.reconstruction is not None
            ],
        )


def _edit_event(event: Progress | Result) -> pb.EditEvent:
    if isinstance(event, Progress):
        return pb.EditEvent(
            progress=pb.Progress(
                stage=event.stage, done=event.done, total=event.total, loss=event.loss
            )
        )
    return pb.EditEvent(result=pb.EditResult(faces=[_edited_face(f) for f in event.faces]))


def _edited_face(face: FaceResult) -> pb.EditedFace:
    assert face.image is not None and face.latent is not None
    return pb.EditedFace(
        handle=face.handle,
        latent=wire.encode_latent(face.latent, "w+"),
        image=wire.encode_image(face.image),
        reconstruction=(
            wire.encode_image(face.reconstruction) if face.reconstruction is not None else None
        ),
    )


@pytest.fixture
def fake_server() -> Iterator[tuple[FakeServicer, str]]:
    servicer = FakeServicer(FakeClient())
    limit = 64 * 1024 * 1024
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        options=[
            ("grpc.max_send_message_length", limit),
            ("grpc.max_receive_message_length", limit),
        ],
    )
    pb_grpc.add_FacesmithServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(grace=None)


def test_grpc_info_and_token(fake_server: tuple[FakeServicer, str]) -> None:
    servicer, address = fake_server
    with GrpcClient(address, token="s3cret") as client:
        info = client.info()
    assert info.resolution == 64 and info.edit("age").max == 50
    assert info.preview_resolutions == (16, 32)
    assert servicer.metadata[-1]["authorization"] == "Bearer s3cret"


def test_grpc_edit_round_trip(fake_server: tuple[FakeServicer, str]) -> None:
    _, address = fake_server
    faces = crops(3, dtype=np.uint16)
    with GrpcClient(address) as client:
        events = list(
            client.edit(
                faces,
                [EditSpec("gender", 1)],
                InvertOptions(refine_steps=2, include_reconstruction=True),
                output_dtype=np.uint16,
            )
        )
    expected = collect_result(
        FakeClient().edit(
            faces,
            [EditSpec("gender", 1)],
            InvertOptions(refine_steps=2, include_reconstruction=True),
            output_dtype=np.uint16,
        )
    )
    result = events[-1]
    assert isinstance(result, Result)
    assert [e.stage for e in events[:-1] if isinstance(e, Progress)] == [
        "encode",
        "encode",
        "refine",
        "refine",
        "render",
    ]
    for got, want in zip(result.faces, expected.faces, strict=True):
        assert got.image is not None and got.image.dtype == np.uint16
        assert same(got.image, want.image)
        assert same(got.reconstruction, want.reconstruction)
        assert same(got.latent, want.latent)


def test_grpc_render_by_handle_and_latent(fake_server: tuple[FakeServicer, str]) -> None:
    _, address = fake_server
    with GrpcClient(address) as client:
        face = collect_result(client.edit(crops(1), [EditSpec("age", 10)])).faces[0]
        assert face.latent is not None
        result = client.render([face.handle, face.latent], include_reconstruction=True)
        assert [f.handle for f in result.faces] == [face.handle, ""]
        assert all(f.reconstruction is not None for f in result.faces)
        with pytest.raises(ClientError) as err:
            client.render(["gone"])
    assert err.value.code == "not_found" and "invert it again" in err.value.message


def test_grpc_errors_keep_the_servers_words(fake_server: tuple[FakeServicer, str]) -> None:
    _, address = fake_server
    with GrpcClient(address) as client, pytest.raises(ClientError) as err:
        list(client.edit(crops(1, size=32), [EditSpec("age", 1)]))
    assert err.value.code == "invalid_argument"
    assert "this pack needs aligned 64x64 crops" in err.value.message


def test_grpc_large_messages_pass(fake_server: tuple[FakeServicer, str]) -> None:
    """Faces of a 1024-px pack in 16 bits are far above gRPC's default 4 MiB limit."""
    servicer, address = fake_server
    servicer.fake = FakeClient(resolution=1024)
    big = crops(1, size=1024, dtype=np.uint16)
    assert wire.encode_image(big[0]).ByteSize() > 4 * 1024 * 1024
    with GrpcClient(address) as client:
        result = collect_result(
            client.edit(
                big,
                [EditSpec("age", 1)],
                InvertOptions(include_reconstruction=True),
                output_dtype=np.uint16,
            )
        )
    assert result.faces[0].image is not None and result.faces[0].image.shape == (1024, 1024, 3)


def test_grpc_cancel_stops_the_call(fake_server: tuple[FakeServicer, str]) -> None:
    servicer, address = fake_server
    servicer.delay_s = 0.05
    token = CancelToken()
    seen: list[Progress] = []

    def on_event(event: Progress) -> None:
        seen.append(event)
        if len(seen) == 2:
            threading.Thread(target=token.cancel).start()

    start = time.monotonic()
    with GrpcClient(address) as client, pytest.raises(ClientError) as err:
        collect_result(
            client.edit(
                crops(1), [EditSpec("age", 1)], InvertOptions(refine_steps=400), cancel=token
            ),
            on_event,
        )
    assert err.value.code == "cancelled"
    assert time.monotonic() - start < 5  # 400 steps would take 20 s
    assert servicer.cancelled.wait(5)


def test_grpc_unreachable_says_how_to_start_a_server() -> None:
    with (
        GrpcClient("127.0.0.1:9", connect_timeout=0.3) as client,
        pytest.raises(ClientError) as err,
    ):
        client.info()
    assert err.value.code == "unavailable"
    assert "server not reachable at 127.0.0.1:9" in err.value.message
    assert "facesmith-server serve" in err.value.message


# -- the real server ------------------------------------------------------------------------------


def test_grpc_against_the_real_server(test_pack: Path) -> None:
    import torch

    from facesmith_server.model.pack import load_pack
    from facesmith_server.service.engine import Engine
    from facesmith_server.service.servicer import create_server

    device = torch.device("cpu")
    pack = load_pack(test_pack, device)
    age = pack.directions["age"].score
    assert age is not None
    server, port = create_server("127.0.0.1:0", Engine(pack, device))
    try:
        with GrpcClient(f"127.0.0.1:{port}") as client:
            info = client.info()
            assert {"age", "gender", "bald", "smile"} <= {e.name for e in info.edits}
            faces = crops(2, size=info.resolution)
            result = collect_result(
                client.edit(
                    faces, [EditSpec("age", 20)], InvertOptions(include_reconstruction=True)
                )
            )
            edited = result.faces[0]
            assert edited.image is not None and edited.image.shape == faces[0].shape
            assert edited.reconstruction is not None
            assert not same(edited.image, edited.reconstruction)
            again = client.render([edited.handle], [EditSpec("age", 20)])
            assert same(again.faces[0].image, edited.image)
            with pytest.raises(ClientError) as err:
                client.render([edited.handle], [EditSpec("age", 500)])
            assert err.value.code == "invalid_argument" and "age" in err.value.message
            assert edited.short_edits == ()
            # a set edit beyond the age range (±50 years) stops at its end and says so
            (face,) = collect_result(client.invert(faces[:1])).faces
            assert face.latent is not None
            now = age.value(face.latent)
            goal = 100.0 if now < 50.0 else 0.0
            too_far = [EditSpec("age", mode="set", target=goal)]
            (short,) = collect_result(client.edit(faces[:1], too_far)).faces[0].short_edits
            assert (short.name, short.mode, short.goal) == ("age", "set", goal)
            assert short.reached == pytest.approx(now + math.copysign(50.0, goal - now), abs=0.01)
            (again,) = client.render([face.handle], too_far).faces[0].short_edits
            assert (again.goal, again.reached) == pytest.approx((goal, short.reached), abs=0.01)
    finally:
        server.stop(grace=None)
