"""`facesmith train encoder`: an e4e-style encoder into W+ of a frozen, trained generator.

Each step encodes a batch of real crops and a batch of generated faces (whose W is known),
re-synthesises both with the frozen generator and minimises the terms of encoder.losses.
Python API: `train_encoder(config, gan, images, out_dir, device, resume, warm_start)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from facesmith.arguments import apply_threads
from facesmith_server.latent.invert import resize_images
from facesmith_server.model.checkpoints import load_encoder, save_encoder
from facesmith_server.model.encoder import Encoder4Editing
from facesmith_server.model.generator import Generator
from facesmith_server.model.identity import FaceRecognitionNet, load_identity_net
from facesmith_train.checkpoint_files import atomic_export, atomic_torch_save, read_tagged
from facesmith_train.classify.model import AttributeNet, load_attribute_net
from facesmith_train.encoder import losses
from facesmith_train.encoder.config import EncoderTrainConfig
from facesmith_train.gan.checkpoint import mean_w, read_checkpoint
from facesmith_train.gan.config import ModelConfig
from facesmith_train.gan.discriminator import Discriminator, channel_table
from facesmith_train.gan.samples import write_png
from facesmith_train.gan.train import sample_reals, stop_if_diverged
from facesmith_train.progress import Deadline

CHECKPOINT_NAME = "encoder-checkpoint.pt"
EXPORT_NAME = "e4e.pt"  # e4e layout, what a pack ships
FORMAT = "facesmith-encoder-1"
SAMPLE_FACES = 16


@dataclass
class FrozenGan:
    """The trained generator (g_ema), its discriminator and mean W, all frozen."""

    generator: Generator
    discriminator: Discriminator
    latent_avg: torch.Tensor  # [dim]
    identity: FaceRecognitionNet | None = None  # for the identity term (config.identity > 0)
    attributes: AttributeNet | None = None  # for the attribute term (config.attributes > 0)


@dataclass
class EncoderState:
    config: EncoderTrainConfig
    encoder: Encoder4Editing
    optim: torch.optim.Optimizer
    data_rng: torch.Generator
    step: int = 0


def load_frozen_gan(checkpoint: Path, device: torch.device) -> FrozenGan:
    """g_ema and D of a `facesmith train gan` checkpoint, frozen, on device."""
    ckpt = read_checkpoint(checkpoint)
    model = ModelConfig.from_dict(ckpt["model"])
    channels = channel_table(model.size, model.channel_multiplier, model.channels_max)
    generator = Generator(model.size, model.style_dim, model.n_mlp, channels=channels)
    generator.load_state_dict(ckpt["g_ema"])
    discriminator = Discriminator(model.size, channels, model.cond_dim)
    discriminator.load_state_dict(ckpt["discriminator"])
    for net in (generator, discriminator):
        net.to(device).eval().requires_grad_(False)
    return FrozenGan(generator, discriminator, mean_w(generator))


def build_state(config: EncoderTrainConfig, gan: FrozenGan, device: torch.device) -> EncoderState:
    torch.manual_seed(config.seed)
    g = gan.generator
    encoder = Encoder4Editing(config.encoder_config(g.size, g.num_ws, g.style_dim)).to(device)
    optim = torch.optim.Adam(encoder.parameters(), lr=config.lr)
    return EncoderState(config, encoder, optim, torch.Generator().manual_seed(config.seed + 1))


def encode(state: EncoderState, gan: FrozenGan, images: torch.Tensor) -> torch.Tensor:
    """images [N, 3, S, S] -> ws [N, num_ws, dim] (offsets from the mean W, as e4e)."""
    return state.encoder(resize_images(images, state.encoder.input_size)) + gan.latent_avg


def train_step(state: EncoderState, gan: FrozenGan, reals: torch.Tensor) -> dict[str, torch.Tensor]:
    """One optimiser step on real crops and freshly generated faces; returns the terms
    (0-dim tensors on the device: reading one waits for a GPU, so the loop reads them when
    it logs)."""
    cfg, g = state.config, gan.generator
    state.encoder.train()
    with torch.no_grad():
        w = g.mapping(torch.randn(cfg.synthetic, g.style_dim, device=reals.device))
        target_ws = w[:, None, :].expand(-1, g.num_ws, -1)
        fakes = g.synthesis(target_ws, noise_mode="const")
    images = torch.cat([reals, fakes])
    ws = encode(state, gan, images)
    recon = g.synthesis(ws, noise_mode="const")
    terms = {
        "pixel": F.mse_loss(recon, images),
        "multiscale": losses.multiscale_l1(recon, images),
        "features": losses.feature_loss(gan.discriminator, recon, images),
        "delta": losses.delta_regulariser(ws),
        "latent": F.mse_loss(ws[len(reals) :], target_ws),
    }
    if cfg.identity and gan.identity is not None:
        terms["identity"] = losses.identity_loss(gan.identity, recon, images)
    if cfg.attributes and gan.attributes is not None:
        terms["attributes"] = losses.attribute_loss(gan.attributes, recon, images)
    total = sum(getattr(cfg, name) * value for name, value in terms.items())
    state.optim.zero_grad(set_to_none=True)
    total.backward()
    state.optim.step()
    state.step += 1
    return {name: value.detach() for name, value in terms.items()}


def train_encoder(
    config: EncoderTrainConfig,
    gan: FrozenGan,
    images: torch.Tensor,
    out_dir: Path,
    device: torch.device,
    resume: bool = False,
    log: Callable[[str], None] = print,
    warm_start: Path | None = None,
) -> EncoderState:
    """Train up to config.iterations steps; checkpoints, sample pairs and the e4e export.
    ``warm_start``: an e4e file whose encoder weights start a new run (a resumed run ignores it)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    state = build_state(config, gan, device)
    checkpoint = out_dir / CHECKPOINT_NAME
    if resume and checkpoint.is_file():
        restore_checkpoint(read_encoder_checkpoint(checkpoint), state)
        log(f"resumed from {checkpoint} at step {state.step}")
    elif warm_start is not None:
        load_warm_start(warm_start, state)
        log(f"started from the encoder weights of {warm_start}")
    (out_dir / "samples").mkdir(exist_ok=True)
    shown = images[:SAMPLE_FACES].to(device).float().div(127.5).sub(1.0)
    log(f"training the encoder on {images.shape[0]} crops, steps {state.step}..{config.iterations}")
    if device.type == "cuda":  # a batch gathered there, not copied over every step
        images = images.to(device)
    sums: dict[str, torch.Tensor | float] = {}
    finite = torch.ones((), dtype=torch.bool, device=device)
    deadline = Deadline(config.max_minutes)
    while state.step < config.iterations and not deadline.passed():
        reals, _ = sample_reals(images, config.batch, state.data_rng, device)
        terms = train_step(state, gan, reals)
        finite &= torch.stack([torch.isfinite(v) for v in terms.values()]).all()
        sums = {k: sums.get(k, 0.0) + v for k, v in terms.items()}
        step = state.step
        every = (config.log_every, config.sample_every, config.checkpoint_every)
        if step == config.iterations or any(step % n == 0 for n in every):
            stop_if_diverged(finite, step)
        if step % config.log_every == 0 or step == config.iterations:
            count = config.log_every if step % config.log_every == 0 else step % config.log_every
            log(f"step {step}/{config.iterations}  " + "  ".join(
                f"{k} {float(v) / count:.4f}" for k, v in sums.items()))  # fmt: skip
            sums = {}
        if step % config.sample_every == 0 or step == config.iterations:
            write_png(out_dir / "samples" / f"recon-{step:07d}.png", pairs(state, gan, shown))
        if step % config.checkpoint_every == 0 or step == config.iterations:
            save_encoder_checkpoint(checkpoint, state)
            export_encoder(out_dir / EXPORT_NAME, state, gan)
    if state.step < config.iterations:  # the time budget ran out: keep the step reached
        stop_if_diverged(finite, state.step)
        log(f"stopped at step {state.step}: --max-minutes {config.max_minutes:g} spent")
        write_png(out_dir / "samples" / f"recon-{state.step:07d}.png", pairs(state, gan, shown))
        save_encoder_checkpoint(checkpoint, state)
        export_encoder(out_dir / EXPORT_NAME, state, gan)
    return state


