"""Run a private `facesmith-server` for one CLI run: start it on a free loopback port, wait
until it listens, stop it afterwards.

The default pack is `demo`, the project's own pack, which ships inside the server package, so
a fresh install makes real edits without downloads; pass another pack folder to use it.
"""

from __future__ import annotations

import importlib.util
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from facesmith_host.places import user_data_dir

DEFAULT_STARTUP_TIMEOUT_S = 180.0
DEFAULT_PACK = "demo"
_LISTENING = re.compile(r"listening on (\S+)")


class LocalServerError(RuntimeError):
    """The local server could not be started."""


def data_home() -> Path:
    """$FACESMITH_HOME, else the per-user data folder (e.g. ~/.local/share/facesmith)."""
    override = os.environ.get("FACESMITH_HOME")
    if override:
        return Path(override).expanduser()
    return user_data_dir() / "facesmith"


def builtin_packs_dir() -> Path:
    """Packs shipped inside the facesmith_server package (found without importing torch)."""
    spec = importlib.util.find_spec("facesmith_server")
    if spec is None or not spec.submodule_search_locations:
        raise LocalServerError("the server is not installed: pip install 'facesmith[server]'")
    return Path(next(iter(spec.submodule_search_locations))) / "packs"


def default_pack_dir() -> Path:
    """The built-in demo pack (64 px, trained by the project on LFW and CelebA)."""
    path = builtin_packs_dir() / DEFAULT_PACK
    if not (path / "manifest.json").is_file():
        raise LocalServerError(f"the built-in {DEFAULT_PACK} pack is missing ({path}); "
                               "reinstall facesmith or pass --pack DIR")  # fmt: skip
    return path


def ensure_test_pack(pack_dir: Path) -> Path:
    """``pack_dir`` holding the test pack, made with make-test-pack if it has no manifest.

    Built in a temporary sibling folder and moved into place, so two runs starting at once
    never see half a pack.
    """
    if (pack_dir / "manifest.json").is_file():
        return pack_dir
    from facesmith_server.model.testpack import (
        make_test_pack,  # server side: torch, only when needed
    )

    pack_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".making-", dir=pack_dir.parent))
    try:
        make_test_pack(staging / "pack")
        if not (pack_dir / "manifest.json").is_file():
            if pack_dir.exists():
                shutil.rmtree(pack_dir)  # an earlier, interrupted attempt
            os.replace(staging / "pack", pack_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return pack_dir


def server_command(
    pack_dir: Path, listen: str, device: str, threads: int | None = None
) -> list[str]:
    """The serve command line, run by this interpreter (so it uses the same environment)."""
    return [
        sys.executable,
        "-m",
        "facesmith_server.cli",
        "serve",
        "--pack",
        str(pack_dir),
        "--listen",
        listen,
        "--device",
        device,
        "--stop-when-stdin-closes",
        *(["--threads", str(threads)] if threads else []),
    ]


class LocalServer:
    """``with LocalServer(pack_dir) as server: GrpcClient(server.address)``."""

    def __init__(
        self,
        pack_dir: Path,
        *,
        device: str = "auto",
        threads: int | None = None,  # torch CPU threads (None: torch's choice)
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT_S,
    ) -> None:
        self.pack_dir = pack_dir
        self.device = device
        self.threads = threads
        self.startup_timeout = startup_timeout
        self.address = ""
        self._process: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None

    def start(self) -> str:
        """Start the server and wait until it listens → its address "127.0.0.1:PORT"."""
        self._log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 - stop() closes
        self._process = subprocess.Popen(
            server_command(self.pack_dir, "127.0.0.1:0", self.device, self.threads),
            stdin=subprocess.PIPE,  # never written: its end when we die stops the server
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        lines = _read_lines(self._process)
        try:
            self.address = self._wait_for_address(lines)
        except BaseException:
            self.stop()
            raise
        return self.address

    def _wait_for_address(self, lines: queue.Queue[str | None]) -> str:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:  # stdout closed: the server exited
                self._process.wait(timeout=10)
                raise LocalServerError(
                    self._failure(f"exited with code {self._process.returncode}")
                )
            match = _LISTENING.search(line)
            if match:
                return match.group(1)
        raise LocalServerError(self._failure(f"did not listen within {self.startup_timeout:g} s"))

    def _failure(self, what: str) -> str:
        return (
            f"the local facesmith server (pack {self.pack_dir}) {what}.\n"
            f"Its log:\n{self.log_tail()}\n"
            "Start one yourself with `facesmith-server serve --pack DIR` and pass --server."
        )

    @property
    def running(self) -> bool:
        """Whether the server process is still alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def exit_status(self) -> str:
        """How the server ended, in words ("exit code 1", "killed by signal 9", "running")."""
        code = self._process.poll() if self._process is not None else None
        if code is None:
            return "running" if self._process is not None else "not started"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's stderr (its log)."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read()[-chars:].rstrip()

    def stop(self) -> None:
        """Ask the server to stop (SIGTERM), kill it if it does not within 10 s."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process is not None:
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _read_lines(process: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """Lines of the process's stdout, read by a thread (so its pipe never fills); None at EOF."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        try:
            for line in process.stdout:
                lines.put(line)
        except (OSError, ValueError):
            pass  # the pipe was closed by stop()
        lines.put(None)

    threading.Thread(target=pump, name="facesmith-server-stdout", daemon=True).start()
    return lines
