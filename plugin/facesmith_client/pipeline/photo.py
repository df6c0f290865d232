"""Photo in, edited photo out: detect → align → server (invert + edit + render, or one pass of
the pack's students with ``fast``) → paste back.

Every function takes and returns images in facesmith.pixels conventions; the output has the
input's size, dtype and channels (alpha untouched), and pixels away from the faces are
bit-identical to the input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, cast

import cv2
import numpy as np

from facesmith import pixels, wire
from facesmith.alignment import FFHQ, Template, parse_alignment
from facesmith.quality import DEFAULT_PASTE_MODE, PASTE_MODES
from facesmith_client.events import FaceResult, Progress, ShortEdit
from facesmith_client.remote.client import (
    MAX_MESSAGE_BYTES,
    CancelToken,
    ClientError,
    EditSpec,
    FacesmithClient,
    InvertOptions,
    ServerInfo,
    check_edits,
    check_fast_edits,
    collect_result,
)
from facesmith_client.vision.align import align_face
from facesmith_client.vision.blend import face_mask, paste_back, replace_weight
from facesmith_client.vision.detect import Detector, Face, detect_faces

Mode = Literal["adaptive", "residual", "replace"]
MODES: tuple[Mode, ...] = cast(tuple[Mode, ...], PASTE_MODES)
DEFAULT_MODE = cast(Mode, DEFAULT_PASTE_MODE)
ProgressFn = Callable[[Progress], None]

# Most faces one request may hold (the server's limit) and the share of the gRPC message
# limit a request or response may use; larger photos are sent in several calls.
MAX_FACES_PER_CALL = wire.MAX_FACES
MESSAGE_BUDGET_BYTES = MAX_MESSAGE_BYTES * 3 // 4


class NoFaceFound(ValueError):
    """The photo holds no face the detector accepts."""


@dataclass(frozen=True)
class AlignedFace:
    """One detected face and its aligned crop."""

    face: Face
    crop: np.ndarray  # float32 [r, r, 3] RGB 0..1
    matrix: np.ndarray  # [2, 3] affine, image → crop pixels


@dataclass(frozen=True)
class InvertedPhoto:
    """A photo whose faces the server has inverted; render it again with any edits."""

    image: np.ndarray  # the input photo (pixels conventions)
    faces: tuple[AlignedFace, ...]
    handles: tuple[str, ...]  # server cache handles, one per face
    latents: tuple[np.ndarray, ...]  # [num_ws, dim] float32 each (used if handles expire)
    reconstructions: tuple[np.ndarray, ...]  # float32 [r, r, 3]: each face without edits


@dataclass(frozen=True)
class EditedPhoto:
    """A photo with its faces edited, and per face (in order) the set and swap edits that
    stopped at the end of their range on it (in words: ``notes.short_edit_notes``)."""

    image: np.ndarray  # pixels conventions, the input's size, dtype and channels
    faces: tuple[Face, ...]
    short_edits: tuple[tuple[ShortEdit, ...], ...]


# -- stages ------------------------------------------------------------------------------------


def find_faces(image: np.ndarray, detector: Detector, min_face_size: int = 40) -> list[Face]:
    """Faces left to right; NoFaceFound when there is none."""
    faces = detect_faces(image, detector, min_face_size=min_face_size)
    if not faces:
        h, w = image.shape[:2]
        raise NoFaceFound(
            f"no face found in the {w}x{h} image (faces smaller than {min_face_size} px are "
            "ignored; try a smaller --min-face-size)"
        )
    return faces


def align_faces(
    image: np.ndarray, faces: Sequence[Face], size: int, template: Template = FFHQ
) -> list[AlignedFace]:
    """size x size crops of ``faces``, framed by the pack's ``template``."""
    aligned = []
    for face in faces:
        crop, matrix = align_face(image, face.landmarks, size, template)
        aligned.append(AlignedFace(face, crop, matrix))
    return aligned


