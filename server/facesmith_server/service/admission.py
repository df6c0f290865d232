"""Who may queue for the device, and whose turn it is: fair per client.

A job first takes a queue slot (``admit``): at most ``max_queue`` heavy jobs and as many cheap
ones wait or run at once (so a render is never refused because inversions fill the queue), at
most ``per_client`` of them from one client; past that the job is refused with Busy, which says
when to try again. A job holds its slot while its request is decoded and checked,
and takes the device only for its model work (``turn``). Turns are granted:

- cheap jobs (Render: no encoder) before heavy ones (Invert, Edit), so a client that inverts
  once and renders many times does not queue a second time behind everyone's inversions — but
  never more than ``cheap_streak`` cheap jobs in a row while a heavy one waits; a client whose
  heavy job ended within ``FOLLOW_UP_S`` is not refused its next cheap one for a full queue
  (the render that follows an inversion);
- a slot that frees up while clients are being refused is held for the one refused longest
  ago, until it comes back (within the wait it was told, and at most ``HOLD_MAX_S``): a client
  that sends its next request the moment its last one ends does not win every slot from those
  who were told to wait;
- within a kind, to the client served longest ago with that kind (a render's turn does not
  put the client's next inversion behind others'), then first come first served.

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
FOLLOW_UP_S = 10.0  # a cheap job this soon after the client's heavy one is its follow-up
HOLD_MAX_S = 5.0  # a slot held for a refused client waits for it at most this long
REFUSED_TTL_S = 60.0  # a refused client not seen again for this long has given up
MAX_LINE = 4096  # refused clients remembered, at most
MIN_RETRY_S = 0.2
MAX_RETRY_S = 5.0


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
        self._served: dict[tuple[str, str], float] = {}  # (client, kind) → its last turn
        self._streak = 0
        self._seq = itertools.count()
        self._seconds = {CHEAP: 0.1, HEAVY: 0.5}  # running mean of a turn, per kind
        self._heavy_done: dict[str, float] = {}  # client → when its last heavy job ended
        # (client, kind) refused → (first refused, when it should be back); in refusal order
        self._refused: dict[tuple[str, str], tuple[float, float]] = {}
        self._holds: dict[tuple[str, str], float] = {}  # (client, kind) → hold expiry

    # -- slots -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def admit(self, client: str = "", kind: str = HEAVY) -> Iterator[Ticket]:
        """Hold a queue slot for one job; Busy (with ``retry_after_s``) when none is free."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        with self._lock:
            now = time.monotonic()
            self._expire_locked(now)
            key = (client, kind)
            mine = sum(1 for t in self._admitted if t.client == client)
            same_kind = sum(1 for t in self._admitted if t.kind == kind)
            held = sum(1 for c, k in self._holds if k == kind and (c, k) != key)
            room = key in self._holds or same_kind + held < self.max_queue
            follow_up = kind == CHEAP and self._is_follow_up(client)
            if not (room or follow_up) or mine >= self.per_client:
                wait = self._retry_after_locked(kind)
                first = self._refused.get(key, (now, 0.0))[0]
                self._refused[key] = (first, now + 1.5 * wait + 0.2)
                if len(self._refused) > MAX_LINE:  # a flood of made-up client ids
                    oldest = next(k for k in self._refused if k not in self._holds)
                    del self._refused[oldest]
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
            self._holds.pop(key, None)
            self._refused.pop(key, None)
            ticket = Ticket(client, kind, next(self._seq))
            self._admitted.append(ticket)
        try:
            yield ticket
        finally:
            with self._lock:
                self._admitted.remove(ticket)
                if self._holder is ticket:  # a turn left open by an error
                    self._release_locked(ticket)
                if kind == HEAVY:
                    self._heavy_done[client] = time.monotonic()
                    if len(self._heavy_done) > 4 * self.max_queue + 64:
                        self._forget_follow_ups()
                self._hand_off_locked(kind, time.monotonic())

    def _hand_off_locked(self, kind: str, now: float) -> None:
        """Hold the free slots of ``kind`` for the clients refused longest ago."""
        same_kind = sum(1 for t in self._admitted if t.kind == kind)
        free = self.max_queue - same_kind - sum(1 for _, k in self._holds if k == kind)
        waiting = [key for key in self._refused if key[1] == kind and key not in self._holds]
        for key in waiting[: max(0, free)]:
            back_by = self._refused[key][1]
            self._holds[key] = min(max(back_by, now) + 0.5, now + HOLD_MAX_S)

    def _expire_locked(self, now: float) -> None:
        """Forget holds their clients did not come back for, and long-gone refused clients."""
        for key in [k for k, until in self._holds.items() if until < now]:
            del self._holds[key]
            late = self._refused.pop(key, None)  # it did not come back in time:
            if late is not None:
                self._refused[key] = late  # to the end of the line
                self._hand_off_locked(key[1], now)
        for key in [k for k, (first, _) in self._refused.items() if now - first > REFUSED_TTL_S]:
            del self._refused[key]

    def _is_follow_up(self, client: str) -> bool:
        return time.monotonic() - self._heavy_done.get(client, -math.inf) < FOLLOW_UP_S

    def _forget_follow_ups(self) -> None:
        now = time.monotonic()
        self._heavy_done = {c: t for c, t in self._heavy_done.items() if now - t < FOLLOW_UP_S}

    @property
    def jobs(self) -> int:
        """Jobs admitted now (waiting or running)."""
        with self._lock:
            return len(self._admitted)

    def retry_after_s(self, kind: str = HEAVY) -> float:
        """About when a new job of ``kind`` would find a slot."""
        with self._lock:
            return self._retry_after_locked(kind)

    def _retry_after_locked(self, kind: str) -> float:
        """When to ask again: about two turns of ``kind`` — soon enough that a slot held for
        a client is not left idle for long; a refused client's place in the line is kept
        meanwhile, so asking again costs it nothing (the line, not the wait, decides who gets
        the next slot)."""
        return min(MAX_RETRY_S, max(MIN_RETRY_S, 2 * self._seconds[kind]))

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
                self._seconds[ticket.kind] = 0.7 * seconds + 0.3 * (time.monotonic() - started)
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
        self._served[(chosen.client, chosen.kind)] = time.monotonic()
        self._streak = self._streak + 1 if chosen.kind == CHEAP else 0
        if len(self._served) > 4 * self.max_queue + 64:  # forget long-gone clients
            keep = {t.client for t in self._admitted}
            self._served = {k: s for k, s in self._served.items() if k[0] in keep}
        self._lock.notify_all()

    def next_of(self, waiting: list[Ticket]) -> Ticket:
        """The policy: which of the ``waiting`` tickets goes next."""
        cheap = [t for t in waiting if t.kind == CHEAP]
        heavy = [t for t in waiting if t.kind == HEAVY]
        pool = cheap if cheap and (not heavy or self._streak < self.cheap_streak) else heavy
        return min(pool, key=lambda t: (self._served.get((t.client, t.kind), -math.inf), t.seq))
