"""Direction discovery: sample latents, score them, fit a linear direction, write it into a pack.

The recipe of InterFaceGAN / TL-GAN: z ~ N(0, I) → w = mapping(z) (optionally truncated
towards the pack's mean w), synthesise, score each image with a classifier, fit in W. The same
sampling scores latents with a Z-space boundary to convert it to W (``z_to_w``).
Shapes: z and w [N, dim]; directions [1, dim] (W) or [num_ws, dim] (W+ after conditioning on
a W+ direction).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facesmith.files import NAME_PATTERN, atomic_write
from facesmith_server.errors import PackError
from facesmith_server.latent.classifiers import Classifier
from facesmith_server.latent.fitting import Fit, fit_direction
from facesmith_server.model.generator import Generator
from facesmith_server.model.layers import PixelNorm
from facesmith_server.model.pack import (
    MANIFEST_NAME,
    DirectionEntry,
    ScoreEntry,
    parse_manifest,
    read_manifest_json,
    resolve_inside,
)
from facesmith_server.model.seeded_z import seeded_z

ProgressFn = Callable[[int, int], None]  # (done, total) samples
LatentScorer = Callable[[torch.Tensor, torch.Tensor], np.ndarray]  # (z, w) [B, dim] → [B]
DIRECTIONS_FOLDER = "directions"


@dataclass(frozen=True)
class Samples:
    z: np.ndarray  # [N, dim] float32
    w: np.ndarray  # [N, dim] float32 (after truncation)
    scores: np.ndarray  # [N] float64


@dataclass(frozen=True)
class Provenance:
    """How a direction was made; stored in the manifest entry under "provenance"."""

    method: str  # "fit" (classifier on synthesised images) | "z-to-w" (Z boundary converted)
    scorer: str  # classifier name, or the Z boundary file
    kind: str  # "binary" | "continuous"
    n: int
    seed: int
    metric_name: str
    metric: float  # held-out accuracy / Pearson correlation
    pack: str
    generator_sha256: str
    truncation: float = 1.0
    held: tuple[str, ...] = ()
    units: str = ""  # what strength 1 means
    input_sha256: str = ""  # of the Z boundary file (z-to-w)
    date: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds")
    )
    tool: str = "facesmith directions"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["held"] = list(self.held)
        return data

    def summary(self) -> str:
        """One line for the manifest's source field."""
        return (
            f"facesmith directions {self.method} ({self.scorer}, N={self.n}, seed {self.seed}, "
            f"held-out {self.metric_name} {self.metric:.3f})"
        )


@dataclass(frozen=True)
class Discovery:
    fit: Fit
    provenance: Provenance


# -- sampling and scoring ----------------------------------------------------------------------


@torch.no_grad()
def sample_and_score(
    generator: Generator,
    scorer: LatentScorer,
    n: int,
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
    batch: int = 16,
    truncation: float = 1.0,
    latent_avg: torch.Tensor | None = None,
    progress: ProgressFn | None = None,
) -> Samples:
    """n seeded z → w (truncated towards latent_avg [dim] when truncation < 1) → scores.

    The generator must already be on ``device``; scoring runs batch by batch. Truncation ψ is
    in [0, 1] (1: none), as in the generator: facesmith never extrapolates away from the mean.
    """
    if n < 1 or batch < 1:
        raise ValueError(f"n and batch must be positive, got {n} and {batch}")
    if not 0.0 <= truncation <= 1.0:
        raise ValueError(f"truncation ψ must be in [0, 1] (1 = none), got {truncation}")
    if truncation < 1.0 and latent_avg is None:
        raise ValueError("truncation needs the pack's mean latent")
    z_all = seeded_z(n, generator.style_dim, seed)
    zs, ws, scores = [], [], []
    for start in range(0, n, batch):
        z = z_all[start : start + batch].to(device)
        w = generator.mapping(z)
        if truncation < 1.0 and latent_avg is not None:
            avg = latent_avg.reshape(1, -1).to(w)
            w = avg + truncation * (w - avg)
        s = np.asarray(scorer(z, w), dtype=np.float64).reshape(-1)
        if len(s) != len(z):
            raise ValueError(f"the scorer returned {len(s)} scores for {len(z)} samples")
        zs.append(z.cpu().numpy())
        ws.append(w.float().cpu().numpy())
        scores.append(s)
        if progress is not None:
            progress(min(start + batch, n), n)
    return Samples(np.concatenate(zs), np.concatenate(ws), np.concatenate(scores))


