"""The gRPC client against a server that stops answering or is busy (issue 15, findings 6
and 9): no call waits for ever, the error says the server stopped answering, and a busy
server's refusal is waited out as it asks."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from facesmith_client.remote.client import ClientError, InvertOptions, collect_result
from facesmith_client.remote.grpc_client import GrpcClient, call_deadline_s

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP")


@contextlib.contextmanager
def server_process(pack: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    command = [sys.executable, "-m", "facesmith_server.cli", "--pack", str(pack)]
    process = subprocess.Popen(
        [*command, "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "listening on" in line, line
        yield process, line.split()[-1]
    finally:
        os.kill(process.pid, signal.SIGCONT)
        process.kill()
        process.wait(timeout=20)


def finishes_within(seconds: float, work: object) -> tuple[bool, BaseException | None]:
    """Run ``work()`` in a thread → (finished in time, what it raised)."""
    raised: list[BaseException | None] = []

    def run() -> None:
        try:
            work()  # type: ignore[operator]
            raised.append(None)
        except BaseException as err:
            raised.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return (not thread.is_alive(), raised[0] if raised else None)


def test_a_stopped_server_is_noticed_and_named(test_pack: Path) -> None:
    """SIGSTOP the server between calls: renders and edits end within the keepalive time
    with "stopped answering" instead of waiting for ever."""
    with server_process(test_pack) as (process, address):
        client = GrpcClient(address, connect_timeout=3, keepalive_s=1.0, keepalive_timeout_s=1.0)
        info = client.info()
        latent = np.zeros((info.num_ws, info.latent_dim), np.float32)
        client.render([latent])
        os.kill(process.pid, signal.SIGSTOP)
        crop = np.zeros((info.resolution, info.resolution, 3), np.uint8)
        for work in (
            lambda: client.render([latent]),
            lambda: collect_result(client.edit([crop], [])),
        ):
            started = time.monotonic()
            finished, raised = finishes_within(20, work)
            assert finished, "the call waited for a stopped server"
            assert isinstance(raised, ClientError) and raised.code == "unavailable", raised
            assert "stopped answering" in raised.message, raised.message
            assert time.monotonic() - started < 15
        client.close()


def test_deadlines_grow_with_the_work() -> None:
    one, many = call_deadline_s(1), call_deadline_s(16)
    assert one < many < call_deadline_s(16, InvertOptions(refine_steps=100))
    # qualities whose steps the server chooses are allowed the most they may take
    refined = call_deadline_s(1, InvertOptions(quality="refine"))
    assert one < refined < call_deadline_s(1, InvertOptions(quality="pivotal"))
    assert call_deadline_s(1, scale=3.0) == pytest.approx(3 * one)


def test_a_busy_server_is_waited_out(test_pack: Path) -> None:
    from facesmith_server.model.pack import load_pack
    from facesmith_server.service.engine import Engine
    from facesmith_server.service.servicer import create_server

    cpu = torch.device("cpu")
    engine = Engine(load_pack(test_pack, cpu), cpu, max_batch=2, max_queue=1)
    server, port = create_server("127.0.0.1:0", engine)
    address = f"127.0.0.1:{port}"
    try:
        holder, client = GrpcClient(address), GrpcClient(address)
        info = client.info()
        crop = np.zeros((info.resolution, info.resolution, 3), np.uint8)
        from facesmith_client.remote.client import CancelToken, InvertOptions

        stop = CancelToken()
        events = holder.invert([crop], InvertOptions(refine_steps=2000), cancel=stop)
        next(events)  # it holds the only queue slot
        threading.Timer(1.5, stop.cancel).start()
        latent = np.zeros((info.num_ws, info.latent_dim), np.float32)
        started = time.monotonic()
        result = client.render([latent])  # refused as busy at first, then retried
        assert result.faces[0].image is not None
        assert time.monotonic() - started > 1.0
        with pytest.raises(ClientError):
            list(events)
        holder.close()
        client.close()
    finally:
        server.stop(None)
