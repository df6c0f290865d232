"""StyleGAN2 generator: official names, determinism, preview stop, fast path == reference."""

from __future__ import annotations

import pytest
import torch

from facesmith_server.errors import InvalidInput
from facesmith_server.model import ops
from facesmith_server.model.generator import Generator, config_f_channels
from facesmith_server.model.layers import FusedLeakyReLU, NoiseInjection
from facesmith_server.model.official_names import load_official_state_dict, official_state_dict

TINY_CHANNELS = {4: 32, 8: 32, 16: 24, 32: 16}


def official_config_f_shapes() -> dict[str, tuple[int, ...]]:
    """rosinality g_ema names and shapes of stylegan2-ffhq-config-f.pt, written out by rule."""
    ch = {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64, 1024: 32}
    shapes: dict[str, tuple[int, ...]] = {}
    for i in range(1, 9):
        shapes[f"style.{i}.weight"] = (512, 512)
        shapes[f"style.{i}.bias"] = (512,)
    shapes["input.input"] = (1, 512, 4, 4)

    def styled(prefix: str, cin: int, cout: int, up: bool) -> None:
        shapes[f"{prefix}.conv.weight"] = (1, cout, cin, 3, 3)
        shapes[f"{prefix}.conv.modulation.weight"] = (cin, 512)
        shapes[f"{prefix}.conv.modulation.bias"] = (cin,)
        if up:
            shapes[f"{prefix}.conv.blur.kernel"] = (4, 4)
        shapes[f"{prefix}.noise.weight"] = (1,)
        shapes[f"{prefix}.activate.bias"] = (cout,)

    def to_rgb(prefix: str, cin: int, up: bool) -> None:
        shapes[f"{prefix}.bias"] = (1, 3, 1, 1)
        shapes[f"{prefix}.conv.weight"] = (1, 3, cin, 1, 1)
        shapes[f"{prefix}.conv.modulation.weight"] = (cin, 512)
        shapes[f"{prefix}.conv.modulation.bias"] = (cin,)
        if up:
            shapes[f"{prefix}.upsample.kernel"] = (4, 4)

    styled("conv1", 512, 512, False)
    to_rgb("to_rgb1", 512, False)
    for level, res in enumerate([8, 16, 32, 64, 128, 256, 512, 1024]):
        styled(f"convs.{2 * level}", ch[res // 2], ch[res], True)
        styled(f"convs.{2 * level + 1}", ch[res], ch[res], False)
        to_rgb(f"to_rgbs.{level}", ch[res], True)
    for i in range(17):
        res = 2 ** ((i + 5) // 2)
        shapes[f"noises.noise_{i}"] = (1, 1, res, res)
    return shapes


def tiny_generator(seed: int = 0, size: int = 32) -> Generator:
    torch.manual_seed(seed)
    g = Generator(size, 32, 2, channels=TINY_CHANNELS | {64: 16}).eval().requires_grad_(False)
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, NoiseInjection):
                m.weight.fill_(0.2)
            elif isinstance(m, FusedLeakyReLU):
                m.bias.normal_()
    return g


def random_ws(g: Generator, n: int = 2, seed: int = 1) -> torch.Tensor:
    z = torch.randn(n * g.num_ws, g.style_dim, generator=torch.Generator().manual_seed(seed))
    return g.mapping(z).reshape(n, g.num_ws, g.style_dim)


def test_config_f_has_exactly_the_official_names_and_shapes() -> None:
    g = Generator(1024, 512, 8, 2)
    state = official_state_dict(g)
    expected = official_config_f_shapes()
    assert set(state) == set(expected)
    assert {k: tuple(v.shape) for k, v in state.items()} == expected
    assert g.num_ws == 18 and g.synthesis.resolutions[-1] == 1024
    assert config_f_channels(1024)[1024] == 32


def test_official_state_dict_round_trips_strict() -> None:
    a, b = tiny_generator(0), tiny_generator(1)
    load_official_state_dict(b, official_state_dict(a))
    ws = random_ws(a)
    assert torch.equal(a.synthesis(ws), b.synthesis(ws))
    with pytest.raises(RuntimeError):
        load_official_state_dict(
            b, {k: v for k, v in official_state_dict(a).items() if k != "input.input"}
        )


def test_output_is_deterministic_for_a_seed() -> None:
    g1, g2 = tiny_generator(3), tiny_generator(3)
    z = torch.randn(2, 32, generator=torch.Generator().manual_seed(5))
    out = g1(z)
    assert out.shape == (2, 3, 32, 32)
    assert torch.equal(out, g2(z))
    assert torch.equal(out, g1(z))  # const noise: same image every call
    assert not torch.equal(g1(z, noise_mode="random"), g1(z, noise_mode="random"))


def test_truncation_moves_towards_the_mean() -> None:
    g = tiny_generator()
    z = torch.randn(1, 32)
    mean = g.mean_latent(256, "cpu")
    assert mean.shape == (1, 32)
    assert torch.allclose(
        g(z, truncation=0.0, truncation_latent=mean), g(torch.randn(1, 32), 0.0, mean)
    )


def test_truncation_applies_only_below_one_as_in_the_reference() -> None:
    g = tiny_generator()
    z = torch.randn(2, 32, generator=torch.Generator().manual_seed(4))
    mean = g.mean_latent(256, "cpu")
    plain = g(z)
    assert torch.equal(g(z, truncation=1.0, truncation_latent=mean), plain)
    assert torch.equal(g(z, truncation=1.5, truncation_latent=mean), plain)  # no extrapolation
    assert not torch.equal(g(z, truncation=0.7, truncation_latent=mean), plain)


def test_preview_stop_returns_the_intermediate_rgb_skip() -> None:
    g = tiny_generator()
    ws = random_ws(g)
    captured: list[torch.Tensor] = []
    g.synthesis.to_rgbs[1].register_forward_hook(lambda m, i, o: captured.append(o))
    full = g.synthesis(ws)
    preview = g.synthesis(ws, stop_resolution=16)
    assert full.shape[-1] == 32 and preview.shape == (2, 3, 16, 16)
    assert torch.allclose(preview, captured[0])
    assert g.synthesis(ws, stop_resolution=4).shape == (2, 3, 4, 4)


def test_bad_inputs_raise_invalid_input() -> None:
    g = tiny_generator()
    ws = random_ws(g)
    with pytest.raises(InvalidInput, match="stop_resolution"):
        g.synthesis(ws, stop_resolution=12)
    with pytest.raises(InvalidInput, match="noise_mode"):
        g.synthesis(ws, noise_mode="loud")
    with pytest.raises(InvalidInput, match="ws must be"):
        g.synthesis(ws[:, :3])


@pytest.mark.parametrize("noise_mode", ["const", "none"])
@pytest.mark.parametrize("stop", [None, 16])
def test_fast_path_equals_reference(noise_mode: str, stop: int | None) -> None:
    g = tiny_generator(size=64)
    ws = random_ws(g, n=3)
    reference = g.synthesis(ws, noise_mode, stop)
    for channels_last in (True, False):
        fast = g.synthesis.forward_fast(ws, noise_mode, stop, channels_last=channels_last)
        assert fast.shape == reference.shape and fast.dtype == torch.float32
        torch.testing.assert_close(fast, reference, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(g.synthesis(ws, noise_mode, stop, fast=True), reference)


def test_fast_path_in_bfloat16_stays_close() -> None:
    g = tiny_generator(size=64)
    ws = random_ws(g, n=1)
    reference = g.synthesis(ws)
    fast = g.synthesis.forward_fast(ws, dtype=torch.bfloat16)
    assert fast.dtype == torch.float32
    assert (fast - reference).abs().mean() < 0.05 * reference.abs().mean()


def test_upfirdn2d_sizes_match_stylegan2() -> None:
    x = torch.randn(1, 2, 8, 8)
    up = ops.upfirdn2d(x, ops.make_blur_kernel([1, 3, 3, 1], 4.0), up=2, pad=(2, 1))
    assert up.shape == (1, 2, 16, 16)
    # A constant stays constant away from the borders (kernel gain 4 undoes the zeros).
    const = ops.upfirdn2d(
        torch.ones(1, 1, 8, 8), ops.make_blur_kernel([1, 3, 3, 1], 4.0), 2, 1, (2, 1)
    )
    torch.testing.assert_close(const[..., 3:-3, 3:-3], torch.ones(1, 1, 10, 10))


def test_depthwise_helpers_equal_upfirdn2d() -> None:
    x = torch.randn(2, 3, 9, 9)
    kernel = ops.make_blur_kernel([1, 3, 3, 1], 4.0)
    torch.testing.assert_close(
        ops.upsample_depthwise(x, kernel, (2, 1)), ops.upfirdn2d(x, kernel, up=2, pad=(2, 1))
    )
    bias = torch.randn(3)
    torch.testing.assert_close(
        ops.blur_depthwise(x, kernel, (1, 1), bias),
        ops.upfirdn2d(x, kernel, pad=(1, 1)) + bias[None, :, None, None],
    )


def test_modulated_conv_batches_like_separate_samples() -> None:
    x, weight, styles = torch.randn(2, 4, 6, 6), torch.randn(5, 4, 3, 3), torch.randn(2, 4) + 2
    for upsample in (False, True):
        batched = ops.modulated_conv2d(x, weight, styles, upsample=upsample)
        single = torch.cat(
            [
                ops.modulated_conv2d(x[i : i + 1], weight, styles[i : i + 1], upsample=upsample)
                for i in range(2)
            ]
        )
        torch.testing.assert_close(batched, single)


def test_shared_weight_modulated_conv_equals_the_per_sample_one() -> None:
    """The batch path (one conv, styles on the activations) computes the same convolution."""
    x, weight, styles = torch.randn(3, 4, 6, 6), torch.randn(5, 4, 3, 3), torch.randn(3, 4) + 2
    for upsample in (False, True):
        for demodulate in (False, True):
            torch.testing.assert_close(
                ops.modulated_conv2d_shared(x, weight, styles, demodulate, upsample),
                ops.modulated_conv2d(x, weight, styles, demodulate, upsample),
            )


def test_bench_reports_every_row() -> None:
    from facesmith_server.bench import bench_models

    rows = bench_models("cpu", repeats=1, size=64)
    names = [r.name for r in rows]
    assert "config-f synthesis 64 fast" in names and "config-f preview 64 eager" in names
    assert "test pack render 64 fast" in names
    assert all(r.median_s > 0 for r in rows)
