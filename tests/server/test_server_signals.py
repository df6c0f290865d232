"""SIGTERM stops `facesmith-server` whichever of its threads the kernel hands it to (a wait
without timeout in the main thread used to miss it when gRPC's threads got it: the server
then ran on, found in a full test run)."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from facesmith.v1 import facesmith_pb2 as pb
from facesmith.v1 import facesmith_pb2_grpc as pb_grpc

SYS_TGKILL = {"x86_64": 234, "aarch64": 131}.get(os.uname().machine)


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or SYS_TGKILL is None, reason="needs Linux tgkill"
)
def test_sigterm_to_any_thread_stops_the_server(test_pack: Path) -> None:
    command = [sys.executable, "-m", "facesmith_server.cli", "--pack", str(test_pack)]
    process = subprocess.Popen(
        [*command, "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        address = process.stdout.readline().split()[-1]
        with grpc.insecure_channel(address) as channel:
            assert pb_grpc.FacesmithStub(channel).GetInfo(pb.GetInfoRequest()).pack_name
        threads = [int(t) for t in os.listdir(f"/proc/{process.pid}/task")]
        other = next(t for t in threads if t != process.pid)  # not the main thread
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.syscall(SYS_TGKILL, process.pid, other, signal.SIGTERM) == 0
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
