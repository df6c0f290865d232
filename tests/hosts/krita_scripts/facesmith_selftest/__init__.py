"""Test-only pykrita plugin (never shipped): drives the installed facesmith plugin in the real
Krita GUI and writes what it saw to $FACESMITH_SELFTEST_FILE (JSON), then quits Krita.

It checks the plugin loaded, its menu actions and docker exist, and uses the docker as a user
would: connect, find faces, move a slider, Preview (the preview layer on the canvas follows
the slider, Before hides it, Cancel removes it with no undo step left), Preview again
(screenshot of the docker to $FACESMITH_SELFTEST_SHOT), Apply, Undo; Preview and close the
docker; then a menu preset, Undo, "Age…" with its dialog, a note on the canvas (as for an
edit that stopped short), "New random face" on a blank
document, and "Face from sketch" there: on an empty layer (an error box), then on a drawing,
and Undo.

With $FACESMITH_SELFTEST_IMPORT (a plugin zip) it does what a user does instead: Tools ▸
Scripts ▸ Import Python Plugin from File…, picks the zip, says Yes to enabling it.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from krita import Krita

try:
    from PyQt5 import QtCore, QtWidgets
except ImportError:
    from PyQt6 import QtCore, QtWidgets

STEP_TIMEOUT_S = 90.0
Step = tuple[str, Callable[[], Any]]  # (what we wait for, true once it happened)


def script(result: dict[str, Any]) -> Iterator[Step]:
    app = Krita.instance()
    yield "a main window", lambda: app.activeWindow() is not None
    window = app.activeWindow()
    from facesmith_host import jobs

    result["plugin_module"] = getattr(sys.modules.get("facesmith_krita"), "__file__", None)
    result["extensions"] = [type(e).__name__ for e in app.extensions()]
    ids = ["facesmith_age"] + [f"facesmith_{p.key}" for p in jobs.PRESETS]
    result["actions"] = {i: (app.action(i).text() if app.action(i) else None) for i in ids}
    result["tooltips"] = {i: app.action(i).toolTip() for i in ids if app.action(i)}
    result["menu"] = menu_entries(window.qwindow().menuBar(), ["Tools", "Scripts", "facesmith"])
    dock = next((d for d in app.dockers() if d.objectName() == "facesmith_docker"), None)
    if dock is None:
        raise AssertionError("no facesmith docker among Krita's dockers")
    result["docker"] = dock.windowTitle()

    document = app.openDocument(os.environ["FACESMITH_SELFTEST_PHOTO"])
    window.addView(document)
    yield "the photo's view", lambda: app.activeDocument() == document
    dock.show()
    dock.raise_()
    panel = dock.widget()
    status = panel.findChild(QtWidgets.QLabel, "facesmith_status")
    if os.environ.get("FACESMITH_SELFTEST_WHEELS"):
        yield from set_up(panel, result)
    yield "the first server status", lambda: "127.0.0.1" in status.text() and idle(panel)
    from facesmith_krita import runtime

    runtime.close()  # Connect starts the worker again: that must not hold up Krita's UI
    status.setText("")
    click(panel, "facesmith_connect")
    yield "the server status", lambda: "127.0.0.1" in status.text()
    result["status"] = status.text()
    result["sliders"] = [s.objectName() for s in panel.findChildren(QtWidgets.QSlider)]

    click(panel, "facesmith_find_faces")
    faces = panel.findChild(QtWidgets.QListWidget, "facesmith_faces")
    yield "faces found", lambda: faces.count() > 0 and idle(panel)
    result["faces"] = faces.count()
    age = panel.findChild(QtWidgets.QSlider, "facesmith_slider_age")
    age.setValue(80)  # age +30
    undo_text, modified = app.action("edit_undo").text(), document.modified()
    click(panel, "facesmith_preview")
    after = panel.findChild(QtWidgets.QLabel, "facesmith_after")
    yield "the preview", lambda: has_picture(after) and idle(panel)
    yield from canvas_preview(app, document, panel, result, undo_text, modified)
    age.setValue(80)
    click(panel, "facesmith_preview")
    yield "the preview again", lambda: len(names(document)) == 2 and idle(panel)
    dock.setFloating(True)  # a screenshot of the docker alone, at a readable size
    dock.resize(340, 620)
    yield "the floating docker", lambda: dock.isFloating()
    result["screenshot"] = dock.grab().save(os.environ["FACESMITH_SELFTEST_SHOT"])
    result["layers_before"] = names(document)
    status.setText("")  # Connect again: the ranges come anew, the sliders keep their places
    click(panel, "facesmith_connect")
    yield "the server status again", lambda: "127.0.0.1" in status.text() and idle(panel)
    result["age_after_reconnect"] = panel.findChild(
        QtWidgets.QSlider, "facesmith_slider_age"
    ).value()
    result["remembered"] = app.readSetting("facesmith", "sliders", "")

    click(panel, "facesmith_apply")
    yield "the docker's new layer", lambda: len(names(document)) == 2 and idle(panel)
    result["layers_after_apply"] = names(document)
    # Krita adds a layer in a stroke of its own: its undo step exists once the stroke is
    # done. Undo then, not after some time (an early undo finds nothing to undo).
    yield "the new layer's undo step", lambda: undo_ready(app, document)
    app.action("edit_undo").trigger()
    yield "one undo removes it", lambda: settled(document) and len(names(document)) == 1
    result["layers_after_undo"] = names(document)
    undo_text = app.action("edit_undo").text()
    click(panel, "facesmith_preview")
    yield "a preview to close the docker on", lambda: len(names(document)) == 2 and idle(panel)
    dock.close()
    yield "the docker closed", lambda: not dock.isVisible() and settled(document)
    result["layers_after_closing_the_docker"] = names(document)
    # both texts kept, so that a failure says whether closing added a step or the text lagged
    result["undo_text_before_preview"] = undo_text
    result["undo_text_after_closing"] = app.action("edit_undo").text()
    result["undo_kept_after_closing"] = result["undo_text_after_closing"] == undo_text
    dock.show()

    app.action("facesmith_older").trigger()
    yield "the menu preset's new layer", lambda: len(names(document)) == 2
    result["layers_after_preset"] = names(document)
    yield "the preset layer's undo step", lambda: undo_ready(app, document)
    app.action("edit_undo").trigger()
    yield "undo again", lambda: settled(document) and len(names(document)) == 1

    app.action("facesmith_age").trigger()
    yield "the Age… dialog", lambda: answer_age_dialog(-20)
    yield "the Age… layer", lambda: len(names(document)) == 2
    result["layers_after_age"] = names(document)
    from facesmith_krita.messages import show_notes

    before = floating_messages()
    show_notes(["face 1: age stopped at 61 years by the pack's age model, short of the 90 "
                "asked for: the end of the edit's range"])  # fmt: skip
    yield "a note floating over the canvas", lambda: floating_messages() > before
    result["note_floated"] = True

    blank = app.createDocument(256, 256, "no face", "RGBA", "U8", "", 72.0)
    window.addView(blank)
    yield "the blank document's view", lambda: app.activeDocument() == blank
    app.action("facesmith_bald").trigger()
    yield "an error box (no face)", lambda: bool(result["error_boxes"])
    result["blank_layers"] = names(blank)
    click(panel, "facesmith_new_random_face")
    yield "the new face's layer", lambda: len(names(blank)) == 2
    result["blank_after_new_face"] = names(blank)
    yield from face_from_sketch(app, blank, panel, result)
    result["done"] = True


def canvas_preview(
    app: Any, document: Any, panel: Any, result: dict[str, Any], undo_text: str, modified: bool
) -> Iterator[Step]:
    """The preview layer: above the source, following a slider, hidden by Before, and gone on
    Cancel with the document as it was (no undo step, not modified)."""
    result["canvas_preview_layers"] = names(document)
    result["active_layer_under_the_preview"] = document.activeNode().name()
    layer = document.topLevelNodes()[-1]
    first = layer_pixels(layer)
    panel.findChild(QtWidgets.QSlider, "facesmith_slider_age").setValue(20)  # age -30
    yield (
        "the canvas preview follows the slider",
        lambda: idle(panel) and layer_pixels(layer) != first,
    )
    result["canvas_preview_layers_after_slider"] = names(document)
    before = panel.findChild(QtWidgets.QPushButton, "facesmith_show_before")
    before.click()
    result["canvas_preview_hidden_by_before"] = before.isChecked() and not layer.visible()
    before.click()
    result["canvas_preview_shown_again"] = layer.visible()
    click(panel, "facesmith_cancel")
    yield "the preview removed", lambda: settled(document) and len(names(document)) == 1
    result["undo_after_cancel_as_before"] = app.action("edit_undo").text() == undo_text
    result["modified_after_cancel_as_before"] = document.modified() == modified
    result["before_disabled_after_cancel"] = not before.isEnabled()


def layer_pixels(layer: Any) -> bytes:
    bounds = layer.bounds()
    return bytes(layer.pixelData(bounds.x(), bounds.y(), bounds.width(), bounds.height()))


def face_from_sketch(app: Any, document: Any, panel: Any, result: dict[str, Any]) -> Iterator[Step]:
    """The docker's "Face from sketch" on an empty layer (an error box), then the menu action
    on a face drawn there, then Undo."""
    follow = panel.findChild(QtWidgets.QDoubleSpinBox, "facesmith_follow")
    follow.setValue(0.5)  # a change is remembered...
    follow.setValue(0.0)  # ...and back to the fastest
    result["sketch_follow_remembered"] = app.readSetting("facesmith", "sketch_follow", "")
    lines = document.createNode("lines", "paintlayer")
    document.rootNode().addChildNode(lines, None)
    document.setActiveNode(lines)
    yield "the empty lines layer", lambda: settled(document) and "lines" in names(document)
    # later, outside this generator: the error box's own event loop ticks the driver
    QtCore.QTimer.singleShot(0, lambda: click(panel, "facesmith_face_from_sketch"))
    yield "an error box (no lines)", lambda: len(result["error_boxes"]) == 2
    width, height = document.width(), document.height()
    drawing = draw_face(width, height, width // 2, height // 2, width // 5, width // 4)
    lines.setPixelData(drawing, 0, 0, width, height)
    yield "the drawing", lambda: settled(document)
    result["sketch_layers_before"] = before = names(document)
    app.action("facesmith_face_from_sketch").trigger()
    yield "the face from the sketch", lambda: len(names(document)) == len(before) + 1
    result["sketch_layers_after"] = names(document)
    data = layer_pixels(document.topLevelNodes()[-1])
    result["sketch_face_opaque"] = len(data) > 0 and all(a == 255 for a in data[3::4])
    result["sketch_lines_untouched"] = bytes(lines.pixelData(0, 0, width, height)) == drawing
    yield "the face's undo step", lambda: undo_ready(app, document)
    app.action("edit_undo").trigger()

    def undone() -> bool:
        return settled(document) and len(names(document)) == len(before)

    yield "one undo removes the face", undone
    result["sketch_layers_after_undo"] = names(document)


def draw_face(width: int, height: int, cx: int, cy: int, rx: int, ry: int) -> bytes:
    """Transparent B,G,R,A u8 pixels with an elliptic outline 3 px thick and two eyes in
    opaque black."""
    data = bytearray(width * height * 4)
    eyes = [(cx - rx * 0.4, cy - ry * 0.25), (cx + rx * 0.4, cy - ry * 0.25)]
    eye_r = max(2.0, rx * 0.12)
    for y in range(max(0, cy - ry - 3), min(height, cy + ry + 4)):
        for x in range(max(0, cx - rx - 3), min(width, cx + rx + 4)):
            d = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2
            ring = abs(d**0.5 - 1.0) * min(rx, ry) <= 1.5
            if ring or any((x - ex) ** 2 + (y - ey) ** 2 <= eye_r**2 for ex, ey in eyes):
                data[(y * width + x) * 4 + 3] = 255
    return bytes(data)


def set_up(panel: Any, result: dict[str, Any]) -> Iterator[Step]:
    """The docker's set-up as a user without internet does it: a server elsewhere, Test
    connection, then "Install from a folder of wheel files…" with the folder they brought."""
    box = panel.findChild(QtWidgets.QGroupBox, "facesmith_setup")
    yield "the set-up panel", lambda: box.isVisible()
    dock = panel.parent()
    dock.setFloating(True)  # a screenshot of the docker alone, at a readable size
    dock.resize(340, 620)
    where = box.findChild(QtWidgets.QComboBox, "facesmith_setup_where")
    result["setup_choices"] = [where.itemText(i) for i in range(where.count())]
    where.setCurrentIndex(where.findData("elsewhere"))
    box.findChild(QtWidgets.QLineEdit, "facesmith_setup_address").setText(
        os.environ["FACESMITH_SELFTEST_SERVER"]
    )
    click(box, "facesmith_setup_test")
    folder = os.environ["FACESMITH_SELFTEST_WHEELS"]
    QtWidgets.QFileDialog.getExistingDirectory = staticmethod(lambda *a, **k: folder)
    click(box, "facesmith_setup_offline")
    log = box.findChild(QtWidgets.QPlainTextEdit, "facesmith_setup_log")
    progress = box.findChild(QtWidgets.QProgressBar, "facesmith_setup_progress")
    seen: set[int] = set()

    def shoot_while_installing() -> None:
        if 0 < progress.value() < 100 and "setup_screenshot" not in result:
            shot = os.environ["FACESMITH_SELFTEST_SETUP_SHOT"]
            result["setup_screenshot"] = dock.grab().save(shot)

    def finished() -> bool:
        seen.add(progress.value())
        shoot_while_installing()
        return not box.isVisible()

    yield "the set-up", finished
    result["setup_progress_seen"] = sorted(seen)
    result["setup_log"] = log.toPlainText().splitlines()


def import_script(result: dict[str, Any]) -> Iterator[Step]:
    """Krita's own importer action, its file dialog and its question answered as a user would."""
    app = Krita.instance()
    yield "a main window", lambda: app.activeWindow() is not None
    action = app.action("plugin_importer_file")
    if action is None:
        raise AssertionError("Krita has no 'Import Python Plugin from File…' action")
    result["import_action"] = action.text()
    asked: list[str] = []

    def answer(reply: Any) -> Any:
        def ask(_parent: Any, title: str, text: str = "", *_: Any, **__: Any) -> Any:
            asked.append(f"{title}: {text}")
            return reply

        return staticmethod(ask)

    chosen = os.environ["FACESMITH_SELFTEST_IMPORT"]
    boxes = QtWidgets.QMessageBox
    QtWidgets.QFileDialog.getOpenFileName = staticmethod(lambda *a, **k: (chosen, "*.zip"))
    boxes.question, boxes.information = answer(boxes.Yes), answer(boxes.Ok)
    boxes.warning = answer(boxes.Ok)
    action.trigger()
    yield "the importer's question", lambda: bool(asked)
    result["asked"] = asked
    result["enabled"] = app.readSetting("python", "enable_facesmith_krita", "")
    result["done"] = True


