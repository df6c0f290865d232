import numpy as np
import pytest

from facesmith_server.latent.edit import SWAP_MARGIN, apply_edits, hold_fixed, strength_to_target
from facesmith_server.model.pack import Score

rng = np.random.default_rng(0)
NUM_WS, DIM = 6, 16


def test_edit_is_linear_in_strength() -> None:
    latent = rng.normal(size=(NUM_WS, DIM)).astype(np.float32)
    age = rng.normal(size=(1, DIM)).astype(np.float32)
    gender = rng.normal(size=(NUM_WS, DIM)).astype(np.float32)
    one = apply_edits(latent, [age, gender], [1.0, -0.5]) - latent
    three = apply_edits(latent, [age, gender], [3.0, -1.5]) - latent
    np.testing.assert_allclose(three, 3 * one, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(one, np.broadcast_to(age, (NUM_WS, DIM)) - 0.5 * gender, atol=1e-6)


def test_zero_strength_leaves_latent_unchanged() -> None:
    latent = rng.normal(size=(NUM_WS, DIM)).astype(np.float32)
    out = apply_edits(latent, [rng.normal(size=(1, DIM)).astype(np.float32)], [0.0])
    np.testing.assert_array_equal(out, latent)


def test_conditional_edit_is_orthogonal_to_what_it_holds() -> None:
    bald = rng.normal(size=(1, DIM))
    gender = rng.normal(size=(1, DIM))
    age = rng.normal(size=(NUM_WS, DIM))
    held = hold_fixed(bald, [gender, age])
    assert held.shape == (NUM_WS, DIM)
    for r in range(NUM_WS):
        assert abs(held[r] @ gender[0]) < 1e-4 * np.linalg.norm(gender)
        assert abs(held[r] @ age[r]) < 1e-4 * np.linalg.norm(age[r])
        # its own attribute moves as far as the unconditional edit would
        np.testing.assert_allclose(held[r] @ bald[0], bald[0] @ bald[0], rtol=1e-4)


def test_holding_a_parallel_direction_is_refused() -> None:
    age = rng.normal(size=(1, DIM))
    with pytest.raises(ValueError, match="span"):
        hold_fixed(age, [2 * age])


@pytest.mark.parametrize("shape", [(DIM,), (NUM_WS + 1, DIM), (1, DIM + 1)])
def test_bad_direction_shape_is_refused(shape: tuple[int, ...]) -> None:
    latent = np.zeros((NUM_WS, DIM), np.float32)
    with pytest.raises(ValueError, match="direction must be"):
        apply_edits(latent, [np.zeros(shape, np.float32)], [1.0])


@pytest.mark.parametrize("now", [-6.0, -3.0, 0.5, 4.0])
def test_a_swap_mirrors_the_face_and_lands_at_least_the_margin_past_the_boundary(
    now: float,
) -> None:
    normal = np.zeros(DIM, np.float32)
    normal[0] = 2.0
    score = Score(normal, 0.0, "binary", "", 0.0, 1.0)
    latent = np.zeros((NUM_WS, DIM), np.float32)
    latent[:, 0] = now / 2.0
    direction = np.eye(1, DIM, 0, dtype=np.float32)  # 2 logits per unit
    k = strength_to_target(latent, direction, score, "swap", 0.0, (-10.0, 10.0))
    assert score.value(latent + k * direction) == pytest.approx(
        -np.sign(now) * max(abs(now), SWAP_MARGIN), abs=1e-5
    )
    clipped = strength_to_target(latent, direction, score, "swap", 0.0, (-1.0, 1.0))
    assert clipped == -np.sign(now)  # each needs more than 1: stopped at the range
