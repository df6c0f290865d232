"""The server's pipeline: validate, invert, edit, render, on one model pack and one device.

Knows nothing of gRPC. Images in and out follow facesmith.pixels; rendered faces come back as
float32 [r, r, 3] in 0..1. Model work is serialised on the device; at most ``max_queue`` jobs
wait or run at once, further ones are refused with Busy, and the device is shared fairly
between clients (service/admission.py).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from facesmith import pixels, wire
from facesmith.quality import (
    CHEAP_REFINE_MAX_RESOLUTION,
    CHEAP_REFINE_STEPS,
    DEFAULT_TRUNCATION,
    EDIT_MODES,
    MAX_PIVOTAL_STEPS,
    MAX_REFINE_STEPS,
    MAX_SEED,
    QUALITIES,
    SKETCH_FOLLOW_STEPS,
    most_steps,
)
from facesmith_server import devices
from facesmith_server.errors import Cancelled, InvalidInput, PackError
from facesmith_server.latent import edit, invert, pivotal, sample, sketch
from facesmith_server.model.generator import SynthesisNetwork
from facesmith_server.model.pack import Direction, Pack, Student
from facesmith_server.model.seeded_z import seeded_z
from facesmith_server.model.student import scaled_strength
from facesmith_server.service.admission import HEAVY, FairQueue, Ticket
from facesmith_server.service.cache import LatentCache, PivotCache

ProgressFn = Callable[[str, int, int, float], None]
"""on_progress(stage, done, total, loss)"""
StopFn = Callable[[], bool]

DEFAULT_REFINE_LR = 0.01
PIVOT_CACHE_BYTES = 1 << 30  # tuned generators kept for later renders


@dataclass(frozen=True)
class EditStep:
    """Move along the pack's direction ``name``, holding ``hold`` fixed: by ``strength``
    (mode "relative"), until the attribute's model says ``target`` ("set"), or to the mirror
    point across a binary attribute's boundary ("swap")."""

    name: str
    strength: float = 0.0
    hold: tuple[str, ...] = ()
    mode: str = "relative"
    target: float = 0.0


@dataclass(frozen=True)
class ShortEdit:
    """A set or swap edit that stopped at the end of its direction's range on one face:
    ``goal`` and ``reached`` by the attribute's model, in its target unit (Score.readable)."""

    name: str
    mode: str
    goal: float
    reached: float


@dataclass(frozen=True)
class EditedLatent:
    latent: np.ndarray  # [num_ws, dim]
    short: tuple[ShortEdit, ...] = ()  # the edits that did not reach their goal


@dataclass(frozen=True)
class EditInfo:
    name: str
    description: str
    min: float
    max: float
    default: float
    space: str
    group: str = ""
    kind: str = ""  # of the attribute's model: "binary" | "continuous" | "" (none: not settable)
    unit: str = ""
    target_min: float = 0.0
    target_max: float = 0.0


@dataclass(frozen=True)
class StudentInfo:
    name: str
    edit: str
    mode: str
    min: float
    max: float
    description: str


@dataclass(frozen=True)
class EngineInfo:
    pack_name: str
    resolution: int
    latent_space: str
    num_ws: int
    latent_dim: int
    device: str
    edits: tuple[EditInfo, ...]
    preview_resolutions: tuple[int, ...]
    max_batch: int
    alignment: str
    students: tuple[StudentInfo, ...] = ()
    sketch: bool = False  # the pack has a sketch encoder (faces from line drawings)


@dataclass(frozen=True)
class Inverted:
    handle: str
    latent: np.ndarray  # [num_ws, dim] float32


