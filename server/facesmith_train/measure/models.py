"""The model side of `facesmith train measure`: invert a set's faces (e4e), render them back
and with each edit at full strength (pure latent arithmetic), and read every image with the
instruments (`measure_scores.Scorers`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from facesmith_server.latent.edit import apply_edits
from facesmith_server.model.pack import Direction, Pack
from facesmith_train.classify.readers import Scorers, enlarge
from facesmith_train.encoder.encode import encode_crops
from facesmith_train.measure.sets import FaceSet

CHUNK = 32  # faces per encoder / generator pass
GRID_ROWS = 6  # faces of each set kept for the grid
MORE_EDITS = ("smile", "grey_hair", "eyeglasses")  # at their max, when the pack has them

Log = Callable[[str], None]


# -- edits -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """An edit at full strength: a pack direction and its strength for each face [N]."""

    label: str  # "older", "younger", "gender swap", "bald", ...
    direction: str
    strengths: np.ndarray

    def describe(self) -> str:
        values = sorted({float(s) for s in self.strengths})
        return f"{self.direction} {' / '.join(f'{v:+g}' for v in values)}"


def plan_edits(directions: Mapping[str, Direction], male_photo: np.ndarray) -> list[Edit]:
    """The edits the pack has, at full strength: younger / older (age at its min / max),
    gender swap (gender at max for faces estimated female, at min for male: what a user
    picks), bald and MORE_EDITS at their max. ``male_photo``: P(male) [N] of the photos."""
    n = len(male_photo)
    edits = []
    if "age" in directions:
        age = directions["age"]
        edits += [
            Edit("younger", "age", np.full(n, age.min)),
            Edit("older", "age", np.full(n, age.max)),
        ]
    if "gender" in directions:
        gender = directions["gender"]
        strengths = np.where(np.asarray(male_photo) >= 0.5, gender.min, gender.max)
        edits.append(Edit("gender swap", "gender", strengths.astype(np.float64)))
    for name in ("bald", *MORE_EDITS):
        if name in directions:
            edits.append(Edit(name, name, np.full(n, directions[name].max)))
    return edits


def edited_latents(ws: np.ndarray, direction: np.ndarray, strengths: np.ndarray) -> np.ndarray:
    """ws [N, num_ws, dim] each moved by its strength along direction [1 | num_ws, dim]."""
    return np.stack(
        [apply_edits(w, [direction], [float(s)]) for w, s in zip(ws, strengths, strict=True)]
    )


# -- the models --------------------------------------------------------------------------------


def invert(pack: Pack, crops: np.ndarray, device: torch.device) -> np.ndarray:
    """crops float32 [N, R, R, 3] 0..1 → W+ latents float32 [N, num_ws, dim] (e4e)."""
    return encode_crops(pack.encoder, pack.encoder_latent_avg, crops, device)


@torch.no_grad()
def synthesise(pack: Pack, ws: np.ndarray, device: torch.device) -> np.ndarray:
    """W+ latents [N, num_ws, dim] → images float32 [N, R, R, 3] 0..1 (constant noise)."""
    parts = []
    for i in range(0, len(ws), CHUNK):
        parts.append(pack.generator.synthesis(torch.from_numpy(ws[i : i + CHUNK]).to(device)))
    return _images(pack, parts)


@torch.no_grad()
def random_samples(pack: Pack, count: int, seed: int, device: torch.device) -> np.ndarray:
    """``count`` images of z ~ N(0, I) (psi 1, a private seeded RNG): float32 [N, R, R, 3]."""
    z = torch.randn(count, pack.generator.style_dim, generator=torch.Generator().manual_seed(seed))
    parts = []
    for i in range(0, count, CHUNK):
        parts.append(pack.generator(z[i : i + CHUNK].to(device)))
    return _images(pack, parts)


def _images(pack: Pack, parts: Sequence[torch.Tensor]) -> np.ndarray:
    """Generator outputs (each [n, 3, R, R] in [-1, 1]) → float32 [N, R, R, 3] 0..1."""
    if not parts:
        return np.zeros((0, pack.generator.size, pack.generator.size, 3), np.float32)
    rgb = torch.cat([p.float().cpu() for p in parts])
    return ((rgb.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).contiguous().numpy()


# -- a set through the models and the instruments ----------------------------------------------


@dataclass(frozen=True)
class Measures:
    """What the instruments read on N images: age (years), P(male), descriptors [N, 128] and
    the attribute classifiers' P(yes)."""

    age: np.ndarray
    male: np.ndarray
    descriptors: np.ndarray
    attributes: dict[str, np.ndarray]


def read_images(images: np.ndarray, scorers: Scorers) -> Measures:
    """Measures of images float32 [N, R, R, 3] 0..1."""
    large = enlarge(images)
    age, male = scorers.age_gender(large)
    attributes = {k: np.asarray(c(images), np.float64) for k, c in scorers.attributes.items()}
    return Measures(
        np.asarray(age, np.float64), np.asarray(male, np.float64),
        np.asarray(scorers.descriptors(large), np.float64), attributes,
    )  # fmt: skip


@dataclass(frozen=True)
class SetResult:
    faces: FaceSet
    photo: Measures
    reconstruction: Measures
    edits: tuple[Edit, ...]
    edited: dict[str, Measures]  # edit label → measures
    grid: dict[str, np.ndarray]  # column name → images of the first GRID_ROWS faces


def measure_set(
    faces: FaceSet, pack: Pack, scorers: Scorers, device: torch.device, log: Log
) -> SetResult:
    """Invert, reconstruct and edit every face of the set and read them all."""
    started = time.monotonic()
    ws = invert(pack, faces.crops, device)
    recon = synthesise(pack, ws, device)
    photo = read_images(faces.crops, scorers)
    reconstruction = read_images(recon, scorers)
    grid = {"photo": faces.crops[:GRID_ROWS], "reconstruction": recon[:GRID_ROWS]}
    edits = plan_edits(pack.directions, photo.male)
    edited = {}
    for edit in edits:
        direction = pack.directions[edit.direction].vector
        images = synthesise(pack, edited_latents(ws, direction, edit.strengths), device)
        edited[edit.label] = read_images(images, scorers)
        grid[edit.label] = images[:GRID_ROWS]
    seconds = time.monotonic() - started
    log(f"{faces.name}: {len(faces)} faces, {len(edits)} edits in {seconds:.0f} s")
    return SetResult(faces, photo, reconstruction, tuple(edits), edited, grid)
