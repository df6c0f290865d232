"""The figures of `facesmith train measure`: per-face values of each set, their means per set
and over all sets ("all"), the verdict against the issue's targets (judged on "all") and the
markdown table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from facesmith_client.pipeline.score import identity_distance
from facesmith_train.measure.diversity import mean_pairwise_distance
from facesmith_train.measure.models import Edit, Measures, SetResult
from facesmith_train.measure.sets import FaceSet

ALL = "all"
# The targets: (comparison, value), judged on "all"
TARGETS: dict[str, tuple[str, float]] = {
    "samples.face_found": (">=", 0.95),
    "samples.male_share_gap": ("<=", 0.10),
    "samples.age_mean_gap": ("<=", 5.0),
    "samples.pairwise_gap": ("<=", 0.10),
    "identity.reconstruction": ("<=", 0.50),
    "reconstruction.gender_vs_photo": (">=", 0.90),
    "older.age_rise": (">=", 15.0),
    "older.gender_agrees": (">=", 0.90),
    "identity.older": ("<=", 0.60),
    "younger.age_fall": (">=", 10.0),
    "age = 70.within_10y": (">=", 0.70),
    "gender swap.flipped": (">=", 0.90),
    "identity.gender swap": ("<=", 0.65),
    "bald.called": (">=", 0.70),
    "bald.gender_agrees": (">=", 0.90),
}
MOVED_TARGET = (">=", 0.80)  # every other edit moves its classifier the right way
SAME_PERSON_MAX = 0.41  # dlib descriptor distances (BRIEF)
DIFFERENT_PERSON_MIN = 0.76

FIXED_FIGURES: dict[str, tuple[str, str, str]] = {  # key → (label, unit, note)
    "samples.face_found": (
        "random samples: the detector finds a face", "%", "z ~ N(0, I), psi 1, at 256 px"),
    "samples.male_share_gap": (
        "random samples: |share of men − the real faces'|", "%", ""),
    "samples.age_mean_gap": (
        "random samples: |mean age − the real faces'|", "y", ""),
    "samples.pairwise_gap": (
        "random samples: |mean pairwise dlib distance / the real faces' − 1|", "%", ""),
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
    "reconstruction.detail_vs_photo": (
        "reconstruction: fine detail / the photo's", "", "the bare render"),
    "identity.reconstruction": (
        "identity distance: photo vs reconstruction", "",
        f"dlib: same person ≤ {SAME_PERSON_MAX}, different ≥ {DIFFERENT_PERSON_MIN}"),
}  # fmt: skip
EDIT_FIGURES: dict[str, tuple[str, str]] = {  # key after "EDIT." → (label, unit)
    "age_rise": ("{edit} ({how}): mean estimated age rise over the unedited face", "y"),
    "age_fall": ("{edit} ({how}): mean estimated age fall from the unedited face", "y"),
    "within_10y": ("{edit} ({how}): estimated age within 10 y of the target", "%"),
    "within_5y": ("{edit} ({how}): estimated age within 5 y of the target", "%"),
    "age_over": ("{edit} ({how}): mean estimated age − the target", "y"),
    "stopped": ("{edit} ({how}): stopped at the end of the edit's range", "%"),
    "flipped": ("{edit} ({how}): estimated gender flipped from the photo's", "%"),
    "flipped_men": ("{edit} ({how}): of the photos read as men, flipped", "%"),
    "flipped_women": ("{edit} ({how}): of the photos read as women, flipped", "%"),
    "called": ("{edit} ({how}): called {edit} by its classifier", "%"),
    "moved": ("{edit} ({how}): its classifier moves the right way", "%"),
    "gender_agrees": ("{edit} ({how}): gender agrees with the unedited face", "%"),
    "detail": ("{edit} ({how}): fine detail / the photo's", ""),
}


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
        values[name] = float(np.mean(v)) if v is not None and len(v) else None
        counts[name] = 0 if v is None else len(v)
    pooled = [np.asarray(v, np.float64) for v in per_set.values() if v is not None and len(v)]
    values[ALL] = float(np.mean(np.concatenate(pooled))) if pooled else None
    counts[ALL] = sum(len(v) for v in pooled)
    target = TARGETS.get(key, MOVED_TARGET if key.endswith(".moved") else None)
    return Figure(key, label, unit, values, counts, target, note)


def describe_edits(results: Sequence[SetResult]) -> dict[str, str]:
    """Edit label → its direction and strengths, e.g. {"older": "age +3"}."""
    return {e.label: e.describe() for r in results for e in r.edits}


def build_figures(
    results: Sequence[SetResult],
    samples: Measures | None,
    samples_found: np.ndarray | None,
    thresholds: Mapping[str, float],
) -> list[Figure]:
    """Every figure of the issue, and two that say how far the age and gender models can be
    trusted on these crops (the photo's estimate against its label)."""
    per_set = {r.faces.name: face_values(r, thresholds) for r in results}
    how = describe_edits(results)
    keys = list(dict.fromkeys(k for values in per_set.values() for k in values))
    figures = [_figure("samples.face_found", {"samples": samples_found}, how)]
    if samples is not None:
        real = [r.photo for r in results]
        gaps = sample_gaps(samples, real)
        figures += [_figure(k, {"samples": np.array([v])}, how) for k, v in gaps.items()]
    return figures + [_figure(k, {s: vs.get(k) for s, vs in per_set.items()}, how) for k in keys]


def sample_gaps(samples: Measures, real: Sequence[Measures]) -> dict[str, float]:
    """How far the random samples' variety is from the real faces': share of men, mean age,
    and the mean pairwise identity distance (as a ratio; only with two real faces or more)."""
    male = np.concatenate([m.male for m in real])
    age = np.concatenate([m.age for m in real])
    descriptors = np.concatenate([m.descriptors for m in real])
    gaps = {
        "samples.male_share_gap": abs(float(np.mean(samples.male >= 0.5) - np.mean(male >= 0.5))),
        "samples.age_mean_gap": abs(float(samples.age.mean() - age.mean())),
    }
    if len(descriptors) >= 2:
        ratio = mean_pairwise_distance(samples.descriptors) / mean_pairwise_distance(descriptors)
        gaps["samples.pairwise_gap"] = abs(ratio - 1.0)
    return gaps


def _figure(key: str, per_set: PerFace, how: Mapping[str, str]) -> Figure:
    if key in FIXED_FIGURES:
        label, unit, note = FIXED_FIGURES[key]
        return figure(key, label, unit, per_set, note)
    edit, _, what = key.rpartition(".")
    if edit == "identity":
        return figure(key, f"identity distance: photo vs {what}", "", per_set)
    text, unit = EDIT_FIGURES[what]
    return figure(key, text.format(edit=edit, how=how.get(edit, "")), unit, per_set)


# -- per-face values ---------------------------------------------------------------------------


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
        "reconstruction.detail_vs_photo": detail_ratio(recon, photo),
        "identity.reconstruction": distances(photo.descriptors, recon.descriptors),
    }
    for e in r.edits:
        v.update(edit_values(e, r.edited[e.label], r.base, photo, thresholds))
        if e.step.mode in ("set", "swap"):
            v[f"{e.label}.stopped"] = r.stopped[e.label]
        v[f"{e.label}.detail"] = detail_ratio(r.edited[e.label], photo)
        v[f"identity.{e.label}"] = distances(photo.descriptors, r.edited[e.label].descriptors)
    return v


