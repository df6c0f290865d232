"""Apply an edit in three steps, so the slow middle one can run off the UI thread:

    snap = snapshot(document)          # main thread: read the layer and the selection
    outcome = render(link, snap, ...)  # any thread: no Krita calls, only the worker
    layer = commit(snap, outcome, ...) # main thread: one new layer above the source

``apply_edits`` runs all three in a row (scripts and the tests use it). The source layer is
only ever read; nothing touches the document before ``commit`` has a complete result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from facesmith_host import jobs
from facesmith_host.errors import WorkerError
from facesmith_host.link import WorkerLink

from . import layers

Edits = Sequence[jobs.EditLike]


@dataclass(frozen=True)
class Snapshot:
    """What an edit works on, captured on the main thread."""

    document: Any  # krita.Document
    source: Any  # krita.Node
    rect: layers.Rect  # where ``image`` lies in the document (the source's extent)
    image: jobs.HostImage
    selection: jobs.Selection | None


def snapshot(document: Any) -> Snapshot:
    if document is None:
        raise WorkerError("bad_request", "there is no image open", "Open a photo first.")
    source = layers.source_layer(document)
    rect = layers.extent(source)
    image = layers.read_image(source, rect)
    return Snapshot(document, source, rect, image, layers.read_selection(document, rect))


def render(
    link: WorkerLink,
    snap: Snapshot,
    edits: Edits,
    *,
    faces: Sequence[jobs.FaceBox] | None = None,
    preview: bool = False,
    fast: bool = False,
    on_progress: jobs.ProgressFn | None = None,
) -> jobs.EditOutcome:
    """The edited pixels of ``snap`` (every face, or ``faces``; inside the selection if any);
    ``fast``: in one pass by the pack's students."""
    outcome = jobs.edit(
        link,
        snap.image,
        edits,
        faces=faces,
        selection=snap.selection,
        preview=preview,
        fast=fast,
        on_progress=on_progress,
    )
    if outcome.faces_edited == 0:
        where = " inside the selection" if snap.selection is not None else ""
        raise WorkerError(
            "no_face",
            f"no face was edited: none found{where}",
            "Select an area with a face in it, or use a photo with a face at least 40 px wide.",
        )
    return outcome


def commit(snap: Snapshot, outcome: jobs.EditOutcome, edits: Edits) -> Any:
    """Add the result as a new paint layer directly above the source → the new layer."""
    name, data = jobs.layer_name(edits), bytes(outcome.data)
    layer = layers.detached_layer(snap.document, snap.source, name, data, snap.rect)
    layers.add_above(snap.source, layer)
    return layer


def apply_edits(
    document: Any,
    link: WorkerLink,
    edits: Edits,
    *,
    faces: Sequence[jobs.FaceBox] | None = None,
    fast: bool = False,
    on_progress: jobs.ProgressFn | None = None,
) -> Any:
    """Snapshot, render and commit in the calling (main) thread → the new layer."""
    snap = snapshot(document)
    outcome = render(link, snap, edits, faces=faces, fast=fast, on_progress=on_progress)
    return commit(snap, outcome, edits)
