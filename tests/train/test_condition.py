"""Label-conditioned GAN training: labels carried in z, projection discriminator, resume."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from facesmith_server.model.checkpoints import load_generator
from facesmith_train.gan.checkpoint import CHECKPOINT_NAME, EXPORT_NAME, read_checkpoint
from facesmith_train.gan.condition import fit_condition, labels_from_z, standardise, z_for_labels
from facesmith_train.gan.config import ModelConfig, TrainConfig
from facesmith_train.gan.discriminator import Discriminator
from facesmith_train.gan.train import load_training_set, main, train

SIZE = 16
TINY = ModelConfig(size=SIZE, style_dim=16, n_mlp=2, channel_multiplier=1, channels_max=16)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def labelled_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 random 'faces' with a Male label, and estimated ages beside them."""
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("labelled")
    held_out = np.zeros(24, bool)
    held_out[:4] = True
    male = (np.arange(24) % 3 == 0).astype(np.int16)[:, None]
    np.savez(folder / "faces.npz", crops=rng.integers(0, 256, (24, 16, 16, 3), dtype=np.uint8),
             held_out=held_out, labels=male, label_names=np.array(["Male"]))  # fmt: skip
    np.savez(folder / "faces.estimates.npz", age=np.linspace(10, 80, 24).astype(np.float32))
    return folder / "faces.npz"


def test_z_gives_labels_the_data_distribution() -> None:
    rng = np.random.default_rng(1)
    male = (rng.random(5000) < 0.3).astype(float)
    age = rng.gamma(4.0, 10.0, 5000)
    condition = fit_condition(["male", "age"], [male, age])
    labels = labels_from_z(
        condition, torch.randn(20000, 8, generator=torch.Generator().manual_seed(0))
    )
    men = (labels[:, 0] > 0).float().mean().item()
    assert abs(men - 0.3) < 0.02
    assert set(labels[:, 0].round().unique().tolist()) <= {-1.0, 0.0, 1.0}
    ages = labels[:, 1].numpy() * condition.scales[1] + condition.means[1]
    for q in (0.1, 0.5, 0.9):
        assert abs(np.quantile(ages, q) - np.quantile(age, q)) < 2.0


def test_z_for_labels_inverts_labels_from_z() -> None:
    rng = np.random.default_rng(2)
    condition = fit_condition(["male", "age"], [rng.random(500) < 0.5, rng.normal(40, 12, 500)])
    wanted = torch.tensor([[1.0, -1.0], [-1.0, 0.0], [1.0, 1.5]])
    z = z_for_labels(condition, wanted, torch.zeros(3, 8))
    got = labels_from_z(condition, z)
    assert torch.equal(got[:, 0], wanted[:, 0])
    assert torch.allclose(got[:, 1], wanted[:, 1], atol=0.05)
    assert torch.equal(z[:, 2:], torch.zeros(3, 6))  # only the label coordinates move


def test_standardise_maps_binary_to_signs_and_keeps_unknown() -> None:
    condition = fit_condition(["male"], [np.array([0.0, 1.0, 1.0])])
    out = standardise(condition, [np.array([0.0, 1.0, np.nan])])
    assert out[:2, 0].tolist() == [-1.0, 1.0] and np.isnan(out[2, 0])


def test_projection_discriminator_reads_labels() -> None:
    torch.manual_seed(0)
    d = Discriminator(SIZE, {4: 8, 8: 8, 16: 8}, cond_dim=2)
    with torch.no_grad():
        d.embed.weight.normal_()  # type: ignore[union-attr]
    images = torch.randn(4, 3, SIZE, SIZE)
    a = d(images, torch.ones(4, 2))
    b = d(images, -torch.ones(4, 2))
    assert a.shape == (4, 1) and not torch.allclose(a, b)
    with pytest.raises(ValueError, match="labels"):
        d(images)


def test_conditional_run_resumes_and_exports_an_unconditional_generator(
    labelled_npz: Path, tmp_path: Path
) -> None:
    data = load_training_set([labelled_npz], SIZE, ("male", "age"))
    assert data.images.shape[0] == 20 and set(data.labels) == {"male", "age"}
    config = TrainConfig(TINY, 3, batch=4, d_reg_every=2, log_every=100, sample_every=100,
                         condition=("male", "age"))  # fmt: skip
    straight = train(config, data, tmp_path / "a", CPU, log=lambda _: None)
    train(replace(config, iterations=1), data, tmp_path / "b", CPU, log=lambda _: None)
    resumed = train(config, data, tmp_path / "b", CPU, resume=True, log=lambda _: None)
    for name in ("generator", "discriminator"):
        a, b = getattr(straight, name).state_dict(), getattr(resumed, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert resumed.condition == straight.condition and resumed.condition is not None
    ckpt = read_checkpoint(tmp_path / "b" / CHECKPOINT_NAME)
    assert ModelConfig.from_dict(ckpt["model"]).cond_dim == 2
    assert ckpt["condition"]["names"] == ["male", "age"]
    generator, _ = load_generator(tmp_path / "b" / EXPORT_NAME, "cpu")  # the official layout
    assert generator(torch.randn(2, TINY.style_dim)).shape == (2, 3, SIZE, SIZE)
    assert sorted(p.name for p in (tmp_path / "b" / "snapshots").iterdir()) == [
        "g_ema-0000001.pt",
        "g_ema-0000003.pt",
    ]


def test_cli_resumes_a_conditional_run_without_repeating_the_condition(
    labelled_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--data", str(labelled_npz), "--size", str(SIZE), "--out", str(tmp_path),
            "--batch", "4", "--channel-multiplier", "1", "--channels-max", "8",
            "--style-dim", "8", "--n-mlp", "1", "--log-every", "1"]  # fmt: skip
    assert main([*argv, "--iterations", "1", "--condition", "male,age"]) == 0
    assert main([*argv, "--iterations", "2", "--resume"]) == 0  # the labels come from the run
    assert "resumed from" in capsys.readouterr().out
    ckpt = read_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert ckpt["step"] == 2 and ckpt["condition"]["names"] == ["male", "age"]
