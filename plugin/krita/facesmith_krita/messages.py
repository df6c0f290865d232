"""Talking to the user through Krita's own windows: errors with their next step, progress."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from facesmith_host.errors import WorkerError

from . import runtime
from .qt import Qt, QtGui, QtWidgets
from .tasks import run_in_background

TITLE = "facesmith"
NOTE_SECONDS = 12  # how long notes on a finished edit float over the canvas
NOTE_LINES = 4  # at most this many notes shown, then "… and N more"


def main_window() -> Any:
    """Krita's active main window (a QMainWindow), to parent dialogs on; None if none."""
    from krita import Krita

    window = Krita.instance().activeWindow()
    return window.qwindow() if window is not None else None


def show_error(err: WorkerError, parent: Any = None) -> None:
    """A message box with what went wrong and what to do; cancelling is not an error."""
    if err.code == "cancelled":
        return
    box = QtWidgets.QMessageBox(parent or main_window())
    box.setIcon(QtWidgets.QMessageBox.Icon.Warning)
    box.setWindowTitle(TITLE)
    box.setText(err.message)
    box.setInformativeText(err.hint)
    box.setObjectName("facesmith_error")
    box.exec()


def note_text(notes: Sequence[str]) -> str:
    """Notes as one message: the first NOTE_LINES, then how many more there are."""
    shown = list(notes[:NOTE_LINES])
    if len(notes) > NOTE_LINES:
        shown.append(f"… and {len(notes) - NOTE_LINES} more")
    return "\n".join(shown)


def show_notes(notes: Sequence[str]) -> None:
    """Notes on a finished edit (e.g. a swap that stopped at its range's end) floating over
    the canvas for a while: worth knowing, not worth stopping the user's work for."""
    from krita import Krita

    window = Krita.instance().activeWindow()
    view = window.activeView() if window is not None and notes else None
    if view is not None:
        view.showFloatingMessage(f"{TITLE}: {note_text(notes)}", QtGui.QIcon(),
                                 NOTE_SECONDS * 1000, 1)  # fmt: skip


class ProgressDialog(QtWidgets.QProgressDialog):
    """Progress of a menu action; its Cancel stops the worker's running requests."""

    def __init__(self, label: str, parent: Any = None) -> None:
        super().__init__(label, "Cancel", 0, 100, parent or main_window())
        self.setWindowTitle(TITLE)
        self.setObjectName("facesmith_progress")
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.setMinimumDuration(300)
        self.setAutoClose(False)
        self.setAutoReset(False)
        self.canceled.connect(runtime.cancel_all)

    def finish(self) -> None:
        self.close()
        self.deleteLater()

    def report(self, fraction: float, stage: str) -> None:
        self.setValue(round(100 * fraction))
        if stage:
            self.setLabelText(stage)


def run_with_progress(
    label: str, work: Callable[[Any], Any], commit: Callable[[Any], None]
) -> None:
    """``work`` (given a progress callback) in the background under a progress dialog, then
    ``commit`` with its result on the UI thread; errors of either in a message box."""
    dialog = ProgressDialog(f"{label}: starting…")

    def done(result: Any) -> None:
        dialog.finish()
        try:
            commit(result)
        except WorkerError as err:
            show_error(err)

    def failed(err: WorkerError) -> None:
        dialog.finish()
        show_error(err)

    run_in_background(work, done, failed, dialog.report)