class Engine:
    def __init__(
        self,
        pack: Pack,
        device: torch.device,
        *,
        max_batch: int = 8,  # faces per forward pass
        max_queue: int = 4,  # jobs running or waiting before Busy
        cache_size: int = 512,  # latents kept for Render by handle
        default_refine_steps: int = CHEAP_REFINE_STEPS,  # of quality "default" on small packs
        identity: invert.IdentityLoss | None = None,  # extra refinement / PTI term
    ) -> None:
        self.pack = pack
        self.device = device
        self.max_batch = max_batch
        self.default_refine_steps = default_refine_steps
        self.identity = identity
        # The folded-weight path is fastest on CPU; GPUs do better with the batched reference.
        self.fast_render = device.type == "cpu"
        self.cache = LatentCache(cache_size)
        self.pivots: PivotCache[SynthesisNetwork] = PivotCache(PIVOT_CACHE_BYTES)
        self.max_queue = max_queue
        self.admission = FairQueue(max_queue)
        self._device_lock = threading.Lock()
        self.info = self._describe()

    def _describe(self) -> EngineInfo:
        synthesis = self.pack.generator.synthesis
        size = int(synthesis.size)
        return EngineInfo(
            pack_name=self.pack.manifest.name,
            resolution=size,
            latent_space=self.pack.manifest.latent_space,
            num_ws=int(synthesis.num_ws),
            latent_dim=int(synthesis.style_dim),
            device=devices.describe(self.device),
            edits=tuple(_edit_info(d) for d in self.pack.directions.values()),
            preview_resolutions=tuple(r for r in synthesis.resolutions if 16 <= r < size),
            max_batch=self.max_batch,
            alignment=self.pack.manifest.alignment,
            students=tuple(
                StudentInfo(s.name, s.edit, s.mode, s.min, s.max, s.description)
                for s in self.pack.students.values()
            ),
            sketch=self.pack.sketch is not None,
        )

    def admit(
        self, client: str = "", kind: str = HEAVY
    ) -> contextlib.AbstractContextManager[Ticket]:
        """Hold one queue slot for a job of ``client``; Busy when none is free. Take the
        device with ``admission.turn(ticket)`` for the model work."""
        return self.admission.admit(client, kind)

    @property
    def jobs(self) -> int:
        """Jobs running or waiting now."""
        return self.admission.jobs

    # -- inversion ---------------------------------------------------------------------------

    def invert(
        self,
        crops: Sequence[np.ndarray],
        *,
        refine_steps: int = 0,
        refine_lr: float = 0.0,
        quality: str = "encoder",
        pivotal_steps: int = 0,
        on_progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> list[Inverted]:
        """Aligned crops (pixels conventions, side = resolution) → latents, cached by handle.

        ``quality``: "encoder" (refine only if ``refine_steps``), "refine", "pivotal" (refine,
        then tune a generator per face, kept with its handle for renders) or "default" (the
        pack's cheap best: refinement for packs up to CHEAP_REFINE_MAX_RESOLUTION px)."""
        targets = self._crops_to_tensor(crops)
        steps, pivotal = self.plan(quality, refine_steps, pivotal_steps, refine_lr)
        lr = refine_lr or DEFAULT_REFINE_LR
        batches = list(torch.split(targets, self.max_batch))
        latents: list[np.ndarray] = []
        for i, batch in enumerate(batches):
            _stop_if_asked(should_stop)
            with self._device_lock:
                with torch.inference_mode():
                    ws = invert.encode(self.pack.encoder, self.pack.encoder_latent_avg, batch)
                _report(on_progress, "encode", i + 1, len(batches))
                if steps:
                    ws = invert.refine(
                        self.pack.generator.synthesis,
                        batch,
                        ws,
                        steps,
                        lr=lr,
                        on_progress=_stage_reporter(on_progress, "refine"),
                        should_stop=should_stop,
                        identity=self.identity,
                    )
            latents.extend(ws.detach().cpu().numpy().astype(np.float32))
        inverted = [Inverted(self.cache.put(lat), lat) for lat in latents]
        if pivotal:
            self._tune_pivots(targets, inverted, pivotal, on_progress, should_stop)
        return inverted

    def plan(
        self, quality: str, refine_steps: int, pivotal_steps: int, refine_lr: float = 0.0
    ) -> tuple[int, int]:
        """(refinement steps, pivotal-tuning steps) for a request; InvalidInput if an option is
        out of range (cheap: servers check before a request queues)."""
        if not (np.isfinite(refine_lr) and 0 <= refine_lr <= 1):
            raise InvalidInput("refine_lr must be in [0, 1] (0 = default)")
        if quality not in QUALITIES:
            raise InvalidInput(f"unknown quality {quality!r}; one of {', '.join(QUALITIES)}")
        if not 0 <= refine_steps <= MAX_REFINE_STEPS:
            raise InvalidInput(f"refine_steps must be in [0, {MAX_REFINE_STEPS}]")
        if not 0 <= pivotal_steps <= MAX_PIVOTAL_STEPS:
            raise InvalidInput(f"pivotal_steps must be in [0, {MAX_PIVOTAL_STEPS}]")
        if quality == "encoder":
            return refine_steps, 0
        if quality == "default":
            cheap = self.info.resolution <= CHEAP_REFINE_MAX_RESOLUTION
            return refine_steps or (self.default_refine_steps if cheap else 0), 0
        return most_steps(quality, refine_steps, pivotal_steps)

    def _tune_pivots(
        self,
        targets: torch.Tensor,
        inverted: Sequence[Inverted],
        steps: int,
        on_progress: ProgressFn | None,
        should_stop: StopFn | None,
    ) -> None:
        """Pivotal tuning of each face; the tuned generators are kept under its handle."""
        synthesis = self.pack.generator.synthesis
        size = sum(p.numel() * p.element_size() for p in synthesis.parameters())
        for i, face in enumerate(inverted):
            _stop_if_asked(should_stop)
            pivot = torch.from_numpy(face.latent[None]).to(self.device)
            with self._device_lock:
                tuned = pivotal.tune_pivot(
                    synthesis, targets[i : i + 1], pivot, steps, self._random_ws(steps, i),
                    identity=self.identity,
                    on_progress=_stage_reporter(on_progress, f"pivotal {i + 1}/{len(inverted)}"),
                    should_stop=should_stop,
                )  # fmt: skip
            self.pivots.put(face.handle, tuned, size)

    def check_generate(self, seeds: Sequence[int], truncation: float) -> None:
        """InvalidInput for no seeds, too many, one out of range, or a truncation outside
        [0, 1] (cheap: checked before a request queues)."""
        if not seeds:
            raise InvalidInput("no seeds given: one face is made per seed")
        if len(seeds) > wire.MAX_FACES:
            raise InvalidInput(f"{len(seeds)} seeds in one request; at most {wire.MAX_FACES}")
        for seed in seeds:
            if not 0 <= seed <= MAX_SEED:
                raise InvalidInput(f"seed {seed} is out of range: 0 to {MAX_SEED}")
        if not 0.0 <= truncation <= 1.0:
            raise InvalidInput(f"truncation must be in [0, 1] (1 = none), got {truncation:g}")

    def generate(self, seeds: Sequence[int], truncation: float) -> list[Inverted]:
        """The faces of ``seeds`` as W+ latents, cached under handles like inverted faces."""
        self.check_generate(seeds, truncation)
        with self._device_lock:
            w = sample.seeded_ws(self.pack.generator, seeds, truncation, self.pack.latent_avg)
        num_ws = self.info.num_ws
        latents = [np.repeat(v[None], num_ws, axis=0) for v in w.float().cpu().numpy()]
        return [Inverted(self.cache.put(latent), latent) for latent in latents]

    @torch.no_grad()
    def _random_ws(self, count: int, seed: int) -> torch.Tensor:
        """W+ [count, num_ws, dim] of the generator's own z (seeded: the same photo tunes the
        same way every time)."""
        g = self.pack.generator
        z = seeded_z(count, g.style_dim, seed)
        w = g.mapping(z.to(self.device))
        return w[:, None, :].expand(count, g.num_ws, g.style_dim)

    def _crops_to_tensor(self, crops: Sequence[np.ndarray]) -> torch.Tensor:
        """Validated crops → [N, 3, R, R] float in [-1, 1] on the device."""
        size = self.info.resolution
        _check_count(len(crops), "face")
        arrays = []
        for i, crop in enumerate(crops):
            try:
                crop = pixels.check_image(crop)
            except ValueError as err:
                raise InvalidInput(f"face {i}: {err}") from err
            if crop.shape[:2] != (size, size):
                raise InvalidInput(
                    f"face {i} is {crop.shape[1]}x{crop.shape[0]}; this pack needs aligned "
                    f"{size}x{size} crops"
                )
            arrays.append(pixels.to_float(pixels.rgb(crop)))
        batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
        return (batch * 2 - 1).to(self.device)

    # -- faces from sketches -----------------------------------------------------------------

    def check_sketch(self, follow: float, seed: int = 0) -> int:
        """The refinement steps of ``follow``; PackError if the pack has no sketch encoder,
        InvalidInput for a follow outside [0, 1] or a seed out of range (cheap: checked
        before a request queues)."""
        if self.pack.sketch is None:
            raise PackError(
                f"the pack {self.info.pack_name!r} has no sketch encoder (faces from "
                "sketches): use a pack with one (facesmith train sketch)"
            )
        if not 0.0 <= follow <= 1.0:
            raise InvalidInput(f"follow must be in [0, 1] (0 = the encoder only), got {follow:g}")
        if not 0 <= seed <= MAX_SEED:
            raise InvalidInput(f"seed {seed} is out of range: 0 to {MAX_SEED}")
        return round(follow * SKETCH_FOLLOW_STEPS)

    def from_sketch(
        self,
        drawings: Sequence[np.ndarray],
        follow: float,
        seed: int = 0,
        *,
        on_progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> list[Inverted]:
        """Line drawings (pixels conventions, side = resolution) → latents of faces drawn so,
        their colours from the face of ``seed`` (at the default truncation), cached by handle
        like inverted faces."""
        steps = self.check_sketch(follow, seed)
        encoder = self.pack.sketch
        assert encoder is not None  # check_sketch refuses a pack without one
        inks = list(torch.split(self._drawings_to_ink(drawings), self.max_batch))
        with self._device_lock, torch.inference_mode():
            colours = sample.seeded_ws(self.pack.generator, [seed], DEFAULT_TRUNCATION,
                                       self.pack.latent_avg)  # fmt: skip
        latents: list[np.ndarray] = []
        for i, ink in enumerate(inks):
            _stop_if_asked(should_stop)
            with self._device_lock:
                with torch.inference_mode():
                    ws = sketch.encode_sketch(encoder.network, encoder.latent_avg, ink)
                    ws = sketch.with_colours(ws, colours)
                _report(on_progress, "encode", i + 1, len(inks))
                if steps:
                    ws = sketch.follow_lines(
                        self.pack.generator.synthesis, ink, ws, steps,
                        on_progress=_stage_reporter(on_progress, "follow"),
                        should_stop=should_stop,
                    )  # fmt: skip
            latents.extend(ws.detach().cpu().numpy().astype(np.float32))
        return [Inverted(self.cache.put(lat), lat) for lat in latents]

    def _drawings_to_ink(self, drawings: Sequence[np.ndarray]) -> torch.Tensor:
        """Validated drawings → ink [N, 1, R, R] on the device, normalised like the encoder's
        training sketches; InvalidInput for a wrong size, an empty or an inked-over drawing."""
        size = self.info.resolution
        _check_count(len(drawings), "drawing")
        inks = []
        for i, drawing in enumerate(drawings):
            try:
                ink = pixels.ink(drawing)
            except ValueError as err:
                raise InvalidInput(f"drawing {i}: {err}") from err
            if ink.shape != (size, size):
                raise InvalidInput(f"drawing {i} is {ink.shape[1]}x{ink.shape[0]}; this pack "
                                   f"needs {size}x{size} drawings")  # fmt: skip
            inks.append(torch.from_numpy(ink)[None])
        batch = sketch.normalise_ink(torch.stack(inks))
        for i, ink in enumerate(batch):
            sketch.check_drawing(ink, i)
        return batch.to(self.device)

    # -- edits and rendering ---------------------------------------------------------------

    def latent(self, handle: str) -> np.ndarray:
        return self.cache.get(handle)

    def check_latent(self, latent: np.ndarray) -> np.ndarray:
        """A client-supplied latent as [num_ws, dim] (a W latent [1, dim] is broadcast)."""
        num_ws, dim = self.info.num_ws, self.info.latent_dim
        if latent.ndim != 2 or latent.shape[1] != dim or latent.shape[0] not in (1, num_ws):
            raise InvalidInput(
                f"latent must be [1, {dim}] or [{num_ws}, {dim}], got {list(latent.shape)}"
            )
        if not np.isfinite(latent).all():
            raise InvalidInput("latent holds NaN or infinite values")
        return np.broadcast_to(latent, (num_ws, dim)).astype(np.float32)

    def check_edits(self, edits: Sequence[EditStep]) -> None:
        """InvalidInput unless every edit names a direction, in a mode it supports, with a
        strength or target in range."""
        for step in edits:
            self._edit_direction(step)

    def apply_edits(
        self, latents: Sequence[np.ndarray], edits: Sequence[EditStep]
    ) -> list[np.ndarray]:
        """Each latent [num_ws, dim] edited (``edit_latents`` without its reports)."""
        return [edited.latent for edited in self.edit_latents(latents, edits)]

    def edit_latents(
        self, latents: Sequence[np.ndarray], edits: Sequence[EditStep]
    ) -> list[EditedLatent]:
        """Each latent [num_ws, dim] edited, with the set and swap edits that stopped at their
        range's end on it; InvalidInput for unknown edits or bad strengths.

        The (possibly conditional) directions are worked out once for all faces; set and swap
        edits then find each face's own strength from the attribute's model, in order (so a
        set edit sees the faces as the edits before it left them)."""
        steps = [(step, self._edit_direction(step)) for step in edits]
        return [self._edit_one(latent, steps) for latent in latents]

    def _edit_one(
        self, latent: np.ndarray, steps: Sequence[tuple[EditStep, np.ndarray]]
    ) -> EditedLatent:
        out, short = latent, []
        for step, vector in steps:
            direction = self._direction(step.name)
            score = direction.score
            if step.mode == "relative" or score is None:
                out = edit.apply_edits(out, [vector], [step.strength])
                continue
            try:
                wanted, goal = edit.strength_to_goal(out, vector, score, step.mode, step.target)
            except ValueError as err:
                raise InvalidInput(f"edit {step.name!r}: {err}") from err
            strength = min(max(wanted, direction.min), direction.max)
            out = edit.apply_edits(out, [vector], [strength])
            if strength != wanted:
                reached = score.readable(score.value(out))
                short.append(ShortEdit(step.name, step.mode, score.readable(goal), reached))
        return EditedLatent(out, tuple(short))

    def _edit_direction(self, step: EditStep) -> np.ndarray:
        direction = self._direction(step.name)
        _check_mode(step, direction)
        held = [self._direction(name).vector for name in step.hold if name != step.name]
        try:
            return edit.hold_fixed(direction.vector, held)
        except ValueError as err:
            raise InvalidInput(f"edit {step.name!r}: {err}") from err

    def _direction(self, name: str) -> Direction:
        try:
            return self.pack.directions[name]
        except KeyError:
            available = ", ".join(sorted(self.pack.directions)) or "none"
            raise InvalidInput(f"unknown edit {name!r}; this pack offers: {available}") from None

    # -- one-pass edits (students) -------------------------------------------------------------

    def check_translate(self, edits: Sequence[EditStep]) -> list[tuple[Student, float | None]]:
        """For each edit in order, the student that makes it and the strength it takes (None
        for a swap); PackError if the pack has no students, InvalidInput for an edit none makes
        or a strength outside the student's range (cheap: checked before a request queues)."""
        students = self.pack.students
        if not students:
            raise PackError(
                f"the pack {self.info.pack_name!r} has no students (one-pass edits): use the "
                "inverted path, or a pack with students (facesmith train student)"
            )
        if not edits:
            raise InvalidInput("no edits given: a one-pass edit needs at least one")
        return [self._student_step(step) for step in edits]

    def _student_step(self, step: EditStep) -> tuple[Student, float | None]:
        if step.hold:
            raise InvalidInput(f"one-pass edit {step.name!r} cannot hold other attributes fixed")
        for student in self.pack.students.values():
            if (student.edit, student.mode) == (step.name, step.mode):
                if step.mode == "swap":
                    return student, None
                if not wire.strength_in_range(step.strength, student.min, student.max):
                    raise InvalidInput(
                        f"strength {step.strength} of one-pass edit {step.name!r} is outside "
                        f"[{student.min}, {student.max}]"
                    )
                return student, step.strength
        offered = ", ".join(
            f"{s.edit} ({'swap' if s.mode == 'swap' else 'strength'})"
            for s in self.pack.students.values()
        )
        raise InvalidInput(f"no student makes the edit {step.name!r} in mode {step.mode!r}; "
                           f"this pack's one-pass edits: {offered}")  # fmt: skip

    def translate(self, crops: Sequence[np.ndarray], edits: Sequence[EditStep]) -> list[np.ndarray]:
        """Aligned crops → the crops with ``edits`` made by the pack's students, one after the
        other (no encoder, no generator): float32 [r, r, 3] in 0..1 each."""
        steps = self.check_translate(edits)
        faces = self._crops_to_tensor(crops)
        out = []
        for batch in torch.split(faces, self.max_batch):
            with self._device_lock, torch.inference_mode():
                for student, strength in steps:
                    batch = _run_student(student, batch, strength)
            out.append(((batch.float() + 1) / 2).permute(0, 2, 3, 1).cpu())
        return [img.numpy().astype(np.float32) for img in torch.cat(out)]

    def render(
        self,
        latents: Sequence[np.ndarray],
        *,
        resolution: int = 0,
        handles: Sequence[str | None] | None = None,
    ) -> list[np.ndarray]:
        """Latents [num_ws, dim] → faces float32 [r, r, 3] in 0..1 (r = resolution or full).

        A face whose ``handles`` entry has a pivotally tuned generator is rendered with it."""
        stop = self.check_resolution(resolution)
        if not latents:
            raise InvalidInput("no faces to render")
        if len(latents) > wire.MAX_FACES:
            raise InvalidInput(f"{len(latents)} faces in one request; at most {wire.MAX_FACES}")
        tuned = [self.pivots.get(h) if h else None for h in handles or [None] * len(latents)]
        shared = [i for i, t in enumerate(tuned) if t is None]
        out: list[np.ndarray | None] = [None] * len(latents)
        for i, image in zip(shared, self._render_with(None, [latents[i] for i in shared], stop),
                            strict=True):  # fmt: skip
            out[i] = image
        for i, synthesis in enumerate(tuned):
            if synthesis is not None:
                out[i] = self._render_with(synthesis, [latents[i]], stop)[0]
        return [image for image in out if image is not None]

    def _render_with(
        self, synthesis: SynthesisNetwork | None, latents: Sequence[np.ndarray], stop: int | None
    ) -> list[np.ndarray]:
        """Render with ``synthesis`` (None: the pack's own), in batches of max_batch."""
        if not latents:
            return []
        network = synthesis or self.pack.generator.synthesis
        ws = torch.from_numpy(np.stack(latents)).to(self.device)
        images = []
        for batch in torch.split(ws, self.max_batch):
            with self._device_lock, torch.inference_mode():
                rgb = network(batch, noise_mode="const", stop_resolution=stop,
                              fast=self.fast_render)  # fmt: skip
            images.append(((rgb.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).cpu())
        return [img.numpy().astype(np.float32) for img in torch.cat(images)]

    def check_resolution(self, resolution: int) -> int | None:
        """None for full resolution, else the preview resolution; InvalidInput if neither."""
        if resolution in (0, self.info.resolution):
            return None
        if resolution not in self.info.preview_resolutions:
            raise InvalidInput(
                f"resolution {resolution} is not available; use 0 (full, "
                f"{self.info.resolution}) or one of {list(self.info.preview_resolutions)}"
            )
        return resolution


def _check_count(count: int, noun: str) -> None:
    """InvalidInput for no items (faces, drawings) or more than one request may hold."""
    if not count:
        raise InvalidInput(f"no {noun}s in the request")
    if count > wire.MAX_FACES:
        raise InvalidInput(f"{count} {noun}s in one request; at most {wire.MAX_FACES}")


def _run_student(student: Student, faces: torch.Tensor, strength: float | None) -> torch.Tensor:
    """One student's edit of ``faces`` [N, 3, r, r] in [-1, 1], kept in range."""
    scaled = None
    if strength is not None:
        value = scaled_strength(strength, student.min, student.max)
        scaled = torch.full((faces.shape[0],), value, device=faces.device)
    return student.network(faces, scaled).clamp(-1, 1)


def _edit_info(d: Direction) -> EditInfo:
    score = d.score
    if score is None:
        return EditInfo(d.name, d.description, d.min, d.max, d.default, d.space, d.group)
    return EditInfo(d.name, d.description, d.min, d.max, d.default, d.space, d.group,
                    score.kind, score.unit, score.min, score.max)  # fmt: skip


def _check_mode(step: EditStep, direction: Direction) -> None:
    """InvalidInput unless ``step``'s mode, and its strength or target, suit ``direction``."""
    name = step.name
    if step.mode not in EDIT_MODES:
        raise InvalidInput(f"edit {name!r}: unknown mode {step.mode!r}")
    if step.mode == "relative":
        if not wire.strength_in_range(step.strength, direction.min, direction.max):
            raise InvalidInput(
                f"strength {step.strength} of edit {name!r} is outside "
                f"[{direction.min}, {direction.max}]"
            )
        return
    score = direction.score
    if score is None:
        raise InvalidInput(f"edit {name!r} has no attribute model in this pack: only relative "
                           "strengths work")  # fmt: skip
    if step.mode == "swap" and score.kind != "binary":
        raise InvalidInput(f"edit {name!r} is not a yes/no attribute: it cannot be swapped")
    if step.mode == "set" and not wire.strength_in_range(step.target, score.min, score.max):
        raise InvalidInput(
            f"target {step.target} of edit {name!r} is outside [{score.min}, {score.max}]"
        )


def _report(
    on_progress: ProgressFn | None, stage: str, done: int, total: int, loss: float = 0.0
) -> None:
    if on_progress is not None:
        on_progress(stage, done, total, loss)


def _stage_reporter(
    on_progress: ProgressFn | None, stage: str
) -> Callable[[int, int, float], None]:
    def report(done: int, total: int, loss: float) -> None:
        _report(on_progress, stage, done, total, loss)

    return report


def _stop_if_asked(should_stop: StopFn | None) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled("cancelled by the client")
