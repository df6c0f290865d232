"""The gRPC face of the engine: translate messages, call the engine, translate back.

Domain errors become status codes in one place (``STATUS_OF``); anything unexpected becomes
INTERNAL without taking the server down. Every request is checked against service/limits.py
before any of its work starts (a request that does not even parse is INVALID_ARGUMENT); work
waits for its turn on the device in the engine's fair queue; a client that goes away stops its
work, and one that stops reading a streamed reply is dropped after ``slow_reader_s``.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import numpy as np

from facesmith import pixels, wire
from facesmith.memory import TrimWhenIdle
from facesmith.quality import DEFAULT_TRUNCATION
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
from facesmith_server.service import limits
from facesmith_server.service.admission import CHEAP, HEAVY, Ticket
from facesmith_server.service.engine import EditStep, Engine, Inverted, ShortEdit, StudentInfo

log = logging.getLogger(__name__)


STATUS_OF: dict[type[FacesmithError], grpc.StatusCode] = {
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    UnknownHandle: grpc.StatusCode.NOT_FOUND,
    PackError: grpc.StatusCode.FAILED_PRECONDITION,
    Busy: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Cancelled: grpc.StatusCode.CANCELLED,
}
# Trailing metadata of a Busy refusal: when to try again (the key gRPC's retry policy reads).
RETRY_PUSHBACK_KEY = "grpc-retry-pushback-ms"
# Request metadata naming the client for the fair queue (else its connection's address).
CLIENT_ID_KEY = "facesmith-client"
SLOW_READER_S = 30.0  # a streamed reply left unread this long ends its call
RESERVED_THREADS = 4  # RPC threads kept free of Invert/Edit/Render for GetInfo and refusals
QUEUED_RPCS = 64  # RPCs waiting for a thread before gRPC itself refuses more
PROGRESS_BUFFER = 32  # progress events kept for a client that reads slowly (others dropped)
TRIM_IDLE_S = 2.0  # memory freed by large requests goes back to the system after this idle
# Connection health (HTTP/2 pings): a client that stops answering is dropped, and clients may
# ping as often as every second to notice a server that stopped.
KEEPALIVE_OPTIONS = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 1_000),
    ("grpc.http2.max_ping_strikes", 0),
)

T = TypeVar("T")
_Reporter = Callable[[pb.Progress], None]
_DONE = object()  # ends a job's event queue


def _abort_on_error(context: grpc.ServicerContext, err: BaseException) -> None:
    """Report ``err`` to the client with its status code (context.abort raises)."""
    if isinstance(err, FacesmithError):
        code = next(
            (c for t, c in STATUS_OF.items() if isinstance(err, t)), grpc.StatusCode.INTERNAL
        )
        if isinstance(err, Busy):
            pushback = str(max(1, round(err.retry_after_s * 1000)))
            context.set_trailing_metadata(((RETRY_PUSHBACK_KEY, pushback),))
        context.abort(code, limits.cut_details(str(err)))
    log.exception("unexpected error", exc_info=err)
    context.abort(
        grpc.StatusCode.INTERNAL,
        limits.cut_details(f"internal server error: {type(err).__name__}: {err}"),
    )


def client_of(context: grpc.ServicerContext) -> str:
    """Who sent this call, for fairness: the id it gives, else its connection's address."""
    for key, value in context.invocation_metadata() or ():
        if key == CLIENT_ID_KEY:
            return f"id:{str(value)[:64]}"
    return context.peer()


@dataclass(frozen=True)
class _Job:
    """What a job's work gets: progress reports, the stop flag, and its device turn."""

    report: _Reporter
    stop: Callable[[], bool]
    turn: Callable[[], contextlib.AbstractContextManager[None]]