def menu_entries(menu_bar: Any, path: list[str]) -> list[str] | None:
    """Texts of the entries of the menu at ``path`` (titles without & accelerators)."""
    actions = menu_bar.actions()
    for title in path:
        found = [a for a in actions if a.menu() and a.text().replace("&", "") == title]
        if not found:
            return None
        actions = found[0].menu().actions()
    return [a.text().replace("&", "") for a in actions]


def answer_age_dialog(years: int) -> bool:
    dialog = QtWidgets.QApplication.activeModalWidget()
    if not isinstance(dialog, QtWidgets.QInputDialog):
        return False
    dialog.setIntValue(years)
    dialog.accept()
    return True


def floating_messages() -> int:
    """Krita's on-canvas messages now shown (how the plugin says an edit stopped short)."""
    widgets = QtWidgets.QApplication.allWidgets()
    return sum(w.metaObject().className() == "KisFloatingMessage" for w in widgets)


def click(panel: Any, name: str) -> None:
    button = panel.findChild(QtWidgets.QPushButton, name)
    if not button.isEnabled():
        raise AssertionError(f"{name} is disabled")
    button.click()


def idle(panel: Any) -> bool:
    return panel.findChild(QtWidgets.QPushButton, "facesmith_apply").isEnabled()


def has_picture(label: Any) -> bool:
    pixmap = label.pixmap()
    return pixmap is not None and not pixmap.isNull()


