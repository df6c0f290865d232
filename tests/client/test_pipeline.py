"""edit_photo / invert_photo / render_photo with the fake client and given (or faked) faces:
depth, channels and alpha survive; only the face region changes, in the edit's direction."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from facesmith import pixels
from facesmith.alignment import Template
from facesmith_client.pipeline import photo as pipeline
from facesmith_client.pipeline.photo import (
    NoFaceFound,
    edit_photo,
    faces_per_call,
    invert_photo,
    render_photo,
)
from facesmith_client.remote.client import CancelToken, ClientError, EditSpec
from facesmith_client.remote.fake_client import FakeClient
from facesmith_client.vision.align import ffhq_matrix
from facesmith_client.vision.detect import Face

H, W = 300, 400
LANDMARKS = np.array(
    [[170, 130], [230, 130], [200, 160], [178, 190], [222, 190]], dtype=np.float32
)  # left eye, right eye, nose, mouth left, mouth right
DUMMY_DETECTOR: Any = object()  # detect_faces is faked where it is used
FACE = Face(box=(150.0, 90.0, 250.0, 220.0), score=0.99, landmarks=LANDMARKS)


def photo(dtype: Any = np.uint8, channels: int = 3) -> np.ndarray:
    """A smooth colour gradient with mild noise, in ``dtype`` with ``channels`` channels."""
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    rgb = np.stack([x / W, y / H, 0.5 + 0.2 * np.sin(x / 17)], axis=2) * 0.8 + 0.1
    rgb += rng.normal(0, 0.02, rgb.shape).astype(np.float32)
    image = rgb if channels == 3 else rgb[:, :, :1]
    if channels == 4:
        alpha = np.linspace(0.2, 1.0, W, dtype=np.float32)[None, :, None].repeat(H, axis=0)
        image = np.concatenate([rgb, alpha], axis=2)
    return pixels.from_float(image, dtype)


def crop_bounds(face: Face, size: int) -> tuple[int, int, int, int]:
    """Bounding box (x0, y0, x1, y1) of the face's aligned crop in the image."""
    _, matrix = pipeline.align_face(photo(), face.landmarks, size)
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
    points = corners @ inverse[:, :2].T + inverse[:, 2]
    x0, y0 = np.floor(points.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(points.max(axis=0)).astype(int) + 2
    return max(0, x0), max(0, y0), min(W, x1), min(H, y1)


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """H x W: where any channel differs."""
    return np.any(a != b, axis=2)


@pytest.mark.parametrize(
    ("dtype", "channels"),
    [(np.uint8, 3), (np.uint16, 3), (np.float32, 3), (np.uint8, 4), (np.uint16, 1)],
)
def test_output_keeps_depth_channels_and_alpha(dtype: Any, channels: int) -> None:
    image = photo(dtype, channels)
    edited = edit_photo(image, FakeClient(), None, [EditSpec("age", 30)], faces=[FACE])
    out = edited.image
    assert edited.faces == (FACE,) and edited.short_edits == ((),)
    assert out.shape == image.shape and out.dtype == image.dtype
    if channels == 4:
        assert np.array_equal(out[:, :, 3], image[:, :, 3])
    assert changed(out, image).any()


@pytest.mark.parametrize("mode", pipeline.MODES)
def test_only_the_face_changes_in_the_edits_direction(mode: pipeline.Mode) -> None:
    image = photo()
    out = edit_photo(image, FakeClient(), None, [EditSpec("gender", 2)], mode=mode,
                     faces=[FACE]).image  # fmt: skip
    x0, y0, x1, y1 = crop_bounds(FACE, 64)
    diff = changed(out, image)
    outside = diff.copy()
    outside[y0:y1, x0:x1] = False
    assert not outside.any(), "pixels outside the face's crop changed"
    # the fake turns gender + into more red: the face centre gets redder, green barely moves
    centre = (slice(140, 180), slice(185, 215))
    red = out[centre][..., 0].astype(float) - image[centre][..., 0]
    green = out[centre][..., 1].astype(float) - image[centre][..., 1]
    assert red.mean() > 20
    if mode == "residual":
        assert abs(green.mean()) < 2  # only the edit is added; the photo's detail stays


def test_fast_edits_go_through_the_students_in_one_call() -> None:
    """--fast: one Translate call, no inversion; the student's change (the fake: the gender
    swap reddens) lands on the face only, and the photo's own detail stays in residual mode."""
    image = photo()
    client = FakeClient()
    swap = EditSpec("gender", mode="swap")
    out = edit_photo(image, client, None, [swap], faces=[FACE, FACE], fast=True).image
    assert client.calls == [("info", 0), ("translate", 2)]
    x0, y0, x1, y1 = crop_bounds(FACE, 64)
    outside = changed(out, image)
    outside[y0:y1, x0:x1] = False
    assert not outside.any()
    centre = (slice(140, 180), slice(185, 215))
    red = out[centre][..., 0].astype(float) - image[centre][..., 0]
    green = out[centre][..., 1].astype(float) - image[centre][..., 1]
    assert red.mean() > 20 and abs(green.mean()) < 1
    # a student that changes nothing leaves the photo byte-identical (the residual is taken
    # against the crop as sent, so its quantisation does not leak in)
    same = edit_photo(image, client, None, [EditSpec("age", 0)], faces=[FACE], fast=True).image
    assert np.array_equal(same, image)
    with pytest.raises(ValueError, match="no one-pass edit makes bald"):
        edit_photo(image, client, None, [EditSpec("bald", 1)], faces=[FACE], fast=True)
    with pytest.raises(ValueError, match="outside the one-pass range"):
        edit_photo(image, client, None, [EditSpec("age", 60)], faces=[FACE], fast=True)
    assert [c[0] for c in client.calls].count("translate") == 2  # refused before any work


def test_residual_keeps_detail_that_replace_loses() -> None:
    """The fake reconstructs a blurred face: replace blurs the photo's noise away there;
    residual keeps it, and so does adaptive, also where it takes the render (a strong edit)."""
    image = photo()
    client = FakeClient()
    out = {
        (mode, strength): edit_photo(image, client, None, [EditSpec("age", strength)],
                                     mode=mode, faces=[FACE]).image
        for mode in pipeline.MODES for strength in (1, 50)
    }  # fmt: skip
    centre = (slice(140, 180), slice(185, 215))

    def noise(a: np.ndarray) -> float:
        return float(np.abs(np.diff(a[centre].astype(float), axis=1)).mean())

    for strength in (1, 50):
        assert noise(out["residual", strength]) > 1.5 * noise(out["replace", strength])
        assert noise(out["adaptive", strength]) > 1.5 * noise(out["replace", strength])


def test_detection_is_used_when_no_faces_are_given(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []

    def fake_detect(image: np.ndarray, detector: Any, min_face_size: int = 40) -> list[Face]:
        asked.append(min_face_size)
        return [FACE]

    monkeypatch.setattr(pipeline, "detect_faces", fake_detect)
    faces = edit_photo(
        photo(), FakeClient(), DUMMY_DETECTOR, [EditSpec("age", 5)], min_face_size=77
    ).faces
    assert faces == (FACE,) and asked == [77]


def test_no_face_is_a_clear_value_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "detect_faces", lambda *a, **k: [])
    client = FakeClient()
    with pytest.raises(NoFaceFound, match=r"no face found.*--min-face-size") as err:
        edit_photo(photo(), client, DUMMY_DETECTOR, [EditSpec("age", 5)])
    assert isinstance(err.value, ValueError)
    assert ("edit", 1) not in client.calls


def test_bad_edits_fail_before_any_server_work() -> None:
    client = FakeClient()
    with pytest.raises(ValueError, match=r"unknown edit 'beard'.*age, bald, gender, smile"):
        edit_photo(photo(), client, None, [EditSpec("beard", 1)], faces=[FACE])
    with pytest.raises(ValueError, match=r"outside its range \[-50, 50\]"):
        edit_photo(photo(), client, None, [EditSpec("age", 80)], faces=[FACE])
    with pytest.raises(ValueError, match="mode"):
        edit_photo(photo(), client, None, [EditSpec("age", 8)], mode="blend", faces=[FACE])  # type: ignore[arg-type]
    assert [c for c, _ in client.calls if c != "info"] == []


def test_all_faces_go_in_one_call_unless_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    second = Face((300.0, 60.0, 360.0, 140.0), 0.9, LANDMARKS * 0.5 + [180, 40])
    client = FakeClient()
    edit_photo(photo(), client, None, [EditSpec("age", 5)], faces=[FACE, second, FACE])
    assert [c for c in client.calls if c[0] == "edit"] == [("edit", 3)]
    monkeypatch.setattr(pipeline, "MESSAGE_BUDGET_BYTES", 2 * 64 * 64 * 3 * 2)
    client = FakeClient()
    edit_photo(photo(), client, None, [EditSpec("age", 5)], faces=[FACE, second, FACE])
    assert [c for c in client.calls if c[0] == "edit"] == [("edit", 2), ("edit", 1)]


def test_faces_per_call_fits_the_message_limit() -> None:
    assert faces_per_call(1024, np.dtype(np.uint8)) == 8
    assert faces_per_call(1024, np.dtype(np.uint16)) == 4
    assert faces_per_call(64, np.dtype(np.uint8)) == 64


def test_progress_and_cancel_reach_the_caller() -> None:
    events: list[Any] = []
    edit_photo(photo(), FakeClient(), None, [EditSpec("age", 5)], refine_steps=4, faces=[FACE],
               on_event=events.append)  # fmt: skip
    assert [e.stage for e in events].count("refine") == 4
    token = CancelToken()
    with pytest.raises(ClientError) as err:
        edit_photo(photo(), FakeClient(), None, [EditSpec("age", 5)], refine_steps=10,
                   faces=[FACE], on_event=lambda e: token.cancel(), cancel=token)  # fmt: skip
    assert err.value.code == "cancelled"


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_render_photo_matches_edit_photo(dtype: Any) -> None:
    image = photo(dtype)
    edits = [EditSpec("bald", 1.5), EditSpec("smile", -1)]
    client = FakeClient()
    once = edit_photo(image, client, None, edits, faces=[FACE]).image
    inverted = invert_photo(image, client, None, faces=[FACE])
    assert np.array_equal(render_photo(inverted, client, edits).image, once)
    preview = render_photo(inverted, client, edits, resolution=32).image
    top = pixels.max_value(dtype)
    assert np.abs(preview.astype(float) - once).max() < 0.05 * top
    assert [c for c, _ in client.calls].count("invert") == 1


def test_render_photo_falls_back_to_latents_when_handles_expire() -> None:
    client = FakeClient()
    inverted = invert_photo(photo(), client, None, faces=[FACE])
    client._crops.clear()  # the server forgot its cache
    out = render_photo(inverted, client, [EditSpec("age", 10)], mode="replace").image
    assert out.shape == (H, W, 3)
    assert [c for c, _ in client.calls].count("render") == 2


def test_sweep_contact_sheet_tiles_every_strength() -> None:
    from facesmith_client.pipeline.sweep import (
        LABEL_HEIGHT,
        TILE_HEIGHT,
        contact_sheet,
        sweep_strengths,
    )

    client = FakeClient()
    strengths = sweep_strengths(client.info().edit("age"), 5)
    assert strengths == [-50.0, -25.0, 0.0, 25.0, 50.0]
    inverted = invert_photo(photo(np.uint16, 4), client, None, faces=[FACE])
    sheet = contact_sheet(inverted, client, "age", strengths, [EditSpec("smile", 1)])
    assert sheet.dtype == np.uint8 and sheet.shape[2] == 3
    tile = TILE_HEIGHT + LABEL_HEIGHT
    rows = (sheet.shape[0] + 8) // (tile + 8)
    assert rows in (1, 2, 3) and sheet.shape[0] == rows * tile + (rows - 1) * 8
    assert sheet.shape[1] > sheet.shape[0]  # landscape
    assert [c for c, _ in client.calls].count("render") == 5
    with pytest.raises(ValueError, match="at least 2"):
        sweep_strengths(client.info().edit("age"), 1)


def test_faces_are_framed_the_way_the_servers_pack_was_trained() -> None:
    template = Template(eye_scale=2.6, mouth_scale=2.34, centre_shift=0.0)
    client = FakeClient()
    client._info = dataclasses.replace(client.info(), alignment=template.to_manifest())
    photo_ffhq = invert_photo(photo(), FakeClient(), None, faces=[FACE])
    photo_pack = invert_photo(photo(), client, None, faces=[FACE])
    size = client.info().resolution
    np.testing.assert_allclose(
        photo_pack.faces[0].matrix, ffhq_matrix(FACE.landmarks, size, template)
    )
    assert not np.allclose(photo_pack.faces[0].matrix, photo_ffhq.faces[0].matrix)


def test_an_alignment_the_client_cannot_read_is_refused_before_any_work() -> None:
    client = FakeClient()
    client._info = dataclasses.replace(client.info(), alignment="dlib-68")
    with pytest.raises(ValueError, match="declares an alignment this client cannot use"):
        edit_photo(photo(), client, None, [EditSpec("age", 5)], faces=[FACE])
    assert [name for name, _ in client.calls] == ["info", "info"]  # no inversion, no edit
