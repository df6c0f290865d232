"""A trained encoder, or the project's full strengths, go into a pack: the pack loads with
it and serves its weights; an encoder that does not fit is refused and the pack is left as
it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from facesmith_server.model.checkpoints import load_encoder
from facesmith_server.model.pack import load_pack
from facesmith_server.model.testpack import make_test_pack
from facesmith_train.pack.install_encoder import install_encoder
from facesmith_train.pack.ranges import apply_ranges
from facesmith_train.pack.run import EDITS


def _encoder_state(path: Path) -> dict[str, torch.Tensor]:
    return load_encoder(path, "cpu")[0].state_dict()


def test_an_encoder_of_the_same_generator_is_installed(tmp_path: Path) -> None:
    pack = make_test_pack(tmp_path / "pack", seed=0)
    other = make_test_pack(tmp_path / "other", seed=1)  # same layout, other weights
    before = json.loads((pack / "manifest.json").read_text())
    entry = install_encoder(pack, other / "e4e.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "pack"]  # no staging left
    after = json.loads((pack / "manifest.json").read_text())
    assert after["encoder"]["sha256"] == entry.sha256 != before["encoder"]["sha256"]
    assert {k: v for k, v in after.items() if k != "encoder"} == {
        k: v for k, v in before.items() if k != "encoder"
    }
    loaded = load_pack(pack, "cpu").encoder.state_dict()
    for name, value in _encoder_state(other / "e4e.pt").items():
        expected = value.half().float() if value.is_floating_point() else value
        torch.testing.assert_close(loaded[name], expected, msg=name)


def test_an_encoder_of_another_generator_is_refused(tmp_path: Path) -> None:
    pack = make_test_pack(tmp_path / "pack", seed=0)
    smaller = make_test_pack(tmp_path / "small", seed=1, resolution=32)  # fewer W+ layers
    files = {p.name: p.read_bytes() for p in (pack / "e4e.pt", pack / "manifest.json")}
    with pytest.raises(ValueError, match="does not fit"):
        install_encoder(pack, smaller / "e4e.pt")
    assert {p.name: p.read_bytes() for p in (pack / "e4e.pt", pack / "manifest.json")} == files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pack", "small"]
    load_pack(pack, "cpu")


def test_ranges_become_the_projects_and_nothing_else_changes(tmp_path: Path) -> None:
    pack = make_test_pack(tmp_path / "pack", seed=0)
    before = json.loads((pack / "manifest.json").read_text())
    files = {p.name: p.read_bytes() for p in (pack / "directions").iterdir()}
    changed = apply_ranges(pack)
    after = json.loads((pack / "manifest.json").read_text())
    limits = {spec.name: spec.limit for spec in EDITS}
    assert set(changed) == {"age", "gender", "bald", "smile"}  # the test pack's four edits
    for key, entry in after["directions"].items():
        assert (entry["min"], entry["max"]) == (-limits[key], limits[key]) == changed[key]
        old = before["directions"][key]
        assert {k: v for k, v in entry.items() if k not in ("min", "max")} == {
            k: v for k, v in old.items() if k not in ("min", "max")
        }
    assert {p.name: p.read_bytes() for p in (pack / "directions").iterdir()} == files
    assert load_pack(pack, "cpu").directions["age"].max == limits["age"]
    assert apply_ranges(pack) == {}  # a second time changes nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pack"]


def test_a_folder_that_is_no_pack_is_named_as_such(tmp_path: Path) -> None:
    pack = make_test_pack(tmp_path / "pack", seed=0)
    with pytest.raises(ValueError, match=r"^--pack: ") as caught:
        install_encoder(tmp_path / "missing", pack / "e4e.pt")
    assert "does not fit" not in str(caught.value)
