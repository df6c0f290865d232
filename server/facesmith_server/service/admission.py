"""Who may queue for the device, and whose turn it is: fair per client.

A job first takes a queue slot (``admit``): at most ``max_queue`` heavy jobs and as many cheap
ones wait or run at once (so a render is never refused because inversions fill the queue), at
most ``per_client`` of them from one client; past that the job is refused with Busy, which says
when to try again. A job holds its slot while its request is decoded and checked,
and takes the device only for its model work (``turn``). Turns are granted:

- cheap jobs (Render: no encoder) before heavy ones (Invert, Edit), so a client that inverts
  once and renders many times does not queue a second time behind everyone's inversions — but
  never more than ``cheap_streak`` cheap jobs in a row while a heavy one waits;
- within a kind, to the client served longest ago, then first come first served.

Knows nothing of gRPC.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from facesmith_server.errors import Busy, Cancelled

CHEAP = "cheap"  # Render: latents in, images out
HEAVY = "heavy"  # Invert, Edit: the encoder (and maybe refinement) runs
KINDS = (CHEAP, HEAVY)
WAIT_POLL_S = 0.1  # how often a waiting job looks whether its client is still there
MIN_RETRY_S = 0.5


@dataclass(eq=False)
class Ticket:
    """One admitted job."""

    client: str
    kind: str
    seq: int
    waiting: bool = False
    granted: bool = False
    since: float = field(default_factory=time.monotonic)


class FairQueue:
    def __init__(
        self,
        max_queue: int = 4,  # jobs of a kind waiting or running before Busy
        *,
        per_client: int | None = None,  # jobs of one client; default half the queue
        cheap_streak: int = 4,  # cheap turns in a row while a heavy job waits
    ) -> None:
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self.max_queue = max_queue
        self.per_client = per_client or max(1, math.ceil(max_queue / 2))
        self.cheap_streak = cheap_streak
        self._lock = threading.Condition()
        self._admitted: list[Ticket] = []
        self._holder: Ticket | None = None
        self._served: dict[str, float] = {}  # client → when it last got a turn
        self._streak = 0
        self._seq = itertools.count()
        self._seconds = {CHEAP: 0.5, HEAVY: 2.0}  # running mean of a turn, per kind

    # -- slots -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def admit(self, client: str = "", kind: str = HEAVY) -> Iterator[Ticket]:
        """Hold a queue slot for one job; Busy (with ``retry_after_s``) when none is free."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        with self._lock:
            mine = sum(1 for t in self._admitted if t.client == client)
            same_kind = sum(1 for t in self._admitted if t.kind == kind)
            if same_kind >= self.max_queue or mine >= self.per_client:
                wait = self._retry_after_locked()
                whose = (
                    f"{mine} of your requests are"
                    if mine >= self.per_client
                    else f"{same_kind} requests are"
                )
                raise Busy(
                    f"the server is busy ({whose} queued); try again in about "
                    f"{max(1, round(wait))} s",
                    retry_after_s=wait,
                )
            ticket = Ticket(client, kind, next(self._seq))
            self._admitted.append(ticket)
        try:
            yield ticket
        finally:
            with self._lock:
                self._admitted.remove(ticket)
                if self._holder is ticket:  # a turn left open by an error
                    self._release_locked(ticket)

    @property
    def jobs(self) -> int:
        """Jobs admitted now (waiting or running)."""
        with self._lock:
            return len(self._admitted)

    def retry_after_s(self) -> float:
        with self._lock:
            return self._retry_after_locked()

    def _retry_after_locked(self) -> float:
        """About when a slot frees up: the jobs ahead times their kind's mean turn."""
        ahead = sum(self._seconds[t.kind] for t in self._admitted)
        return max(MIN_RETRY_S, ahead / max(1, len(self._admitted)) if ahead else MIN_RETRY_S)

    # -- turns -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def turn(self, ticket: Ticket, should_stop: Callable[[], bool] | None = None) -> Iterator[None]:
        """Wait for ``ticket``'s turn on the device and hold it; Cancelled if ``should_stop``
        becomes true while waiting."""
        with self._lock:
            ticket.waiting = True
            self._grant_locked()
            while not ticket.granted:
                if should_stop is not None and should_stop():
                    ticket.waiting = False
                    self._grant_locked()
                    raise Cancelled("cancelled by the client while queued")
                self._lock.wait(WAIT_POLL_S)
        started = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                seconds = self._seconds[ticket.kind]
                self._seconds[ticket.kind] = 0.8 * seconds + 0.2 * (time.monotonic() - started)
                self._release_locked(ticket)

    def _release_locked(self, ticket: Ticket) -> None:
        ticket.granted = False
        if self._holder is ticket:
            self._holder = None
        self._grant_locked()

    def _grant_locked(self) -> None:
        """Give the device to the next waiting job, if it is free."""
        if self._holder is not None:
            return
        waiting = [t for t in self._admitted if t.waiting]
        if not waiting:
            return
        chosen = self.next_of(waiting)
        chosen.waiting, chosen.granted = False, True
        self._holder = chosen
        self._served[chosen.client] = time.monotonic()
        self._streak = self._streak + 1 if chosen.kind == CHEAP else 0
        if len(self._served) > 4 * self.max_queue + 64:  # forget long-gone clients
            keep = {t.client for t in self._admitted}
            self._served = {c: s for c, s in self._served.items() if c in keep}
        self._lock.notify_all()

    def next_of(self, waiting: list[Ticket]) -> Ticket:
        """The policy: which of the ``waiting`` tickets goes next."""
        cheap = [t for t in waiting if t.kind == CHEAP]
        heavy = [t for t in waiting if t.kind == HEAVY]
        pool = cheap if cheap and (not heavy or self._streak < self.cheap_streak) else heavy
        return min(pool, key=lambda t: (self._served.get(t.client, -math.inf), t.seq))