def image_scorer(generator: Generator, classifier: Classifier) -> LatentScorer:
    """Scores w by synthesising (constant noise) and classifying images [B, H, W, 3] 0..1."""

    def score(z: torch.Tensor, w: torch.Tensor) -> np.ndarray:
        ws = w[:, None, :].expand(-1, generator.num_ws, -1)
        images = generator.synthesis(ws, noise_mode="const")
        rgb = ((images.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).cpu().numpy()
        return np.asarray(classifier(np.ascontiguousarray(rgb, dtype=np.float32)))

    return score


def z_boundary_scorer(boundary: np.ndarray) -> LatentScorer:
    """Signed distance of PixelNorm(z) (as the mapping sees z) to a Z boundary normal [dim]."""
    normal = np.asarray(boundary, dtype=np.float64).reshape(-1)
    normal = normal / np.linalg.norm(normal)
    pixel_norm = PixelNorm()

    def score(z: torch.Tensor, w: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            zn = pixel_norm(z.double()).cpu().numpy()
        return np.asarray(zn @ normal)

    return score


# -- fitting -----------------------------------------------------------------------------------


def discover_direction(
    generator: Generator,
    classifier: Classifier,
    *,
    n: int,
    seed: int = 0,
    device: torch.device | str = "cpu",
    batch: int = 16,
    truncation: float = 1.0,
    latent_avg: torch.Tensor | None = None,
    held: Sequence[tuple[str, np.ndarray]] = (),
    pack_name: str = "",
    generator_sha256: str = "",
    progress: ProgressFn | None = None,
    scorer: LatentScorer | None = None,
) -> Discovery:
    """Sample, synthesise, classify, fit → the direction and its provenance.

    ``scorer`` replaces synthesis + classifier (tests plant a known function of w with it);
    the classifier then only names the attribute and its kind.
    """
    samples = sample_and_score(
        generator,
        scorer or image_scorer(generator, classifier),
        n,
        seed=seed,
        device=device,
        batch=batch,
        truncation=truncation,
        latent_avg=latent_avg,
        progress=progress,
    )
    fit = fit_direction(samples.w, samples.scores, classifier.kind, seed=seed, held=held)
    units = (
        f"1 = one unit of the {classifier.name} score"
        if classifier.kind == "continuous"
        else "unit-norm normal of the decision boundary"
    )
    provenance = Provenance(
        method="fit",
        scorer=classifier.name,
        kind=classifier.kind,
        n=n,
        seed=seed,
        metric_name=fit.metric_name,
        metric=fit.metric,
        pack=pack_name,
        generator_sha256=generator_sha256,
        truncation=truncation,
        held=fit.held,
        units=units,
    )
    return Discovery(fit, provenance)


def sample_population(
    generator: Generator,
    n: int,
    seed: int = 0,
    *,
    device: torch.device | str = "cpu",
    batch: int = 1024,
    progress: ProgressFn | None = None,
) -> Samples:
    """n seeded z and their w = mapping(z), untruncated (scores all 0): the random faces that
    Z boundaries are converted on and attribute models are placed in."""
    return sample_and_score(
        generator, lambda z, w: np.zeros(len(z)), n, seed=seed, device=device, batch=batch,
        progress=progress,
    )  # fmt: skip


def z_to_w(
    boundary_z: np.ndarray,
    generator: Generator,
    n: int = 10000,
    seed: int = 0,
    *,
    device: torch.device | str = "cpu",
    batch: int = 1024,
    progress: ProgressFn | None = None,
    population: Samples | None = None,
) -> Fit:
    """Convert a Z-space boundary normal [dim] / [1, dim] into a W direction [1, dim].

    Samples z, scores each with the boundary (z·n̂ on PixelNorm'd z), fits the score linearly in
    W = mapping(z) (ridge). Strength 1 moves the Z score by 1, i.e. one standard deviation of
    the attribute over random faces. The fit's Pearson correlation on held-out samples says how
    linear the attribute is in W. ``population`` (from `sample_population`) replaces the
    sampling, so that many boundaries are converted on the same faces.
    """
    normal = np.asarray(boundary_z, dtype=np.float32).reshape(-1)
    if normal.shape[0] != generator.style_dim or not np.all(np.isfinite(normal)):
        raise ValueError(
            f"a Z boundary for this generator must be [{generator.style_dim}] or "
            f"[1, {generator.style_dim}] finite values, got {list(np.shape(boundary_z))}"
        )
    if float(np.linalg.norm(normal)) == 0.0:
        raise ValueError("the Z boundary is all zeros")
    if population is None:
        population = sample_population(
            generator, n, seed, device=device, batch=batch, progress=progress
        )
    scores = z_boundary_scorer(normal)(torch.from_numpy(population.z), torch.empty(0))
    return fit_direction(population.w, scores, "continuous", seed=seed)


# -- writing into a pack -----------------------------------------------------------------------


def write_direction(
    pack_root: Path | str,
    name: str,
    vector: np.ndarray,
    provenance: Provenance,
    range: tuple[float, float] = (-3.0, 3.0),
    *,
    description: str = "",
    source: str = "",
    license: str | None = None,
    overwrite: bool = False,
    group: str = "",
    extra: dict[str, Any] | None = None,
) -> DirectionEntry:
    """Add ``directions/NAME.npy`` and its manifest entry (sha256, size, source, licence,
    group, provenance, and ``extra`` keys); each file is replaced atomically, the vector file
    first.

    vector [1, dim] → space "w"; [num_ws, dim] → "w+". ``license`` defaults to the
    generator's (a fitted direction is derived from it).
    """
    root = Path(pack_root)
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"direction name {name!r}: use letters, digits, '_', '-', '.'")
    low, high = float(range[0]), float(range[1])
    if not low < high:
        raise ValueError(f"direction range needs min < max, got {low} {high}")
    data = read_manifest_json(root)
    directions = data.setdefault("directions", {})
    if not isinstance(directions, dict):
        raise PackError(f"{root}: manifest 'directions' must be a JSON object")
    if name in directions and not overwrite:
        raise ValueError(f"the pack already has a direction {name!r} (overwrite to replace it)")
    array = np.ascontiguousarray(np.asarray(vector, dtype=np.float32))
    if array.ndim != 2 or not np.all(np.isfinite(array)):
        raise ValueError(f"a direction must be a finite [rows, dim] array, got {array.shape}")
    space = "w" if array.shape[0] == 1 else "w+"
    relative = f"{DIRECTIONS_FOLDER}/{name}.npy"
    path = resolve_inside(root, relative)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    payload = buffer.getvalue()
    generator = data.get("generator") if isinstance(data.get("generator"), dict) else {}
    entry = DirectionEntry(
        path=relative,
        format="npy",
        sha256=_sha256_bytes(payload),
        size=len(payload),
        source=source or provenance.summary(),
        license=license if license is not None else str(generator.get("license", "")),
        space=space,
        min=low,
        max=high,
        default=min(max(0.0, low), high),
        description=description,
        group=group,
    )
    fields = {k: v for k, v in asdict(entry).items() if v is not None and (k != "group" or v)}
    directions[name] = {**fields, **(extra or {}), "provenance": provenance.to_dict()}
    parse_manifest(data)  # validate before anything is written
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, payload)
    _write_manifest(root, data)
    return entry


