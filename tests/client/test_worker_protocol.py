"""The adapter ↔ worker frames: round trips, malformed frames, and fuzzed streams.

The worker runs in-process on byte streams here (a fake server behind it), so hundreds of
garbled streams take a second; tests/client/test_worker.py drives the real child process.
"""

from __future__ import annotations

import io
import json
import random
import struct
import threading

import numpy as np
import pytest

from facesmith_client.host.session import HostSession
from facesmith_client.host.worker import EXIT_PROTOCOL_ERROR, Worker
from facesmith_client.remote.fake_client import FakeClient
from facesmith_host import protocol
from facesmith_host.protocol import Array, ProtocolError


def frame_bytes(header: dict, arrays: tuple[Array, ...] = ()) -> bytes:
    stream = io.BytesIO()
    protocol.write_frame(stream, header, arrays)
    return stream.getvalue()


def read_all(data: bytes) -> list[protocol.Frame]:
    stream = io.BytesIO(data)
    frames = []
    while (frame := protocol.read_frame(stream)) is not None:
        frames.append(frame)
    return frames


def no_detector():
    raise AssertionError("these requests never need the detector")


def serve(data: bytes) -> tuple[int, list[protocol.Frame]]:
    """Run a worker over ``data`` → (exit status, reply frames)."""
    out = io.BytesIO()
    worker = Worker(HostSession(FakeClient, no_detector), out)
    status = worker.serve(io.BytesIO(data))
    return status, read_all(out.getvalue())


# -- framing -------------------------------------------------------------------------------------


def test_frame_round_trip_keeps_header_and_arrays():
    pixels = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4)
    mask = np.array([[0, 255, 7]], dtype=np.uint8)
    data = frame_bytes(
        {"id": 7, "op": "edit", "order": "BGRA"},
        (
            Array("image", (2, 3, 4), "u16", pixels.tobytes()),
            Array("selection", (1, 3), "u8", mask.tobytes()),
        ),
    )
    (frame,) = read_all(data)
    assert (frame.id, frame.op, frame.header["order"]) == (7, "edit", "BGRA")
    image = frame.arrays["image"]
    assert image.shape == (2, 3, 4) and image.dtype == "u16"
    np.testing.assert_array_equal(np.frombuffer(image.data, "<u2").reshape(2, 3, 4), pixels)
    assert bytes(frame.arrays["selection"].data) == mask.tobytes()


def test_write_frame_refuses_data_that_does_not_match_its_shape():
    with pytest.raises(ValueError, match="12 bytes for shape"):
        protocol.write_frame(
            io.BytesIO(), {"id": 1, "op": "x"}, (Array("a", (2, 2), "u16", bytes(12)),)
        )


def test_clean_end_between_frames_is_not_an_error():
    assert protocol.read_frame(io.BytesIO(b"")) is None


@pytest.mark.parametrize(
    ("data", "fatal", "message"),
    [
        (b"GARBAGE!" + bytes(8), True, "bad frame magic"),
        (protocol.PREFIX.pack(protocol.MAGIC, 1 << 30, 0), True, "header of"),
        (protocol.PREFIX.pack(protocol.MAGIC, 2, 1 << 40), True, "payload of"),
        (protocol.PREFIX.pack(protocol.MAGIC, 10, 0) + b"{", True, "ended inside a frame"),
        (protocol.MAGIC + b"\x00", True, "ended inside a frame"),
        (protocol.PREFIX.pack(protocol.MAGIC, 3, 0) + b"{x}", False, "not JSON"),
        (protocol.PREFIX.pack(protocol.MAGIC, 2, 0) + b"[]", False, "not a JSON object"),
        (protocol.PREFIX.pack(protocol.MAGIC, 9, 0) + b'{"id":-1}', False, "integer 'id'"),
    ],
)
def test_malformed_frames_say_what_is_wrong(data, fatal, message):
    with pytest.raises(ProtocolError, match=message) as caught:
        protocol.read_frame(io.BytesIO(data))
    assert caught.value.fatal is fatal


def test_array_specs_must_add_up_to_the_payload():
    head = json.dumps(
        {"id": 4, "op": "edit", "arrays": [{"name": "image", "shape": [2, 2], "dtype": "u8"}]}
    )
    short = protocol.PREFIX.pack(protocol.MAGIC, len(head), 3) + head.encode() + bytes(3)
    long = protocol.PREFIX.pack(protocol.MAGIC, len(head), 5) + head.encode() + bytes(5)
    with pytest.raises(ProtocolError, match="runs past the payload") as caught:
        protocol.read_frame(io.BytesIO(short))
    assert caught.value.request_id == 4 and not caught.value.fatal
    with pytest.raises(ProtocolError, match="1 bytes no array claims"):
        protocol.read_frame(io.BytesIO(long))


# -- the worker over streams ---------------------------------------------------------------------


