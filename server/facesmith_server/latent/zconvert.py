"""What a pack's directions need at install: Z-space boundaries (e.g. InterFaceGAN's
``stylegan2_ffhq_z``) turned into W directions by regression through the pack's own mapping
network (see ``discover.z_to_w``), and attribute models for directions published without one.

Attribute models (``directions/NAME.score.npy`` + intercept; see `model.pack.ScoreEntry`) are
what absolute edits (``--set``) and swaps need. A direction file holds only a direction, no
intercept, so the model is placed in the population of the generator's own random faces: the
same seeded z → w = mapping(z) samples (ψ = 1) that convert the Z boundaries are projected on
the direction (its mean over W+ rows), and

- kind "binary": value = 1.702 · (projection − median) / std, a logit whose sigmoid is close
  to the face's percentile among random faces along the direction (σ(1.702·x) ≈ Φ(x)): 0 is
  the population's median, ``--set smile=0.9`` puts a face at about the 90th percentile, and a
  swap mirrors it across the median (the 80th percentile goes to the 20th);
- kind "continuous": value = (projection − median) / std, in unit "sigma" (targets ±3).

Only the mapping network runs, so everything here takes seconds on a CPU even for the 1024 px
generator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facesmith.files import sha256_file
from facesmith_server.errors import PackError
from facesmith_server.latent.discover import (
    ProgressFn,
    Provenance,
    Samples,
    sample_population,
    write_direction,
    write_score,
    z_to_w,
)
from facesmith_server.model.checkpoints import load_generator
from facesmith_server.model.generator import Generator
from facesmith_server.model.pack import (
    SCORE_KINDS,
    DirectionEntry,
    load_direction,
    parse_manifest,
    read_manifest_json,
    resolve_inside,
)

DEFAULT_SAMPLES = 10000
Z_UNITS = "1 = one standard deviation of the Z boundary's score"
PERCENTILE_LOGIT = 1.702  # σ(1.702·x) ≈ Φ(x): a logit that reads as the population percentile
CONTINUOUS_UNIT = "sigma"
CONTINUOUS_TARGETS = (-3.0, 3.0)  # sigmas a continuous --set accepts
DERIVE_KEY = "derive_score"  # manifest: the kind of attribute model to derive at install
NEGATE_KEY = "negate"  # manifest (z_directions): flip the boundary (No_Beard → beard)
CONVERTED_FROM = "converted_from"  # manifest: what a converted direction was made from
_CONVERSION_FIELDS = ("path", "sha256", NEGATE_KEY, DERIVE_KEY, "group", "min", "max")

Log = Callable[[str], None]


@dataclass(frozen=True)
class ZTarget:
    """Where a converted boundary goes, and how it is described there."""

    name: str
    range: tuple[float, float] = (-3.0, 3.0)
    description: str = ""
    source: str = ""
    license: str | None = None
    group: str = ""
    negate: bool = False  # the boundary's negative (e.g. CelebA's No_Beard → beard)
    kind: str = "binary"  # attribute model written beside it: "binary", "continuous" or ""


@dataclass(frozen=True)
class AttributeModel:
    """A direction's attribute model in W: value(w) = mean over rows of w · normal + intercept."""

    normal: np.ndarray  # [dim] float32
    intercept: float
    kind: str
    unit: str
    targets: tuple[float, float]
    median: float  # of the raw projections w · d̄ over the population
    std: float


