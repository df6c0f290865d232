"""A tiny trained GAN and encoder (16 px, CPU, seconds) shared by the training-stage tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from facesmith_train.encoder.config import EncoderTrainConfig
from facesmith_train.encoder.train import EXPORT_NAME, load_frozen_gan, train_encoder
from facesmith_train.gan.checkpoint import CHECKPOINT_NAME
from facesmith_train.gan.config import ModelConfig, TrainConfig
from facesmith_train.gan.train import load_training_images, train

SIZE = 16
CPU = torch.device("cpu")
TINY_GAN = ModelConfig(size=SIZE, style_dim=16, n_mlp=2, channel_multiplier=1, channels_max=16)
TINY_ENCODER = EncoderTrainConfig(
    1, batch=4, synthetic=2, width=8, block_width=8, lr=2e-3,
    log_every=1, sample_every=100, checkpoint_every=100,
)  # fmt: skip


@pytest.fixture(scope="session")
def tiny_encoder_config() -> EncoderTrainConfig:
    """Settings of a tiny encoder run (1 step; tests replace `iterations`)."""
    return TINY_ENCODER


@pytest.fixture(scope="session")
def faces_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 smooth random 'faces' (2 held out) at 16 px."""
    rng = np.random.default_rng(1)
    coarse = rng.integers(0, 256, (16, 4, 4, 3)).astype(np.uint8)
    held_out = np.zeros(16, bool)
    held_out[:2] = True
    path = tmp_path_factory.mktemp("data") / "faces.npz"
    np.savez(path, crops=coarse.repeat(4, axis=1).repeat(4, axis=2), held_out=held_out)
    return path


@pytest.fixture(scope="session")
def gan_checkpoint(faces_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """checkpoint.pt (and stylegan2.pt beside it) of a 2-step tiny GAN run."""
    out = tmp_path_factory.mktemp("gan")
    config = TrainConfig(TINY_GAN, 2, batch=4, log_every=100, sample_every=100)
    train(config, load_training_images([faces_npz], SIZE), out, CPU, log=lambda _: None)
    return out / CHECKPOINT_NAME


@pytest.fixture(scope="session")
def encoder_export(
    gan_checkpoint: Path, faces_npz: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """e4e.pt of a 1-step tiny encoder run on the tiny GAN."""
    out = tmp_path_factory.mktemp("encoder")
    gan = load_frozen_gan(gan_checkpoint, CPU)
    images = load_training_images([faces_npz], SIZE)
    train_encoder(TINY_ENCODER, gan, images, out, CPU, log=lambda _: None)
    return out / EXPORT_NAME
