"""A tiny model pack with random weights in exactly the official file formats.

Every code path (load, encode, refine, edit, render) runs on CPU in seconds with it; it makes
no faces. Deterministic for a seed.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from facesmith.files import sha256_file
from facesmith_server.model.checkpoints import save_encoder, save_generator
from facesmith_server.model.encoder import Encoder4Editing, EncoderConfig, GradualStyleBlock
from facesmith_server.model.generator import Generator
from facesmith_server.model.layers import FusedLeakyReLU, NoiseInjection
from facesmith_server.model.pack import (
    MANIFEST_NAME,
    DirectionEntry,
    FileEntry,
    Manifest,
    ScoreEntry,
)

STYLE_DIM = 64
N_MLP = 4
ENCODER_INPUT = 64
SOURCE = "facesmith make-test-pack (random weights)"
LICENSE = "Apache-2.0"
AGE_UNITS_PER_YEAR = 0.1  # age strength 20 (years) moves 2 units along the unit direction
MEAN_AGE = 40.0  # the age model gives latent_avg this age
GENDER_LOGIT_PER_UNIT = 4.0  # the gender model's logit per unit: a swap reaches SWAP_MARGIN


def tiny_channels(resolution: int) -> dict[int, int]:
    """Narrow channel table {4: 64, 8: 64, 16: 48, 32: 32, 64: 24, 128+: 16}."""
    table = {4: 64, 8: 64, 16: 48, 32: 32, 64: 24}
    return {2**i: table.get(2**i, 16) for i in range(2, int(math.log2(resolution)) + 1)}


def make_test_pack(root: Path, seed: int = 0, resolution: int = 64) -> Path:
    """Write a tiny pack (manifest, generator, e4e encoder, 4 directions) into root.

    Directions: age (torch-tensor, w, +/-50 years), gender (npy, w+, + = more male),
    bald (npy, w), smile (torch-tensor, w); ranges [-2, 2] except age. Age and gender carry
    attribute models (age in years, MEAN_AGE at latent_avg; gender a logit, 0 at latent_avg),
    so absolute edits and swaps work. Returns root.
    """
    root = Path(root)
    (root / "directions").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = _random_generator(resolution)
        latent_avg = generator.mean_latent(2000, "cpu")[0]
        encoder = _random_encoder(generator.num_ws)
    save_generator(root / "stylegan2.pt", generator, latent_avg)
    save_encoder(root / "e4e.pt", encoder, generator, latent_avg)
    vectors = {
        "age": _unit(rng, 1) * AGE_UNITS_PER_YEAR,
        "gender": _unit(rng, generator.num_ws),
        "bald": _unit(rng, 1),
        "smile": _unit(rng, 1),
    }
    torch.save(torch.from_numpy(vectors["age"]), root / "directions/age.pt")
    np.save(root / "directions/gender.npy", vectors["gender"])
    np.save(root / "directions/bald.npy", vectors["bald"])
    torch.save(torch.from_numpy(vectors["smile"]), root / "directions/smile.pt")
    mean = latent_avg.numpy().astype(np.float64)
    age_normal = vectors["age"][0] / AGE_UNITS_PER_YEAR**2  # (strength · vector) · normal = years
    gender_normal = vectors["gender"].mean(axis=0)
    gender_normal *= GENDER_LOGIT_PER_UNIT / float(gender_normal @ gender_normal)
    np.save(root / "directions/age.score.npy", age_normal[None].astype(np.float32))
    np.save(root / "directions/gender.score.npy", gender_normal[None].astype(np.float32))
    intercepts = {
        "age": MEAN_AGE - float(mean @ age_normal),
        "gender": -float(mean @ gender_normal),
    }
    manifest = _manifest(root, resolution, intercepts)
    (root / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
    return root


def _random_generator(resolution: int) -> Generator:
    """Tiny generator with non-zero noise strengths and activation biases."""
    generator = Generator(resolution, STYLE_DIM, N_MLP, channels=tiny_channels(resolution))
    with torch.no_grad():
        for module in generator.modules():
            if isinstance(module, NoiseInjection):
                module.weight.fill_(0.05)
            elif isinstance(module, FusedLeakyReLU):
                module.bias.normal_(0.0, 0.1)
    return generator.eval()


def _random_encoder(num_ws: int) -> Encoder4Editing:
    """Tiny e4e whose offsets stay small (so encodings stay near latent_avg)."""
    config = EncoderConfig(
        num_ws=num_ws,
        style_dim=STYLE_DIM,
        input_size=ENCODER_INPUT,
        stem_width=8,
        widths=(8, 16, 24, 32),
        units=(1, 1, 2, 1),
        se_reduction=4,
    )
    encoder = Encoder4Editing(config)
    with torch.no_grad():
        for style in encoder.styles:
            assert isinstance(style, GradualStyleBlock)
            style.linear.weight.mul_(0.1)
    return encoder.eval()


def _unit(rng: np.random.Generator, rows: int) -> np.ndarray:
    """Random direction [rows, STYLE_DIM], each row of unit norm, float32."""
    v = rng.standard_normal((rows, STYLE_DIM))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def _entry(root: Path, relative: str, fmt: str) -> FileEntry:
    path = root / relative
    return FileEntry(relative, fmt, sha256_file(path), path.stat().st_size, SOURCE, LICENSE)


def _direction(
    root: Path, relative: str, fmt: str, space: str, limit: float, description: str
) -> DirectionEntry:
    base = _entry(root, relative, fmt)
    return DirectionEntry(
        base.path, base.format, base.sha256, base.size, base.source, base.license,
        space=space, min=-limit, max=limit, default=0.0, description=description,
    )  # fmt: skip


def _score(root: Path, name: str, intercept: float, kind: str) -> ScoreEntry:
    base = _entry(root, f"directions/{name}.score.npy", "npy")
    top, unit = (100.0, "years") if kind == "continuous" else (1.0, "")
    return ScoreEntry(base.path, base.format, base.sha256, base.size, base.source, base.license,
                      intercept=intercept, kind=kind, unit=unit, min=0.0, max=top)  # fmt: skip


def _manifest(root: Path, resolution: int, intercepts: dict[str, float]) -> Manifest:
    return Manifest(
        name="test",
        description="Tiny random-weight pack for tests; produces no faces.",
        resolution=resolution,
        latent_space="w+",
        alignment="ffhq",
        license=LICENSE,
        generator=_entry(root, "stylegan2.pt", "rosinality-stylegan2"),
        encoder=_entry(root, "e4e.pt", "e4e"),
        directions={
            "age": replace(
                _direction(root, "directions/age.pt", "torch-tensor", "w", 50.0,
                           "older (+) / younger (−), in years"),
                group="age", score=_score(root, "age", intercepts["age"], "continuous"),
            ),
            "gender": replace(
                _direction(root, "directions/gender.npy", "npy", "w+", 2.0,
                           "more male (+) / more female (−)"),
                group="gender", score=_score(root, "gender", intercepts["gender"], "binary"),
            ),
            "bald": _direction(root, "directions/bald.npy", "npy", "w", 2.0,
                               "balder (+) / more hair (−)"),
            "smile": _direction(root, "directions/smile.pt", "torch-tensor", "w", 2.0,
                                "smile (+) / no smile (−)"),
        },
    )  # fmt: skip
