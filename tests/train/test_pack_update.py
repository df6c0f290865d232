"""A trained encoder, the project's full strengths, or attribute models refitted on the pack's
own encoder go into a pack: the pack loads with them and serves them; what does not fit is
refused and the pack is left as it was."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from facesmith_server.latent.fitting import pearson
from facesmith_server.model.checkpoints import load_encoder
from facesmith_server.model.pack import load_pack
from facesmith_server.model.testpack import make_test_pack
from facesmith_train.directions.photo_models import encode_crops
from facesmith_train.pack.install_encoder import install_encoder
from facesmith_train.pack.ranges import apply_ranges
from facesmith_train.pack.refit_models import REPORT_KEY, refit_pack_models
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


def labelled_faces(pack: Path, path: Path, n: int = 300) -> np.ndarray:
    """Prepared file ``path`` of ``n`` random crops whose labels follow what the pack's
    encoder makes of them: Male along the gender edit (plus noise); age as the pack's model
    reads them plus an older offset, a larger part across the age edit, which that model
    misses, and a little more along the edit → the encoded faces [n, dim]."""
    loaded = load_pack(pack, "cpu")
    rng = np.random.default_rng(4)
    crops = rng.integers(0, 256, (n, 8, 8, 3)).astype(np.uint8).repeat(4, 1).repeat(4, 2)
    encoded = encode_crops(crops, loaded.manifest.resolution, loaded.encoder,
                           loaded.encoder_latent_avg)  # fmt: skip

    def along(edit: str) -> np.ndarray:
        u = loaded.directions[edit].vector.astype(np.float64).mean(axis=0)
        x = encoded @ u + 0.2 * (encoded @ rng.standard_normal(len(u))) / np.sqrt(len(u))
        return (x - x.mean()) / x.std()

    male = np.where(along("gender") > 0, 1, -1)[:, None].astype(np.int16)
    np.savez(path, crops=crops, held_out=np.zeros(n, bool), labels=male,
             label_names=np.array(["Male"]))  # fmt: skip
    age = loaded.directions["age"]
    assert age.score is not None
    read = encoded @ age.score.normal.astype(np.float64) + age.score.intercept
    unit = age.vector[0].astype(np.float64) / np.linalg.norm(age.vector[0])
    across = rng.standard_normal(len(unit))
    across -= (across @ unit) * unit
    missed = encoded @ across
    missed = 3 * read.std() * (missed - missed.mean()) / missed.std()
    faster = encoded @ unit  # the photos also say age rises faster along the edit
    faster = 0.5 * read.std() * (faster - faster.mean()) / faster.std()
    np.savez(path.with_name(path.stem + ".estimates.npz"), age=read + 12 + missed + faster)
    return encoded


def test_models_are_refitted_on_the_packs_own_encoder(tmp_path: Path) -> None:
    pack = make_test_pack(tmp_path / "pack", seed=0)
    encoded = labelled_faces(pack, tmp_path / "faces.npz")
    before = json.loads((pack / "manifest.json").read_text())
    old = load_pack(pack, "cpu").directions["age"].score
    assert old is not None
    columns = {"age": ("age", False), "gender": ("Male", False)}
    report = refit_pack_models(pack, [tmp_path / "faces.npz"], columns)
    assert report["photos"] == 300
    assert report["age"]["pearson"] > 0.9 > report["age"]["pearson_of_the_previous_model"]
    assert report["gender"]["accuracy"] > 0.85 > report["gender"]["accuracy_of_the_previous_model"]
    new = load_pack(pack, "cpu").directions["age"]
    age = new.score
    assert age is not None
    labels = np.load(tmp_path / "faces.estimates.npz")["age"]
    assert pearson(encoded @ age.normal + age.intercept, labels) > 0.9
    # the age model reads the faces from the photos, and moves along the edit as it did
    u = new.vector.astype(np.float64).mean(axis=0)
    assert float(u @ age.normal) == pytest.approx(float(u @ old.normal), rel=1e-4)
    assert report["age"]["model_change_per_unit"] == pytest.approx(float(u @ old.normal), rel=1e-3)
    assert report["age"]["model_change_per_unit_free"] > 1.2 * float(u @ old.normal)
    after = json.loads((pack / "manifest.json").read_text())
    for name, entry in before["directions"].items():  # the edits stay; only models change
        assert after["directions"][name]["sha256"] == entry["sha256"]
        if name in columns:
            assert after["directions"][name]["score"]["sha256"] != entry["score"]["sha256"]
    assert json.loads((pack / "training.json").read_text())[REPORT_KEY] == report
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "faces.estimates.npz", "faces.npz", "pack",
    ]  # fmt: skip


def test_refitting_without_a_label_for_any_model_is_refused(tmp_path: Path) -> None:
    pack = make_test_pack(tmp_path / "pack", seed=0)
    labelled_faces(pack, tmp_path / "faces.npz", n=8)
    files = {p.name: p.read_bytes() for p in (pack / "directions").iterdir()}
    with pytest.raises(ValueError, match="no label column"):
        refit_pack_models(pack, [tmp_path / "faces.npz"], {"bald": ("Bald", False)})
    assert {p.name: p.read_bytes() for p in (pack / "directions").iterdir()} == files
