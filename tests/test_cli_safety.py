"""`facesmith edit` never loses what a photographer gives it (issue 15, findings 10, 13, 14):
outputs never land on inputs or on each other, existing results are only replaced on
purpose, links are not followed, bad inputs are skipped and the rest edited; arguments say
their ranges; the token need not be on the command line."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from facesmith_client.cli.main import build_parser, main
from facesmith_client.cli.outputs import plan_outputs
from facesmith_client.cli.progress import ProgressBar
from facesmith_client.events import Progress
from facesmith_client.vision.images import read_image, write_image


@pytest.fixture(scope="module")
def photo(photos_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real photo with a face, as a lossless PNG."""
    path = tmp_path_factory.mktemp("photo") / "face.png"
    write_image(path, read_image(photos_dir / "whole" / "obama.jpg"))
    return path


def edit(server: str, *args: str) -> int:
    return main(["edit", *args, "--age", "10", "--server", server])


def test_an_input_named_like_an_output_is_never_overwritten(
    server: str, photos_dir: Path, tmp_path: Path
) -> None:
    """`facesmith edit a.jpg a_facesmith.jpg` used to write a's result over the second input
    before reading it."""
    a, second = tmp_path / "a.jpg", tmp_path / "a_facesmith.jpg"
    shutil.copy(photos_dir / "whole" / "obama.jpg", a)
    shutil.copy(photos_dir / "whole" / "biden.jpg", second)
    before = second.read_bytes()
    assert edit(server, str(a), str(second)) == 0
    assert second.read_bytes() == before
    assert (tmp_path / "a_facesmith-2.jpg").is_file()  # a's result, under a new name
    assert (tmp_path / "a_facesmith_facesmith.jpg").is_file()


def test_same_names_from_different_folders_get_their_own_outputs(
    server: str, photo: Path, tmp_path: Path
) -> None:
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        shutil.copy(photo, tmp_path / folder / "p.png")
    out = tmp_path / "out"
    assert (
        edit(server, str(tmp_path / "x/p.png"), str(tmp_path / "y/p.png"), "--out-dir", str(out))
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["p_facesmith-2.png", "p_facesmith.png"]
    # a re-run plans the same names
    plans = plan_outputs([str(tmp_path / "x/p.png"), str(tmp_path / "y/p.png")], out)
    assert [p.out.name for p in plans] == ["p_facesmith.png", "p_facesmith-2.png"]
    assert all(p.exists for p in plans)


def test_existing_results_are_replaced_only_on_purpose(
    server: str, photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "p.png"
    shutil.copy(photo, source)
    assert edit(server, str(source)) == 0
    result = tmp_path / "p_facesmith.png"
    first = result.read_bytes()
    os.utime(result, (1, 1))
    capsys.readouterr()
    assert main(["edit", str(source), "--age", "-20", "--server", server]) == 0
    assert "already exists — skipped (--overwrite replaces it)" in capsys.readouterr().err
    assert result.read_bytes() == first and result.stat().st_mtime == 1
    assert main(["edit", str(source), "--age", "-20", "--server", server, "--overwrite"]) == 0
    assert result.read_bytes() != first


def test_a_link_at_the_output_is_never_followed(server: str, photo: Path, tmp_path: Path) -> None:
    source = tmp_path / "p.png"
    shutil.copy(photo, source)
    precious = tmp_path / "precious.tif"
    write_image(precious, np.full((8, 8, 3), 5, np.uint8))
    before = precious.read_bytes()
    link = tmp_path / "p_facesmith.png"
    link.symlink_to(precious)
    assert edit(server, str(source)) == 0  # skipped: something is there
    assert link.is_symlink() and precious.read_bytes() == before
    assert edit(server, str(source), "--overwrite") == 0
    assert not link.is_symlink() and precious.read_bytes() == before
    assert read_image(link).shape == read_image(source).shape


def test_bad_inputs_are_skipped_and_the_rest_is_edited(
    server: str, photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.png"
    shutil.copy(photo, good)
    folder = tmp_path / "a_folder"
    folder.mkdir()
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a picture")
    names = [str(tmp_path / "missing.jpg"), str(folder), str(junk), str(good)]
    assert edit(server, *names) == 1  # something was skipped
    err = capsys.readouterr().err
    assert "missing.jpg: no such file — skipped" in err
    assert "a_folder: is a folder, not a photo" in err
    assert "junk.png" in err and "skipped" in err
    assert (tmp_path / "good_facesmith.png").is_file()  # the batch went on


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--refine-steps", "-1"], "--refine-steps: must be a whole number from 0 to 2000, got -1"),
        (["--refine-steps", "many"], "expected a whole number from 0 to 2000"),
        (["--sweep-steps", "1"], "--sweep-steps: must be a whole number of at least 2"),
        (["--min-face-size", "0"], "--min-face-size: must be a whole number of at least 12"),
    ],
)
def test_out_of_range_arguments_say_the_range(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["edit", "x.png", "--age", "1", *args])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_an_out_dir_that_is_a_file_is_said_in_words(
    photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_folder = tmp_path / "out"
    not_a_folder.write_text("")
    assert main(["edit", str(photo), "--age", "1", "--out-dir", str(not_a_folder)]) == 1
    err = capsys.readouterr().err
    assert "--out-dir" in err and "is a file, not a folder" in err and "Errno" not in err


def test_progress_shows_the_time_each_stage_took(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("facesmith_client.cli.progress.time.monotonic", lambda: now[0])
    out = io.StringIO()
    bar = ProgressBar("photo.jpg", out)
    now[0] = 102.5
    bar(Progress("encode", 1, 1))  # encoding took 2.5 s before its only event
    now[0] = 106.0
    bar(Progress("render", 1, 1))  # rendering 3.5 s
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("2.5s") and lines[1].endswith("3.5s"), lines


# -- the token ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def token_server(test_pack: Path) -> Iterator[str]:
    import torch

    from facesmith_server.model.pack import load_pack
    from facesmith_server.service.engine import Engine
    from facesmith_server.service.servicer import create_server

    cpu = torch.device("cpu")
    server, port = create_server(
        "127.0.0.1:0", Engine(load_pack(test_pack, cpu), cpu), token="s3cret"
    )
    yield f"127.0.0.1:{port}"
    server.stop(None)


def test_the_token_can_come_from_a_file_or_the_environment(
    token_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.delenv("FACESMITH_TOKEN", raising=False)
    secret = tmp_path / "token"
    secret.write_text("s3cret\n")
    secret.chmod(0o600)
    assert main(["info", "--server", token_server, "--token-file", str(secret)]) == 0
    assert "pack test" in capsys.readouterr().out
    monkeypatch.setenv("FACESMITH_TOKEN", "s3cret")
    assert main(["info", "--server", token_server]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(["info", "--server", token_server, "--token", "s3cret"]) == 0
    assert "--token is visible to other users" in capsys.readouterr().err


def test_the_help_says_to_keep_the_token_off_the_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["edit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--token-file FILE" in text and "prefer $FACESMITH_TOKEN or --token-file" in text


def test_the_server_reads_its_token_from_a_file(tmp_path: Path) -> None:
    from facesmith_server.cli import _serve_parser, _token

    secret = tmp_path / "token"
    secret.write_text("abc\n")
    args = _serve_parser().parse_args(["--pack", "p", "--token-file", str(secret)])
    assert _token(args) == "abc"
    help_text = " ".join(_serve_parser().format_help().split())
    assert "prefer FACESMITH_TOKEN or --token-file" in help_text
