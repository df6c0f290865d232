"""Z-space boundaries (e.g. InterFaceGAN's ``stylegan2_ffhq_z``) turned into W directions of a
pack, by regression through the pack's own mapping network (see ``discover.z_to_w``).

Only the mapping network runs, so converting a boundary of the 1024 px generator takes
seconds on a CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facesmith.files import sha256_file
from facesmith_server.latent.discover import ProgressFn, Provenance, write_direction, z_to_w
from facesmith_server.model.checkpoints import load_generator
from facesmith_server.model.generator import Generator
from facesmith_server.model.pack import DirectionEntry, read_manifest_json, resolve_inside

DEFAULT_SAMPLES = 10000
Z_UNITS = "1 = one standard deviation of the Z boundary's score"


@dataclass(frozen=True)
class ZTarget:
    """Where a converted boundary goes, and how it is described there."""

    name: str
    range: tuple[float, float] = (-3.0, 3.0)
    description: str = ""
    source: str = ""
    license: str | None = None


def convert_z_boundary(
    pack_root: Path,
    boundary_file: Path,
    target: ZTarget,
    generator: Generator,
    *,
    n: int = DEFAULT_SAMPLES,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: ProgressFn | None = None,
    overwrite: bool = False,
) -> tuple[DirectionEntry, Provenance]:
    """Fit the boundary in ``boundary_file`` (.npy, [dim] or [1, dim]) in W and write it into
    the pack as direction ``target.name`` with its provenance."""
    boundary = np.load(boundary_file, allow_pickle=False)
    fit = z_to_w(boundary, generator, n, seed, device=device, progress=progress)
    manifest = read_manifest_json(pack_root)
    provenance = Provenance(
        method="z-to-w",
        scorer=boundary_file.name,
        kind="continuous",
        n=n,
        seed=seed,
        metric_name=fit.metric_name,
        metric=fit.metric,
        pack=str(manifest.get("name", "")),
        generator_sha256=str(_section(manifest, "generator").get("sha256", "")),
        units=Z_UNITS,
        input_sha256=sha256_file(boundary_file),
    )
    source = f"{target.source} (Z boundary; {provenance.summary()})" if target.source else ""
    entry = write_direction(
        pack_root,
        target.name,
        fit.direction,
        provenance,
        target.range,
        description=target.description,
        source=source,
        license=target.license,
        overwrite=overwrite,
    )
    return entry, provenance


def convert_pack_z_directions(
    pack_root: Path,
    device: torch.device | str = "cpu",
    *,
    n: int = DEFAULT_SAMPLES,
    seed: int = 0,
    progress_for: Callable[[str], ProgressFn | None] | None = None,
) -> list[str]:
    """Convert every entry of the manifest's ``z_directions`` that has no W direction of the
    same name yet (what `facesmith pack fetch` installs from Z-space sources) → their names."""
    manifest = read_manifest_json(pack_root)
    todo = {
        name: entry
        for name, entry in _section(manifest, "z_directions").items()
        if name not in _section(manifest, "directions")
    }
    if not todo:
        return []
    generator_entry = _section(manifest, "generator")
    generator, _ = load_generator(resolve_inside(pack_root, str(generator_entry["path"])), device)
    for name, entry in todo.items():
        # derived from both the boundary and the generator: both licences apply
        licences = {str(entry.get("license", "")), str(generator_entry.get("license", ""))}
        target = ZTarget(
            name=name,
            range=(float(entry.get("min", -3.0)), float(entry.get("max", 3.0))),
            description=str(entry.get("description", "")),
            source=str(entry.get("source", "")),
            license="; ".join(sorted(x for x in licences if x)),
        )
        boundary_file = resolve_inside(pack_root, str(entry["path"]))
        progress = progress_for(name) if progress_for is not None else None
        convert_z_boundary(
            pack_root, boundary_file, target, generator, n=n, seed=seed, device=device,
            progress=progress,
        )  # fmt: skip
    return list(todo)


def _section(manifest: dict[str, Any], key: str) -> dict[str, Any]:
    value = manifest.get(key, {})
    return value if isinstance(value, dict) else {}