class FacesmithServicer(pb_grpc.FacesmithServicer):
    """Serves ``engine``; given the PackError that kept the pack from loading instead, it keeps
    answering every call with FAILED_PRECONDITION and that message, so clients can tell users
    what to fix."""

    def __init__(
        self,
        engine: Engine | PackError,
        *,
        max_message_bytes: int = wire.MAX_MESSAGE_BYTES,  # no reply may need more
        heavy_rpcs: int = 8,  # Invert and Edit calls in flight at once, and as many Renders
        slow_reader_s: float = SLOW_READER_S,
    ) -> None:
        self._loaded = engine
        self._max_message_bytes = max_message_bytes
        self._heavy_rpcs = heavy_rpcs
        self._in_flight = {CHEAP: 0, HEAVY: 0}
        self._in_flight_lock = threading.Lock()
        self._readers = SlowReaders(slow_reader_s)
        self.trimmer = TrimWhenIdle(TRIM_IDLE_S)

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
            students=[_student_info(t) for t in info.students],
            sketch=info.sketch,
        )

    def Invert(
        self, request: pb.InvertRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.InvertEvent]:
        def check() -> None:
            self._check_faces_and_options(request.faces, request.options)
            self._check_reply(
                len(request.faces),
                0,
                request.output_dtype,
                request.options.include_reconstruction,
                latents=True,
            )

        def work(job: _Job) -> pb.InvertEvent:
            crops = _decode_faces(request.faces)
            dtype = _output_dtype(request.output_dtype)
            with job.turn():
                inverted = self._invert(crops, request.options, job)
                recons = self._reconstructions(
                    inverted, request.options.include_reconstruction, 0, job.stop
                )
            faces = [
                pb.InvertedFace(
                    handle=inv.handle,
                    latent=self._latent_message(inv.latent),
                    reconstruction=_optional_image(recon, dtype),
                )
                for inv, recon in zip(inverted, recons, strict=True)
            ]
            return pb.InvertEvent(result=pb.InvertResult(faces=faces))

        yield from self._stream(context, check, work, lambda p: pb.InvertEvent(progress=p))

    def Render(self, request: pb.RenderRequest, context: grpc.ServicerContext) -> pb.RenderResponse:
        try:
            with self._heavy_slot(CHEAP):
                self._check_render(request)
                # Read (and refuse) the latents before queueing: a bad one never waits a turn.
                latents = [self._resolve(ref) for ref in request.faces]
                with self.engine.admit(client_of(context), CHEAP) as ticket:
                    return self._render(request, latents, ticket, lambda: not context.is_active())
        except Exception as err:
            _abort_on_error(context, err)
            raise  # unreachable: abort raises

    def _check_render(self, request: pb.RenderRequest) -> None:
        """Everything a Render can be refused for, before any latent is read or rendered."""
        engine = self.engine
        limits.check_latent_refs(request.faces, engine.info.num_ws, engine.info.latent_dim)
        limits.check_edit_specs(request.edits)
        engine.check_resolution(request.resolution)
        engine.check_edits(_edit_steps(request.edits))
        self._check_reply(
            len(request.faces),
            request.resolution,
            request.output_dtype,
            request.include_reconstruction,
            latents=False,
        )

    def _render(
        self,
        request: pb.RenderRequest,
        latents: list[np.ndarray],
        ticket: Ticket,
        stop: Callable[[], bool],
    ) -> pb.RenderResponse:
        dtype = _output_dtype(request.output_dtype)
        edits = _edit_steps(request.edits)
        with self.engine.admission.turn(ticket, stop):
            handles = [ref.handle if ref.WhichOneof("source") == "handle" else None
                       for ref in request.faces]  # fmt: skip
            edited = self.engine.edit_latents(latents, edits)
            images = self._render_all([e.latent for e in edited], request.resolution, stop,
                                      handles)  # fmt: skip
            recons: list[np.ndarray] = []
            if request.include_reconstruction:
                recons = self._render_all(latents, request.resolution, stop, handles)
        return pb.RenderResponse(
            images=[_image_message(img, dtype) for img in images],
            reconstructions=[_image_message(r, dtype) for r in recons],
            short_edits=[pb.ShortEdits(edits=_short_edits(e.short)) for e in edited],
        )

    def Generate(
        self, request: pb.GenerateRequest, context: grpc.ServicerContext
    ) -> pb.GenerateResponse:
        try:
            with self._heavy_slot(CHEAP):
                seeds = list(request.seeds)
                truncation = (
                    request.truncation if request.HasField("truncation") else DEFAULT_TRUNCATION
                )
                self._check_generate(request, seeds, truncation)
                with self.engine.admit(client_of(context), CHEAP) as ticket:

                    def stop() -> bool:
                        return not context.is_active()

                    with self.engine.admission.turn(ticket, stop):
                        return self._generate(request, seeds, truncation, stop)
        except Exception as err:
            _abort_on_error(context, err)
            raise  # unreachable: abort raises

    def _check_generate(
        self, request: pb.GenerateRequest, seeds: list[int], truncation: float
    ) -> None:
        """Everything a Generate can be refused for, before it queues."""
        engine = self.engine
        engine.check_generate(seeds, truncation)
        limits.check_edit_specs(request.edits)
        engine.check_resolution(request.resolution)
        engine.check_edits(_edit_steps(request.edits))
        self._check_reply(len(seeds), request.resolution, request.output_dtype, False,
                          latents=True)  # fmt: skip

    def _generate(
        self,
        request: pb.GenerateRequest,
        seeds: list[int],
        truncation: float,
        stop: Callable[[], bool],
    ) -> pb.GenerateResponse:
        dtype = _output_dtype(request.output_dtype)
        sampled = self.engine.generate(seeds, truncation)
        edited = self.engine.edit_latents([s.latent for s in sampled], _edit_steps(request.edits))
        images = self._render_all([e.latent for e in edited], request.resolution, stop)
        faces = [
            pb.GeneratedFace(
                seed=seed,
                handle=face.handle,
                latent=self._latent_message(out.latent),
                image=_image_message(image, dtype),
                short_edits=_short_edits(out.short),
            )
            for seed, face, out, image in zip(seeds, sampled, edited, images, strict=True)
        ]
        return pb.GenerateResponse(faces=faces)

    def Translate(
        self, request: pb.TranslateRequest, context: grpc.ServicerContext
    ) -> pb.TranslateResponse:
        try:
            with self._heavy_slot(CHEAP):
                limits.check_faces(request.faces, self.engine.info.resolution)
                limits.check_edit_specs(request.edits)
                self.engine.check_translate(_edit_steps(request.edits))
                self._check_reply(len(request.faces), 0, request.output_dtype, False,
                                  latents=False)  # fmt: skip
                crops = _decode_faces(request.faces)
                dtype = _output_dtype(request.output_dtype)
                with self.engine.admit(client_of(context), CHEAP) as ticket:
                    images = self._translate(request, crops, ticket, context)
                return pb.TranslateResponse(images=[_image_message(i, dtype) for i in images])
        except Exception as err:
            _abort_on_error(context, err)
            raise  # unreachable: abort raises

    def _translate(
        self,
        request: pb.TranslateRequest,
        crops: list[np.ndarray],
        ticket: Ticket,
        context: grpc.ServicerContext,
    ) -> list[np.ndarray]:
        with self.engine.admission.turn(ticket, lambda: not context.is_active()):
            return self.engine.translate(crops, _edit_steps(request.edits))

    def FromSketch(
        self, request: pb.FromSketchRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.SketchEvent]:
        def check() -> None:
            self.engine.check_sketch(request.follow, request.seed)
            limits.check_faces(request.drawings, self.engine.info.resolution, noun="drawing")
            limits.check_edit_specs(request.edits)
            self.engine.check_edits(_edit_steps(request.edits))
            self._check_reply(len(request.drawings), 0, request.output_dtype, False,
                              latents=True)  # fmt: skip

        def work(job: _Job) -> pb.SketchEvent:
            drawings = _decode_faces(request.drawings)
            dtype = _output_dtype(request.output_dtype)
            with job.turn():
                faces = self.engine.from_sketch(
                    drawings, request.follow, request.seed, should_stop=job.stop,
                    on_progress=lambda stage, done, total, loss: job.report(
                        pb.Progress(stage=stage, done=done, total=total, loss=loss)),
                )  # fmt: skip
                edited = self.engine.edit_latents([f.latent for f in faces],
                                                  _edit_steps(request.edits))  # fmt: skip
                images = self._render_all([e.latent for e in edited], 0, job.stop)
            result = [
                pb.EditedFace(handle=face.handle, latent=self._latent_message(out.latent),
                              image=_image_message(image, dtype),
                              short_edits=_short_edits(out.short))
                for face, out, image in zip(faces, edited, images, strict=True)
            ]  # fmt: skip
            return pb.SketchEvent(result=pb.SketchResult(faces=result))

        yield from self._stream(context, check, work, lambda p: pb.SketchEvent(progress=p))

    def Edit(
        self, request: pb.EditRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.EditEvent]:
        def check() -> None:
            self._check_faces_and_options(request.faces, request.options)
            limits.check_edit_specs(request.edits)
            self.engine.check_edits(_edit_steps(request.edits))  # before the expensive inversion
            self.engine.check_resolution(request.resolution)
            self._check_reply(
                len(request.faces),
                request.resolution,
                request.output_dtype,
                request.options.include_reconstruction,
                latents=True,
            )

        def work(job: _Job) -> pb.EditEvent:
            crops = _decode_faces(request.faces)
            dtype = _output_dtype(request.output_dtype)
            edits = _edit_steps(request.edits)
            with job.turn():
                inverted = self._invert(crops, request.options, job)
                edited = self.engine.edit_latents([inv.latent for inv in inverted], edits)
                handles = [inv.handle for inv in inverted]
                images = self._render_all([e.latent for e in edited], request.resolution,
                                          job.stop, handles)  # fmt: skip
                job.report(pb.Progress(stage="render", done=1, total=1))
                recons = self._reconstructions(
                    inverted, request.options.include_reconstruction, request.resolution, job.stop
                )
            faces = [
                pb.EditedFace(
                    handle=inv.handle,
                    latent=self._latent_message(out.latent),
                    image=_image_message(img, dtype),
                    reconstruction=_optional_image(recon, dtype),
                    short_edits=_short_edits(out.short),
                )
                for inv, out, img, recon in zip(inverted, edited, images, recons, strict=True)
            ]
            return pb.EditEvent(result=pb.EditResult(faces=faces))

        yield from self._stream(context, check, work, lambda p: pb.EditEvent(progress=p))

    # -- checks before work ------------------------------------------------------------------

    def _check_faces_and_options(
        self, faces: Sequence[pb.Image], options: pb.InvertOptions
    ) -> None:
        limits.check_faces(faces, self.engine.info.resolution)
        quality = QUALITIES.get(options.quality, "?")
        self.engine.plan(quality, options.refine_steps, options.pivotal_steps, options.refine_lr)

    def _check_reply(
        self, faces: int, resolution: int, output_dtype: int, recons: bool, *, latents: bool
    ) -> None:
        info = self.engine.info
        reply = limits.Reply(
            faces=faces,
            side=resolution or info.resolution,
            dtype=_output_dtype(output_dtype),
            reconstructions=recons,
            latent_values=info.num_ws * info.latent_dim if latents else 0,
        )
        limits.check_reply_fits(reply, self._max_message_bytes)

    @contextlib.contextmanager
    def _heavy_slot(self, kind: str) -> Iterator[None]:
        """One of ``heavy_rpcs`` places for a call of ``kind`` that does model work; Busy if
        none is free (so such calls never take the threads GetInfo needs)."""
        self._take_heavy_slot(kind)
        try:
            yield
        finally:
            self._give_heavy_slot(kind)

    def _take_heavy_slot(self, kind: str) -> None:
        with self._in_flight_lock:
            if self._in_flight[kind] >= self._heavy_rpcs:
                loaded = self._loaded
                wait = loaded.admission.retry_after_s() if isinstance(loaded, Engine) else 2.0
                raise Busy(
                    f"the server is busy ({self._in_flight[kind]} requests in flight); try "
                    f"again in about {max(1, round(wait))} s",
                    retry_after_s=wait,
                )
            self._in_flight[kind] += 1
            self.trimmer.cancel()

    def refused(self) -> None:
        """A request was refused before taking a slot (it may still have been large)."""
        with self._in_flight_lock:
            if not any(self._in_flight.values()):
                self.trimmer.schedule()

    def _give_heavy_slot(self, kind: str) -> None:
        with self._in_flight_lock:
            self._in_flight[kind] -= 1
            if not any(self._in_flight.values()):
                self.trimmer.schedule()  # give back what large requests took, once idle

    # -- helpers -----------------------------------------------------------------------------

    def _invert(
        self, crops: list[np.ndarray], options: pb.InvertOptions, job: _Job
    ) -> list[Inverted]:
        def on_progress(stage: str, done: int, total: int, loss: float) -> None:
            job.report(pb.Progress(stage=stage, done=done, total=total, loss=loss))

        inverted = self.engine.invert(
            crops,
            refine_steps=options.refine_steps,
            refine_lr=options.refine_lr,
            quality=QUALITIES.get(options.quality, "?"),
            pivotal_steps=options.pivotal_steps,
            on_progress=on_progress,
            should_stop=job.stop,
        )
        try:
            limits.check_latents([inv.latent for inv in inverted])
        except InvalidInput:
            for inv in inverted:
                self.engine.cache.discard(inv.handle)
            raise
        return inverted

    def _render_all(
        self,
        latents: Sequence[np.ndarray],
        resolution: int,
        stop: Callable[[], bool],
        handles: Sequence[str | None] | None = None,
    ) -> list[np.ndarray]:
        """engine.render (pivotally tuned generators by handle), a batch at a time, stopping
        when the client is gone."""
        images: list[np.ndarray] = []
        step = max(1, self.engine.max_batch)
        every = list(handles) if handles is not None else [None] * len(latents)
        for start in range(0, len(latents), step):
            if stop():
                raise Cancelled("cancelled by the client")
            images += self.engine.render(latents[start : start + step], resolution=resolution,
                                         handles=every[start : start + step])  # fmt: skip
        return images

    def _reconstructions(
        self, inverted: list[Inverted], wanted: bool, resolution: int, stop: Callable[[], bool]
    ) -> list[np.ndarray | None]:
        if not wanted:
            return [None] * len(inverted)
        latents = [inv.latent for inv in inverted]
        handles = [inv.handle for inv in inverted]
        return list(self._render_all(latents, resolution, stop, handles))

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
        check: Callable[[], None],
        work: Callable[[_Job], T],
        wrap_progress: Callable[[pb.Progress], T],
    ) -> Iterator[T]:
        """``check`` the request, then run ``work`` in a thread, streaming its progress, then
        its result.

        The client cancelling (or its deadline passing) makes ``stop()`` true, so the work ends
        at its next check and frees the device. Progress a slow reader has not taken is
        dropped beyond PROGRESS_BUFFER events; a reader that takes nothing for
        ``slow_reader_s`` is dropped.
        """
        try:
            self._take_heavy_slot(HEAVY)
        except Busy as err:
            _abort_on_error(context, err)
        once = threading.Lock()

        def release() -> None:
            if once.acquire(blocking=False):  # the call's end and a refusal may both call it
                self._give_heavy_slot(HEAVY)

        stopped = threading.Event()
        if not context.add_callback(stopped.set) or not context.add_callback(release):
            stopped.set()  # the RPC has already ended
            release()
        try:
            check()
        except Exception as err:
            release()
            _abort_on_error(context, err)
        events: queue.Queue[Any] = queue.Queue()
        client = client_of(context)

        def report(progress: pb.Progress) -> None:
            if events.qsize() < PROGRESS_BUFFER:
                events.put(wrap_progress(progress))

        def run() -> None:
            try:
                with self.engine.admit(client, HEAVY) as ticket:
                    job = _Job(
                        report,
                        stopped.is_set,
                        lambda: self.engine.admission.turn(ticket, stopped.is_set),
                    )
                    events.put(work(job))
            except BaseException as err:
                events.put(err)
            finally:
                events.put(_DONE)

        threading.Thread(target=run, name="facesmith-job", daemon=True).start()
        with self._readers.watch(context) as watch:
            while (item := events.get()) is not _DONE:
                if isinstance(item, BaseException):
                    _abort_on_error(context, item)
                with watch.sending():
                    yield item


