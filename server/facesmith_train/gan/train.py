"""`facesmith train gan`: StyleGAN2 training loop (non-saturating loss, lazy R1, EMA,
DiffAugment, style mixing; path-length regularisation is left out: it mostly helps
projection/smoothness at high resolution and costs a second G pass).

Python API: `train(config, images, out_dir, device, resume)`; CLI: `main(argv)`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from facesmith.arguments import apply_threads
from facesmith.files import atomic_write
from facesmith_server.devices import choose_device, describe
from facesmith_server.model.generator import Generator
from facesmith_train.data.prepared import load_many
from facesmith_train.gan.args import build_parser
from facesmith_train.gan.checkpoint import (
    CHECKPOINT_NAME,
    EXPORT_NAME,
    WEIGHTS_NAME,
    GanState,
    condition_of,
    export_generator,
    read_checkpoint,
    read_weights,
    restore_checkpoint,
    restore_weights,
    save_checkpoint,
    save_weights,
)
from facesmith_train.gan.condition import SOURCES, fit_condition, labels_from_z, standardise
from facesmith_train.gan.config import ModelConfig, TrainConfig
from facesmith_train.gan.discriminator import Discriminator, channel_table
from facesmith_train.gan.grow import grow_weights
from facesmith_train.gan.losses import default_r1_gamma
from facesmith_train.gan.samples import fixed_latents, render_grid, write_png
from facesmith_train.gan.steps import StepLosses, amp_dtype, train_step
from facesmith_train.progress import Deadline

SNAPSHOTS = "snapshots"  # g_ema at every checkpoint (small), for `train monitor`
ADAM_BETAS = (0.0, 0.99)  # StyleGAN2: no momentum, slow second moment
GRID_SAMPLES = 64


@dataclass(frozen=True)
class TrainingSet:
    """Training crops of every prepared file (held-out ones dropped) as uint8 [N, 3, S, S],
    and, for a conditional run, their raw label columns ({name: float [N]}, NaN = unknown)."""

    images: torch.Tensor
    labels: dict[str, np.ndarray]


def load_training_set(
    paths: Sequence[Path], size: int, condition: Sequence[str] = ()
) -> TrainingSet:
    parts: list[torch.Tensor] = []
    columns: dict[str, list[np.ndarray]] = {name: [] for name in condition}
    for prepared in load_many(paths, split="train"):
        parts.append(_resized(torch.from_numpy(prepared.crops).permute(0, 3, 1, 2), size))
        for name in condition:
            columns[name].append(prepared.column(SOURCES.get(name, name)))
    labels = {name: np.concatenate(cols) for name, cols in columns.items()}
    return TrainingSet(torch.cat(parts).contiguous(), labels)


def load_training_images(paths: Sequence[Path], size: int) -> torch.Tensor:
    """Training crops (held-out ones dropped) of every .npz: uint8 [N, 3, size, size]."""
    return load_training_set(paths, size).images


def _resized(images: torch.Tensor, size: int, chunk: int = 1024) -> torch.Tensor:
    """uint8 [N, 3, S, S] -> uint8 [N, 3, size, size] (antialiased; a no-op if S == size)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = [
        F.interpolate(images[i : i + chunk].float(), size=(size, size), mode="bilinear",
                      antialias=True, align_corners=False).round().clamp(0, 255).to(torch.uint8)
        for i in range(0, images.shape[0], chunk)
    ]  # fmt: skip
    return torch.cat(out)