def write_score(
    pack_root: Path | str,
    name: str,
    normal: np.ndarray,
    intercept: float,
    kind: str,
    *,
    unit: str = "",
    range: tuple[float, float] = (0.0, 1.0),
    source: str = "",
    provenance: dict[str, Any] | None = None,
) -> ScoreEntry:
    """Give the pack's direction ``name`` its attribute model: ``directions/NAME.score.npy``
    (the normal [1, dim]) and the entry's "score" (intercept, kind, unit, target range,
    sha256, size, provenance). The file is written first, then the manifest, each atomically.
    """
    root = Path(pack_root)
    data = read_manifest_json(root)
    directions = data.get("directions")
    if not isinstance(directions, dict) or not isinstance(directions.get(name), dict):
        raise ValueError(f"the pack has no direction {name!r} to give an attribute model")
    array = np.asarray(normal, dtype=np.float32).reshape(1, -1)
    if not (np.all(np.isfinite(array)) and np.isfinite(intercept)):
        raise ValueError(f"the attribute model of {name!r} holds non-finite values")
    relative = f"{DIRECTIONS_FOLDER}/{name}.score.npy"
    path = resolve_inside(root, relative)
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    payload = buffer.getvalue()
    direction = directions[name]
    entry = ScoreEntry(
        path=relative,
        format="npy",
        sha256=_sha256_bytes(payload),
        size=len(payload),
        source=source,
        license=str(direction.get("license", "")),
        intercept=float(intercept),
        kind=kind,
        unit=unit,
        min=float(range[0]),
        max=float(range[1]),
    )
    direction["score"] = {**asdict(entry), **({"provenance": provenance} if provenance else {})}
    parse_manifest(data)  # validate before anything is written
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, payload)
    _write_manifest(root, data)
    return entry


def _write_manifest(root: Path, data: Any) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    atomic_write(root / MANIFEST_NAME, text.encode("utf-8"))


def _sha256_bytes(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()
