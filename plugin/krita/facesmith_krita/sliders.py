"""One slider per edit the server's model pack offers, in the pack's own range."""

from __future__ import annotations

from typing import Any

from facesmith_host.jobs import EditRange

from .qt import Qt, QtWidgets

STEPS = 100  # slider positions across an edit's range


class EditSliders(QtWidgets.QWidget):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._form = QtWidgets.QFormLayout(self)
        self._form.setContentsMargins(0, 0, 0, 0)
        self._rows: list[tuple[EditRange, QtWidgets.QSlider, QtWidgets.QLabel]] = []

    def set_ranges(self, ranges: tuple[EditRange, ...]) -> None:
        while self._form.rowCount():
            self._form.removeRow(0)
        self._rows = [self._add_row(edit) for edit in ranges]

    def values(self) -> list[tuple[str, float]]:
        """(edit, strength) for every slider away from zero."""
        chosen = [(edit.name, _value(edit, slider.value())) for edit, slider, _ in self._rows]
        return [(name, value) for name, value in chosen if value != 0]

    def ranges(self) -> list[EditRange]:
        return [edit for edit, _, _ in self._rows]

    def reset(self) -> None:
        for edit, slider, _ in self._rows:
            slider.setValue(_position(edit, edit.default))

    def _add_row(self, edit: EditRange) -> tuple[EditRange, QtWidgets.QSlider, QtWidgets.QLabel]:
        slider = QtWidgets.QSlider(Qt.Orientation.Horizontal)
        slider.setObjectName(f"facesmith_slider_{edit.name}")
        slider.setRange(0, STEPS)
        slider.setToolTip(edit.description or edit.name)
        shown = QtWidgets.QLabel()
        shown.setMinimumWidth(40)
        shown.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        slider.valueChanged.connect(lambda pos: shown.setText(f"{_value(edit, pos):+g}"))
        slider.setValue(_position(edit, edit.default))
        shown.setText(f"{_value(edit, slider.value()):+g}")
        row = QtWidgets.QHBoxLayout()
        row.addWidget(slider, 1)
        row.addWidget(shown)
        self._form.addRow(edit.name, row)
        return edit, slider, shown


def _value(edit: EditRange, position: int) -> float:
    """Slider position → strength, rounded (readable layer names: "age +20", not +19.999…)."""
    return round(edit.min + position * (edit.max - edit.min) / STEPS, 2) + 0.0  # 0.0: no "-0"


def _position(edit: EditRange, value: float) -> int:
    if edit.max <= edit.min:
        return 0
    return round((value - edit.min) / (edit.max - edit.min) * STEPS)
