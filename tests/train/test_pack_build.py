"""Edits from the generator's own samples: planted directions are recovered from synthetic
readers, conditioning and the colour hold work, and `build_pack` writes a loadable pack whose
absolute edits and swaps land where its models say."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from facesmith_client.cli.main import main as cli_main
from facesmith_server.latent.edit import strength_to_target
from facesmith_server.latent.fitting import cosine
from facesmith_server.model.checkpoints import load_generator
from facesmith_server.model.pack import load_pack
from facesmith_train.directions.from_samples import (
    AttributeSpec,
    Samples,
    fit_edits,
    mean_colour,
    sample_and_read,
)
from facesmith_train.pack.run import EDITS, build_pack

DIM = 16
ALIGNMENT = "ffhq"


def planted(n: int = 6000, seed: int = 0) -> tuple[Samples, dict[str, np.ndarray]]:
    """W codes whose axes 0..3 carry age, gender, bald and the face's colour; bald is
    entangled with gender and age with colour, as in real data."""
    rng = np.random.default_rng(seed)
    ws = rng.standard_normal((n, DIM))
    axes = np.eye(DIM)
    age = 40 + 10 * ws[:, 0] + 6 * ws[:, 3] + rng.normal(0, 2, n)  # older = darker, too
    gender = 1 / (1 + np.exp(-3 * ws[:, 1]))
    bald = 1 / (1 + np.exp(-(3 * ws[:, 2] + 2 * ws[:, 1] - 2)))
    colour = 0.5 + 0.05 * ws[:, 3:4] * np.ones((1, 3))
    values = {"age": age, "gender": gender, "bald": (rng.random(n) < bald) * 1.0}
    return Samples(ws, values, colour), {"age": axes[0], "gender": axes[1], "bald": axes[2]}


SPECS = [spec for spec in EDITS if spec.name in ("age", "gender", "bald")]


def test_planted_directions_are_recovered_conditional_and_colour_free() -> None:
    samples, truth = planted()
    fitted = fit_edits(samples, SPECS)
    for name in ("age", "gender", "bald"):
        assert cosine(fitted[name].direction, truth[name]) > 0.97, name
        assert abs(fitted[name].report["colour_change_per_unit"]) < 1e-3, name
    # without the colour hold, age follows the colour axis too
    loose = fit_edits(samples, SPECS, hold_colour=False)
    assert cosine(loose["age"].direction, truth["age"]) < 0.9
    assert abs(cosine(fitted["bald"].direction, truth["gender"])) < 0.05  # bald ⟂ gender


def test_strengths_are_in_years_and_from_the_mean_no_to_the_mean_yes() -> None:
    samples, _ = planted()
    fitted = fit_edits(samples, SPECS)
    age = fitted["age"]
    assert float(age.direction[0] @ age.normal) == pytest.approx(1.0, rel=1e-4)  # 1 year
    assert abs(age.normal[0] - 10.0) < 0.5 and abs(age.intercept - 40.0) < 0.5
    # bald is planted on axis 2: strength 1 moves as far as the bald samples lie from the rest
    yes = samples.values["bald"] > 0.5
    planted_gap = samples.ws[yes, 2].mean() - samples.ws[~yes, 2].mean()
    bald = fitted["bald"].direction[0]
    assert np.linalg.norm(bald) == pytest.approx(planted_gap, rel=0.05)
    assert bald[2] > 0.97 * np.linalg.norm(bald)


def test_samples_are_read_in_a_fixed_order(gan_checkpoint: Path) -> None:
    generator, _ = load_generator(gan_checkpoint.with_name("stylegan2.pt"), "cpu")
    readers = {"bright": lambda images: images.mean(axis=(1, 2, 3))}
    a = sample_and_read(generator, 20, readers, seed=3, log=lambda _: None)
    b = sample_and_read(generator, 20, readers, seed=3, log=lambda _: None)
    assert a.ws.shape == (20, generator.style_dim) and a.colour.shape == (20, 3)
    assert np.array_equal(a.ws, b.ws) and np.array_equal(a.values["bright"], b.values["bright"])
    image = np.zeros((1, 20, 20, 3))
    image[0, 9:15, 7:13] = 1.0  # the centre box of a 20 px crop
    assert mean_colour(image).tolist() == [[1.0, 1.0, 1.0]]


def test_build_pack_writes_a_loadable_fp16_pack_with_models(
    gan_checkpoint: Path, encoder_export: Path, tmp_path: Path
) -> None:
    def brightness(images: np.ndarray) -> np.ndarray:
        return images.mean(axis=(1, 2, 3))

    readers = {
        "age": lambda images: 20 + 60 * brightness(images),
        "gender": lambda images: (images[..., 0].mean((1, 2)) > images[..., 2].mean((1, 2))) * 1.0,
        "smile": lambda images: (brightness(images) > np.median(brightness(images))) * 1.0,
    }
    out = tmp_path / "demo"
    report = build_pack(gan_checkpoint.with_name("stylegan2.pt"), encoder_export, readers,
                        ALIGNMENT, out, samples=300, log=lambda _: None)  # fmt: skip
    pack = load_pack(out, "cpu")  # verifies every file's sha256 and size
    assert pack.manifest.alignment == ALIGNMENT and "non-commercial" in pack.manifest.license
    assert set(pack.directions) == {"age", "gender", "smile"}
    age, gender = pack.directions["age"], pack.directions["gender"]
    assert age.score is not None and age.score.kind == "continuous" and age.group == "age"
    assert gender.score is not None and gender.score.kind == "binary"
    shape = (pack.generator.num_ws, pack.generator.style_dim)
    w = np.broadcast_to(pack.encoder_latent_avg.numpy(), shape)
    k = strength_to_target(w, age.vector, age.score, "set", 60.0, (-50, 50))
    assert age.score.value(w + k * age.vector) == pytest.approx(60.0, abs=1e-3)
    generator = torch.load(out / "stylegan2.pt", weights_only=True)
    halves = {v.dtype for v in generator["g_ema"].values() if v.is_floating_point()}
    assert halves == {torch.float16}
    stored = json.loads((out / "training.json").read_text())
    assert stored == json.loads(json.dumps(report))
    assert stored["directions"]["smile"]["held"] == ["age", "gender"]
    assert stored["samples"]["count"] == 300


def test_pack_command_checks_its_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["train", "pack", "--generator", str(tmp_path / "g.pt"), "--encoder",
            str(tmp_path / "e.pt"), "--data", str(tmp_path / "x.npz"), "--out",
            str(tmp_path)]  # fmt: skip
    assert cli_main(args) == 1
    assert "no such file" in capsys.readouterr().err


def test_every_edit_holds_age_and_gender_or_the_other() -> None:
    names = {spec.name for spec in EDITS}
    for spec in EDITS:
        assert set(spec.hold) <= names - {spec.name}
        assert spec.name in ("age", "gender") or set(spec.hold) == {"age", "gender"}
    assert {"age", "gender", "bald", "grey_hair", "smile"} <= names
    assert isinstance(EDITS[0], AttributeSpec)
