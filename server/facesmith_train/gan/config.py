"""Settings of a GAN training run: the architecture (stored in checkpoints) and the schedule."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class ModelConfig:
    """Shape of generator and discriminator; enough to rebuild them from a checkpoint."""

    size: int  # output resolution, a power of two in 16..1024
    style_dim: int = 512  # z / w dimension
    n_mlp: int = 8  # mapping network depth
    channel_multiplier: int = 2  # config-f channel table multiplier (2 = config-f)
    channels_max: int = 512  # cap on every resolution's channels (narrow, fast models)
    cond_dim: int = 0  # labels the discriminator is told (condition.py); 0 = unconditional

    def to_dict(self) -> dict[str, int]:
        return {k: int(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        defaults = asdict(cls(size=16))
        return cls(**{k: int(values.get(k, defaults[k])) for k in defaults})


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation schedule. Defaults are StyleGAN2's, scaled for small batches."""

    model: ModelConfig
    iterations: int  # total number of steps (a resumed run continues up to this)
    batch: int = 8
    lr: float = 0.002  # Adam learning rate of both networks (before lazy-reg scaling)
    r1_gamma: float | None = None  # None: StyleGAN2-ADA's 0.0002 * size^2 / batch
    d_reg_every: int = 16  # lazy R1: every this many steps, weighted by it
    augment_p: float = 0.3  # per-sample probability of each augmentation (0 = off)
    mixing: float = 0.9  # style-mixing probability (two w's per sample)
    ema_kimg: float | None = None  # EMA half-life in thousands of images; None: batch*10/32
    ema_rampup: float = 0.05  # early on, half-life <= this fraction of the images seen
    seed: int = 0
    precision: str = "auto"  # auto: bf16 autocast on CUDA if supported, else fp32
    log_every: int = 50
    sample_every: int = 500
    checkpoint_every: int = 1000
    max_minutes: float | None = None  # stop (saving) once this much time is spent
    condition: tuple[str, ...] = ()  # labels carried in z (condition.SOURCES), e.g. male, age