class SlowReaders:
    """Ends streamed calls whose client has not taken a reply for ``limit_s`` seconds.

    gRPC sends a streamed message on the handler's thread and waits until the client's flow
    control lets it through; a client that never reads would hold that thread for ever.
    """

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self._sending: dict[int, tuple[grpc.ServicerContext, float]] = {}
        self._lock = threading.Lock()
        self._watching = False
        self.dropped = 0

    @contextlib.contextmanager
    def watch(self, context: grpc.ServicerContext) -> Iterator[_Watch]:
        watch = _Watch(self, context)
        try:
            yield watch
        finally:
            self._done(id(watch))

    def _start(self, key: int, context: grpc.ServicerContext) -> None:
        with self._lock:
            self._sending[key] = (context, time.monotonic())
            if not self._watching:
                self._watching = True
                threading.Thread(target=self._watch, name="facesmith-readers", daemon=True).start()

    def _done(self, key: int) -> None:
        with self._lock:
            self._sending.pop(key, None)

    def _watch(self) -> None:
        while True:
            time.sleep(min(1.0, max(0.05, self.limit_s / 4)))
            now = time.monotonic()
            with self._lock:
                late = [(k, c) for k, (c, t) in self._sending.items() if now - t > self.limit_s]
                for key, _ in late:
                    self._sending.pop(key)
                if not self._sending and not late:
                    self._watching = False
                    return
            for _, context in late:
                self.dropped += 1
                log.warning(
                    "dropped %s: it has not read a reply for %.0f s", context.peer(), self.limit_s
                )
                context.cancel()


