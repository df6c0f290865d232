"""Training a sketch encoder: the pack's e4e encoder (warm start) taught to read rough
sketches. Each step sketches the generator's own faces (their W is known: a latent term) and
training photos, encodes the sketches, renders through the frozen generator and minimises:
the W error (generated faces), the multi-scale L1 to the face that was sketched, the lines of
the render against the clean lines of that face, and e4e's W+ delta regulariser."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from facesmith_server.latent.invert import resize_images
from facesmith_server.latent.sketch import encoder_input, line_drawing, lines_loss, normalise_ink
from facesmith_server.model.encoder import Encoder4Editing
from facesmith_server.model.pack import Pack
from facesmith_server.model.seeded_z import next_seed, seeded_z
from facesmith_train.encoder.losses import delta_regulariser, multiscale_l1
from facesmith_train.sketch.strokes import rough_sketches

LEARNING_RATE = 5e-4
TRUNCATION = (0.6, 1.0)  # generated faces: typical ones and varied ones
WEIGHTS = {"latent": 1.0, "pixel": 1.0, "lines": 1.0, "delta": 2e-4}
HELD_OUT = 16  # generated faces scored before and after


@dataclass(frozen=True)
class TrainReport:
    steps: int
    start_loss: float  # held-out generated faces, before training
    end_loss: float  # the same faces after
    seconds: float


def train_sketch_encoder(
    pack: Pack,
    photos: torch.Tensor | None,
    steps: int,
    *,
    batch: int = 8,
    seed: int = 0,
    network: Encoder4Editing | None = None,
    on_step: Callable[[int, dict[str, float], Encoder4Editing], None] | None = None,
) -> tuple[Encoder4Editing, TrainReport]:
    """A sketch encoder trained ``steps`` steps, starting from ``network`` or the pack's
    encoder. ``photos``: uint8 crops [N, 3, S, S] in the pack's framing (None: generated
    faces only); each step takes ``batch`` generated faces and, if given, ``batch`` photos.
    ``on_step(step, terms, network)`` after every step (e.g. to save it now and then)."""
    started = time.monotonic()
    torch.manual_seed(seed)
    rng = torch.Generator().manual_seed(seed)
    net = copy.deepcopy(network if network is not None else pack.encoder).float()
    net.train().requires_grad_(True)
    held = _generated(pack, HELD_OUT, torch.Generator().manual_seed(seed + 10**6))
    held_ink = rough_sketches(held[0], torch.Generator().manual_seed(seed + 10**6))
    start = held_out_loss(pack, net, held, held_ink)
    optimiser = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    for step in range(steps):
        terms = _step(pack, net, optimiser, _batch(pack, photos, batch, rng), rng)
        if on_step is not None:
            on_step(step + 1, terms, net)
    net.eval().requires_grad_(False)
    end = held_out_loss(pack, net, held, held_ink)
    return net, TrainReport(steps, start, end, time.monotonic() - started)


def _generated(pack: Pack, count: int, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random faces of the generator: images [N, 3, S, S] and their W+ [N, num_ws, dim]."""
    g = pack.generator
    device = pack.latent_avg.device
    z = seeded_z(count, g.style_dim, next_seed(rng)).to(device)
    psi = TRUNCATION[0] + (TRUNCATION[1] - TRUNCATION[0]) * torch.rand(count, generator=rng)
    with torch.no_grad():
        w = g.mapping(z)
        w = pack.latent_avg + psi.to(device)[:, None] * (w - pack.latent_avg)
        ws = w[:, None].expand(-1, g.num_ws, -1).contiguous()
        return g.synthesis(ws, noise_mode="const").clamp(-1, 1), ws


def _batch(
    pack: Pack, photos: torch.Tensor | None, batch: int, rng: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Faces to sketch [N, 3, S, S] (generated first, then photos) and the generated ones' W+."""
    faces, ws = _generated(pack, batch, rng)
    if photos is not None and len(photos):
        index = torch.randint(len(photos), (batch,), generator=rng)
        real = photos[index].float() / 127.5 - 1
        real = resize_images(real, faces.shape[-1]).to(faces.device)
        flip = torch.rand(batch, generator=rng) < 0.5
        real = torch.where(flip[:, None, None, None].to(faces.device), real.flip(3), real)
        faces = torch.cat([faces, real])
    return faces, ws


def _encode(pack: Pack, net: Encoder4Editing, ink: torch.Tensor) -> torch.Tensor:
    x = resize_images(encoder_input(ink), net.input_size)
    return net(x) + pack.encoder_latent_avg


def _losses(
    pack: Pack, net: Encoder4Editing, faces: torch.Tensor, target_ws: torch.Tensor,
    ink: torch.Tensor,
) -> dict[str, torch.Tensor]:  # fmt: skip
    ws = _encode(pack, net, ink)
    recon = pack.generator.synthesis(ws, noise_mode="const")
    clean = normalise_ink(line_drawing(faces))
    return {
        "latent": (ws[: len(target_ws)] - target_ws).square().mean(),
        "pixel": multiscale_l1(recon, faces),
        "lines": lines_loss(recon, clean).mean(),
        "delta": delta_regulariser(ws),
    }


def _total(terms: dict[str, torch.Tensor]) -> torch.Tensor:
    return sum((WEIGHTS[name] * value for name, value in terms.items()), torch.zeros(()))


def _step(
    pack: Pack,
    net: Encoder4Editing,
    optimiser: torch.optim.Optimizer,
    data: tuple[torch.Tensor, torch.Tensor],
    rng: torch.Generator,
) -> dict[str, float]:
    faces, target_ws = data
    terms = _losses(pack, net, faces, target_ws, rough_sketches(faces, rng))
    loss = _total(terms)
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    values = {name: float(value.detach()) for name, value in terms.items()}
    if not all(np.isfinite(list(values.values()))):
        raise RuntimeError(f"the sketch encoder's losses became non-finite: {values}")
    return values


@torch.no_grad()
def held_out_loss(
    pack: Pack, net: Encoder4Editing, held: tuple[torch.Tensor, torch.Tensor], ink: torch.Tensor
) -> float:
    """The weighted loss on held-out generated faces (what training must lower)."""
    was_training = net.training
    net.eval()
    value = float(_total(_losses(pack, net, held[0], held[1], ink)))
    net.train(was_training)
    return value
