"""The stages of a batch, the same whatever the engine: prepare a photo (decode, detect, align),
edit the faces of a group of photos in one server call, finish a photo (paste back, write
atomically). A photo that cannot be done carries its error to the end instead of stopping the
run; only errors that end the whole run (the server gone, a bad token) propagate.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from facesmith.alignment import Template
from facesmith_client.batch.plan import Job
from facesmith_client.events import ShortEdit
from facesmith_client.pipeline.notes import short_edit_notes
from facesmith_client.pipeline.photo import (
    DEFAULT_MODE,
    AlignedFace,
    Mode,
    align_faces,
    edit_crops,
    find_faces,
    pack_template,
    paste_faces,
    translate_crops,
    wire_dtype,
)
from facesmith_client.remote.client import (
    CancelToken,
    ClientError,
    EditSpec,
    FacesmithClient,
    InvertOptions,
    ServerInfo,
    check_edits,
    check_fast_edits,
)
from facesmith_client.vision.detect import Detector
from facesmith_client.vision.images import PhotoFile, read_photo, write_photo


@dataclass(frozen=True)
class EditSettings:
    """What every photo of the batch gets."""

    edits: tuple[EditSpec, ...]
    mode: Mode = DEFAULT_MODE
    quality: str = "default"
    refine_steps: int = 0
    min_face_size: int = 40
    fast: bool = False  # one pass of the pack's students instead of inversion

    def options(self) -> InvertOptions:
        return InvertOptions(
            refine_steps=self.refine_steps,
            include_reconstruction=self.mode != "replace",
            quality=self.quality,
        )


@dataclass(frozen=True)
class Frame:
    """How the pack frames faces: what the prepare stage needs to know of the model."""

    resolution: int
    template: Template


def server_frame(info: ServerInfo, settings: EditSettings) -> Frame:
    """The frame of the server's pack; ValueError if it cannot make the batch's edits."""
    (check_fast_edits if settings.fast else check_edits)(info, settings.edits)
    return Frame(info.resolution, pack_template(info))


@dataclass(frozen=True)
class PhotoWork:
    """A photo on its way through the stages."""

    job: Job
    image: np.ndarray | None = None
    source: PhotoFile | None = None
    faces: tuple[AlignedFace, ...] = ()
    edited: tuple[np.ndarray, ...] = ()
    reconstructions: tuple[np.ndarray, ...] | None = None
    adaptive: bool = False  # paste-back mode "adaptive" (with reconstructions)
    error: str = ""
    seconds: float = 0.0
    notes: tuple[str, ...] = ()  # set and swap edits that stopped short ("face 2: …")


@dataclass(frozen=True)
class Outcome:
    """How one photo ended: its manifest line."""

    name: str
    status: str  # "edited" or "failed"
    faces: int
    seconds: float
    error: str = ""
    worker: str = ""
    notes: tuple[str, ...] = ()  # set and swap edits that stopped short ("face 2: …")

    def entry(self, edits: Sequence[EditSpec]) -> dict[str, object]:
        return {
            "photo": self.name,
            "status": self.status,
            "faces": self.faces,
            "edits": [describe_edit(e) for e in edits],
            "seconds": round(self.seconds, 3),
            "error": self.error,
            "worker": self.worker,
            "notes": list(self.notes),
        }


def describe_edit(spec: EditSpec) -> str:
    """``age=20``, ``set age=70``, ``swap gender`` (+ `` hold gender``)."""
    if spec.mode == "set":
        text = f"set {spec.name}={spec.target:g}"
    elif spec.mode == "swap":
        text = f"swap {spec.name}"
    else:
        text = f"{spec.name}={spec.strength:g}"
    return text + "".join(f" hold {h}" for h in spec.hold)


def process_group(
    jobs: Sequence[Job],
    client: FacesmithClient,
    detector: Detector,
    frame: Frame,
    settings: EditSettings,
    worker: str,
    cancel: CancelToken | None = None,
) -> list[Outcome]:
    """All three stages for a group of photos, in this process."""
    prepared = [prepare_photo(job, detector, frame, settings.min_face_size) for job in jobs]
    return [finish_photo(work, worker) for work in edit_group(client, prepared, settings, cancel)]


def prepare_photo(job: Job, detector: Detector, frame: Frame, min_face_size: int) -> PhotoWork:
    """Decode, detect and align one photo (its error recorded if it cannot be)."""
    started = time.perf_counter()
    try:
        image, source = read_photo(job.source)
        found = find_faces(image, detector, min_face_size)
        aligned = align_faces(image, found, frame.resolution, frame.template)
    except ValueError as err:  # unreadable, not a photo, no face
        return PhotoWork(job, error=str(err), seconds=time.perf_counter() - started)
    return PhotoWork(job, image, source, tuple(aligned), seconds=time.perf_counter() - started)


def edit_group(
    client: FacesmithClient,
    photos: Sequence[PhotoWork],
    settings: EditSettings,
    cancel: CancelToken | None = None,
) -> list[PhotoWork]:
    """Edit the faces of all ``photos`` together (one call per pixel depth, split as the message
    limit requires); each photo is charged its share of the time by faces."""
    out = list(photos)
    depths = {
        i: wire_dtype(p.image).str
        for i, p in enumerate(photos)
        if not p.error and p.image is not None
    }
    for dtype in sorted(set(depths.values())):
        members = [i for i, depth in depths.items() if depth == dtype]
        faces = [face for i in members for face in photos[i].faces]
        started = time.perf_counter()
        try:
            edited, recons, short = _edit_faces(client, faces, settings, np.dtype(dtype), cancel)
        except ClientError as err:
            if err.ends_the_run:
                raise
            for i in members:
                out[i] = replace(out[i], error=f"refused by the server: {err}")
            continue
        per_face = (time.perf_counter() - started) / len(faces)
        start = 0
        for i in members:
            count = len(photos[i].faces)
            part = slice(start, start + count)
            out[i] = replace(
                out[i],
                edited=tuple(edited[part]),
                reconstructions=tuple(recons[part]) if recons is not None else None,
                adaptive=settings.mode == "adaptive",
                seconds=out[i].seconds + per_face * count,
                notes=tuple(short_edit_notes(short[part], client.info())),
            )
            start += count
    return out


def _edit_faces(
    client: FacesmithClient,
    faces: Sequence[AlignedFace],
    settings: EditSettings,
    dtype: np.dtype,
    cancel: CancelToken | None,
) -> tuple[list[np.ndarray], list[np.ndarray] | None, list[tuple[ShortEdit, ...]]]:
    """(edited crops, reconstructions for residual paste-back or None, the set and swap edits
    that stopped short on each): by inversion, or in one pass by the pack's students (whose
    residual is taken against the crops themselves; they make no set edits)."""
    if not settings.fast:
        return edit_crops(client, faces, settings.edits, settings.options(), dtype, cancel=cancel)
    residual = settings.mode != "replace"
    edited, sent = translate_crops(client, faces, settings.edits, dtype, residual=residual,
                                   cancel=cancel)  # fmt: skip
    return edited, sent, [()] * len(faces)


def finish_photo(work: PhotoWork, worker: str = "") -> Outcome:
    """Paste the edited faces back and write the result atomically (its folder made)."""
    started = time.perf_counter()
    faces = len(work.faces)
    if work.error or work.image is None:
        return Outcome(work.job.name, "failed", faces, work.seconds, work.error, worker)
    try:
        result = paste_faces(work.image, work.faces, work.edited, work.reconstructions,
                             adaptive=work.adaptive)  # fmt: skip
        work.job.out.parent.mkdir(parents=True, exist_ok=True)
        write_photo(work.job.out, result, work.source)
    except (ValueError, OSError) as err:
        return Outcome(work.job.name, "failed", faces, work.seconds, f"not written: {err}", worker)
    seconds = work.seconds + time.perf_counter() - started
    return Outcome(work.job.name, "edited", faces, seconds, "", worker, work.notes)
