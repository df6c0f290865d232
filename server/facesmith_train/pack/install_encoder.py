"""A trained encoder into a pack: its e4e.pt (fp16, without the generator copy) and manifest
entry, every other file kept. The pack's edits and their models stay as fitted: they live in
the generator's W+, which any encoder of that generator inverts into (`train pack` refits the
photos' models on a new encoder's codes)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from facesmith.files import atomic_write, sha256_file
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
    ValueError, with the pack left as it was, if the pack does not load with it (another
    generator's encoder: a different number of W+ layers)."""
    manifest_path = pack_root / MANIFEST_NAME
    try:
        manifest = parse_manifest(read_manifest_json(pack_root))
    except PackError as err:
        raise ValueError(f"--pack: {err}") from None
    path = pack_root / manifest.encoder.path
    old_bytes, old_manifest = path.read_bytes(), manifest_path.read_bytes()
    try:
        write_fp16_encoder(e4e, path)
        entry = dataclasses.replace(
            manifest.encoder, sha256=sha256_file(path), size=path.stat().st_size
        )
        updated = dataclasses.replace(manifest, encoder=entry)
        atomic_write(manifest_path, updated.to_json().encode("utf-8"))
        load_pack(pack_root, "cpu")
    except (PackError, KeyError) as err:  # KeyError: not an e4e file
        _restore(path, old_bytes, manifest_path, old_manifest)
        raise ValueError(f"{e4e} does not fit the pack {pack_root}: {err}") from None
    except BaseException:
        _restore(path, old_bytes, manifest_path, old_manifest)
        raise
    return entry


def _restore(path: Path, old_bytes: bytes, manifest_path: Path, old_manifest: bytes) -> None:
    atomic_write(path, old_bytes)
    atomic_write(manifest_path, old_manifest)