def population_model(direction: np.ndarray, population: Samples, kind: str) -> AttributeModel:
    """The attribute model of ``direction`` [1 | num_ws, dim] placed in ``population`` (see the
    module docstring): its normal is the mean over rows of the direction, so the model moves
    with the edit's strength at the rate |d̄|² · scale."""
    if kind not in SCORE_KINDS:
        raise ValueError(f"kind must be one of {SCORE_KINDS}, got {kind!r}")
    mean_row = np.asarray(direction, np.float64).reshape(-1, population.w.shape[1]).mean(axis=0)
    projection = population.w.astype(np.float64) @ mean_row
    median, std = float(np.median(projection)), float(projection.std())
    if not (np.isfinite(std) and std > 0):
        raise ValueError("the direction does not vary over the generator's faces")
    if kind == "binary":
        scale, unit, targets = PERCENTILE_LOGIT / std, "", (0.0, 1.0)
    else:
        scale, unit, targets = 1.0 / std, CONTINUOUS_UNIT, CONTINUOUS_TARGETS
    normal = (mean_row * scale).astype(np.float32)
    return AttributeModel(normal, -median * scale, kind, unit, targets, median, std)


def write_population_model(
    pack_root: Path,
    name: str,
    direction: np.ndarray,
    population: Samples,
    kind: str,
    generator_sha256: str = "",
) -> AttributeModel:
    """`population_model` written into the pack as direction ``name``'s "score"."""
    model = population_model(direction, population, kind)
    n = len(population.w)
    how = (
        "percentile logit 1.702·(w·d − median)/std"
        if kind == "binary"
        else "(w·d − median)/std, in sigmas"
    )
    provenance: dict[str, Any] = {
        "method": "population",
        "n": n,
        "median": model.median,
        "std": model.std,
        "value": how,
        "generator_sha256": generator_sha256,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "tool": "facesmith pack install",
    }
    write_score(
        pack_root, name, model.normal, model.intercept, kind, unit=model.unit,
        range=model.targets, provenance=provenance,
        source=f"facesmith: the direction placed in {n} seeded random faces of the pack's "
        f"generator (ψ = 1), boundary at their median; value = {how}",
    )  # fmt: skip
    return model


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
    population: Samples | None = None,
    boundary: np.ndarray | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[DirectionEntry, Provenance]:
    """Fit the boundary in ``boundary_file`` (.npy, [dim] or [1, dim]; or ``boundary``, read
    from it already) in W and write it into the pack as direction ``target.name`` with its
    provenance, and its attribute model (kind ``target.kind``) placed in the same samples.
    ``population``: samples shared by several conversions (from `sample_population`; its n
    and seed are then the ones recorded). ``extra``: more keys for the manifest entry."""
    if boundary is None:
        boundary = np.load(boundary_file, allow_pickle=False)
    if target.negate:
        boundary = -np.asarray(boundary)
    if population is None:
        population = sample_population(generator, n, seed, device=device, progress=progress)
    n = len(population.w)
    fit = z_to_w(boundary, generator, seed=seed, population=population)
    manifest = read_manifest_json(pack_root)
    generator_sha256 = str(_section(manifest, "generator").get("sha256", ""))
    provenance = Provenance(
        method="z-to-w",
        scorer=("−" if target.negate else "") + boundary_file.name,
        kind="continuous",
        n=n,
        seed=seed,
        metric_name=fit.metric_name,
        metric=fit.metric,
        pack=str(manifest.get("name", "")),
        generator_sha256=generator_sha256,
        units=Z_UNITS,
        input_sha256=sha256_file(boundary_file),
    )
    source = f"{target.source} (Z boundary; {provenance.summary()})" if target.source else ""
    extra = {**(extra or {}), **({DERIVE_KEY: target.kind} if target.kind else {})}
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
        group=target.group,
        extra=extra,
    )
    if target.kind:
        write_population_model(
            pack_root, target.name, fit.direction, population, target.kind, generator_sha256
        )
    return entry, provenance


def conversion_key(z_entry: dict[str, Any]) -> dict[str, Any]:
    """What a W direction converted from the z_directions entry ``z_entry`` depends on; stored
    with it (``converted_from``) so that a changed boundary or setting is converted again."""
    return {k: z_entry.get(k) for k in _CONVERSION_FIELDS}


