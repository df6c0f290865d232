"""The `facesmith` CLI end to end on real photos with the tiny test pack: outputs keep size,
channels and bit depth, and only pixels near the faces change."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from facesmith import pixels
from facesmith_client.cli.connect import CliError
from facesmith_client.cli.edit import output_path
from facesmith_client.cli.main import main
from facesmith_client.vision.images import read_image, write_image

FACE_MARGIN = 0.6  # changed pixels must lie within each face box grown by this share of its size


@pytest.fixture(scope="module")
def whole(photos_dir: Path) -> Path:
    return photos_dir / "whole"


@pytest.fixture(scope="module")
def inputs(whole: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real 8-bit JPEG with two faces, the same as PNG (lossless: pixel-exact checks), a 16-bit
    PNG and an RGBA PNG made from real photos."""
    folder = tmp_path_factory.mktemp("inputs")
    write_image(folder / "two_people.png", read_image(whole / "two_people.jpg"))
    photo16 = pixels.from_float(pixels.to_float(read_image(whole / "obama.jpg")), np.uint16)
    write_image(folder / "obama16.png", photo16)
    rose = read_image(whole / "kit_with_rose.jpg")
    ramp = np.linspace(0.3, 1.0, rose.shape[1], dtype=np.float32)
    alpha = pixels.from_float(np.broadcast_to(ramp, rose.shape[:2])[:, :, None], np.uint8)
    write_image(folder / "rose_rgba.png", np.concatenate([rose, alpha], axis=2))
    return {
        "jpeg": whole / "two_people.jpg",
        "two": folder / "two_people.png",
        "16bit": folder / "obama16.png",
        "rgba": folder / "rose_rgba.png",
    }


def near_faces(image: np.ndarray) -> np.ndarray:
    """H x W bool: inside a detected face box grown by FACE_MARGIN of its size."""
    from facesmith_client.vision.detect import detect_faces, load_detector

    mask = np.zeros(image.shape[:2], bool)
    for face in detect_faces(image, load_detector("cpu")):
        x0, y0, x1, y1 = face.box
        m = FACE_MARGIN * max(x1 - x0, y1 - y0)
        mask[max(0, int(y0 - m)) : int(y1 + m) + 1, max(0, int(x0 - m)) : int(x1 + m) + 1] = True
    return mask


def assert_edited_like(source: np.ndarray, out: np.ndarray) -> None:
    assert out.shape == source.shape and out.dtype == source.dtype
    diff = np.any(out != source, axis=2)
    assert diff.any(), "nothing changed"
    assert not (diff & ~near_faces(source)).any(), "pixels far from every face changed"
    if source.shape[2] == 4:
        assert np.array_equal(out[:, :, 3], source[:, :, 3])


def assert_jpeg_edited_like(source: Path, out: Path) -> None:
    """JPEG is lossy, but the result is encoded with the source's own quantisation tables and
    subsampling: away from the faces nearly every pixel decodes as in the source (a plain
    re-encode changed 78-80 % of them)."""
    expected, edited = read_image(source), read_image(out)
    assert edited.shape == expected.shape and edited.dtype == expected.dtype
    diff = np.any(edited != expected, axis=2)
    assert diff.any(), "nothing changed"
    near = cv2.dilate(near_faces(expected).astype(np.uint8), np.ones((33, 33), np.uint8))
    far = near == 0
    assert diff[far].mean() < 0.15, f"{diff[far].mean():.1%} of the pixels far from faces changed"
    assert np.abs(edited.astype(int) - expected.astype(int))[far].max() <= 16


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "facesmith_client.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


# -- end to end ------------------------------------------------------------------------------


