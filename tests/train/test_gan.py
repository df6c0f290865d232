"""GAN training stage on CPU with a tiny model: steps, checkpoints, resume, export, augment."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from facesmith_server.model.checkpoints import load_generator
from facesmith_train.gan.augment import augment
from facesmith_train.gan.checkpoint import CHECKPOINT_NAME, EXPORT_NAME, read_checkpoint
from facesmith_train.gan.config import ModelConfig, TrainConfig
from facesmith_train.gan.discriminator import Discriminator, channel_table
from facesmith_train.gan.train import load_training_images, main, train

SIZE = 16
TINY = ModelConfig(size=SIZE, style_dim=16, n_mlp=2, channel_multiplier=1, channels_max=16)
CPU = torch.device("cpu")


def tiny_config(iterations: int) -> TrainConfig:
    # d_reg_every=2 so that a few steps include lazy R1 steps.
    return TrainConfig(
        TINY, iterations, batch=4, d_reg_every=2, augment_p=0.5,
        log_every=1, sample_every=3, checkpoint_every=100,
    )  # fmt: skip


@pytest.fixture(scope="module")
def data_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 random 'faces' at 32 px (resized to 16 on load), 4 of them held out."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "faces.npz"
    held_out = np.zeros(24, bool)
    held_out[:4] = True
    np.savez(path, crops=rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8),
             held_out=held_out)  # fmt: skip
    return path


@pytest.fixture(scope="module")
def images(data_npz: Path) -> torch.Tensor:
    return load_training_images([data_npz], SIZE)


def test_loader_drops_held_out_and_resizes(images: torch.Tensor) -> None:
    assert images.shape == (20, 3, SIZE, SIZE) and images.dtype == torch.uint8


def test_discriminator_any_size_and_batch() -> None:
    for size in (16, 64):
        d = Discriminator(size, channel_table(size, 1, 8))
        assert d(torch.randn(3, 3, size, size)).shape == (3, 1)
    with pytest.raises(ValueError):
        Discriminator(8)


def test_training_changes_weights_and_losses_are_finite(images, tmp_path) -> None:
    lines: list[str] = []
    torch.manual_seed(0)
    initial = train(tiny_config(0), images, tmp_path / "init", CPU, log=lines.append)
    state = train(tiny_config(3), images, tmp_path / "run", CPU, log=lines.append)
    progress = [line for line in lines if line.startswith("step ")]
    assert len(progress) == 3 and "it/s" in progress[-1] and "ETA" in progress[-1]
    for line in progress:
        values = [float(v) for v in re.findall(r"  [dg] (\S+)", line)]
        assert len(values) == 2 and all(np.isfinite(values)), line
    before = initial.generator.state_dict()
    changed = [k for k, v in state.generator.state_dict().items() if not torch.equal(v, before[k])]
    assert any("convs" in k for k in changed) and any("mapping" in k for k in changed)
    assert (tmp_path / "run" / "samples" / "step-0000003.png").is_file()


def test_resume_equals_straight_run(images, tmp_path) -> None:
    # Steps 1..4 include R1 (every 2nd step) and style mixing; grids are not needed here.
    config = replace(tiny_config(4), sample_every=100)
    straight = train(config, images, tmp_path / "a", CPU, log=lambda _: None)
    train(replace(config, iterations=2), images, tmp_path / "b", CPU, log=lambda _: None)
    torch.manual_seed(999)  # a resumed process starts from another RNG state
    resumed = train(config, images, tmp_path / "b", CPU, resume=True, log=lambda _: None)
    assert resumed.step == straight.step == 4
    for name in ("generator", "g_ema", "discriminator"):
        a, b = getattr(straight, name).state_dict(), getattr(resumed, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    a_opt, b_opt = straight.d_optim.state_dict()["state"], resumed.d_optim.state_dict()["state"]
    assert all(torch.equal(a_opt[i]["exp_avg_sq"], b_opt[i]["exp_avg_sq"]) for i in a_opt)


def test_resume_with_a_lower_learning_rate_anneals(images, tmp_path) -> None:
    config = replace(tiny_config(2), sample_every=100)
    train(config, images, tmp_path, CPU, log=lambda _: None)
    lines: list[str] = []
    annealed = replace(config, iterations=3, lr=config.lr / 4)
    state = train(annealed, images, tmp_path, CPU, resume=True, log=lines.append)
    assert [g["lr"] for g in state.g_optim.param_groups] == [config.lr / 4]
    d_lr = state.d_optim.param_groups[0]["lr"]
    assert d_lr == pytest.approx(config.lr / 4 * 2 / 3)  # lazy R1 every 2nd step
    assert any("learning rate 0.0005" in line for line in lines)


def test_checkpoint_round_trip_and_export(images, tmp_path) -> None:
    state = train(tiny_config(2), images, tmp_path, CPU, log=lambda _: None)
    ckpt = read_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert ckpt["step"] == 2 and ModelConfig.from_dict(ckpt["model"]) == TINY
    saved = ckpt["discriminator"]
    assert all(torch.equal(v, saved[k]) for k, v in state.discriminator.state_dict().items())
    assert not list(tmp_path.glob("*.tmp*"))  # atomic writes leave no temporaries
    generator, latent_avg = load_generator(tmp_path / EXPORT_NAME, "cpu")
    assert generator.size == SIZE and latent_avg.shape == (TINY.style_dim,)
    z = torch.randn(2, TINY.style_dim)
    with torch.no_grad():
        out = generator(z)
        assert torch.allclose(out, state.g_ema(z), atol=1e-6)  # the EMA weights, not G's
    assert out.shape == (2, 3, SIZE, SIZE) and torch.isfinite(out).all()


def test_cli_main_runs_and_resumes(data_npz, tmp_path, capsys) -> None:
    argv = ["--data", str(data_npz), "--size", "16", "--out", str(tmp_path), "--batch", "2",
            "--channel-multiplier", "1", "--channels-max", "8", "--style-dim", "8",
            "--n-mlp", "1", "--log-every", "1"]  # fmt: skip
    assert main([*argv, "--iterations", "1"]) == 0
    assert main([*argv, "--iterations", "2", "--resume"]) == 0
    out = capsys.readouterr().out
    assert "resumed from" in out and "step 2/2" in out
    assert read_checkpoint(tmp_path / CHECKPOINT_NAME)["step"] == 2


def test_augment_identity_at_zero_and_keeps_shapes() -> None:
    x = torch.rand(6, 3, 16, 16) * 2 - 1
    assert augment(x, 0.0) is x
    torch.manual_seed(0)
    y = augment(x, 1.0)
    assert y.shape == x.shape and torch.isfinite(y).all() and y.abs().max() < 4
    assert not torch.equal(x, y)
    # Geometry alone only moves pixels or zeroes them: values stay inside [-1, 1].
    from facesmith_train.gan.augment import _cutout, _translate

    assert _translate(x).abs().max() <= 1 and _cutout(x).abs().max() <= 1
    x.requires_grad_(True)
    augment(x, 1.0).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_augment_probability_leaves_some_samples_alone() -> None:
    torch.manual_seed(1)
    x = torch.rand(64, 3, 8, 8)
    y = augment(x, 0.3)
    untouched = sum(torch.equal(x[i], y[i]) for i in range(64))
    assert 0 < untouched < 64  # each of 3 ops skipped with p 0.7: ~34% untouched


def test_facesmith_cli_has_train_gan() -> None:
    from facesmith_client.cli.main import build_parser

    args = build_parser().parse_args(
        ["train", "gan", "--data", "a.npz", "--data", "b.npz", "--out", "o", "--iterations", "3"]
    )
    assert args.run.__name__ == "run_gan" and args.size == 64 and len(args.data) == 2


def test_weights_file_warm_starts_a_run_elsewhere(images, tmp_path) -> None:
    from facesmith_train.gan.checkpoint import WEIGHTS_NAME

    config = replace(tiny_config(2), sample_every=100, checkpoint_every=1)
    first = train(config, images, tmp_path / "a", CPU, log=lambda _: None)
    weights = tmp_path / "a" / WEIGHTS_NAME
    assert weights.stat().st_size < (tmp_path / "a" / CHECKPOINT_NAME).stat().st_size / 3
    lines: list[str] = []
    moved = train(replace(config, iterations=2), images, tmp_path / "b", CPU, resume=True,
                  log=lines.append, warm_start=weights)  # fmt: skip
    assert moved.step == 2 and any("started from the weights" in line for line in lines)
    for name in ("generator", "g_ema", "discriminator"):
        a, b = getattr(first, name).state_dict(), getattr(moved, name).state_dict()
        assert all(torch.allclose(a[k], b[k], rtol=1e-2, atol=1e-3) for k in a), name
    more = train(replace(config, iterations=3), images, tmp_path / "c", CPU,
                 log=lambda _: None, warm_start=weights)  # fmt: skip
    assert more.step == 3


def test_a_weights_file_becomes_a_run_without_training(images, tmp_path) -> None:
    from facesmith_train.gan.checkpoint import WEIGHTS_NAME

    config = replace(tiny_config(2), sample_every=100, checkpoint_every=1)
    first = train(config, images, tmp_path / "a", CPU, log=lambda _: None)
    same = train(config, images, tmp_path / "b", CPU, log=lambda _: None,
                 warm_start=tmp_path / "a" / WEIGHTS_NAME)  # fmt: skip
    assert same.step == 2 and read_checkpoint(tmp_path / "b" / CHECKPOINT_NAME)["step"] == 2
    exported = load_generator(tmp_path / "b" / EXPORT_NAME, CPU)[0].state_dict()
    for key, value in first.g_ema.state_dict().items():  # fp16-close, not retrained
        assert torch.allclose(exported[key], value, rtol=1e-2, atol=1e-3), key


def test_a_run_grown_to_twice_its_size_first_draws_its_old_image(data_npz, tmp_path) -> None:
    from facesmith_train.gan.checkpoint import WEIGHTS_NAME

    config = replace(tiny_config(2), sample_every=100, checkpoint_every=1)
    small = train(config, load_training_images([data_npz], SIZE), tmp_path / "a", CPU,
                  log=lambda _: None)  # fmt: skip
    big = replace(config, model=replace(TINY, size=2 * SIZE), iterations=2)
    lines: list[str] = []
    grown = train(big, load_training_images([data_npz], 2 * SIZE), tmp_path / "b", CPU,
                  log=lines.append, warm_start=tmp_path / "a" / WEIGHTS_NAME)  # fmt: skip
    assert any(f"grown to {2 * SIZE} px" in line for line in lines)
    assert grown.step == 2 and grown.g_ema.size == 2 * SIZE
    ws = grown.g_ema.mapping(torch.randn(3, TINY.style_dim))[:, None].repeat(
        1, grown.g_ema.num_ws, 1
    )
    with torch.no_grad():
        old = small.g_ema.synthesis(ws[:, : small.g_ema.num_ws], noise_mode="const")
        at_old_size = grown.g_ema.synthesis(ws, noise_mode="const", stop_resolution=SIZE)
        full = grown.g_ema.synthesis(ws, noise_mode="const")
    assert torch.allclose(at_old_size, old, atol=2e-3)  # fp16 weights file
    assert torch.allclose(full, grown.g_ema.synthesis.to_rgbs[-1].upsample(at_old_size), atol=1e-5)
    kept = small.discriminator.state_dict()
    moved = grown.discriminator.state_dict()
    assert torch.allclose(
        moved["convs.2.conv1.0.weight"], kept["convs.1.conv1.0.weight"], atol=1e-2
    )
    assert torch.allclose(moved["final_linear.1.weight"], kept["final_linear.1.weight"], atol=1e-2)


def test_growing_refuses_other_sizes_and_shapes(data_npz, tmp_path) -> None:
    from facesmith_train.gan.checkpoint import WEIGHTS_NAME

    config = replace(tiny_config(1), sample_every=100, checkpoint_every=1)
    train(config, load_training_images([data_npz], SIZE), tmp_path / "a", CPU, log=lambda _: None)
    weights = tmp_path / "a" / WEIGHTS_NAME
    four_times = replace(config, model=replace(TINY, size=4 * SIZE))
    with pytest.raises(ValueError, match=f"the run is {SIZE} px"):
        train(four_times, load_training_images([data_npz], 4 * SIZE), tmp_path / "b", CPU,
              log=lambda _: None, warm_start=weights)  # fmt: skip
    from facesmith_train.gan.checkpoint import read_weights
    from facesmith_train.gan.grow import grow_weights

    wider = replace(TINY, size=2 * SIZE, channels_max=32)
    with pytest.raises(ValueError, match="cannot grow"):
        grow_weights(read_weights(weights), {}, wider)


def test_max_minutes_stops_a_run_where_it_is_and_saves_it(images, tmp_path) -> None:
    config = replace(tiny_config(1000), sample_every=100, max_minutes=0.0)
    lines: list[str] = []
    state = train(config, images, tmp_path, CPU, log=lines.append)
    assert state.step == 0 and any("--max-minutes 0 spent" in line for line in lines)
    assert read_checkpoint(tmp_path / CHECKPOINT_NAME)["step"] == 0
    assert (tmp_path / "samples" / "step-0000000.png").is_file()


def test_a_run_whose_losses_turn_non_finite_stops_before_it_logs_or_saves(images, tmp_path) -> None:
    config = replace(tiny_config(6), lr=float("inf"), log_every=3, checkpoint_every=3)
    lines: list[str] = []
    with pytest.raises(RuntimeError, match="non-finite by step 3"):
        train(config, images, tmp_path, CPU, log=lines.append)
    assert not any(line.startswith("step ") for line in lines)
    assert not (tmp_path / CHECKPOINT_NAME).exists()
