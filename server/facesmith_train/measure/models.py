"""The model side of `facesmith train measure`: through the server's own Engine (so the figures
are what users get), invert a set's faces at the default quality, render them back and with
each edit at full strength, an absolute age and the gender swap, and read every image with
the instruments (`classify.readers.Scorers`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from facesmith import pixels
from facesmith_client.vision.blend import face_mask, low_pass, paste_back, replace_weight
from facesmith_server.model.pack import Direction, Pack
from facesmith_server.model.seeded_z import seeded_z
from facesmith_server.service.engine import EditStep, Engine
from facesmith_train.classify.readers import Scorers, enlarge
from facesmith_train.measure.sets import FaceSet

CHUNK = 32  # faces per engine call
GRID_ROWS = 6  # faces of each set kept for the grid
SET_AGE = 70.0  # the absolute age edit measured
# ... and one each face can reach: its photo's estimated age plus this (does --set land?)
SET_AGE_ABOVE_PHOTO = 10.0

Log = Callable[[str], None]


# -- edits -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """An edit as measured: its label ("older", "age = 70", "gender swap", "bald", ...) and the
    engine step that makes it."""

    label: str
    step: EditStep
    # a set edit whose target is each photo's estimated age plus this (step.target unused)
    above_photo: float | None = None

    @property
    def direction(self) -> str:
        return self.step.name

    def targets(self, photo_age: np.ndarray) -> np.ndarray:
        """A set edit's target per face, given the photos' estimated ages."""
        if self.above_photo is None:
            return np.full(len(photo_age), self.step.target)
        return np.asarray(photo_age, np.float64) + self.above_photo

    def describe(self) -> str:
        if self.above_photo is not None:
            name = self.step.name
            return f"{name} set to the photo's estimated {name} {self.above_photo:+g}"
        if self.step.mode == "set":
            return f"{self.step.name} set to {self.step.target:g}"
        if self.step.mode == "swap":
            return f"{self.step.name} swapped"
        return f"{self.step.name} {self.step.strength:+g}"


def plan_edits(directions: Mapping[str, Direction]) -> list[Edit]:
    """The pack's edits at full strength: younger / older (age at its min / max), age set to
    SET_AGE and to each photo's age + SET_AGE_ABOVE_PHOTO and the gender swap where the pack
    has their models, every other edit at its max."""
    edits = []
    if "age" in directions:
        age = directions["age"]
        edits += [
            Edit("younger", EditStep("age", age.min)),
            Edit("older", EditStep("age", age.max)),
        ]
        if age.score is not None and age.score.min <= SET_AGE <= age.score.max:
            edits.append(Edit(f"age = {SET_AGE:g}", EditStep("age", mode="set", target=SET_AGE)))
        if age.score is not None:
            edits.append(Edit(f"age = photo {SET_AGE_ABOVE_PHOTO:+g}",
                              EditStep("age", mode="set"), SET_AGE_ABOVE_PHOTO))  # fmt: skip
    gender = directions.get("gender")
    if gender is not None and gender.score is not None and gender.score.kind == "binary":
        edits.append(Edit("gender swap", EditStep("gender", mode="swap")))
    for name, direction in directions.items():
        if name not in ("age", "gender"):
            edits.append(Edit(name, EditStep(name, direction.max)))
    return edits


# -- the models --------------------------------------------------------------------------------


def engine_for(pack: Pack, device: torch.device) -> Engine:
    return Engine(pack, device, max_batch=CHUNK)


def invert(
    engine: Engine, crops: np.ndarray, quality: str = "default"
) -> list[tuple[str, np.ndarray]]:
    """crops float32 [N, R, R, 3] 0..1 → (handle, W+ latent) per face, as the server inverts."""
    out = []
    for i in range(0, len(crops), CHUNK):
        chunk = [pixels.from_float(c, np.uint8) for c in crops[i : i + CHUNK]]
        out += [(f.handle, f.latent) for f in engine.invert(chunk, quality=quality)]
    return out


def render(engine: Engine, faces: Sequence[tuple[str, np.ndarray]]) -> np.ndarray:
    """(handle, latent) faces → images float32 [N, R, R, 3] 0..1 (tuned generators used)."""
    if not faces:
        size = engine.info.resolution
        return np.zeros((0, size, size, 3), np.float32)
    parts = []
    for i in range(0, len(faces), CHUNK):
        chunk = faces[i : i + CHUNK]
        parts += engine.render([lat for _, lat in chunk], handles=[h for h, _ in chunk])
    return np.stack(parts).astype(np.float32)


def edited(
    engine: Engine,
    faces: Sequence[tuple[str, np.ndarray]],
    edit: Edit,
    photo_age: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The faces rendered with ``edit``, and per face 1.0 where a set or swap edit stopped at
    its range's end; ``photo_age`` (the photos' estimated ages) for an edit whose target is
    set per face."""
    latents = [lat for _, lat in faces]
    if edit.above_photo is None:
        out = engine.edit_latents(latents, [edit.step])
    else:
        if photo_age is None:
            raise ValueError(f"{edit.label} needs the photos' estimated ages")
        steps = [replace(edit.step, target=float(t)) for t in edit.targets(photo_age)]
        out = [engine.edit_latents([lat], [step])[0]
               for lat, step in zip(latents, steps, strict=True)]  # fmt: skip
    stopped = np.array([float(bool(e.short)) for e in out])
    images = render(engine, [(h, e.latent) for (h, _), e in zip(faces, out, strict=True)])
    return images, stopped


