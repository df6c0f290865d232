"""Setting up the runtime from inside Krita or GIMP: find the hardware, create the runtime
environment in the per-user data folder, install torch and facesmith into it (progress, the
log, cancel), and write runtime.json — the same file installers/install.py writes.

Each step is skipped when it is already done, and pip keeps what it downloaded in its cache,
so running the set-up again after a failure or a cancel continues where it stopped. Without
internet, the set-up installs from a folder of wheel files the user chose. Standard library
only: this runs inside the hosts.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from facesmith_host.config import RuntimeConfig, config_path, save_config
from facesmith_host.errors import WorkerError
from facesmith_host.places import user_data_dir

FACENET = "facenet-pytorch==2.6.0"  # only its MTCNN weight files are used: --no-deps
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"  # Linux/Windows CPU-only builds
RUNTIME_MARKER = "facesmith-runtime.txt"  # as installers/install.py: marks a runtime we made
MARKER_TEXT = "Made by facesmith's set-up; `install.py --uninstall --remove-runtime` deletes it.\n"
MIN_PYTHON = (3, 10)
OFFLINE_HINT = (
    "No internet here? Download the torch wheel for your system (pytorch.org) and "
    f"{FACENET.replace('==', ' ')} into one folder, then choose “Install from a folder of "
    "wheel files…” and pick that folder."
)
OFFLINE_SIGNS = re.compile(
    r"(Failed to establish a new connection|Temporary failure in name resolution|"
    r"No matching distribution found|Could not find a version that satisfies|"
    r"Network is unreachable|ConnectionError|Max retries exceeded|ResolutionImpossible)"
)
Progress = Callable[[float, str], None]  # (fraction done, what is happening)


class SetupFailed(WorkerError):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__("setup_failed", message, hint)


@dataclass(frozen=True)
class Hardware:
    kind: str  # "cpu", "nvidia" or "apple"
    name: str  # what to show: "CPU (8 cores)", "NVIDIA GeForce RTX 3060", …


def find_hardware(
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
) -> list[Hardware]:
    """What the models could run on here: the CPU always, NVIDIA GPUs that nvidia-smi lists,
    the Apple GPU of an Apple-silicon Mac."""
    found = [Hardware("cpu", f"CPU ({os.cpu_count() or 1} cores)")]
    try:
        listed = run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        listed = None
    if listed is not None and listed.returncode == 0:
        for line in listed.stdout.splitlines():
            match = re.match(r"GPU \d+: (.+?)(?: \(UUID.*)?$", line.strip())
            if match:
                found.append(Hardware("nvidia", match.group(1)))
    if sys.platform == "darwin" and platform.machine() == "arm64":
        found.append(Hardware("apple", "Apple GPU (Metal)"))
    return found


def default_runtime_dir() -> Path:
    return user_data_dir() / "facesmith" / "runtime"


def venv_python(runtime: Path) -> Path:
    return runtime / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def find_base_python() -> str:
    """A Python 3.10+ to create the environment with: this one when it is a plain Python
    (GIMP's), else python3 / python on PATH (Krita embeds its Python in its own program)."""
    candidates = [sys.executable] if Path(sys.executable).name.lower().startswith("python") else []
    candidates += [p for p in (shutil.which("python3"), shutil.which("python")) if p]
    for candidate in candidates:
        if _python_version(candidate) >= MIN_PYTHON:
            return candidate
    raise SetupFailed(
        "no Python 3.10 or newer was found to create facesmith's environment",
        "Install Python from python.org (Windows, macOS) or your package manager (Linux), "
        "then run the set-up again.",
    )


def _python_version(python: str) -> tuple[int, ...]:
    try:
        out = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)  # fmt: skip
        return tuple(int(v) for v in out.stdout.split())
    except (OSError, ValueError, subprocess.SubprocessError):
        return ()


@dataclass(frozen=True)
class SetupPlan:
    hardware: str  # Hardware.kind
    facesmith: str  # the facesmith wheel the plugin carries (or a requirement)
    runtime: Path
    config: Path
    wheels: Path | None = None  # offline: install only from this folder
    base_python: str = ""  # "" = find one
    server: str = "local"  # or HOST:PORT of a server elsewhere (then no server packages here)
    token: str = ""


@dataclass(frozen=True)
class Step:
    title: str
    argv: list[str]
    done: Callable[[], bool]


def make_plan(
    hardware: str,
    plugin_dir: Path,
    wheels: Path | None = None,
    server: str = "local",
    token: str = "",
) -> SetupPlan:
    """The plan for this user: the runtime in the per-user data folder, the usual config, and
    the facesmith wheel the plugin carries in ``plugin_dir`` (else facesmith from the index or
    from ``wheels``)."""
    return SetupPlan(hardware, bundled_wheel(plugin_dir) or "facesmith", default_runtime_dir(),
                     config_path(), wheels, server=server, token=token)  # fmt: skip


