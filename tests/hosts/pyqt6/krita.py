"""A stand-in for Krita's `krita` module (tests only): just what facesmith_krita calls while it
registers and builds its docker, so the plugin can be loaded under PyQt6 (Krita 6's Qt) where
no Krita 6 is installed."""

from __future__ import annotations

from typing import Any

from PyQt6 import QtGui, QtWidgets


class Extension:
    def __init__(self, parent: Any = None) -> None:
        self.parent = parent


class DockWidget(QtWidgets.QDockWidget):
    def canvasChanged(self, canvas: Any) -> None:
        pass


class DockWidgetFactoryBase:
    class DockPosition:
        DockRight = 2


class DockWidgetFactory:
    def __init__(self, name: str, position: int, make: Any) -> None:
        self.name, self.make = name, make


class Window:
    def __init__(self) -> None:
        self.main = QtWidgets.QMainWindow()
        self.actions: dict[str, Any] = {}

    def createAction(self, name: str, text: str, menu: str) -> Any:
        action = QtGui.QAction(text, self.main)
        self.actions[name] = (text, menu)
        return action

    def qwindow(self) -> Any:
        return self.main


class Krita:
    _app: Krita | None = None

    def __init__(self) -> None:
        self.extensions: list[Any] = []
        self.factories: list[DockWidgetFactory] = []
        self.settings: dict[tuple[str, str], str] = {}

    @classmethod
    def instance(cls) -> Krita:
        if cls._app is None:
            cls._app = Krita()
        return cls._app

    def addExtension(self, extension: Any) -> None:
        self.extensions.append(extension)

    def addDockWidgetFactory(self, factory: DockWidgetFactory) -> None:
        self.factories.append(factory)

    def activeDocument(self) -> None:
        return None

    def activeWindow(self) -> None:
        return None

    def readSetting(self, group: str, name: str, default: str) -> str:
        return self.settings.get((group, name), default)

    def writeSetting(self, group: str, name: str, value: str) -> None:
        self.settings[(group, name)] = value