@torch.no_grad()
def random_samples(pack: Pack, count: int, seed: int, device: torch.device) -> np.ndarray:
    """``count`` images of z ~ N(0, I) (psi 1, a private seeded RNG): float32 [N, R, R, 3]."""
    z = seeded_z(count, pack.generator.style_dim, seed)
    parts = [pack.generator(z[i : i + CHUNK].to(device)) for i in range(0, count, CHUNK)]
    if not parts:
        return np.zeros((0, pack.generator.size, pack.generator.size, 3), np.float32)
    rgb = torch.cat([p.float().cpu() for p in parts])
    return ((rgb.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).contiguous().numpy()


def seconds_per_face(engine: Engine, crops: np.ndarray, quality: str) -> float:
    """Wall time to invert and render ``crops`` at ``quality``, per face."""
    started = time.monotonic()
    render(engine, invert(engine, crops, quality))
    return (time.monotonic() - started) / max(len(crops), 1)


# -- a set through the models and the instruments ----------------------------------------------


@dataclass(frozen=True)
class Measures:
    """What the instruments read on N images: age (years), P(male), descriptors [N, 128], the
    attribute classifiers' P(yes) and fine detail (`fine_detail`; None: not read)."""

    age: np.ndarray
    male: np.ndarray
    descriptors: np.ndarray
    attributes: dict[str, np.ndarray]
    detail: np.ndarray | None = None


def read_images(images: np.ndarray, scorers: Scorers) -> Measures:
    """Measures of images float32 [N, R, R, 3] 0..1."""
    large = enlarge(images)
    age, male = scorers.age_gender(large)
    attributes = {k: np.asarray(c(images), np.float64) for k, c in scorers.attributes.items()}
    return Measures(
        np.asarray(age, np.float64), np.asarray(male, np.float64),
        np.asarray(scorers.descriptors(large), np.float64), attributes, fine_detail(images),
    )  # fmt: skip


def fine_detail(images: np.ndarray) -> np.ndarray:
    """How sharp each image is over the head: [N], the mean absolute difference from its blur
    (σ = 1 pixel) under the head mask, of images float32 [N, R, R, 3] 0..1. A classifier can
    read a blur as an edit (a bald scalp, a woman's smooth skin); this figure shows that."""
    mask = face_mask(images.shape[1])[:, :, None]
    weights = mask / (3 * mask.sum())  # a mean over the head's pixels and channels
    return np.array([float((np.abs(i - low_pass(i, 1.0)) * weights).sum()) for i in images])


def pasted(crops: np.ndarray, images: np.ndarray, recon: np.ndarray, paste: str) -> np.ndarray:
    """What a user gets at the crop: each render laid on its photo crop by the runtime's
    paste-back in mode ``paste`` under its face mask; "render": the renders themselves.
    All float32 [N, R, R, 3] 0..1."""
    if paste == "render":
        return images
    mask = face_mask(crops.shape[1])
    same = np.eye(2, 3)  # the crop is the frame
    out = []
    for crop, image, rec in zip(crops, images, recon, strict=True):
        replace = replace_weight(image, rec) if paste == "adaptive" else None
        base = None if paste == "replace" else rec
        out.append(paste_back(crop, image, mask, same, base, replace))
    return np.stack(out).astype(np.float32)


@dataclass(frozen=True)
class SetResult:
    faces: FaceSet
    photo: Measures
    reconstruction: Measures
    base: Measures  # the unedited face as pasted back: what each edit's change is read from
    edits: tuple[Edit, ...]
    edited: dict[str, Measures]  # edit label → measures
    stopped: dict[str, np.ndarray]  # edit label → 1.0 per face where it stopped short
    grid: dict[str, np.ndarray]  # column name → images of the first GRID_ROWS faces


def measure_set(
    faces: FaceSet,
    engine: Engine,
    scorers: Scorers,
    log: Log,
    quality: str = "default",
    paste: str = "render",
) -> SetResult:
    """Invert, reconstruct and edit every face of the set and read them all, the edits as
    pasted back in mode ``paste`` (`pasted`)."""
    started = time.monotonic()
    inverted = invert(engine, faces.crops, quality)
    recon = render(engine, inverted)
    photo = read_images(faces.crops, scorers)
    reconstruction = read_images(recon, scorers)
    base = reconstruction
    if paste != "render":
        base = read_images(pasted(faces.crops, recon, recon, paste), scorers)
    grid = {"photo": faces.crops[:GRID_ROWS], "reconstruction": recon[:GRID_ROWS]}
    edits = plan_edits(engine.pack.directions)
    results, stopped = {}, {}
    for edit in edits:
        renders, stopped[edit.label] = edited(engine, inverted, edit, photo.age)
        images = pasted(faces.crops, renders, recon, paste)
        results[edit.label] = read_images(images, scorers)
        grid[edit.label] = images[:GRID_ROWS]
    seconds = time.monotonic() - started
    log(f"{faces.name}: {len(faces)} faces, {len(edits)} edits in {seconds:.0f} s")
    return SetResult(faces, photo, reconstruction, base, tuple(edits), results, stopped, grid)