def convert_pack_z_directions(
    pack_root: Path,
    device: torch.device | str = "cpu",
    *,
    n: int = DEFAULT_SAMPLES,
    seed: int = 0,
    log: Log | None = None,
) -> list[str]:
    """Finish the directions of an installed pack (what `facesmith pack fetch` runs), on one set
    of ``n`` seeded samples of its mapping network → the names of the directions made or
    completed:

    - every entry of the manifest's ``z_directions`` without a W direction of the same name is
      converted to W (negated first when it says ``"negate": true``), with its attribute model;
    - every direction whose entry asks for an attribute model (``"derive_score": KIND``) and
      has none gets one placed in the same samples.
    """
    manifest = read_manifest_json(pack_root)
    directions = _section(manifest, "directions")
    todo_z = {
        name: entry
        for name, entry in _section(manifest, "z_directions").items()
        if name not in directions
    }
    todo_scores = [
        name
        for name, entry in directions.items()
        if isinstance(entry, dict) and entry.get(DERIVE_KEY) and not entry.get("score")
    ]
    if not todo_z and not todo_scores:
        return []
    generator_entry = _section(manifest, "generator")
    generator_path = resolve_inside(pack_root, str(generator_entry["path"]))
    generator, _ = load_generator(generator_path, device)
    generator_sha256 = str(generator_entry.get("sha256", ""))
    population = sample_population(generator, n, seed, device=device)
    done = []
    for name, entry in todo_z.items():
        # derived from both the boundary and the generator: both licences apply
        licences = {str(entry.get("license", "")), str(generator_entry.get("license", ""))}
        target = ZTarget(
            name=name,
            range=(float(entry.get("min", -3.0)), float(entry.get("max", 3.0))),
            description=str(entry.get("description", "")),
            source=str(entry.get("source", "")),
            license="; ".join(sorted(x for x in licences if x)),
            group=str(entry.get("group", "")),
            negate=bool(entry.get(NEGATE_KEY, False)),
            kind=str(entry.get(DERIVE_KEY, "")),
        )
        boundary_file = resolve_inside(pack_root, str(entry["path"]))
        boundary = _verified_boundary(pack_root, name, entry, generator.style_dim)
        _, provenance = convert_z_boundary(
            pack_root, boundary_file, target, generator, seed=seed, population=population,
            boundary=boundary, extra={CONVERTED_FROM: conversion_key(entry)},
        )  # fmt: skip
        if log is not None:
            log(f"{name} converted to W (held-out Pearson r {provenance.metric:.3f})")
        done.append(name)
    if todo_scores:
        parsed = parse_manifest(read_manifest_json(pack_root))
        for name in todo_scores:
            entry = parsed.directions[name]
            kind = str(directions[name][DERIVE_KEY])
            try:
                vector = load_direction(
                    pack_root, name, entry, generator.num_ws, generator.style_dim
                ).vector
            except PackError as err:
                raise PackError(f"{name}: cannot derive its attribute model ({err})") from err
            model = write_population_model(
                pack_root, name, vector, population, kind, generator_sha256
            )
            if log is not None:
                log(f"{name}: {kind} attribute model placed in {n} random faces "
                    f"(median {model.median:+.3f}, std {model.std:.3f})")  # fmt: skip
            done.append(name)
    return done


def _verified_boundary(root: Path, name: str, entry: dict[str, Any], dim: int) -> np.ndarray:
    """The z_directions entry's boundary [1, dim], read after its size and sha256 are checked."""
    try:
        fields = DirectionEntry(
            path=str(entry["path"]), format=str(entry["format"]),
            sha256=str(entry["sha256"]).lower(), size=int(entry["size"]), space="z",
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as err:
        raise PackError(f"manifest: z_directions.{name} is incomplete ({err})") from err
    return load_direction(root, name, fields, 1, dim).vector


def _section(manifest: dict[str, Any], key: str) -> dict[str, Any]:
    value = manifest.get(key, {})
    return value if isinstance(value, dict) else {}
