"""A trained sketch encoder into a pack: sketch_encoder.pt (fp16) and its manifest entry (the
manifest rewritten atomically, every other entry kept)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import torch

from facesmith.files import atomic_write, sha256_file
from facesmith_server.model.encoder import Encoder4Editing
from facesmith_server.model.pack import (
    MANIFEST_NAME,
    FileEntry,
    parse_manifest,
    read_manifest_json,
)
from facesmith_server.model.sketch_encoder import (
    SKETCH_ENCODER_FORMAT,
    load_sketch_encoder,
    save_sketch_encoder,
)

FILE_NAME = "sketch_encoder.pt"
SOURCE = "trained by facesmith (facesmith train sketch) on sketches of the pack's faces"


def install_sketch_encoder(
    pack_root: Path, network: Encoder4Editing, latent_avg: torch.Tensor
) -> FileEntry:
    """Write ``network`` as PACK/sketch_encoder.pt and name it in the manifest (replacing one
    there). It inherits the pack's licence: the pack's generator and data taught it."""
    manifest = parse_manifest(read_manifest_json(pack_root))
    buffer = io.BytesIO()
    save_sketch_encoder(buffer, network, latent_avg)
    path = pack_root / FILE_NAME
    atomic_write(path, buffer.getvalue())
    licence = manifest.generator.license or manifest.license
    entry = FileEntry(FILE_NAME, SKETCH_ENCODER_FORMAT, sha256_file(path), path.stat().st_size,
                      SOURCE, licence)  # fmt: skip
    updated = dataclasses.replace(manifest, sketch_encoder=entry)
    atomic_write(pack_root / MANIFEST_NAME, updated.to_json().encode("utf-8"))
    return entry


def load_installed(pack_root: Path) -> Encoder4Editing:
    """The pack's sketch encoder (to continue its training)."""
    return load_sketch_encoder(pack_root / FILE_NAME, torch.device("cpu")).network