class _Watch:
    def __init__(self, readers: SlowReaders, context: grpc.ServicerContext) -> None:
        self._readers = readers
        self._context = context

    @contextlib.contextmanager
    def sending(self) -> Iterator[None]:
        """Around a yield of a streamed reply: gRPC resumes us once it was sent."""
        self._readers._start(id(self), self._context)
        yield
        self._readers._done(id(self))


def _decode(decoder: Callable[[Any], T], message: Any) -> T:
    try:
        return decoder(message)
    except ValueError as err:
        raise InvalidInput(str(err)) from err


def _decode_faces(faces: Any) -> list[np.ndarray]:
    return [
        limits.check_pixels(_decode(wire.decode_image, face), i) for i, face in enumerate(faces)
    ]


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


def _student_info(t: StudentInfo) -> pb.StudentInfo:
    return pb.StudentInfo(
        name=t.name, edit=t.edit, mode=t.mode, min=t.min, max=t.max, description=t.description
    )


MODE_OF = {name: mode for mode, name in EDIT_MODES.items()}  # "set" → EditSpec.MODE_SET


def _short_edits(short: Sequence[ShortEdit]) -> list[pb.ShortEdit]:
    return [pb.ShortEdit(name=s.name, mode=MODE_OF[s.mode], goal=s.goal, reached=s.reached)
            for s in short]  # fmt: skip


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


