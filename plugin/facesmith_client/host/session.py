"""What the worker does for a host adapter: detect faces and edit them in a layer, and make a
new layer with a face that does not exist or with the face a drawing on a layer shows.

Requests arrive as protocol frames (see facesmith_host.protocol); this module turns their
fields and arrays into pipeline calls and the results back into fields and arrays. Domain
failures are raised as WorkerError with the next step for the user.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from facesmith import pixels
from facesmith.quality import DEFAULT_FOLLOW, MAX_SEED
from facesmith_client.events import Progress
from facesmith_client.pipeline.notes import face_notes, short_edit_notes
from facesmith_client.pipeline.photo import (
    EditedPhoto,
    InvertedPhoto,
    edit_photo,
    find_faces,
    invert_photo,
    render_photo,
)
from facesmith_client.pipeline.sketch import HEAD_MARGIN, EmptyDrawing, face_from_sketch, head_box
from facesmith_client.remote.client import (
    CancelToken,
    ClientError,
    EditSpec,
    FacesmithClient,
    ServerInfo,
    check_edits,
    check_fast_edits,
)
from facesmith_client.vision.align import ffhq_quad
from facesmith_client.vision.detect import Detector, Face, detect_faces
from facesmith_host.errors import WorkerError
from facesmith_host.jobs import no_sketch
from facesmith_host.protocol import Array, Frame

ProgressFn = Callable[[Progress], None]
PREVIEW_SIDE = 256  # previews render at the smallest preview size at least this big
MIN_FACE_PX = 4  # landmarks must frame a crop at least this wide
MAX_NEW_FACE_SIDE = 8192  # px: a new face is at most this big (1 GiB as float RGBA)
PICK_FACES = "Find the faces again (or let facesmith detect them) and pick from those."
DRAW_LINES = (
    "Draw the face's outline, eyes and mouth as dark lines on a transparent layer or on light "
    "paper (not a filled area), then try again."
)


@dataclass(frozen=True)
class LayerImage:
    """A request's image in our conventions, with how the host wants it back."""

    image: np.ndarray
    dtype: str
    order: str
    digest: str  # identifies the pixels, for the inversion cache


