"""How well faces follow their sketches (`facesmith train measure-sketch`).

On held-out faces: each face's lines (the extraction the encoder was trained on) are the
sketch; sketch → face (FromSketch, at each ``follow``) → its lines again, compared with the
sketch by an edge F1 at 1 px tolerance. Two references from the same run frame the figure:
the photo itself inverted by the pack's encoder (what the generator reaches when it sees the
face, not a drawing of it) and another face's lines (chance). The detector's hit rate on the
faces made, against its rate on the photos, says whether they still read as faces.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from facesmith import pixels
from facesmith_client.vision.detect import Detector, detect_faces
from facesmith_server.latent.sketch import line_drawing, normalise_ink
from facesmith_server.service.engine import Engine

LINE = 0.5  # ink at or above this is a line pixel
TOLERANCE_PX = 1
DETECT_SIDE = 256  # faces are upscaled to this before detection (MTCNN wants larger faces)
CHUNK = 16


@dataclass(frozen=True)
class SketchFigures:
    follow: float
    faces: int
    edge_f1: float  # sketch → face → lines, against the sketch
    detected: float  # share of the faces made in which the detector finds a face
    seconds_per_face: float


@dataclass(frozen=True)
class References:
    edge_f1_inverted: float  # the photo inverted by the pack's encoder, its lines
    edge_f1_chance: float  # another face's lines
    detected_photos: float


def lines_of(faces: np.ndarray) -> np.ndarray:
    """float faces [N, R, R, 3] 0..1 → normalised ink [N, R, R]."""
    x = torch.from_numpy(faces).permute(0, 3, 1, 2).float() * 2 - 1
    return normalise_ink(line_drawing(x))[:, 0].numpy()


def edge_f1(got: np.ndarray, wanted: np.ndarray) -> float:
    """Mean F1 of the line pixels of ``got`` against ``wanted`` ([N, R, R] ink), a line pixel
    counting as matched within TOLERANCE_PX of one in the other."""
    a = torch.from_numpy(got >= LINE).float()[:, None]
    b = torch.from_numpy(wanted >= LINE).float()[:, None]
    k = 2 * TOLERANCE_PX + 1
    near_a, near_b = (F.max_pool2d(x, k, stride=1, padding=TOLERANCE_PX) for x in (a, b))
    precision = (a * near_b).sum(dim=[1, 2, 3]) / a.sum(dim=[1, 2, 3]).clamp_min(1)
    recall = (b * near_a).sum(dim=[1, 2, 3]) / b.sum(dim=[1, 2, 3]).clamp_min(1)
    f1 = 2 * precision * recall / (precision + recall).clamp_min(1e-8)
    return float(f1.mean())


def detected_share(faces: np.ndarray, detector: Detector) -> float:
    hits = 0
    for face in faces:
        big = cv2.resize(face, (DETECT_SIDE, DETECT_SIDE), interpolation=cv2.INTER_CUBIC)
        hits += bool(detect_faces(pixels.from_float(big.clip(0, 1), np.uint8), detector))
    return hits / max(1, len(faces))


def drawings_of(ink: np.ndarray) -> list[np.ndarray]:
    """Ink [N, R, R] → drawings as a user sends them: uint8 gray, black lines on white."""
    return [pixels.from_float(1 - one[:, :, None], np.uint8) for one in ink]


def faces_from(engine: Engine, ink: np.ndarray, follow: float) -> tuple[np.ndarray, float]:
    """The faces FromSketch makes of ``ink`` [N, R, R] and the seconds per face."""
    started = time.perf_counter()
    latents = []
    for i in range(0, len(ink), CHUNK):
        latents += [face.latent for face in engine.from_sketch(drawings_of(ink[i : i + CHUNK]),
                                                                follow)]  # fmt: skip
    faces = render(engine, latents)
    return faces, (time.perf_counter() - started) / max(1, len(ink))


def render(engine: Engine, latents: Sequence[np.ndarray]) -> np.ndarray:
    """Faces [N, R, R, 3] float 0..1 of ``latents``, CHUNK at a time."""
    return np.stack([image for i in range(0, len(latents), CHUNK)
                     for image in engine.render(latents[i : i + CHUNK])])  # fmt: skip


def measure_sketches(
    engine: Engine,
    photos: np.ndarray,
    detector: Detector,
    follows: Sequence[float],
    log: Callable[[str], None] = print,
) -> tuple[list[SketchFigures], References, dict[float, np.ndarray]]:
    """Figures per follow, the references, and the faces made per follow."""
    from facesmith_train.measure.models import invert

    sketches = lines_of(photos)
    inverted = render(engine, [lat for _, lat in invert(engine, photos, "encoder")])
    others = np.roll(sketches, 1, axis=0)
    refs = References(edge_f1(lines_of(inverted), sketches), edge_f1(others, sketches),
                      detected_share(photos, detector))  # fmt: skip
    figures, made = [], {}
    for follow in follows:
        faces, seconds = faces_from(engine, sketches, follow)
        made[follow] = faces
        figures.append(SketchFigures(follow, len(faces), edge_f1(lines_of(faces), sketches),
                                     detected_share(faces, detector), seconds))  # fmt: skip
        log(f"follow {follow:g}: edge F1 {figures[-1].edge_f1:.3f}, {seconds:.3f} s/face")
    return figures, refs, made


def table(figures: Sequence[SketchFigures], refs: References, threads: int) -> str:
    rows = [
        f"| follow {f.follow:g} | {f.edge_f1:.3f} | {f.detected:.0%} | {f.seconds_per_face:.3f} |"
        for f in figures
    ]
    return "\n".join([
        f"{figures[0].faces} held-out faces; sketch = the face's lines; {threads} threads",
        "",
        "| face from the sketch | edge F1 (1 px) | detector finds a face | s / face |",
        "|---|---|---|---|",
        *rows,
        f"| the photo inverted (reference) | {refs.edge_f1_inverted:.3f} | "
        f"{refs.detected_photos:.0%} (the photos) | |",
        f"| another face's lines (chance) | {refs.edge_f1_chance:.3f} | | |",
        "",
    ])  # fmt: skip


def grid(photos: np.ndarray, made: dict[float, np.ndarray], columns: int = 8) -> np.ndarray:
    """uint8 rows: the photos, their sketches, then the faces per follow."""
    sketches = lines_of(photos[:columns])
    rows = [photos[:columns], np.repeat(1 - sketches[..., None], 3, axis=3)]
    rows += [faces[:columns] for faces in made.values()]
    sheet = np.concatenate([np.concatenate(list(row), axis=1) for row in rows], axis=0)
    return pixels.from_float(sheet.clip(0, 1), np.uint8)
