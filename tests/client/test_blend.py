"""Paste-back: unedited crops reproduce the photo; outside the mask nothing changes; depth and
alpha survive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facesmith_client.vision.align import align_face
from facesmith_client.vision.blend import (
    CHANGE_FULL,
    DETAIL_SIGMA,
    face_mask,
    low_pass,
    paste_back,
    replace_weight,
)
from facesmith_client.vision.detect import Face, detect_faces, load_detector
from facesmith_client.vision.images import read_image

SIZE = 256


@pytest.fixture(scope="module")
def photo(photos_dir: Path) -> tuple[np.ndarray, list[Face]]:
    image = read_image(photos_dir / "whole" / "two_people.jpg")
    return image, detect_faces(image, load_detector())


def _paste_all(
    image: np.ndarray, faces: list[Face], edit: float | None = None, residual: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Paste every face back (shifted in colour by ``edit``); also return the union mask."""
    out, touched = image, np.zeros(image.shape[:2], bool)
    mask = face_mask(SIZE)
    for face in faces:
        crop, matrix = align_face(image, face.landmarks, SIZE)
        edited = crop if edit is None else np.clip(crop + edit, 0, 1)
        before = out
        out = paste_back(out, edited, mask, matrix, reconstruction=crop if residual else None)
        touched |= (before != out).any(axis=2)
    return out, touched


def test_unedited_crops_reproduce_the_photo(photo: tuple[np.ndarray, list[Face]]) -> None:
    image, faces = photo
    out, _ = _paste_all(image, faces)
    diff = np.abs(out.astype(int) - image.astype(int))
    assert diff.mean() < 0.5 and np.percentile(diff, 99.9) <= 25


def test_residual_mode_with_no_edit_is_exact(photo: tuple[np.ndarray, list[Face]]) -> None:
    image, faces = photo
    out, _ = _paste_all(image, faces, residual=True)
    np.testing.assert_array_equal(out, image)


def test_outside_the_mask_output_equals_input(photo: tuple[np.ndarray, list[Face]]) -> None:
    image, faces = photo
    out, touched = _paste_all(image, faces, edit=0.3)
    assert touched.any()
    np.testing.assert_array_equal(out[~touched], image[~touched])
    # changes stay near the faces: inside each face box grown by its size
    near = np.zeros_like(touched)
    for f in faces:
        x0, y0, x1, y1 = (int(v) for v in f.box)
        s = int(f.size)
        near[max(y0 - s, 0) : y1 + s, max(x0 - s, 0) : x1 + s] = True
    assert not (touched & ~near).any()


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_depth_and_alpha_survive(photo: tuple[np.ndarray, list[Face]], dtype: type) -> None:
    image, faces = photo
    top = 65535 if dtype == np.uint16 else 1.0
    deep = (image.astype(np.float64) / 255 * top).astype(dtype)
    alpha = np.linspace(0, top, image.shape[1], dtype=np.float64)[None, :, None]
    rgba = np.concatenate([deep, np.broadcast_to(alpha, (*image.shape[:2], 1)).astype(dtype)], 2)
    out, touched = _paste_all(rgba, faces, edit=0.2)
    assert out.dtype == dtype and out.shape == rgba.shape
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])
    np.testing.assert_array_equal(out[~touched], rgba[~touched])
    assert touched.sum() > 1000


def test_gray_frames_stay_gray(photo: tuple[np.ndarray, list[Face]]) -> None:
    image, faces = photo
    gray = image.mean(axis=2, keepdims=True).astype(np.uint8)
    out, touched = _paste_all(gray, faces, edit=0.2)
    assert out.shape == gray.shape and touched.sum() > 1000
    # the gray result is the luma of what an RGB copy of the same frame gets
    colour, _ = _paste_all(np.repeat(gray, 3, axis=2), faces, edit=0.2)
    luma = colour.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    assert np.abs(out[..., 0].astype(np.float32) - luma).max() <= 1.0


def test_mask_is_soft_and_zero_at_the_border() -> None:
    mask = face_mask(SIZE)
    assert mask.max() == pytest.approx(1.0, abs=1e-3)
    assert (mask[0] == 0).all() and (mask[-1] == 0).all() and (mask[:, 0] == 0).all()
    assert ((mask > 0.05) & (mask < 0.95)).sum() > 0.05 * SIZE * SIZE  # a real feather


def test_mask_has_no_seam_even_when_the_head_passes_the_crop() -> None:
    """The head ellipse reaches past the crop's sides; a mask that then stopped at the crop's
    edge would leave a line in the photo where the edit ends."""
    centre = np.array([SIZE / 2, SIZE / 2])
    ffhq = np.array([[0.38, 0.47], [0.62, 0.47], [0.5, 0.6], [0.41, 0.72], [0.59, 0.72]]) * SIZE
    for landmarks in (None, (ffhq - centre) * 1.6 + centre):  # the FFHQ crop, a face 1.6× bigger
        mask = face_mask(SIZE, landmarks)
        assert mask.max() == pytest.approx(1.0, abs=1e-3)
        steepest = max(np.abs(np.diff(mask, axis=0)).max(), np.abs(np.diff(mask, axis=1)).max())
        assert steepest < 0.15, steepest  # a smooth fall over many pixels, no step


