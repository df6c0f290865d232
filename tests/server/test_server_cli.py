"""`facesmith-server` as users start it: it reports its port, serves, and stays up with a
broken pack, answering FAILED_PRECONDITION with the reason."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from facesmith.v1 import facesmith_pb2 as pb
from facesmith.v1 import facesmith_pb2_grpc as pb_grpc


@contextlib.contextmanager
def _serve(pack: Path) -> Iterator[pb_grpc.FacesmithStub]:
    command = [sys.executable, "-m", "facesmith_server.cli", "--pack", str(pack)]
    process = subprocess.Popen(
        [*command, "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("facesmith-server listening on 127.0.0.1:"), line
        with grpc.insecure_channel(line.split()[-1]) as channel:
            yield pb_grpc.FacesmithStub(channel)
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0  # SIGTERM stops it gracefully


def test_serves_the_pack_it_is_given(test_pack: Path) -> None:
    with _serve(test_pack) as stub:
        assert stub.GetInfo(pb.GetInfoRequest()).pack_name == "test"


def test_a_broken_pack_is_reported_to_every_client(tmp_path: Path) -> None:
    with _serve(tmp_path / "no-such-pack") as stub:
        with pytest.raises(grpc.RpcError) as info:
            stub.GetInfo(pb.GetInfoRequest())
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "no-such-pack" in (info.value.details() or "")


def test_make_test_pack_command(tmp_path: Path) -> None:
    from facesmith_server.cli import main

    assert main(["make-test-pack", str(tmp_path / "p"), "--resolution", "32"]) == 0
    assert (tmp_path / "p" / "manifest.json").is_file()


def test_a_server_started_by_a_parent_stops_when_the_parent_is_gone(test_pack: Path) -> None:
    """The runtime starts its own server with a pipe on stdin; if the runtime is killed, the
    pipe ends and the server must not linger holding the pack (and a GPU)."""
    command = [sys.executable, "-m", "facesmith_server.cli", "--pack", str(test_pack)]
    process = subprocess.Popen(
        [*command, "--listen", "127.0.0.1:0", "--stop-when-stdin-closes"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    assert process.stdout.readline().startswith("facesmith-server listening on")
    assert process.poll() is None
    process.stdin.close()  # what the kernel does when the parent dies
    assert process.wait(timeout=20) == 0