def settled(document: Any) -> bool:
    """Wait for the document's running strokes (adding a layer, undoing) to finish."""
    document.waitForDone()
    return True


def undo_ready(app: Any, document: Any) -> bool:
    """The last change's undo step is on the stack: its stroke is done and Undo is enabled."""
    return settled(document) and app.action("edit_undo").isEnabled()


def names(document: Any) -> list[str]:
    return [n.name() for n in document.topLevelNodes() if n.type() != "selectionmask"]


class Driver(QtCore.QObject):
    """Runs ``script`` on a timer: each yielded step is polled until true (or times out)."""

    def __init__(self, out: str) -> None:
        super().__init__()
        self.out = out
        self.result: dict[str, Any] = {"errors": [], "error_boxes": []}
        chosen = import_script if os.environ.get("FACESMITH_SELFTEST_IMPORT") else script
        self.steps = chosen(self.result)
        self.step: Step | None = None
        self.since = self.last_tick = time.monotonic()
        self.result["ui_pauses_s"] = {}  # the longest gap between ticks while waiting, per step
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self.tick)
        self.timer.start(200)

    def tick(self) -> None:
        now = time.monotonic()
        gap, self.last_tick = now - self.last_tick, now
        if self.step is not None:  # a blocked UI thread shows as a long gap between ticks
            pauses = self.result["ui_pauses_s"]
            pauses[self.step[0]] = round(max(pauses.get(self.step[0], 0.0), gap), 2)
        try:
            self.close_error_boxes()
            if self.step is None or self.step[1]():
                self.step = next(self.steps)
                self.since = self.last_tick = time.monotonic()  # pauses: only while waiting
                print(f"facesmith self-test: waiting for {self.step[0]}", file=sys.stderr)
            elif time.monotonic() - self.since > STEP_TIMEOUT_S:
                raise TimeoutError(f"waited {STEP_TIMEOUT_S:.0f} s for {self.step[0]}")
        except StopIteration:
            self.finish()
        except Exception:
            self.result["errors"].append(traceback.format_exc())
            self.finish()

    def close_error_boxes(self) -> None:
        """A facesmith error box would wait for a user: record its text and close it; it is
        a failure unless the current step waits for one."""
        box = QtWidgets.QApplication.activeModalWidget()
        if box is not None and box.objectName() == "facesmith_error":
            self.result["error_boxes"].append(f"{box.text()}\n{box.informativeText()}")
            box.done(0)
            if self.step is None or not self.step[0].startswith("an error box"):
                raise AssertionError("facesmith showed an error")

    def finish(self) -> None:
        self.timer.stop()
        with open(self.out, "w") as file:
            json.dump(self.result, file, indent=1)
        for document in Krita.instance().documents():
            document.setModified(False)  # no "save changes?" question on quit
        # Krita's own Quit: QApplication.quit() makes Krita 5.1 crash on the way out
        QtCore.QTimer.singleShot(0, Krita.instance().action("file_quit").trigger)


if os.environ.get("FACESMITH_SELFTEST_FILE"):
    _driver = Driver(os.environ["FACESMITH_SELFTEST_FILE"])
