"""Changing a pack in place safely: the change is made in a copy that replaces the pack only
once it loads, so a failure or a kill before the final two renames leaves the pack as it was
(between them, the old pack lies whole beside it as `NAME.old`)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from facesmith_server.errors import PackError
from facesmith_server.model.pack import (
    MANIFEST_NAME,
    Manifest,
    load_pack,
    parse_manifest,
    read_manifest_json,
)


class ChangeDoesNotLoad(ValueError):
    """The pack, changed, no longer loads (it was left as it was)."""


def update_pack(pack_root: Path, change: Callable[[Path, Manifest], Manifest]) -> Manifest:
    """Apply ``change(staging_root, manifest) -> new manifest`` (it may rewrite files under
    the staging root) and swap the result in. ValueError if the pack cannot be read,
    ChangeDoesNotLoad if it does not load after the change; the pack unchanged either way."""
    try:
        manifest = parse_manifest(read_manifest_json(pack_root))
    except PackError as err:
        raise ValueError(f"--pack: {err}") from None
    staging = pack_root.with_name(pack_root.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(pack_root, staging)
    try:
        updated = change(staging, manifest)
        (staging / MANIFEST_NAME).write_text(updated.to_json(), encoding="utf-8")
        load_pack(staging, "cpu")
    except (PackError, KeyError) as err:  # KeyError: a file of the wrong kind
        shutil.rmtree(staging)
        raise ChangeDoesNotLoad(
            f"the pack {pack_root} does not load after the change: {err}"
        ) from None
    except BaseException:
        shutil.rmtree(staging)
        raise
    _swap_in(staging, pack_root)
    return updated


def _swap_in(staging: Path, pack_root: Path) -> None:
    """Two renames: the old pack stays whole under `.old` until the new one is in place."""
    old = pack_root.with_name(pack_root.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    pack_root.rename(old)
    staging.rename(pack_root)
    shutil.rmtree(old)
