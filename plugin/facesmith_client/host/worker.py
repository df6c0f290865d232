"""The runtime worker a host adapter starts: ``python -m facesmith_client.host.worker``.

It reads request frames on stdin and writes replies on stdout (facesmith_host.protocol).
Requests run one at a time on a job thread, so ``cancel`` (read meanwhile) stops the running
one. Every failure becomes an "error" reply; a frame that cannot be delimited ends the worker
after its error reply, since nothing after it can be trusted. Logs go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from facesmith_client.events import Progress
from facesmith_client.host.session import HostSession, client_error
from facesmith_client.pipeline.photo import NoFaceFound
from facesmith_client.pipeline.sketch import EmptyDrawing
from facesmith_client.remote.client import CancelToken, ClientError, FacesmithClient
from facesmith_client.remote.local_server import LocalServer, LocalServerError, default_pack_dir
from facesmith_client.vision.detect import load_detector
from facesmith_host import protocol
from facesmith_host.errors import WorkerError
from facesmith_host.jobs import no_lines
from facesmith_host.protocol import Array, Frame

QUEUED_OPS = ("info", "detect", "edit", "generate", "sketch")
EXIT_PROTOCOL_ERROR = 2


class Worker:
    """Serves one adapter over ``out`` (replies) for the frames read from ``stdin``."""

    def __init__(self, session: HostSession, out: IO[bytes]) -> None:
        self.session = session
        self._out = out
        self._write_lock = threading.Lock()
        self._jobs: queue.Queue[Frame | None] = queue.Queue()
        self._cancels: dict[int, CancelToken] = {}
        self._cancels_lock = threading.Lock()

    def serve(self, stdin: IO[bytes]) -> int:
        """Answer frames until stdin ends or "shutdown" → the process exit status.

        Requests already read are finished first (a script may close stdin right after its
        last request); after a frame that cannot be delimited they are cancelled instead.
        """
        runner = threading.Thread(target=self._run_jobs, name="facesmith-jobs", daemon=True)
        runner.start()
        status, shutdown_id = self._read_loop(stdin)
        if status != 0:
            self._cancel_all()
        self._jobs.put(None)
        runner.join()
        if shutdown_id is not None:
            self._reply(shutdown_id, "bye", {})
        return status

    # -- reading -----------------------------------------------------------------------------

    def _read_loop(self, stdin: IO[bytes]) -> tuple[int, int | None]:
        """Read and dispatch frames → (exit status, id of the shutdown request if any)."""
        while True:
            try:
                frame = protocol.read_frame(stdin)
            except protocol.ProtocolError as err:
                self._error(err.request_id, WorkerError("protocol", f"garbled request: {err}"))
                if err.fatal:
                    return EXIT_PROTOCOL_ERROR, None
                continue
            except Exception as err:  # a frame read whole but not understood: say so, go on
                message = f"garbled request: {type(err).__name__}"
                self._error(0, WorkerError("protocol", message))
                continue
            if frame is None:
                return 0, None
            if frame.op == "shutdown":
                return 0, frame.id
            self._accept(frame)

    def _accept(self, frame: Frame) -> None:
        if frame.op == "hello":
            self._reply(frame.id, "hello", {"protocol": protocol.PROTOCOL_VERSION})
        elif frame.op == "cancel":
            self._cancel(frame.header.get("target"))
        elif frame.op in QUEUED_OPS:
            with self._cancels_lock:
                self._cancels[frame.id] = CancelToken()
            self._jobs.put(frame)
        else:
            self._error(frame.id, WorkerError("bad_request", f"unknown op {frame.op!r}"))

    def _cancel(self, target: Any) -> None:
        with self._cancels_lock:
            token = self._cancels.get(target) if isinstance(target, int) else None
        if token is not None:
            token.cancel()

    def _cancel_all(self) -> None:
        with self._cancels_lock:
            tokens = list(self._cancels.values())
        for token in tokens:
            token.cancel()

    # -- jobs ------------------------------------------------------------------------------

    def _run_jobs(self) -> None:
        while (frame := self._jobs.get()) is not None:
            with self._cancels_lock:
                cancel = self._cancels.get(frame.id, CancelToken())
            try:
                if cancel.cancelled:
                    raise WorkerError("cancelled", "cancelled")
                op, fields, arrays = self._run(frame, cancel)
                self._reply(frame.id, op, fields, arrays)
            except Exception as err:  # every failure must reach the adapter as a reply
                if isinstance(err, ClientError) and err.code == "unavailable":
                    self.session.reconnect()  # the next request connects (or starts one) anew
                self._error(frame.id, as_worker_error(err))
            finally:
                with self._cancels_lock:
                    self._cancels.pop(frame.id, None)

    def _run(self, frame: Frame, cancel: CancelToken) -> tuple[str, dict[str, Any], list[Array]]:
        if frame.op == "info":
            return "info", self.session.info(), []
        if frame.op == "detect":
            return "faces", self.session.detect(frame), []
        if frame.op == "generate":
            fields, arrays = self.session.generate(frame, self._progress_to(frame.id))
            return "result", fields, arrays
        if frame.op == "sketch":
            fields, arrays = self.session.sketch(frame, cancel, self._progress_to(frame.id))
            return "result", fields, arrays
        fields, arrays = self.session.edit(frame, cancel, self._progress_to(frame.id))
        return "result", fields, arrays

    def _progress_to(self, request_id: int) -> Callable[[Progress], None]:
        def send(event: Progress) -> None:
            fields = {"stage": event.stage, "done": event.done, "total": event.total}
            self._reply(request_id, "progress", fields)

        return send

    # -- writing ---------------------------------------------------------------------------

    def _reply(
        self, request_id: int, op: str, fields: dict[str, Any], arrays: list[Array] | None = None
    ) -> None:
        header = {**fields, "id": request_id, "op": op}
        # If the adapter went away, the read loop ends at its EOF.
        with self._write_lock, contextlib.suppress(BrokenPipeError, OSError):
            protocol.write_frame(self._out, header, tuple(arrays or ()))

    def _error(self, request_id: int, err: WorkerError) -> None:
        fields = {"code": err.code, "message": err.message, "hint": err.hint}
        self._reply(request_id, "error", fields)


def as_worker_error(err: Exception) -> WorkerError:
    """The one place where failures become what the user reads."""
    if isinstance(err, WorkerError):
        return err
    if isinstance(err, ClientError):
        return client_error(err)
    if isinstance(err, NoFaceFound):
        return WorkerError(
            "no_face",
            "no face found in this layer",
            "facesmith edits faces at least 40 pixels wide that look towards the camera; "
            "pick the layer holding the photo, or select faces to edit.",
        )
    if isinstance(err, EmptyDrawing):
        return no_lines()
    if isinstance(err, LocalServerError):
        return WorkerError(
            "unavailable",
            f"the local facesmith server did not start: {err}",
            "Reinstall the runtime with --with-server, or set a server address.",
        )
    traceback.print_exc(file=sys.stderr)
    return WorkerError(
        "internal",
        f"the facesmith runtime failed: {type(err).__name__}: {err}",
        "This is a bug; the runtime's log (stderr) has the details.",
    )


# -- entry point ---------------------------------------------------------------------------------


class ServerConnection:
    """Clients for ``server`` ("HOST:PORT", or "local": a server of our own on ``pack``,
    started on first use and started again whenever it has died — as the host's link does
    with a dead worker)."""

    def __init__(self, server: str, token: str | None, pack: Path | None = None) -> None:
        self.server = server
        self.token = token
        self.pack = pack
        self._local: LocalServer | None = None
        self.starts = 0

    def connect(self) -> FacesmithClient:
        from facesmith_client.remote.grpc_client import GrpcClient

        if self.server != "local":
            return GrpcClient(self.server, token=self.token)
        if self._local is not None and not self._local.running:
            print(
                f"facesmith worker: the local server stopped ({self._local.exit_status()}); "
                "starting a new one",
                file=sys.stderr,
            )
            self._local.stop()
            self._local = None
        if self._local is None:  # kept only once it started, so a failed start is tried again
            starting = LocalServer(self.pack or default_pack_dir())
            starting.start()
            self._local = starting
            self.starts += 1
        return GrpcClient(self._local.address)

    def healthy(self) -> bool:
        """Whether the clients made so far still reach a live server (a remote one is
        reconnected by gRPC itself)."""
        return self.server != "local" or (self._local is not None and self._local.running)

    def close(self) -> None:
        if self._local is not None:
            self._local.stop()
            self._local = None


@contextlib.contextmanager
def server_client(
    server: str, token: str | None, pack: Path | None = None
) -> Iterator[ServerConnection]:
    """The connection to ``server`` ("local" starts one on first use), closed afterwards."""
    connection = ServerConnection(server, token, pack)
    try:
        yield connection
    finally:
        connection.close()


def protocol_stdout() -> IO[bytes]:
    """Our own handle on stdout for frames; fd 1 then points at stderr, so a stray print (from
    us or a native library) cannot corrupt the stream."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m facesmith_client.host.worker",
        description="facesmith runtime worker for the Krita and GIMP plugins (frames on stdio)",
    )
    parser.add_argument(
        "--server", default="local", help='"HOST:PORT" of a facesmith server, or "local"'
    )
    parser.add_argument(
        "--pack", type=Path, help="model pack of a local server (default: the built-in demo)"
    )
    args = parser.parse_args(argv)
    token = os.environ.get("FACESMITH_TOKEN") or None
    out = protocol_stdout()

    with server_client(args.server, token, args.pack) as connection:
        session = HostSession(
            connection.connect, lambda: load_detector("cpu"), healthy=connection.healthy
        )
        try:
            return Worker(session, out).serve(sys.stdin.buffer)
        finally:
            session.close()


if __name__ == "__main__":
    sys.exit(main())