def wire_dtype(image: np.ndarray) -> np.dtype:
    """The dtype crops and results travel in: 8-bit for 8-bit photos, else 16-bit."""
    return np.dtype(np.uint8) if image.dtype == np.uint8 else np.dtype(np.uint16)


def paste_faces(
    image: np.ndarray,
    faces: Sequence[AlignedFace],
    edited: Sequence[np.ndarray],
    reconstructions: Sequence[np.ndarray] | None = None,
    adaptive: bool = False,
) -> np.ndarray:
    """Blend each edited crop (float32 [r, r, 3]) back into ``image``.

    With ``reconstructions`` only the edit (edited − reconstruction) is added to the photo
    (residual mode: the photo's own detail survives), or with ``adaptive`` the crop itself
    where the edit changes the face much (`blend.replace_weight`); without, the crop replaces
    the face.
    """
    out = image
    masks: dict[int, np.ndarray] = {}  # one per crop size; the framing sizes it to the face
    for i, (aligned, crop) in enumerate(zip(faces, edited, strict=True)):
        recon = reconstructions[i] if reconstructions is not None else None
        if crop.shape[0] not in masks:
            masks[crop.shape[0]] = face_mask(crop.shape[0])
        mask = masks[crop.shape[0]]
        replace = replace_weight(crop, recon) if adaptive and recon is not None else None
        out = paste_back(out, crop, mask, aligned.matrix, reconstruction=recon, replace=replace)
    return out


# -- one-shot edit -----------------------------------------------------------------------------


def edit_photo(
    image: np.ndarray,
    client: FacesmithClient,
    detector: Detector | None,
    edits: Sequence[EditSpec],
    *,
    mode: Mode = DEFAULT_MODE,
    min_face_size: int = 40,
    refine_steps: int = 0,
    quality: str = "default",
    faces: Sequence[Face] | None = None,
    fast: bool = False,
    on_event: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> EditedPhoto:
    """Apply ``edits`` to every face of ``image``.

    ``faces`` skips detection (e.g. faces the user picked); otherwise ``detector`` finds them.
    One Edit call carries all crops (the server batches them); NoFaceFound if there are none.
    ``fast``: the pack's students edit the crops in one pass (no inversion); in residual mode
    the change they make is added to the photo.
    """
    image = pixels.check_image(image)
    _check_mode(mode)
    info = client.info()
    template = pack_template(info)
    (check_fast_edits if fast else check_edits)(info, edits)
    found = _faces_or_detect(image, detector, faces, min_face_size)
    aligned = align_faces(image, found, info.resolution, template)
    adaptive = mode == "adaptive"
    if fast:
        edited, sent = translate_crops(
            client, aligned, edits, wire_dtype(image), residual=mode != "replace", cancel=cancel
        )
        out = paste_faces(image, aligned, edited, sent, adaptive=adaptive)
        return EditedPhoto(out, tuple(found), ((),) * len(found))
    options = InvertOptions(
        refine_steps=refine_steps, include_reconstruction=mode != "replace", quality=quality
    )
    edited, recons, short = edit_crops(
        client, aligned, edits, options, wire_dtype(image), on_event=on_event, cancel=cancel
    )
    out = paste_faces(image, aligned, edited, recons, adaptive=adaptive)
    return EditedPhoto(out, tuple(found), tuple(short))


def edit_crops(
    client: FacesmithClient,
    aligned: Sequence[AlignedFace],
    edits: Sequence[EditSpec],
    options: InvertOptions,
    dtype: np.dtype,
    *,
    on_event: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray] | None, list[tuple[ShortEdit, ...]]]:
    """Edit aligned crops (of one photo or many) in as few calls as the message limit allows
    → (edited crops, reconstructions if ``options`` asks for them — float32 [r, r, 3] each —
    and per crop the set and swap edits that stopped short on it)."""
    results: list[FaceResult] = []
    resolution = aligned[0].crop.shape[0] if aligned else 0
    for chunk in _chunks(list(aligned), faces_per_call(resolution, dtype)):
        events = client.edit(
            [pixels.from_float(a.crop, dtype) for a in chunk],
            edits,
            options,
            output_dtype=dtype,
            cancel=cancel,
        )
        results.extend(collect_result(events, on_event).faces)
    edited = [_float_rgb(r.image, "image") for r in results]
    short = [r.short_edits for r in results]
    if not options.include_reconstruction:
        return edited, None, short
    return edited, [_float_rgb(r.reconstruction, "reconstruction") for r in results], short


