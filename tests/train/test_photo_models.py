"""Edit models refitted on encoded, labelled real faces: a model the encoder's latents fool
reads them right again (so the swap crosses the boundary), labels come from the prepared
files' columns and estimates, and build_pack reports what it refitted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facesmith_server.latent.edit import strength_to_target
from facesmith_server.model.pack import Score, load_pack
from facesmith_train.directions.from_samples import AttributeSpec, Samples, fit_edits
from facesmith_train.directions.photo_models import (
    MIN_PHOTOS,
    Photos,
    labelled_crops,
    refit_on_photos,
)
from facesmith_train.pack.run import build_pack

DIM = 8
SPECS = [AttributeSpec("age", "continuous", limit=50.0), AttributeSpec("gender", "binary")]


def sample_fits() -> dict:
    """Edits fitted on the generator's samples: age on axis 0, gender on axis 1."""
    rng = np.random.default_rng(1)
    ws = rng.standard_normal((3000, DIM))
    male = rng.random(3000) < 1 / (1 + np.exp(-4 * ws[:, 1]))
    samples = Samples(ws, {"age": 40 + 10 * ws[:, 0], "gender": male * 1.0}, np.zeros((3000, 3)))
    return fit_edits(samples, SPECS, hold_colour=False)


def encoded_photos(n: int = 1000) -> Photos:
    """What the encoder makes of real faces: shifted along gender (so the samples' model calls
    nearly all of them men) and along age."""
    rng = np.random.default_rng(2)
    ws = rng.standard_normal((n, DIM))
    male = (rng.random(n) < 1 / (1 + np.exp(-4 * ws[:, 1]))) * 1.0
    encoded = ws + 2.5 * np.eye(DIM)[1] + 1.0 * np.eye(DIM)[0]
    return Photos(encoded, {"gender": male, "age": 40 + 10 * ws[:, 0]})


def test_a_model_the_encoder_fools_is_refitted_and_the_swap_crosses() -> None:
    fitted, photos = sample_fits(), encoded_photos()
    male = photos.values["gender"] > 0.5
    before = photos.encoded @ fitted["gender"].normal + fitted["gender"].intercept
    assert np.mean(before > 0) > 0.9 and np.mean((before > 0) == male) < 0.65
    refitted, report = refit_on_photos(fitted, photos)
    gender = refitted["gender"]
    assert report["gender"]["accuracy"] > 0.8 > report["gender"]["accuracy_of_the_samples_model"]
    assert np.array_equal(gender.direction, fitted["gender"].direction)  # only the model moves
    read = photos.encoded @ gender.normal + gender.intercept
    assert np.mean((read > 0) == male) > 0.8
    score = Score(gender.normal, gender.intercept, "binary", "", 0.0, 1.0)
    woman = photos.encoded[np.argmin(read)][None]
    k = strength_to_target(woman, gender.direction, score, "swap", 0.0, (-9.0, 9.0))
    assert score.value(woman) < 0 < score.value(woman + k * gender.direction)
    age = photos.encoded @ refitted["age"].normal + refitted["age"].intercept
    assert np.abs(age - photos.values["age"]).mean() < 1.0  # years, shift and all


def test_models_are_kept_without_labels_or_when_they_would_push_backwards() -> None:
    fitted, photos = sample_fits(), encoded_photos()
    few = photos.values["gender"].copy()
    few[MIN_PHOTOS - 1 :] = np.nan
    backwards = Photos(photos.encoded, {"gender": few, "age": 100 - photos.values["age"]})
    refitted, report = refit_on_photos(fitted, backwards)
    assert report["gender"] == {"kept": f"{MIN_PHOTOS - 1} labelled photos"}
    assert report["age"]["kept"] == "the photos' model falls along the edit: the samples model kept"
    for name in ("age", "gender"):
        assert refitted[name] is fitted[name]


def test_labels_come_from_columns_negations_and_estimates(tmp_path: Path) -> None:
    crops = np.arange(6 * 4 * 4 * 3, dtype=np.uint8).reshape(6, 4, 4, 3)
    held_out = np.array([True, False, False, False, False, False])
    np.savez(tmp_path / "a.npz", crops=crops, held_out=held_out,
             labels=np.array([[1, -1], [1, 1], [-1, 1], [1, -1], [-1, -1], [1, 1]], np.int16),
             label_names=np.array(["Male", "No_Beard"]))  # fmt: skip
    np.savez(tmp_path / "a.estimates.npz", age=np.arange(6, dtype=np.float32) * 10)
    np.savez(tmp_path / "b.npz", crops=crops[:3], held_out=np.zeros(3, bool))
    columns = {"gender": ("Male", False), "beard": ("No_Beard", True), "age": ("age", False)}
    got, values = labelled_crops([tmp_path / "a.npz", tmp_path / "b.npz"], columns, per_file=5)
    assert got.shape == (8, 4, 4, 3)  # 5 training faces of a, all 3 of b
    assert values["gender"][:5].tolist() == [1, 0, 1, 0, 1]
    assert values["beard"][:5].tolist() == [0, 0, 1, 1, 0]
    assert values["age"][:5].tolist() == [10, 20, 30, 40, 50]
    assert np.isnan(values["gender"][5:]).all() and np.isnan(values["age"][5:]).all()


def test_build_pack_refits_the_models_on_labelled_faces(
    gan_checkpoint: Path, encoder_export: Path, tmp_path: Path
) -> None:
    rng = np.random.default_rng(3)
    n = MIN_PHOTOS + 40
    crops = rng.integers(0, 256, (n, 4, 4, 3)).astype(np.uint8).repeat(4, 1).repeat(4, 2)
    male = np.where(crops[:, 8, 8, 0] > crops[:, 8, 8, 2], 1, -1)[:, None].astype(np.int16)
    data = tmp_path / "labelled.npz"
    np.savez(data, crops=crops, held_out=np.zeros(n, bool), labels=male,
             label_names=np.array(["Male"]))  # fmt: skip

    def redder(images: np.ndarray) -> np.ndarray:
        return (images[:, 8, 8, 0] > images[:, 8, 8, 2]) * 1.0

    readers = {"age": lambda images: 20 + 60 * images.mean(axis=(1, 2, 3)), "gender": redder}
    report = build_pack(gan_checkpoint.with_name("stylegan2.pt"), encoder_export, readers,
                        "ffhq", tmp_path / "pack", samples=300, log=lambda _: None,
                        photo_data=[data])  # fmt: skip
    photo = report["photo_models"]
    assert photo["photos"] == n and photo["age"] == {"kept": "0 labelled photos"}
    assert "accuracy" in photo["gender"] and photo["gender"]["photos"] == n
    assert load_pack(tmp_path / "pack", "cpu").directions["gender"].score is not None


def test_the_old_models_figure_is_read_on_the_faces_the_new_fit_holds_out() -> None:
    # refitting a model on the photos it was fitted on: both figures are the same held-out one
    fitted, photos = sample_fits(), encoded_photos()
    once, first = refit_on_photos(fitted, photos)
    _, second = refit_on_photos(once, photos)
    gender, age = second["gender"], second["age"]
    assert (
        gender["accuracy_of_the_samples_model"] == gender["accuracy"] == first["gender"]["accuracy"]
    )
    assert age["pearson_of_the_samples_model"] == pytest.approx(age["pearson"], abs=1e-3)
