"""Faces from line drawings: the line extraction both training and refinement use, the
sketch encoder's input, and refinement that draws a face's lines closer to the drawing.

Layouts: images [N, 3, S, S] in [-1, 1]; ink [N, 1, S, S] in 0..1 (1 = a full line), as
facesmith.pixels.ink reads a drawing. Lines are an XDoG-style extraction: the difference of
two Gaussian blurs of the luminance (dark strokes are darker than their surroundings),
soft-thresholded, then normalised like a drawing (`normalise_ink`), so that the encoder sees
a clean extraction and a user's strokes alike.

A drawing says nothing of colour, and an encoder trained to guess it answers the average:
pale, low-contrast faces. So the finest styles (`colour_rows`, the last fifth of W+: colour
and fine texture) come from a seeded face instead (`with_colours`) — measured on held-out
faces, that also brings the face's lines closer to the drawing's.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from facesmith_server.errors import Cancelled, InvalidInput
from facesmith_server.latent.invert import resize_images
from facesmith_server.model.encoder import Encoder4Editing
from facesmith_server.model.generator import SynthesisNetwork

LUMA = (0.299, 0.587, 0.114)
SIGMA_PER_PX = 1 / 80  # the inner blur's sigma as a share of the side (0.8 px at 64)
SURROUND = 1.6  # the outer blur's sigma over the inner one
THRESHOLD = 0.012  # a line is this much darker than its surroundings (luminance 0..1)...
SOFTNESS = 0.02  # ...reaching full ink this much further
INK_REFERENCE = 0.9  # quantile of the inked pixels that normalisation maps to 1
INKED = 0.1  # what counts as an inked pixel there
MIN_INK = 0.05  # a drawing whose darkest line is fainter is empty
MAX_COVER = 0.5  # a drawing with more of its area inked is not a line drawing
ANCHOR_WEIGHT = 0.05  # refinement: keep W+ near the encoder's answer (stays a face)

ProgressFn = Callable[[int, int, float], None]
StopFn = Callable[[], bool]


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of [N, C, H, W] with reflected borders."""
    radius = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def line_drawing(images: torch.Tensor, sigma_scale: float = 1.0) -> torch.Tensor:
    """The lines of faces (differentiable): images [N, 3, S, S] -> ink [N, 1, S, S]."""
    luma = torch.tensor(LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    lum = ((images + 1) / 2 * luma).sum(dim=1, keepdim=True)
    sigma = images.shape[-1] * SIGMA_PER_PX * sigma_scale
    darker = gaussian_blur(lum, sigma * SURROUND) - gaussian_blur(lum, sigma)
    return ((darker - THRESHOLD) / SOFTNESS).clamp(0, 1)


def normalise_ink(ink: torch.Tensor) -> torch.Tensor:
    """Each drawing's ink scaled so its typical line is 1 (faint pencil and a downscaled
    pen stroke read alike): [N, 1, S, S] -> same."""
    out = []
    for one in ink:
        inked = one[one > INKED]
        level = torch.quantile(inked, INK_REFERENCE) if inked.numel() else one.new_tensor(1.0)
        out.append((one / level.clamp_min(INKED)).clamp(0, 1))
    return torch.stack(out)


def check_drawing(ink: torch.Tensor, index: int) -> None:
    """InvalidInput for a drawing with no lines, or one mostly covered in ink."""
    if float(ink.max()) < MIN_INK:
        raise InvalidInput(f"drawing {index} has no lines: draw dark lines on light paper or "
                           "on a transparent layer")  # fmt: skip
    if float((ink > 0.5).float().mean()) > MAX_COVER:
        raise InvalidInput(f"drawing {index} is mostly ink: a line drawing is dark lines on "
                           "light paper")  # fmt: skip


def colour_rows(num_ws: int) -> int:
    """How many of the last W+ rows hold colour and fine texture (the last fifth)."""
    return max(1, round(num_ws / 5))


def with_colours(ws: torch.Tensor, colours: torch.Tensor) -> torch.Tensor:
    """ws [N, num_ws, dim] with their colour rows taken from W ``colours`` [N or 1, dim]."""
    rows = colour_rows(ws.shape[1])
    out = ws.clone()
    out[:, -rows:] = colours[:, None, :].to(ws)
    return out


def encoder_input(ink: torch.Tensor) -> torch.Tensor:
    """ink [N, 1, S, S] -> the sketch encoder's image [N, 3, S, S]: paper 1, full ink -1."""
    return (1 - 2 * ink).expand(-1, 3, -1, -1)


def encode_sketch(
    encoder: Encoder4Editing, latent_avg: torch.Tensor, ink: torch.Tensor
) -> torch.Tensor:
    """ink [N, 1, S, S] -> ws [N, num_ws, dim] (encoder offsets + latent_avg)."""
    with torch.no_grad():
        x = resize_images(encoder_input(ink.float()), encoder.input_size)
        return encoder(x) + latent_avg.to(x.device)


def lines_loss(images: torch.Tensor, ink: torch.Tensor) -> torch.Tensor:
    """Per-face L1 between the lines of ``images`` and the drawing's ink: [N]."""
    got = normalise_ink(line_drawing(resize_images(images, ink.shape[-1])))
    return (got - ink).abs().mean(dim=[1, 2, 3])


def follow_lines(
    synthesis: SynthesisNetwork,
    ink: torch.Tensor,
    ws_init: torch.Tensor,
    steps: int,
    lr: float = 0.01,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> torch.Tensor:
    """Optimise W+ so that the face's lines match the drawing's, staying near ``ws_init``
    (the sketch encoder's answer); returns detached ws. Progress and stop as invert.refine."""
    anchor = ws_init.detach().float()
    kept = colour_rows(anchor.shape[1])  # the colours stay the seed's
    shape = anchor[:, :-kept].clone().requires_grad_(True)
    optimiser = torch.optim.Adam([shape], lr=lr)
    for step in range(steps):
        if should_stop is not None and should_stop():
            raise Cancelled(f"following the lines stopped at step {step} of {steps}")
        with torch.enable_grad():
            ws = torch.cat([shape, anchor[:, -kept:]], dim=1)
            loss = lines_loss(synthesis(ws, noise_mode="const"), ink)
            loss = loss + ANCHOR_WEIGHT * (ws - anchor).square().mean(dim=[1, 2])
            optimiser.zero_grad(set_to_none=True)
            loss.sum().backward()
        optimiser.step()
        if on_progress is not None:
            on_progress(step + 1, steps, float(loss.detach().mean()))
    return torch.cat([shape.detach(), anchor[:, -kept:]], dim=1)