def translate_crops(
    client: FacesmithClient,
    aligned: Sequence[AlignedFace],
    edits: Sequence[EditSpec],
    dtype: np.dtype,
    *,
    residual: bool,
    cancel: CancelToken | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Aligned crops edited in one pass by the pack's students → (edited crops, and with
    ``residual`` what each is pasted against: the crop as sent), float32 [r, r, 3] each — the
    shape of ``edit_crops``'s answer."""
    edited: list[np.ndarray] = []
    resolution = aligned[0].crop.shape[0] if aligned else 0
    for chunk in _chunks(list(aligned), faces_per_call(resolution, dtype)):
        if cancel is not None and cancel.cancelled:
            raise ClientError("cancelled", "cancelled")
        crops = [pixels.from_float(a.crop, dtype) for a in chunk]
        result = client.translate(crops, edits, output_dtype=dtype)
        edited += [_float_rgb(r.image, "image") for r in result.faces]
    if not residual:
        return edited, None
    # the crops as the server received them (quantised): only the student's change is pasted
    return edited, [pixels.to_float(pixels.from_float(a.crop, dtype)) for a in aligned]


# -- invert once, render many (sliders, previews, sweeps) ----------------------------------------


def invert_photo(
    image: np.ndarray,
    client: FacesmithClient,
    detector: Detector | None,
    *,
    min_face_size: int = 40,
    refine_steps: int = 0,
    quality: str = "default",
    faces: Sequence[Face] | None = None,
    on_event: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> InvertedPhoto:
    """Detect, align and invert every face once; then ``render_photo`` any edits cheaply."""
    image = pixels.check_image(image)
    info = client.info()
    template = pack_template(info)
    found = _faces_or_detect(image, detector, faces, min_face_size)
    aligned = align_faces(image, found, info.resolution, template)
    dtype = wire_dtype(image)
    options = InvertOptions(refine_steps=refine_steps, include_reconstruction=True, quality=quality)
    results: list[FaceResult] = []
    for chunk in _chunks(aligned, faces_per_call(info.resolution, dtype)):
        events = client.invert(
            [pixels.from_float(a.crop, dtype) for a in chunk],
            options,
            output_dtype=dtype,
            cancel=cancel,
        )
        results.extend(collect_result(events, on_event).faces)
    return InvertedPhoto(
        image=image,
        faces=tuple(aligned),
        handles=tuple(r.handle for r in results),
        latents=tuple(_latent(r) for r in results),
        reconstructions=tuple(_float_rgb(r.reconstruction, "reconstruction") for r in results),
    )


def render_photo(
    photo: InvertedPhoto,
    client: FacesmithClient,
    edits: Sequence[EditSpec],
    *,
    mode: Mode = DEFAULT_MODE,
    resolution: int = 0,
) -> EditedPhoto:
    """``photo`` with ``edits`` applied to its faces; no encoder runs.

    ``resolution`` 0 renders at full size; a preview resolution of the server renders faster
    and is upsampled (residual mode then uses a reconstruction at the same resolution, so the
    blur of the upsampling cancels out of the edit).
    """
    _check_mode(mode)
    info = client.info()
    check_edits(info, edits)
    preview = resolution not in (0, info.resolution)
    dtype = wire_dtype(photo.image)
    edited: list[np.ndarray] = []
    recons: list[np.ndarray] = []
    short: list[tuple[ShortEdit, ...]] = []
    per_call = faces_per_call(info.resolution if not preview else resolution, dtype)
    for start in range(0, len(photo.faces), per_call):
        part = slice(start, start + per_call)
        result = _render(client, photo, part, edits, resolution, dtype, preview)
        edited += [_upsample(_float_rgb(r.image, "image"), info.resolution) for r in result]
        short += [r.short_edits for r in result]
        if preview:
            recons += [
                _upsample(_float_rgb(r.reconstruction, "reconstruction"), info.resolution)
                for r in result
            ]
    if not preview:
        recons = list(photo.reconstructions)
    out = paste_faces(photo.image, photo.faces, edited, recons if mode != "replace" else None,
                      adaptive=mode == "adaptive")  # fmt: skip
    return EditedPhoto(out, tuple(a.face for a in photo.faces), tuple(short))


def _render(
    client: FacesmithClient,
    photo: InvertedPhoto,
    part: slice,
    edits: Sequence[EditSpec],
    resolution: int,
    dtype: np.dtype,
    include_reconstruction: bool,
) -> tuple[FaceResult, ...]:
    """Render faces ``part`` by handle; by latent if the server no longer caches them."""
    refs: list[str | np.ndarray] = list(photo.handles[part])
    if not all(refs):
        refs = list(photo.latents[part])
    try:
        return _render_refs(client, refs, edits, resolution, dtype, include_reconstruction)
    except ClientError as err:
        if err.code != "not_found":
            raise
    latents: list[str | np.ndarray] = list(photo.latents[part])
    return _render_refs(client, latents, edits, resolution, dtype, include_reconstruction)


def _render_refs(
    client: FacesmithClient,
    refs: list[str | np.ndarray],
    edits: Sequence[EditSpec],
    resolution: int,
    dtype: np.dtype,
    include_reconstruction: bool,
) -> tuple[FaceResult, ...]:
    return client.render(
        refs,
        edits,
        resolution=resolution,
        output_dtype=dtype,
        include_reconstruction=include_reconstruction,
    ).faces


# -- helpers -------------------------------------------------------------------------------------


def faces_per_call(resolution: int, dtype: np.dtype) -> int:
    """How many faces fit in one call: an edited image and a reconstruction come back per face
    (uncompressed size as the worst case)."""
    per_face = 2 * resolution * resolution * 3 * np.dtype(dtype).itemsize
    return int(max(1, min(MAX_FACES_PER_CALL, MESSAGE_BUDGET_BYTES // per_face)))


def _chunks(items: list[AlignedFace], size: int) -> list[list[AlignedFace]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _faces_or_detect(
    image: np.ndarray,
    detector: Detector | None,
    faces: Sequence[Face] | None,
    min_face_size: int,
) -> list[Face]:
    if faces is not None:
        if not faces:
            raise NoFaceFound("no face given")
        return list(faces)
    if detector is None:
        raise ValueError(
            "pass a detector (facesmith_client.vision.detect.load_detector()) or faces"
        )
    return find_faces(image, detector, min_face_size)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def pack_template(info: ServerInfo) -> Template:
    """How the server's pack frames faces (its training crops); ValueError if unreadable."""
    try:
        return parse_alignment(info.alignment)
    except ValueError as err:
        raise ValueError(
            f"the server's pack declares an alignment this client cannot use: {err}"
        ) from None


def _float_rgb(image: np.ndarray | None, what: str) -> np.ndarray:
    """A returned face as float32 [r, r, 3] 0..1."""
    if image is None:
        raise ClientError("internal", f"the server returned no {what} for a face")
    return pixels.to_float(pixels.rgb(image))


def _latent(result: FaceResult) -> np.ndarray:
    if result.latent is None:
        raise ClientError("internal", "the server returned no latent for a face")
    return result.latent


def _upsample(image: np.ndarray, size: int) -> np.ndarray:
    """float32 [r, r, 3] → [size, size, 3] (bicubic, kept in 0..1)."""
    if image.shape[0] == size:
        return image
    resized = cv2.resize(image, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(resized, 0.0, 1.0).astype(np.float32)
