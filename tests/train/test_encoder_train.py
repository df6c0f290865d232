"""Encoder training stage on CPU with a tiny GAN: losses, learning, resume, export, CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from facesmith_client.cli.main import main as cli_main
from facesmith_server.model.checkpoints import load_encoder
from facesmith_train.classify.model import AttributeNet, save_attribute
from facesmith_train.encoder.config import EncoderTrainConfig
from facesmith_train.encoder.losses import attribute_loss, delta_regulariser, multiscale_l1
from facesmith_train.encoder.train import (
    CHECKPOINT_NAME,
    EXPORT_NAME,
    FrozenGan,
    load_frozen_gan,
    train_encoder,
)
from facesmith_train.gan.train import load_training_images

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def gan(gan_checkpoint: Path) -> FrozenGan:
    return load_frozen_gan(gan_checkpoint, CPU)


@pytest.fixture()
def tiny_config(tiny_encoder_config: EncoderTrainConfig) -> Callable[[int], EncoderTrainConfig]:
    return lambda iterations: replace(tiny_encoder_config, iterations=iterations)


def test_loss_terms() -> None:
    a = torch.zeros(2, 3, 8, 8)
    assert float(multiscale_l1(a, a)) == 0.0
    assert float(multiscale_l1(a + 0.5, a)) == pytest.approx(0.5)
    ws = torch.zeros(2, 5, 3)
    assert float(delta_regulariser(ws)) == 0.0
    ws[:, 1:, 0] = 2.0  # every later row is 2 away from the first: squared distance 4
    assert float(delta_regulariser(ws)) == pytest.approx(4.0)


def test_attribute_term_is_zero_when_the_classifiers_agree_and_pulls_towards_the_photo() -> None:
    torch.manual_seed(0)
    net = AttributeNet(widths=(3, 3, 3, 3), outputs=2).eval().requires_grad_(False)
    net.features = torch.nn.Identity()  # two attributes read off the mean colour
    torch.nn.init.normal_(net.head.weight, std=3.0)
    real = torch.rand(3, 3, 16, 16) * 2 - 1
    assert float(attribute_loss(net, real, real)) == pytest.approx(0.0, abs=1e-6)
    fake = (torch.rand(3, 3, 16, 16) * 2 - 1).requires_grad_(True)
    loss = attribute_loss(net, fake, real)
    assert float(loss.detach()) > 0
    loss.backward()
    assert fake.grad is not None and float(fake.grad.abs().sum()) > 0
    # one small step down the gradient brings the readings closer
    closer = attribute_loss(net, (fake - 0.02 * fake.grad / fake.grad.abs().max()).detach(), real)
    assert float(closer) < float(loss.detach())


def test_training_lowers_reconstruction_error_and_exports(
    gan, faces_npz, tiny_config, tmp_path
) -> None:
    images = load_training_images([faces_npz], gan.generator.size)
    lines: list[str] = []
    train_encoder(tiny_config(30), gan, images, tmp_path, CPU, log=lines.append)
    steps = [line for line in lines if line.startswith("step ")]
    pixel = [float(line.split("pixel ")[1].split()[0]) for line in steps]
    assert len(steps) == 30 and all(np.isfinite(pixel))
    assert np.mean(pixel[-5:]) < 0.8 * np.mean(pixel[:5])
    encoder, latent_avg = load_encoder(tmp_path / EXPORT_NAME, CPU)  # what a pack loads
    assert encoder.num_ws == gan.generator.num_ws and encoder.config.block_width == 8
    assert torch.allclose(latent_avg[0], gan.latent_avg)
    assert (tmp_path / "samples" / "recon-0000030.png").is_file()


def test_identity_term_trains_with_the_face_recognition_net(
    gan, faces_npz, tiny_config, face_api_dir, tmp_path
) -> None:
    from dataclasses import replace

    from facesmith_server.model.identity import load_identity_net

    images = load_training_images([faces_npz], gan.generator.size)
    with_identity = replace(gan, identity=load_identity_net(face_api_dir))
    lines: list[str] = []
    train_encoder(replace(tiny_config(2), identity=0.5), with_identity, images, tmp_path, CPU,
                  log=lines.append)  # fmt: skip
    steps = [line for line in lines if line.startswith("step ")]
    distances = [float(line.split("identity ")[1].split()[0]) for line in steps]
    assert len(distances) == 2 and all(0 < d < 2 for d in distances)


def test_resume_equals_straight_run(gan, faces_npz, tiny_config, tmp_path) -> None:
    images = load_training_images([faces_npz], gan.generator.size)
    quiet = {"log": lambda _: None}
    straight = train_encoder(tiny_config(4), gan, images, tmp_path / "a", CPU, **quiet)
    train_encoder(tiny_config(2), gan, images, tmp_path / "b", CPU, **quiet)
    resumed = train_encoder(tiny_config(4), gan, images, tmp_path / "b", CPU, resume=True, **quiet)
    assert resumed.step == 4
    for key, value in straight.encoder.state_dict().items():
        assert torch.equal(value, resumed.encoder.state_dict()[key]), key


def test_warm_start_begins_from_an_earlier_encoder(gan, faces_npz, tiny_config, tmp_path) -> None:
    images = load_training_images([faces_npz], gan.generator.size)

    def pixel_losses(out: Path, iterations: int, **kwargs: object) -> list[float]:
        lines: list[str] = []
        train_encoder(tiny_config(iterations), gan, images, out, CPU, log=lines.append, **kwargs)
        assert any(line.startswith("started from") for line in lines) == ("warm_start" in kwargs)
        return [float(line.split("pixel ")[1].split()[0]) for line in lines if "pixel " in line]

    cold = pixel_losses(tmp_path / "cold", 30)
    warm = pixel_losses(tmp_path / "warm", 3, warm_start=tmp_path / "cold" / EXPORT_NAME)
    assert warm[0] < 0.5 * (cold[0] + cold[-1])  # nearer the trained encoder than a fresh one
    wider = replace(tiny_config(1), block_width=16)
    with pytest.raises(ValueError, match="--block-width"):
        train_encoder(wider, gan, images, tmp_path / "wider", CPU, log=lambda _: None,
                      warm_start=tmp_path / "cold" / EXPORT_NAME)  # fmt: skip


def test_cli_trains_and_refuses_a_foreign_checkpoint(
    gan_checkpoint, faces_npz, tmp_path, capsys
) -> None:
    out = tmp_path / "enc"
    args = ["train", "encoder", "--gan", str(gan_checkpoint), "--data", str(faces_npz),
            "--out", str(out), "--iterations", "2", "--batch", "2", "--synthetic", "1",
            "--width", "8", "--block-width", "8", "--device", "cpu"]  # fmt: skip
    assert cli_main(args) == 0
    assert (out / CHECKPOINT_NAME).is_file() and (out / EXPORT_NAME).is_file()
    # the attribute term: the file's every output, logged per step; its weight needs a file
    classifier = tmp_path / "attributes.pt"
    save_attribute(classifier, AttributeNet(widths=(4, 4, 4, 4), outputs=2), {"heads": []})
    with_attributes = [*args[:7], str(tmp_path / "enc-attr"), *args[8:], "--attributes", "1"]
    assert cli_main(with_attributes) != 0
    assert "--attributes needs --attribute-net" in capsys.readouterr().err
    assert cli_main([*with_attributes, "--attribute-net", str(classifier)]) == 0
    assert " attributes " in capsys.readouterr().out
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": "something else"}, foreign)
    assert cli_main([*args[:3], str(foreign), *args[4:]]) != 0
    assert "not a facesmith GAN checkpoint" in capsys.readouterr().err


def test_an_encoder_for_a_grown_generator_starts_from_the_smaller_ones(
    gan, encoder_export, tiny_config
) -> None:
    from facesmith_server.model.generator import Generator
    from facesmith_train.encoder.train import build_state, load_warm_start

    small = gan.generator
    big = Generator(2 * small.size, small.style_dim, 2, channels=small.synthesis.channels | {
        2 * small.size: small.synthesis.channels[small.size]})  # fmt: skip
    grown = FrozenGan(big, gan.discriminator, gan.latent_avg)
    trained_at = load_encoder(encoder_export, "cpu")[0].config.input_size
    config = replace(tiny_config(1), input_size=trained_at)
    state = build_state(config, grown, CPU)
    assert state.encoder.num_ws == small.num_ws + 2
    load_warm_start(encoder_export, state)
    before = load_encoder(encoder_export, "cpu")[0].state_dict()
    after = state.encoder.state_dict()
    for key, value in before.items():
        assert torch.equal(after[key], value), key
    last = small.num_ws - 1  # a block reading the same features (7 reads finer ones)
    new, old = f"styles.{last + 1}.", f"styles.{last}."
    copied = {k: v for k, v in after.items() if k.startswith(new)}
    assert copied and all(torch.equal(v, before[k.replace(new, old)]) for k, v in copied.items())
    assert any(k.startswith(f"styles.{last + 2}.convs.4") for k in after)
    other_input = replace(tiny_config(1), input_size=2 * trained_at)
    with pytest.raises(ValueError, match="--input-size"):
        load_warm_start(encoder_export, build_state(other_input, grown, CPU))
