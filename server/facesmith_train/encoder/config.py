"""Settings of `facesmith train encoder`: the encoder's shape and the loss weights."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch: the CLI reads the defaults without importing it
    from facesmith_server.model.encoder import EncoderConfig

MIN_INPUT = 32


@dataclass(frozen=True)
class EncoderTrainConfig:
    """Schedule and loss weights (defaults tuned on 64 px CPU runs)."""

    iterations: int  # total steps; a resumed run continues up to this
    batch: int = 16  # real crops per step
    synthetic: int = 8  # generated faces per step (their W is known: latent term)
    lr: float = 5e-4
    width: int = 32  # stem channels; the four stages are width x (1, 2, 3, 4)
    block_width: int = 128  # channels inside each per-W style block
    input_size: int = 0  # encoder input resolution; 0: the generator's (at least MIN_INPUT)
    pixel: float = 1.0  # weight of the mean squared pixel error
    multiscale: float = 1.0  # weight of the multi-scale L1 term
    features: float = 0.5  # weight of the discriminator feature distance
    delta: float = 2e-4  # weight of the W+ delta regulariser
    latent: float = 0.5  # weight of the W error on generated faces
    identity: float = 0.0  # weight of the face-recognition descriptor distance (0 = off)
    attributes: float = 0.0  # weight of the attribute classifiers' agreement (0 = off)
    seed: int = 0
    max_minutes: float | None = None  # stop (saving) once this much time is spent
    log_every: int = 50
    sample_every: int = 500
    checkpoint_every: int = 500

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EncoderTrainConfig:
        return cls(**values)

    def encoder_config(self, size: int, num_ws: int, style_dim: int) -> EncoderConfig:
        """A small IR-SE encoder for a generator of `size` px (input: that size, at least 32,
        so that its coarsest features are 2 x 2 or more, unless input_size says otherwise)."""
        from facesmith_server.model.encoder import EncoderConfig

        w = self.width
        return EncoderConfig(
            num_ws=num_ws,
            style_dim=style_dim,
            input_size=self.input_size or max(size, MIN_INPUT),
            stem_width=w,
            widths=(w, 2 * w, 3 * w, 4 * w),  # distinct: the loader infers stages by width
            units=(1, 2, 2, 1),
            se_reduction=8,
            block_width=self.block_width,
        )
