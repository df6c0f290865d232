"""Students (one-pass edits): a student learns a planted change; pairs come from the pack's own
generator as the server edits; a trained student goes into a pack and back out of it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from facesmith.files import sha256_file
from facesmith_server.errors import PackError
from facesmith_server.model.pack import load_pack
from facesmith_server.model.student import StudentConfig, StudentNet, scaled_strength
from facesmith_server.service.engine import EditStep, Engine
from facesmith_train.distill.pairs import Pairs, make_pairs
from facesmith_train.distill.train import train_student

TINY = (8, 16)
CPU = torch.device("cpu")


def planted_pairs(count: int, size: int = 16, conditioned: bool = True) -> Pairs:
    """Random faces; the edit makes the top half redder by 80 levels × strength (in [-1, 1])."""
    rng = np.random.default_rng(3)
    sources = rng.integers(60, 196, (count, size, size, 3)).astype(np.uint8)
    strengths = rng.uniform(-1, 1, count).astype(np.float32) if conditioned else np.ones(count)
    targets = sources.astype(np.float32)
    targets[:, : size // 2, :, 0] += 80 * strengths[:, None, None]
    targets = np.clip(targets, 0, 255).round().astype(np.uint8)
    return Pairs(sources, targets, strengths.astype(np.float32), 1.0)


def test_a_student_learns_a_planted_change_and_its_strength() -> None:
    pairs = planted_pairs(256)
    net, report = train_student(
        pairs, StudentConfig(TINY), 800, strength_range=(-1.0, 1.0), batch=16
    )
    assert report.held_out_l1 < 0.35 * report.identity_l1, report
    face = torch.from_numpy(pairs.sources[:1]).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        up, down = (net(face, torch.tensor([s])) for s in (1.0, -1.0))
    red_top = (up - down)[0, 0, :8].mean().item() * 127.5  # levels; planted: 160
    red_bottom = (up - down)[0, 0, 8:].mean().item() * 127.5
    green = (up - down)[0, 1].abs().mean().item() * 127.5
    assert red_top > 100 and abs(red_bottom) < 25 and green < 25, (red_top, red_bottom, green)


def test_a_swap_student_takes_no_strength_and_a_new_student_changes_nothing() -> None:
    net = StudentNet(StudentConfig(TINY, conditioned=False))
    face = torch.rand(2, 3, 16, 16) * 2 - 1
    assert torch.equal(net(face), face)  # starts as the identity
    with pytest.raises(ValueError, match="takes no"):
        net(face, torch.zeros(2))
    assert scaled_strength(-25.0, -50.0, 50.0) == -0.5


def test_pairs_are_the_pack_s_own_edits(test_pack: Path) -> None:
    pack = load_pack(test_pack, CPU)
    pairs = make_pairs(pack, "age", "relative", 24, seed=1)
    assert pairs.sources.shape == pairs.targets.shape == (24, 64, 64, 3)
    assert pairs.sources.dtype == np.uint8 and pairs.kept == 1.0
    assert (pairs.strengths >= -50).all() and (pairs.strengths <= 50).all()
    change = np.abs(pairs.targets.astype(float) - pairs.sources).mean(axis=(1, 2, 3))
    assert np.corrcoef(np.abs(pairs.strengths), change)[0, 1] > 0.5  # stronger, more change
    swaps = make_pairs(pack, "gender", "swap", 8, seed=1, margin=0.5)
    assert len(swaps.sources) == 8 and 0 < swaps.kept <= 1
    with pytest.raises(ValueError, match="lower --margin"):
        make_pairs(pack, "gender", "swap", 4, margin=1e6)
    with pytest.raises(ValueError, match="cannot be swapped"):
        make_pairs(pack, "bald", "swap", 4)


def test_a_student_round_trips_through_the_pack(student_pack: Path) -> None:
    pack = load_pack(student_pack, CPU)
    assert sorted(pack.students) == ["age", "gender-swap"]
    assert (pack.students["age"].min, pack.students["age"].max) == (-50.0, 50.0)
    engine = Engine(pack, CPU)
    assert [(s.edit, s.mode) for s in engine.info.students] == [
        ("age", "relative"),
        ("gender", "swap"),
    ]
    crops = [np.random.default_rng(i).integers(0, 256, (64, 64, 3), np.uint8) for i in range(3)]
    older = engine.translate(crops, [EditStep("age", 40.0)])
    same = engine.translate(crops, [EditStep("gender", mode="swap")])  # untrained: identity
    assert len(older) == 3 and older[0].shape == (64, 64, 3) and older[0].dtype == np.float32
    assert np.abs(same[0] - crops[0] / 255.0).max() < 2e-3
    assert np.abs(older[0] - same[0]).max() > 0  # five steps already change something


def test_a_student_that_does_not_fit_its_pack_is_refused(student_pack: Path) -> None:
    manifest = student_pack / "manifest.json"
    original = manifest.read_text()

    def broken(change: object) -> str:
        data = json.loads(original)
        change(data["students"]["age"])  # type: ignore[operator]
        manifest.write_text(json.dumps(data))
        with pytest.raises(PackError) as err:
            load_pack(student_pack, CPU)
        return str(err.value)

    assert "not a direction" in broken(lambda s: s.update(edit="nose"))
    assert "takes a strength" in broken(lambda s: s.update(mode="swap"))
    assert "mode must be" in broken(lambda s: s.update(mode="sideways"))
    assert "sha256" in broken(lambda s: s.update(sha256="0" * 64))
    assert "min < max" in broken(lambda s: s.update(min=5.0, max=5.0))
    file = student_pack / "students" / "age.pt"
    file.write_bytes(b"not a torch file")
    manifest.write_text(original)
    with pytest.raises(PackError, match="size"):
        load_pack(student_pack, CPU)

    def listed(payload: object) -> str:
        torch.save(payload, file)
        size, digest = file.stat().st_size, sha256_file(file)
        return broken(lambda s: s.update(size=size, sha256=digest))

    assert "not whole numbers" in listed({"config": {"widths": [{}]}, "state_dict": {}})
    assert "2 to 6 sizes" in listed({"config": {"widths": [8]}, "state_dict": {}})
    assert "do not fit" in listed({"config": {"widths": [8, 16]}, "state_dict": {}})
    assert "not a facesmith-student" in listed([1, 2])
    file.write_bytes(b"not a torch file")
    assert "cannot read the student" in broken(
        lambda s: s.update(size=file.stat().st_size, sha256=sha256_file(file))
    )


def test_the_student_command_trains_installs_and_resumes(
    test_pack: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from facesmith_client.cli.main import main

    pack = Path(shutil.copytree(test_pack, tmp_path / "pack"))
    pairs = tmp_path / "age.pairs"
    argv = ["train", "student", "--pack", str(pack), "--edit", "age", "--pairs", "32", "--steps",
            "3", "--widths", "8,16", "--pairs-file", str(pairs), "--threads", "1"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert summary["student"] == "age" and summary["pairs"] == 32 and pairs.is_file()
    assert load_pack(pack, CPU).students["age"].network.config.widths == (8, 16)
    assert main([*argv, "--resume"]) == 0  # the same pairs, the installed student goes on
    assert json.loads(capsys.readouterr().out)["pairs"] == 32
    swap = ["train", "student", "--pack", str(pack), "--edit", "gender", "--mode", "swap",
            "--pairs-file", str(pairs), "--steps", "1"]  # fmt: skip
    assert main(swap) == 1
    assert "holds pairs for age (relative), not gender (swap)" in capsys.readouterr().err
    assert main(["train", "student", "--pack", str(pack), "--edit", "nose"]) == 1
    assert "the pack has no 'nose'" in capsys.readouterr().err
