"""Run slow work (worker requests) in a background thread and hear back on the UI thread.

The work function must not call the Krita API; its progress, result and error come back as
Qt signals, which Qt delivers queued to the thread that owns the Task: the UI thread.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from facesmith_host.errors import WorkerError

from .qt import QtCore, Signal

ProgressFn = Callable[[float, str], None]
Work = Callable[[ProgressFn], Any]

_running: set[Task] = set()  # keeps running tasks (and their signal connections) alive


class Task(QtCore.QObject):
    progressed = Signal(float, str)  # fraction 0..1, what is happening
    succeeded = Signal(object)  # the work's return value
    failed = Signal(object)  # a WorkerError
    ended = Signal()  # after succeeded or failed

    def __init__(self, work: Work) -> None:
        super().__init__()
        self._work = work
        self.ended.connect(lambda: _running.discard(self))

    def start(self) -> Task:
        _running.add(self)
        threading.Thread(target=self._run, name="facesmith-task", daemon=True).start()
        return self

    def _run(self) -> None:
        try:
            result = self._work(self.progressed.emit)
        except WorkerError as err:
            self.failed.emit(err)
        except Exception as err:  # a bug: still tell the user instead of failing silently
            traceback.print_exc()
            self.failed.emit(WorkerError("internal", f"facesmith failed: {err!r}", REPORT))
        else:
            self.succeeded.emit(result)
        self.ended.emit()


REPORT = "Please report this with Krita's log (Help ▸ Show Krita Log for Bug Reports)."


def run_in_background(
    work: Work,
    on_success: Callable[[Any], None],
    on_error: Callable[[WorkerError], None],
    on_progress: ProgressFn | None = None,
) -> Task:
    """Start ``work`` in a thread; the callbacks run on the calling (UI) thread."""
    task = Task(work)
    task.succeeded.connect(on_success)
    task.failed.connect(on_error)
    if on_progress is not None:
        task.progressed.connect(on_progress)
    return task.start()
