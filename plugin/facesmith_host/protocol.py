"""The framed protocol between a host adapter and the runtime worker (stdin/stdout pipes).

One frame:

    offset 0   4 bytes   magic b"FSMW"
    offset 4   u32 BE    header length H (at most MAX_HEADER_BYTES)
    offset 8   u64 BE    payload length P (at most MAX_PAYLOAD_BYTES)
    offset 16  H bytes   header: a UTF-8 JSON object
    offset 16+H P bytes  payload: the arrays listed in header["arrays"], back to back

Every header carries "id" (the request id the adapter chose; replies repeat it, 0 when the
worker cannot tell) and "op". header["arrays"] is a list of {"name", "shape", "dtype"}:
row-major, little-endian arrays of dtype u8/u16/f16/f32 whose sizes add up to P.

Requests: hello, info, detect, edit, generate, sketch, cancel, shutdown. Replies: the same op
(hello, info), "faces" (detect), "progress"* then "result" (edit, generate, sketch), "bye"
(shutdown), or "error" {"code", "message", "hint"}. A frame that cannot be delimited (bad
magic, lengths over the limits, the stream ending inside a frame) is fatal: the worker answers
"error" with code "protocol" and exits, since nothing after it can be trusted. Anything else
malformed gets an "error" reply and the worker goes on.

Standard library only: adapters inside Krita and GIMP import this.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import IO, Any

PROTOCOL_VERSION = 1
MAGIC = b"FSMW"
PREFIX = struct.Struct(">4sIQ")
MAX_HEADER_BYTES = 1 << 20
MAX_PAYLOAD_BYTES = 1 << 32  # a 16-bit RGBA 16k x 16k layer is 2 GiB
ITEM_SIZES = {"u8": 1, "u16": 2, "f16": 2, "f32": 4}
READ_CHUNK_BYTES = 16 << 20


class ProtocolError(Exception):
    """A malformed frame. ``fatal``: the stream is out of step and must be closed."""

    def __init__(self, message: str, *, fatal: bool, request_id: int = 0) -> None:
        super().__init__(message)
        self.fatal = fatal
        self.request_id = request_id


@dataclass(frozen=True)
class Array:
    """One payload array: ``data`` holds exactly prod(shape) items of ``dtype``."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    data: bytes | bytearray | memoryview

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True)
class Frame:
    header: dict[str, Any]
    arrays: dict[str, Array]

    @property
    def id(self) -> int:
        value = self.header.get("id", 0)
        return value if isinstance(value, int) else 0

    @property
    def op(self) -> str:
        value = self.header.get("op", "")
        return value if isinstance(value, str) else ""


def nbytes(shape: tuple[int, ...], dtype: str) -> int:
    count = 1
    for side in shape:
        count *= side
    return count * ITEM_SIZES[dtype]


def write_frame(stream: IO[bytes], header: dict[str, Any], arrays: tuple[Array, ...] = ()) -> None:
    """Write one frame and flush. ValueError if an array's data does not match its spec."""
    for array in arrays:
        if array.dtype not in ITEM_SIZES:
            raise ValueError(f"array {array.name!r}: unknown dtype {array.dtype!r}")
        size = memoryview(array.data).nbytes
        if size != nbytes(array.shape, array.dtype):
            raise ValueError(f"array {array.name!r}: {size} bytes for shape {array.shape}")
    head = json.dumps({**header, "arrays": [a.spec() for a in arrays]}).encode("utf-8")
    payload = sum(memoryview(a.data).nbytes for a in arrays)
    stream.write(PREFIX.pack(MAGIC, len(head), payload))
    stream.write(head)
    for array in arrays:
        stream.write(array.data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Frame | None:
    """The next frame, or None if the stream ended cleanly between frames.

    ProtocolError(fatal=True) when the frame cannot be delimited; fatal=False (with the
    request id when known) when it was read whole but its header is unusable.
    """
    prefix = _read_exactly(stream, PREFIX.size, at_start=True)
    if prefix is None:
        return None
    magic, head_size, payload_size = PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise ProtocolError(f"bad frame magic {magic!r} (expected {MAGIC!r})", fatal=True)
    if head_size > MAX_HEADER_BYTES:
        raise ProtocolError(f"header of {head_size} bytes is over the limit", fatal=True)
    if payload_size > MAX_PAYLOAD_BYTES:
        raise ProtocolError(f"payload of {payload_size} bytes is over the limit", fatal=True)
    head = _read_exactly(stream, head_size)
    payload = _read_exactly(stream, payload_size)
    assert head is not None and payload is not None
    header = _parse_header(head)
    return Frame(header, _split_payload(header, memoryview(payload)))


def _read_exactly(stream: IO[bytes], size: int, *, at_start: bool = False) -> bytearray | None:
    """``size`` bytes; memory grows as they arrive, so a corrupt length costs nothing."""
    buffer = bytearray()
    while len(buffer) < size:
        chunk = stream.read(min(size - len(buffer), READ_CHUNK_BYTES))
        if not chunk:
            if at_start and not buffer:
                return None
            raise ProtocolError(
                f"stream ended inside a frame ({len(buffer)}/{size} bytes)", fatal=True
            )
        try:
            buffer += chunk
        except MemoryError:
            raise ProtocolError(f"no memory for a {size}-byte frame", fatal=True) from None
    return buffer


def _parse_header(head: bytearray) -> dict[str, Any]:
    try:
        header = json.loads(head.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise ProtocolError(f"header is not JSON: {err}", fatal=False) from None
    except RecursionError:  # e.g. a thousand nested lists: JSON, but not a header
        raise ProtocolError("header is nested too deeply", fatal=False) from None
    if not isinstance(header, dict):
        raise ProtocolError("header is not a JSON object", fatal=False)
    request_id = header.get("id")
    if not isinstance(request_id, int) or isinstance(request_id, bool) or request_id < 0:
        raise ProtocolError("header needs a non-negative integer 'id'", fatal=False)
    if not isinstance(header.get("op"), str):
        raise ProtocolError("header needs a string 'op'", fatal=False, request_id=request_id)
    return header


def _split_payload(header: dict[str, Any], payload: memoryview) -> dict[str, Array]:
    request_id = header["id"]
    specs = header.get("arrays", [])
    if not isinstance(specs, list):
        raise ProtocolError("'arrays' must be a list", fatal=False, request_id=request_id)
    arrays: dict[str, Array] = {}
    offset = 0
    for spec in specs:
        name, shape, dtype = _check_spec(spec, request_id)
        size = nbytes(shape, dtype)
        if offset + size > len(payload):
            raise ProtocolError(
                f"array {name!r} runs past the payload", fatal=False, request_id=request_id
            )
        arrays[name] = Array(name, shape, dtype, payload[offset : offset + size])
        offset += size
    if offset != len(payload):
        raise ProtocolError(
            f"payload has {len(payload) - offset} bytes no array claims",
            fatal=False,
            request_id=request_id,
        )
    return arrays


def _check_spec(spec: Any, request_id: int) -> tuple[str, tuple[int, ...], str]:
    ok = (
        isinstance(spec, dict)
        and isinstance(spec.get("name"), str)
        and spec.get("dtype") in ITEM_SIZES
        and isinstance(spec.get("shape"), list)
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in spec["shape"])
    )
    if not ok:
        raise ProtocolError(f"bad array spec {spec!r}", fatal=False, request_id=request_id)
    return spec["name"], tuple(spec["shape"]), spec["dtype"]
