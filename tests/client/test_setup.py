"""The set-up the plugins run from inside Krita and GIMP (facesmith_host.setup), for real: a
runtime made offline from a folder of wheel files (the built facesmith wheel and what it
needs), progress reported, cancel and a second run that continues, and the runtime then edits."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from facesmith_host import setup
from facesmith_host.config import load_config
from facesmith_host.errors import WorkerError


def plan_in(tmp_path: Path, wheels: Path) -> setup.SetupPlan:
    runtime, config = tmp_path / "runtime", tmp_path / "runtime.json"
    wheel = setup.bundled_wheel(wheels)
    return setup.SetupPlan("cpu", wheel, runtime, config, wheels, base_python=sys.executable)


class Recorder:
    def __init__(self, cancel_on: str = "") -> None:
        self.progress: list[tuple[float, str]] = []
        self.log: list[str] = []
        self.cancel = threading.Event()
        self.cancel_on = cancel_on

    def on_progress(self, fraction: float, stage: str) -> None:
        self.progress.append((fraction, stage))

    def on_log(self, line: str) -> None:
        self.log.append(line)
        if self.cancel_on and line.startswith(self.cancel_on):
            self.cancel.set()

    def run(self, plan: setup.SetupPlan) -> object:
        return setup.run_setup(plan, self.on_progress, self.on_log, self.cancel)


def test_hardware_is_found_from_nvidia_smi() -> None:
    def listing(argv: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        out = "GPU 0: NVIDIA GeForce RTX 3060 (UUID: GPU-1234)\nGPU 1: NVIDIA H200 (UUID: x)\n"
        return subprocess.CompletedProcess(argv, 0, out, "")

    def missing(argv: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError(argv[0])

    found = setup.find_hardware(listing)
    assert [h.kind for h in found] == ["cpu", "nvidia", "nvidia"]
    assert [h.name for h in found[1:]] == ["NVIDIA GeForce RTX 3060", "NVIDIA H200"]
    assert found[0].name.startswith("CPU (")
    assert [h.kind for h in setup.find_hardware(missing)] in (["cpu"], ["cpu", "apple"])


def test_offline_set_up_from_a_wheel_folder_then_the_runtime_edits(
    runtime_wheels: Path, tmp_path: Path
) -> None:
    plan = plan_in(tmp_path, runtime_wheels)
    stopped = Recorder(cancel_on="installing torch:")
    with pytest.raises(WorkerError) as info:
        stopped.run(plan)
    assert info.value.code == "cancelled" and not plan.config.exists()

    again = Recorder()  # continues: the environment made before the cancel is kept
    config = again.run(plan)
    assert "creating facesmith's environment: already done" in again.log
    fractions = [f for f, _ in again.progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert [s for _, s in again.progress][1:4] == [
        "installing torch", "installing facesmith", "installing the face detector's weights"
    ]  # fmt: skip
    assert load_config(plan.config) == config
    assert (plan.runtime / setup.RUNTIME_MARKER).is_file()

    done = Recorder()
    done.run(plan)
    assert sum(line.endswith("already done") for line in done.log) == 4

    out = tmp_path / "faces"
    facesmith = Path(load_config(plan.config).python).with_name("facesmith")
    made = subprocess.run([str(facesmith), "generate", "--seed", "3", "--out-dir", str(out)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert made.returncode == 0, made.stderr[-2000:]
    assert (out / "face_3.png").stat().st_size > 0


def test_missing_packages_say_what_to_do_offline(runtime_wheels: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    plan = plan_in(tmp_path, runtime_wheels)
    plan = setup.SetupPlan(plan.hardware, plan.facesmith, plan.runtime, plan.config, empty,
                           plan.base_python)  # fmt: skip
    with pytest.raises(setup.SetupFailed) as info:
        Recorder().run(plan)
    assert "installing torch failed" in info.value.message
    assert info.value.hint == setup.OFFLINE_HINT