def sample_reals(
    images: torch.Tensor,
    batch: int,
    rng: torch.Generator,
    device: torch.device,
    labels: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A random batch (with replacement, random horizontal flips) as float [-1, 1] on device,
    with its rows of ``labels`` [N, K] when given."""
    index = torch.randint(images.shape[0], (batch,), generator=rng)
    flip = torch.rand(batch, generator=rng) < 0.5
    reals = images[_to(index, images.device)].to(device).float().div(127.5).sub(1.0)
    reals = torch.where(_to(flip, device)[:, None, None, None], reals.flip(3), reals)
    return reals, None if labels is None else _to(labels[index], device)


def _to(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A small CPU tensor on device; to a GPU through pinned memory without waiting (a plain
    copy there waits for the GPU's queue to drain, every step)."""
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def build_state(model: ModelConfig, config: TrainConfig, device: torch.device) -> GanState:
    """Fresh networks and optimisers, initialised from config.seed."""
    torch.manual_seed(config.seed)
    channels = channel_table(model.size, model.channel_multiplier, model.channels_max)
    generator = Generator(model.size, model.style_dim, model.n_mlp, channels=channels).to(device)
    g_ema = Generator(model.size, model.style_dim, model.n_mlp, channels=channels).to(device)
    g_ema.load_state_dict(generator.state_dict())
    g_ema.eval().requires_grad_(False)
    discriminator = Discriminator(model.size, channels, model.cond_dim).to(device)
    # Lazy regularisation: R1 every k steps -> scale lr and betas as if it ran every step.
    ratio = _reg_ratio(config)
    fused = True if device.type == "cuda" else None  # one kernel for all parameters
    g_optim = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=ADAM_BETAS, fused=fused)
    d_optim = torch.optim.Adam(
        discriminator.parameters(),
        lr=config.lr * ratio,
        betas=(ADAM_BETAS[0] ** ratio, ADAM_BETAS[1] ** ratio),
        fused=fused,
    )
    fp16 = amp_dtype(device, config.precision) == torch.float16
    return GanState(
        model, generator, g_ema, discriminator, g_optim, d_optim,
        torch.amp.GradScaler(device.type, enabled=fp16),
        torch.amp.GradScaler(device.type, enabled=fp16),
        torch.Generator().manual_seed(config.seed + 1),
    )  # fmt: skip


def _reg_ratio(config: TrainConfig) -> float:
    return config.d_reg_every / (config.d_reg_every + 1) if config.d_reg_every > 0 else 1.0


def set_learning_rate(state: GanState, config: TrainConfig) -> None:
    """Give both optimisers config.lr (a resumed Adam would keep the saved one), so that
    resuming with a lower --lr anneals a run that has levelled off."""
    for optim, lr in ((state.g_optim, config.lr), (state.d_optim, config.lr * _reg_ratio(config))):
        for group in optim.param_groups:
            group["lr"] = lr


def train(
    config: TrainConfig,
    data: TrainingSet | torch.Tensor,
    out_dir: Path,
    device: torch.device,
    resume: bool = False,
    log: Callable[[str], None] = print,
    warm_start: Path | None = None,
) -> GanState:
    """Train up to config.iterations steps; checkpoint, export and grid at the end.
    ``warm_start``: a weights file (`save_weights`) to start from when there is no checkpoint
    to resume.
    ``data``: a TrainingSet (its labels are used when config.condition names any) or bare
    uint8 images [N, 3, S, S] for an unconditional run."""
    data = data if isinstance(data, TrainingSet) else TrainingSet(data, {})
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = out_dir / CHECKPOINT_NAME
    model = replace(config.model, cond_dim=len(config.condition))
    ckpt = read_checkpoint(checkpoint) if resume and checkpoint.is_file() else None
    weights = read_weights(warm_start) if ckpt is None and warm_start is not None else None
    stored = ckpt or weights
    grow = False
    if stored is not None:
        model = ModelConfig.from_dict(stored["model"])
        grow = ckpt is None and 2 * model.size == config.model.size
        if grow:
            model = replace(model, size=config.model.size)
        elif model.size != config.model.size:
            raise ValueError(f"the run is {model.size} px, --size asks {config.model.size}")
    state = build_state(model, config, device)
    if ckpt is not None:
        restore_checkpoint(ckpt, state)
        set_learning_rate(state, config)
        log(f"resumed from {checkpoint} at step {state.step}, learning rate {config.lr:g}")
    elif weights is not None:
        if grow:
            nets = ("generator", "g_ema", "discriminator")
            weights = grow_weights(
                weights, {n: getattr(state, n).state_dict() for n in nets}, model
            )
        restore_weights(weights, state)
        grown = f", grown to {model.size} px" if grow else ""
        log(f"started from the weights in {warm_start} at step {state.step}{grown} "
            "(fresh optimisers)")  # fmt: skip
    else:
        if resume:
            log(f"no {checkpoint}; starting a new run")
        if config.condition:
            columns = [data.labels[name] for name in config.condition]
            state.condition = fit_condition(config.condition, columns)
    labels = _standard_labels(state, data)
    images = data.images
    if device.type == "cuda":  # uint8 crops fit easily (about 1.5 GB for 30k at 128 px)
        images = images.to(device)
    if config.r1_gamma is None:
        config = replace(config, r1_gamma=default_r1_gamma(model.size, config.batch))
    _run_loop(state, config, images, labels, out_dir, device, log)
    return state


