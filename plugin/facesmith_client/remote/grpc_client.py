"""FacesmithClient over gRPC (facesmith.v1) — the real thing.

A server that stops answering is noticed: the connection is pinged (keepalive) and every call
has a deadline that grows with its work, so no call waits for ever; both end the call with
ClientError("unavailable", "… stopped answering …"). A busy server's refusal says when to try
again; calls wait that long and retry, within ``busy_wait_s``.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import grpc
import numpy as np
from numpy.typing import DTypeLike

from facesmith import wire
from facesmith.quality import DEFAULT_FOLLOW, SKETCH_FOLLOW_STEPS, most_steps
from facesmith.v1 import facesmith_pb2 as pb
from facesmith.v1 import facesmith_pb2_grpc as pb_grpc
from facesmith_client.events import FaceResult, Progress, Result, ShortEdit
from facesmith_client.remote.client import (
    DEFAULT_OPTIONS,
    MAX_MESSAGE_BYTES,
    CancelToken,
    ClientError,
    EditInfo,
    EditSpec,
    FacesmithClient,
    InvertOptions,
    ServerInfo,
    StudentInfo,
    cancelled_error,
)

DEFAULT_CONNECT_TIMEOUT_S = 10.0
KEEPALIVE_S = 10.0  # a connection is pinged after this long without traffic
KEEPALIVE_TIMEOUT_S = 10.0  # an unanswered ping this long means the server stopped answering
BUSY_WAIT_S = 120.0  # how long a call keeps retrying a busy server, in all
# Deadlines: a call may take at most BASE + per face (PER_FACE + PER_REFINE_STEP x steps)
# seconds, times ``deadline_scale`` (for very slow devices); queueing is included.
DEADLINE_BASE_S = 120.0
DEADLINE_PER_FACE_S = 30.0
DEADLINE_PER_REFINE_STEP_S = 2.0
PUSHBACK_KEY = "grpc-retry-pushback-ms"  # trailing metadata of a busy refusal
CLIENT_ID_KEY = "facesmith-client"  # request metadata: who we are, for the server's fairness
T = TypeVar("T")


def call_deadline_s(
    faces: int, options: InvertOptions | None = None, scale: float = 1.0, steps: int = 0
) -> float:
    """How long a call on ``faces`` faces inverted with ``options`` (or optimised ``steps``
    steps) may take (the most steps their quality may run: a tuning step costs about what a
    refinement step does)."""
    if options is not None:
        steps = sum(most_steps(options.quality, options.refine_steps, options.pivotal_steps))
    per_face = DEADLINE_PER_FACE_S + DEADLINE_PER_REFINE_STEP_S * steps
    return scale * (DEADLINE_BASE_S + max(1, faces) * per_face)


class GrpcClient(FacesmithClient):
    """A facesmith server at ``address`` ("HOST:PORT").

    The first call checks that the server answers (within ``connect_timeout`` seconds);
    if it does not, that call raises ClientError("unavailable", …) saying how to start one.
    ``token`` is sent as ``authorization: Bearer <token>`` metadata.
    """

    def __init__(
        self,
        address: str,
        *,
        token: str | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        keepalive_s: float = KEEPALIVE_S,
        keepalive_timeout_s: float = KEEPALIVE_TIMEOUT_S,
        deadline_scale: float = 1.0,
        busy_wait_s: float = BUSY_WAIT_S,
    ) -> None:
        self.address = address
        self.connect_timeout = connect_timeout
        self.deadline_scale = deadline_scale
        self.busy_wait_s = busy_wait_s
        self._keepalive_s = keepalive_s + keepalive_timeout_s
        self._metadata: tuple[tuple[str, str], ...] = ((CLIENT_ID_KEY, secrets.token_hex(8)),)
        if token:
            self._metadata += (("authorization", f"Bearer {token}"),)
        self._channel = grpc.insecure_channel(
            address,
            options=[
                ("grpc.max_send_message_length", max_message_bytes),
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.keepalive_time_ms", int(keepalive_s * 1000)),
                ("grpc.keepalive_timeout_ms", int(keepalive_timeout_s * 1000)),
                ("grpc.http2.max_pings_without_data", 0),  # keep pinging a silent server
                ("grpc.http2.min_time_between_pings_ms", int(keepalive_s * 1000)),
                # any unanswered ping (flow-control probes too) ends the connection this soon
                ("grpc.http2.ping_timeout_ms", int(keepalive_timeout_s * 1000)),
                # a connection attempt (a server that accepts but never answers) gives up then
                ("grpc.min_reconnect_backoff_ms", int(connect_timeout * 1000)),
            ],
        )
        self._stub = pb_grpc.FacesmithStub(self._channel)
        self._info: ServerInfo | None = None  # read once, on connecting

    # -- calls -------------------------------------------------------------------------------

    def info(self) -> ServerInfo:
        """The server's pack and edits, as read when this client connected (a server serves
        one pack for its whole life, so sliders and renders need not ask again)."""
        self._connect()
        assert self._info is not None
        return self._info

    def invert(
        self,
        crops: Sequence[np.ndarray],
        options: InvertOptions = DEFAULT_OPTIONS,
        *,
        output_dtype: DTypeLike = np.uint8,
        cancel: CancelToken | None = None,
    ) -> Iterator[Progress | Result]:
        request = pb.InvertRequest(
            faces=[wire.encode_image(crop) for crop in crops],
            options=options_to_pb(options),
            output_dtype=wire.dtype_to_wire(np.dtype(output_dtype)),
        )
        self._connect()
        timeout = call_deadline_s(len(crops), options, self.deadline_scale)
        return self._stream(self._stub.Invert, request, cancel, timeout)

    def render(
        self,
        faces: Sequence[str | np.ndarray],
        edits: Sequence[EditSpec] = (),
        *,
        resolution: int = 0,
        output_dtype: DTypeLike = np.uint8,
        include_reconstruction: bool = False,
    ) -> Result:
        request = pb.RenderRequest(
            faces=[latent_ref_to_pb(face) for face in faces],
            edits=[edit_spec_to_pb(spec) for spec in edits],
            resolution=resolution,
            output_dtype=wire.dtype_to_wire(np.dtype(output_dtype)),
            include_reconstruction=include_reconstruction,
        )
        self._connect()
        timeout = call_deadline_s(len(faces), None, self.deadline_scale)
        reply = self._retrying_busy(
            lambda: self._stub.Render(request, metadata=self._metadata, timeout=timeout),
            timeout,
        )
        return _decoded(lambda: render_result_from_pb(reply, faces))

    def edit(
        self,
        crops: Sequence[np.ndarray],
        edits: Sequence[EditSpec],
        options: InvertOptions = DEFAULT_OPTIONS,
        *,
        resolution: int = 0,
        output_dtype: DTypeLike = np.uint8,
        cancel: CancelToken | None = None,
    ) -> Iterator[Progress | Result]:
        request = pb.EditRequest(
            faces=[wire.encode_image(crop) for crop in crops],
            options=options_to_pb(options),
            edits=[edit_spec_to_pb(spec) for spec in edits],
            resolution=resolution,
            output_dtype=wire.dtype_to_wire(np.dtype(output_dtype)),
        )
        self._connect()
        timeout = call_deadline_s(len(crops), options, self.deadline_scale)
        return self._stream(self._stub.Edit, request, cancel, timeout)

    def generate(
        self,
        seeds: Sequence[int],
        edits: Sequence[EditSpec] = (),
        *,
        truncation: float | None = None,
        resolution: int = 0,
        output_dtype: DTypeLike = np.uint8,
    ) -> Result:
        request = pb.GenerateRequest(
            seeds=list(seeds),
            truncation=truncation,
            edits=[edit_spec_to_pb(spec) for spec in edits],
            resolution=resolution,
            output_dtype=wire.dtype_to_wire(np.dtype(output_dtype)),
        )
        self._connect()
        timeout = call_deadline_s(len(seeds), None, self.deadline_scale)
        reply = self._retrying_busy(
            lambda: self._stub.Generate(request, metadata=self._metadata, timeout=timeout),
            timeout,
        )
        return _decoded(lambda: generate_result_from_pb(reply, len(seeds)))

    def translate(
        self,
        crops: Sequence[np.ndarray],
        edits: Sequence[EditSpec],
        *,
        output_dtype: DTypeLike = np.uint8,
    ) -> Result:
        request = pb.TranslateRequest(
            faces=[wire.encode_image(crop) for crop in crops],
            edits=[edit_spec_to_pb(spec) for spec in edits],
            output_dtype=wire.dtype_to_wire(np.dtype(output_dtype)),
        )
        self._connect()
        timeout = call_deadline_s(len(crops), None, self.deadline_scale)
        reply = self._retrying_busy(
            lambda: self._stub.Translate(request, metadata=self._metadata, timeout=timeout),
            timeout,
        )
        return _decoded(lambda: translate_result_from_pb(reply, len(crops)))

    def from_sketch(
        self,
        drawings: Sequence[np.ndarray],
        follow: float = DEFAULT_FOLLOW,
        edits: Sequence[EditSpec] = (),
        *,
        seed: int = 0,
        output_dtype: DTypeLike = np.uint8,
        cancel: CancelToken | None = None,
    ) -> Iterator[Progress | Result]:
        request = pb.FromSketchRequest(
            drawings=[wire.encode_image(drawing) for drawing in drawings],
            follow=follow,
            seed=seed,
            edits=[edit_spec_to_pb(spec) for spec in edits],
            output_dtype=wire.dtype_to_wire(np.dtype(output_dtype)),
        )
        self._connect()
        steps = round(min(max(follow, 0.0), 1.0) * SKETCH_FOLLOW_STEPS)
        timeout = call_deadline_s(len(drawings), None, self.deadline_scale, steps)
        return self._stream(self._stub.FromSketch, request, cancel, timeout)

    def close(self) -> None:
        self._channel.close()

    # -- plumbing ----------------------------------------------------------------------------

    def _connect(self) -> None:
        """Probe the server once with GetInfo: a refused connection fails at once, a silent
        host after ``connect_timeout`` seconds — both as "unavailable" with what to do."""
        if self._info is not None:
            return
        try:
            reply = self._stub.GetInfo(
                pb.GetInfoRequest(),
                metadata=self._metadata,
                timeout=self.connect_timeout,
                wait_for_ready=False,
            )
        except grpc.RpcError as err:
            if isinstance(err, grpc.Call) and err.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise ClientError("unavailable", self._unreachable()) from None
            raise self._error(err) from None
        self._info = info_from_pb(reply)

    def _stream(
        self, method: Any, request: Any, cancel: CancelToken | None, timeout: float
    ) -> Iterator[Progress | Result]:
        """Events of a server-streaming call; cancelling the token cancels the call. A busy
        refusal before the first event is retried after the wait the server asks for."""
        give_up = time.monotonic() + self.busy_wait_s
        while True:
            call = method(request, metadata=self._metadata, timeout=timeout)
            stop = call.cancel
            if cancel is not None:
                cancel.on_cancel(stop)
            received = False
            try:
                for message in call:
                    received = True
                    yield _decoded(lambda m=message: event_from_pb(m))
                return
            except grpc.RpcError as err:
                if cancel is not None and cancel.cancelled:
                    raise cancelled_error() from None
                wait = _busy_wait(err, give_up)
                if received or wait is None:
                    raise self._error(err, timeout) from None
            finally:
                if cancel is not None:
                    cancel.remove(stop)
                stop()  # no-op when the call finished; frees the server if the caller stopped
            if cancel is None:
                time.sleep(wait)
            elif cancel.wait(wait):
                raise cancelled_error()

    def _retrying_busy(self, attempt: Callable[[], T], timeout: float) -> T:
        """``attempt()``, tried again after the wait a busy server asks for."""
        give_up = time.monotonic() + self.busy_wait_s
        while True:
            try:
                return attempt()
            except grpc.RpcError as err:
                wait = _busy_wait(err, give_up)
                if wait is None:
                    raise self._error(err, timeout) from None
            time.sleep(wait)

    def _unreachable(self) -> str:
        return (
            f"server not reachable at {self.address} — start it with "
            f"`facesmith-server serve --pack DIR --listen {self.address}`"
        )

    def _stopped_answering(self, why: str) -> str:
        return (
            f"the facesmith server at {self.address} stopped answering ({why}) — check that "
            "it is still running, and restart it if it hangs"
        )

    def _error(self, err: grpc.RpcError, timeout: float | None = None) -> ClientError:
        code = err.code() if isinstance(err, grpc.Call) else grpc.StatusCode.UNKNOWN
        details = (err.details() if isinstance(err, grpc.Call) else "") or str(code)
        if code == grpc.StatusCode.DEADLINE_EXCEEDED and timeout is not None:
            return ClientError(
                "unavailable", self._stopped_answering(f"no reply within {timeout:.0f} s")
            )
        if code == grpc.StatusCode.UNAVAILABLE:
            if "before receiving settings" in details.lower():  # it accepts but never answers
                return ClientError("unavailable", f"{self._stopped_answering('no handshake')}")
            if self._info is not None and _connection_lost(details):
                why = f"no answer to a ping within {self._keepalive_s:.0f} s, or it went away"
                return ClientError("unavailable", f"{self._stopped_answering(why)}: {details}")
            return ClientError("unavailable", f"{self._unreachable()} ({details})")
        return error_for_status(code, details)


def _connection_lost(details: str) -> bool:
    """Whether an UNAVAILABLE status says an established connection broke (rather than that
    none could be made)."""
    text = details.lower()
    return not any(s in text for s in ("failed to connect", "connection refused", "dns"))


def _busy_wait(err: grpc.RpcError, give_up: float) -> float | None:
    """Seconds to wait before trying again if ``err`` is a busy refusal that says when
    (None otherwise, or when that would pass ``give_up``)."""
    if not isinstance(err, grpc.Call) or err.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
        return None
    pushback = dict(err.trailing_metadata() or ()).get(PUSHBACK_KEY)
    try:
        wait = int(str(pushback)) / 1000
    except ValueError:
        return None
    wait = min(max(wait, 0.05), 30.0) * random.uniform(1.0, 1.5)  # spread the retries
    return wait if time.monotonic() + wait < give_up else None


def error_for_status(code: grpc.StatusCode, details: str) -> ClientError:
    """A gRPC status as a ClientError with a short code and a message that says what to do."""
    name = code.name.lower()
    advice = _ADVICE.get(code, "see the server log")
    return ClientError(name, f"{details} — {advice}" if advice else details)


_ADVICE: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.INVALID_ARGUMENT: "",  # the server's message names what to change
    grpc.StatusCode.CANCELLED: "",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "the server is busy or the request too large; "
    "try again shortly or with fewer faces",
    grpc.StatusCode.NOT_FOUND: "the face is no longer cached on the server; invert it again",
    grpc.StatusCode.FAILED_PRECONDITION: "check the server's model pack "
    "(`facesmith-server serve --pack DIR`)",
    grpc.StatusCode.UNAUTHENTICATED: "give the server's token: set FACESMITH_TOKEN or pass "
    "--token-file",
    grpc.StatusCode.PERMISSION_DENIED: "give the server's token: set FACESMITH_TOKEN or pass "
    "--token-file",
    grpc.StatusCode.DEADLINE_EXCEEDED: "the server took too long; try again or use fewer faces",
    grpc.StatusCode.UNIMPLEMENTED: "the server is too old or not a facesmith server",
}


def _decoded(make: Any) -> Any:
    """Run a message → value conversion, reporting malformed server data as ClientError."""
    try:
        return make()
    except ValueError as err:
        raise ClientError("data_loss", f"the server sent malformed data: {err}") from None


# -- message conversion ------------------------------------------------------------------------


def info_from_pb(msg: pb.ServerInfo) -> ServerInfo:
    return ServerInfo(
        pack_name=msg.pack_name,
        resolution=msg.resolution,
        latent_space=msg.latent_space,
        num_ws=msg.num_ws,
        latent_dim=msg.latent_dim,
        device=msg.device,
        edits=tuple(
            EditInfo(
                e.name,
                e.description,
                e.min,
                e.max,
                e.default,
                e.space,
                e.group,
                e.kind if e.settable else "",
                e.unit,
                e.target_min,
                e.target_max,
            )
            for e in msg.edits
        ),
        preview_resolutions=tuple(msg.preview_resolutions),
        max_batch=msg.max_batch,
        version=msg.version,
        alignment=msg.alignment or "ffhq",
        students=tuple(
            StudentInfo(t.name, t.edit, t.mode, t.min, t.max, t.description) for t in msg.students
        ),
        sketch=msg.sketch,
    )


QUALITY_TO_PB = {
    "default": pb.InvertOptions.QUALITY_DEFAULT,
    "encoder": pb.InvertOptions.QUALITY_ENCODER,
    "refine": pb.InvertOptions.QUALITY_REFINE,
    "pivotal": pb.InvertOptions.QUALITY_PIVOTAL,
}
MODE_TO_PB = {
    "relative": pb.EditSpec.MODE_RELATIVE,
    "set": pb.EditSpec.MODE_SET,
    "swap": pb.EditSpec.MODE_SWAP,
}
MODE_FROM_PB = {value: name for name, value in MODE_TO_PB.items()}


def options_to_pb(options: InvertOptions) -> pb.InvertOptions:
    return pb.InvertOptions(
        refine_steps=options.refine_steps,
        refine_lr=options.refine_lr,
        include_reconstruction=options.include_reconstruction,
        quality=QUALITY_TO_PB[options.quality],
        pivotal_steps=options.pivotal_steps,
    )


def edit_spec_to_pb(spec: EditSpec) -> pb.EditSpec:
    return pb.EditSpec(name=spec.name, strength=spec.strength, hold=list(spec.hold),
                       mode=MODE_TO_PB[spec.mode], target=spec.target)  # fmt: skip


def latent_ref_to_pb(face: str | np.ndarray) -> pb.LatentRef:
    """A cache handle or a latent [1 or num_ws, dim] as a LatentRef."""
    if isinstance(face, str):
        return pb.LatentRef(handle=face)
    latent = np.asarray(face, dtype=np.float32)
    space = "w" if latent.shape[0] == 1 else "w+"
    return pb.LatentRef(latent=wire.encode_latent(latent, space))


def event_from_pb(msg: pb.EditEvent | pb.InvertEvent | pb.SketchEvent) -> Progress | Result:
    kind = msg.WhichOneof("event")
    if kind == "progress":
        p = msg.progress
        return Progress(p.stage, p.done, p.total, p.loss)
    if kind == "result":
        return Result(tuple(_face_from_pb(face) for face in msg.result.faces))
    raise ValueError(f"event without progress or result ({kind})")


def _face_from_pb(msg: pb.EditedFace | pb.InvertedFace) -> FaceResult:
    image = None
    if isinstance(msg, pb.EditedFace) and msg.HasField("image"):
        image = wire.decode_image(msg.image)
    return FaceResult(
        handle=msg.handle,
        latent=wire.decode_latent(msg.latent) if msg.HasField("latent") else None,
        image=image,
        reconstruction=(
            wire.decode_image(msg.reconstruction) if msg.HasField("reconstruction") else None
        ),
        short_edits=_short_edits(msg.short_edits) if isinstance(msg, pb.EditedFace) else (),
    )


def _short_edits(msgs: Sequence[pb.ShortEdit]) -> tuple[ShortEdit, ...]:
    return tuple(ShortEdit(m.name, MODE_FROM_PB.get(m.mode, "?"), m.goal, m.reached) for m in msgs)


def render_result_from_pb(msg: pb.RenderResponse, faces: Sequence[str | np.ndarray]) -> Result:
    if len(msg.images) != len(faces):
        raise ValueError(f"{len(msg.images)} images for {len(faces)} faces")
    recons = [wire.decode_image(image) for image in msg.reconstructions]
    short = [_short_edits(s.edits) for s in msg.short_edits]  # none from an older server
    return Result(
        tuple(
            FaceResult(
                handle=face if isinstance(face, str) else "",
                image=wire.decode_image(image),
                reconstruction=recons[i] if i < len(recons) else None,
                short_edits=short[i] if i < len(short) else (),
            )
            for i, (face, image) in enumerate(zip(faces, msg.images, strict=True))
        )
    )


def generate_result_from_pb(msg: pb.GenerateResponse, count: int) -> Result:
    if len(msg.faces) != count:
        raise ValueError(f"{len(msg.faces)} faces for {count} seeds")
    return Result(
        tuple(
            FaceResult(
                handle=face.handle,
                latent=wire.decode_latent(face.latent),
                image=wire.decode_image(face.image),
                short_edits=_short_edits(face.short_edits),
            )
            for face in msg.faces
        )
    )


def translate_result_from_pb(msg: pb.TranslateResponse, count: int) -> Result:
    if len(msg.images) != count:
        raise ValueError(f"{len(msg.images)} images for {count} faces")
    return Result(tuple(FaceResult(image=wire.decode_image(image)) for image in msg.images))
