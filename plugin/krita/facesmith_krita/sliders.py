"""One slider per edit the server's model pack offers, in the pack's own range, under a
heading per group (age, hair, expression, ...), and "Swap gender" where the pack can."""

from __future__ import annotations

from typing import Any

from facesmith_host.jobs import EditLike, EditRange, HostEdit, group_edits

from .qt import Qt, QtWidgets, Signal

STEPS = 100  # slider positions across an edit's range


class EditSliders(QtWidgets.QWidget):
    changed = Signal()  # a slider moved or the swap was ticked

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._form = QtWidgets.QFormLayout(self)
        self._form.setContentsMargins(0, 0, 0, 0)
        self._rows: list[tuple[EditRange, QtWidgets.QSlider, QtWidgets.QLabel]] = []
        self._swap: Any = None  # the "Swap gender" check box, when the pack can swap

    def set_ranges(self, ranges: tuple[EditRange, ...]) -> None:
        while self._form.rowCount():
            self._form.removeRow(0)
        self._rows, self._swap = [], None
        for group, edits in group_edits(ranges):
            if group:
                heading = QtWidgets.QLabel(f"<b>{group.capitalize()}</b>")
                self._form.addRow(heading)
            self._rows += [self._add_row(edit) for edit in edits]
        if any(e.name == "gender" and e.swappable for e in ranges):
            self._swap = QtWidgets.QCheckBox("Swap gender")
            self._swap.setObjectName("facesmith_swap_gender")
            self._swap.setToolTip("Mirror each face across the gender boundary")
            self._swap.toggled.connect(lambda _on: self.changed.emit())
            self._form.addRow(self._swap)

    def values(self) -> list[EditLike]:
        """The swap if ticked, then (edit, strength) for every slider away from zero (the
        gender slider is left out while swapping)."""
        swap = self._swap is not None and self._swap.isChecked()
        chosen: list[EditLike] = [HostEdit("gender", mode="swap")] if swap else []
        for edit, slider, _ in self._rows:
            value = _value(edit, slider.value())
            if value != 0 and not (swap and edit.name == "gender"):
                chosen.append((edit.name, value))
        return chosen

    def ranges(self) -> list[EditRange]:
        return [edit for edit, _, _ in self._rows]

    def settings(self) -> dict[str, float]:
        """Every slider's strength and the swap (1 or 0), by name: what the docker keeps."""
        saved = {edit.name: _value(edit, slider.value()) for edit, slider, _ in self._rows}
        if self._swap is not None:
            saved["swap_gender"] = float(self._swap.isChecked())
        return saved

    def restore(self, saved: dict[str, float]) -> None:
        """Put back ``settings()`` of an earlier session (names the pack lacks are ignored,
        strengths are kept within each edit's range)."""
        for edit, slider, _ in self._rows:
            value = saved.get(edit.name)
            if isinstance(value, (int, float)):
                slider.setValue(_position(edit, min(max(float(value), edit.min), edit.max)))
        if self._swap is not None and "swap_gender" in saved:
            self._swap.setChecked(bool(saved["swap_gender"]))

    def reset(self) -> None:
        for edit, slider, _ in self._rows:
            slider.setValue(_position(edit, edit.default))
        if self._swap is not None:
            self._swap.setChecked(False)

    def _add_row(self, edit: EditRange) -> tuple[EditRange, QtWidgets.QSlider, QtWidgets.QLabel]:
        slider = QtWidgets.QSlider(Qt.Orientation.Horizontal)
        slider.setObjectName(f"facesmith_slider_{edit.name}")
        slider.setRange(0, STEPS)
        slider.setToolTip(edit.description or edit.name)
        shown = QtWidgets.QLabel()
        shown.setMinimumWidth(40)
        shown.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        slider.setValue(_position(edit, edit.default))
        slider.valueChanged.connect(lambda pos: shown.setText(f"{_value(edit, pos):+g}"))
        slider.valueChanged.connect(lambda _pos: self.changed.emit())
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