class HostSession:
    """One adapter's session: a server connection, the detector, the last inversion."""

    def __init__(
        self,
        connect: Callable[[], FacesmithClient],
        load_detector: Callable[[], Detector],
        *,
        healthy: Callable[[], bool] = lambda: True,  # false: the client's server has died
    ) -> None:
        self._connect = connect
        self._healthy = healthy
        self._load_detector = load_detector
        self._client: FacesmithClient | None = None
        self._detector: Detector | None = None
        self._last: tuple[tuple[Any, ...], InvertedPhoto] | None = None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    # -- requests --------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        client = self.client()
        info = client.info()
        return {
            "address": getattr(client, "address", ""),
            "pack": info.pack_name,
            "resolution": info.resolution,
            "device": info.device,
            "edits": [
                {
                    "name": e.name,
                    "min": e.min,
                    "max": e.max,
                    "default": e.default,
                    "description": e.description,
                    "group": e.group,
                    "kind": e.kind,
                    "unit": e.unit,
                    "target_min": e.target_min,
                    "target_max": e.target_max,
                }
                for e in info.edits
            ],
            "fast": [{"edit": t.edit, "mode": t.mode} for t in info.students],
            "sketch": info.sketch,
        }

    def detect(self, frame: Frame) -> dict[str, Any]:
        layer = layer_image(frame)
        faces = detect_faces(layer.image, self.detector(), _min_face_size(frame.header))
        inside = {id(f) for f in selected(faces, selection_mask(frame, layer.image))}
        return {"faces": [face_to_wire(f, id(f) in inside) for f in faces]}

    def edit(
        self, frame: Frame, cancel: CancelToken, on_event: ProgressFn
    ) -> tuple[dict[str, Any], list[Array]]:
        layer = layer_image(frame)
        client = self.client()
        info = client.info()
        fast = frame.header.get("fast") is True
        specs = edit_specs(frame.header, info, fast=fast)
        faces = self._faces(frame, layer)
        if fast:  # one pass of the pack's students: nothing to invert or cache
            on_event(Progress("render", 0, 1))
            out = edit_photo(layer.image, client, None, specs, faces=faces, fast=True,
                             cancel=cancel)  # fmt: skip
            on_event(Progress("render", 1, 1))
            return self._edited(out, layer, info)
        photo = self._inverted(layer, faces, client, cancel, on_event)
        resolution = preview_resolution(info) if frame.header.get("preview") else 0
        on_event(Progress("render", 0, 1))
        out = render_photo(photo, client, specs, resolution=resolution)
        on_event(Progress("render", 1, 1))
        return self._edited(out, layer, info)

    @staticmethod
    def _edited(
        out: EditedPhoto, layer: LayerImage, info: ServerInfo
    ) -> tuple[dict[str, Any], list[Array]]:
        data = pixels.to_host(out.image, layer.dtype, layer.order)
        shape = tuple(int(s) for s in out.image.shape)
        fields = {"faces_edited": len(out.faces), "notes": short_edit_notes(out.short_edits, info)}
        return fields, [Array("image", shape, layer.dtype, data)]

    def generate(self, frame: Frame, on_event: ProgressFn) -> tuple[dict[str, Any], list[Array]]:
        """A face that does not exist, as large as fits a width x height rectangle: its pixels
        (a square) and where the square sits in the rectangle (centred)."""
        header = frame.header
        seed = _int_field(header, "seed", 0, MAX_SEED)
        width = _int_field(header, "width", 1, MAX_NEW_FACE_SIDE * 64)
        height = _int_field(header, "height", 1, MAX_NEW_FACE_SIDE * 64)
        side = min(width, height, MAX_NEW_FACE_SIDE)
        dtype, order = str(header.get("dtype", "u8")), str(header.get("order", "RGBA"))
        if len(order) != 4:
            raise WorkerError("bad_request", "a new face layer needs 4 channels (RGBA or BGRA)")
        client = self.client()
        specs = edit_specs(header, client.info())
        on_event(Progress("generate", 0, 1))
        face = client.generate([seed], specs, truncation=_truncation(header)).faces[0]
        on_event(Progress("generate", 1, 1))
        if face.image is None:
            raise WorkerError("internal", "the server returned no face")
        layer = face_square(pixels.to_float(face.image), side)
        try:
            data = pixels.to_host(
                pixels.from_float(layer, pixels.dtype_for_host(dtype)), dtype, order
            )
        except (KeyError, ValueError) as err:
            message = f"cannot make a {dtype} {order} layer: {err}"
            raise WorkerError("bad_request", message) from None
        fields = {"seed": seed, "left": (width - side) // 2, "top": (height - side) // 2,
                  "notes": face_notes(face.short_edits, client.info())}  # fmt: skip
        return fields, [Array("image", (side, side, 4), dtype, data)]

    def sketch(
        self, frame: Frame, cancel: CancelToken, on_event: ProgressFn
    ) -> tuple[dict[str, Any], list[Array]]:
        """The face a drawing shows (its lines inside the selection, if one is sent), as large
        as the lines were drawn: its opaque pixels, clipped to the canvas if one is given,
        and where they sit from the drawing's corner. In the drawing's dtype and order, alpha
        added if it had none."""
        layer = layer_image(frame)
        header = frame.header
        follow = _unit_field(header, "follow", DEFAULT_FOLLOW)
        seed = _int_field(header, "seed", 0, MAX_SEED) if "seed" in header else 0
        canvas = _rect_field(header, "canvas")
        order = layer.order if len(layer.order) == 4 else layer.order + "A"
        client = self.client()
        info = client.info()
        if not info.sketch:
            raise no_sketch(info.pack_name)
        specs = edit_specs(header, info)
        drawing = masked_drawing(layer.image, selection_mask(frame, layer.image))
        _check_sketch_size(drawing)
        try:
            sketched = face_from_sketch(client, drawing, follow, specs, seed=seed,
                                        on_event=on_event, cancel=cancel)  # fmt: skip
        except ClientError as err:
            if err.code != "invalid_argument":
                raise
            raise WorkerError("bad_drawing", err.message, DRAW_LINES) from None
        face, box = sketched.image, sketched.box
        x0, y0, x1, y1 = box.x, box.y, box.x + box.side, box.y + box.side
        if canvas is not None:
            cx, cy, cw, ch = canvas
            x0, y0, x1, y1 = max(x0, cx), max(y0, cy), min(x1, cx + cw), min(y1, cy + ch)
            if x1 <= x0 or y1 <= y0:
                raise WorkerError(
                    "bad_request",
                    "the face would lie wholly off the canvas",
                    "Draw the face on the canvas.",
                )
        shown = face[y0 - box.y : y1 - box.y, x0 - box.x : x1 - box.x]
        opaque = np.concatenate([shown, np.ones((*shown.shape[:2], 1), np.float32)], axis=2)
        data = pixels.to_host(pixels.from_float(opaque, pixels.dtype_for_host(layer.dtype)),
                              layer.dtype, order)  # fmt: skip
        fields = {"left": x0, "top": y0, "box": [box.x, box.y, box.side], "follow": follow,
                  "seed": seed, "notes": face_notes(sketched.short_edits, info)}  # fmt: skip
        return fields, [Array("image", (y1 - y0, x1 - x0, 4), layer.dtype, data)]

    # -- parts -----------------------------------------------------------------------------

    def client(self) -> FacesmithClient:
        if self._client is not None and not self._healthy():
            self.reconnect()
        if self._client is None:
            self._client = self._connect()
        return self._client

    def reconnect(self) -> None:
        """Drop the connection: the next request makes a new one (and ``connect`` starts a
        new local server if the old one died)."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def detector(self) -> Detector:
        if self._detector is None:
            self._detector = self._load_detector()
        return self._detector

    def _faces(self, frame: Frame, layer: LayerImage) -> list[Face]:
        given = frame.header.get("faces")
        if given is not None:
            height, width = layer.image.shape[:2]
            faces = [check_face(face_from_wire(f), width, height) for f in _list(given, "faces")]
        else:
            faces = find_faces(layer.image, self.detector(), _min_face_size(frame.header))
        mask = selection_mask(frame, layer.image)
        faces = selected(faces, mask)
        if not faces:
            raise WorkerError(
                "no_face",
                "no face to edit" + (" inside the selection" if mask is not None else ""),
                "Select an area around a face, clear the selection, or pick faces to edit.",
            )
        return faces

    def _inverted(
        self,
        layer: LayerImage,
        faces: list[Face],
        client: FacesmithClient,
        cancel: CancelToken,
        on_event: ProgressFn,
    ) -> InvertedPhoto:
        """Each face is inverted once per photo: moving a slider only renders again."""
        key = (layer.digest, tuple(f.box for f in faces))
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        photo = invert_photo(
            layer.image, client, None, faces=faces, on_event=on_event, cancel=cancel
        )
        self._last = (key, photo)
        return photo


# -- translation ---------------------------------------------------------------------------------


def layer_image(frame: Frame) -> LayerImage:
    array = frame.arrays.get("image")
    if array is None or len(array.shape) != 3:
        raise WorkerError("bad_request", "the request has no image array [height, width, channels]")
    order = frame.header.get("order")
    try:
        height, width, channels = array.shape
        image = pixels.from_host(array.data, (height, width, channels), array.dtype, str(order))
    except ValueError as err:
        raise WorkerError(
            "unsupported_image", f"this layer cannot be edited: {err}", "Convert it to RGB/RGBA."
        ) from None
    digest = hashlib.blake2b(array.data, digest_size=16).hexdigest()
    key = f"{digest}:{array.shape}:{array.dtype}:{order}"
    return LayerImage(image, array.dtype, str(order), key)


def selection_mask(frame: Frame, image: np.ndarray) -> np.ndarray | None:
    array = frame.arrays.get("selection")
    if array is None:
        return None
    if array.dtype != "u8" or array.shape != image.shape[:2]:
        raise WorkerError("bad_request", "the selection mask must be u8 [height, width]")
    return np.frombuffer(array.data, dtype=np.uint8).reshape(array.shape)


def selected(faces: list[Face], mask: np.ndarray | None) -> list[Face]:
    """The faces whose box centre lies inside ``mask`` (all of them without one)."""
    if mask is None:
        return faces
    height, width = mask.shape
    keep = []
    for face in faces:
        x = min(max(int((face.box[0] + face.box[2]) / 2), 0), width - 1)
        y = min(max(int((face.box[1] + face.box[3]) / 2), 0), height - 1)
        if mask[y, x] > 127:
            keep.append(face)
    return keep


def face_to_wire(face: Face, in_selection: bool) -> dict[str, Any]:
    return {
        "box": [float(v) for v in face.box],
        "score": float(face.score),
        "landmarks": np.asarray(face.landmarks, dtype=float).tolist(),
        "in_selection": in_selection,
    }


def face_from_wire(wire: Any) -> Face:
    try:
        box = tuple(float(v) for v in wire["box"])
        landmarks = np.asarray(wire["landmarks"], dtype=np.float32)
        score = float(wire.get("score", 1.0))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise WorkerError("bad_request", f"bad face {wire!r}") from None
    if len(box) != 4 or landmarks.shape != (5, 2) or not np.isfinite(landmarks).all():
        raise WorkerError("bad_request", "a face needs a box [x0, y0, x1, y1] and 5 landmarks")
    return Face((box[0], box[1], box[2], box[3]), score, landmarks)


def check_face(face: Face, width: int, height: int) -> Face:
    """``face`` if it can be aligned in a ``width`` x ``height`` layer: a finite box with
    x0 < x1 and y0 < y1, landmarks that frame a face of at least MIN_FACE_PX, everything
    within the layer grown by its own size. Bad faces are the caller's error (bad_request)."""
    box = np.asarray(face.box, dtype=np.float64)
    points = np.asarray(face.landmarks, dtype=np.float64)
    if not (np.isfinite(box).all() and np.isfinite(points).all()):
        raise WorkerError("bad_request", "a face's box and landmarks must be finite numbers")
    if box[2] <= box[0] or box[3] <= box[1]:
        raise WorkerError("bad_request", "a face's box must have x0 < x1 and y0 < y1")
    xs, ys = np.concatenate([box[0::2], points[:, 0]]), np.concatenate([box[1::2], points[:, 1]])
    if xs.min() < -width or xs.max() > 2 * width or ys.min() < -height or ys.max() > 2 * height:
        raise WorkerError(
            "bad_request", f"a face lies far outside the {width}x{height} layer", PICK_FACES
        )
    try:
        centre, x, _ = ffhq_quad(points)
    except ValueError as err:
        raise WorkerError("bad_request", f"a face cannot be aligned: {err}", PICK_FACES) from None
    if not np.isfinite(centre).all() or 2 * float(np.hypot(*x)) < MIN_FACE_PX:
        raise WorkerError(
            "bad_request",
            f"a face's landmarks frame less than {MIN_FACE_PX} px: they are degenerate",
            PICK_FACES,
        )
    return face


