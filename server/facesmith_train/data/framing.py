"""Choosing a pack's alignment template from the training faces' landmarks.

Tight source crops (UTKFace cuts the top of the head) leave FFHQ's framing far outside the
image, so the generator would learn reflected borders. We take the largest framing (FFHQ's
proportions scaled down, centre moved along the eye→mouth line) whose crops stay almost inside
their source images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from facesmith.alignment import FFHQ, Template
from facesmith_client.vision.align import ffhq_matrix

SCALES = tuple(round(1.0 - 0.025 * i, 3) for i in range(21))  # 1.0 (FFHQ) down to 0.5
# FFHQ's shift is 0.1; UTKFace's crops are centred about halfway from the eyes to the mouth
SHIFTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
DEFAULT_MAX_PADDING = 0.03  # mean fraction of a crop's area outside its source image
PROBE_SIZE = 16  # crop pixels probed per side: plenty for a mean fraction


@dataclass(frozen=True)
class FaceGeometry:
    """Landmarks [N, 5, 2] of detected faces and their images' (height, width) [N, 2]."""

    landmarks: np.ndarray
    shapes: np.ndarray


@dataclass(frozen=True)
class TemplateChoice:
    template: Template
    max_padding: float
    padding: dict[str, float]  # dataset → mean padding fraction with the chosen template
    ffhq_padding: dict[str, float]  # the same with FFHQ's framing, for comparison
    fits: bool  # False: no candidate met max_padding; the least padded one was taken

    def to_dict(self) -> dict[str, object]:
        return {
            "alignment": self.template.to_manifest(),
            "max_padding": self.max_padding,
            "mean_padding": self.padding,
            "ffhq_mean_padding": self.ffhq_padding,
            "fits": self.fits,
        }


def scaled_template(scale: float, shift: float) -> Template:
    """FFHQ's proportions times ``scale``, centre at ``shift`` of the way eyes → mouth."""
    return Template(
        eye_scale=round(FFHQ.eye_scale * scale, 4),
        mouth_scale=round(FFHQ.mouth_scale * scale, 4),
        centre_shift=shift,
    )


def padding_fractions(faces: FaceGeometry, template: Template) -> np.ndarray:
    """Per face, the fraction of its crop whose source lies outside the image [N]."""
    ticks = np.arange(PROBE_SIZE, dtype=np.float64)
    grid = np.stack(np.meshgrid(ticks, ticks), axis=-1).reshape(-1, 2)
    grid = np.hstack([grid, np.ones((len(grid), 1))])  # crop pixel centres, homogeneous
    out = np.empty(len(faces.landmarks))
    for i, (landmarks, (height, width)) in enumerate(
        zip(faces.landmarks, faces.shapes, strict=True)
    ):
        inverse = cv2.invertAffineTransform(ffhq_matrix(landmarks, PROBE_SIZE, template))
        src = grid @ inverse.T
        inside = (
            (src[:, 0] >= -0.5)
            & (src[:, 0] <= width - 0.5)
            & (src[:, 1] >= -0.5)
            & (src[:, 1] <= height - 0.5)
        )
        out[i] = 1.0 - inside.mean()
    return out


def mean_padding(samples: Mapping[str, FaceGeometry], template: Template) -> dict[str, float]:
    return {
        name: round(float(padding_fractions(faces, template).mean()), 4)
        for name, faces in samples.items()
        if len(faces.landmarks)
    }


def assess_template(
    samples: Mapping[str, FaceGeometry], template: Template, max_padding: float
) -> TemplateChoice:
    """The padding of a template given by hand (``--alignment``), in the same report form."""
    padding = mean_padding(samples, template)
    fits = max(padding.values(), default=0.0) <= max_padding
    return TemplateChoice(template, max_padding, padding, mean_padding(samples, FFHQ), fits)


def choose_template(
    samples: Mapping[str, FaceGeometry],
    max_padding: float = DEFAULT_MAX_PADDING,
    scales: Sequence[float] = SCALES,
    shifts: Sequence[float] = SHIFTS,
) -> TemplateChoice:
    """The largest framing whose mean padding is ≤ ``max_padding`` on every dataset; at that
    scale, the centre shift nearest FFHQ's that fits (so whole-head data keeps FFHQ's own
    framing, and packs trained on it share their crops with FFHQ packs)."""
    ffhq = mean_padding(samples, FFHQ)
    best: tuple[float, Template, dict[str, float]] | None = None
    for scale in sorted(scales, reverse=True):
        scored = []
        for shift in sorted(shifts, key=lambda s: abs(s - FFHQ.centre_shift)):
            template = scaled_template(scale, shift)
            padding = mean_padding(samples, template)
            scored.append((max(padding.values(), default=0.0), template, padding))
        fitting = [item for item in scored if item[0] <= max_padding]
        if fitting:
            _, template, padding = fitting[0]
            return TemplateChoice(template, max_padding, padding, ffhq, fits=True)
        worst, template, padding = min(scored, key=lambda item: item[0])
        if best is None or worst < best[0]:
            best = (worst, template, padding)
    assert best is not None, "no candidate templates"
    return TemplateChoice(best[1], max_padding, best[2], ffhq, fits=False)
