"""The gRPC face of the engine: translate messages, call the engine, translate back.

Domain errors become status codes in one place (``STATUS_OF``); anything unexpected becomes
INTERNAL without taking the server down.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any, TypeVar

import grpc
import numpy as np

from facesmith import pixels, wire
from facesmith.v1 import facesmith_pb2 as pb
from facesmith.v1 import facesmith_pb2_grpc as pb_grpc
from facesmith_server import __version__
from facesmith_server.errors import (
    Busy,
    Cancelled,
    FacesmithError,
    InvalidInput,
    PackError,
    UnknownHandle,
)
from facesmith_server.service.engine import EditStep, Engine, Inverted

log = logging.getLogger(__name__)


STATUS_OF: dict[type[FacesmithError], grpc.StatusCode] = {
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    UnknownHandle: grpc.StatusCode.NOT_FOUND,
    PackError: grpc.StatusCode.FAILED_PRECONDITION,
    Busy: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Cancelled: grpc.StatusCode.CANCELLED,
}

T = TypeVar("T")
_Reporter = Callable[[pb.Progress], None]
_DONE = object()  # ends a job's event queue


def _abort_on_error(context: grpc.ServicerContext, err: BaseException) -> None:
    """Report ``err`` to the client with its status code (context.abort raises)."""
    if isinstance(err, FacesmithError):
        code = next(
            (c for t, c in STATUS_OF.items() if isinstance(err, t)), grpc.StatusCode.INTERNAL
        )
        context.abort(code, str(err))
    log.exception("unexpected error", exc_info=err)
    context.abort(grpc.StatusCode.INTERNAL, f"internal server error: {type(err).__name__}: {err}")


class FacesmithServicer(pb_grpc.FacesmithServicer):
    """Serves ``engine``; given the PackError that kept the pack from loading instead, it keeps
    answering every call with FAILED_PRECONDITION and that message, so clients can tell users
    what to fix."""

    def __init__(self, engine: Engine | PackError) -> None:
        self._loaded = engine

    @property
    def engine(self) -> Engine:
        if isinstance(self._loaded, PackError):
            raise self._loaded
        return self._loaded

    def GetInfo(self, request: pb.GetInfoRequest, context: grpc.ServicerContext) -> pb.ServerInfo:
        try:
            info = self.engine.info
        except Exception as err:
            _abort_on_error(context, err)
            raise
        return pb.ServerInfo(
            pack_name=info.pack_name,
            resolution=info.resolution,
            latent_space=info.latent_space,
            num_ws=info.num_ws,
            latent_dim=info.latent_dim,
            device=info.device,
            edits=[
                pb.EditInfo(
                    name=e.name,
                    description=e.description,
                    min=e.min,
                    max=e.max,
                    default=e.default,
                    space=e.space,
                    settable=bool(e.kind),
                    kind=e.kind,
                    unit=e.unit,
                    target_min=e.target_min,
                    target_max=e.target_max,
                    group=e.group,
                )
                for e in info.edits
            ],
            preview_resolutions=list(info.preview_resolutions),
            max_batch=info.max_batch,
            version=__version__,
            alignment=info.alignment,
        )

    def Invert(
        self, request: pb.InvertRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.InvertEvent]:
        def work(report: _Reporter, stop: Callable[[], bool]) -> pb.InvertEvent:
            crops = _decode_faces(request.faces)
            dtype = _output_dtype(request.output_dtype)
            inverted = self._invert(crops, request.options, report, stop)
            recons = self._reconstructions(inverted, request.options.include_reconstruction)
            faces = [
                pb.InvertedFace(
                    handle=inv.handle,
                    latent=self._latent_message(inv.latent),
                    reconstruction=_optional_image(recon, dtype),
                )
                for inv, recon in zip(inverted, recons, strict=True)
            ]
            return pb.InvertEvent(result=pb.InvertResult(faces=faces))

        yield from self._stream(context, work, lambda p: pb.InvertEvent(progress=p))

    def Render(self, request: pb.RenderRequest, context: grpc.ServicerContext) -> pb.RenderResponse:
        try:
            with self.engine.admit():
                return self._render(request)
        except Exception as err:
            _abort_on_error(context, err)
            raise  # unreachable: abort raises

    def _render(self, request: pb.RenderRequest) -> pb.RenderResponse:
        dtype = _output_dtype(request.output_dtype)
        edits = _edit_steps(request.edits)
        latents = [self._resolve(ref) for ref in request.faces]
        handles = [ref.handle if ref.WhichOneof("source") == "handle" else None
                   for ref in request.faces]  # fmt: skip
        edited = self.engine.apply_edits(latents, edits)
        images = self.engine.render(edited, resolution=request.resolution, handles=handles)
        recons: list[np.ndarray | None] = [None] * len(images)
        if request.include_reconstruction:
            recons = list(
                self.engine.render(latents, resolution=request.resolution, handles=handles)
            )
        return pb.RenderResponse(
            images=[_image_message(img, dtype) for img in images],
            reconstructions=[_image_message(r, dtype) for r in recons if r is not None],
        )

    def Edit(
        self, request: pb.EditRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.EditEvent]:
        def work(report: _Reporter, stop: Callable[[], bool]) -> pb.EditEvent:
            crops = _decode_faces(request.faces)
            dtype = _output_dtype(request.output_dtype)
            edits = _edit_steps(request.edits)
            self.engine.check_edits(edits)  # before the expensive inversion
            self.engine.check_resolution(request.resolution)
            inverted = self._invert(crops, request.options, report, stop)
            edited = self.engine.apply_edits([inv.latent for inv in inverted], edits)
            handles = [inv.handle for inv in inverted]
            images = self.engine.render(edited, resolution=request.resolution, handles=handles)
            report(pb.Progress(stage="render", done=1, total=1))
            recons = self._reconstructions(
                inverted, request.options.include_reconstruction, request.resolution
            )
            faces = [
                pb.EditedFace(
                    handle=inv.handle,
                    latent=self._latent_message(lat),
                    image=_image_message(img, dtype),
                    reconstruction=_optional_image(recon, dtype),
                )
                for inv, lat, img, recon in zip(inverted, edited, images, recons, strict=True)
            ]
            return pb.EditEvent(result=pb.EditResult(faces=faces))

        yield from self._stream(context, work, lambda p: pb.EditEvent(progress=p))

    # -- helpers -----------------------------------------------------------------------------

    def _invert(
        self,
        crops: list[np.ndarray],
        options: pb.InvertOptions,
        report: _Reporter,
        stop: Callable[[], bool],
    ) -> list[Inverted]:
        def on_progress(stage: str, done: int, total: int, loss: float) -> None:
            report(pb.Progress(stage=stage, done=done, total=total, loss=loss))

        return self.engine.invert(
            crops,
            refine_steps=options.refine_steps,
            refine_lr=options.refine_lr,
            quality=QUALITIES.get(options.quality, "?"),
            pivotal_steps=options.pivotal_steps,
            on_progress=on_progress,
            should_stop=stop,
        )

    def _reconstructions(
        self, inverted: list[Inverted], wanted: bool, resolution: int = 0
    ) -> list[np.ndarray | None]:
        if not wanted:
            return [None] * len(inverted)
        latents = [inv.latent for inv in inverted]
        handles = [inv.handle for inv in inverted]
        return list(self.engine.render(latents, resolution=resolution, handles=handles))

    def _resolve(self, ref: pb.LatentRef) -> np.ndarray:
        kind = ref.WhichOneof("source")
        if kind == "handle":
            return self.engine.latent(ref.handle)
        if kind == "latent":
            return self.engine.check_latent(_decode(wire.decode_latent, ref.latent))
        raise InvalidInput("each face needs a latent handle or a latent")

    def _latent_message(self, latent: np.ndarray) -> pb.Latent:
        return wire.encode_latent(latent, self.engine.info.latent_space)

    def _stream(
        self,
        context: grpc.ServicerContext,
        work: Callable[[_Reporter, Callable[[], bool]], T],
        wrap_progress: Callable[[pb.Progress], T],
    ) -> Iterator[T]:
        """Run ``work`` in a thread, streaming its progress, then its result.

        The client cancelling (or its deadline passing) makes ``stop()`` true, so the work ends at
        its next check and frees the device.
        """
        events: queue.Queue[Any] = queue.Queue()
        stopped = threading.Event()
        if not context.add_callback(stopped.set):
            stopped.set()  # the RPC has already ended

        def run() -> None:
            try:
                with self.engine.admit():
                    events.put(work(lambda p: events.put(wrap_progress(p)), stopped.is_set))
            except BaseException as err:
                events.put(err)
            finally:
                events.put(_DONE)

        threading.Thread(target=run, name="facesmith-job", daemon=True).start()
        while (item := events.get()) is not _DONE:
            if isinstance(item, BaseException):
                _abort_on_error(context, item)
            yield item


def _decode(decoder: Callable[[Any], T], message: Any) -> T:
    try:
        return decoder(message)
    except ValueError as err:
        raise InvalidInput(str(err)) from err


def _decode_faces(faces: Any) -> list[np.ndarray]:
    return [_decode(wire.decode_image, face) for face in faces]


def _output_dtype(value: int) -> np.dtype:
    return _decode(lambda v: wire.dtype_from_wire(v, default=np.dtype(np.uint8)), value)


def _image_message(image: np.ndarray, dtype: np.dtype) -> pb.Image:
    """A rendered face (float 0..1) in the asked dtype: PNG for integers, raw for float."""
    return wire.encode_image(pixels.from_float(image, dtype))


def _optional_image(image: np.ndarray | None, dtype: np.dtype) -> pb.Image | None:
    return None if image is None else _image_message(image, dtype)


QUALITIES = {
    pb.InvertOptions.QUALITY_DEFAULT: "default",
    pb.InvertOptions.QUALITY_ENCODER: "encoder",
    pb.InvertOptions.QUALITY_REFINE: "refine",
    pb.InvertOptions.QUALITY_PIVOTAL: "pivotal",
}
EDIT_MODES = {
    pb.EditSpec.MODE_RELATIVE: "relative",
    pb.EditSpec.MODE_SET: "set",
    pb.EditSpec.MODE_SWAP: "swap",
}


def _edit_steps(edits: Any) -> list[EditStep]:
    return [
        EditStep(e.name, float(e.strength), tuple(e.hold), EDIT_MODES.get(e.mode, "?"),
                 float(e.target))
        for e in edits
    ]  # fmt: skip


class _TokenCheck(grpc.ServerInterceptor):
    """Refuses every call that does not carry ``authorization: Bearer <token>``."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

        def deny(request: Any, context: grpc.ServicerContext) -> None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong facesmith token")

        self._deny = grpc.unary_unary_rpc_method_handler(deny)

    def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        metadata = dict(handler_call_details.invocation_metadata or ())
        offered = str(metadata.get("authorization", "")).encode()
        if hmac.compare_digest(offered, self._expected):
            return continuation(handler_call_details)
        return self._deny


def is_loopback(address: str) -> bool:
    """Whether HOST:PORT names a loopback address (an IP literal, or "localhost")."""
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # any other host name may resolve anywhere


def create_server(
    address: str,
    engine: Engine | PackError,  # the PackError if the pack failed to load
    *,
    token: str | None = None,  # required unless address is loopback
    max_message_bytes: int = wire.MAX_MESSAGE_BYTES,
) -> tuple[grpc.Server, int]:
    """Start serving ``engine`` on ``address`` (port 0 = any free port) → (server, port)."""
    if not is_loopback(address) and not token:
        raise ValueError(
            f"refusing to listen on {address} without a token: pass --token (or set "
            "FACESMITH_TOKEN), or listen on 127.0.0.1"
        )
    options = [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
    ]
    interceptors: list[grpc.ServerInterceptor] = [_TokenCheck(token)] if token else []
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="facesmith-rpc"),
        options=options,
        interceptors=interceptors,
    )
    pb_grpc.add_FacesmithServicer_to_server(FacesmithServicer(engine), server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise ValueError(f"could not listen on {address}")
    server.start()
    return server, port
