"""The project's chosen full strengths (`pack.run.EDITS`) written into an existing pack, so a
pack fitted before a range was re-chosen offers the new one without refitting its edits."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from facesmith_server.model.pack import Manifest
from facesmith_train.pack.run import EDITS
from facesmith_train.pack.staged import update_pack


def apply_ranges(pack_root: Path) -> dict[str, tuple[float, float]]:
    """Set each of the pack's directions named in EDITS to [-limit, limit]; the others and
    every file stay as they were. Returns the new range of each direction changed."""
    limits = {spec.name: spec.limit for spec in EDITS}
    changed: dict[str, tuple[float, float]] = {}

    def change(_root: Path, manifest: Manifest) -> Manifest:
        directions = dict(manifest.directions)
        for key, entry in directions.items():
            if key in limits and (entry.min, entry.max) != (-limits[key], limits[key]):
                directions[key] = dataclasses.replace(entry, min=-limits[key], max=limits[key])
                changed[key] = (-limits[key], limits[key])
        return dataclasses.replace(manifest, directions=directions)

    update_pack(pack_root, change)
    return changed