def test_worker_answers_hello_info_and_shutdown():
    data = b"".join(
        frame_bytes(h)
        for h in (
            {"id": 1, "op": "hello", "protocol": 1},
            {"id": 2, "op": "info"},
            {"id": 3, "op": "shutdown"},
        )
    )
    status, replies = serve(data + b"never read")
    assert status == 0
    assert [(f.id, f.op) for f in replies] == [(1, "hello"), (2, "info"), (3, "bye")]
    assert replies[0].header["protocol"] == protocol.PROTOCOL_VERSION
    assert [e["name"] for e in replies[1].header["edits"]] == ["age", "gender", "bald", "smile"]


def test_a_bad_request_gets_an_error_reply_and_the_worker_goes_on():
    data = (
        frame_bytes({"id": 1, "op": "paint"})
        + protocol.PREFIX.pack(protocol.MAGIC, 3, 0)
        + b"{x}"
        + frame_bytes({"id": 2, "op": "edit", "order": "RGBA"})
        + frame_bytes({"id": 3, "op": "hello"})
    )
    status, replies = serve(data)
    assert status == 0
    codes = {(f.id, f.header.get("code")) for f in replies if f.op == "error"}
    assert codes == {(1, "bad_request"), (0, "protocol"), (2, "bad_request")}
    assert any(f.id == 3 and f.op == "hello" for f in replies)


def test_an_undelimitable_frame_gets_one_error_and_ends_the_worker():
    data = (
        frame_bytes({"id": 1, "op": "hello"})
        + b"NOT A FRAME AT ALL"
        + frame_bytes({"id": 2, "op": "hello"})
    )
    status, replies = serve(data)
    assert status == EXIT_PROTOCOL_ERROR
    assert [(f.id, f.op) for f in replies] == [(1, "hello"), (0, "error")]
    assert replies[1].header["code"] == "protocol" and "magic" in replies[1].header["message"]


def valid_stream() -> bytes:
    image = np.zeros((8, 8, 4), dtype=np.uint8)
    return b"".join(
        [
            frame_bytes({"id": 1, "op": "hello", "protocol": 1}),
            frame_bytes({"id": 2, "op": "info"}),
            frame_bytes(
                {
                    "id": 3,
                    "op": "edit",
                    "order": "BGRA",
                    "edits": [{"name": "age", "strength": 1}],
                    "faces": [
                        {"box": [0, 0, 4, 4], "landmarks": [[1, 1], [3, 1], [2, 2], [1, 3], [3, 3]]}
                    ],
                },
                (Array("image", (8, 8, 4), "u8", image.tobytes()),),
            ),
            frame_bytes({"id": 4, "op": "cancel", "target": 3}),
            frame_bytes({"id": 5, "op": "shutdown"}),
        ]
    )


def mutate(data: bytes, rng: random.Random) -> bytes:
    buffer = bytearray(data)
    kind = rng.randrange(4)
    if kind == 0:  # flip bytes
        for _ in range(rng.randint(1, 8)):
            buffer[rng.randrange(len(buffer))] = rng.randrange(256)
    elif kind == 1:  # cut the stream short
        del buffer[rng.randrange(len(buffer)) :]
    elif kind == 2:  # insert junk
        at = rng.randrange(len(buffer))
        buffer[at:at] = rng.randbytes(rng.randint(1, 32))
    else:  # overwrite a length field of the first frame
        struct.pack_into(">I", buffer, 4, rng.choice([0, 1, 17, 1 << 20, (1 << 32) - 1]))
    return bytes(buffer)


def test_fuzzed_streams_always_get_well_formed_replies_and_never_hang():
    base = valid_stream()
    rng = random.Random(20261122)
    for case in range(300):
        data = mutate(base, rng)
        result: list[tuple[int, list[protocol.Frame]]] = []
        runner = threading.Thread(target=lambda d=data, r=result: r.append(serve(d)), daemon=True)
        runner.start()
        runner.join(timeout=10)
        assert not runner.is_alive(), f"case {case}: the worker hung"
        assert result, f"case {case}: the worker raised instead of replying"
        status, replies = result[0]
        assert status in (0, EXIT_PROTOCOL_ERROR)
        for reply in replies:
            assert reply.op in ("hello", "info", "result", "progress", "error", "bye", "faces")
            if reply.op == "error":
                assert reply.header["code"] and reply.header["message"]
        if status == EXIT_PROTOCOL_ERROR:
            assert any(r.op == "error" and r.header["code"] == "protocol" for r in replies)


def test_every_request_of_a_valid_stream_gets_exactly_one_final_reply():
    status, replies = serve(valid_stream())
    finals = [f.id for f in replies if f.op != "progress"]
    assert status == 0
    assert sorted(finals) == [1, 2, 3, 5]  # cancel (4) has no reply of its own
    (edit,) = [f for f in replies if f.id == 3 and f.op != "progress"]
    assert edit.op == "result" or edit.header["code"] == "cancelled"