@torch.no_grad()
def pairs(state: EncoderState, gan: FrozenGan, images: torch.Tensor) -> np.ndarray:
    """Two rows: the crops and their reconstructions, uint8 [2 * S, N * S, 3]."""
    state.encoder.eval()
    recon = gan.generator.synthesis(encode(state, gan, images), noise_mode="const")
    rows = [
        torch.cat(list(x.clamp(-1, 1).add(1).mul(127.5).round().byte().cpu()), dim=2)
        for x in (images, recon)
    ]
    return torch.cat(rows, dim=1).permute(1, 2, 0).numpy()


def export_encoder(path: Path, state: EncoderState, gan: FrozenGan) -> None:
    """The encoder in the e4e layout (`load_encoder` reads it), written atomically."""
    state.encoder.eval()
    atomic_export(path, lambda to: save_encoder(to, state.encoder, gan.generator, gan.latent_avg))


def save_encoder_checkpoint(path: Path, state: EncoderState) -> None:
    """Everything that decides the rest of the run (resume == training straight through)."""
    payload = {
        "format": FORMAT,
        "config": state.config.to_dict(),
        "step": state.step,
        "encoder": state.encoder.state_dict(),
        "optim": state.optim.state_dict(),
        "rng": {"torch": torch.get_rng_state(), "data": state.data_rng.get_state()},
    }
    atomic_torch_save(path, payload)


