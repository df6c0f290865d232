"""A trained encoder into a pack: its e4e.pt (fp16, without the generator copy) and manifest
entry, every other file kept. The pack's edits and their models stay as fitted: they live in
the generator's W+, which any encoder of that generator inverts into (`train pack` refits the
photos' models on a new encoder's codes)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from facesmith.files import sha256_file
from facesmith_server.errors import PackError
from facesmith_server.model.pack import (
    MANIFEST_NAME,
    FileEntry,
    load_pack,
    parse_manifest,
    read_manifest_json,
)
from facesmith_train.pack.build import write_fp16_encoder


def install_encoder(pack_root: Path, e4e: Path) -> FileEntry:
    """Write the encoder of ``e4e`` (an e4e file of `train encoder`) as the pack's encoder.
    The change is made in a copy of the pack that replaces it only once it loads, so a failure
    or a kill at any point leaves the pack as it was. ValueError if the pack does not load with
    the encoder (another generator's encoder: a different number of W+ layers)."""
    try:
        manifest = parse_manifest(read_manifest_json(pack_root))
    except PackError as err:
        raise ValueError(f"--pack: {err}") from None
    staging = pack_root.with_name(pack_root.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(pack_root, staging)
    try:
        path = staging / manifest.encoder.path
        write_fp16_encoder(e4e, path)
        entry = dataclasses.replace(
            manifest.encoder, sha256=sha256_file(path), size=path.stat().st_size
        )
        updated = dataclasses.replace(manifest, encoder=entry)
        (staging / MANIFEST_NAME).write_text(updated.to_json(), encoding="utf-8")
        load_pack(staging, "cpu")
    except (PackError, KeyError) as err:  # KeyError: not an e4e file
        shutil.rmtree(staging)
        raise ValueError(f"{e4e} does not fit the pack {pack_root}: {err}") from None
    except BaseException:
        shutil.rmtree(staging)
        raise
    _swap_in(staging, pack_root)
    return entry


def _swap_in(staging: Path, pack_root: Path) -> None:
    """Two renames: the old pack stays whole under `.old` until the new one is in place."""
    old = pack_root.with_name(pack_root.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    pack_root.rename(old)
    staging.rename(pack_root)
    shutil.rmtree(old)