def test_mask_from_landmarks_follows_the_face(photo: tuple[np.ndarray, list[Face]]) -> None:
    image, faces = photo
    _, matrix = align_face(image, faces[0].landmarks, SIZE)
    in_crop = np.hstack([faces[0].landmarks, np.ones((5, 1))]) @ matrix.T
    # on an FFHQ-aligned crop the landmarks frame the crop itself: the default mask
    np.testing.assert_allclose(face_mask(SIZE, in_crop), face_mask(SIZE), atol=1e-5)
    # a face framed smaller and to the right (another template) gets a smaller mask there
    smaller = face_mask(SIZE, (in_crop - SIZE / 2) * 0.5 + [SIZE * 0.7, SIZE / 2])
    _, cols = np.nonzero(smaller)
    assert cols.mean() == pytest.approx(SIZE * 0.7, abs=2)
    assert smaller.sum() < 0.3 * face_mask(SIZE).sum()
    assert (smaller[:, 0] == 0).all() and (smaller[-1] == 0).all()


def test_bad_shapes_are_refused() -> None:
    frame = np.zeros((100, 100, 3), np.uint8)
    with pytest.raises(ValueError, match="crop must be"):
        paste_back(frame, np.zeros((64, 64, 3)), np.zeros((32, 32)), np.eye(2, 3))


def test_a_hair_edit_reaches_above_the_brows_and_nothing_outside_the_mask(
    photo: tuple[np.ndarray, list[Face]],
) -> None:
    """An edit of the hair alone (the top of the FFHQ framing: crown and forehead) comes
    through the paste-back above each face's brows, and only inside its mask."""
    image, faces = photo
    out, mask = image, face_mask(SIZE)
    for face in faces:
        crop, matrix = align_face(image, face.landmarks, SIZE)
        edited = crop.copy()
        edited[: int(0.35 * SIZE)] = np.clip(edited[: int(0.35 * SIZE)] + 0.4, 0, 1)  # the hair
        out = paste_back(out, edited, mask, matrix, reconstruction=crop)
    changed = (out != image).any(axis=2)
    inside = np.zeros_like(changed)
    for face in faces:
        _, matrix = align_face(image, face.landmarks, SIZE)
        inside |= _mask_in_photo(mask, matrix, image.shape[:2]) > 0
        eyes_y = float(face.landmarks[:2, 1].mean())
        eye_distance = float(np.linalg.norm(face.landmarks[1] - face.landmarks[0]))
        x0, x1 = (float(v) for v in face.landmarks[:2, 0])
        above_brows = changed[: int(eyes_y - 0.5 * eye_distance), int(x0) : int(x1)]
        assert above_brows.mean() > 0.5  # the forehead and hair above the brows changed
    assert changed.any() and not (changed & ~inside).any()


def _mask_in_photo(mask: np.ndarray, matrix: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    import cv2

    height, width = shape[:2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return cv2.warpAffine(mask, matrix, (width, height), flags=flags, borderValue=0)


def test_replace_weight_follows_the_size_of_the_change() -> None:
    """No change: weight 0 (adaptive is residual there); a change of CHANGE_FULL or more over
    a wide area: weight 1 (the render); in between, in proportion."""
    rec = np.full((64, 64, 3), 0.5, np.float32)
    np.testing.assert_array_equal(replace_weight(rec, rec), np.zeros((64, 64), np.float32))
    edited = rec.copy()
    edited[:, 32:] += CHANGE_FULL / np.sqrt(3) * 2  # twice CHANGE_FULL (RGB distance)
    weight = replace_weight(edited, rec)
    assert weight[:, 48:].min() == 1.0 and weight[:, :16].max() < 1e-3
    half = rec + CHANGE_FULL / np.sqrt(3) / 2
    np.testing.assert_allclose(replace_weight(half, rec), 0.5, atol=1e-5)


def test_adaptive_paste_takes_the_render_where_the_edit_changes_much(
    photo: tuple[np.ndarray, list[Face]],
) -> None:
    """Under a full mask, where the weight is 1 the result is the edited render with the
    photo's detail finer than a render pixel, where it is 0 the photo plus the change; outside
    the mask the photo is bit-identical."""
    image, faces = photo
    crop, matrix = align_face(image, faces[0].landmarks, SIZE)
    rec = np.clip(crop * 0.8 + 0.1, 0, 1)  # an imperfect reconstruction
    edited = rec.copy()
    edited[: SIZE // 2] = np.clip(edited[: SIZE // 2] + 0.3, 0, 1)  # a strong edit on top
    frame = crop.astype(np.float32)  # the crop as the frame: the matrix is the identity
    same = np.eye(2, 3)
    full = np.ones((SIZE, SIZE), np.float32)
    weight = replace_weight(edited, rec)
    out = paste_back(frame, edited, full, same, rec, weight)
    residual = paste_back(frame, edited, full, same, rec)
    top, bottom = weight == 1.0, weight == 0.0
    assert top[: SIZE // 4].all() and bottom[-SIZE // 4 :].all()
    detail = frame - low_pass(frame, DETAIL_SIGMA)
    np.testing.assert_allclose(out[top], np.clip(edited + detail, 0, 1)[top], atol=1e-5)
    assert np.abs(detail[top]).mean() > 0.005  # the photo has detail to keep (about 0.009)
    np.testing.assert_allclose(out[bottom], residual[bottom], atol=1e-5)
    pasted = paste_back(image, edited, face_mask(SIZE), matrix, rec, weight)
    outside = _mask_in_photo(face_mask(SIZE), matrix, image.shape[:2]) == 0
    np.testing.assert_array_equal(pasted[outside], image[outside])
