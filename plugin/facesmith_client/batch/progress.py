"""The run's progress on stderr: photos done / total, faces per second, time left. On a
terminal one line is redrawn; in a log a line is written per photo. Standard library only."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from facesmith_client.batch.stages import Outcome


class RunProgress:
    """Call ``update`` with each photo's outcome; ``close()`` ends the line."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty()
        self.done = self.failed = self.faces = 0
        self._started = time.monotonic()

    def update(self, outcome: Outcome) -> None:
        self.done += 1
        self.failed += outcome.status != "edited"
        self.faces += outcome.faces if outcome.status == "edited" else 0
        if self.interactive:
            self.stream.write("\r" + self.line() + "\033[K")
        else:
            self.stream.write(f"{self.line()}  {outcome.name}: {outcome.status}\n")
        self.stream.flush()

    def line(self) -> str:
        """``37/300 photos (2 failed)  1.42 faces/s  ETA 4m10s``."""
        elapsed = max(time.monotonic() - self._started, 1e-6)
        failed = f" ({self.failed} failed)" if self.failed else ""
        left = (self.total - self.done) * elapsed / self.done if self.done else 0.0
        return (
            f"{self.done}/{self.total} photos{failed}  {self.faces / elapsed:.2f} faces/s  "
            f"ETA {_duration(left)}"
        )

    def close(self) -> None:
        if self.interactive and self.done:
            self.stream.write("\n")
            self.stream.flush()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
