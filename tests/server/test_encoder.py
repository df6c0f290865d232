"""e4e encoder: official key layout, config inference, output shapes."""

from __future__ import annotations

import torch

from facesmith_server.model.encoder import Encoder4Editing, EncoderConfig

TINY = EncoderConfig(
    num_ws=10, style_dim=32, input_size=64, stem_width=8, widths=(8, 16, 24, 32),
    units=(1, 2, 2, 1), se_reduction=4,
)  # fmt: skip


def test_default_is_the_official_ir_se_50_layout() -> None:
    state = Encoder4Editing().state_dict()
    units = {int(k.split(".")[1]) for k in state if k.startswith("body.")}
    assert units == set(range(24))
    assert state["input_layer.0.weight"].shape == (64, 3, 3, 3)
    assert state["input_layer.2.weight"].shape == (64,)  # PReLU
    assert "body.0.shortcut_layer.0.weight" not in state  # 64 -> 64: MaxPool shortcut
    assert state["body.3.shortcut_layer.0.weight"].shape == (128, 64, 1, 1)
    assert "body.3.shortcut_layer.1.running_var" in state
    assert state["body.23.res_layer.3.weight"].shape == (512, 512, 3, 3)
    assert state["body.23.res_layer.5.fc1.weight"].shape == (32, 512, 1, 1)
    assert state["body.23.res_layer.5.fc2.weight"].shape == (512, 32, 1, 1)
    assert state["latlayer1.weight"].shape == (512, 256, 1, 1)
    assert state["latlayer2.weight"].shape == (512, 128, 1, 1)
    assert state["styles.17.linear.weight"].shape == (512, 512)
    conv_counts = [
        sum(1 for k in state if k.startswith(f"styles.{i}.convs.") and k.endswith("weight"))
        for i in range(18)
    ]
    assert conv_counts == [4] * 3 + [5] * 4 + [6] * 11  # 16, 32, 64 px pyramid levels
    assert "styles.17.convs.10.bias" in state and "styles.18.linear.bias" not in state


def test_config_is_inferred_from_the_state_dict() -> None:
    assert EncoderConfig.from_state_dict(Encoder4Editing().state_dict()) == EncoderConfig()
    assert EncoderConfig.from_state_dict(Encoder4Editing(TINY).state_dict()) == TINY


def test_forward_gives_w_plus_offsets_deterministically() -> None:
    torch.manual_seed(0)
    encoder = Encoder4Editing(TINY).eval()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        ws = encoder(x)
        assert ws.shape == (2, 10, 32)
        assert torch.equal(ws, encoder(x))
        # Each image is encoded independently of the batch.
        torch.testing.assert_close(encoder(x[1:]), ws[1:], rtol=1e-5, atol=1e-5)
    assert encoder.input_size == 64
