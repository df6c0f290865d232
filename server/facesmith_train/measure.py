"""`facesmith train measure`: what a model pack's edits do to faces its training never saw.

Each face is inverted once (e4e), rendered back (the reconstruction) and rendered with each
edit at full strength by pure latent arithmetic; the photo, the reconstruction and every edit
are then read by the same instruments (`measure_scores.Scorers`). Every figure is a mean of
per-face values, per set and over all sets ("all"), and the issue's targets are judged on
"all". Python API: `measure(...)`; CLI: `run(args)`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from facesmith.alignment import parse_alignment
from facesmith.files import atomic_write
from facesmith_client.score import identity_distance
from facesmith_server.edit import apply_edits
from facesmith_server.errors import PackError
from facesmith_server.invert import encode
from facesmith_server.pack import Direction, Pack

from .measure_grid import edit_grid
from .measure_scores import ScorerFactory, Scorers, enlarge, threshold_of
from .measure_sets import FaceSet, load_npz_set, load_photo_set
from .samples import write_png

CHUNK = 32  # faces per encoder / generator pass
GRID_ROWS = 6
GRID_EDITS = ("younger", "older", "gender swap", "bald", "smile")
MORE_EDITS = ("smile", "grey_hair", "eyeglasses")  # at their max, when the pack has them
ALL = "all"
# The targets: (comparison, value), judged on "all"
TARGETS: dict[str, tuple[str, float]] = {
    "samples.face_found": (">=", 0.90),
    "reconstruction.gender_vs_label": (">=", 0.90),
    "reconstruction.gender_vs_photo": (">=", 0.90),
    "reconstruction.age_error_vs_photo": ("<=", 8.0),
    "reconstruction.age_error_vs_label": ("<=", 8.0),
    "older.age_rise": (">=", 15.0),
    "older.gender_agrees": (">=", 0.90),
    "gender swap.flipped": (">=", 0.85),
    "bald.called": (">=", 0.70),
    "bald.gender_agrees": (">=", 0.90),
}
SAME_PERSON_MAX = 0.41  # dlib descriptor distances (BRIEF)
DIFFERENT_PERSON_MIN = 0.76

Log = Callable[[str], None]


# -- edits -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """An edit at full strength: a pack direction and its strength for each face [N]."""

    label: str  # "older", "younger", "gender swap", "bald", ...
    direction: str
    strengths: np.ndarray

    def describe(self) -> str:
        values = sorted({float(s) for s in self.strengths})
        return f"{self.direction} {' / '.join(f'{v:+g}' for v in values)}"


def plan_edits(directions: Mapping[str, Direction], male_photo: np.ndarray) -> list[Edit]:
    """The edits the pack has, at full strength: younger / older (age at its min / max),
    gender swap (gender at max for faces estimated female, at min for male: what a user
    picks), bald and MORE_EDITS at their max. ``male_photo``: P(male) [N] of the photos."""
    n = len(male_photo)
    edits = []
    if "age" in directions:
        age = directions["age"]
        edits += [
            Edit("younger", "age", np.full(n, age.min)),
            Edit("older", "age", np.full(n, age.max)),
        ]
    if "gender" in directions:
        gender = directions["gender"]
        strengths = np.where(np.asarray(male_photo) >= 0.5, gender.min, gender.max)
        edits.append(Edit("gender swap", "gender", strengths.astype(np.float64)))
    for name in ("bald", *MORE_EDITS):
        if name in directions:
            edits.append(Edit(name, name, np.full(n, directions[name].max)))
    return edits


def edited_latents(ws: np.ndarray, direction: np.ndarray, strengths: np.ndarray) -> np.ndarray:
    """ws [N, num_ws, dim] each moved by its strength along direction [1 | num_ws, dim]."""
    return np.stack(
        [apply_edits(w, [direction], [float(s)]) for w, s in zip(ws, strengths, strict=True)]
    )


# -- the models --------------------------------------------------------------------------------


def invert(pack: Pack, crops: np.ndarray, device: torch.device) -> np.ndarray:
    """crops float32 [N, R, R, 3] 0..1 → W+ latents float32 [N, num_ws, dim] (e4e)."""
    parts = []
    for i in range(0, len(crops), CHUNK):
        x = torch.from_numpy(np.ascontiguousarray(crops[i : i + CHUNK])).permute(0, 3, 1, 2)
        ws = encode(pack.encoder, pack.encoder_latent_avg, x.to(device) * 2 - 1)
        parts.append(ws.float().cpu().numpy())
    dim = pack.generator.style_dim
    return np.concatenate(parts) if parts else np.zeros((0, pack.generator.num_ws, dim), np.float32)


@torch.no_grad()
def synthesise(pack: Pack, ws: np.ndarray, device: torch.device) -> np.ndarray:
    """W+ latents [N, num_ws, dim] → images float32 [N, R, R, 3] 0..1 (constant noise)."""
    parts = []
    for i in range(0, len(ws), CHUNK):
        parts.append(pack.generator.synthesis(torch.from_numpy(ws[i : i + CHUNK]).to(device)))
    return _images(pack, parts)


@torch.no_grad()
def random_samples(pack: Pack, count: int, seed: int, device: torch.device) -> np.ndarray:
    """``count`` images of z ~ N(0, I) (psi 1, a private seeded RNG): float32 [N, R, R, 3]."""
    z = torch.randn(count, pack.generator.style_dim, generator=torch.Generator().manual_seed(seed))
    parts = []
    for i in range(0, count, CHUNK):
        parts.append(pack.generator(z[i : i + CHUNK].to(device)))
    return _images(pack, parts)


def _images(pack: Pack, parts: Sequence[torch.Tensor]) -> np.ndarray:
    """Generator outputs (each [n, 3, R, R] in [-1, 1]) → float32 [N, R, R, 3] 0..1."""
    if not parts:
        return np.zeros((0, pack.generator.size, pack.generator.size, 3), np.float32)
    rgb = torch.cat([p.float().cpu() for p in parts])
    return ((rgb.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).contiguous().numpy()


# -- measuring a set ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Measures:
    """What the instruments read on N images: age (years), P(male), descriptors [N, 128] and
    the attribute classifiers' P(yes)."""

    age: np.ndarray
    male: np.ndarray
    descriptors: np.ndarray
    attributes: dict[str, np.ndarray]


