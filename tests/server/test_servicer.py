"""The gRPC server on loopback (port 0): every RPC, streamed progress, cancel, and each bad
input answered with its status code while the server keeps serving."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import torch

from facesmith import wire
from facesmith.v1 import facesmith_pb2 as pb
from facesmith.v1 import facesmith_pb2_grpc as pb_grpc
from facesmith_server.errors import PackError
from facesmith_server.model.pack import load_pack
from facesmith_server.service.engine import Engine
from facesmith_server.service.servicer import create_server, is_loopback

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def engine(test_pack: Path) -> Engine:
    return Engine(load_pack(test_pack, CPU), CPU, max_batch=2, max_queue=2, default_refine_steps=0)


@pytest.fixture(scope="module")
def stub(engine: Engine) -> Iterator[pb_grpc.FacesmithStub]:
    server, port = create_server("127.0.0.1:0", engine)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield pb_grpc.FacesmithStub(channel)
    server.stop(None)


def _faces(engine: Engine, n: int = 1, dtype: type = np.uint8, seed: int = 0) -> list[pb.Image]:
    """Faces the generator itself drew, so inversion has something real to find."""
    rng = np.random.default_rng(seed)
    latents = [engine.check_latent(engine.pack.latent_avg.cpu().numpy()[None]) for _ in range(n)]
    latents = [lat + 0.3 * rng.normal(size=lat.shape).astype(np.float32) for lat in latents]
    top = np.iinfo(dtype).max
    return [wire.encode_image(np.rint(img * top).astype(dtype)) for img in engine.render(latents)]


def _code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        result = call() if callable(call) else call
        if isinstance(result, Iterator):
            list(result)
    return info.value.code()


def test_get_info_describes_pack_and_edits(stub: pb_grpc.FacesmithStub, engine: Engine) -> None:
    info = stub.GetInfo(pb.GetInfoRequest())
    assert info.pack_name == engine.pack.manifest.name
    assert info.resolution == engine.info.resolution == 64
    assert info.latent_space == "w+" and info.num_ws == engine.info.num_ws
    assert info.device.startswith("cpu")
    edits = {e.name: e for e in info.edits}
    assert {"age", "gender", "bald"} <= set(edits)
    assert edits["age"].min < edits["age"].default < edits["age"].max
    assert list(info.preview_resolutions) == [16, 32]


def test_invert_streams_progress_then_latents(stub: pb_grpc.FacesmithStub, engine: Engine) -> None:
    request = pb.InvertRequest(
        faces=_faces(engine, 3),
        options=pb.InvertOptions(refine_steps=5, include_reconstruction=True),
    )
    events = list(stub.Invert(request))
    progress = [e.progress for e in events if e.HasField("progress")]
    assert [p.stage for p in progress].count("encode") == 2  # 3 faces in batches of 2
    refine = [p for p in progress if p.stage == "refine"]
    assert refine[-1].done == refine[-1].total == 5 and refine[-1].loss > 0
    assert events[-1].HasField("result")
    faces = events[-1].result.faces
    assert len(faces) == 3
    assert len({f.handle for f in faces}) == 3
    latent = wire.decode_latent(faces[0].latent)
    assert latent.shape == (engine.info.num_ws, engine.info.latent_dim)
    assert wire.decode_image(faces[0].reconstruction).shape == (64, 64, 3)


def test_render_by_handle_matches_render_by_latent(
    stub: pb_grpc.FacesmithStub, engine: Engine
) -> None:
    result = list(stub.Invert(pb.InvertRequest(faces=_faces(engine))))[-1].result
    face = result.faces[0]
    edits = [pb.EditSpec(name="age", strength=20), pb.EditSpec(name="gender", strength=-1)]
    by_handle = stub.Render(pb.RenderRequest(faces=[pb.LatentRef(handle=face.handle)], edits=edits))
    by_latent = stub.Render(pb.RenderRequest(faces=[pb.LatentRef(latent=face.latent)], edits=edits))
    a, b = (wire.decode_image(r.images[0]) for r in (by_handle, by_latent))
    np.testing.assert_array_equal(a, b)
    unedited = stub.Render(pb.RenderRequest(faces=[pb.LatentRef(handle=face.handle)]))
    assert np.abs(a.astype(int) - wire.decode_image(unedited.images[0])).max() > 10


def test_render_preview_and_16_bit(stub: pb_grpc.FacesmithStub, engine: Engine) -> None:
    handle = list(stub.Invert(pb.InvertRequest(faces=_faces(engine))))[-1].result.faces[0].handle
    ref = [pb.LatentRef(handle=handle)]
    preview = stub.Render(pb.RenderRequest(faces=ref, resolution=16))
    assert wire.decode_image(preview.images[0]).shape == (16, 16, 3)
    deep = stub.Render(
        pb.RenderRequest(faces=ref, output_dtype=pb.DTYPE_UINT16, include_reconstruction=True)
    )
    image = wire.decode_image(deep.images[0])
    assert image.dtype == np.uint16 and image.shape == (64, 64, 3)
    assert len(deep.reconstructions) == 1
    # 16 bits carry more than 256 levels
    assert len(np.unique(image)) > 256


def test_edit_one_shot_accepts_16_bit_faces(stub: pb_grpc.FacesmithStub, engine: Engine) -> None:
    request = pb.EditRequest(
        faces=_faces(engine, 2, np.uint16),
        edits=[pb.EditSpec(name="bald", strength=1.5, hold=["gender", "age"])],
        options=pb.InvertOptions(include_reconstruction=True),
        output_dtype=pb.DTYPE_UINT16,
    )
    events = list(stub.Edit(request))
    assert any(e.HasField("progress") and e.progress.stage == "render" for e in events)
    faces = events[-1].result.faces
    assert len(faces) == 2
    edited = wire.decode_image(faces[0].image)
    recon = wire.decode_image(faces[0].reconstruction)
    assert edited.dtype == np.uint16 and recon.shape == edited.shape
    assert not np.array_equal(edited, recon)


def test_cancel_stops_refinement_and_frees_the_server(
    stub: pb_grpc.FacesmithStub, engine: Engine
) -> None:
    request = pb.InvertRequest(faces=_faces(engine), options=pb.InvertOptions(refine_steps=2000))
    call = stub.Invert(request)
    first = next(call)
    assert first.HasField("progress")
    call.cancel()
    with pytest.raises(grpc.RpcError) as info:
        list(call)
    assert info.value.code() == grpc.StatusCode.CANCELLED
    _wait_until_idle(engine)
    assert stub.GetInfo(pb.GetInfoRequest()).resolution == 64


def test_queue_full_is_resource_exhausted(stub: pb_grpc.FacesmithStub, engine: Engine) -> None:
    slow = pb.InvertRequest(faces=_faces(engine), options=pb.InvertOptions(refine_steps=2000))
    running = stub.Invert(slow)
    next(running)  # it holds the device now
    # another client's job waits for the device: the queue (2) is full
    calls = [running, stub.Invert(slow, metadata=(("facesmith-client", "another"),))]
    _wait_until(lambda: engine.jobs == 2)
    render = pb.RenderRequest(faces=[pb.LatentRef(latent=_mean_latent(engine))])
    assert _code(lambda: stub.Render(render)) == grpc.StatusCode.RESOURCE_EXHAUSTED
    # a request refused for itself is answered at once, without waiting for the queue
    unknown = pb.RenderRequest(faces=[pb.LatentRef(handle="x")])
    assert _code(lambda: stub.Render(unknown)) == grpc.StatusCode.NOT_FOUND
    for call in calls:
        call.cancel()
    _wait_until_idle(engine)


def _wait_until_idle(engine: Engine) -> None:
    _wait_until(lambda: engine.jobs == 0)  # a cancelled job gives its slot back


def _wait_until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert condition()


def _bad_requests(engine: Engine) -> dict[str, tuple[object, grpc.StatusCode]]:
    good = _faces(engine)[0]
    garbled = pb.Image(encoding=pb.Image.ENCODING_PNG, data=b"\x89PNG\r\n\x1a\nnot really")
    not_png = pb.Image(encoding=pb.Image.ENCODING_PNG, data=b"GIF89a....")
    two_channels = pb.Image(
        encoding=pb.Image.ENCODING_RAW, height=64, width=64, channels=2,
        dtype=pb.DTYPE_UINT8, data=bytes(64 * 64 * 2),
    )  # fmt: skip
    short_raw = pb.Image(
        encoding=pb.Image.ENCODING_RAW, height=64, width=64, channels=3,
        dtype=pb.DTYPE_UINT8, data=bytes(10),
    )  # fmt: skip
    wrong_size = wire.encode_image(np.zeros((32, 48, 3), np.uint8))
    invalid = grpc.StatusCode.INVALID_ARGUMENT

    def edit(faces: list[pb.Image], *edits: pb.EditSpec) -> pb.EditRequest:
        return pb.EditRequest(faces=faces, edits=list(edits))

    return {
        "undecodable PNG": (edit([garbled]), invalid),
        "not a PNG": (edit([not_png]), invalid),
        "two channels": (edit([two_channels]), invalid),
        "raw data too short": (edit([short_raw]), invalid),
        "wrong size": (edit([wrong_size]), invalid),
        "no faces": (edit([]), invalid),
        "unknown edit": (edit([good], pb.EditSpec(name="wings", strength=1)), invalid),
        "strength out of range": (edit([good], pb.EditSpec(name="gender", strength=99)), invalid),
        "NaN strength": (edit([good], pb.EditSpec(name="gender", strength=float("nan"))), invalid),
        "unknown held edit": (
            edit([good], pb.EditSpec(name="bald", strength=1, hold=["wings"])),
            invalid,
        ),
        "bad output dtype": (pb.EditRequest(faces=[good], output_dtype=77), invalid),
        "too many refine steps": (
            pb.EditRequest(faces=[good], options=pb.InvertOptions(refine_steps=10**6)),
            invalid,
        ),
    }


def test_each_bad_input_gets_its_status_and_the_server_keeps_serving(
    stub: pb_grpc.FacesmithStub, engine: Engine
) -> None:
    for name, (request, expected) in _bad_requests(engine).items():
        assert _code(lambda r=request: stub.Edit(r)) == expected, name
    assert _code(lambda: stub.Render(pb.RenderRequest(faces=[pb.LatentRef(handle="gone")]))) == (
        grpc.StatusCode.NOT_FOUND
    )
    bad_latent = pb.Latent(space="w+", num_ws=2, dim=3, values=[0.0] * 6)
    bad_render = pb.RenderRequest(faces=[pb.LatentRef(latent=bad_latent)])
    assert _code(lambda: stub.Render(bad_render)) == grpc.StatusCode.INVALID_ARGUMENT
    assert _code(lambda: stub.Render(pb.RenderRequest(faces=[pb.LatentRef()]))) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    bad_preview = pb.RenderRequest(faces=[pb.LatentRef(latent=_mean_latent(engine))], resolution=7)
    assert _code(lambda: stub.Render(bad_preview)) == grpc.StatusCode.INVALID_ARGUMENT
    assert stub.GetInfo(pb.GetInfoRequest()).resolution == 64


def _mean_latent(engine: Engine) -> pb.Latent:
    latent = engine.check_latent(engine.pack.latent_avg.cpu().numpy()[None])
    return wire.encode_latent(latent, "w+")


def test_garbage_bytes_never_crash_the_server(engine: Engine) -> None:
    server, port = create_server("127.0.0.1:0", engine)
    rng = np.random.default_rng(1)
    codes = []
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        for method in ("GetInfo", "Render", "Invert", "Edit"):
            path = f"/facesmith.v1.Facesmith/{method}"
            streaming = method in ("Invert", "Edit")
            call = channel.unary_stream(path) if streaming else channel.unary_unary(path)
            for _ in range(15):
                payload = rng.integers(0, 256, rng.integers(1, 200)).astype(np.uint8).tobytes()
                try:
                    result = call(payload, timeout=10)
                    list(result) if streaming else result
                    codes.append(grpc.StatusCode.OK)
                except grpc.RpcError as err:
                    codes.append(err.code())
        # every call got an answer (grpc refuses what does not parse) and none killed the server
        assert len(codes) == 60 and grpc.StatusCode.UNAVAILABLE not in codes
        assert pb_grpc.FacesmithStub(channel).GetInfo(pb.GetInfoRequest()).resolution == 64
    server.stop(None)


def test_png_bomb_is_refused_before_it_is_inflated(stub: pb_grpc.FacesmithStub) -> None:
    # 8192 x 8192 RGBA of zeros: 256 MiB decoded, a few hundred KiB as PNG
    header_only = wire.encode_image(np.zeros((8192, 8192, 4), np.uint8))
    assert len(header_only.data) < 2 * 1024 * 1024
    assert _code(lambda: stub.Edit(pb.EditRequest(faces=[header_only]))) == (
        grpc.StatusCode.INVALID_ARGUMENT
    )


def test_bad_preview_resolution_is_refused_before_inverting(
    stub: pb_grpc.FacesmithStub, engine: Engine
) -> None:
    request = pb.EditRequest(
        faces=_faces(engine), options=pb.InvertOptions(refine_steps=2000), resolution=7
    )
    events = []
    with pytest.raises(grpc.RpcError) as info:
        events.extend(stub.Edit(request))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert events == []  # no encode/refine progress: nothing ran


def test_loopback_detection() -> None:
    for address in ("127.0.0.1:1", "127.3.2.1:1", "localhost:1", "[::1]:1"):
        assert is_loopback(address), address
    for address in ("0.0.0.0:1", "192.168.1.2:1", "127.0.0.1.example.org:1", "[::]:1"):
        assert not is_loopback(address), address


def test_message_size_limit_is_enforced(engine: Engine) -> None:
    server, port = create_server("127.0.0.1:0", engine, max_message_bytes=1 << 20)
    big = wire.encode_image(np.zeros((1024, 1024, 3), np.uint8), png=False)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        client = pb_grpc.FacesmithStub(channel)
        assert _code(lambda: client.Edit(pb.EditRequest(faces=[big]))) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED
        )
        assert client.GetInfo(pb.GetInfoRequest()).resolution == 64
    server.stop(None)


def test_token_is_required_when_set(engine: Engine) -> None:
    server, port = create_server("127.0.0.1:0", engine, token="s3cret")
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        client = pb_grpc.FacesmithStub(channel)
        assert _code(lambda: client.GetInfo(pb.GetInfoRequest())) == (
            grpc.StatusCode.UNAUTHENTICATED
        )
        wrong = (("authorization", "Bearer nope"),)
        assert _code(lambda: client.GetInfo(pb.GetInfoRequest(), metadata=wrong)) == (
            grpc.StatusCode.UNAUTHENTICATED
        )
        right = (("authorization", "Bearer s3cret"),)
        assert client.GetInfo(pb.GetInfoRequest(), metadata=right).resolution == 64
        assert _code(lambda: client.Invert(pb.InvertRequest(faces=_faces(engine)))) == (
            grpc.StatusCode.UNAUTHENTICATED
        )
        events = list(client.Invert(pb.InvertRequest(faces=_faces(engine)), metadata=right))
        assert events[-1].HasField("result")
    server.stop(None)


def test_non_loopback_address_needs_a_token(engine: Engine) -> None:
    with pytest.raises(ValueError, match="token"):
        create_server("0.0.0.0:0", engine)


def test_broken_pack_answers_failed_precondition(tmp_path: Path) -> None:
    with pytest.raises(PackError) as info:
        load_pack(tmp_path / "missing", CPU)
    server, port = create_server("127.0.0.1:0", info.value)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        client = pb_grpc.FacesmithStub(channel)
        assert _code(lambda: client.GetInfo(pb.GetInfoRequest())) == (
            grpc.StatusCode.FAILED_PRECONDITION
        )
        assert _code(lambda: client.Edit(pb.EditRequest())) == grpc.StatusCode.FAILED_PRECONDITION
        assert _code(lambda: client.Generate(pb.GenerateRequest(seeds=[1]))) == (
            grpc.StatusCode.FAILED_PRECONDITION
        )
    server.stop(None)
