"""`facesmith batch` on real photos with the tiny test pack: both engines write the same bytes,
a run stopped mid-way continues with what is missing, a bad photo is recorded and skipped, a
killed Ray actor is replaced, two servers share a run, and nothing but `--engine ray` needs
Ray."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from facesmith_client.batch.manifest import MANIFEST_NAME, read_manifest
from facesmith_client.batch.plan import PlanError, find_photos, group_jobs, plan_jobs
from facesmith_client.cli.batch_bench import model_actor_pids
from facesmith_client.remote.local_server import LocalServer
from facesmith_client.vision.images import read_image, write_image

FACES = ("obama.jpg", "biden.jpg", "kit_harington1.jpg", "two_people.jpg", "lowres_00.jpg")
RUN_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def shoot(photos_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real photos (one in a sub-folder, one with four faces), a file that is not an image and
    a photo without a face."""
    folder = tmp_path_factory.mktemp("shoot")
    (folder / "day2").mkdir()
    for name in FACES[:-1]:
        shutil.copy(photos_dir / "whole" / name, folder / name)
    shutil.copy(photos_dir / "whole" / FACES[-1], folder / "day2" / FACES[-1])
    (folder / "broken.jpg").write_bytes(b"not a photo")
    ramp = np.linspace(0, 255, 160 * 120 * 3).reshape(120, 160, 3).astype(np.uint8)
    write_image(folder / "no_face.png", ramp)
    return folder


def batch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "facesmith_client.cli.main", "batch", *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env={**os.environ, **(env or {})},
    )


def start_batch(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "facesmith_client.cli.main", "batch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ctrl_c_as_in_a_terminal,
    )


