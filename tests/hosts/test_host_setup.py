"""Tests never change the system (issue 15, finding 12): the host programs are set up by
.ci/host-apps, not by a test; without them the host tests are skipped (and fail under CI)."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
INSTALLING = ("apt-get", "apt ", "debootstrap", "gimp-chroot", "host-apps", "dpkg")


def test_a_missing_gimp_chroot_is_never_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import test_gimp

    def no_processes(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a test ran a program to set up GIMP: {args}")

    monkeypatch.setattr(subprocess, "run", no_processes)
    monkeypatch.setattr(subprocess, "Popen", no_processes)
    monkeypatch.setattr(test_gimp.os, "geteuid", lambda: 0)  # as root, where it used to build
    monkeypatch.setattr(test_gimp.shutil, "which", lambda name: f"/usr/bin/{name}")
    missing = tmp_path / "gimp-root"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"sudo \.ci/host-apps"):
        test_gimp.find_gimp_root(missing)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"sudo \.ci/host-apps"):
        test_gimp.find_gimp_root(missing)
    assert not missing.exists() and list(tmp_path.iterdir()) == []


def _commands_run(path: Path) -> list[str]:
    """The string constants in the arguments of every call of subprocess.* or os.*, and in
    whatever is assigned to a name such a call is given (``cmd = [...]; run(cmd)``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = [
        node for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name) and node.func.value.id in ("subprocess", "os")
    ]  # fmt: skip
    passed = {n.id for call in calls for n in ast.walk(call) if isinstance(n, ast.Name)}
    assigned = [
        node.value for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id in passed for t in node.targets)
    ]  # fmt: skip
    return [
        n.value for root in [*calls, *assigned] for n in ast.walk(root)
        if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]  # fmt: skip


def test_the_installer_check_sees_commands_built_beforehand(tmp_path: Path) -> None:
    script = tmp_path / "t.py"
    script.write_text('import subprocess\ncmd = ["apt-get", "install", "x"]\nsubprocess.run(cmd)\n')
    assert "apt-get" in _commands_run(script)


def test_no_test_runs_an_installer_of_the_system() -> None:
    offenders = [
        f"{path.relative_to(TESTS)}: {text!r}"
        for path in sorted(TESTS.rglob("*.py"))
        for text in _commands_run(path)
        if any(word in text for word in INSTALLING)
    ]
    assert not offenders, "tests must not install anything:\n" + "\n".join(offenders)