def edit_specs(header: dict[str, Any], info: ServerInfo, fast: bool = False) -> list[EditSpec]:
    specs = []
    for item in _list(header.get("edits", []), "edits"):
        try:
            specs.append(
                EditSpec(
                    str(item["name"]),
                    float(item.get("strength", 0.0)),
                    mode=str(item.get("mode", "relative")),
                    target=float(item.get("target", 0.0)),
                )
            )
        except (KeyError, TypeError, ValueError):
            raise WorkerError("bad_request", f"bad edit {item!r}") from None
    try:
        (check_fast_edits if fast else check_edits)(info, specs)
    except ValueError as err:
        raise WorkerError(
            "unknown_edit", str(err), "Pick one of the pack's edits within its range."
        ) from None
    return specs


def face_square(face: np.ndarray, side: int) -> np.ndarray:
    """float32 [side, side, 4]: ``face`` (float RGB, square) scaled to ``side``, opaque."""
    interpolation = cv2.INTER_AREA if side < face.shape[0] else cv2.INTER_CUBIC
    scaled = np.clip(cv2.resize(face, (side, side), interpolation=interpolation), 0.0, 1.0)
    return np.concatenate([scaled, np.ones((side, side, 1), np.float32)], axis=2)


def masked_drawing(image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``image`` as float RGB(A), with everything outside ``mask`` (if any) made transparent:
    no lines there."""
    drawing = pixels.to_float(image)
    if mask is None:
        return drawing
    cover = (mask > 127).astype(np.float32)[:, :, None]
    colour = pixels.rgb(drawing)
    alpha = pixels.alpha(drawing)
    return np.concatenate([colour, cover if alpha is None else alpha * cover], axis=2)


def _check_sketch_size(drawing: np.ndarray) -> None:
    """WorkerError if the lines were drawn so large that the face would be bigger than
    MAX_NEW_FACE_SIDE (checked only for drawings big enough for that)."""
    if max(drawing.shape[:2]) * (1 + 2 * HEAD_MARGIN) <= MAX_NEW_FACE_SIDE:
        return
    try:
        side = head_box(pixels.ink(drawing)).side
    except EmptyDrawing:
        return  # no lines: the pipeline says so
    if side > MAX_NEW_FACE_SIDE:
        raise WorkerError(
            "unsupported_image",
            f"the lines would make a face of {side} px: larger than {MAX_NEW_FACE_SIDE} px",
            "Draw the face smaller, or scale the image down.",
        )


def _unit_field(header: dict[str, Any], name: str, default: float) -> float:
    value = header.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise WorkerError("bad_request", f"{name} must be a number from 0 to 1")
    return float(value)


def _rect_field(header: dict[str, Any], name: str) -> tuple[int, int, int, int] | None:
    value = header.get(name)
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 4
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        or value[2] < 1
        or value[3] < 1
    ):
        raise WorkerError("bad_request", f"{name} must be [x, y, width, height] (whole numbers)")
    return value[0], value[1], value[2], value[3]


def _int_field(header: dict[str, Any], name: str, low: int, high: int) -> int:
    value = header.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise WorkerError("bad_request", f"{name} must be a whole number from {low} to {high}")
    return value


def _truncation(header: dict[str, Any]) -> float | None:
    value = header.get("truncation")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise WorkerError("bad_request", "truncation must be a number from 0 to 1")
    return float(value)


def preview_resolution(info: ServerInfo) -> int:
    """The fastest preview size that still shows a face (0 = full size if there is none)."""
    sizes = sorted(info.preview_resolutions)
    big_enough = [s for s in sizes if s >= PREVIEW_SIDE]
    if big_enough:
        return big_enough[0]
    return sizes[-1] if sizes else 0


def _min_face_size(header: dict[str, Any]) -> int:
    value = header.get("min_face_size", 40)
    if not isinstance(value, int) or isinstance(value, bool) or value < 12:
        raise WorkerError("bad_request", "min_face_size must be an integer of at least 12")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise WorkerError("bad_request", f"'{what}' must be a list")
    return value


def client_error(err: ClientError) -> WorkerError:
    """A server failure as the user sees it in the host."""
    if err.code == "unavailable":
        return WorkerError(
            "unavailable",
            f"the facesmith server is not reachable: {err.message}",
            "Start the server (facesmith-server --pack DIR), or reinstall with "
            "--server local so the runtime starts one itself.",
        )
    if err.code == "cancelled":
        return WorkerError("cancelled", "cancelled")
    return WorkerError("server_error", err.message, "See the server's log for details.")
