"""`facesmith train prepare` on the real dataset tars (a few images of each) and on tiny tars."""

from __future__ import annotations

import csv
import io
import json
import tarfile
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from facesmith.alignment import FFHQ, parse_alignment
from facesmith_client.cli.main import main
from facesmith_train.data.datasets import (
    LFW_MAX_PER_PERSON,
    ReadCounts,
    lfw_person,
    parse_utkface_name,
    read_lfw_labels,
    utkface_records,
)
from facesmith_train.data.framing import (
    DEFAULT_MAX_PADDING,
    FaceGeometry,
    choose_template,
    mean_padding,
    scaled_template,
)
from facesmith_train.data.prepare import is_held_out

LIMIT = 40
SIZE = 32  # small crops keep the test fast; the default is 64


@pytest.fixture(scope="module")
def prepared(datasets_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CLI's output folder for the first LIMIT images of each dataset."""
    out = tmp_path_factory.mktemp("prepared")
    argv = ["train", "prepare", "--out", str(out), "--limit", str(LIMIT), "--size", str(SIZE)]
    argv += ["--datasets", "lfw,celeba,utkface"]
    argv += ["--lfw", str(datasets_dir / "lfw192" / "lfw192.tar")]
    argv += ["--lfw-labels", str(datasets_dir / "lfw192" / "lfw192_labels.csv")]
    argv += ["--utkface", str(datasets_dir / "utkface.tar")]
    argv += ["--celeba", str(datasets_dir / "celeba10k.tar")]
    argv += ["--celeba-attributes", str(datasets_dir / "celeba10k_attributes.csv")]
    assert main(argv) == 0
    return out


def report_of(out: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


def load(out: Path, name: str) -> dict[str, np.ndarray]:
    with np.load(out / f"{name}.npz", allow_pickle=False) as data:
        return dict(data)


def test_counts_add_up(prepared: Path) -> None:
    for name, counts in report_of(prepared)["datasets"].items():
        assert counts["read"] == LIMIT, name
        dropped = ("duplicates", "unlabelled", "unreadable", "no_face", "unalignable")
        assert sum(counts[k] for k in dropped) + counts["kept"] == counts["read"], name
        labelled = counts["read"] - counts["duplicates"] - counts["unlabelled"]
        assert counts["kept"] >= 0.9 * labelled, name  # the detector finds nearly every face
        assert len(load(prepared, name)["source_ids"]) == counts["kept"]


def test_crops_are_uint8_squares_with_landmarks_inside(prepared: Path) -> None:
    for name in ("utkface", "celeba", "lfw"):
        data = load(prepared, name)
        n = len(data["source_ids"])
        assert data["crops"].shape == (n, SIZE, SIZE, 3) and data["crops"].dtype == np.uint8
        assert data["crops"].std() > 20  # real pictures, not padding
        assert data["landmarks"].shape == (n, 5, 2)
        assert ((data["landmarks"] > 0) & (data["landmarks"] < SIZE)).all()
        assert data["labels"].shape == (n, len(data["label_names"]))


def test_utkface_labels_come_from_the_file_names(prepared: Path) -> None:
    data = load(prepared, "utkface")
    assert list(data["label_names"]) == ["age", "gender", "race"]
    age, gender, race = data["labels"].T
    assert age.min() >= 1 and age.max() <= 116 and age.std() > 5
    assert set(gender) <= {0, 1} and set(race) <= set(range(5))
    for source_id, row in zip(data["source_ids"], data["labels"], strict=True):
        assert source_id.startswith(f"{row[0]}_{row[1]}_{row[2]}_")


def test_celeba_labels_are_the_csv_rows(prepared: Path, datasets_dir: Path) -> None:
    data = load(prepared, "celeba")
    names = list(data["label_names"])
    assert len(names) == 40 and {"Bald", "Male", "Young", "Eyeglasses", "Smiling"} <= set(names)
    assert set(np.unique(data["labels"])) <= {0, 1}
    with open(datasets_dir / "celeba10k_attributes.csv", newline="") as f:
        table = {row["image_id"]: row for row in csv.DictReader(f)}
    for source_id, row in zip(data["source_ids"], data["labels"], strict=True):
        assert [int(table[source_id][k]) for k in names] == row.tolist()


def test_lfw_labels_gender_and_holds_out_whole_people(prepared: Path) -> None:
    data = load(prepared, "lfw")
    assert list(data["label_names"]) == ["Male", "grayscale", "black_permille"]
    assert set(np.unique(data["labels"][:, 0])) <= {0, 1}
    people = [lfw_person(i) for i in data["source_ids"]]
    assert data["held_out"].tolist() == [is_held_out(p) for p in people]
    assert lfw_person("George_W_Bush_0001.jpg") == "George_W_Bush"


def test_lfw_keeps_at_most_eight_photos_of_a_person(datasets_dir: Path) -> None:
    table = read_lfw_labels(datasets_dir / "lfw192" / "lfw192_labels.csv")
    per_person = Counter(lfw_person(name) for name in table)
    assert max(per_person.values()) == LFW_MAX_PER_PERSON
    assert len(table) > 10_000  # 10,147 of 13,233 photos less 8 without a gender


def test_the_split_is_a_function_of_the_id(prepared: Path) -> None:
    for name in ("utkface", "celeba"):
        data = load(prepared, name)
        assert data["held_out"].tolist() == [is_held_out(i) for i in data["source_ids"]]
    share = np.mean([is_held_out(f"{i:06d}.jpg") for i in range(10000)])
    assert 0.08 < share < 0.12
    assert is_held_out("000007.jpg") == is_held_out("000007.jpg")


def test_the_chosen_template_pads_utkface_less_than_ffhq(prepared: Path) -> None:
    template = report_of(prepared)["template"]
    assert template["fits"]
    assert template["mean_padding"]["utkface"] <= template["max_padding"]
    assert template["mean_padding"]["utkface"] < template["ffhq_mean_padding"]["utkface"] / 4
    chosen = parse_alignment(template["alignment"])
    assert chosen != FFHQ
    assert str(load(prepared, "celeba")["alignment"]) == template["alignment"]


def test_loose_crops_keep_the_ffhq_framing() -> None:
    # a 60 px eye distance in the middle of a 1000 px image: FFHQ's square fits with room
    face = [[470, 470], [530, 470], [500, 500], [475, 530], [525, 530]]
    loose = FaceGeometry(np.array([face], np.float64), np.array([[1000, 1000]], np.float64))
    assert choose_template({"loose": loose}).template == FFHQ


def _jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", pixels)[1].tobytes()


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"utkface/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_duplicates_bad_names_and_broken_files_are_counted(tmp_path: Path) -> None:
    face = _jpeg(0)
    tar = _tar(
        tmp_path / "tiny.tar",
        {
            "30_1_2_20170101000000000.jpg.chip.jpg": face,
            "31_0_2_20170101000000001.jpg.chip.jpg": face,  # same bytes under another name
            "61_1_20170109150557335.jpg.chip.jpg": _jpeg(1),  # no race field
            "40_0_0_20170101000000002.jpg.chip.jpg": b"not a jpeg",
            "12_0_1_20170101000000003.jpg.chip.jpg": _jpeg(2),
        },
    )
    counts = ReadCounts()
    records = list(utkface_records(tar, counts))
    assert [r.source_id[:6] for r in records] == ["30_1_2", "12_0_1"]
    assert records[0].labels == {"age": 30, "gender": 1, "race": 2}
    assert records[0].image.shape == (24, 24, 3) and records[0].image.dtype == np.uint8
    assert counts == ReadCounts(read=5, duplicates=1, unlabelled=1, unreadable=1)


@pytest.mark.parametrize(
    ("name", "labels"),
    [
        ("41_0_3_20170119171541497.jpg.chip.jpg", {"age": 41, "gender": 0, "race": 3}),
        ("24_0_1_20170116220224657 .jpg.chip.jpg", {"age": 24, "gender": 0, "race": 1}),
        ("61_1_20170109150557335.jpg.chip.jpg", None),
        ("0_0_0_20170101.jpg.chip.jpg", None),  # ages start at 1
        ("30_2_0_20170101.jpg.chip.jpg", None),
        ("notes.jpg", None),
    ],
)
def test_utkface_names(name: str, labels: dict[str, int] | None) -> None:
    assert parse_utkface_name(name) == labels


def test_a_little_padding_keeps_the_ffhq_framing() -> None:
    # one face in 20 sits so low that FFHQ's square pads it and a square centred on the eyes
    # does not: the mean padding (0.3 %) is within the limit, so FFHQ's centre stays
    face = [[470, 470], [530, 470], [500, 500], [475, 530], [525, 530]]
    shapes = [[1000, 1000]] * 19 + [[585, 1000]]
    faces = FaceGeometry(np.array([face] * 20, np.float64), np.array(shapes, np.float64))
    assert mean_padding({"f": faces}, scaled_template(1.0, 0.0))["f"] == 0.0
    assert 0 < mean_padding({"f": faces}, FFHQ)["f"] <= DEFAULT_MAX_PADDING
    assert choose_template({"f": faces}).template == FFHQ
