"""Tools ▸ Scripts ▸ facesmith: one-click edits (the presets), "Age…" with a strength,
"New random face" and "Face from sketch"."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from krita import Extension, Krita

from facesmith_host import jobs
from facesmith_host.errors import WorkerError

from . import apply, new_face, runtime, sketch
from .messages import main_window, run_with_progress, show_error, show_notes
from .qt import QtWidgets
from .tasks import run_in_background

MENU = "tools/scripts/facesmith"
ChooseEdits = Callable[[jobs.ServerStatus], list[jobs.EditLike]]


class FacesmithExtension(Extension):
    def setup(self) -> None:
        QtWidgets.QApplication.instance().aboutToQuit.connect(runtime.close)

    def createActions(self, window: Any) -> None:
        # Krita 5 places actions by walking menu object names and creates no submenus itself:
        # an action named like the last path part, carrying a QMenu, becomes that submenu.
        submenu = window.createAction("facesmith", "facesmith", "tools/scripts")
        submenu.setMenu(QtWidgets.QMenu("facesmith", window.qwindow()))
        age = window.createAction("facesmith_age", "Age…", MENU)
        age.triggered.connect(ask_age)
        face = window.createAction("facesmith_new_face", "New random face", MENU)
        face.triggered.connect(new_face.start_new_face)
        drawn = window.createAction("facesmith_face_from_sketch", sketch.LABEL, MENU)
        drawn.triggered.connect(sketch.start_face_from_sketch)
        for preset in jobs.PRESETS:
            action = window.createAction(f"facesmith_{preset.key}", preset.label, MENU)
            action.triggered.connect(partial(run_preset, preset))


def run_preset(preset: jobs.Preset, *_: object) -> None:
    def choose(status: jobs.ServerStatus) -> list[jobs.EditLike]:
        return [jobs.preset_edit(preset, status)]

    start_edit(choose, preset.label)


def ask_age(*_: object) -> None:
    """Ask the pack's age range first, then how much to age (negative: younger)."""
    try:
        link = runtime.shared_link()
    except WorkerError as err:
        show_error(err)
        return
    run_in_background(lambda _progress: jobs.server_info(link), _age_dialog, show_error)


def _age_dialog(status: jobs.ServerStatus) -> None:
    try:
        age = status.edit("age")
    except WorkerError as err:
        show_error(err)
        return
    low, high = round(age.min), round(age.max)
    value, ok = QtWidgets.QInputDialog.getInt(
        main_window(),
        "facesmith — Age",
        f"Change of age ({low:+d} … {high:+d}; negative is younger):",
        min(20, high),
        low,
        high,
        1,
    )
    if ok and value:
        start_edit(lambda _status: [("age", float(value))], "Age")


def start_edit(choose: ChooseEdits, label: str) -> None:
    """Edit every face (inside the selection, if any) of the active layer, in the background."""
    try:
        snap = apply.snapshot(Krita.instance().activeDocument())
        link = runtime.shared_link()
    except WorkerError as err:
        show_error(err)
        return

    def work(progress: Callable[[float, str], None]) -> tuple[list, jobs.EditOutcome]:
        edits = choose(jobs.server_info(link))
        return edits, apply.render(link, snap, edits, on_progress=progress)

    def commit(result: tuple[list, jobs.EditOutcome]) -> None:
        edits, outcome = result
        apply.commit(snap, outcome, edits)
        show_notes(outcome.notes)

    run_with_progress(label, work, commit)


def register() -> None:
    """Called once when Krita loads the plugin."""
    from .docker import register_docker

    app = Krita.instance()
    app.addExtension(FacesmithExtension(app))
    register_docker(app)