def read_images(images: np.ndarray, scorers: Scorers) -> Measures:
    """Measures of images float32 [N, R, R, 3] 0..1."""
    large = enlarge(images)
    age, male = scorers.age_gender(large)
    attributes = {k: np.asarray(c(images), np.float64) for k, c in scorers.attributes.items()}
    return Measures(
        np.asarray(age, np.float64), np.asarray(male, np.float64),
        np.asarray(scorers.descriptors(large), np.float64), attributes,
    )  # fmt: skip


@dataclass(frozen=True)
class SetResult:
    faces: FaceSet
    photo: Measures
    reconstruction: Measures
    edits: tuple[Edit, ...]
    edited: dict[str, Measures]  # edit label → measures
    grid: dict[str, np.ndarray]  # column name → images of the first GRID_ROWS faces


def measure_set(
    faces: FaceSet, pack: Pack, scorers: Scorers, device: torch.device, log: Log
) -> SetResult:
    """Invert, reconstruct and edit every face of the set and read them all."""
    started = time.monotonic()
    ws = invert(pack, faces.crops, device)
    recon = synthesise(pack, ws, device)
    photo = read_images(faces.crops, scorers)
    reconstruction = read_images(recon, scorers)
    grid = {"photo": faces.crops[:GRID_ROWS], "reconstruction": recon[:GRID_ROWS]}
    edits = plan_edits(pack.directions, photo.male)
    edited = {}
    for edit in edits:
        direction = pack.directions[edit.direction].vector
        images = synthesise(pack, edited_latents(ws, direction, edit.strengths), device)
        edited[edit.label] = read_images(images, scorers)
        grid[edit.label] = images[:GRID_ROWS]
    seconds = time.monotonic() - started
    log(f"{faces.name}: {len(faces)} faces, {len(edits)} edits in {seconds:.0f} s")
    return SetResult(faces, photo, reconstruction, tuple(edits), edited, grid)


