"""What the user is told after an edit, beside the pictures: the set and swap edits that
stopped at the end of their range, in words."""

from __future__ import annotations

from collections.abc import Sequence

from facesmith_client.events import ShortEdit
from facesmith_client.remote.client import ServerInfo


def face_notes(short: Sequence[ShortEdit], info: ServerInfo) -> list[str]:
    """A line per set or swap edit that stopped short on one face, in the edit's unit."""
    kinds = {e.name: e for e in info.edits}
    notes = []
    for s in short:
        edit = kinds.get(s.name)
        binary = edit is not None and edit.kind == "binary"
        notes.append(s.describe(binary, edit.unit if edit else ""))
    return notes


def short_edit_notes(short_edits: Sequence[Sequence[ShortEdit]], info: ServerInfo) -> list[str]:
    """``face_notes`` of each face of a photo, as "face 2: …" (faces numbered from 1 in the
    photo's order, left to right when detected)."""
    return [
        f"face {number}: {note}"
        for number, short in enumerate(short_edits, start=1)
        for note in face_notes(short, info)
    ]