def edit_values(
    e: Edit, m: Measures, base: Measures, photo: Measures, thresholds: Mapping[str, float]
) -> dict[str, np.ndarray | None]:
    """The figures of one edit: what it should move from ``base`` (the unedited face as pasted
    back), and gender kept where it should be."""
    label = e.label
    if e.step.mode == "set" and e.above_photo is not None:  # a target each face can reach
        over = m.age - e.targets(photo.age)
        return {f"{label}.within_5y": (np.abs(over) <= 5).astype(np.float64),
                f"{label}.age_over": over}  # fmt: skip
    if e.step.mode == "set":
        return {f"{label}.within_10y": (np.abs(m.age - e.step.target) <= 10).astype(np.float64)}
    if e.step.mode == "swap":  # per side too: a swap can work one way far better than the other
        flipped = 1.0 - same_gender(m.male, photo.male)
        men = np.asarray(photo.male) >= 0.5
        return {f"{label}.flipped": flipped, f"{label}.flipped_men": flipped[men],
                f"{label}.flipped_women": flipped[~men]}  # fmt: skip
    out: dict[str, np.ndarray | None] = {}
    if label == "older":
        out[f"{label}.age_rise"] = m.age - base.age
    elif label == "younger":
        out[f"{label}.age_fall"] = base.age - m.age
    elif label in thresholds:
        key = "called" if label == "bald" else "moved"
        yes = m.attributes[label]
        before = base.attributes[label]
        out[f"{label}.{key}"] = (
            called(m, label, thresholds) if key == "called" else (yes > before).astype(np.float64)
        )
    elif f"{label}.called" in TARGETS:  # a target without its classifier: say "n/a"
        out[f"{label}.called"] = None
    out[f"{label}.gender_agrees"] = same_gender(m.male, base.male)
    return out


def same_gender(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per face 1.0 where P(male) a and b fall on the same side of 0.5."""
    return ((np.asarray(a) >= 0.5) == (np.asarray(b) >= 0.5)).astype(np.float64)


def called(m: Measures, key: str, thresholds: Mapping[str, float]) -> np.ndarray:
    """Per face 1.0 where the classifier of ``key`` says yes."""
    return (m.attributes[key] >= thresholds[key]).astype(np.float64)


def abs_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))


def detail_ratio(m: Measures, photo: Measures) -> np.ndarray | None:
    """Each image's fine detail over its photo's (None where either was not read)."""
    if m.detail is None or photo.detail is None:
        return None
    return m.detail / np.maximum(photo.detail, 1e-6)


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per face, the identity distance between descriptors a [N, 128] and b [N, 128]."""
    return np.array([identity_distance(x, y) for x, y in zip(a, b, strict=True)], np.float64)


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
        return note
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
