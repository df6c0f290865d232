"""Variety figures on planted data, and the monitor over a tiny run's snapshots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from facesmith_train.classify.readers import Scorers
from facesmith_train.gan.config import ModelConfig, TrainConfig
from facesmith_train.gan.train import load_training_images, train
from facesmith_train.measure.diversity import frechet_distance, mean_pairwise_distance, variety
from facesmith_train.measure.monitor import MONITOR_FILE, monitor


def test_pairwise_distance_of_planted_points() -> None:
    square = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], float)
    expected = (4 * 1 + 2 * np.sqrt(2)) / 6  # four sides and two diagonals
    assert mean_pairwise_distance(square) == pytest.approx(expected)
    assert mean_pairwise_distance(np.ones((5, 3))) == pytest.approx(0.0, abs=1e-6)
    assert mean_pairwise_distance(np.zeros((1, 3))) == 0.0


def test_frechet_distance_of_planted_gaussians() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 6))
    shift = np.array([3.0, 0, 0, 0, 0, 4.0])
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, a + shift) == pytest.approx(25.0, rel=1e-6)  # |shift|² only
    # N(0, I) against N(0, 4 I) in 6-d: tr(I + 4I - 2 * 2I) = 6
    b = rng.normal(size=(4000, 6)) * 2.0
    assert frechet_distance(a, b) == pytest.approx(6.0, rel=0.1)


def test_variety_shares_and_age() -> None:
    v = variety(np.array([True, True, False, True]), np.array([0.9, 0.2, 0.6, 0.4]),
                np.array([20.0, 40.0, 60.0, 80.0]), np.eye(4))  # fmt: skip
    assert v.face_found == 0.75 and v.male_share == 0.5
    assert v.age_mean == 50.0 and v.age_std == pytest.approx(np.std([20, 40, 60, 80]))
    assert v.pairwise_distance == pytest.approx(np.sqrt(2))


def fake_scorers(_: np.ndarray) -> Scorers:
    """Mean brightness stands for age, red over green for gender, pixels for identity."""

    def age_gender(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return images.mean(axis=(1, 2, 3)) * 80, (images[..., 0] > images[..., 1]).mean((1, 2))

    def descriptors(images: np.ndarray) -> np.ndarray:
        return images[:, ::32, ::32, :].reshape(len(images), -1)

    return Scorers(age_gender, descriptors, lambda images: np.ones(len(images), bool))


def test_monitor_measures_each_snapshot_once(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    held_out = np.arange(40) % 4 == 0
    data = tmp_path / "faces.npz"
    np.savez(data, crops=rng.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8), held_out=held_out)
    tiny = ModelConfig(size=16, style_dim=8, n_mlp=1, channel_multiplier=1, channels_max=8)
    config = TrainConfig(tiny, 2, batch=2, log_every=100, sample_every=100, checkpoint_every=1)
    run = tmp_path / "run"
    train(config, load_training_images([data], 16), run, torch.device("cpu"), log=lambda _: None)
    lines = monitor(run, [data], samples=10, scorer_factory=fake_scorers, log=lambda _: None)
    assert [line["step"] for line in lines] == ["real", 1, 2]
    real = lines[0]
    assert real["pairwise_vs_real"] == 1.0 and abs(real["frechet"]) < 1e-6
    assert all(line["count"] == 10 and 0 <= line["male_share"] <= 1 for line in lines)
    assert monitor(run, [data], samples=10, scorer_factory=fake_scorers) == []
    stored = [json.loads(x) for x in (run / MONITOR_FILE).read_text().splitlines()]
    assert stored == lines
