"""Progress lines on stderr for long training-data jobs (readable in logs: no redraws)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

EVERY_S = 15.0  # a line at most this often, plus one at the end


class ProgressLog:
    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.monotonic()
        self._last = self.started

    def step(self, done: int) -> None:
        now = time.monotonic()
        if now - self._last >= EVERY_S:
            self._last = now
            self._write(done, now)

    def update(self, done: int, total: int) -> None:
        """`step` with the (done, total) signature of progress callbacks."""
        self.step(done)

    def finish(self, done: int) -> None:
        self._write(done, time.monotonic())

    def _write(self, done: int, now: float) -> None:
        elapsed = now - self.started
        left = elapsed / done * (self.total - done) if 0 < done < self.total else 0.0
        eta = f", about {left / 60:.1f} min left" if left else ""
        self.stream.write(f"{self.label}: {done}/{self.total} in {elapsed:.0f} s{eta}\n")
        self.stream.flush()


class Deadline:
    """A training run's time budget (`--max-minutes`): None never passes."""

    def __init__(self, minutes: float | None) -> None:
        self.at = None if minutes is None else time.monotonic() + 60.0 * minutes

    def passed(self) -> bool:
        return self.at is not None and time.monotonic() >= self.at
