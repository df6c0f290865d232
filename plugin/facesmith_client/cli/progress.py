"""A small progress bar on stderr for the CLI (standard library only).

On a terminal it redraws one line per stage; in a log (not a terminal) it writes one line when
each stage finishes, so captured output stays readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from facesmith_client.events import Progress

BAR_WIDTH = 24
MIN_REDRAW_S = 0.1  # at most ten redraws a second


class ProgressBar:
    """Call with each Progress event; ``close()`` ends the line."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty()
        self._stage = ""
        self._drawn = False
        self._last_draw = 0.0
        self._started = self._last_event = time.monotonic()

    def __call__(self, event: Progress) -> None:
        if event.stage != self._stage:
            self._end_line()
            self._stage = event.stage
            # a stage started when the one before it ended (its first event may be its last)
            self._started = self._last_event
        finished = event.total > 0 and event.done >= event.total
        if self.interactive:
            now = time.monotonic()
            if finished or now - self._last_draw >= MIN_REDRAW_S:
                self._last_draw = now
                self.stream.write("\r" + self.render(event))
                self.stream.flush()
                self._drawn = True
        elif finished:
            self.stream.write(self.render(event) + "\n")
            self.stream.flush()
        self._last_event = time.monotonic()

    def render(self, event: Progress) -> str:
        """``label stage [#####-----] done/total  loss 0.0123  3.1s``."""
        filled = round(BAR_WIDTH * min(1.0, event.fraction))
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        loss = f"  loss {event.loss:.4f}" if event.loss else ""
        elapsed = time.monotonic() - self._started
        return (
            f"{self.label} {event.stage:<7}[{bar}] {event.done}/{event.total}{loss}  {elapsed:.1f}s"
        )

    def close(self) -> None:
        self._end_line()

    def _end_line(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
