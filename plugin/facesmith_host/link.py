"""The adapter's end of the worker: a long-lived child process spoken to in frames.

The child starts on the first request and again on the first request after it died, so a crash
in the runtime costs one failed call with a clear message, never the host. ``request`` blocks;
hosts call it from a background thread (Krita) or their own plug-in process (GIMP). Progress
callbacks run in the calling thread, so they may touch that thread's UI.
"""

from __future__ import annotations

import collections
import os
import queue
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from facesmith_host import protocol
from facesmith_host.errors import WorkerError
from facesmith_host.protocol import Array, Frame

__all__ = ["Array", "Reply", "WorkerError", "WorkerLink"]

ProgressFn = Callable[[dict[str, Any]], None]
STDERR_LINES_KEPT = 40
HELLO_TIMEOUT_S = 60.0  # the runtime imports torch on start: slow on a cold disk
CONTROL_WRITE_WAIT_S = 1.0  # cancel/close never wait longer than this behind a big request


@dataclass(frozen=True)
class Reply:
    header: dict[str, Any]
    arrays: dict[str, Array]


@dataclass(frozen=True)
class _Died:
    """Put in every waiting queue when the child's stdout ends."""

    exit_code: int | None


class WorkerLink:
    """Requests to the runtime worker started as ``argv`` (with ``env`` if given)."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.env = env
        self._lock = threading.Lock()  # guards the process, ids and waiting queues
        self._write_lock = threading.Lock()  # one frame at a time on the child's stdin
        self._process: subprocess.Popen[bytes] | None = None
        self._waiting: dict[int, queue.Queue[Frame | _Died]] = {}
        self._next_id = 1
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES_KEPT)

    # -- public ----------------------------------------------------------------------------

    def request(
        self,
        op: str,
        fields: dict[str, Any] | None = None,
        arrays: Sequence[Array] = (),
        on_progress: ProgressFn | None = None,
        timeout: float | None = None,
    ) -> Reply:
        """Send one request and wait for its reply; WorkerError for error replies."""
        if self._start_if_needed():
            self._hello()
        return self._call(op, fields or {}, tuple(arrays), on_progress, timeout)

    def cancel_all(self) -> None:
        """Ask the worker to stop every running request (they end with code "cancelled")."""
        with self._lock:
            targets = list(self._waiting)
        for target in targets:
            self._send_quietly({"op": "cancel", "target": target})

    def close(self) -> None:
        """Stop the worker: cancel its work and ask it to exit, then force it."""
        self.cancel_all()
        with self._lock:
            process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        if not self._write_to(process, {"id": 0, "op": "shutdown"}, (), CONTROL_WRITE_WAIT_S):
            process.kill()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)

    # -- process ---------------------------------------------------------------------------

    def _start_if_needed(self) -> bool:
        """Start the child if it is not running → True if a new one was started."""
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                return False
            self._stderr.clear()
            try:
                process = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=self.env,
                    creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
                )
            except OSError as err:
                raise WorkerError(
                    "not_installed",
                    f"the facesmith runtime could not be started ({self.argv[0]}): {err}",
                    "Run the facesmith installer again; it records where the runtime lives.",
                ) from None
            self._process = process
        stderr = threading.Thread(target=self._read_stderr, args=(process,), daemon=True)
        stderr.start()
        replies = threading.Thread(target=self._read_replies, args=(process, stderr), daemon=True)
        replies.start()
        return True

    def _hello(self) -> None:
        reply = self._call("hello", {"protocol": protocol.PROTOCOL_VERSION}, (), None, None)
        theirs = reply.header.get("protocol")
        if theirs != protocol.PROTOCOL_VERSION:
            self.close()
            raise WorkerError(
                "protocol",
                f"the facesmith runtime speaks protocol {theirs}, this plugin "
                f"{protocol.PROTOCOL_VERSION}",
                "Install the plugin and the runtime from the same facesmith release.",
            )

    def _read_replies(self, process: subprocess.Popen[bytes], stderr: threading.Thread) -> None:
        assert process.stdout is not None
        try:
            while (frame := protocol.read_frame(process.stdout)) is not None:
                self._dispatch(frame)
        except (protocol.ProtocolError, OSError, ValueError) as err:
            self._stderr.append(f"[facesmith link] unreadable reply: {err}")
        exit_code = _wait_briefly(process)
        stderr.join(timeout=2)  # its last words belong in the error message
        with self._lock:
            waiting = list(self._waiting.values())
            if self._process is process:
                self._process = None
        for box in waiting:
            box.put(_Died(exit_code))

    def _read_stderr(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            self._stderr.append(line.decode("utf-8", "replace").rstrip())

    def _dispatch(self, frame: Frame) -> None:
        with self._lock:
            boxes = [self._waiting[frame.id]] if frame.id in self._waiting else []
            if frame.id == 0 and frame.op == "error":  # the worker could not tell whose
                boxes = list(self._waiting.values())
        for box in boxes:
            box.put(frame)

    # -- requests --------------------------------------------------------------------------

    def _call(
        self,
        op: str,
        fields: dict[str, Any],
        arrays: tuple[Array, ...],
        on_progress: ProgressFn | None,
        timeout: float | None,
    ) -> Reply:
        box: queue.Queue[Frame | _Died] = queue.Queue()
        with self._lock:
            request_id = self._next_id
            self._next_id += 1
            self._waiting[request_id] = box
            process = self._process
        header = {**fields, "id": request_id, "op": op}
        try:
            if process is None or not self._write_to(process, header, arrays):
                raise self._died(None if process is None else _wait_briefly(process))
            if timeout is None and op == "hello":
                timeout = HELLO_TIMEOUT_S
            return self._reply(box, on_progress, timeout, request_id)
        finally:
            with self._lock:
                self._waiting.pop(request_id, None)

    def _reply(
        self,
        box: queue.Queue[Frame | _Died],
        on_progress: ProgressFn | None,
        timeout: float | None,
        request_id: int,
    ) -> Reply:
        while True:
            try:
                item = box.get(timeout=timeout)
            except queue.Empty:
                self._send_quietly({"op": "cancel", "target": request_id})  # free the queue
                raise WorkerError(
                    "timeout",
                    f"the facesmith runtime did not answer within {timeout:.0f} s",
                    "Try again; if it keeps happening, restart the host program.",
                ) from None
            if isinstance(item, _Died):
                raise self._died(item.exit_code)
            if item.op == "progress":
                if on_progress is not None:
                    on_progress(item.header)
                continue
            if item.op == "error":
                header = item.header
                raise WorkerError(
                    str(header.get("code", "internal")),
                    str(header.get("message", "the facesmith runtime reported an error")),
                    str(header.get("hint", "")),
                )
            return Reply(item.header, item.arrays)

    def _write_to(
        self,
        process: subprocess.Popen[bytes],
        header: dict[str, Any],
        arrays: tuple[Array, ...],
        wait: float | None = None,
    ) -> bool:
        """Send one frame → False if the child is gone (its reader then reports why) or, with
        ``wait``, if another frame still blocks the pipe after ``wait`` seconds."""
        assert process.stdin is not None
        if not self._write_lock.acquire(timeout=-1 if wait is None else wait):
            return False
        try:
            protocol.write_frame(process.stdin, header, arrays)
        except (BrokenPipeError, OSError):
            return False
        finally:
            self._write_lock.release()
        return True

    def _send_quietly(self, header: dict[str, Any]) -> None:
        with self._lock:
            process = self._process
            request_id = self._next_id
            self._next_id += 1
        if process is not None:
            self._write_to(process, {**header, "id": request_id}, (), CONTROL_WRITE_WAIT_S)

    def _died(self, exit_code: int | None) -> WorkerError:
        tail = self.stderr_tail()
        detail = f"\n\nIts last words:\n{tail}" if tail else ""
        return WorkerError(
            "worker_died",
            f"the facesmith runtime stopped unexpectedly (exit code {exit_code}){detail}",
            "It restarts on the next use; if this keeps happening, run the installer again.",
        )


def _wait_briefly(process: subprocess.Popen[bytes]) -> int | None:
    try:
        return process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return None


def default_env() -> dict[str, str]:
    """The host's environment without what would make the runtime load the host's own Python
    modules or libraries: hosts set PYTHON* for their interpreter, and AppImage/bundle builds
    point the loader at their bundled libraries."""
    bundled = "APPIMAGE" in os.environ or "APPDIR" in os.environ
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PYTHON")
        and not name.startswith("DYLD_")
        and not (bundled and name in ("LD_LIBRARY_PATH", "LD_PRELOAD"))
    }