# -- figures -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One row of the table: the mean of per-face values per set and over all of them."""

    key: str  # e.g. "older.age_rise" (TARGETS' keys)
    label: str
    unit: str  # "%": a fraction shown in per cent, "y": years, "": a plain number
    values: dict[str, float | None]  # set name (and ALL) → mean, None where not measured
    counts: dict[str, int]
    target: tuple[str, float] | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        value = self.values.get(ALL)
        if self.target is None:
            return ""
        if value is None:
            return "n/a"
        op, bound = self.target
        return "PASS" if (value >= bound if op == ">=" else value <= bound) else "FAIL"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


PerFace = Mapping[str, np.ndarray | None]


def figure(key: str, label: str, unit: str, per_set: PerFace, note: str = "") -> Figure:
    """A Figure from per-face values of each set (None: not measured there)."""
    values: dict[str, float | None] = {}
    counts: dict[str, int] = {}
    for name, v in per_set.items():
        measured = v is not None and len(v) > 0
        values[name] = float(np.mean(v)) if measured and v is not None else None
        counts[name] = len(v) if v is not None else 0
    pooled = [np.asarray(v, np.float64) for v in per_set.values() if v is not None and len(v)]
    values[ALL] = float(np.mean(np.concatenate(pooled))) if pooled else None
    counts[ALL] = sum(len(v) for v in pooled)
    return Figure(key, label, unit, values, counts, TARGETS.get(key), note)


