"""A trained encoder into a pack: its e4e.pt (fp16, without the generator copy) and manifest
entry, every other file kept. The pack's edits and their models stay as fitted: the edits
live in the generator's W+, which any encoder of that generator inverts into; the models that
read photos are refitted on the new encoder's codes by `train refit-models`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from facesmith.files import sha256_file
from facesmith_server.model.pack import FileEntry, Manifest
from facesmith_train.pack.build import write_fp16_encoder
from facesmith_train.pack.staged import ChangeDoesNotLoad, update_pack


def install_encoder(pack_root: Path, e4e: Path) -> FileEntry:
    """Write the encoder of ``e4e`` (an e4e file of `train encoder`) as the pack's encoder.
    ValueError, with the pack left as it was, if the pack cannot be read or does not load
    with it (another generator's encoder: a different number of W+ layers)."""

    def change(root: Path, manifest: Manifest) -> Manifest:
        path = root / manifest.encoder.path
        write_fp16_encoder(e4e, path)
        entry = dataclasses.replace(
            manifest.encoder, sha256=sha256_file(path), size=path.stat().st_size
        )
        return dataclasses.replace(manifest, encoder=entry)

    try:
        return update_pack(pack_root, change).encoder
    except ChangeDoesNotLoad as err:
        raise ValueError(f"{e4e} does not fit the pack {pack_root}: {err}") from None
