"""MTCNN on the real test photos: every face found, nothing else, landmarks where faces are."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facesmith_client.vision.detect import (
    Detector,
    detect_faces,
    load_detector,
    nms,
    pyramid_scales,
)
from facesmith_client.vision.images import read_image

# Faces a person counts in each photo of ../shared/photos/whole (all clearly visible).
# obama_and_biden.jpg holds a third face: a child at the lower right, 160 px tall.
EXPECTED_FACES = {
    "two_people.jpg": 2,
    "obama_and_biden.jpg": 3,
    "lowres_00.jpg": 4,
    "lowres_01.jpg": 4,
    "lowres_02.png": 4,
    "lowres_06.png": 2,
    "kit_with_rose.jpg": 2,
}
PORTRAITS = [
    "32bit.png", "alex_lacamoire1.jpg", "astronaut.png", "biden.jpg", "johnsnow_test1.jpg",
    "kit_harington1.jpg", "lowres_03.jpg", "lowres_04.jpg", "lowres_05.jpg", "obama.jpg",
    "obama1.jpg", "obama2.jpg", "obama3.jpg", "obama_partial_face.jpg",
    "obama_partial_face2.jpg", "rose_leslie1.jpg",
]  # fmt: skip


@pytest.fixture(scope="module")
def detector() -> Detector:
    return load_detector("cpu")


@pytest.mark.parametrize("name", [*EXPECTED_FACES, *PORTRAITS])
def test_finds_every_face_in_real_photos(name: str, photos_dir: Path, detector: Detector) -> None:
    image = read_image(photos_dir / "whole" / name)
    faces = detect_faces(image, detector)
    assert len(faces) == EXPECTED_FACES.get(name, 1), [f.box for f in faces]
    for face in faces:
        x0, y0, x1, y1 = face.box
        assert face.score >= 0.9
        # landmarks lie inside the box, eyes above the mouth
        assert (face.landmarks[:, 0] > x0).all() and (face.landmarks[:, 0] < x1).all()
        assert (face.landmarks[:, 1] > y0).all() and (face.landmarks[:, 1] < y1).all()
        assert face.landmarks[:2, 1].max() < face.landmarks[3:, 1].min()
    assert [f.box[0] for f in faces] == sorted(f.box[0] for f in faces)


def test_any_depth_and_channels_give_the_same_faces(photos_dir: Path, detector: Detector) -> None:
    rgb = read_image(photos_dir / "whole" / "two_people.jpg")
    variants = {
        "rgba": np.concatenate([rgb, np.full_like(rgb[:, :, :1], 255)], axis=2),
        "16-bit": rgb.astype(np.uint16) * 257,
        "float": rgb.astype(np.float32) / 255,
        "gray": rgb.mean(axis=2, keepdims=True).astype(np.uint8),
    }
    reference = detect_faces(rgb, detector)
    for name, image in variants.items():
        faces = detect_faces(image, detector)
        assert len(faces) == len(reference), name
        for a, b in zip(faces, reference, strict=True):
            tolerance = 0.1 if name == "gray" else 0.02  # gray is a different picture
            assert np.abs(np.subtract(a.box, b.box)).max() < tolerance * b.size, name


def test_twelve_megapixel_photo_gives_the_same_faces(photos_dir: Path, detector: Detector) -> None:
    """The proposal pyramid and crops read from the halved copies of a big photo: the faces
    found are those of the original photo, scaled (landmarks within 5 % of the face size: MTCNN's
    own jitter between scales, ~1–2 % on frontal faces, more on the child looking down)."""
    image = read_image(photos_dir / "whole" / "obama_and_biden.jpg")
    h, w = image.shape[:2]
    factor = np.sqrt(12e6 / (h * w))
    big = cv2.resize(image, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_CUBIC)
    reference = detect_faces(image, detector)
    faces = detect_faces(big, detector)
    assert len(faces) == len(reference) == 3
    for a, b in zip(faces, reference, strict=True):
        # pixel centres at integers: x_big = (x + 0.5) · factor − 0.5
        expected = (b.landmarks + 0.5) * [big.shape[1] / w, big.shape[0] / h] - 0.5
        assert np.abs(a.landmarks - expected).max() < 0.05 * a.size


def test_min_face_size_drops_small_faces(photos_dir: Path, detector: Detector) -> None:
    image = read_image(photos_dir / "whole" / "obama_and_biden.jpg")
    assert len(detect_faces(image, detector, min_face_size=200)) == 2  # the child's face is 160 px
    with pytest.raises(ValueError, match="at least"):
        detect_faces(image, detector, min_face_size=5)


def test_blank_image_has_no_face(detector: Detector) -> None:
    assert detect_faces(np.full((300, 400, 3), 128, np.uint8), detector) == []
    assert detect_faces(np.zeros((20, 20, 3), np.uint8), detector) == []


def test_pyramid_covers_min_face_to_whole_image() -> None:
    scales = pyramid_scales(1000, 800, 40)
    assert scales[0] == pytest.approx(12 / 40)
    assert 800 * scales[-1] >= 12 > 800 * scales[-1] * 0.709


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10, 0.9], [1, 1, 11, 11, 0.95], [50, 50, 60, 60, 0.5]], np.float32)
    assert list(nms(boxes, 0.5)) == [1, 2]