def _standard_labels(state: GanState, data: TrainingSet) -> torch.Tensor | None:
    """The run's real labels [N, K] in standardised units (unknown ones drawn from the
    condition's distribution, so they carry no signal), or None when unconditional."""
    if state.condition is None:
        return None
    missing = [n for n in state.condition.names if n not in data.labels]
    if missing:
        raise ValueError(f"the checkpoint is conditioned on {', '.join(missing)}: "
                         "the data has no such labels")  # fmt: skip
    columns = [data.labels[name] for name in state.condition.names]
    labels = torch.from_numpy(standardise(state.condition, columns))
    unknown = ~torch.isfinite(labels)
    if unknown.any():
        stand_in = labels_from_z(
            state.condition, torch.randn(labels.shape, generator=state.data_rng)
        )
        labels = torch.where(unknown, stand_in, labels)
    return labels


def _run_loop(
    state: GanState,
    config: TrainConfig,
    images: torch.Tensor,
    labels: torch.Tensor | None,
    out_dir: Path,
    device: torch.device,
    log: Callable[[str], None],
) -> None:
    dtype = amp_dtype(device, config.precision)
    grid_z = fixed_latents(GRID_SAMPLES, state.model.style_dim)
    (out_dir / "samples").mkdir(exist_ok=True)
    (out_dir / SNAPSHOTS).mkdir(exist_ok=True)
    log(
        f"training {state.model.size} px on {images.shape[0]} images, {describe(device)}, "
        f"{'fp32' if dtype is None else dtype}, R1 gamma {config.r1_gamma:.4g}, "
        f"augment p {config.augment_p}, steps {state.step}..{config.iterations}"
        + (f", conditioned on {', '.join(state.condition.names)}" if state.condition else "")
    )
    if state.step >= config.iterations:  # e.g. a weights file made into a run to build on
        _save_run(state, out_dir)
        return
    meter = _Meter(state.step, config.iterations)
    deadline = Deadline(config.max_minutes)
    finite = torch.ones((), dtype=torch.bool, device=device)  # read only when it matters
    while state.step < config.iterations and not deadline.passed():
        reals, real_labels = sample_reals(images, config.batch, state.data_rng, device, labels)
        losses = train_step(state, reals, config, dtype, real_labels)
        step = state.step
        finite &= losses.finite()
        meter.add(losses)
        every = (config.log_every, config.sample_every, config.checkpoint_every)
        if step == config.iterations or any(step % n == 0 for n in every):
            stop_if_diverged(finite, step)
        if step % config.log_every == 0 or step == config.iterations:
            log(meter.line(step))
        if step % config.sample_every == 0 or step == config.iterations:
            write_png(
                out_dir / "samples" / f"step-{step:07d}.png", render_grid(state.g_ema, grid_z)
            )
        if step % config.checkpoint_every == 0 or step == config.iterations:
            _save_run(state, out_dir)
    if state.step < config.iterations:  # the time budget ran out: keep the step reached
        stop_if_diverged(finite, state.step)
        log(f"stopped at step {state.step}: --max-minutes {config.max_minutes:g} spent")
        write_png(out_dir / "samples" / f"step-{state.step:07d}.png",
                  render_grid(state.g_ema, grid_z))  # fmt: skip
        _save_run(state, out_dir)


