"""The docker's set-up, shown while facesmith has no runtime: where faces are edited (this
computer — its CPU or a GPU found here — or a server elsewhere, with "Test connection"), then
"Set up" makes the runtime in the per-user data folder with a progress bar, the log and
Cancel; "Install from a folder of wheel files…" does the same without internet.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from facesmith_host import setup
from facesmith_host.errors import WorkerError

from .messages import show_error
from .qt import QtCore, QtWidgets, Signal
from .tasks import Task, run_in_background

ELSEWHERE = "elsewhere"
PLUGIN_DIR = Path(os.path.dirname(os.path.abspath(__file__)))
WHEELS_DIR = PLUGIN_DIR / "vendor"  # where the release zip carries the facesmith wheel


class SetupPanel(QtWidgets.QGroupBox):
    """Emits ``finished`` once runtime.json is written."""

    finished = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__("Set up facesmith", parent)
        self.setObjectName("facesmith_setup")
        self._task: Task | None = None
        self._cancel = threading.Event()
        self._log_lines: queue.Queue[str] = queue.Queue()
        self._build()
        self._timer = QtCore.QTimer(self)
        self._timer.timeout.connect(self._flush_log)
        self._timer.start(200)

    def _build(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        intro = QtWidgets.QLabel("facesmith is not set up yet. Where should faces be edited?")
        intro.setWordWrap(True)
        self.where = QtWidgets.QComboBox()
        self.where.setObjectName("facesmith_setup_where")
        for hardware in setup.find_hardware():
            self.where.addItem(f"This computer — {hardware.name}", hardware.kind)
        self.where.addItem("A server elsewhere", ELSEWHERE)
        self.where.currentIndexChanged.connect(self._show_server_fields)
        self.address = _line("facesmith_setup_address", "HOST:PORT")
        self.token = _line("facesmith_setup_token", "token (if the server has one)")
        self.token.setEchoMode(QtWidgets.QLineEdit.EchoMode.Password)
        self.test = _button("Test connection", "facesmith_setup_test", self.test_connection)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setObjectName("facesmith_setup_progress")
        self.log = QtWidgets.QPlainTextEdit()
        self.log.setObjectName("facesmith_setup_log")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.log.setMinimumHeight(120)  # a few lines of pip's output
        self.start = _button("Set up", "facesmith_setup_start", lambda: self.run_setup(None))
        self.offline = _button("Install from a folder of wheel files…", "facesmith_setup_offline",
                               self.choose_wheels)  # fmt: skip
        self.stop = _button("Cancel", "facesmith_setup_cancel", self._cancel.set)
        for widget in (intro, self.where, self.address, self.token, self.test):
            layout.addWidget(widget)
        layout.addWidget(self.start)
        layout.addWidget(self.offline)
        layout.addWidget(self.progress)
        layout.addWidget(self.log)
        layout.addWidget(self.stop)
        self._show_server_fields()
        self._set_running(False)

    # -- actions ---------------------------------------------------------------------------

    def test_connection(self) -> None:
        try:
            self._say(setup.check_server(self.address.text()))
        except WorkerError as err:
            show_error(err, self)

    def choose_wheels(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Folder of wheel files")
        if folder:
            self.run_setup(Path(folder))

    def run_setup(self, wheels: Path | None) -> None:
        """Make the runtime in the background (``wheels``: only from that folder)."""
        kind = self.where.currentData()
        server, token = "local", ""
        if kind == ELSEWHERE:
            server, token, kind = self.address.text().strip(), self.token.text().strip(), "cpu"
            if not server:
                show_error(WorkerError("bad_request", "no server address", "Type HOST:PORT."))
                return
        plan = setup.make_plan(kind, WHEELS_DIR, wheels, server, token)
        self._cancel.clear()
        self._set_running(True)

        def work(progress: Callable[[float, str], None]) -> Any:
            return setup.run_setup(plan, progress, self._log_lines.put, self._cancel)

        self._task = run_in_background(work, self._done, self._failed, self._report)

    # -- plumbing --------------------------------------------------------------------------

    def _done(self, _config: Any) -> None:
        self._set_running(False)
        self._say("facesmith is set up.")
        self.finished.emit()

    def _failed(self, err: WorkerError) -> None:
        self._set_running(False)
        self._say(str(err))
        show_error(err, self)

    def _report(self, fraction: float, stage: str) -> None:
        self.progress.setValue(round(100 * fraction))
        self.progress.setFormat(f"{stage} %p%")

    def _say(self, line: str) -> None:
        self._log_lines.put(line)

    def _flush_log(self) -> None:
        while True:
            try:
                self.log.appendPlainText(self._log_lines.get_nowait())
            except queue.Empty:
                return

    def _show_server_fields(self) -> None:
        elsewhere = self.where.currentData() == ELSEWHERE
        for widget in (self.address, self.token, self.test):
            widget.setVisible(elsewhere)

    def _set_running(self, running: bool) -> None:
        for widget in (self.where, self.start, self.offline, self.test):
            widget.setEnabled(not running)
        self.stop.setEnabled(running)
        if not running:
            self._task = None


def _line(name: str, placeholder: str) -> Any:
    line = QtWidgets.QLineEdit()
    line.setObjectName(name)
    line.setPlaceholderText(placeholder)
    return line


def _button(text: str, name: str, slot: Callable[[], Any]) -> Any:
    button = QtWidgets.QPushButton(text)
    button.setObjectName(name)
    button.clicked.connect(lambda _checked=False: slot())
    return button
