"""The facesmith docker: the set-up while there is no runtime, server status, the faces found
(tick those to edit), a slider per edit, Preview (fast, low resolution, shown here and on the
canvas, following the sliders; Before shows the original) and Apply (a new layer), progress and
Cancel, New random face, and Face from sketch with how closely the face follows the lines.

Every worker request runs in the background (``tasks``); Krita is only touched here, on the
UI thread, before a request starts and after it ends.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from krita import DockWidget, DockWidgetFactory, DockWidgetFactoryBase, Krita

from facesmith_host import jobs
from facesmith_host.config import load_config
from facesmith_host.errors import WorkerError

from . import apply, new_face, runtime, sketch, thumbs
from .canvas_preview import CanvasPreview
from .faces import ICON, FaceList
from .messages import show_error, show_notes
from .qt import Qt, QtCore, QtGui, QtWidgets
from .setup_panel import SetupPanel
from .sliders import EditSliders
from .tasks import Task, run_in_background

DOCKER_ID = "facesmith_docker"
SETTINGS_GROUP, SLIDERS_KEY = "facesmith", "sliders"  # the docker's last settings, in kritarc
PREVIEW = 120  # px, each of before / after
FACE_MARGIN = 0.25  # thumbnails and preview show a little around each face box
FOLLOW_MS = 400  # a shown preview renders again this long after the sliders stop


class FacesmithPanel(QtWidgets.QWidget):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("facesmith_panel")
        self._task: Task | None = None
        self._faces_of: tuple[Any, Any] | None = None  # (document, layer) the faces are from
        self._asked_status = False
        self._restoring = False
        self._status: jobs.ServerStatus | None = None
        self.canvas = CanvasPreview()
        self._preview_again = QtCore.QTimer(self)  # the sliders moved under a shown preview
        self._preview_again.setSingleShot(True)
        self._preview_again.setInterval(FOLLOW_MS)
        self._preview_again.timeout.connect(self._follow_sliders)
        self._build()

    # -- layout ----------------------------------------------------------------------------

    def _build(self) -> None:
        self.status = QtWidgets.QLabel("Server: not connected")
        self.status.setObjectName("facesmith_status")
        self.status.setWordWrap(True)
        self.faces = FaceList()
        self.sliders = EditSliders()
        self.sliders.changed.connect(self._remember)
        self.sliders.changed.connect(self._sliders_moved)
        self.before, self.after = _picture_label("before"), _picture_label("after")
        self.progress = QtWidgets.QProgressBar()
        self.progress.setObjectName("facesmith_progress_bar")
        self.progress.setRange(0, 100)
        self.progress.setValue(0)

        self.setup = SetupPanel()
        self.setup.finished.connect(self._set_up)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.setup)
        layout.addLayout(_row(self.status, self._button("Connect", self.refresh_status)))
        layout.addLayout(
            _row(QtWidgets.QLabel("Faces"), self._button("Find faces", self.find_faces))
        )
        layout.addWidget(self.faces)
        layout.addWidget(self.sliders)
        self.fast = QtWidgets.QCheckBox("One pass (fast)")
        self.fast.setObjectName("facesmith_fast")
        self.fast.setToolTip(
            "Edit in one pass with the pack's students: much faster, coarser; only the edits "
            "the pack distilled. Connect to see whether it has any."
        )
        self.fast.setEnabled(False)
        layout.addLayout(_row(self._button("Reset", self.sliders.reset), self.fast))
        layout.addLayout(_row(self.before, self.after))
        self.show_before = QtWidgets.QPushButton("Before")
        self.show_before.setObjectName("facesmith_show_before")
        self.show_before.setCheckable(True)
        self.show_before.setToolTip("Show the original on the canvas instead of the preview")
        self.show_before.toggled.connect(self.canvas.show_before)
        self.show_before.setEnabled(False)
        layout.addLayout(
            _row(
                self._button("Preview", self.preview),
                self.show_before,
                self._button("Apply", self.apply_edits),
            )
        )
        cancel = self._button("Cancel", self.cancel, busy_ok=True)
        layout.addLayout(_row(self.progress, cancel))
        layout.addLayout(_row(self._button("New random face", new_face.start_new_face)))
        self.follow = QtWidgets.QDoubleSpinBox()
        self.follow.setObjectName("facesmith_follow")
        self.follow.setRange(0.0, 1.0)
        self.follow.setSingleStep(0.05)
        self.follow.setDecimals(2)
        self.follow.setValue(sketch.remembered_follow())
        self.follow.setToolTip(
            "How closely the face follows the lines: 0 is fastest and best for hand drawings; "
            "more follows lines traced from a photo (slower)"
        )
        self.follow.valueChanged.connect(sketch.remember_follow)
        follow_label = QtWidgets.QLabel("Follow lines")
        follow_label.setBuddy(self.follow)
        drawn = self._button(sketch.LABEL, sketch.start_face_from_sketch)
        drawn.setToolTip(
            "The face the lines on the active layer show (inside the selection, if any), as a "
            "new layer above it"
        )
        layout.addLayout(_row(follow_label, self.follow, drawn))
        layout.addStretch(1)
        self._set_busy(False)

    def _button(self, text: str, slot: Callable[[], Any], busy_ok: bool = False) -> Any:
        button = QtWidgets.QPushButton(text)
        button.setObjectName("facesmith_" + text.lower().replace(" ", "_"))
        button.setProperty("facesmith_busy_ok", busy_ok)
        button.clicked.connect(lambda _checked=False: slot())
        return button

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._asked_status:  # connect once the docker is first seen, not at start-up
            self._asked_status = True
            QtCore.QTimer.singleShot(0, lambda: self.refresh_status(quiet=True))

    # -- actions ---------------------------------------------------------------------------

    def refresh_status(self, quiet: bool = False) -> None:
        """Ask the server what it offers; ``quiet``: problems only in the status line. The
        set-up shows while there is no runtime to ask."""
        if not _configured():
            self.setup.show()
            self.status.setText("Server: facesmith is not set up yet (above)")
            return
        self.setup.hide()
        link = self._link(quiet)
        if link is not None:
            self._run(lambda _p: jobs.server_info(link), self._show_status, self._status_failed)

    def find_faces(self) -> None:
        snap, link = self._snapshot_and_link()
        if snap is None:
            return

        def detect(_progress: Any) -> list[jobs.FaceBox]:
            return jobs.detect(link, snap.image, snap.selection)

        self._run(detect, lambda faces: self._show_faces(snap, faces))

    def preview(self) -> None:
        self._edit(preview=True)

    def apply_edits(self) -> None:
        self._edit(preview=False)

    def cancel(self) -> None:
        """Stop the running request and take the canvas preview away."""
        runtime.cancel_all()
        self.remove_canvas_preview()

    def remove_canvas_preview(self) -> None:
        self._preview_again.stop()
        self.canvas.remove()
        self._show_before_off()
        self.show_before.setEnabled(False)
        self._set_busy(self._task is not None)

    def _sliders_moved(self) -> None:
        if self.canvas.showing() and not self._restoring:
            self._preview_again.start()  # (re)started while the slider moves

    def _follow_sliders(self) -> None:
        if not self.canvas.showing():
            return
        if self._task is not None:  # one request at a time: try again once this one ends
            self._preview_again.start()
        elif self.sliders.values():
            self.preview()

    def _remember(self) -> None:
        """Keep the sliders for the next session (Krita's settings, kritarc)."""
        if not self._restoring:
            Krita.instance().writeSetting(SETTINGS_GROUP, SLIDERS_KEY,
                                          json.dumps(self.sliders.settings()))  # fmt: skip

    def _set_up(self) -> None:
        self.setup.hide()
        self.refresh_status()

    def forget(self) -> None:
        """The document changed: faces and preview belong to the old one."""
        self.remove_canvas_preview()
        self.faces.forget()
        self._faces_of = None
        self.before.clear()
        self.after.clear()

    # -- edits -----------------------------------------------------------------------------

    def _edit(self, preview: bool) -> None:
        if not self.sliders.values():
            hint = "Move a slider first." if self.sliders.ranges() else "Press Connect first."
            show_error(WorkerError("bad_request", "no edit is chosen", hint))
            return
        edits = self.sliders.values()
        status = self._status if self.fast.isChecked() else None  # ticked once connected
        fast = status is not None
        if status is not None:
            try:
                status.check_fast(edits)
            except WorkerError as err:
                show_error(err)
                return
        snap, link = self._snapshot_and_link()
        if snap is None:
            return
        try:
            chosen = self._chosen_faces(snap)
        except WorkerError as err:
            show_error(err)
            return

        def work(progress: Any) -> tuple[list[jobs.FaceBox], jobs.EditOutcome]:
            faces = chosen
            if faces is None:  # not found yet for this layer: every face inside the selection
                faces = [f for f in jobs.detect(link, snap.image, snap.selection) if f.in_selection]
            outcome = apply.render(
                link, snap, edits, faces=faces, preview=preview and not fast, fast=fast,
                on_progress=progress,
            )  # fmt: skip
            return faces, outcome

        def done(result: tuple[list[jobs.FaceBox], jobs.EditOutcome]) -> None:
            faces, outcome = result
            if preview:
                self._show_preview(snap, faces, outcome)
            else:
                self.remove_canvas_preview()
                apply.commit(snap, outcome, edits)
                show_notes(outcome.notes)

        self._run(work, done)

    def _chosen_faces(self, snap: apply.Snapshot) -> list[jobs.FaceBox] | None:
        """The ticked faces if the list shows this layer's faces, else None (find them)."""
        if self._faces_of != (snap.document, snap.source) or not self.faces.found():
            return None
        ticked = self.faces.ticked()
        if not ticked:
            raise WorkerError("bad_request", "no face is ticked", "Tick the faces to edit.")
        return ticked

    # -- results ---------------------------------------------------------------------------

    def _show_status(self, status: jobs.ServerStatus) -> None:
        self._status = status
        self.fast.setEnabled(bool(status.fast))
        if not status.fast:
            self.fast.setChecked(False)
        self.status.setText(
            f"Server: {status.address}\n{status.pack}, {status.resolution} px, {status.device}"
        )
        self._restoring = True  # set_ranges moves the sliders: not the user's choice
        self.sliders.set_ranges(status.edits)
        self.sliders.restore(_remembered())
        self._restoring = False

    def _status_failed(self, err: WorkerError) -> None:
        self.status.setText(f"Server: not connected\n{err}")

    def _show_faces(self, snap: apply.Snapshot, faces: list[jobs.FaceBox]) -> None:
        image = snap.image
        boxes = [thumbs.grown_box(face.box, FACE_MARGIN, image) for face in faces]
        pictures = [_picture(snap, image.data, box, ICON) for box in boxes]
        self.faces.show_faces(faces, pictures)
        self._faces_of = (snap.document, snap.source)

    def _show_preview(
        self, snap: apply.Snapshot, faces: list[jobs.FaceBox], outcome: jobs.EditOutcome
    ) -> None:
        image = snap.image
        rect = thumbs.union([thumbs.grown_box(f.box, FACE_MARGIN, image) for f in faces])
        for label, data in ((self.before, image.data), (self.after, outcome.data)):
            label.setPixmap(QtGui.QPixmap.fromImage(_picture(snap, data, rect, PREVIEW)))
        if not self.isVisible() or Krita.instance().activeDocument() != snap.document:
            return  # the docker was closed, or another document shown, while this rendered
        self.canvas.show(snap, bytes(outcome.data))
        self._show_before_off()
        self.show_before.setEnabled(True)
        self._set_busy(False)  # Cancel now takes the preview away

    def _show_before_off(self) -> None:
        self.show_before.blockSignals(True)  # the preview layer is shown already
        self.show_before.setChecked(False)
        self.show_before.blockSignals(False)

    # -- plumbing --------------------------------------------------------------------------

    def _link(self, quiet: bool = False) -> Any:
        try:
            return runtime.shared_link()
        except WorkerError as err:
            self._status_failed(err)
            if not quiet:
                show_error(err)
            return None

    def _snapshot_and_link(self) -> tuple[apply.Snapshot | None, Any]:
        document = Krita.instance().activeDocument()
        self.canvas.hand_back_source(document)
        try:
            snap = apply.snapshot(document)
        except WorkerError as err:
            show_error(err)
            return None, None
        link = self._link()
        return (snap, link) if link is not None else (None, None)

    def _run(
        self,
        work: Callable[[Any], Any],
        on_success: Callable[[Any], None],
        on_error: Callable[[WorkerError], None] = show_error,
    ) -> None:
        if self._task is not None:
            return  # one request at a time from the docker; buttons are disabled meanwhile
        self._set_busy(True)

        def succeeded(result: Any) -> None:
            self._finish()
            try:
                on_success(result)
            except WorkerError as err:
                show_error(err)

        def failed(err: WorkerError) -> None:
            self._finish()
            on_error(err)

        self._task = run_in_background(work, succeeded, failed, self._report)

    def _finish(self) -> None:
        self._task = None
        self._set_busy(False)

    def _report(self, fraction: float, stage: str) -> None:
        self.progress.setValue(round(100 * fraction))
        self.progress.setFormat(f"{stage} %p%" if stage else "%p%")

    def _set_busy(self, busy: bool) -> None:
        """While a request runs only Cancel works; Cancel also works while a preview shows."""
        for button in self.findChildren(QtWidgets.QPushButton):
            busy_ok = button.property("facesmith_busy_ok")
            if busy_ok is not None:  # the set-up panel's buttons are its own
                button.setEnabled(busy or self.canvas.showing() if busy_ok else not busy)
        if not busy:
            self.progress.setValue(0)
            self.progress.setFormat("%p%")


class FacesmithDocker(DockWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("facesmith")
        self.panel = FacesmithPanel(self)
        self.setWidget(self.panel)

    def canvasChanged(self, canvas: Any) -> None:
        self.panel.forget()

    def closeEvent(self, event: Any) -> None:
        self.panel.remove_canvas_preview()  # the preview goes with the docker; work goes on
        super().closeEvent(event)


def register_docker(app: Any) -> None:
    position = DockWidgetFactoryBase.DockPosition.DockRight
    app.addDockWidgetFactory(DockWidgetFactory(DOCKER_ID, position, FacesmithDocker))


def _remembered() -> dict[str, float]:
    text = Krita.instance().readSetting(SETTINGS_GROUP, SLIDERS_KEY, "{}")
    try:
        saved = json.loads(text)
    except ValueError:
        return {}
    return saved if isinstance(saved, dict) else {}


def _configured() -> bool:
    try:
        load_config()
    except WorkerError:
        return False
    return True


def _picture(snap: apply.Snapshot, data: Any, rect: thumbs.Rect, size: int) -> Any:
    return thumbs.picture(snap.document, snap.source, snap.image, data, rect, size)


def _row(*widgets: Any) -> Any:
    row = QtWidgets.QHBoxLayout()
    for widget in widgets:
        row.addWidget(widget)
    return row


def _picture_label(name: str) -> Any:
    label = QtWidgets.QLabel()
    label.setObjectName(f"facesmith_{name}")
    label.setToolTip(name)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setMinimumSize(PREVIEW // 2, PREVIEW // 2)
    return label
