"""How fast `facesmith train gan` steps run here: images per second for each batch and
precision, with the modulated convs as one shared conv (what a GPU uses) and as the
per-sample grouped conv (what a CPU uses), measured in the same run (random crops, a fresh
model).

    python training/gan_speed.py --size 128 --channels-max 64 --batch 64 256 1024 --steps 5

The first GPU session measured the grouped conv alone (128 px, 64 channels, an H200):
batch 64 at 129 img/s in bf16 and 150 in fp32, batch 256 at 378 and 564 (bf16's grouped
conv kernel is slow), with 14,000 kernel launches a step. On the 2-core build machine (64
px, fp32) the shared conv ran at 1.00 of the grouped one's speed at batch 8, 0.82 at 32.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

import torch

from facesmith_server.devices import choose_device
from facesmith_server.model import ops
from facesmith_train.gan.config import ModelConfig, TrainConfig
from facesmith_train.gan.steps import amp_dtype, train_step
from facesmith_train.gan.train import build_state

ORIGINALS = {"modulated_conv2d_shared": ops.modulated_conv2d_shared,
             "modulated_conv2d": ops.modulated_conv2d}  # fmt: skip
CONVS: dict[str, Callable[..., torch.Tensor]] = {
    "shared": ops.modulated_conv2d_shared,
    "grouped": ops.modulated_conv2d,
}


def images_per_second(
    model: ModelConfig, batch: int, precision: str, steps: int, device: torch.device
) -> float:
    config = TrainConfig(model, 10**9, batch=batch, precision=precision)
    state = build_state(model, config, device)
    dtype = amp_dtype(device, precision)
    reals = torch.rand(batch, 3, model.size, model.size, device=device) * 2 - 1
    for _ in range(2):  # warm-up: kernel choice, allocator
        train_step(state, reals, config, dtype)
    _sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        train_step(state, reals, config, dtype)
    _sync(device)
    return batch * steps / (time.perf_counter() - started)


def _use(conv: Callable[..., torch.Tensor], device: torch.device) -> None:
    """Make the layers call `conv` where they would call this device's batch conv."""
    setattr(ops, "modulated_conv2d_shared" if device.type != "cpu" else "modulated_conv2d", conv)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--channels-max", type=int, default=64)
    p.add_argument("--batch", type=int, nargs="+", default=[64, 256, 1024])
    p.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    device = choose_device(args.device)
    model = ModelConfig(args.size, channels_max=args.channels_max)
    for batch in args.batch:
        for precision in args.precision if device.type == "cuda" else ["fp32"]:
            rates = {}
            for name, conv in CONVS.items():
                _use(conv, device)
                rates[name] = images_per_second(model, batch, precision, args.steps, device)
            for name, conv in ORIGINALS.items():
                setattr(ops, name, conv)
            print(f"batch {batch} {precision}: shared {rates['shared']:.0f} img/s, grouped "
                  f"{rates['grouped']:.0f} img/s, ratio {rates['shared'] / rates['grouped']:.2f}",
                  flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
