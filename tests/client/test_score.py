"""`facesmith score` end to end on real photos with the tiny test pack (the numbers only prove
the harness), dlib's identity descriptor on real people, and the summary maths."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facesmith_client.cli.main import main
from facesmith_client.pipeline.score import (
    IdentityModel,
    chart,
    identity_distance,
    nice_ticks,
    outside_change,
    summarise,
)
from facesmith_client.vision.images import read_image

STRENGTHS = (-50.0, 0.0, 50.0)  # the test pack's age edit is in years (range ±50)


@pytest.fixture(scope="module")
def report(
    server: str, photos_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Score a folder of two one-face photos and a two-face photo given as a file."""
    whole = photos_dir / "whole"
    folder = tmp_path_factory.mktemp("score_in")
    for name in ("obama.jpg", "rose_leslie1.jpg"):
        shutil.copy(whole / name, folder / name)
    out = tmp_path_factory.mktemp("score_out")
    argv = [
        "score",
        str(folder),
        str(whole / "two_people.jpg"),
        "--edit",
        "age",
        "--strengths",
        *[str(s) for s in STRENGTHS],
        "--server",
        server,
        "--out",
        str(out / "report.json"),
        "--chart",
        str(out / "chart.png"),
    ]
    assert main(argv) == 0
    data: dict[str, Any] = json.loads((out / "report.json").read_text())
    data["_chart"] = read_image(out / "chart.png")
    return data


def test_report_has_the_expected_structure(report: dict[str, Any]) -> None:
    assert report["edit"] == "age" and report["mode"] == "adaptive"
    assert report["strengths"] == list(STRENGTHS)
    assert report["skipped"] == []
    rows = report["photos"]
    assert len(rows) == 3 * len(STRENGTHS)
    names = sorted({Path(r["photo"]).name for r in rows})
    assert names == ["obama.jpg", "rose_leslie1.jpg", "two_people.jpg"]
    for row in rows:
        assert set(row) == {"photo", "strength", "outside_mask", "faces"}
        expected = 2 if row["photo"].endswith("two_people.jpg") else 1
        assert len(row["faces"]) == expected
        for face in row["faces"]:
            assert {
                "face",
                "box",
                "age_before",
                "age_after",
                "age_shift",
                "male_before",
                "male_after",
                "gender_flip",
                "identity_distance",
            } <= set(face)
            assert 0 <= face["age_before"] <= 100 and 0 <= face["male_after"] <= 1
            assert face["age_shift"] == pytest.approx(face["age_after"] - face["age_before"])
            assert face["identity_distance"] >= 0
    assert [s["strength"] for s in report["summary"]] == list(STRENGTHS)
    for entry in report["summary"]:
        assert entry["photos"] == 3 and entry["faces"] == 4
        assert 0 <= entry["gender_flip_rate"] <= 1


def test_nothing_changes_outside_the_face_masks(report: dict[str, Any]) -> None:
    for row in report["photos"]:
        assert row["outside_mask"] == {"changed_pixels": 0, "max_abs_change": 0.0}, row["photo"]
    for entry in report["summary"]:
        assert entry["outside_mask_changed_pixels"] == 0
        assert entry["outside_mask_max_abs_change"] == 0.0


def test_an_unedited_photo_keeps_its_identity_and_attributes(report: dict[str, Any]) -> None:
    (zero,) = [s for s in report["summary"] if s["strength"] == 0.0]
    assert zero["mean_identity_distance"] == pytest.approx(0.0, abs=0.02)
    assert zero["mean_age_shift"] == pytest.approx(0.0, abs=1.0)
    assert zero["gender_flip_rate"] == 0.0


def test_edits_change_the_faces(report: dict[str, Any]) -> None:
    edited = [s for s in report["summary"] if s["strength"] != 0.0]
    assert all(s["mean_identity_distance"] > 0.01 for s in edited)


def test_chart_is_drawn(report: dict[str, Any]) -> None:
    image = report["_chart"]
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.shape[0] >= 400 and image.shape[1] >= 600
    coloured = (image.max(axis=2).astype(int) - image.min(axis=2)) > 80
    assert coloured.sum() > 500  # the measures' lines


def test_dlib_descriptor_tells_people_apart(photos_dir: Path) -> None:
    from facesmith_client.vision.detect import detect_faces, load_detector

    detector = load_detector("cpu")
    model = IdentityModel()

    def descriptor(name: str) -> np.ndarray:
        image = read_image(photos_dir / "whole" / name)
        (face,) = detect_faces(image, detector)
        return model.descriptor(image, face.box)

    obama = descriptor("obama.jpg")
    assert identity_distance(obama, descriptor("obama2.jpg")) <= 0.5
    assert identity_distance(obama, descriptor("rose_leslie1.jpg")) >= 0.6


def _face(shift: float, flip: bool, distance: float) -> dict[str, Any]:
    return {"age_shift": shift, "gender_flip": flip, "identity_distance": distance}


def test_summary_maths() -> None:
    rows = [
        {
            "photo": "a",
            "strength": 1.0,
            "outside_mask": {"changed_pixels": 0, "max_abs_change": 0.0},
            "faces": [_face(4.0, True, 0.2), _face(2.0, False, 0.4)],
        },
        {
            "photo": "b",
            "strength": 1.0,
            "outside_mask": {"changed_pixels": 3, "max_abs_change": 0.25},
            "faces": [_face(-3.0, False, 0.3)],
        },
        {
            "photo": "a",
            "strength": -1.0,
            "outside_mask": {"changed_pixels": 0, "max_abs_change": 0.0},
            "faces": [_face(-1.0, False, 0.1)],
        },
    ]
    minus, plus, missing = summarise(rows, [-1, 1, 2])
    assert plus["strength"] == 1.0 and plus["photos"] == 2 and plus["faces"] == 3
    assert plus["mean_age_shift"] == pytest.approx(1.0)
    assert plus["gender_flip_rate"] == pytest.approx(1 / 3)
    assert plus["mean_identity_distance"] == pytest.approx(0.3)
    assert plus["outside_mask_changed_pixels"] == 3
    assert plus["outside_mask_max_abs_change"] == 0.25
    assert minus["mean_age_shift"] == -1.0 and minus["gender_flip_rate"] == 0.0
    assert missing["faces"] == 0 and missing["mean_age_shift"] is None
    image = chart([minus, plus, missing], "age")  # measures without values are left out
    assert image.shape[2] == 3


def test_outside_change_counts_only_outside_the_region() -> None:
    before = np.zeros((10, 12, 3), np.uint8)
    after = before.copy()
    region = np.zeros((10, 12), bool)
    region[2:5, 2:5] = True
    after[3, 3] = 255  # inside: ignored
    assert outside_change(before, after, region) == {"changed_pixels": 0, "max_abs_change": 0.0}
    after[8, 10, 1] = 51
    result = outside_change(before, after, region)
    assert result["changed_pixels"] == 1
    assert result["max_abs_change"] == pytest.approx(0.2)


def test_nice_ticks() -> None:
    assert nice_ticks(-2, 2) == [-2, -1, 0, 1, 2]
    assert nice_ticks(0, 1) == [0, 0.25, 0.5, 0.75, 1]
    ticks = nice_ticks(-21.3, 0)
    assert ticks[0] <= -21.3 and ticks[-1] >= 0
    assert nice_ticks(3, 3)[0] < 3 < nice_ticks(3, 3)[-1]
