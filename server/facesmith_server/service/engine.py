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
from facesmith_server import devices
from facesmith_server.errors import Cancelled, InvalidInput
from facesmith_server.latent import edit, invert
from facesmith_server.model.pack import Direction, Pack
from facesmith_server.service.admission import HEAVY, FairQueue, Ticket
from facesmith_server.service.cache import LatentCache

ProgressFn = Callable[[str, int, int, float], None]
"""on_progress(stage, done, total, loss)"""
StopFn = Callable[[], bool]

MAX_REFINE_STEPS = 2000
DEFAULT_REFINE_LR = 0.01


@dataclass(frozen=True)
class EditStep:
    """Move along the pack's direction ``name`` by ``strength``, holding ``hold`` fixed."""

    name: str
    strength: float
    hold: tuple[str, ...] = ()


@dataclass(frozen=True)
class EditInfo:
    name: str
    description: str
    min: float
    max: float
    default: float
    space: str


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
    ) -> None:
        self.pack = pack
        self.device = device
        self.max_batch = max_batch
        # The folded-weight path is fastest on CPU; GPUs do better with the batched reference.
        self.fast_render = device.type == "cpu"
        self.cache = LatentCache(cache_size)
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
            edits=tuple(
                EditInfo(d.name, d.description, d.min, d.max, d.default, d.space)
                for d in self.pack.directions.values()
            ),
            preview_resolutions=tuple(r for r in synthesis.resolutions if 16 <= r < size),
            max_batch=self.max_batch,
            alignment=self.pack.manifest.alignment,
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
        on_progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> list[Inverted]:
        """Aligned crops (pixels conventions, side = resolution) → latents, cached by handle."""
        targets = self._crops_to_tensor(crops)
        if not 0 <= refine_steps <= MAX_REFINE_STEPS:
            raise InvalidInput(f"refine_steps must be in [0, {MAX_REFINE_STEPS}]")
        if not (np.isfinite(refine_lr) and 0 <= refine_lr <= 1):
            raise InvalidInput("refine_lr must be in [0, 1] (0 = default)")
        lr = refine_lr or DEFAULT_REFINE_LR
        batches = list(torch.split(targets, self.max_batch))
        latents: list[np.ndarray] = []
        for i, batch in enumerate(batches):
            _stop_if_asked(should_stop)
            with self._device_lock:
                with torch.inference_mode():
                    ws = invert.encode(self.pack.encoder, self.pack.encoder_latent_avg, batch)
                _report(on_progress, "encode", i + 1, len(batches))
                if refine_steps:
                    ws = invert.refine(
                        self.pack.generator.synthesis,
                        batch,
                        ws,
                        refine_steps,
                        lr=lr,
                        on_progress=_stage_reporter(on_progress, "refine"),
                        should_stop=should_stop,
                    )
            latents.extend(ws.detach().cpu().numpy().astype(np.float32))
        return [Inverted(self.cache.put(lat), lat) for lat in latents]

    def _crops_to_tensor(self, crops: Sequence[np.ndarray]) -> torch.Tensor:
        """Validated crops → [N, 3, R, R] float in [-1, 1] on the device."""
        size = self.info.resolution
        if not crops:
            raise InvalidInput("no faces in the request")
        if len(crops) > wire.MAX_FACES:
            raise InvalidInput(f"{len(crops)} faces in one request; at most {wire.MAX_FACES}")
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
        """InvalidInput unless every edit names a direction and has a strength in range."""
        for step in edits:
            self._edit_direction(step)

    def apply_edits(
        self, latents: Sequence[np.ndarray], edits: Sequence[EditStep]
    ) -> list[np.ndarray]:
        """Each latent [num_ws, dim] edited; InvalidInput for unknown edits or bad strengths.

        The (possibly conditional) directions are worked out once for all faces."""
        directions = [self._edit_direction(step) for step in edits]
        strengths = [step.strength for step in edits]
        return [edit.apply_edits(latent, directions, strengths) for latent in latents]

    def _edit_direction(self, step: EditStep) -> np.ndarray:
        direction = self._direction(step.name)
        if not wire.strength_in_range(step.strength, direction.min, direction.max):
            raise InvalidInput(
                f"strength {step.strength} of edit {step.name!r} is outside "
                f"[{direction.min}, {direction.max}]"
            )
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

    def render(self, latents: Sequence[np.ndarray], *, resolution: int = 0) -> list[np.ndarray]:
        """Latents [num_ws, dim] → faces float32 [r, r, 3] in 0..1 (r = resolution or full)."""
        stop = self.check_resolution(resolution)
        if not latents:
            raise InvalidInput("no faces to render")
        if len(latents) > wire.MAX_FACES:
            raise InvalidInput(f"{len(latents)} faces in one request; at most {wire.MAX_FACES}")
        ws = torch.from_numpy(np.stack(latents)).to(self.device)
        images = []
        for batch in torch.split(ws, self.max_batch):
            with self._device_lock, torch.inference_mode():
                rgb = self.pack.generator.synthesis(
                    batch, noise_mode="const", stop_resolution=stop, fast=self.fast_render
                )
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
