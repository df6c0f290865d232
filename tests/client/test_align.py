"""FFHQ alignment on real faces: upright crops, the matrix maps landmarks where FFHQ puts them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facesmith_client.align import align_face, ffhq_matrix
from facesmith_client.detect import detect_faces, load_detector
from facesmith_client.files import read_image


def _rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)


@pytest.mark.parametrize("degrees", [0, 20, -25])
def test_aligned_crops_are_upright(photos_dir: Path, degrees: float) -> None:
    image = _rotate(read_image(photos_dir / "whole" / "obama.jpg"), degrees)
    detector = load_detector()
    (face,) = detect_faces(image, detector)
    crop, _ = align_face(image, face.landmarks, 256)
    assert crop.shape == (256, 256, 3) and crop.dtype == np.float32
    # The crop, detected again, has level eyes above a centred mouth.
    (again,) = detect_faces((crop * 255).astype(np.uint8), detector, min_face_size=60)
    left, right, _, mouth_l, mouth_r = again.landmarks
    assert abs(left[1] - right[1]) < 0.04 * 256
    assert left[0] < 128 < right[0]
    assert max(left[1], right[1]) < min(mouth_l[1], mouth_r[1])
    assert abs((mouth_l[0] + mouth_r[0]) / 2 - 128) < 0.06 * 256


def test_matrix_follows_the_ffhq_framing() -> None:
    landmarks = np.array([[100, 100], [140, 100], [120, 120], [105, 140], [135, 140]], float)
    matrix = ffhq_matrix(landmarks, 1024)
    eyes = np.hstack([landmarks[:2], np.ones((2, 1))]) @ matrix.T
    # eyes level, symmetric about the centre; eye distance = 1024 / (2 × 2.0) here
    assert eyes[0, 1] == pytest.approx(eyes[1, 1])
    assert (eyes[0, 0] + eyes[1, 0]) / 2 == pytest.approx(512)
    assert eyes[1, 0] - eyes[0, 0] == pytest.approx(1024 / 4)


def test_degenerate_landmarks_are_refused() -> None:
    with pytest.raises(ValueError, match="degenerate"):
        ffhq_matrix(np.zeros((5, 2)), 256)
    with pytest.raises(ValueError, match="5 finite"):
        ffhq_matrix(np.zeros((4, 2)), 256)


def test_crop_of_a_face_at_the_border_has_no_black_edges(photos_dir: Path) -> None:
    image = read_image(photos_dir / "whole" / "obama_partial_face.jpg")
    (face,) = detect_faces(image, load_detector())
    crop, _ = align_face(image, face.landmarks, 128)
    assert crop.min(axis=2).max(axis=1).min() > 0.02  # no all-black row from padding
