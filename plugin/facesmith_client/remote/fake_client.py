"""A deterministic in-process FacesmithClient for tests: no server, no torch.

Its "generator" reconstructs a crop as a slightly blurred copy and an edit as a colour shift
(age → brightness, gender → red, bald → green, smile → blue, in proportion to strength / max),
so tests can see where and how strongly a face changed; a face from a sketch is the drawing's
lines, dark on a face of the seed's colour.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import cv2
import numpy as np
from numpy.typing import DTypeLike

from facesmith import pixels
from facesmith.quality import DEFAULT_FOLLOW, MAX_SEED, SKETCH_FOLLOW_STEPS
from facesmith_client.events import FaceResult, Progress, Result
from facesmith_client.remote.client import (
    DEFAULT_OPTIONS,
    CancelToken,
    ClientError,
    EditInfo,
    EditSpec,
    FacesmithClient,
    InvertOptions,
    ServerInfo,
    StudentInfo,
    cancelled_error,
    check_edits,
    check_fast_edits,
)

FAKE_EDITS = (
    EditInfo("age", "older (+) / younger (−)", -50.0, 50.0, 0.0, "w"),
    EditInfo("gender", "more male (+) / more female (−)", -2.0, 2.0, 0.0, "w+"),
    EditInfo("bald", "less hair (+)", -2.0, 2.0, 0.0, "w"),
    EditInfo("smile", "smile (+)", -2.0, 2.0, 0.0, "w"),
)
# One-pass edits: age by a strength, gender swapped (the swap shifts as gender at max).
FAKE_STUDENTS = (
    StudentInfo("age", "age", "relative", -50.0, 50.0),
    StudentInfo("gender-swap", "gender", "swap"),
)
# RGB shift of a full-strength edit; edits not listed shift all channels a little.
_EDIT_COLOURS = {
    "age": (0.2, 0.2, 0.2),
    "gender": (0.2, 0.0, 0.0),
    "bald": (0.0, 0.2, 0.0),
    "smile": (0.0, 0.0, 0.2),
}


class FakeClient(FacesmithClient):
    """Deterministic fake server. ``calls`` records (method, number of faces) per call;
    set ``fail_with`` to make every call raise that error."""

    def __init__(self, resolution: int = 64, num_ws: int = 10, latent_dim: int = 64) -> None:
        self._info = ServerInfo(
            pack_name="fake",
            resolution=resolution,
            latent_space="w+",
            num_ws=num_ws,
            latent_dim=latent_dim,
            device="fake",
            edits=FAKE_EDITS,
            preview_resolutions=tuple(r for r in (16, 32, 64, 128, 256, 512) if r < resolution),
            max_batch=4,
            version="fake",
            alignment="ffhq",
            students=FAKE_STUDENTS,
            sketch=True,
        )
        self.calls: list[tuple[str, int]] = []
        self.fail_with: ClientError | None = None
        self.closed = False
        self._crops: dict[str, np.ndarray] = {}  # handle → float RGB crop
        self._handles = itertools.count()

    def info(self) -> ServerInfo:
        self._called("info", 0)
        return self._info

    def invert(
        self,
        crops: Sequence[np.ndarray],
        options: InvertOptions = DEFAULT_OPTIONS,
        *,
        output_dtype: DTypeLike = np.uint8,
        cancel: CancelToken | None = None,
    ) -> Iterator[Progress | Result]:
        self._called("invert", len(crops))
        floats = self._check_crops(crops)
        return self._invert_events(floats, options, output_dtype, cancel)

    def render(
        self,
        faces: Sequence[str | np.ndarray],
        edits: Sequence[EditSpec] = (),
        *,
        resolution: int = 0,
        output_dtype: DTypeLike = np.uint8,
        include_reconstruction: bool = False,
    ) -> Result:
        self._called("render", len(faces))
        self._check_edits(edits)
        size = self._check_resolution(resolution)
        results = []
        for face in faces:
            crop = self._crop_for(face)
            recon = _resize(_reconstruct(crop), size)
            results.append(
                FaceResult(
                    handle=face if isinstance(face, str) else "",
                    image=pixels.from_float(_apply_edits(recon, edits), output_dtype),
                    reconstruction=(
                        pixels.from_float(recon, output_dtype) if include_reconstruction else None
                    ),
                )
            )
        return Result(tuple(results))

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
        self._called("edit", len(crops))
        floats = self._check_crops(crops)
        self._check_edits(edits)
        size = self._check_resolution(resolution)
        return self._edit_events(floats, edits, options, size, output_dtype, cancel)

    def generate(
        self,
        seeds: Sequence[int],
        edits: Sequence[EditSpec] = (),
        *,
        truncation: float | None = None,
        resolution: int = 0,
        output_dtype: DTypeLike = np.uint8,
    ) -> Result:
        """A flat face per seed, its colour drawn from the seed (so seeds repeat faces)."""
        self._called("generate", len(seeds))
        self._check_edits(edits)
        size = self._check_resolution(resolution)
        if not seeds or any(not 0 <= s <= MAX_SEED for s in seeds):
            raise ClientError("invalid_argument", f"seeds must be 1 or more in [0, {MAX_SEED}]")
        results = []
        for seed in seeds:
            colour = np.random.default_rng(seed).random(3).astype(np.float32)
            face = np.broadcast_to(colour, (size, size, 3)).astype(np.float32)
            handle = self._store(np.broadcast_to(colour, (self._info.resolution,) * 2 + (3,)))
            image = pixels.from_float(_apply_edits(face, edits), output_dtype)
            results.append(FaceResult(handle=handle, latent=self._latent(face), image=image))
        return Result(tuple(results))

    def translate(
        self,
        crops: Sequence[np.ndarray],
        edits: Sequence[EditSpec],
        *,
        output_dtype: DTypeLike = np.uint8,
    ) -> Result:
        """The crop itself (no blur: nothing is reconstructed) with the edits' colour shift."""
        self._called("translate", len(crops))
        try:
            check_fast_edits(self._info, edits)
        except ValueError as err:
            raise ClientError("invalid_argument", str(err)) from None
        floats = self._check_crops(crops)
        images = [pixels.from_float(_apply_edits(f, edits), output_dtype) for f in floats]
        return Result(tuple(FaceResult(image=image) for image in images))

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
        """The lines dark on a face whose colour the seed draws (as generate's faces)."""
        self._called("from_sketch", len(drawings))
        if not 0.0 <= follow <= 1.0:
            raise ClientError("invalid_argument", f"follow must be in [0, 1], got {follow:g}")
        if not 0 <= seed <= MAX_SEED:
            raise ClientError("invalid_argument", f"seed {seed} is out of range: 0 to {MAX_SEED}")
        self._check_edits(edits)
        inks = self._check_drawings(drawings)
        skin = np.random.default_rng(seed).random(3).astype(np.float32)
        return self._sketch_events(inks, follow, skin, edits, output_dtype, cancel)

    def close(self) -> None:
        self.closed = True

    # -- event streams (generators: nothing runs until the caller iterates) ------------------

    def _invert_events(
        self,
        crops: list[np.ndarray],
        options: InvertOptions,
        output_dtype: DTypeLike,
        cancel: CancelToken | None,
    ) -> Iterator[Progress | Result]:
        yield from _progress(options, cancel)
        faces = []
        for crop in crops:
            handle = self._store(crop)
            recon = _reconstruct(crop)
            faces.append(
                FaceResult(
                    handle=handle,
                    latent=self._latent(crop),
                    reconstruction=(
                        pixels.from_float(recon, output_dtype)
                        if options.include_reconstruction
                        else None
                    ),
                )
            )
        yield Result(tuple(faces))

    def _edit_events(
        self,
        crops: list[np.ndarray],
        edits: Sequence[EditSpec],
        options: InvertOptions,
        size: int,
        output_dtype: DTypeLike,
        cancel: CancelToken | None,
    ) -> Iterator[Progress | Result]:
        yield from _progress(options, cancel)
        faces = []
        for crop in crops:
            recon = _resize(_reconstruct(crop), size)
            faces.append(
                FaceResult(
                    handle=self._store(crop),
                    latent=self._latent(crop),
                    image=pixels.from_float(_apply_edits(recon, edits), output_dtype),
                    reconstruction=(
                        pixels.from_float(recon, output_dtype)
                        if options.include_reconstruction
                        else None
                    ),
                )
            )
        _stop_if_cancelled(cancel)
        yield Progress("render", 1, 1)
        yield Result(tuple(faces))

    def _sketch_events(
        self,
        inks: list[np.ndarray],
        follow: float,
        skin: np.ndarray,
        edits: Sequence[EditSpec],
        output_dtype: DTypeLike,
        cancel: CancelToken | None,
    ) -> Iterator[Progress | Result]:
        steps = round(follow * SKETCH_FOLLOW_STEPS)
        yield from _progress(InvertOptions(refine_steps=steps), cancel)
        faces = []
        for ink in inks:
            face = (skin * (1 - ink[:, :, None])).astype(np.float32)
            faces.append(FaceResult(handle=self._store(face), latent=self._latent(face),
                                    image=pixels.from_float(_apply_edits(face, edits),
                                                            output_dtype)))  # fmt: skip
        yield Result(tuple(faces))

    # -- validation, like the real server's -----------------------------------------------------

    def _called(self, method: str, faces: int) -> None:
        self.calls.append((method, faces))
        if self.fail_with is not None:
            raise self.fail_with

    def _check_drawings(self, drawings: Sequence[np.ndarray]) -> list[np.ndarray]:
        size = self._info.resolution
        if not drawings:
            raise ClientError("invalid_argument", "no drawings in the request")
        inks = []
        for i, drawing in enumerate(drawings):
            ink = pixels.ink(drawing)
            if ink.shape != (size, size):
                got, wanted = f"{ink.shape[1]}x{ink.shape[0]}", f"{size}x{size}"
                raise ClientError(
                    "invalid_argument", f"drawing {i} is {got}; this pack needs {wanted} drawings"
                )
            if ink.max() < 0.05:
                raise ClientError("invalid_argument", f"drawing {i} has no lines")
            inks.append(ink)
        return inks

    def _check_crops(self, crops: Sequence[np.ndarray]) -> list[np.ndarray]:
        size = self._info.resolution
        if not crops:
            raise ClientError("invalid_argument", "no faces in the request")
        floats = []
        for i, crop in enumerate(crops):
            crop = pixels.check_image(crop)
            if crop.shape[:2] != (size, size):
                raise ClientError(
                    "invalid_argument",
                    f"face {i} is {crop.shape[1]}x{crop.shape[0]}; this pack needs aligned "
                    f"{size}x{size} crops",
                )
            floats.append(pixels.to_float(pixels.rgb(crop)))
        return floats

    def _check_edits(self, edits: Sequence[EditSpec]) -> None:
        try:
            check_edits(self._info, edits)
        except ValueError as err:
            raise ClientError("invalid_argument", str(err)) from None

    def _check_resolution(self, resolution: int) -> int:
        full = self._info.resolution
        if resolution in (0, full):
            return full
        if resolution not in self._info.preview_resolutions:
            raise ClientError("invalid_argument", f"resolution {resolution} is not available")
        return resolution

    def _store(self, crop: np.ndarray) -> str:
        handle = f"fake-{next(self._handles)}"
        self._crops[handle] = crop
        return handle

    def _crop_for(self, face: str | np.ndarray) -> np.ndarray:
        if isinstance(face, str):
            if face not in self._crops:
                raise ClientError("not_found", f"unknown handle {face!r}")
            return self._crops[face]
        # A latent carries the crop's mean colour in its first three values (see _latent).
        size = self._info.resolution
        colour = np.clip(np.asarray(face, np.float32)[0, :3], 0, 1)
        return np.broadcast_to(colour, (size, size, 3)).astype(np.float32)

    def _latent(self, crop: np.ndarray) -> np.ndarray:
        """[num_ws, dim] float32 holding the crop's mean RGB first (so render can use it)."""
        latent = np.zeros((self._info.num_ws, self._info.latent_dim), np.float32)
        latent[:, :3] = crop.reshape(-1, 3).mean(axis=0)
        return latent