def bundled_wheel(folder: Path) -> str:
    """The facesmith wheel a release zip put in ``folder`` ("" if there is none)."""
    found = sorted(folder.glob("facesmith-*-py3-none-any.whl"))
    return str(found[-1]) if found else ""


def check_server(address: str, timeout: float = 5.0) -> str:
    """Test connection: whether HOST:PORT accepts connections → what to tell the user;
    SetupFailed when it does not."""
    host, sep, port = address.strip().rpartition(":")
    if not sep or not host or not port.isdigit():
        raise SetupFailed(f"{address!r} is not HOST:PORT", "For example 192.168.1.20:50051.")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as err:
        hint = "Start facesmith-server there; check the address and any firewall."
        raise SetupFailed(f"nothing answers at {address}: {err}", hint) from None
    return f"{address} accepts connections"


def plan_steps(plan: SetupPlan, base_python: str) -> list[Step]:
    python = venv_python(plan.runtime)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    if plan.wheels is not None:  # only the chosen folder: no index, no user or site settings
        pip += ["--isolated", "--no-index", "--find-links", str(plan.wheels)]
    torch = ["torch"]
    extras = "server,client" if plan.server == "local" else "client"
    if plan.wheels is None and plan.hardware == "cpu" and sys.platform != "darwin":
        torch += ["--index-url", CPU_TORCH_INDEX, "--extra-index-url", "https://pypi.org/simple"]
    return [
        Step(
            "creating facesmith's environment",
            [base_python, "-m", "venv", str(plan.runtime)],
            python.is_file,
        ),
        Step("installing torch", [*pip, *torch], lambda: _imports(python, "torch")),
        Step(
            "installing facesmith",
            [*pip, f"{plan.facesmith}[{extras}]"],
            lambda: _imports(python, "facesmith_client.cli.main"),
        ),
        Step(
            "installing the face detector's weights",
            [*pip, "--no-deps", FACENET],
            lambda: _imports(python, "facenet_pytorch"),
        ),
    ]


def run_setup(
    plan: SetupPlan,
    on_progress: Progress,
    on_log: Callable[[str], None],
    cancel: threading.Event,
) -> RuntimeConfig:
    """Carry out ``plan`` → the runtime config written. SetupFailed (with the next step) when a
    step fails; WorkerError("cancelled") when ``cancel`` is set."""
    runtime = plan.runtime
    if runtime.exists() and not venv_python(runtime).is_file() and any(runtime.iterdir()):
        raise SetupFailed(f"{runtime} exists and is not a Python environment",
                          "Move it away, then run the set-up again.")  # fmt: skip
    steps = plan_steps(plan, plan.base_python or find_base_python())
    for number, step in enumerate(steps):
        on_progress(number / (len(steps) + 1), step.title)
        if step.done():
            on_log(f"{step.title}: already done")
            continue
        on_log(f"{step.title}: {' '.join(step.argv)}")
        _run_step(step, on_log, cancel)
        if number == 0:
            (runtime / RUNTIME_MARKER).write_text(MARKER_TEXT, encoding="utf-8")
    config = RuntimeConfig(str(venv_python(runtime)), plan.server, plan.token)
    save_config(config, plan.config)
    on_log(f"wrote {plan.config}")
    on_progress(1.0, "facesmith is set up")
    return config


def _run_step(step: Step, on_log: Callable[[str], None], cancel: threading.Event) -> None:
    """Run one step, its output line by line to ``on_log``; stop it when ``cancel`` is set."""
    process = subprocess.Popen(step.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace")  # fmt: skip
    lines: list[str] = []
    stopper = threading.Thread(target=_stop_when, args=(cancel, process), daemon=True)
    stopper.start()
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip())
        on_log(line.rstrip())
    process.wait()
    if cancel.is_set():
        raise WorkerError("cancelled", "the set-up was cancelled", "Run it again to continue.")
    if process.returncode != 0:
        raise _failure(step, lines)


def _stop_when(cancel: threading.Event, process: subprocess.Popen[str]) -> None:
    while process.poll() is None:
        if cancel.wait(0.2):
            process.terminate()
            return


def _failure(step: Step, lines: Sequence[str]) -> SetupFailed:
    last = next((line for line in reversed(lines) if line.strip()), "no output")
    if any(OFFLINE_SIGNS.search(line) for line in lines):
        return SetupFailed(f"{step.title} failed: the packages could not be downloaded ({last})",
                           OFFLINE_HINT)  # fmt: skip
    return SetupFailed(f"{step.title} failed: {last}", "See the set-up log for details, then "
                       "run the set-up again: what is done is kept.")  # fmt: skip


def _imports(python: Path, module: str) -> bool:
    if not python.is_file():
        return False
    probe = f"import importlib.util as u, sys; sys.exit(u.find_spec({module!r}) is None)"
    try:
        found = subprocess.run([str(python), "-c", probe], capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return found.returncode == 0
