"""The calls host adapters make, in host terms: layer bytes in, layer bytes out.

Pixels travel as the host hands them over (``HostImage``: Krita's B,G,R,A integers, GEGL's
R,G,B,A …); the runtime converts them to facesmith.pixels conventions and back, so adapters
never touch pixels one by one (there is no numpy inside the hosts).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from facesmith_host.errors import WorkerError
from facesmith_host.link import Array, Reply, WorkerLink

ORDERS = ("RGBA", "BGRA", "RGB", "BGR")
BYTES_PER_CHANNEL = {"u8": 1, "u16": 2, "f16": 2, "f32": 4}
MAX_SEED = 2**32 - 1  # of a new face (facesmith.quality.MAX_SEED, which hosts cannot import)
DEFAULT_FOLLOW = 0.0  # of a face from a sketch (facesmith.quality.DEFAULT_FOLLOW, likewise)
ProgressFn = Callable[[float, str], None]  # (fraction done 0..1, what is happening)


@dataclass(frozen=True)
class HostImage:
    """A layer's pixels: row-major, ``channels`` per pixel in ``order``, native little-endian."""

    width: int
    height: int
    channels: int
    dtype: str  # "u8" | "u16" | "f16" | "f32"
    order: str  # "RGBA" | "BGRA" | "RGB" | "BGR"
    data: bytes | bytearray | memoryview

    def array(self) -> Array:
        if self.order not in ORDERS or len(self.order) != self.channels:
            raise WorkerError(
                "unsupported_image",
                f"pixel order {self.order!r} with {self.channels} channels is not supported",
                "Convert the image to RGB or RGBA.",
            )
        return Array("image", (self.height, self.width, self.channels), self.dtype, self.data)


@dataclass(frozen=True)
class Selection:
    """An 8-bit mask the size of the image: 0 outside, 255 inside."""

    width: int
    height: int
    data: bytes | bytearray | memoryview

    def array(self) -> Array:
        return Array("selection", (self.height, self.width), "u8", self.data)


@dataclass(frozen=True)
class FaceBox:
    index: int
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in image pixels
    score: float
    landmarks: tuple[tuple[float, float], ...]  # eyes, nose, mouth corners
    in_selection: bool = True

    def to_wire(self) -> dict[str, Any]:
        return {
            "box": list(self.box),
            "score": self.score,
            "landmarks": [list(p) for p in self.landmarks],
        }


@dataclass(frozen=True)
class EditRange:
    name: str
    min: float
    max: float
    default: float
    description: str = ""
    group: str = ""  # where a menu lists it ("" = ungrouped)
    kind: str = ""  # "binary" (can be swapped, set to yes/no), "continuous" (set to a value)

    @property
    def swappable(self) -> bool:
        return self.kind == "binary"


@dataclass(frozen=True)
class HostEdit:
    """One edit as an adapter asks for it: a relative ``strength``, an absolute ``target``
    (mode "set": years, or a probability for a yes/no attribute) or a swap across a yes/no
    attribute's boundary (mode "swap", e.g. gender)."""

    name: str
    strength: float = 0.0
    mode: str = "relative"
    target: float = 0.0

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "strength": float(self.strength), "mode": self.mode,
                "target": float(self.target)}  # fmt: skip

    def label(self) -> str:
        if self.mode == "swap":
            return f"{self.name} swapped"
        if self.mode == "set":
            return f"{self.name} = {self.target:g}"
        return f"{self.name} {self.strength:+g}"


EditLike = HostEdit | tuple[str, float]  # (name, strength) is a relative edit


def host_edit(edit: EditLike) -> HostEdit:
    return edit if isinstance(edit, HostEdit) else HostEdit(edit[0], float(edit[1]))


class Grouped(Protocol):
    @property
    def group(self) -> str: ...


G = TypeVar("G", bound=Grouped)


def group_edits(edits: Sequence[G]) -> list[tuple[str, list[G]]]:
    """Edits by group, as menus and `facesmith info` list them: groups in the order they first
    appear (a pack lists its directions group by group), ungrouped edits first under ""."""
    groups: dict[str, list[G]] = {"": []}
    for edit in edits:
        groups.setdefault(edit.group, []).append(edit)
    return [(group, listed) for group, listed in groups.items() if listed]