def _ctrl_c_as_in_a_terminal() -> None:
    """The run hears SIGINT as after Ctrl-C in a terminal, however the tests were started: a
    shell starts a background job (`cmd &`) with SIGINT ignored, and its children inherit
    that, so the run would go on to the end."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def results(out: Path) -> dict[str, bytes]:
    """Every file written under ``out`` but the manifest, by relative name."""
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != MANIFEST_NAME
    }


def assert_same_picture(a: Path, b: Path) -> None:
    """The same picture up to rounding: a float difference in the last bit moves a few JPEG
    pixels by a few levels (seen: at most 4 levels, on 0.01 % of the values)."""
    x, y = (read_image(p).astype(np.int32) for p in (a, b))
    assert x.shape == y.shape, a.name
    diff = np.abs(x - y)
    assert diff.max() <= 8 and np.mean(diff > 1) < 0.001, (a.name, diff.max(), np.mean(diff > 1))


def by_photo(out: Path) -> dict[str, dict[str, object]]:
    return {entry["photo"]: entry for entry in read_manifest(out)}


def wait_for(check: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not check():
        if process.poll() is not None:
            pytest.fail(f"the run ended before {what}: {process.communicate()[1][-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no {what} within {RUN_TIMEOUT_S} s")
        time.sleep(0.05)


def good_photos() -> set[str]:
    return {*FACES[:-1], f"day2/{FACES[-1]}"}


# -- the plan ------------------------------------------------------------------------------------


def test_the_plan_mirrors_the_folder_and_keeps_what_is_done(shoot: Path, tmp_path: Path) -> None:
    out = shoot / "edited"  # inside the input: never read as input
    out.mkdir()
    (out / "obama.jpg").write_bytes(b"done before")
    (shoot / ".hidden.jpg").write_bytes(b"x")
    try:
        todo, done = plan_jobs(shoot, out, overwrite=False)
        assert [j.name for j in done] == ["obama.jpg"]
        names = [j.name for j in todo]
        assert "day2/lowres_00.jpg" in names and "broken.jpg" in names
        assert not any(n.startswith((".", "edited/")) for n in names)
        assert todo[0].out == out / todo[0].name
        assert len(plan_jobs(shoot, out, overwrite=True)[0]) == len(names) + 1
    finally:
        shutil.rmtree(out)
        (shoot / ".hidden.jpg").unlink()
    with pytest.raises(PlanError, match="must differ"):
        plan_jobs(shoot, shoot, overwrite=False)
    with pytest.raises(PlanError, match="not a folder"):
        find_photos(tmp_path / "missing")
    assert [len(g) for g in group_jobs(todo, 4)] == [4, 2]  # the six not done


# -- the engines ---------------------------------------------------------------------------------


def test_ray_writes_the_same_pictures_as_the_local_engine(
    shoot: Path, test_pack: Path, tmp_path: Path
) -> None:
    import torch

    local, on_ray = tmp_path / "local", tmp_path / "ray"
    # 100 years lies beyond the test pack's age range (±50) for faces it reads under 50
    common = ("--set", "age=100", "--pack", str(test_pack), "--device", "cpu")
    done = batch(str(shoot), str(local), *common)
    # the actor's server gets the threads the local one takes (float sums differ otherwise)
    threads = str(torch.get_num_threads())
    done_ray = batch(str(shoot), str(on_ray), *common, "--engine", "ray", "--cpus-per-actor",
                     threads)  # fmt: skip
    for run, out in ((done, local), (done_ray, on_ray)):
        assert run.returncode == 1, run.stderr[-3000:]  # two photos cannot be edited
        entries = by_photo(out)
        assert {n for n, e in entries.items() if e["status"] == "edited"} == good_photos()
        assert "not an image" in str(entries["broken.jpg"]["error"])
        assert "no face found" in str(entries["no_face.png"]["error"])
        assert entries["day2/lowres_00.jpg"]["faces"] == 4
        assert entries["obama.jpg"]["edits"] == ["set age=100"]
    notes = {name: e["notes"] for name, e in by_photo(local).items()}
    assert notes == {name: e["notes"] for name, e in by_photo(on_ray).items()}
    assert any(notes.values()) and all(
        str(note).startswith("face ") and "short of the 100 asked for" in str(note)
        for photo in notes.values() for note in photo
    )  # fmt: skip
    assert set(results(local)) == good_photos()
    assert set(results(on_ray)) == good_photos()
    for name in good_photos():  # float sums may differ in the last bit between the engines
        assert_same_picture(local / name, on_ray / name)
    assert all(str(e["worker"]).startswith("ray actor") for e in read_manifest(on_ray))


def test_a_stopped_run_continues_with_what_is_missing(
    shoot: Path, test_pack: Path, tmp_path: Path
) -> None:
    many = tmp_path / "many"
    many.mkdir()
    for i in range(4):
        for name in FACES[:3]:
            shutil.copy(shoot / name, many / f"{i}_{name}")
    out = tmp_path / "out"
    args = (str(many), str(out), "--gender", "-1", "--pack", str(test_pack), "--device", "cpu",
            "--photos-per-call", "1")  # fmt: skip
    process = start_batch(*args)
    wait_for(lambda: len(read_manifest(out)) >= 2, process, "two photos were done")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    assert process.returncode == 130, stderr[-3000:]
    assert "run the same command again to continue" in stderr
    first = {e["photo"] for e in read_manifest(out)}
    assert 2 <= len(first) < 12
    assert set(results(out)) == first  # every result written is whole; nothing half-written
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]

    again = batch(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{len(first)} already done" in again.stderr
    second = [e["photo"] for e in read_manifest(out)][len(first) :]
    assert sorted(second) == sorted(p.name for p in many.iterdir() if p.name not in first)
    assert len(results(out)) == 12


def test_a_killed_actor_is_replaced_and_every_photo_comes_out(
    shoot: Path, test_pack: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = ("--age", "-20", "--pack", str(test_pack), "--device", "cpu", "--engine", "ray")
    process = start_batch(str(shoot), str(out), *args, "--photos-per-call", "1")
    wait_for(lambda: len(read_manifest(out)) >= 1, process, "a photo was done")
    actors = model_actor_pids()
    assert len(actors) == 1, actors
    os.kill(actors[0], signal.SIGKILL)
    _, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    assert process.returncode == 1, stderr[-3000:]  # the two photos that cannot be edited
    entries = read_manifest(out)
    assert {e["photo"] for e in entries if e["status"] == "edited"} == good_photos()
    assert set(results(out)) == good_photos()
    assert len({e["worker"] for e in entries if e["status"] == "edited"}) == 2  # a new actor


def test_two_servers_share_a_run(shoot: Path, test_pack: Path, tmp_path: Path) -> None:
    with (
        LocalServer(test_pack, device="cpu", threads=1) as a,
        LocalServer(test_pack, device="cpu", threads=1) as b,
    ):
        one, two = tmp_path / "one", tmp_path / "two"
        common = ("--age", "20", "--photos-per-call", "1")
        single = batch(str(shoot), str(one), *common, "--server", a.address)
        shared = batch(str(shoot), str(two), *common, "--server", a.address, "--server",
                       b.address)  # fmt: skip
    assert single.returncode == shared.returncode == 1, shared.stderr[-3000:]
    workers = [e["worker"] for e in read_manifest(two) if e["status"] == "edited"]
    assert set(workers) == {a.address, b.address}
    assert results(two) == results(one)  # same pack, same calls: same bytes


def test_bad_runs_are_refused_in_words(shoot: Path, test_pack: Path, tmp_path: Path) -> None:
    pack = ("--pack", str(test_pack), "--device", "cpu")
    cases = [
        ((str(shoot), str(tmp_path / "o")), "no edit given"),
        ((str(shoot), str(shoot), "--age", "20", *pack), "must differ"),
        ((str(tmp_path / "nope"), str(tmp_path / "o"), "--age", "20", *pack), "not a folder"),
        ((str(shoot), str(tmp_path / "o"), "--edit", "wings=1", *pack), "wings"),
        ((str(shoot), str(tmp_path / "o"), "--edit", "wings=1", *pack, "--engine", "ray"),
         "has no edit 'wings'"),
        ((str(shoot), str(tmp_path / "o"), "--age", "20", "--engine", "ray", "--server", "x:1"),
         "--server is for the local engine"),
    ]  # fmt: skip
    for args, message in cases:
        run = batch(*args)
        assert run.returncode == 1 and message in run.stderr, (args, run.stderr[-2000:])
        assert "Traceback" not in run.stderr


def test_nothing_but_the_ray_engine_needs_ray(shoot: Path, test_pack: Path, tmp_path: Path) -> None:
    """With Ray made unimportable, the CLI, server, host worker and the local engine still run,
    and `--engine ray` says how to install it."""
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(shoot / "obama.jpg", photos / "obama.jpg")
    code = f"""
import sys
sys.modules["ray"] = None  # any `import ray` now fails
import facesmith_client.host.worker, facesmith_server.cli, facesmith_client.batch.on_ray
from facesmith_client.cli.main import main
pack = ["--pack", {str(test_pack)!r}, "--device", "cpu"]
local = main(["batch", {str(photos)!r}, {str(tmp_path / "local")!r}, "--age", "20", *pack])
on_ray = main(["batch", {str(photos)!r}, {str(tmp_path / "ray")!r}, "--age", "20", *pack,
               "--engine", "ray"])
print("exit", local, on_ray)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=RUN_TIMEOUT_S)  # fmt: skip
    assert run.stdout.strip().splitlines()[-1] == "exit 0 1", run.stderr[-3000:]
    assert "pip install 'facesmith[scale]'" in run.stderr
    assert (tmp_path / "local" / "obama.jpg").is_file()
    assert json.loads((tmp_path / "local" / MANIFEST_NAME).read_text())["status"] == "edited"
