"""Age and gender along a conditional generator's own labels: through a mapping that is
(nearly) linear in z the label axes are the mapping's columns, in the labels' units (a year;
side to side), and the fitted edits move along them, holding each other, with the readers'
models kept for --set and swaps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from linear_mapping import LinearMapping
from torch import nn

from facesmith_server.latent.fitting import cosine
from facesmith_train.directions.from_labels import axis_span, label_axis
from facesmith_train.directions.from_samples import Samples, fit_edits
from facesmith_train.gan.condition import Condition, fit_condition, labels_from_z, z_for_labels
from facesmith_train.pack.run import EDITS

Z_DIM, W_DIM = 32, 48


class LinearGenerator(nn.Module):
    """What the label axes use of a generator: style_dim and a mapping, here w = A · z̄."""

    def __init__(self, matrix: np.ndarray) -> None:
        super().__init__()
        self.style_dim = matrix.shape[1]
        self.mapping = LinearMapping(matrix)
        self.device_anchor = nn.Parameter(torch.zeros(1))  # where its tensors live


@pytest.fixture(scope="module")
def world() -> tuple[LinearGenerator, Condition]:
    rng = np.random.default_rng(0)
    condition = fit_condition(["male", "age"], [rng.random(4000) < 0.4, rng.normal(40, 12, 4000)])
    return LinearGenerator(rng.standard_normal((W_DIM, Z_DIM))), condition


def mean_w(generator: LinearGenerator, condition: Condition, i: int, raw: float) -> np.ndarray:
    """Mean W of 2,000 z whose label i is set to ``raw`` (raw units)."""
    z = torch.randn(2000, Z_DIM, generator=torch.Generator().manual_seed(2))
    labels = labels_from_z(condition, z)
    labels[:, i] = (raw - condition.means[i]) / condition.scales[i]
    with torch.no_grad():
        return generator.mapping(z_for_labels(condition, labels, z)).double().mean(0).numpy()


def test_axes_span_a_yes_no_label_side_to_side_and_ages_between_deciles(world: tuple) -> None:
    _, condition = world
    assert axis_span(condition, "male") == (0.0, 1.0)
    low, high = axis_span(condition, "age")
    assert low == pytest.approx(40 - 1.28 * 12, abs=1.5)
    assert high == pytest.approx(40 + 1.28 * 12, abs=1.5)


def test_label_axes_are_the_mappings_columns_in_label_units(world: tuple) -> None:
    generator, condition = world
    matrix = generator.mapping.matrix.double().numpy()
    for i, label in enumerate(("male", "age")):
        axis = label_axis(generator, condition, label)
        assert axis.shape == (1, W_DIM) and cosine(axis, matrix[:, i]) > 0.99, label
    side_to_side = mean_w(generator, condition, 0, 1.0) - mean_w(generator, condition, 0, 0.0)
    male = label_axis(generator, condition, "male")[0]
    assert np.allclose(male, side_to_side, atol=0.05 * np.abs(side_to_side).max())
    twenty_years = mean_w(generator, condition, 1, 60.0) - mean_w(generator, condition, 1, 40.0)
    age = label_axis(generator, condition, "age")[0]
    assert np.allclose(20 * age, twenty_years, atol=0.05 * np.abs(twenty_years).max())


def test_fitted_edits_move_along_the_axes_holding_each_other(world: tuple) -> None:
    generator, condition = world
    rng = np.random.default_rng(3)
    z = torch.randn(3000, Z_DIM, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        ws = generator.mapping(z).double().numpy()
    labels = labels_from_z(condition, z).numpy()
    values = {  # what noisy readers would say
        "age": 40 + 12 * labels[:, 1] + rng.normal(0, 8, len(ws)),
        "gender": 1 / (1 + np.exp(-2 * labels[:, 0] + rng.normal(0, 1, len(ws)))),
        "bald": (labels[:, 0] + rng.normal(0, 1, len(ws)) > 1) * 1.0,
    }
    samples = Samples(ws, values, np.full((len(ws), 3), 0.5) + 0.01 * ws[:, :3])
    axes = {"age": label_axis(generator, condition, "age"),
            "gender": label_axis(generator, condition, "male")}  # fmt: skip
    specs = [spec for spec in EDITS if spec.name in values]
    fitted = fit_edits(samples, specs, axes=axes)
    age, gender = fitted["age"], fitted["gender"]
    assert cosine(age.direction, axes["age"]) > 0.9
    assert abs(cosine(age.direction, axes["gender"])) < 1e-6  # age holds gender's axis
    assert cosine(gender.direction, axes["gender"]) > 0.9
    along = float(gender.direction[0] @ axes["gender"][0]) / np.linalg.norm(axes["gender"])
    assert along == pytest.approx(np.linalg.norm(axes["gender"]), rel=1e-4)  # label units kept
    assert gender.fit.kind == "binary" and gender.report["model_change_per_unit"] > 0
    assert age.report["model_change_per_unit"] > 0  # the reader's model agrees in sign
    bald = fitted["bald"]  # a fitted edit: held against the readers' fits, not the axes
    assert abs(cosine(bald.direction, gender.fit.direction)) < 1e-5


def test_an_axis_its_readers_disagree_with_is_refused(world: tuple) -> None:
    generator, condition = world
    z = torch.randn(2000, Z_DIM, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ws = generator.mapping(z).double().numpy()
    labels = labels_from_z(condition, z).numpy()
    values = {"age": 40 - 12 * labels[:, 1], "gender": (labels[:, 0] > 0) * 1.0}  # age reversed
    samples = Samples(ws, values, np.full((len(ws), 3), 0.5))
    specs = [spec for spec in EDITS if spec.name in values]
    axes = {"age": label_axis(generator, condition, "age")}
    with pytest.raises(ValueError, match=r"'age'.* falls along the label's axis"):
        fit_edits(samples, specs, hold_colour=False, axes=axes)
