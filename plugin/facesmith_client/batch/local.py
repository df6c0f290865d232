"""The local engine: the stages in this process, against one facesmith server or spread over
several (one worker thread per server, each taking the next group of photos when it is free).

A server that fails mid-run hands its group back to the others; the run ends with an error
only when no server is left. Stopping (Ctrl-C) cancels the calls in flight.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

from facesmith_client.batch.plan import Job
from facesmith_client.batch.stages import EditSettings, Outcome, process_group, server_frame
from facesmith_client.remote.client import CancelToken, ClientError


class NoServerLeft(RuntimeError):
    """Every server failed; the photos not done are left for the next run."""


@dataclass(frozen=True)
class ServerLost:
    """A worker's server failed (or refused the run); its group went back to the queue."""

    address: str
    reason: str


def run_on_servers(
    groups: Sequence[Sequence[Job]],
    settings: EditSettings,
    addresses: Sequence[str],
    token: str | None = None,
    on_lost: Callable[[ServerLost], None] | None = None,
) -> Generator[Outcome, None, None]:
    """Outcomes as photos end, in no fixed order; ``on_lost(ServerLost)`` hears of servers
    that fail."""
    work: queue.Queue[Sequence[Job]] = queue.Queue()
    for group in groups:
        work.put(group)
    results: queue.Queue[Outcome | ServerLost | None] = queue.Queue()
    cancel = CancelToken()
    threads = [
        threading.Thread(
            target=_serve, args=(a, token, settings, work, results, cancel), daemon=True
        )
        for a in addresses
    ]
    for thread in threads:
        thread.start()
    running, lost = len(threads), []
    try:
        while running:
            item = results.get()
            if item is None:
                running -= 1
            elif isinstance(item, ServerLost):
                lost.append(item)
                if on_lost is not None:
                    on_lost(item)
            else:
                yield item
    finally:
        cancel.cancel()
        for thread in threads:
            thread.join()
    if not work.empty():
        reasons = "; ".join(f"{s.address}: {s.reason}" for s in lost)
        raise NoServerLeft(f"no server left to edit the remaining photos ({reasons})")


def _serve(
    address: str,
    token: str | None,
    settings: EditSettings,
    work: queue.Queue[Sequence[Job]],
    results: queue.Queue[Outcome | ServerLost | None],
    cancel: CancelToken,
) -> None:
    """One server's worker: groups from ``work`` until it is empty, cancelled or the server
    fails."""
    from facesmith_client.remote.grpc_client import GrpcClient
    from facesmith_client.vision.detect import load_detector

    try:
        with GrpcClient(address, token=token) as client:
            frame = server_frame(client.info(), settings)
            detector = load_detector("cpu")
            while not cancel.cancelled:
                try:
                    group = work.get_nowait()
                except queue.Empty:
                    return
                try:
                    outcomes = process_group(
                        group, client, detector, frame, settings, address, cancel
                    )
                except ClientError as err:
                    work.put(group)
                    if not cancel.cancelled:
                        results.put(ServerLost(address, str(err)))
                    return
                for outcome in outcomes:
                    results.put(outcome)
    except (ClientError, ValueError) as err:  # unreachable, bad token, cannot make the edits
        results.put(ServerLost(address, str(err)))
    finally:
        results.put(None)
