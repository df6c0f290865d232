import numpy as np
import pytest

from facesmith_server.latent.edit import apply_edits, hold_fixed

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
