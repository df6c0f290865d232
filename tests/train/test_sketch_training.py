"""The sketch encoder's training stage on the tiny test pack: rough strokes, learning, the pack
entry and its refusals, the train and measure commands."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from facesmith.files import atomic_write, sha256_file
from facesmith_client.cli.main import main
from facesmith_server.errors import PackError
from facesmith_server.latent.sketch import line_drawing, normalise_ink
from facesmith_server.model.pack import (
    MANIFEST_NAME,
    load_pack,
    parse_manifest,
    read_manifest_json,
)
from facesmith_server.model.sketch_encoder import SKETCH_ENCODER_FORMAT
from facesmith_server.model.student import StudentConfig, StudentNet, save_student
from facesmith_train.sketch.install import FILE_NAME
from facesmith_train.sketch.measure import edge_f1
from facesmith_train.sketch.strokes import rough_sketches
from facesmith_train.sketch.train import train_sketch_encoder

CPU = torch.device("cpu")


def faces(count: int = 4, size: int = 64) -> torch.Tensor:
    """Dark discs on light squares: faces enough to have lines."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    images = torch.ones(count, 3, size, size)
    for i in range(count):
        disc = (yy - size / 2) ** 2 + (xx - size / 2 - i) ** 2 < (size / 4 + i) ** 2
        images[i, :, disc] = -0.6
    return images


def test_rough_sketches_are_seeded_drawings_near_the_lines() -> None:
    images = faces()
    a = rough_sketches(images, torch.Generator().manual_seed(0))
    b = rough_sketches(images, torch.Generator().manual_seed(0))
    c = rough_sketches(images, torch.Generator().manual_seed(1))
    assert a.shape == (4, 1, 64, 64) and torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.min()) >= 0 and float(a.max()) == 1.0
    clean = normalise_ink(line_drawing(images))[:, 0].numpy()
    assert edge_f1(a[:, 0].numpy(), clean) > 0.4  # the disc's outline, roughly
    assert edge_f1(a[:, 0].numpy(), np.roll(clean, 20, axis=2)) < 0.2


def test_edge_f1_scores_matching_lines_one_and_distant_ones_zero() -> None:
    lines = np.zeros((1, 16, 16), np.float32)
    lines[0, 8, 2:14] = 1
    assert edge_f1(lines, lines) == pytest.approx(1.0)
    assert edge_f1(np.roll(lines, 1, axis=1), lines) == pytest.approx(1.0)  # 1 px tolerance
    assert edge_f1(np.roll(lines, 4, axis=1), lines) == pytest.approx(0.0)


def test_a_few_steps_lower_the_held_out_loss_on_a_copy_of_the_encoder(test_pack: Path) -> None:
    pack = load_pack(test_pack, CPU)
    before = {k: v.clone() for k, v in pack.encoder.state_dict().items()}
    net, report = train_sketch_encoder(pack, None, 8, batch=4)
    assert report.end_loss < report.start_loss and report.steps == 8
    after = pack.encoder.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())  # it trained a copy
    assert any(not torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_the_pack_entry_round_trips_and_bad_entries_are_refused(sketch_pack: Path) -> None:
    pack = load_pack(sketch_pack, CPU)
    assert pack.sketch is not None and pack.sketch.latent_avg.shape == (
        pack.generator.num_ws, pack.generator.style_dim)  # fmt: skip
    manifest = parse_manifest(read_manifest_json(sketch_pack))
    assert manifest.sketch_encoder is not None and manifest.sketch_encoder.path == FILE_NAME
    entry = manifest.sketch_encoder

    def rewrite(sketch_entry, data: bytes | None = None) -> str:
        if data is not None:
            atomic_write(sketch_pack / FILE_NAME, data)
            sketch_entry = dataclasses.replace(
                sketch_entry, sha256=sha256_file(sketch_pack / FILE_NAME),
                size=(sketch_pack / FILE_NAME).stat().st_size)  # fmt: skip
        text = dataclasses.replace(manifest, sketch_encoder=sketch_entry).to_json()
        (sketch_pack / MANIFEST_NAME).write_text(text)
        with pytest.raises(PackError) as err:
            load_pack(sketch_pack, CPU)
        return str(err.value)

    assert "sketch_encoder.format must be" in rewrite(dataclasses.replace(entry, format="e4e"))
    import io

    student = io.BytesIO()
    save_student(student, StudentNet(StudentConfig((4, 8))))
    assert "not a facesmith-sketch-encoder file" in rewrite(entry, student.getvalue())
    wrong = io.BytesIO()
    torch.save({"format": SKETCH_ENCODER_FORMAT, "state_dict": pack.sketch.network.state_dict(),
                "latent_avg": torch.zeros(2, 3)}, wrong)  # fmt: skip
    assert "latent_avg must be" in rewrite(entry, wrong.getvalue())


def test_the_train_and_measure_commands(test_pack: Path, faces_npz: Path, tmp_path: Path,
                                        capsys) -> None:  # fmt: skip
    import shutil

    pack = Path(shutil.copytree(test_pack, tmp_path / "pack"))
    argv = ["train", "sketch", "--pack", str(pack), "--steps", "2", "--batch", "2",
            "--save-every", "1", "--data", str(faces_npz)]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["file"] == FILE_NAME and summary["photos"] == 14 and summary["steps"] == 2
    assert load_pack(pack, CPU).sketch is not None
    assert main([*argv, "--resume"]) == 0  # goes on from the installed encoder
    capsys.readouterr()
    out = tmp_path / "measure"
    assert main(["train", "measure-sketch", "--pack", str(pack), "--data", str(faces_npz),
                 "--follow", "0", "--follow", "0.1", "--out", str(out)]) == 0  # fmt: skip
    table = capsys.readouterr().out
    assert "| follow 0 |" in table and "| follow 0.1 |" in table and "(chance)" in table
    report = json.loads((out / "sketch.json").read_text())
    assert [f["follow"] for f in report["figures"]] == [0.0, 0.1]
    assert all(0 <= f["edge_f1"] <= 1 and f["faces"] == 2 for f in report["figures"])
    assert (out / "grid.png").is_file()
