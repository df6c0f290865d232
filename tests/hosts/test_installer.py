"""installers/install.py, run for real in isolated folders (HOME, XDG_*, APPDATA overridden).

Most tests point the installer at this test run's Python (``--use-python``), which already has
the runtime; one creates a real runtime environment and installs the client into it.
"""

from __future__ import annotations

import importlib.util
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytestmark = pytest.mark.hosts

REPO = Path(__file__).resolve().parents[2]
INSTALLER = REPO / "installers" / "install.py"
PLUGIN = REPO / "plugin"
OTHER_KRITARC = (
    "[General]\nLastPreset=Basic_tip_default\n\n"
    "[python]\nenable_othertool=true\n\n"
    "[MainWindow]\nState=AAAA\n"
)


def load_installer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("facesmith_install", INSTALLER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


installer = load_installer()


# --- isolated homes ---------------------------------------------------------------------------


class Home:
    """A fake user: its folders, and install.py run as that user."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.data = self.home / ".local" / "share"
        self.config = self.home / ".config"
        self.home.mkdir(parents=True)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FACESMITH", "GIMP"))}
        env.update(
            HOME=str(self.home),
            XDG_DATA_HOME=str(self.data),
            XDG_CONFIG_HOME=str(self.config),
            APPDATA=str(self.home / "AppData" / "Roaming"),
            LOCALAPPDATA=str(self.home / "AppData" / "Local"),
        )
        return env

    @property
    def pykrita(self) -> Path:
        return self.data / "krita" / "pykrita"

    @property
    def kritarc(self) -> Path:
        return self.config / "kritarc"

    @property
    def gimp_plugin(self) -> Path:
        return self.config / "GIMP" / "3.0" / "plug-ins" / "facesmith"

    @property
    def runtime_config(self) -> Path:
        return self.config / "facesmith" / "runtime.json"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, str(INSTALLER), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def install(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("--use-python", sys.executable, *args)

    def add_other_peoples_files(self) -> None:
        """What a user already has: Krita settings, another Krita plugin, another plug-in."""
        self.kritarc.parent.mkdir(parents=True, exist_ok=True)
        self.kritarc.write_text(OTHER_KRITARC)
        (self.pykrita / "othertool").mkdir(parents=True)
        (self.pykrita / "othertool" / "__init__.py").write_text("")
        (self.pykrita / "othertool.desktop").write_text("[Desktop Entry]\n")
        other = self.gimp_plugin.parent / "other"
        other.mkdir(parents=True)
        (other / "other.py").write_text("#!/usr/bin/env python3\n")


@pytest.fixture
def user(tmp_path: Path) -> Home:
    return Home(tmp_path)


def tree(root: Path) -> dict[str, tuple[str, int, bytes]]:
    """Every file and folder under ``root`` → (kind, mode, content)."""
    found: dict[str, tuple[str, int, bytes]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            path = Path(folder, name)
            found[str(path.relative_to(root))] = ("dir", stat.S_IMODE(path.lstat().st_mode), b"")
        for name in files:
            path = Path(folder, name)
            mode = stat.S_IMODE(path.lstat().st_mode)
            found[str(path.relative_to(root))] = ("file", mode, path.read_bytes())
    return found


def source_files(folder: Path) -> set[str]:
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


def installed_files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


# --- default folders per OS -------------------------------------------------------------------


def test_default_folders_on_linux_follow_xdg() -> None:
    env = {"XDG_DATA_HOME": "/d", "XDG_CONFIG_HOME": "/c"}
    where = installer.default_locations("linux", env, Path("/h"))
    assert where.runtime == Path("/d/facesmith/runtime")
    assert where.pykrita == Path("/d/krita/pykrita")
    assert where.kritarc == Path("/c/kritarc")
    assert where.gimp_plugins == Path("/c/GIMP/3.0/plug-ins")
    bare = installer.default_locations("linux", {"XDG_DATA_HOME": "relative"}, Path("/h"))
    assert bare.pykrita == Path("/h/.local/share/krita/pykrita")  # relative XDG values ignored
    assert bare.kritarc == Path("/h/.config/kritarc")
    assert bare.gimp_plugins == Path("/h/.config/GIMP/3.0/plug-ins")


def test_default_folders_on_macos() -> None:
    where = installer.default_locations("darwin", {}, Path("/Users/a"))
    support = Path("/Users/a/Library/Application Support")
    assert where.runtime == support / "facesmith" / "runtime"
    assert where.pykrita == support / "krita" / "pykrita"
    assert where.kritarc == Path("/Users/a/Library/Preferences/kritarc")
    assert where.gimp_plugins == support / "GIMP" / "3.0" / "plug-ins"


def test_default_folders_on_windows() -> None:
    env = {"APPDATA": "/u/Roaming", "LOCALAPPDATA": "/u/Local"}
    where = installer.default_locations("win32", env, Path("/u"))
    assert where.runtime == Path("/u/Local/facesmith/runtime")
    assert where.pykrita == Path("/u/Roaming/krita/pykrita")
    assert where.kritarc == Path("/u/Local/kritarc")
    assert where.gimp_plugins == Path("/u/Roaming/GIMP/3.0/plug-ins")


def test_gimp3_directory_overrides_gimps_folder() -> None:
    absolute = installer.default_locations("linux", {"GIMP3_DIRECTORY": "/g"}, Path("/h"))
    assert absolute.gimp_plugins == Path("/g/plug-ins")
    relative = installer.default_locations("win32", {"GIMP3_DIRECTORY": "g3"}, Path("/h"))
    assert relative.gimp_plugins == Path("/h/g3/plug-ins")  # relative = under home


# --- kritarc editing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "before",
    [
        "",
        "[General]\nfoo=1\n",
        "[General]\nfoo=1",  # no final newline
        OTHER_KRITARC,
        "[python]\n\n[Other]\nx=1\n",
        "[General]\r\nfoo=1\r\n[python]\r\nenable_a=true\r\n",
    ],
)
def test_kritarc_enable_then_disable_restores_the_file(before: str) -> None:
    enabled, added_group = installer.enable_in_kritarc(before)
    assert "enable_facesmith_krita=true" in enabled.splitlines()
    assert added_group == ("[python]" not in before)
    assert installer.enable_in_kritarc(enabled) == (enabled, False)  # idempotent
    restored = installer.disable_in_kritarc(enabled, drop_empty_group=added_group)
    assert restored.rstrip("\r\n") == before.rstrip("\r\n")
    if before.endswith("\n"):
        assert restored == before


def test_kritarc_keeps_other_keys_and_turns_a_disabled_plugin_on() -> None:
    before = "[python]\nenable_facesmith_krita=false\nenable_other=true\n[General]\nx=1\n"
    enabled, added = installer.enable_in_kritarc(before)
    assert enabled == "[python]\nenable_facesmith_krita=true\nenable_other=true\n[General]\nx=1\n"
    assert not added


# --- installing into a user's folders ---------------------------------------------------------


def test_install_puts_both_plugins_the_krita_flag_and_the_config_in_place(user: Home) -> None:
    user.add_other_peoples_files()
    user.install()

    pykrita = user.pykrita
    assert (pykrita / "facesmith_krita.desktop").read_bytes() == (
        PLUGIN / "krita" / "facesmith_krita.desktop"
    ).read_bytes()
    assert installed_files(pykrita / "facesmith_krita") == source_files(
        PLUGIN / "krita" / "facesmith_krita"
    )
    host_files = source_files(PLUGIN / "facesmith_host")
    assert installed_files(pykrita / "facesmith_host") == host_files
    action_file = pykrita.parent / "actions" / "facesmith_krita.action"
    assert action_file.read_bytes() == (PLUGIN / "krita" / "facesmith_krita.action").read_bytes()
    assert (pykrita / "othertool" / "__init__.py").is_file()

    rc = user.kritarc.read_text()
    assert "enable_facesmith_krita=true" in rc.split("[python]\n", 1)[1].split("\n\n")[0]
    for line in OTHER_KRITARC.splitlines():
        assert line in rc.splitlines()

    gimp = user.gimp_plugin
    assert source_files(PLUGIN / "gimp" / "facesmith") <= installed_files(gimp)
    assert installed_files(gimp / "facesmith_host") == host_files
    assert os.access(gimp / "facesmith.py", os.X_OK)
    assert (gimp.parent / "other" / "other.py").is_file()

    config = load_host_config(user.runtime_config)
    assert config.python == os.path.abspath(sys.executable)
    assert config.server == "local"


def load_host_config(path: Path) -> Any:
    sys.path.insert(0, str(PLUGIN))
    try:
        from facesmith_host.config import load_config
    finally:
        sys.path.remove(str(PLUGIN))
    return load_config(path)


def test_install_twice_gives_the_same_tree(user: Home) -> None:
    user.add_other_peoples_files()
    user.install("--server", "127.0.0.1:50151")
    first = tree(user.home)
    user.install("--server", "127.0.0.1:50151")
    assert tree(user.home) == first
    assert load_host_config(user.runtime_config).server == "127.0.0.1:50151"


def test_reinstall_replaces_old_plugin_files(user: Home) -> None:
    user.install()
    leftover = [user.pykrita / "facesmith_krita" / "removed.py", user.gimp_plugin / "removed.py"]
    for path in leftover:
        path.write_text("old\n")
    user.install()
    assert not any(path.exists() for path in leftover)


def test_install_elsewhere_moves_the_plugins(user: Home) -> None:
    user.install()
    moved = user.root / "krita-elsewhere"
    user.install("--krita-dir", str(moved), "--no-gimp")
    assert (moved / "facesmith_krita" / "__init__.py").is_file()
    assert not (user.pykrita / "facesmith_krita").exists()
    assert user.gimp_plugin.is_dir()  # --no-gimp leaves the GIMP plug-in as it was


def test_dry_run_lists_every_action_and_changes_nothing(user: Home) -> None:
    user.add_other_peoples_files()
    before = tree(user.root)
    out = user.install("--dry-run").stdout
    assert tree(user.root) == before
    for target in [
        user.pykrita / "facesmith_krita.desktop",
        user.pykrita / "facesmith_krita",
        user.pykrita / "facesmith_host",
        user.kritarc,
        user.gimp_plugin,
        user.gimp_plugin / "facesmith_host",
        user.runtime_config,
    ]:
        assert str(target) in out, f"{target} missing from:\n{out}"
    assert all(
        line.startswith(("[dry run] ", "dry run:", "note: ")) for line in out.splitlines() if line
    )

    user.install()
    installed = tree(user.root)
    out = user.run("--uninstall", "--dry-run").stdout
    assert tree(user.root) == installed
    assert f"remove {user.pykrita / 'facesmith_krita'}" in out
    assert f"remove {user.gimp_plugin}" in out


def test_uninstall_leaves_nothing_of_ours(user: Home) -> None:
    user.add_other_peoples_files()
    before = tree(user.root)
    user.install()
    user.run("--uninstall")
    assert tree(user.root) == before


def test_uninstall_on_a_fresh_home_removes_the_folders_it_made(user: Home) -> None:
    user.install()
    assert user.kritarc.is_file()
    user.run("--uninstall")
    assert tree(user.root) == {"home": ("dir", stat.S_IMODE(user.home.stat().st_mode), b"")}


def test_uninstall_of_one_host_keeps_the_other_and_the_config(user: Home) -> None:
    user.install()
    user.run("--uninstall", "--no-gimp")
    assert not (user.pykrita / "facesmith_krita").exists()
    assert not user.kritarc.exists()  # the installer made it, for the one key
    assert user.gimp_plugin.is_dir()
    assert user.runtime_config.is_file()
    user.run("--uninstall")
    assert not user.gimp_plugin.exists()
    assert not user.runtime_config.exists()


def test_uninstall_without_a_record_removes_our_files(user: Home) -> None:
    user.add_other_peoples_files()
    user.install()
    installer.manifest_path(user.runtime_config).unlink()
    user.run("--uninstall")
    assert not (user.pykrita / "facesmith_krita").exists()
    assert not (user.pykrita / "facesmith_host").exists()
    assert not user.gimp_plugin.exists()
    assert "enable_facesmith_krita" not in user.kritarc.read_text()
    assert (user.pykrita / "othertool").is_dir()
    assert not user.runtime_config.exists()


# --- errors a user can act on -----------------------------------------------------------------


def test_incomplete_source_is_refused_before_anything_changes(user: Home) -> None:
    empty = user.root / "not-a-checkout"
    empty.mkdir()
    before = tree(user.root)
    proc = user.run("--use-python", sys.executable, "--source", str(empty), check=False)
    assert proc.returncode == 1
    assert "not a complete facesmith source checkout" in proc.stderr
    assert "plugin/krita/facesmith_krita.desktop" in proc.stderr.replace(os.sep, "/")
    assert tree(user.root) == before


def test_missing_python_is_a_clear_error(user: Home) -> None:
    proc = user.run("--use-python", str(user.root / "nope" / "python"), check=False)
    assert proc.returncode == 1
    assert "no such file" in proc.stderr


def test_old_python_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "version_info", (3, 9, 18, "final", 0))
    assert installer.main(["--dry-run"]) == 2
    assert "needs Python 3.10 or newer" in capsys.readouterr().err


def test_remove_runtime_spares_environments_it_did_not_make(user: Home) -> None:
    foreign = user.root / "someone-elses-venv"
    (foreign / "bin").mkdir(parents=True)
    proc = user.run("--uninstall", "--remove-runtime", "--runtime", str(foreign))
    assert foreign.is_dir()
    assert "did not create it" in proc.stdout


# --- a real runtime environment ---------------------------------------------------------------


@pytest.mark.slow
def test_real_runtime_environment_runs_the_worker(tmp_path: Path) -> None:
    """Creates a venv, installs torch (torch==2.13.0: a local wheel here) and facesmith[client].

    Uses the real pip configuration (HOME kept), with the plugins left out: the tests above
    cover them. About 40 s on a 2-core build machine with a warm pip cache.
    """
    runtime, config = tmp_path / "runtime", tmp_path / "config" / "runtime.json"
    argv = [sys.executable, str(INSTALLER), "--runtime", str(runtime), "--config", str(config)]
    argv += ["--torch", "torch==2.13.0", "--no-krita", "--no-gimp"]
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    print(f"runtime created and installed in {time.monotonic() - started:.0f} s")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]

    python = load_host_config(config).python
    assert python == str(installer.runtime_python(runtime))
    where = subprocess.run(
        [
            python,
            "-c",
            "import facesmith_client, facesmith_server; print(facesmith_client.__file__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert Path(where).resolve().is_relative_to(runtime.resolve())  # installed, not the checkout
    worker = subprocess.run(
        [python, "-m", "facesmith_client.host.worker", "--help"], capture_output=True, text=True
    )
    assert worker.returncode == 0, worker.stderr
    assert "--server" in worker.stdout

    uninstall = [sys.executable, str(INSTALLER), "--uninstall", "--remove-runtime"]
    uninstall += ["--no-krita", "--no-gimp", "--runtime", str(runtime), "--config", str(config)]
    proc = subprocess.run(uninstall, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert not runtime.exists() and not config.exists()
