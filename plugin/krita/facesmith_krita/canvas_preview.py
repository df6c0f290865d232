"""The docker's preview on the canvas: a layer directly above the source that shows the edited
photo while the artist moves the sliders, hidden to compare with the original, and gone on
Apply, Cancel, closing the docker or switching documents. Main thread only.

Krita's scripting API adds a layer as an undo step and has no layer outside the undo history
(Krita 5.1), so the preview's own step is taken back the way it came: by undoing it, which
also restores the document's "modified" state. That is only done while that step is still the
last one of the active document (the undo action still names it and undoing it removes our
layer); otherwise the layer is removed, which leaves the document as it was plus two history
entries. Updating the pixels and hiding the layer are no undo steps.
"""

from __future__ import annotations

from typing import Any

from krita import Krita

from . import layers
from .apply import Snapshot
from .qt import QtCore

LAYER_NAME = "facesmith preview (not applied)"


class CanvasPreview:
    def __init__(self) -> None:
        self._document: Any = None
        self._source: Any = None
        self._rect: layers.Rect | None = None
        self._layer: Any = None
        self._adding = False  # waiting for Krita to add the layer (events run meanwhile)
        self._undo_text = ""  # the undo action's text right after the preview layer was added

    def showing(self) -> bool:
        return self._layer is not None and (self._adding or self._layer.parentNode() is not None)

    def show(self, snap: Snapshot, data: bytes) -> None:
        """Show ``data`` (the edited ``snap.image``) above ``snap.source``: in the preview
        layer already there, or in a new one."""
        if self.showing() and (self._document, self._source, self._rect) == (
            snap.document, snap.source, snap.rect,
        ):  # fmt: skip
            x, y, width, height = snap.rect
            self._layer.setPixelData(data, x, y, width, height)
            self._layer.setVisible(True)
            snap.document.refreshProjection()
            return
        self.remove()
        layer = layers.detached_layer(snap.document, snap.source, LAYER_NAME, data, snap.rect)
        self._document, self._source, self._rect, self._layer = (
            snap.document, snap.source, snap.rect, layer,
        )  # fmt: skip
        self._undo_text, self._adding = "", True
        try:
            layers.add_above(snap.source, layer)
            snap.document.waitForDone()  # the add is a stroke; its undo step exists after it
        finally:
            self._adding = False
        QtCore.QTimer.singleShot(0, self._after_add)  # what follows an add comes queued

    def _after_add(self) -> None:
        """Note the undo action's text for our step and give the artist's layer back the
        focus Krita gave the new layer."""
        if self.showing():
            self._undo_text = _action("edit_undo").text()
            self.hand_back_source(self._document)

    def hand_back_source(self, document: Any) -> None:
        """Make the source the active layer again where the preview layer (or no layer) is,
        so that the next edit reads the photo, not its preview."""
        if self.showing() and document is not None and document == self._document:
            active = document.activeNode()
            if active is None or active == self._layer:
                document.setActiveNode(self._source)

    def show_before(self, before: bool) -> None:
        """Hide the preview (the original shows) or show it again."""
        if self.showing():
            self._layer.setVisible(not before)
            self._document.refreshProjection()

    def remove(self) -> None:
        """Take the preview layer away without leaving an undo step where that can be done."""
        layer, document = self._layer, self._document
        if self._adding:  # asked from inside show()'s wait: let the add finish first
            document.waitForDone()
        self._layer = self._document = self._source = self._rect = None
        if layer is None or layer.parentNode() is None:
            return  # never shown, or the artist undid it already
        if _undo_own_step(document, layer, self._undo_text):
            return
        layer.remove()
        document.waitForDone()
        document.refreshProjection()


def _undo_own_step(document: Any, layer: Any, undo_text: str) -> bool:
    """Undo the preview layer's add if it is the active document's last step → whether it was
    (a later step of the same name that was not ours is redone at once)."""
    if Krita.instance().activeDocument() != document or _action("edit_undo").text() != undo_text:
        return False
    _action("edit_undo").trigger()
    document.waitForDone()
    if layer.parentNode() is None:
        return True
    _action("edit_redo").trigger()
    document.waitForDone()
    return False


def _action(name: str) -> Any:
    return Krita.instance().action(name)