def same_gender(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per face 1.0 where P(male) a and b fall on the same side of 0.5."""
    return ((np.asarray(a) >= 0.5) == (np.asarray(b) >= 0.5)).astype(np.float64)


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per face, the identity distance between descriptors a [N, 128] and b [N, 128]."""
    return np.array([identity_distance(x, y) for x, y in zip(a, b, strict=True)], np.float64)


FIXED_FIGURES: dict[str, tuple[str, str, str]] = {  # key → (label, unit, note)
    "samples.face_found": (
        "random samples: the detector finds a face", "%", "z ~ N(0, I), psi 1, at 256 px"),
    "photo.gender_vs_label": (
        "photo: estimated gender agrees with the label", "%", "trust in the gender model"),
    "photo.age_error_vs_label": (
        "photo: mean abs(estimated age − labelled age)", "y", "trust in the age model"),
    "reconstruction.gender_vs_label": (
        "reconstruction: estimated gender agrees with the label", "%", ""),
    "reconstruction.gender_vs_photo": (
        "reconstruction: gender agrees with the photo's estimate", "%", ""),
    "reconstruction.age_error_vs_photo": (
        "reconstruction: mean abs(age − the photo's estimated age)", "y", ""),
    "reconstruction.age_error_vs_label": (
        "reconstruction: mean abs(age − labelled age)", "y", ""),
    "reconstruction.bald": ("reconstruction: called bald (baseline)", "%", ""),
    "identity.reconstruction": (
        "identity distance: photo vs reconstruction", "",
        f"dlib: same person ≤ {SAME_PERSON_MAX}, different ≥ {DIFFERENT_PERSON_MIN}"),
}  # fmt: skip
EDIT_FIGURES: dict[str, tuple[str, str]] = {  # key after "EDIT." → (label, unit)
    "age_rise": ("{edit} ({how}): mean estimated age rise over the reconstruction", "y"),
    "age_change": ("{edit} ({how}): mean estimated age change over the reconstruction", "y"),
    "flipped": ("{edit} ({how}): estimated gender flipped from the photo's", "%"),
    "called": ("{edit} ({how}): called {edit} by its classifier", "%"),
    "gender_agrees": ("{edit} ({how}): gender agrees with the reconstruction", "%"),
}


def face_values(r: SetResult, thresholds: Mapping[str, float]) -> dict[str, np.ndarray | None]:
    """Per-face values of every figure, by figure key (None: not measurable on this set).
    Every set gives the same keys in the same order."""
    labels, photo, recon = r.faces.labels, r.photo, r.reconstruction
    male, age = labels.get("male"), labels.get("age")
    v: dict[str, np.ndarray | None] = {
        "photo.gender_vs_label": None if male is None else same_gender(male, photo.male),
        "photo.age_error_vs_label": None if age is None else abs_diff(age, photo.age),
        "reconstruction.gender_vs_label": None if male is None else same_gender(male, recon.male),
        "reconstruction.gender_vs_photo": same_gender(recon.male, photo.male),
        "reconstruction.age_error_vs_photo": abs_diff(recon.age, photo.age),
        "reconstruction.age_error_vs_label": None if age is None else abs_diff(age, recon.age),
    }
    if "bald" in thresholds:
        v["reconstruction.bald"] = called(recon, "bald", thresholds)
    for e in r.edits:
        m = r.edited[e.label]
        if e.direction == "age":
            v[f"{e.label}.age_{'rise' if e.label == 'older' else 'change'}"] = m.age - recon.age
        if e.label == "gender swap":
            v[f"{e.label}.flipped"] = 1.0 - same_gender(m.male, photo.male)
            continue
        if e.label in thresholds:
            v[f"{e.label}.called"] = called(m, e.label, thresholds)
        elif f"{e.label}.called" in TARGETS:  # a target without its classifier: say "n/a"
            v[f"{e.label}.called"] = None
        v[f"{e.label}.gender_agrees"] = same_gender(m.male, recon.male)
    v["identity.reconstruction"] = distances(photo.descriptors, recon.descriptors)
    for e in r.edits:
        v[f"identity.{e.label}"] = distances(photo.descriptors, r.edited[e.label].descriptors)
    return v


def build_figures(
    results: Sequence[SetResult],
    samples_found: np.ndarray | None,
    thresholds: Mapping[str, float],
) -> list[Figure]:
    """Every figure of the issue, and two that say how far the age and gender models can be
    trusted on these crops (the photo's estimate against its label)."""
    per_set = {r.faces.name: face_values(r, thresholds) for r in results}
    how = {e.label: e.describe() for r in results for e in r.edits}
    keys = list(dict.fromkeys(k for values in per_set.values() for k in values))
    figures = [_figure("samples.face_found", {"samples": samples_found}, how)]
    return figures + [_figure(k, {s: vs.get(k) for s, vs in per_set.items()}, how) for k in keys]


def _figure(key: str, per_set: PerFace, how: Mapping[str, str]) -> Figure:
    if key in FIXED_FIGURES:
        label, unit, note = FIXED_FIGURES[key]
        return figure(key, label, unit, per_set, note)
    edit, _, what = key.rpartition(".")
    if edit == "identity":
        return figure(key, f"identity distance: photo vs {what}", "", per_set)
    text, unit = EDIT_FIGURES[what]
    return figure(key, text.format(edit=edit, how=how.get(edit, "")), unit, per_set)


def called(m: Measures, key: str, thresholds: Mapping[str, float]) -> np.ndarray:
    """Per face 1.0 where the classifier of ``key`` says yes."""
    return (m.attributes[key] >= thresholds[key]).astype(np.float64)


def abs_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))


# -- the table ---------------------------------------------------------------------------------


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "%":
        return f"{100 * value:.0f} %"
    if unit == "y":
        return f"{value:+.1f} y" if value < 0 else f"{value:.1f} y"
    return f"{value:.3f}"


