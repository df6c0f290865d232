"""The faces found in the layer, as thumbnails to tick: only ticked faces are edited."""

from __future__ import annotations

from typing import Any

from facesmith_host.jobs import FaceBox

from .qt import Qt, QtCore, QtGui, QtWidgets

ICON = 72  # px


class FaceList(QtWidgets.QListWidget):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("facesmith_faces")
        self.setViewMode(QtWidgets.QListView.ViewMode.IconMode)
        self.setIconSize(QtCore.QSize(ICON, ICON))
        self.setResizeMode(QtWidgets.QListView.ResizeMode.Adjust)
        self.setMovement(QtWidgets.QListView.Movement.Static)
        self.setFixedHeight(ICON + 44)
        self.setFlow(QtWidgets.QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self._faces: list[FaceBox] = []

    def show_faces(self, faces: list[FaceBox], pictures: list[Any]) -> None:
        """``pictures``: a QImage per face. Faces outside the selection start unticked."""
        self.clear()
        self._faces = list(faces)
        for face, picture in zip(faces, pictures, strict=True):
            item = QtWidgets.QListWidgetItem(
                QtGui.QIcon(QtGui.QPixmap.fromImage(picture)), f"face {face.index + 1}"
            )
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            ticked = Qt.CheckState.Checked if face.in_selection else Qt.CheckState.Unchecked
            item.setCheckState(ticked)
            item.setToolTip(f"score {face.score:.2f}")
            self.addItem(item)

    def forget(self) -> None:
        self.clear()
        self._faces = []

    def found(self) -> list[FaceBox]:
        return list(self._faces)

    def ticked(self) -> list[FaceBox]:
        return [
            face
            for row, face in enumerate(self._faces)
            if self.item(row).checkState() == Qt.CheckState.Checked
        ]
