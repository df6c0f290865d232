"""Model packs: the test pack, manifest validation, integrity checks, path escapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from facesmith.files import sha256_file
from facesmith_server.errors import PackError
from facesmith_server.model.pack import load_pack, parse_manifest
from facesmith_server.model.testpack import make_test_pack


def edit_manifest(root: Path, change: Any) -> None:
    """Apply change(dict) to root/manifest.json."""
    path = root / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def file_hashes(root: Path) -> dict[str, str]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): sha256_file(p) for p in files}


def test_make_test_pack_is_deterministic(tmp_path: Path) -> None:
    a = make_test_pack(tmp_path / "a", seed=0)
    b = make_test_pack(tmp_path / "b", seed=0)
    c = make_test_pack(tmp_path / "c", seed=1)
    assert file_hashes(a) == file_hashes(b)
    assert file_hashes(a)["stylegan2.pt"] != file_hashes(c)["stylegan2.pt"]
    assert set(file_hashes(a)) == {
        "manifest.json", "stylegan2.pt", "e4e.pt", "directions/age.pt",
        "directions/gender.npy", "directions/bald.npy", "directions/smile.pt",
        "directions/age.score.npy", "directions/gender.score.npy",
    }  # fmt: skip


def test_load_test_pack(test_pack: Path) -> None:
    pack = load_pack(test_pack, "cpu")
    m = pack.manifest
    assert (m.name, m.resolution, m.latent_space, m.alignment) == ("test", 64, "w+", "ffhq")
    assert m.generator.format == "rosinality-stylegan2" and m.encoder.format == "e4e"
    assert pack.generator.size == 64 and pack.latent_avg.shape == (64,)
    assert pack.encoder_latent_avg.shape == (pack.generator.num_ws, 64)
    dirs = pack.directions
    assert set(dirs) == {"age", "gender", "bald", "smile"}
    assert dirs["age"].vector.shape == (1, 64) and (dirs["age"].min, dirs["age"].max) == (-50, 50)
    assert np.isclose(np.linalg.norm(dirs["age"].vector), 0.1, atol=1e-5)
    assert dirs["gender"].vector.shape == (10, 64) and dirs["gender"].space == "w+"
    assert dirs["bald"].vector.dtype == np.float32 and (dirs["bald"].min, dirs["bald"].max) == (
        -2,
        2,
    )
    assert np.isclose(np.linalg.norm(dirs["smile"].vector), 1.0, atol=1e-5)
    assert all(d.default == 0 for d in dirs.values())
    assert m.directions["age"].format == "torch-tensor" and m.directions["bald"].format == "npy"


@pytest.mark.parametrize("bad_path", ["../stylegan2.pt", "/etc/passwd", "directions/../../x.pt"])
def test_manifest_paths_cannot_leave_the_pack(pack_copy: Path, bad_path: str) -> None:
    edit_manifest(pack_copy, lambda d: d["generator"].update(path=bad_path))
    with pytest.raises(PackError, match="inside the pack"):
        load_pack(pack_copy, "cpu")


def test_symlink_out_of_the_pack_is_refused(pack_copy: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.pt"
    (pack_copy / "stylegan2.pt").rename(outside)
    (pack_copy / "stylegan2.pt").symlink_to(outside)
    with pytest.raises(PackError, match="leaves the pack"):
        load_pack(pack_copy, "cpu")


def test_integrity_errors(pack_copy: Path) -> None:
    with (pack_copy / "directions/bald.npy").open("r+b") as f:
        f.seek(-4, 2)
        f.write(b"\x00\x00\x80\x7f")
    with pytest.raises(PackError, match="sha256"):
        load_pack(pack_copy, "cpu")
    (pack_copy / "directions/bald.npy").unlink()
    with pytest.raises(PackError, match="missing"):
        load_pack(pack_copy, "cpu")
    (pack_copy / "manifest.json").write_text("{not json")
    with pytest.raises(PackError, match="invalid JSON"):
        load_pack(pack_copy, "cpu")
    (pack_copy / "manifest.json").unlink()
    with pytest.raises(PackError, match=r"no manifest\.json"):
        load_pack(pack_copy, "cpu")
    with pytest.raises(PackError, match="does not exist"):
        load_pack(pack_copy / "nope", "cpu")


def test_size_mismatch_is_reported(pack_copy: Path) -> None:
    edit_manifest(pack_copy, lambda d: d["encoder"].update(size=12))
    with pytest.raises(PackError, match="size"):
        load_pack(pack_copy, "cpu")


def test_z_space_directions_are_refused(pack_copy: Path) -> None:
    edit_manifest(pack_copy, lambda d: d["directions"]["smile"].update(space="z"))
    with pytest.raises(PackError, match="convert Z boundaries to W first"):
        load_pack(pack_copy, "cpu")


def test_direction_shape_must_fit_its_space(pack_copy: Path) -> None:
    torch.save(torch.zeros(3, 64), pack_copy / "directions/smile.pt")

    def update(d: dict[str, Any]) -> None:
        smile = d["directions"]["smile"]
        smile["sha256"] = sha256_file(pack_copy / "directions/smile.pt")
        smile["size"] = (pack_copy / "directions/smile.pt").stat().st_size

    edit_manifest(pack_copy, update)
    with pytest.raises(PackError, match=r"w direction must be \[64\] or \[1, 64\]"):
        load_pack(pack_copy, "cpu")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(manifest_version=2), "manifest_version"),
        (lambda d: d.pop("generator"), "'generator' must be a JSON object"),
        (lambda d: d.update(resolution="64"), "resolution must be a int"),
        (lambda d: d["directions"]["age"].update(format="csv"), "format must be one of"),
        (lambda d: d["directions"]["age"].update(default=99), "min <= default <= max"),
        (lambda d: d.update(alignment="dlib"), "alignment must be 'ffhq' or 'template"),
        (lambda d: d.update(alignment="template eye_scale=2"), "must give all of"),
    ],
)
def test_manifest_validation(test_pack: Path, change: Any, message: str) -> None:
    data = json.loads((test_pack / "manifest.json").read_text())
    change(data)
    with pytest.raises(PackError, match=message):
        parse_manifest(data)


def test_manifest_round_trips_through_json(test_pack: Path) -> None:
    text = (test_pack / "manifest.json").read_text()
    assert parse_manifest(json.loads(text)).to_json() == text


def test_a_pack_declares_its_own_framing(test_pack: Path) -> None:
    data = json.loads((test_pack / "manifest.json").read_text())
    data["alignment"] = "template  centre_shift=0.05 eye_scale=2.4 mouth_scale=2.16"
    manifest = parse_manifest(data)
    assert manifest.alignment == "template eye_scale=2.4 mouth_scale=2.16 centre_shift=0.05"
