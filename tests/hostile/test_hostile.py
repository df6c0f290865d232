"""The short hostile, load and fault run (issue 15), phase by phase with CI sizes and each
phase's targets asserted; `python tests/hostile/run.py` is the long run and prints the
figures (`--short`: the same sizes as CI)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from facesmith.v1 import facesmith_pb2 as pb
from hostile import run

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="reads the server's memory from /proc"
)


@pytest.fixture(scope="module")
def served(test_pack: Path) -> Iterator[run.ServerProcess]:
    server = run.ServerProcess(test_pack, "--max-queue", "8")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def templates(served: run.ServerProcess) -> run.Templates:
    with grpc.insecure_channel(served.address) as channel:
        info = pb.ServerInfo.FromString(channel.unary_unary(run.SERVICE + "GetInfo")(b""))
    t = run.Templates(info.resolution, info.num_ws, info.latent_dim, run.png_bomb())
    run._warm_up(served, t)
    return t


def test_fuzzed_requests_are_refused_quickly_and_cheaply(
    served: run.ServerProcess, templates: run.Templates
) -> None:
    fuzz = run.fuzz_server(served, templates, 300, seed=1)
    print(run._fuzz_line(fuzz))
    assert fuzz.tried == 300 and fuzz.statuses["INVALID_ARGUMENT"] > 200
    assert not run._fuzz_misses(fuzz), run._fuzz_misses(fuzz)


def test_memory_returns_after_large_requests(
    served: run.ServerProcess, templates: run.Templates
) -> None:
    """128 PNG bombs in one request (60 MB, 1.8 GB each once inflated): refused from their
    headers; memory comes back once the server is idle."""
    baseline = served.idle_rss_mib()
    served.reset_peak()
    request = run.BIG_KINDS["128 PNG bombs (60 MB)"](templates, None)[1].SerializeToString()
    options = [("grpc.max_send_message_length", 80 << 20)]
    with grpc.insecure_channel(served.address, options=options) as channel:
        for _ in range(3):
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as refused:
                list(channel.unary_stream(run.SERVICE + "Edit")(request, timeout=30))
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert time.monotonic() - started < run.MAX_REJECTION_S
    peak, after = served.peak_mib(), served.idle_rss_mib()
    print(f"128 PNG bombs x 3: RSS baseline {baseline:.0f} MiB, peak {peak:.0f}, after {after:.0f}")
    assert peak - baseline < run.MAX_REJECTION_MIB
    assert after <= baseline * (1 + run.MAX_GROWTH)


def test_mutated_worker_streams_always_get_replies() -> None:
    worker = run.fuzz_worker(150, seed=2)
    print(run._worker_line(worker))
    assert worker.crashes == worker.hangs == worker.internal == 0
    assert worker.error_codes["protocol"] > 0


def test_a_burst_of_clients_is_served_fairly(served: run.ServerProcess) -> None:
    baseline = served.idle_rss_mib()
    figures = run.burst(served, 12, 5.0, baseline)
    print(run._burst_line(figures))
    assert not figures.gave_up, figures.gave_up
    assert figures.edit_s and figures.invert_render_s and figures.render_s
    # inverting then rendering queues twice, but a render goes before waiting inversions: it
    # waits for the job on the device, not for the queue (seen: 0.7–1.4 s against 10–13 s for
    # an Edit). Whole calls are not compared: with one call per client, their medians follow
    # where each client happened to land in the queue (invert-then-render at 0.8–2.1 times
    # the Edit's on one machine)
    assert figures.median(figures.render_s) < 0.5 * figures.median(figures.edit_s)
    assert figures.final_mib <= baseline * (1 + run.MAX_GROWTH)


def test_clients_that_never_read_are_dropped(
    served: run.ServerProcess, templates: run.Templates
) -> None:
    readers = run.slow_readers(served, templates, 12)
    print(run._readers_line(readers))
    assert readers.get_info_s < 2.0 and readers.dropped == readers.readers


def test_faults_are_noticed_and_nothing_is_truncated(test_pack: Path) -> None:
    fault = run.faults(test_pack, kills=2)
    print(run._fault_line(fault))
    assert "stopped answering" in fault.stopped_message
    assert fault.stopped_noticed_s < run.MAX_NOTICE_S
    assert fault.killed_noticed_s < run.MAX_NOTICE_S
    assert fault.local_server_restart_s < run.MAX_NOTICE_S
    assert fault.worker_restart_s < run.MAX_NOTICE_S
    assert fault.writes == 2 and fault.truncated == 0