@dataclass(frozen=True)
class ServerStatus:
    address: str
    pack: str
    resolution: int
    device: str
    edits: tuple[EditRange, ...]
    fast: tuple[tuple[str, str], ...] = ()  # (edit, mode) the pack's students make in one pass
    sketch: bool = False  # the pack makes faces from line drawings (it has a sketch encoder)

    def check_sketch(self) -> None:
        """WorkerError (``no_sketch``) unless the pack can make faces from drawings."""
        if not self.sketch:
            raise no_sketch(self.pack)

    def has_fast(self, edits: Sequence[EditLike]) -> bool:
        """Whether every one of ``edits`` can be made in one pass (none: False)."""
        wanted = [host_edit(e) for e in edits]
        return bool(wanted) and all((e.name, e.mode) in self.fast for e in wanted)

    def check_fast(self, edits: Sequence[EditLike]) -> None:
        """WorkerError unless the pack can make every one of ``edits`` in one pass."""
        if self.has_fast(edits):
            return
        asked = ", ".join(host_edit(e).label() for e in edits) or "no edit"
        offered = ", ".join(f"{edit} ({mode})" for edit, mode in self.fast) or "none"
        raise WorkerError(
            "unknown_edit",
            f"the pack ({self.pack}) cannot make {asked} in one pass; its one-pass edits: "
            f"{offered}",
            'Untick "One pass" to edit through the full (inverted) path.',
        )

    def offered(self) -> str:
        """ "age, bald; hair: bangs, gray_hair; …" — the edits' names by group."""
        return "; ".join(
            (f"{group}: " if group else "") + ", ".join(e.name for e in edits)
            for group, edits in group_edits(self.edits)
        )

    def edit(self, name: str) -> EditRange:
        for edit in self.edits:
            if edit.name == name:
                return edit
        offered = self.offered() or "none"
        raise WorkerError(
            "unknown_edit",
            f"the server's model pack ({self.pack}) has no {name!r} edit; it offers: {offered}",
            "Install a model pack with this edit (facesmith pack list) or pick another edit.",
        )


@dataclass(frozen=True)
class EditOutcome:
    data: bytes | bytearray | memoryview  # same size, channels, dtype and order as the input
    faces_edited: int
    # for the user, one line per set or swap edit that stopped at its range's end on a face
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Preset:
    """A one-click menu edit: ``fraction`` of the pack's range (+: towards max, −: min), or
    with mode "swap" the swap of a yes/no attribute (no strength)."""

    key: str
    label: str
    edit: str
    fraction: float
    mode: str = "relative"


PRESETS = (
    Preset("older", "Older", "age", 0.5),
    Preset("younger", "Younger", "age", -0.5),
    Preset("bald", "Bald", "bald", 1.0),
    Preset("swap_gender", "Swap gender", "gender", 0.0, mode="swap"),
    Preset("masculine", "More masculine", "gender", 1.0),
    Preset("feminine", "More feminine", "gender", -1.0),
    Preset("smile", "Smile", "smile", 0.6),
)


def preset_strength(preset: Preset, status: ServerStatus) -> float:
    edit = status.edit(preset.edit)
    bound = edit.max if preset.fraction > 0 else -edit.min
    return preset.fraction * bound


def preset_edit(preset: Preset, status: ServerStatus) -> HostEdit:
    """The edit a preset stands for on this server's pack."""
    if preset.mode == "swap":
        if not status.edit(preset.edit).swappable:
            raise WorkerError(
                "unknown_edit",
                f"the server's model pack ({status.pack}) cannot swap {preset.edit}",
                "Use a pack whose directions carry their attribute model (facesmith info).",
            )
        return HostEdit(preset.edit, mode="swap")
    return HostEdit(preset.edit, preset_strength(preset, status))


def no_sketch(pack: str) -> WorkerError:
    """The refusal of a face from a sketch by a pack without a sketch encoder: the same words
    in Krita, GIMP and from the runtime."""
    return WorkerError(
        "no_sketch",
        f"the server's model pack ({pack}) cannot make faces from sketches: it has no sketch "
        "encoder",
        "Use a model pack with a sketch encoder (facesmith train sketch adds one to a pack; "
        "facesmith info shows whether a pack has it).",
    )


def no_lines() -> WorkerError:
    """The refusal of a face from a layer (or a selection) with no lines on it."""
    return WorkerError(
        "no_lines",
        "there are no lines to make a face from on this layer (inside the selection, if any)",
        "Draw dark lines on the layer first — the face's outline, eyes and mouth, on a "
        "transparent layer or on light paper — then run Face from sketch again.",
    )


