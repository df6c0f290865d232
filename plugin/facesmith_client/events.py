"""Typed messages that a client call reports to its caller (CLI, worker, host adapter UI).

A streaming call yields ``Progress`` events and ends with one ``Result``; failures raise
``ClientError``, whose ``event()`` is the matching ``Error`` message for a UI queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: `facesmith --help` must not import numpy
    import numpy as np


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` units of ``stage`` ("encode", "refine", "render") are finished."""

    stage: str
    done: int
    total: int
    loss: float = 0.0  # current reconstruction loss while refining, else 0

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total > 0 else 0.0


@dataclass(frozen=True)
class ShortEdit:
    """A set or swap edit that stopped at the end of its direction's range on one face:
    where it was to take the face and where the attribute's model puts it, in the attribute's
    unit (years, ...) or as a probability for a yes/no attribute."""

    name: str
    mode: str  # "set" | "swap"
    goal: float
    reached: float

    def describe(self, binary: bool, unit: str = "") -> str:
        """For the user: ``binary`` for a yes/no attribute (values are probabilities), else
        values are in ``unit``."""
        edit = f"{self.name} swap" if self.mode == "swap" else self.name
        asked = "it aims at" if self.mode == "swap" else "asked for"
        if binary:
            reached, goal = f"a probability of {self.reached:.2f}", f"{self.goal:.2f}"
        else:
            unit = f" {unit}" if unit else ""
            reached, goal = f"{self.reached:.0f}{unit}", f"{self.goal:.0f}"
        return (f"{edit} stopped at {reached} by the pack's {self.name} model, short of the "
                f"{goal} {asked}: the end of the edit's range")  # fmt: skip


@dataclass(frozen=True)
class FaceResult:
    """What the server returned for one face; fields the call did not ask for are None.

    ``image`` and ``reconstruction`` are r x r x 3 RGB arrays in the dtype requested from the
    server (pixels conventions); ``latent`` is [num_ws, dim] float32.
    """

    handle: str = ""  # cache handle for later Render calls ("" when the server gave none)
    latent: np.ndarray | None = None
    image: np.ndarray | None = None  # the edited (or rendered) face
    reconstruction: np.ndarray | None = None  # the same face rendered without edits
    short_edits: tuple[ShortEdit, ...] = ()  # set / swap edits that stopped short on it


@dataclass(frozen=True)
class Result:
    """The final event of a call: one entry per face, in request order."""

    faces: tuple[FaceResult, ...]


@dataclass(frozen=True)
class Error:
    """A failure as a message: ``code`` is short and stable (e.g. "unavailable"),
    ``message`` is for the user and says what to do next."""

    code: str
    message: str


Event = Progress | Result | Error
