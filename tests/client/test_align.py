"""FFHQ alignment on real faces: upright crops, the matrix maps landmarks where FFHQ puts them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facesmith_client.vision.align import align_face, ffhq_matrix, ffhq_quad, warp_face
from facesmith_client.vision.detect import detect_faces, load_detector
from facesmith_client.vision.images import read_image


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
    # eyes level, symmetric about the centre (pixel centres at integers: the middle of 1024
    # pixels is 511.5); eye distance = 1024 / (2 × 2.0) here
    assert eyes[0, 1] == pytest.approx(eyes[1, 1])
    assert (eyes[0, 0] + eyes[1, 0]) / 2 == pytest.approx(511.5)
    assert eyes[1, 0] - eyes[0, 0] == pytest.approx(1024 / 4)
    # FFHQ's quad c−x−y, c−x+y, c+x+y, c+x−y lands on the crop's outer corners
    centre, x, y = ffhq_quad(landmarks)
    quad = np.stack([centre - x - y, centre - x + y, centre + x + y, centre + x - y])
    corners = np.hstack([quad, np.ones((4, 1))]) @ matrix.T
    np.testing.assert_allclose(
        corners, [[-0.5, -0.5], [-0.5, 1023.5], [1023.5] * 2, [1023.5, -0.5]]
    )


@pytest.mark.parametrize("scale", [1.0, 0.4, 0.1])
def test_warp_puts_every_point_where_the_matrix_says(scale: float) -> None:
    """A blurred dot in a 3000² image lands at matrix @ dot in the crop, also when the warp
    first area-shrinks the face's region (strong downscales, as from 12-megapixel photos)."""
    dot = np.array([1234.3, 1701.7])
    rows, cols = np.mgrid[0:3000, 0:3000].astype(np.float32)
    sigma = 1.2 / scale  # about a crop pixel wide
    image = np.exp(-((cols - dot[0]) ** 2 + (rows - dot[1]) ** 2) / (2 * sigma**2))
    angle = 0.3
    linear = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = np.array([130.25, 97.6])
    matrix = np.hstack([linear, (target - linear @ dot)[:, None]])
    crop = warp_face(image.astype(np.float32)[:, :, None], matrix, 256)[:, :, 0]
    weight = crop**2
    crop_rows, crop_cols = np.mgrid[0:256, 0:256]
    centroid = [
        (weight * crop_cols).sum() / weight.sum(),
        (weight * crop_rows).sum() / weight.sum(),
    ]
    np.testing.assert_allclose(centroid, target, atol=0.02)


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


def test_a_box_moves_with_the_framing() -> None:
    from facesmith.alignment import FFHQ, parse_alignment
    from facesmith_client.vision.align import box_in_template

    box = (0.254, 0.363, 0.738, 0.848)
    assert box_in_template(box, FFHQ) == pytest.approx(box, abs=1e-9)
    tight = parse_alignment("template eye_scale=1.2 mouth_scale=1.08 centre_shift=0.5")
    left, top, right, bottom = box_in_template(box, tight)
    assert right - left > 1.5 * (box[2] - box[0])  # the face fills more of a tight crop
    assert bottom - top > 1.5 * (box[3] - box[1])
    assert abs((left + right) / 2 - 0.5) < 0.02
