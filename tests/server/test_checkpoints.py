"""Checkpoint files in the official layouts: load strict, round trip, clear errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from facesmith_server.errors import CheckpointError
from facesmith_server.model.checkpoints import (
    load_encoder,
    load_generator,
    save_encoder,
    save_generator,
)
from facesmith_server.model.encoder import Encoder4Editing, EncoderConfig
from facesmith_server.model.generator import Generator
from facesmith_server.model.official_names import official_state_dict

TINY_CHANNELS = {4: 32, 8: 32, 16: 24, 32: 16}


def tiny_generator() -> Generator:
    torch.manual_seed(0)
    return Generator(32, 32, 3, channels=TINY_CHANNELS).eval()


def tiny_encoder(num_ws: int = 8) -> Encoder4Editing:
    config = EncoderConfig(num_ws, 32, 64, 8, (8, 16, 24, 32), (1, 1, 1, 1), 4)
    return Encoder4Editing(config).eval()


class Payload:
    """Stands in for code hidden in a pickle."""


def test_config_f_g_ema_file_loads_strict(tmp_path: Path) -> None:
    torch.manual_seed(0)
    g = Generator(1024, 512, 8, 2)
    avg = torch.randn(512)
    path = tmp_path / "stylegan2-ffhq-config-f.pt"
    torch.save({"g_ema": official_state_dict(g), "latent_avg": avg}, path)
    loaded, latent_avg = load_generator(path, "cpu")
    assert (loaded.size, loaded.style_dim, loaded.num_ws, loaded.n_mlp) == (1024, 512, 18, 8)
    assert loaded.synthesis.channels == g.synthesis.channels
    assert torch.equal(latent_avg, avg)
    for key, value in official_state_dict(loaded).items():
        assert torch.equal(value, official_state_dict(g)[key]), key
    assert not any(p.requires_grad for p in loaded.parameters()) and not loaded.training


def test_generator_round_trip(tmp_path: Path) -> None:
    g = tiny_generator()
    save_generator(tmp_path / "g.pt", g, torch.arange(32.0))
    raw = torch.load(tmp_path / "g.pt", weights_only=True)
    assert set(raw) == {"g_ema", "latent_avg"} and "style.1.weight" in raw["g_ema"]
    loaded, avg = load_generator(tmp_path / "g.pt", "cpu")
    assert loaded.synthesis.channels == TINY_CHANNELS and loaded.n_mlp == 3
    ws = torch.randn(1, g.num_ws, 32)
    assert torch.equal(loaded.synthesis(ws), g.synthesis(ws))
    assert torch.equal(avg, torch.arange(32.0))


def test_generator_without_latent_avg_gets_a_seeded_mean(tmp_path: Path) -> None:
    torch.save({"g_ema": official_state_dict(tiny_generator())}, tmp_path / "g.pt")
    _, a = load_generator(tmp_path / "g.pt", "cpu")
    _, b = load_generator(tmp_path / "g.pt", "cpu")
    assert a.shape == (32,) and torch.equal(a, b)


def test_encoder_round_trip_in_e4e_layout(tmp_path: Path) -> None:
    g, enc = tiny_generator(), tiny_encoder()
    save_encoder(tmp_path / "e4e.pt", enc, g, torch.ones(32))
    raw = torch.load(tmp_path / "e4e.pt", weights_only=True)
    assert set(raw) == {"state_dict", "latent_avg", "opts"}
    assert raw["latent_avg"].shape == (8, 32)
    assert "encoder.input_layer.0.weight" in raw["state_dict"]
    assert "encoder.body.0.res_layer.5.fc1.weight" in raw["state_dict"]
    assert "encoder.styles.7.linear.weight" in raw["state_dict"]
    assert "decoder.style.1.weight" in raw["state_dict"]
    assert "decoder.noises.noise_0" in raw["state_dict"]
    assert raw["opts"]["encoder_type"] == "Encoder4Editing"
    loaded, avg = load_encoder(tmp_path / "e4e.pt", "cpu")
    assert loaded.config == enc.config and avg.shape == (8, 32)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), enc(x))


def test_encoder_accepts_a_single_row_latent_avg(tmp_path: Path) -> None:
    save_encoder(tmp_path / "e4e.pt", tiny_encoder(), tiny_generator(), torch.ones(32))
    raw = torch.load(tmp_path / "e4e.pt", weights_only=True)
    raw["latent_avg"] = torch.arange(32.0)
    torch.save(raw, tmp_path / "e4e.pt")
    _, avg = load_encoder(tmp_path / "e4e.pt", "cpu")
    assert avg.shape == (8, 32) and torch.equal(avg[5], torch.arange(32.0))


def _write_bad(path: Path, kind: str) -> None:
    good = {"g_ema": official_state_dict(tiny_generator()), "latent_avg": torch.zeros(32)}
    if kind == "not a dict":
        torch.save(torch.zeros(3), path)
    elif kind == "missing key":
        del good["g_ema"]["to_rgb1.bias"]
        torch.save(good, path)
    elif kind == "wrong shape":
        good["g_ema"]["conv1.activate.bias"] = torch.zeros(7)
        torch.save(good, path)
    elif kind == "no g_ema":
        torch.save({"state_dict": {}}, path)
    elif kind == "pickle with code":
        torch.save({"g_ema": good["g_ema"], "payload": Payload()}, path)
    elif kind == "plain pickle":
        path.write_bytes(pickle.dumps({"g_ema": 1}, protocol=2))
    elif kind == "garbage":
        path.write_bytes(b"\x00not a checkpoint" * 10)
    elif kind == "bad latent_avg":
        good["latent_avg"] = torch.zeros(5)
        torch.save(good, path)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("not a dict", "expected a dict"),
        ("missing key", "to_rgb1.bias"),
        ("wrong shape", "conv1.activate.bias"),
        ("no g_ema", "no 'g_ema'"),
        ("pickle with code", "weights-only"),
        ("plain pickle", "weights-only"),
        ("garbage", "weights-only"),
        ("bad latent_avg", "latent_avg"),
    ],
)
def test_wrong_generator_files_raise_checkpoint_error(
    tmp_path: Path, kind: str, message: str
) -> None:
    path = tmp_path / "bad.pt"
    _write_bad(path, kind)
    with pytest.raises(CheckpointError, match=message) as info:
        load_generator(path, "cpu")
    assert str(path) in str(info.value)


def test_missing_file_and_wrong_encoder_files(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_generator(tmp_path / "nope.pt", "cpu")
    save_generator(tmp_path / "g.pt", tiny_generator(), torch.zeros(32))
    with pytest.raises(CheckpointError, match="state_dict"):
        load_encoder(tmp_path / "g.pt", "cpu")  # a generator file is not an encoder
    save_encoder(tmp_path / "e4e.pt", tiny_encoder(), tiny_generator(), torch.zeros(32))
    raw = torch.load(tmp_path / "e4e.pt", weights_only=True)
    del raw["state_dict"]["encoder.latlayer1.weight"]
    torch.save(raw, tmp_path / "e4e.pt")
    with pytest.raises(CheckpointError, match="latlayer1"):
        load_encoder(tmp_path / "e4e.pt", "cpu")


def test_a_copy_without_the_constant_kernels_gets_them_rebuilt(tmp_path: Path) -> None:
    g = tiny_generator()
    state = {k: v for k, v in official_state_dict(g).items() if not k.endswith(".kernel")}
    assert len(state) < len(official_state_dict(g))
    torch.save({"g_ema": state, "latent_avg": torch.zeros(32)}, tmp_path / "g.pt")
    loaded, _ = load_generator(tmp_path / "g.pt", "cpu")
    ws = torch.randn(1, g.num_ws, 32)
    assert torch.equal(loaded.synthesis(ws), g.synthesis(ws))


def test_layout_errors_name_the_files_keys(tmp_path: Path) -> None:
    state = official_state_dict(tiny_generator())
    del state["noises.noise_2"]  # a learned-once buffer: cannot be rebuilt
    state["convs.0.conv.modulation.bias"] = torch.zeros(3)
    state["extra.weight"] = torch.zeros(1)
    torch.save({"g_ema": state}, tmp_path / "g.pt")
    with pytest.raises(CheckpointError) as info:
        load_generator(tmp_path / "g.pt", "cpu")
    message = str(info.value)
    assert "missing 'noises.noise_2'" in message and "unexpected 'extra.weight'" in message
    assert "'convs.0.conv.modulation.bias' is [3], expected [32]" in message
    assert "synthesis." not in message and "mapping." not in message  # our module names


def test_big_files_are_memory_mapped(tmp_path: Path) -> None:
    """The official generator file also holds `g` and `d`: loading reads only `g_ema`."""
    import subprocess
    import sys

    g = tiny_generator()

    def junk() -> dict[str, torch.Tensor]:
        return {"weight": torch.zeros(48 * 2**20 // 4)}  # 48 MB, never needed

    ckpt = {
        "g_ema": official_state_dict(g),
        "g": junk(),
        "d": junk(),
        "latent_avg": torch.zeros(32),
    }
    torch.save(ckpt, tmp_path / "g.pt")
    code = (
        "import resource, sys, torch\n"
        "from facesmith_server.model.checkpoints import load_generator\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "load_generator(sys.argv[1], 'cpu')\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "g.pt")], check=True,
                         capture_output=True, text=True)  # fmt: skip
    grown_mb = int(out.stdout.strip().splitlines()[-1]) / 1024  # ru_maxrss is in kB on Linux
    assert grown_mb < 40, f"peak memory grew by {grown_mb:.0f} MB loading a 96 MB file"


def test_an_encoder_without_batch_norm_step_counters_loads(tmp_path: Path) -> None:
    save_encoder(tmp_path / "e4e.pt", tiny_encoder(), tiny_generator(), torch.zeros(32))
    raw = torch.load(tmp_path / "e4e.pt", weights_only=True)
    raw["state_dict"] = {
        k: v for k, v in raw["state_dict"].items() if not k.endswith("num_batches_tracked")
    }
    torch.save(raw, tmp_path / "e4e.pt")
    loaded, _ = load_encoder(tmp_path / "e4e.pt", "cpu")
    assert loaded.config.num_ws == 8


def test_e4e_files_carry_the_options_e4e_reads(tmp_path: Path) -> None:
    save_encoder(tmp_path / "e4e.pt", tiny_encoder(), tiny_generator(), torch.zeros(32))
    opts = torch.load(tmp_path / "e4e.pt", weights_only=True)["opts"]
    # utils/model_utils.setup_model, models/psp.pSp and scripts/inference.py of e4e
    assert opts["dataset_type"] == "ffhq_encode" and "ffhq" in opts["dataset_type"]
    assert opts["encoder_type"] == "Encoder4Editing" and opts["start_from_latent_avg"] is True
    assert opts["stylegan_size"] == 32 and opts["checkpoint_path"] is None
