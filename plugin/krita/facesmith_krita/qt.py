"""The one place that knows which PyQt the host ships: PyQt5 (Krita 5) or PyQt6 (Krita 6).

The rest of the plugin imports Qt from here and spells enums in their scoped form
(``Qt.Orientation.Horizontal``), which both versions accept, and calls ``exec()``, not
``exec_()``.
"""

from __future__ import annotations

try:
    from PyQt5 import QtCore, QtGui, QtWidgets

    QT_MAJOR = 5
except ImportError:  # Krita 6
    from PyQt6 import QtCore, QtGui, QtWidgets

    QT_MAJOR = 6

Qt = QtCore.Qt
Signal = QtCore.pyqtSignal

__all__ = ["QT_MAJOR", "Qt", "QtCore", "QtGui", "QtWidgets", "Signal"]