def _progress(options: InvertOptions, cancel: CancelToken | None) -> Iterator[Progress]:
    _stop_if_cancelled(cancel)
    yield Progress("encode", 0, 1)
    _stop_if_cancelled(cancel)
    yield Progress("encode", 1, 1)
    for step in range(1, options.refine_steps + 1):
        _stop_if_cancelled(cancel)
        yield Progress("refine", step, options.refine_steps, loss=1.0 / step)


def _stop_if_cancelled(cancel: CancelToken | None) -> None:
    if cancel is not None and cancel.cancelled:
        raise cancelled_error()


def _reconstruct(crop: np.ndarray) -> np.ndarray:
    """The fake generator's reconstruction: a slightly blurred copy, float32 [r, r, 3]."""
    return cv2.GaussianBlur(crop, (0, 0), sigmaX=1.0).astype(np.float32)


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    if image.shape[0] == size:
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)


def _apply_edits(image: np.ndarray, edits: Sequence[EditSpec]) -> np.ndarray:
    """Colour shift per edit, proportional to strength / max of its range; float32 0..1."""
    shift = np.zeros(3, np.float32)
    for spec in edits:
        top = next(e.max for e in FAKE_EDITS if e.name == spec.name)
        strength = top if spec.mode == "swap" else spec.strength
        shift += np.asarray(_EDIT_COLOURS.get(spec.name, (0.1, 0.1, 0.1)), np.float32) * (
            strength / top
        )
    return np.clip(image + shift, 0.0, 1.0).astype(np.float32)