class _Malformed:
    """What a request that does not parse becomes (raising would make gRPC answer INTERNAL
    and log a traceback)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _parser(message: Any) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return message.FromString(data)
        except Exception as err:  # DecodeError, RecursionError on deep nesting, …
            return _Malformed(type(err).__name__)

    return parse


def _refusing_malformed(
    name: str, behaviour: Callable[[Any, Any], Any], servicer: FacesmithServicer
) -> Callable[..., Any]:
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        if isinstance(request, _Malformed):
            log.info("refused a %s request that does not parse (%s)", name, request.reason)
            servicer.refused()
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"the request is not a valid facesmith.v1 {name} request ({request.reason})",
            )
        return behaviour(request, context)

    return handle


def add_servicer(servicer: FacesmithServicer, server: grpc.Server) -> None:
    """What the generated add_FacesmithServicer_to_server does, with requests that do not
    parse answered INVALID_ARGUMENT (the client's fault) in one log line."""
    unary, streaming = grpc.unary_unary_rpc_method_handler, grpc.unary_stream_rpc_method_handler
    methods: dict[str, tuple[Any, Any, Any, Any]] = {
        "GetInfo": (unary, servicer.GetInfo, pb.GetInfoRequest, pb.ServerInfo),
        "Invert": (streaming, servicer.Invert, pb.InvertRequest, pb.InvertEvent),
        "Render": (unary, servicer.Render, pb.RenderRequest, pb.RenderResponse),
        "Edit": (streaming, servicer.Edit, pb.EditRequest, pb.EditEvent),
        "Generate": (unary, servicer.Generate, pb.GenerateRequest, pb.GenerateResponse),
        "Translate": (unary, servicer.Translate, pb.TranslateRequest, pb.TranslateResponse),
        "FromSketch": (streaming, servicer.FromSketch, pb.FromSketchRequest, pb.SketchEvent),
    }
    handlers = {
        name: make(
            _refusing_malformed(name, behaviour, servicer),
            request_deserializer=_parser(request),
            response_serializer=response.SerializeToString,
        )
        for name, (make, behaviour, request, response) in methods.items()
    }
    service = "facesmith.v1.Facesmith"
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
    server.add_registered_method_handlers(service, handlers)  # type: ignore[attr-defined]


def create_server(
    address: str,
    engine: Engine | PackError,  # the PackError if the pack failed to load
    *,
    token: str | None = None,  # required unless address is loopback
    max_message_bytes: int = wire.MAX_MESSAGE_BYTES,
    heavy_rpcs: int | None = None,  # Invert/Edit (and Render) in flight; 2 x queue, >= 8
    slow_reader_s: float = SLOW_READER_S,  # a streamed reply unread this long ends its call
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
        *KEEPALIVE_OPTIONS,
    ]
    if heavy_rpcs is None:
        queue_size = engine.max_queue if isinstance(engine, Engine) else 4
        heavy_rpcs = max(8, 2 * queue_size)
    workers = 2 * heavy_rpcs + RESERVED_THREADS  # streams, renders, and GetInfo's own
    interceptors: list[grpc.ServerInterceptor] = [_TokenCheck(token)] if token else []
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="facesmith-rpc"),
        options=options,
        interceptors=interceptors,
        maximum_concurrent_rpcs=workers + QUEUED_RPCS,
    )
    servicer = FacesmithServicer(
        engine,
        max_message_bytes=max_message_bytes,
        heavy_rpcs=heavy_rpcs,
        slow_reader_s=slow_reader_s,
    )
    add_servicer(servicer, server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise ValueError(f"could not listen on {address}")
    server.start()
    return server, port
