"""The abstract facesmith client that the CLI, the worker and host adapters talk to.

Implementations: ``grpc_client.GrpcClient`` (a real server) and ``fake_client.FakeClient``
(deterministic, for tests). Crops and returned faces follow facesmith.pixels.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType

import numpy as np
from numpy.typing import DTypeLike

from facesmith import wire
from facesmith.quality import DEFAULT_FOLLOW, EDIT_MODES
from facesmith_client.events import Error, FaceResult, Progress, Result

# Largest gRPC message either side accepts; callers split work to stay well below it.
MAX_MESSAGE_BYTES = wire.MAX_MESSAGE_BYTES


@dataclass(frozen=True)
class EditInfo:
    """One direction the server's pack offers, with its strength range; ``kind`` is set when
    the pack has the attribute's model (absolute targets in [target_min, target_max] in
    ``unit``, and swaps when "binary")."""

    name: str
    description: str
    min: float
    max: float
    default: float
    space: str
    group: str = ""
    kind: str = ""  # "binary" | "continuous" | "" (relative strengths only)
    unit: str = ""
    target_min: float = 0.0
    target_max: float = 0.0

    @property
    def settable(self) -> bool:
        return bool(self.kind)


@dataclass(frozen=True)
class StudentInfo:
    """A one-pass edit of the pack (Translate): ``edit`` in ``mode`` ("relative": strengths
    in [min, max]; "swap")."""

    name: str
    edit: str
    mode: str
    min: float = 0.0
    max: float = 0.0
    description: str = ""


@dataclass(frozen=True)
class ServerInfo:
    """What the server runs (mirror of facesmith.v1.ServerInfo)."""

    pack_name: str
    resolution: int  # side of the aligned crops it takes and the faces it renders
    latent_space: str
    num_ws: int
    latent_dim: int
    device: str
    edits: tuple[EditInfo, ...]
    preview_resolutions: tuple[int, ...] = ()
    max_batch: int = 0
    version: str = ""
    alignment: str = "ffhq"
    students: tuple[StudentInfo, ...] = ()
    sketch: bool = False  # the pack makes faces from line drawings (from_sketch)

    def edit(self, name: str) -> EditInfo:
        """The edit called ``name``; ValueError listing the available ones if there is none."""
        for info in self.edits:
            if info.name == name:
                return info
        raise ValueError(f"unknown edit {name!r}; this server offers: {self.edit_names()}")

    def edit_names(self) -> str:
        return ", ".join(sorted(info.name for info in self.edits)) or "none"


@dataclass(frozen=True)
class EditSpec:
    """Move along direction ``name``, holding the directions ``hold`` fixed: by ``strength``
    (mode "relative"), until the pack's model of the attribute says ``target`` ("set": years,
    or a probability for a yes/no attribute), or across its boundary ("swap")."""

    name: str
    strength: float = 0.0
    hold: tuple[str, ...] = ()
    mode: str = "relative"
    target: float = 0.0


@dataclass(frozen=True)
class InvertOptions:
    refine_steps: int = 0  # optimisation steps after the encoder; 0 = as the quality says
    refine_lr: float = 0.0  # 0 = server default
    include_reconstruction: bool = False  # also return each face rendered without edits
    quality: str = "default"  # one of QUALITIES: the server's default, encoder, refine, pivotal
    pivotal_steps: int = 0  # 0 = server default


DEFAULT_OPTIONS = InvertOptions()


@dataclass
class CancelToken:
    """Set from any thread to cancel the call it is passed to.

    Clients register a callback (e.g. ``grpc.Call.cancel``) with ``on_cancel`` so that an
    in-flight streaming call stops at once rather than at its next event.
    """

    _event: threading.Event = field(default_factory=threading.Event)
    _callbacks: list[Callable[[], None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on cancel (at once if already cancelled)."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking early on cancel → whether it was cancelled."""
        return self._event.wait(seconds)

    def remove(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)


class ClientError(Exception):
    """A failed call. ``code`` is short and stable ("invalid_argument", "unavailable",
    "cancelled", ...); ``message`` says what went wrong and what to do next."""

    # Codes that end a run of many photos rather than one photo: every later call would fail.
    RUN_ENDING = ("unavailable", "cancelled", "unauthenticated", "failed_precondition")

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def event(self) -> Error:
        return Error(self.code, self.message)

    @property
    def ends_the_run(self) -> bool:
        return self.code in self.RUN_ENDING

    def __str__(self) -> str:
        return self.message


def cancelled_error() -> ClientError:
    return ClientError("cancelled", "cancelled")


def check_edits(info: ServerInfo, edits: Sequence[EditSpec]) -> None:
    """ValueError for an unknown edit, a mode it does not support, or a strength or target
    outside its range (before any server work)."""
    for spec in edits:
        edit = info.edit(spec.name)
        _check_spec(spec, edit)
        for held in spec.hold:
            info.edit(held)