def format_target(target: tuple[str, float] | None, unit: str, note: str) -> str:
    if target is None:
        return note or ""
    op, bound = target
    return f"{'≥' if op == '>=' else '≤'} {format_value(bound, unit)}"


def markdown_table(figures: Sequence[Figure], sets: Sequence[FaceSet]) -> str:
    """The figures as a markdown table: one column per set, ALL, the target and the verdict."""
    columns = [f"{s.name} ({len(s)})" for s in sets]
    header = ["figure", *columns, ALL, "target", "result"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for f in figures:
        cells = [format_value(f.values.get(s.name), f.unit) for s in sets]
        all_text = format_value(f.values.get(ALL), f.unit)
        if f.counts.get(ALL):
            all_text += f" (n={f.counts[ALL]})"
        target = format_target(f.target, f.unit, f.note)
        lines.append("| " + " | ".join([f.label, *cells, all_text, target, f.verdict]) + " |")
    return "\n".join(lines) + "\n"


# -- outputs -----------------------------------------------------------------------------------


def grid_columns(result: SetResult) -> list[tuple[str, np.ndarray]]:
    names = ["photo", "reconstruction", *(e for e in GRID_EDITS if e in result.grid)]
    return [(name, result.grid[name]) for name in names]


def face_records(result: SetResult) -> list[dict[str, Any]]:
    """Per face of a set: labels, and what the instruments read on the photo, the
    reconstruction and each edit (with the identity distance to the photo)."""

    def read(m: Measures, i: int) -> dict[str, float]:
        out = {"age": float(m.age[i]), "male": round(float(m.male[i]), 4)}
        return out | {k: round(float(v[i]), 4) for k, v in m.attributes.items()}

    def ident(m: Measures, i: int) -> float:
        return round(identity_distance(result.photo.descriptors[i], m.descriptors[i]), 4)

    rows = []
    for i, face_id in enumerate(result.faces.ids):
        rec = result.reconstruction
        rows.append({
            "id": face_id,
            "labels": {k: float(v[i]) for k, v in result.faces.labels.items()},
            "photo": read(result.photo, i),
            "reconstruction": read(rec, i) | {"identity": ident(rec, i)},
            "edits": {
                e.label: read(result.edited[e.label], i)
                | {"strength": float(e.strengths[i]), "identity": ident(result.edited[e.label], i)}
                for e in result.edits
            },
        })  # fmt: skip
    return rows


@dataclass(frozen=True)
class Outcome:
    figures: list[Figure]
    table: str
    report: dict[str, Any]
    grid: np.ndarray


def measure(
    pack: Pack,
    sets: Sequence[FaceSet],
    make_scorers: ScorerFactory,
    samples: int,
    seed: int,
    device: torch.device,
    log: Log,
) -> Outcome:
    """Every figure for ``sets`` (empty sets are left out) and ``samples`` random samples."""
    sets = [s for s in sets if len(s)]
    if not sets:
        raise ValueError("no faces to measure: give --data with held-out faces or --photos")
    names = [s.name for s in sets]
    if len(set(names)) != len(names):
        raise ValueError(f"two sets share a name (their file names): {names}")
    scorers = make_scorers(np.concatenate([s.crops for s in sets]))
    thresholds = {k: threshold_of(c) for k, c in scorers.attributes.items()}
    results = [measure_set(s, pack, scorers, device, log) for s in sets]
    found = None
    if samples > 0:
        started = time.monotonic()
        found = np.asarray(scorers.face_found(enlarge(random_samples(pack, samples, seed, device))))
        log(f"random samples: {samples} in {time.monotonic() - started:.0f} s")
        found = found.astype(np.float64)
    figures = build_figures(results, found, thresholds)
    photos = next((r for r in results if r.faces.name == "photos"), results[0])
    report = {
        "sets": {
            r.faces.name: {"faces": len(r.faces), "info": r.faces.info, "per_face": face_records(r)}
            for r in results
        },
        "edits": {e.label: e.describe() for r in results for e in r.edits},
        "scorers": scorers.notes | {"thresholds": thresholds},
        "random_samples": {"count": samples, "seed": seed,
                           "found": int(found.sum()) if found is not None else None},
        "figures": [f.to_json() for f in figures],
    }  # fmt: skip
    return Outcome(figures, markdown_table(figures, sets), report, edit_grid(grid_columns(photos)))


# -- the command -------------------------------------------------------------------------------


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def alignment_warnings(pack_alignment: str, sets: Sequence[FaceSet]) -> list[str]:
    """A line for each set whose crops were framed otherwise than the pack frames faces."""
    template = parse_alignment(pack_alignment)
    out = []
    for s in sets:
        framed = s.info.get("alignment")
        if framed is None:
            continue
        try:
            same = parse_alignment(str(framed)) == template
        except ValueError:
            same = False
        if not same:
            out.append(
                f"{s.name}: crops framed {framed!r} but the pack frames {pack_alignment!r}: "
                "its figures do not describe the pack's real use"
            )
    return out


def run(args: argparse.Namespace, make_scorers: ScorerFactory | None = None) -> int:
    """Run a parsed `facesmith train measure` command line; ``make_scorers`` replaces the
    real instruments (tests)."""
    import cv2

    from facesmith_client.detect import load_detector
    from facesmith_server.devices import choose_device, describe
    from facesmith_server.pack import load_pack

    from .measure_scores import load_real_scorers

    started = time.monotonic()
    if args.limit < 1 or args.samples < 0:
        raise ValueError("--limit must be at least 1 and --samples at least 0")
    if args.bald_classifier is not None and not args.bald_classifier.is_file():
        raise ValueError(f"--bald-classifier: no such file: {args.bald_classifier}")
    if args.threads:
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    for path in args.data:
        if not path.is_file():
            raise ValueError(f"--data: no such file: {path}")
    device = choose_device(args.device)
    try:
        pack = load_pack(args.pack, device)
    except PackError as err:
        raise ValueError(f"--pack: {err}") from None
    resolution = pack.generator.size
    template = parse_alignment(pack.manifest.alignment)
    sets = [load_npz_set(path, resolution, args.limit, args.seed) for path in args.data]
    detector = load_detector(device)
    if args.photos is not None:
        sets.append(load_photo_set(args.photos, detector, template, resolution, args.limit,
                                   args.seed))  # fmt: skip
    warnings = alignment_warnings(pack.manifest.alignment, sets)
    if args.bald_classifier is None and "bald" in pack.directions:
        warnings.append("no --bald-classifier: the bald edit's main figure is not measured")
    for line in warnings:
        _stderr(f"warning: {line}")
    _stderr(f"measuring pack {pack.manifest.name!r} on {describe(device)}: "
            + ", ".join(f"{s.name} {len(s)} faces" for s in sets))  # fmt: skip
    if make_scorers is None:

        def make_scorers(real: np.ndarray) -> Scorers:
            return load_real_scorers(real, detector, args.bald_classifier, device)

    outcome = measure(pack, sets, make_scorers, args.samples, args.seed, device, _stderr)
    seconds = time.monotonic() - started
    report = {
        "pack": {"root": str(args.pack), "name": pack.manifest.name, "resolution": resolution,
                 "alignment": pack.manifest.alignment},
        "device": describe(device),
        "limit": args.limit,
        "warnings": warnings,
        **outcome.report,
        "seconds": round(seconds, 1),
    }  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "measure.json", (json.dumps(report, indent=2) + "\n").encode())
    atomic_write(args.out / "table.md", outcome.table.encode())
    write_png(args.out / "grid.png", outcome.grid)
    sys.stdout.write(outcome.table)
    sys.stdout.write(f"\n{len(outcome.figures)} figures in {seconds:.0f} s; wrote measure.json, "
                     f"table.md and grid.png in {args.out}\n")  # fmt: skip
    return 0
