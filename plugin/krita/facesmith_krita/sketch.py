"""Face from sketch (menu and docker): the face the lines on the active layer show (only those
inside the selection, if there is one), as a new layer above it, where and as large as the
lines were drawn (clipped to the canvas). In three steps, as apply.py and new_face.py:

    plan = snapshot(document)               # main thread: the drawing's pixels and selection
    face = render(link, plan, follow, ...)  # any thread: only the worker
    layer = commit(plan, face)              # main thread: one new layer, one undo step

The drawing layer is only ever read. How closely the face follows the lines (0..1) is a
setting the docker shows and the menu action uses too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from facesmith_host import jobs
from facesmith_host.errors import WorkerError
from facesmith_host.link import WorkerLink

from . import layers, runtime
from .messages import run_with_progress, show_error

LABEL = "Face from sketch"
LAYER_NAME = "facesmith: face from sketch"
SETTINGS_GROUP, FOLLOW_KEY = "facesmith", "sketch_follow"  # in kritarc, as the docker's sliders


@dataclass(frozen=True)
class SketchPlan:
    """What a face from a sketch works on, captured on the main thread."""

    document: Any  # krita.Document
    source: Any  # krita.Node: the drawing's layer
    rect: layers.Rect  # where ``image`` lies in the document
    image: jobs.HostImage
    selection: jobs.Selection | None


def snapshot(document: Any) -> SketchPlan:
    """The active layer's pixels over its extent, or over the selection's bounds if there is
    a selection (with the selection's mask); the refusal to draw first if there is nothing."""
    if document is None:
        raise WorkerError("bad_request", "there is no image open", "Open or create an image first.")
    source = layers.source_layer(document)
    bounds = source.bounds()
    if bounds.isEmpty():
        raise jobs.no_lines()
    rect = (bounds.x(), bounds.y(), bounds.width(), bounds.height())
    selection = document.selection()
    if selection is not None and selection.width() > 0 and selection.height() > 0:
        inside = intersection(
            rect, (selection.x(), selection.y(), selection.width(), selection.height())
        )
        if inside is None:  # no lines inside the selection
            raise jobs.no_lines()
        rect = inside
    image = layers.read_image(source, rect)
    return SketchPlan(document, source, rect, image, layers.read_selection(document, rect))


def intersection(a: layers.Rect, b: layers.Rect) -> layers.Rect | None:
    """The part of ``a`` inside ``b`` (x, y, width, height), or None if they do not meet."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None


def render(
    link: WorkerLink,
    plan: SketchPlan,
    follow: float = jobs.DEFAULT_FOLLOW,
    edits: Sequence[jobs.EditLike] = (),
    on_progress: jobs.ProgressFn | None = None,
) -> jobs.NewFace:
    """The face, clipped to the canvas (no Krita calls: any thread)."""
    jobs.server_info(link).check_sketch()
    x, y, _, _ = plan.rect
    canvas = (-x, -y, plan.document.width(), plan.document.height())  # from the drawing's corner
    return jobs.sketch(link, plan.image, follow, edits=edits, selection=plan.selection,
                       canvas=canvas, on_progress=on_progress)  # fmt: skip


def commit(plan: SketchPlan, face: jobs.NewFace) -> Any:
    """Put the face on a new paint layer directly above the drawing → that layer."""
    x, y, _, _ = plan.rect
    image = face.image
    where = (x + face.left, y + face.top, image.width, image.height)
    layer = layers.detached_layer(plan.document, plan.source, LAYER_NAME, bytes(image.data),
                                  where)  # fmt: skip
    layers.add_above(plan.source, layer)
    plan.document.refreshProjection()
    return layer


def face_from_sketch(
    document: Any,
    link: WorkerLink,
    follow: float = jobs.DEFAULT_FOLLOW,
    edits: Sequence[jobs.EditLike] = (),
) -> Any:
    """Snapshot, render and commit in the calling (main) thread → the new layer."""
    plan = snapshot(document)
    return commit(plan, render(link, plan, follow, edits))


def remembered_follow() -> float:
    """The follow setting last chosen in the docker (kritarc), else the default."""
    from krita import Krita

    text = Krita.instance().readSetting(SETTINGS_GROUP, FOLLOW_KEY, str(jobs.DEFAULT_FOLLOW))
    try:
        value = float(text)
    except ValueError:
        return jobs.DEFAULT_FOLLOW
    return min(max(value, 0.0), 1.0) if math.isfinite(value) else jobs.DEFAULT_FOLLOW


def remember_follow(value: float) -> None:
    from krita import Krita

    Krita.instance().writeSetting(SETTINGS_GROUP, FOLLOW_KEY, f"{value:g}")


def start_face_from_sketch(*_: object) -> None:
    """The menu's and the docker's action: the face made in the background, under a progress
    window with Cancel; errors in a message box."""
    from krita import Krita

    try:
        plan = snapshot(Krita.instance().activeDocument())
        link = runtime.shared_link()
    except WorkerError as err:
        show_error(err)
        return
    follow = remembered_follow()

    def work(progress: jobs.ProgressFn) -> jobs.NewFace:
        return render(link, plan, follow, on_progress=progress)

    run_with_progress(LABEL, work, lambda face: commit(plan, face))
