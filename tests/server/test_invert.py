"""Inversion: encoding and W+ refinement on the tiny test pack."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from facesmith_server.errors import Cancelled, InvalidInput
from facesmith_server.latent.invert import encode, refine
from facesmith_server.model.pack import Pack, load_pack


@pytest.fixture(scope="module")
def pack(test_pack: Path) -> Pack:
    return load_pack(test_pack, "cpu")


def planted(pack: Pack, n: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """(ws_true [n, num_ws, dim] from random z, its image [n, 3, 64, 64])."""
    g = pack.generator
    z = torch.randn(n, g.style_dim, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        ws = g.mapping(z)[:, None].expand(-1, g.num_ws, -1).contiguous()
        return ws, g.synthesis(ws)


def test_refine_recovers_a_planted_latent(pack: Pack) -> None:
    ws_true, target = planted(pack)
    start = pack.latent_avg.expand(2, pack.generator.num_ws, -1)
    progress: list[tuple[int, int, float]] = []
    ws = refine(
        pack.generator.synthesis, target, start, steps=60, lr=0.1,
        on_progress=lambda *p: progress.append(p),
    )  # fmt: skip
    with torch.no_grad():
        before = (pack.generator.synthesis(start) - target).square().mean()
        after = (pack.generator.synthesis(ws) - target).square().mean()
    assert after * 10 <= before
    assert not ws.requires_grad and ws.shape == ws_true.shape
    assert [p[0] for p in progress] == list(range(1, 61)) and progress[0][1] == 60
    assert progress[-1][2] < progress[0][2]


def test_refine_can_be_cancelled(pack: Pack) -> None:
    _, target = planted(pack, 1)
    calls = iter(range(100))
    with pytest.raises(Cancelled):
        refine(
            pack.generator.synthesis, target, pack.encoder_latent_avg[None], steps=10,
            should_stop=lambda: next(calls) >= 3,
        )  # fmt: skip


def test_refine_checks_shapes(pack: Pack) -> None:
    _, target = planted(pack, 2)
    with pytest.raises(InvalidInput, match="2 target images"):
        refine(pack.generator.synthesis, target, pack.encoder_latent_avg[None], steps=1)
    with pytest.raises(InvalidInput, match=r"\[N, 3, R, R\]"):
        refine(pack.generator.synthesis, target[:, :2], pack.encoder_latent_avg[None], steps=1)


def test_encode_resizes_and_adds_latent_avg(pack: Pack) -> None:
    images = torch.rand(2, 3, 128, 128) * 2 - 1
    ws = encode(pack.encoder, pack.encoder_latent_avg, images)
    assert ws.shape == (2, pack.generator.num_ws, 64)
    small = torch.nn.functional.avg_pool2d(images, 2)
    with torch.no_grad():
        expected = pack.encoder(small) + pack.encoder_latent_avg
    torch.testing.assert_close(ws, expected)
    torch.testing.assert_close(encode(pack.encoder, pack.encoder_latent_avg, small), expected)
    odd = encode(pack.encoder, pack.encoder_latent_avg, torch.rand(1, 3, 100, 100))
    assert odd.shape == (1, pack.generator.num_ws, 64)
