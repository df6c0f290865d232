"""Talking to the user through Krita's own windows: errors with their next step, progress."""

from __future__ import annotations

from typing import Any

from facesmith_host.errors import WorkerError

from . import runtime
from .qt import Qt, QtWidgets

TITLE = "facesmith"


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
