"""Directions from labels (planted directions are recovered, conditioning holds) and the
`facesmith train pack` stage end to end on the tiny GAN and encoder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from facesmith_client.cli.main import main as cli_main
from facesmith_server.latent.fitting import cosine
from facesmith_server.model.pack import load_pack
from facesmith_train.directions.from_labels import ATTRIBUTES, fit_attributes, label_values

DIM = 12
ALIGNMENT = "template eye_scale=1.2 mouth_scale=1.08 centre_shift=0.5"
UTK_NAMES = np.array(["age", "gender", "race"])
CELEBA_NAMES = np.array(["Bald", "Eyeglasses", "Gray_Hair", "Male", "Smiling"])


def planted(rng: np.random.Generator, n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Codes [n, 3, DIM] whose axes 0..5 carry age, gender, bald, grey, glasses, smile."""
    w = rng.standard_normal((n, DIM))
    truth = {
        "age": 40 + 10 * w[:, 0],
        "male": w[:, 1] > 0,
        "Bald": w[:, 2] + 0.8 * w[:, 1] > 1.0,  # entangled with gender, as in the data
        "Gray_Hair": w[:, 3] > 0.5,
        "Eyeglasses": w[:, 4] > 0.5,
        "Smiling": w[:, 5] > 0,
    }
    ws = np.repeat(w[:, None, :], 3, axis=1) + 0.01 * rng.standard_normal((n, 3, DIM))
    return ws.astype(np.float32), truth


def test_planted_directions_are_recovered_and_conditional() -> None:
    rng = np.random.default_rng(0)
    utk_ws, utk = planted(rng, 600)
    celeba_ws, celeba = planted(rng, 600)
    utk_labels = np.stack([utk["age"], 1 - utk["male"], np.zeros(600)], axis=1)
    celeba_labels = np.stack([celeba[k] * 1.0 for k in ("Bald", "Eyeglasses", "Gray_Hair")] +
                             [celeba["male"] * 1.0, celeba["Smiling"] * 1.0], axis=1)  # fmt: skip
    fitted = fit_attributes(
        {"utkface": utk_ws, "celeba": celeba_ws},
        {"utkface": (utk_labels, UTK_NAMES), "celeba": (celeba_labels, CELEBA_NAMES)},
        generator_w=2.0 * rng.standard_normal((4000, DIM)),  # twice the codes' spread
    )
    assert set(fitted) == {a.name for a in ATTRIBUTES}
    axes = {"age": 0, "gender": 1, "bald": 2, "grey_hair": 3, "eyeglasses": 4, "smile": 5}
    for name, axis in axes.items():
        direction = fitted[name].fit.direction[0]
        assert abs(cosine(direction, np.eye(DIM)[axis])) > 0.9, name
        assert fitted[name].full_strength > 0
    gender = fitted["gender"].fit.direction[0]
    assert fitted["age"].fit.metric > 0.95  # Pearson on held-back codes
    # Bald is held against the (fitted, unconditioned) gender direction: no gender component.
    assert abs(cosine(fitted["bald"].fit.direction[0], gender)) < 0.1
    assert fitted["bald"].fit.held == ("age", "gender")
    assert fitted["age"].full_strength == 40.0
    for item in fitted.values():  # the edits are scaled to the generator's W spread
        assert item.spread_ratio == pytest.approx(2.0, rel=0.1)
        binary = item.fit.kind == "binary"
        scale = item.spread_ratio * (item.full_strength if binary else 1.0)
        assert np.allclose(item.direction, item.fit.direction * scale)
        assert item.limit == (1.0 if binary else 40.0)


def test_label_values_check_the_name() -> None:
    labels = np.array([[30, 0, 1], [60, 1, 2]])
    gender = next(a for a in ATTRIBUTES if a.name == "gender")
    assert list(label_values(labels, UTK_NAMES, gender)) == [1.0, 0.0]  # 0 = male in UTKFace
    bald = next(a for a in ATTRIBUTES if a.name == "bald")
    with pytest.raises(ValueError, match="no label 'Bald'"):
        label_values(labels, UTK_NAMES, bald)


def labelled_npz(path: Path, names: np.ndarray, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (n, 4, 4, 3)).astype(np.uint8)
    if "age" in names:
        labels = np.stack([rng.integers(1, 90, n), rng.integers(0, 2, n), np.zeros(n)], 1)
    else:
        labels = rng.integers(0, 2, (n, len(names)))
    np.savez(path, crops=coarse.repeat(4, axis=1).repeat(4, axis=2),
             labels=labels.astype(np.int16), label_names=names,
             held_out=np.arange(n) < 4, alignment=np.array(ALIGNMENT))  # fmt: skip
    return path


def test_pack_command_writes_a_loadable_fp16_pack(gan_checkpoint, encoder_export, tmp_path):
    utk = labelled_npz(tmp_path / "utk.npz", UTK_NAMES, 64, 1)
    celeba = labelled_npz(tmp_path / "celeba.npz", CELEBA_NAMES, 64, 2)
    out = tmp_path / "demo"
    args = ["train", "pack", "--generator", str(gan_checkpoint.with_name("stylegan2.pt")),
            "--encoder", str(encoder_export), "--utkface", str(utk), "--celeba", str(celeba),
            "--out", str(out), "--device", "cpu"]  # fmt: skip
    assert cli_main(args) == 0
    pack = load_pack(out, "cpu")  # verifies every file's sha256 and size
    manifest = pack.manifest
    assert manifest.name == "demo" and manifest.alignment == ALIGNMENT
    assert "non-commercial" in manifest.license.lower() and "UTKFace" in manifest.description
    assert set(pack.directions) == {"age", "gender", "bald", "grey_hair", "eyeglasses", "smile"}
    for direction in pack.directions.values():
        assert direction.max > 0 and direction.min == -direction.max
    generator = torch.load(out / "stylegan2.pt", weights_only=True)
    assert {v.dtype for v in generator["g_ema"].values() if v.is_floating_point()} == {
        torch.float16
    }
    encoder = torch.load(out / "e4e.pt", weights_only=True)
    assert not any(k.startswith("decoder.") for k in encoder["state_dict"])
    report = json.loads((out / "training.json").read_text())
    assert report["crops"] == {"utkface": 60, "celeba": 60}  # held-out faces never used
    assert report["directions"]["bald"]["held"] == ["age", "gender"]