def read_encoder_checkpoint(path: Path) -> dict[str, Any]:
    return read_tagged(path, FORMAT, "encoder checkpoint")


def load_warm_start(path: Path, state: EncoderState) -> None:
    """Copy the weights of an e4e file (e.g. the encoder of an earlier generator of the same
    run) into a new run's encoder; its offsets then start from the new generator's mean W."""
    source, _ = load_encoder(path, "cpu")
    target = state.encoder.config
    fewer_ws = source.config.num_ws < target.num_ws
    if replace(source.config, num_ws=target.num_ws) != target or (
        source.config.num_ws > target.num_ws
    ):
        raise ValueError(
            f"{path}: its encoder's shape differs from this run's "
            f"({source.config} against {target}); match --width, --block-width, --input-size"
        )
    weights = source.state_dict()
    if fewer_ws:  # a generator grown finer: its new W+ rows start as the finest known one
        fresh = state.encoder.state_dict()
        weights = {
            **fresh,
            **weights,
            **_copied_style(weights, fresh, source.config.num_ws, target.num_ws),
        }
    state.encoder.load_state_dict(weights)


def _copied_style(
    known: dict[str, torch.Tensor], fresh: dict[str, torch.Tensor], count: int, wanted: int
) -> dict[str, torch.Tensor]:
    """The last known style block (styles.{count-1}) copied into every new block (count ..
    wanted-1) of the same shape; a block reading a finer feature map keeps its fresh weights."""
    last = f"styles.{count - 1}."
    block = {name[len(last) :]: t for name, t in known.items() if name.startswith(last)}
    copied: dict[str, torch.Tensor] = {}
    for index in range(count, wanted):
        prefix = f"styles.{index}."
        target = {k[len(prefix) :]: t for k, t in fresh.items() if k.startswith(prefix)}
        if {k: t.shape for k, t in target.items()} == {k: t.shape for k, t in block.items()}:
            copied.update({prefix + k: t.clone() for k, t in block.items()})
    return copied


def restore_checkpoint(ckpt: dict[str, Any], state: EncoderState) -> None:
    saved = EncoderTrainConfig.from_dict(ckpt["config"])
    if (saved.width, saved.block_width) != (state.config.width, state.config.block_width):
        raise ValueError(f"checkpoint encoder width {saved.width}/{saved.block_width} differs")
    state.encoder.load_state_dict(ckpt["encoder"])
    state.optim.load_state_dict(ckpt["optim"])
    state.step = int(ckpt["step"])
    torch.set_rng_state(ckpt["rng"]["torch"])
    state.data_rng.set_state(ckpt["rng"]["data"])


def run(args: Any) -> int:
    """Run a parsed `facesmith train encoder` command line."""
    from facesmith_server.devices import choose_device
    from facesmith_train.encoder.args import config_from_args
    from facesmith_train.gan.train import load_training_images

    apply_threads(args)
    config = config_from_args(args)
    device = choose_device(args.device)
    gan = load_frozen_gan(args.gan, device)
    if config.identity:
        gan.identity = load_identity_net(args.face_api, device)
    if config.attributes:
        gan.attributes = load_attribute_net(args.attribute_net, device)
    images = load_training_images(args.data, gan.generator.size)
    train_encoder(config, gan, images, args.out, device, resume=args.resume,
                  log=lambda line: print(line, flush=True),
                  warm_start=args.warm_start)  # fmt: skip
    print(f"wrote {args.out / EXPORT_NAME} and {args.out / CHECKPOINT_NAME}", flush=True)
    return 0