def stop_if_diverged(finite: torch.Tensor, step: int) -> None:
    """Stop before a diverged state is logged or overwrites the last good checkpoint."""
    if not bool(finite):
        raise RuntimeError(f"losses became non-finite by step {step}")


def _save_run(state: GanState, out_dir: Path) -> None:
    """Checkpoint, weights, the g_ema export and its snapshot for the current step."""
    save_checkpoint(out_dir / CHECKPOINT_NAME, state)
    save_weights(out_dir / WEIGHTS_NAME, state)
    export_generator(out_dir / EXPORT_NAME, state.g_ema)
    # Small copies of g_ema, to measure how variety grows along the run.
    snapshot = out_dir / SNAPSHOTS / f"g_ema-{state.step:07d}.pt"
    atomic_write(snapshot, (out_dir / EXPORT_NAME).read_bytes())


class _Meter:
    """Running means of the losses since the last line, speed and ETA."""

    def __init__(self, start_step: int, total: int) -> None:
        self.start_step, self.total = start_step, total
        self.started = self.last_time = time.monotonic()
        self.last_step = start_step
        self._reset()

    def _reset(self) -> None:
        # Fixed column order; r1 only counts the steps that ran it.
        names = [f.name for f in fields(StepLosses)]
        self.sums: dict[str, torch.Tensor | float] = dict.fromkeys(names, 0.0)
        self.counts: dict[str, int] = dict.fromkeys(names, 0)

    def add(self, losses: StepLosses) -> None:
        for name, value in vars(losses).items():
            if value is not None:
                self.sums[name] += value
                self.counts[name] += 1

    def line(self, step: int) -> str:
        now = time.monotonic()
        rate = (step - self.last_step) / max(now - self.last_time, 1e-9)
        overall = (step - self.start_step) / max(now - self.started, 1e-9)
        eta = (self.total - step) / overall if overall > 0 else 0.0
        means = "  ".join(
            f"{k} {float(self.sums[k]) / self.counts[k]:.3f}" for k in self.sums if self.counts[k]
        )
        self._reset()
        self.last_step, self.last_time = step, now
        return f"step {step}/{self.total}  {means}  {rate:.2f} it/s  ETA {_duration(eta)}"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    model = ModelConfig(args.size, args.style_dim, args.n_mlp, args.channel_multiplier,
                        args.channels_max)  # fmt: skip
    return TrainConfig(
        model=model, iterations=args.iterations, batch=args.batch, lr=args.lr,
        r1_gamma=args.r1, augment_p=args.augment_p, seed=args.seed, precision=args.precision,
        log_every=args.log_every, sample_every=args.sample_every,
        checkpoint_every=args.checkpoint_every, max_minutes=args.max_minutes,
        condition=tuple(n for n in (args.condition or "").split(",") if n),
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Run a parsed `facesmith train gan` command line."""
    apply_threads(args)
    config = config_from_args(args)
    device = choose_device(args.device)
    labels = _stored_condition(args) or config.condition  # a resumed run keeps its own
    data = load_training_set(args.data, args.size, labels)
    train(config, data, args.out, device, resume=args.resume, warm_start=args.warm_start,
          log=lambda line: print(line, flush=True))  # fmt: skip
    print(f"wrote {args.out / EXPORT_NAME} and {args.out / CHECKPOINT_NAME}", flush=True)
    return 0


def _stored_condition(args: argparse.Namespace) -> tuple[str, ...]:
    """The labels a run resumed (or warm-started) from a file was conditioned on: they are
    the ones to load, whatever --condition says now."""
    checkpoint = args.out / CHECKPOINT_NAME
    if args.resume and checkpoint.is_file():
        condition = condition_of(read_checkpoint(checkpoint))
    elif args.warm_start is not None:
        condition = condition_of(read_weights(args.warm_start))
    else:
        return ()
    return condition.names if condition else ()


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