def check_fast_edits(info: ServerInfo, edits: Sequence[EditSpec]) -> None:
    """ValueError unless the pack has a student for every edit, in its mode and range."""
    if not info.students:
        raise ValueError(
            f"the pack {info.pack_name!r} has no one-pass edits (students); edit without "
            "--fast, or use a pack that has them"
        )
    if not edits:
        raise ValueError("a one-pass edit needs at least one edit")
    for spec in edits:
        if spec.hold:
            raise ValueError(f"{spec.name}: a one-pass edit cannot hold other attributes fixed")
        student = _student_for(info, spec)
        if spec.mode == "relative" and not wire.strength_in_range(
            spec.strength, student.min, student.max
        ):
            raise ValueError(
                f"{spec.name} strength {spec.strength:g} is outside the one-pass range "
                f"[{student.min:g}, {student.max:g}]"
            )


def _student_for(info: ServerInfo, spec: EditSpec) -> StudentInfo:
    for student in info.students:
        if (student.edit, student.mode) == (spec.name, spec.mode):
            return student
    offered = ", ".join(f"{s.edit} ({s.mode})" for s in info.students)
    raise ValueError(f"no one-pass edit makes {spec.name} ({spec.mode}); the pack has: {offered}")


def _check_spec(spec: EditSpec, edit: EditInfo) -> None:
    if spec.mode not in EDIT_MODES:
        raise ValueError(f"{spec.name}: unknown edit mode {spec.mode!r}")
    if spec.mode == "relative":
        if not wire.strength_in_range(spec.strength, edit.min, edit.max):
            raise ValueError(
                f"{spec.name} strength {spec.strength:g} is outside its range "
                f"[{edit.min:g}, {edit.max:g}]"
            )
        return
    if not edit.settable:
        raise ValueError(f"{spec.name} has no attribute model in this pack: use a strength")
    if spec.mode == "swap" and edit.kind != "binary":
        raise ValueError(f"{spec.name} is not a yes/no attribute: it cannot be swapped")
    if spec.mode == "set" and not wire.strength_in_range(
        spec.target, edit.target_min, edit.target_max
    ):
        raise ValueError(
            f"{spec.name} target {spec.target:g} is outside [{edit.target_min:g}, "
            f"{edit.target_max:g}]{' ' + edit.unit if edit.unit else ''}"
        )


def collect_result(
    events: Iterable[Progress | Result], on_event: Callable[[Progress], None] | None = None
) -> Result:
    """Drain a call's events, passing progress to ``on_event``; the final Result."""
    result: Result | None = None
    for event in events:
        if isinstance(event, Progress):
            if on_event is not None:
                on_event(event)
        else:
            result = event
    if result is None:
        raise ClientError("internal", "the server ended the call without a result")
    return result


class FacesmithClient(ABC):
    """A facesmith server as typed calls. Use as a context manager or call ``close()``."""

    @abstractmethod
    def info(self) -> ServerInfo:
        """The server's pack, resolution and edits."""

    @abstractmethod
    def invert(
        self,
        crops: Sequence[np.ndarray],
        options: InvertOptions = DEFAULT_OPTIONS,
        *,
        output_dtype: DTypeLike = np.uint8,
        cancel: CancelToken | None = None,
    ) -> Iterator[Progress | Result]:
        """Aligned crops (side = info().resolution) → progress, then a Result with a handle,
        a latent and (if asked) the reconstruction per face."""

    @abstractmethod
    def render(
        self,
        faces: Sequence[str | np.ndarray],
        edits: Sequence[EditSpec] = (),
        *,
        resolution: int = 0,
        output_dtype: DTypeLike = np.uint8,
        include_reconstruction: bool = False,
    ) -> Result:
        """Handles or latents [num_ws or 1, dim] + edits → one image per face (no encoder).

        ``resolution`` 0 = full, else one of info().preview_resolutions."""

    @abstractmethod
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
        """Invert + render in one call: progress, then a Result with the edited image, handle,
        latent and (if asked) the reconstruction per face."""

    @abstractmethod
    def generate(
        self,
        seeds: Sequence[int],
        edits: Sequence[EditSpec] = (),
        *,
        truncation: float | None = None,
        resolution: int = 0,
        output_dtype: DTypeLike = np.uint8,
    ) -> Result:
        """Faces that do not exist, one per seed (the same seed, the same face), with
        ``edits`` applied: a Result with the image, the latent and a handle (of the face before
        the edits, for later Render calls) per seed. ``truncation`` None: the server's default
        (facesmith.quality.DEFAULT_TRUNCATION)."""

    @abstractmethod
    def translate(
        self,
        crops: Sequence[np.ndarray],
        edits: Sequence[EditSpec],
        *,
        output_dtype: DTypeLike = np.uint8,
    ) -> Result:
        """One-pass edits by the pack's students (no inversion): aligned crops → a Result with
        one edited image per crop (no handle, no latent)."""

    @abstractmethod
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
        """Square line drawings (side = info().resolution; pipeline.sketch.frame_drawing makes
        one of any drawing) → progress, then a Result with the face, its latent and a handle
        (before ``edits``) per drawing. ``follow`` 0..1: how closely the face follows the
        lines (0: the sketch encoder only); ``seed``: whose colours the faces take."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the default holds none."""

    def __enter__(self) -> FacesmithClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


__all__ = [
    "DEFAULT_OPTIONS",
    "MAX_MESSAGE_BYTES",
    "CancelToken",
    "ClientError",
    "EditInfo",
    "EditSpec",
    "FaceResult",
    "FacesmithClient",
    "InvertOptions",
    "Progress",
    "Result",
    "ServerInfo",
    "StudentInfo",
    "check_edits",
    "check_fast_edits",
    "collect_result",
]