def layer_name(edits: Sequence[EditLike]) -> str:
    """ "facesmith: age +20, bald +1" — what the new layer holds, readable in the layer list."""
    parts = [host_edit(e).label() for e in edits]
    return "facesmith: " + (", ".join(parts) or "reconstruction")


# -- calls ---------------------------------------------------------------------------------------


def server_info(link: WorkerLink) -> ServerStatus:
    header = link.request("info").header
    edits = tuple(
        EditRange(
            name=str(e["name"]),
            min=float(e["min"]),
            max=float(e["max"]),
            default=float(e.get("default", 0.0)),
            description=str(e.get("description", "")),
            group=str(e.get("group", "")),
            kind=str(e.get("kind", "")),
        )
        for e in header.get("edits", [])
    )
    return ServerStatus(
        address=str(header.get("address", "")),
        pack=str(header.get("pack", "")),
        resolution=int(header.get("resolution", 0)),
        device=str(header.get("device", "")),
        edits=edits,
        fast=tuple((str(f["edit"]), str(f["mode"])) for f in header.get("fast", [])),
        sketch=header.get("sketch") is True,
    )


def detect(
    link: WorkerLink,
    image: HostImage,
    selection: Selection | None = None,
    min_face_size: int = 40,
) -> list[FaceBox]:
    """Faces in ``image`` left to right (all of them; ``in_selection`` marks those inside)."""
    arrays = _image_arrays(image, selection)
    fields = {"order": image.order, "min_face_size": min_face_size}
    reply = link.request("detect", fields, arrays)
    return [_face_box(i, f) for i, f in enumerate(reply.header.get("faces", []))]


def edit(
    link: WorkerLink,
    image: HostImage,
    edits: Sequence[EditLike],
    *,
    faces: Sequence[FaceBox] | None = None,
    selection: Selection | None = None,
    preview: bool = False,
    fast: bool = False,
    min_face_size: int = 40,
    on_progress: ProgressFn | None = None,
) -> EditOutcome:
    """``image`` with ``edits`` applied to ``faces`` (None: every face, inside the selection
    if there is one). ``preview`` renders at the server's fast low resolution; ``fast`` has
    the pack's students make the edits in one pass (``ServerStatus.has_fast``)."""
    fields: dict[str, Any] = {
        "order": image.order,
        "edits": [host_edit(e).to_wire() for e in edits],
        "preview": preview,
        "fast": fast,
        "min_face_size": min_face_size,
    }
    if faces is not None:
        fields["faces"] = [face.to_wire() for face in faces]
    reply = link.request(
        "edit", fields, _image_arrays(image, selection), _progress_adapter(on_progress)
    )
    result = reply.arrays.get("image")
    if result is None or memoryview(result.data).nbytes != memoryview(image.data).nbytes:
        raise WorkerError("internal", "the facesmith runtime returned an image of the wrong size")
    return EditOutcome(result.data, int(reply.header.get("faces_edited", 0)), _notes(reply))


@dataclass(frozen=True)
class NewFace:
    """A new face layer's pixels and where they go: for a face that does not exist, a square
    in the rectangle asked for; for a face from a sketch, the square the lines were drawn in
    (as much of it as lies on the canvas). ``left``, ``top``: from the corner of the rectangle
    asked for, or of the drawing sent (negative: left of or above it)."""

    image: HostImage
    left: int
    top: int
    # one line per set or swap edit that stopped at its range's end (as EditOutcome.notes)
    notes: tuple[str, ...] = ()