def test_edit_end_to_end_with_a_local_server(inputs: dict[str, Path], tmp_path: Path) -> None:
    """No --server: the CLI starts a local server on the built-in demo pack (nothing is made
    or downloaded), edits real photos of three kinds plus the astronaut example, and stops it."""
    from facesmith_client.remote.local_server import default_pack_dir

    home, out_dir = tmp_path / "home", tmp_path / "out"
    kinds = ["two", "16bit", "rgba", "jpeg"]
    names = [str(inputs[kind]) for kind in kinds] + ["astronaut"]
    done = run_cli(
        "edit", *names, "--age", "20", "--gender", "-1", "--bald", "1", "--out-dir", str(out_dir),
        env={"FACESMITH_HOME": str(home)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"local facesmith server on {default_pack_dir()}" in done.stderr
    assert not (home / "packs").exists()
    written = [Path(line) for line in done.stdout.split()]
    assert [p.name for p in written] == [
        "two_people_facesmith.png",
        "obama16_facesmith.png",
        "rose_rgba_facesmith.png",
        "two_people_facesmith.jpg",
        "astronaut_facesmith.png",
    ]
    for source, out in zip(names[:3], written, strict=False):
        assert_edited_like(read_image(Path(source)), read_image(out))
    raw = cv2.imread(str(written[1]), cv2.IMREAD_UNCHANGED)
    assert raw is not None and raw.dtype == np.uint16 and raw.shape[2] == 3
    assert_jpeg_edited_like(inputs["jpeg"], written[3])
    assert read_image(written[4]).shape == (512, 512, 3)


def test_edit_with_server_replace_mode_and_edit_flags(
    server: str, inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["edit", str(inputs["16bit"]), "--edit", "smile=1.5", "--hold", "gender",
         "--mode", "replace", "--refine-steps", "2", "--server", server, "--out-dir", str(tmp_path)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    out = tmp_path / "obama16_facesmith.png"
    assert capsys.readouterr().out.strip() == str(out)
    assert_edited_like(read_image(inputs["16bit"]), read_image(out))


def test_set_and_swap_gender_edit_every_face(
    server: str, inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["edit", str(inputs["two"]), "--set", "age=70", "--swap-gender", "--quality",
            "encoder", "--compare", "--server", server, "--out-dir", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    source, out = read_image(inputs["two"]), read_image(tmp_path / "two_people_facesmith.png")
    assert_edited_like(source, out)
    compare_file = tmp_path / "two_people_facesmith_compare.png"
    assert np.array_equal(read_image(compare_file), np.concatenate([source, out], axis=1))
    # a file already there is never replaced without --overwrite
    (tmp_path / "two_people_facesmith.png").unlink()
    compare_file.write_bytes(b"someone's own file")
    assert main(argv) == 0
    assert "comparison not written" in capsys.readouterr().err
    assert compare_file.read_bytes() == b"someone's own file"


def test_set_edits_beyond_the_range_are_reported_per_face(
    server: str, inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The test pack's age range is ±50 years: a face stops short of 0 or of 100, never both."""
    said = {}
    for goal in (0, 100):
        argv = ["edit", str(inputs["two"]), "--set", f"age={goal}", "--quality", "encoder",
                "--server", server, "--out-dir", str(tmp_path / str(goal))]  # fmt: skip
        assert main(argv) == 0
        said[goal] = [line for line in capsys.readouterr().err.splitlines() if "stopped" in line]
    notes = said[0] + said[100]
    assert sorted(line.split(": ")[1] for line in notes) == ["face 1", "face 2"]
    assert all(f"short of the {goal} asked for" in line for goal in said for line in said[goal])
    assert all(line.startswith(f"{inputs['two']}: face ") for line in notes)


def test_set_and_swap_on_edits_without_a_model_are_refused(
    server: str, inputs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["edit", str(inputs["two"]), "--set", "bald=1", "--server", server]) == 1
    assert "bald has no attribute model" in capsys.readouterr().err
    assert main(["edit", str(inputs["two"]), "--set", "age=200", "--server", server]) == 1
    assert "age target 200 is outside [0, 100] years" in capsys.readouterr().err


def test_sweep_writes_a_contact_sheet(server: str, inputs: dict[str, Path], tmp_path: Path) -> None:
    code = main(
        ["edit", "--sweep", "age", "--sweep-steps", "3", str(inputs["two"]), "--server", server,
         "--out-dir", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    sheet = read_image(tmp_path / "two_people_facesmith_sweep_age.png")  # always PNG
    assert sheet.dtype == np.uint8 and sheet.shape[2] == 3
    assert sheet.shape[0] >= 384 and sheet.shape[1] > sheet.shape[0]  # 4 tiles, landscape


def test_faces_prints_json(inputs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["faces", str(inputs["jpeg"]), str(inputs["rgba"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    first = json.loads(lines[0])
    assert first["width"] == 1126 and first["height"] == 661 and len(first["faces"]) == 2
    face = first["faces"][0]
    assert len(face["box"]) == 4 and 0 < face["score"] <= 1 and len(face["landmarks"]) == 5
    assert len(json.loads(lines[1])["faces"]) >= 1


def test_info_lists_the_edits(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--server", server]) == 0
    out = capsys.readouterr().out
    assert "pack test" in out and "age" in out and "[-50, 50]" in out
    assert "--set NAME=0..100 years" in out and "swappable" in out


def test_bench_client_stages(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--repeats", "1", "--no-models"]) == 0
    out = capsys.readouterr().out
    for stage in ("detect", "align", "paste"):
        assert f" ms  {stage} " in out or f" s  {stage} " in out
    assert "4000x3000" in out


# -- errors the user can act on ------------------------------------------------------------------


def test_bad_edit_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["edit", "x.jpg", "--edit", "age:20"])
    assert exit_.value.code == 2
    assert "expected NAME=STRENGTH" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--edit", "beard=1"],
            "unknown edit 'beard'; this server offers: age, bald, gender, smile",
        ),
        (["--age", "80"], "age strength 80 is outside its range [-50, 50]"),
        (["--sweep", "beard"], "unknown edit 'beard'"),
        ([], "no edit given"),
        (["--age", "1", "--edit", "age=2"], "'age' is given more than once"),
    ],
)
def test_edit_errors(
    server: str,
    inputs: dict[str, Path],
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["edit", str(inputs["two"]), "--server", server, *args]) == 1
    assert message in capsys.readouterr().err


def test_missing_and_unreadable_files(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["edit", str(tmp_path / "nope.jpg"), "--age", "1", "--server", server]) == 1
    assert "nope.jpg: no such file" in capsys.readouterr().err
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a picture")
    assert main(["edit", str(junk), "--age", "1", "--server", server]) == 1
    assert "junk.png" in capsys.readouterr().err


def test_no_face_is_reported_and_skipped(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blank = tmp_path / "blank.png"
    write_image(blank, np.full((200, 300, 3), 128, np.uint8))
    assert main(["edit", str(blank), "--age", "1", "--server", server]) == 1
    assert "no face found" in capsys.readouterr().err
    assert not (tmp_path / "blank_facesmith.png").exists()


def test_unreachable_server(inputs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["edit", str(inputs["jpeg"]), "--age", "1", "--server", "127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert "server not reachable at 127.0.0.1:9" in err and "facesmith-server serve" in err


def test_output_names_never_overwrite_the_input(tmp_path: Path) -> None:
    source = tmp_path / "photo.tif"
    source.write_bytes(b"")
    assert output_path(str(source), None) == tmp_path / "photo_facesmith.tif"
    assert output_path(str(source), tmp_path / "o") == tmp_path / "o" / "photo_facesmith.tif"
    assert output_path("astronaut", tmp_path) == tmp_path / "astronaut_facesmith.png"
    with pytest.raises(CliError, match="overwrite"):
        output_path(str(source), None, tag="")


def test_local_server_failure_shows_its_log(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = str(inputs["two"])
    assert main(["edit", photo, "--age", "1", "--device", "no-such-device"]) == 1
    err = capsys.readouterr().err
    assert "the local facesmith server" in err and "exited with code" in err
    assert "no-such-device" in err  # the server's own log is shown


def test_missing_pack_is_reported_by_the_server(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-pack"
    assert main(["edit", str(inputs["two"]), "--age", "1", "--pack", str(missing)]) == 1
    err = capsys.readouterr().err
    assert f"{missing}: model pack folder does not exist" in err


def test_data_lives_in_the_user_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from facesmith_client.remote.local_server import data_home

    monkeypatch.delenv("FACESMITH_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert data_home() == tmp_path / "xdg" / "facesmith"
    monkeypatch.setenv("FACESMITH_HOME", str(tmp_path / "fs"))
    assert data_home() == tmp_path / "fs"


def test_default_pack_is_the_built_in_demo_pack() -> None:
    from facesmith.alignment import FFHQ, parse_alignment
    from facesmith_client.remote.local_server import default_pack_dir
    from facesmith_server.model.pack import load_pack

    pack = load_pack(default_pack_dir(), "cpu")  # every file's sha256 and size checked
    # FFHQ's proportions: crown and hair are in the crop (and under the paste-back mask)
    framing = parse_alignment(pack.manifest.alignment)
    assert (framing.eye_scale, framing.mouth_scale) == (FFHQ.eye_scale, FFHQ.mouth_scale)
    assert pack.manifest.name == "demo"
    assert "non-commercial" in pack.manifest.license.lower()
    assert {"age", "gender", "bald", "smile"} <= set(pack.directions)
    size = sum(f.stat().st_size for f in default_pack_dir().rglob("*") if f.is_file())
    # small enough to live in the repository: 20 MB of generator, encoder, directions and
    # students, and the sketch encoder's 12 MB
    assert size <= 35 * 2**20


def test_astronaut_example_needs_no_files(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's first command works on a fresh machine (scikit-image ships the photo)."""
    assert (
        main(["edit", "astronaut", "--age", "20", "--server", server, "--out-dir", str(tmp_path)])
        == 0
    )
    out = tmp_path / "astronaut_facesmith.png"
    assert capsys.readouterr().out.strip() == str(out)
    assert read_image(out).shape == (512, 512, 3)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {name: sub for action in actions for name, sub in action.choices.items()}


def test_every_train_command_takes_threads() -> None:
    """The README tells users to run training beside other work with --threads 1."""
    from facesmith_client.cli.main import build_parser

    train = _subcommands(build_parser())["train"]
    commands = _subcommands(train)
    assert {"prepare", "estimate", "gan", "encoder", "pack", "measure"} <= set(commands)
    for name, sub in commands.items():
        assert "--threads" in sub._option_string_actions, name


def test_threads_cap_torch_and_opencv_only_when_given() -> None:
    import torch

    from facesmith.arguments import apply_threads

    before = torch.get_num_threads(), cv2.getNumThreads()
    try:
        apply_threads(argparse.Namespace(threads=None))
        assert (torch.get_num_threads(), cv2.getNumThreads()) == before
        apply_threads(argparse.Namespace(threads=1))
        assert (torch.get_num_threads(), cv2.getNumThreads()) == (1, 1)
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])
