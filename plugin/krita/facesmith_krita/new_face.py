"""New random face (menu and docker): a face that does not exist, as a new layer holding the
face as large as fits the selection (or the whole canvas), centred in it. In three steps, as
apply.py:

    plan = place(document, seed)            # main thread: where, and the layer's pixel layout
    face = render(link, plan, ...)          # any thread: only the worker
    layer = commit(plan, face)              # main thread: one new layer, one undo step
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from facesmith_host import jobs
from facesmith_host.errors import WorkerError
from facesmith_host.link import WorkerLink

from . import layers, runtime
from .messages import run_with_progress, show_error


@dataclass(frozen=True)
class FacePlan:
    document: Any  # krita.Document
    layer: Any  # krita.Node: the new layer, not yet in the layer tree
    rect: layers.Rect
    seed: int
    dtype: str
    order: str


def random_seed() -> int:
    return random.randrange(jobs.MAX_SEED + 1)


def place(document: Any, seed: int) -> FacePlan:
    """Where the face goes (the selection's bounds, else the canvas) and its new layer."""
    if document is None:
        raise WorkerError("bad_request", "there is no image open", "Open or create an image first.")
    selection = document.selection()
    if selection is not None and selection.width() > 0 and selection.height() > 0:
        rect = (selection.x(), selection.y(), selection.width(), selection.height())
    else:
        rect = (0, 0, document.width(), document.height())
    layer = document.createNode(f"facesmith: face {seed}", "paintlayer")
    dtype, order, _ = layers.pixel_layout(layer)
    return FacePlan(document, layer, rect, seed, dtype, order)


def render(
    link: WorkerLink,
    plan: FacePlan,
    edits: Sequence[jobs.EditLike] = (),
    on_progress: jobs.ProgressFn | None = None,
) -> jobs.NewFace:
    _, _, width, height = plan.rect
    return jobs.generate(link, plan.seed, width, height, dtype=plan.dtype, order=plan.order,
                         edits=edits, on_progress=on_progress)  # fmt: skip


def commit(plan: FacePlan, face: jobs.NewFace) -> Any:
    """Fill the new layer and put it above the active layer (or on top) → the layer."""
    x, y, _, _ = plan.rect
    image = face.image
    plan.layer.setPixelData(bytes(image.data), x + face.left, y + face.top, image.width,
                            image.height)  # fmt: skip
    active = plan.document.activeNode()
    if active is not None and active.parentNode() is not None:
        layers.add_above(active, plan.layer)
    else:
        root = plan.document.rootNode()
        children = root.childNodes()
        if not root.addChildNode(plan.layer, children[-1] if children else None):
            raise WorkerError("internal", "Krita refused to add the new layer")
    plan.document.refreshProjection()
    return plan.layer


def new_face(
    document: Any, link: WorkerLink, seed: int, edits: Sequence[jobs.EditLike] = ()
) -> Any:
    """Place, render and commit in the calling (main) thread → the new layer."""
    plan = place(document, seed)
    return commit(plan, render(link, plan, edits))


def start_new_face(*_: object) -> None:
    """The menu's and the docker's action: a random seed, the face made in the background."""
    from krita import Krita

    try:
        plan = place(Krita.instance().activeDocument(), random_seed())
        link = runtime.shared_link()
    except WorkerError as err:
        show_error(err)
        return

    def work(progress: jobs.ProgressFn) -> jobs.NewFace:
        return render(link, plan, on_progress=progress)

    run_with_progress("New random face", work, lambda face: commit(plan, face))