def generate(
    link: WorkerLink,
    seed: int,
    width: int,
    height: int,
    *,
    dtype: str = "u8",
    order: str = "RGBA",
    edits: Sequence[EditLike] = (),
    truncation: float | None = None,
    on_progress: ProgressFn | None = None,
) -> NewFace:
    """A face that does not exist (the same for the same ``seed``), as large as fits ``width``
    x ``height`` (at most 8192 px), centred in it, in ``dtype``/``order`` (4 channels)."""
    fields: dict[str, Any] = {
        "seed": seed,
        "width": width,
        "height": height,
        "dtype": dtype,
        "order": order,
        "edits": [host_edit(e).to_wire() for e in edits],
    }
    if truncation is not None:
        fields["truncation"] = truncation
    reply = link.request("generate", fields, [], _progress_adapter(on_progress))
    result = reply.arrays.get("image")
    if result is None or len(result.shape) != 3 or result.shape[0] != result.shape[1]:
        raise WorkerError("internal", "the facesmith runtime returned no square face")
    side = result.shape[0]
    if memoryview(result.data).nbytes != side * side * 4 * BYTES_PER_CHANNEL.get(dtype, 0):
        raise WorkerError("internal", "the facesmith runtime returned a face of the wrong size")
    image = HostImage(side, side, 4, dtype, order, result.data)
    return NewFace(image, int(reply.header.get("left", 0)), int(reply.header.get("top", 0)),
                   _notes(reply))  # fmt: skip


def sketch(
    link: WorkerLink,
    drawing: HostImage,
    follow: float = DEFAULT_FOLLOW,
    *,
    edits: Sequence[EditLike] = (),
    seed: int = 0,
    selection: Selection | None = None,
    canvas: tuple[int, int, int, int] | None = None,
    on_progress: ProgressFn | None = None,
) -> NewFace:
    """The face ``drawing`` shows (dark lines on a transparent layer or on light paper; only
    those inside ``selection`` if given), as large as the lines were drawn, where they were
    drawn. ``follow`` 0..1: how closely the face follows the lines (0: fastest); ``seed``:
    whose colours it takes (another seed, another variation). ``canvas`` (x, y, width,
    height from the drawing's corner) clips the face to what is visible.

    The face comes back opaque in the drawing's dtype and order, with alpha added if the
    drawing had none (RGB → RGBA). WorkerError ``no_lines`` for a drawing without lines,
    ``no_sketch`` for a pack that cannot make faces from sketches; cancel with
    ``link.cancel_all``."""
    fields: dict[str, Any] = {
        "order": drawing.order,
        "follow": float(follow),
        "seed": int(seed),
        "edits": [host_edit(e).to_wire() for e in edits],
    }
    if canvas is not None:
        fields["canvas"] = [int(v) for v in canvas]
    reply = link.request(
        "sketch", fields, _image_arrays(drawing, selection), _progress_adapter(on_progress)
    )
    result = reply.arrays.get("image")
    if result is None or len(result.shape) != 3 or result.shape[2] != 4:
        raise WorkerError("internal", "the facesmith runtime returned no face")
    height, width = result.shape[:2]
    expected = width * height * 4 * BYTES_PER_CHANNEL.get(drawing.dtype, 0)
    if result.dtype != drawing.dtype or memoryview(result.data).nbytes != expected:
        raise WorkerError("internal", "the facesmith runtime returned a face of the wrong size")
    order = drawing.order if len(drawing.order) == 4 else drawing.order + "A"
    image = HostImage(width, height, 4, drawing.dtype, order, result.data)
    return NewFace(image, int(reply.header.get("left", 0)), int(reply.header.get("top", 0)),
                   _notes(reply))  # fmt: skip


def _image_arrays(image: HostImage, selection: Selection | None) -> list[Array]:
    arrays = [image.array()]
    if selection is not None:
        if (selection.width, selection.height) != (image.width, image.height):
            raise WorkerError("bad_request", "the selection mask is not the size of the image")
        arrays.append(selection.array())
    return arrays


def _notes(reply: Reply) -> tuple[str, ...]:
    notes = reply.header.get("notes", [])
    return tuple(str(note) for note in notes) if isinstance(notes, list) else ()


def _face_box(index: int, wire: dict[str, Any]) -> FaceBox:
    x0, y0, x1, y1 = (float(v) for v in wire["box"])
    return FaceBox(
        index=index,
        box=(x0, y0, x1, y1),
        score=float(wire.get("score", 0.0)),
        landmarks=tuple((float(p[0]), float(p[1])) for p in wire["landmarks"]),
        in_selection=bool(wire.get("in_selection", True)),
    )


def _progress_adapter(on_progress: ProgressFn | None) -> Callable[[dict[str, Any]], None] | None:
    if on_progress is None:
        return None

    def forward(header: dict[str, Any]) -> None:
        total = float(header.get("total") or 0)
        done = float(header.get("done") or 0)
        on_progress(done / total if total > 0 else 0.0, str(header.get("stage", "")))

    return forward
