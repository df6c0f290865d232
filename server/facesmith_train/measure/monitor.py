"""`facesmith train monitor`: how varied a GAN run's samples are, snapshot by snapshot.

For every g_ema snapshot of a run (OUT/snapshots/g_ema-STEP.pt, written at each checkpoint)
not measured yet, render ``samples`` faces (z ~ N(0, I), ψ = 1, a fixed seed) and read them
with the measure's instruments; the same figures of as many held-out real faces are the
reference. One JSON line per snapshot goes to OUT/monitor.jsonl and is printed:
face found, share of men, age mean / spread, mean pairwise dlib distance (and its ratio to
the real faces'), and the Fréchet distance of the descriptors to the real faces'.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facesmith import pixels
from facesmith_server.model.checkpoints import load_generator
from facesmith_server.model.seeded_z import seeded_z
from facesmith_train.classify.readers import Scorers, enlarge, load_real_scorers, resized
from facesmith_train.data.prepared import load_many
from facesmith_train.measure.diversity import frechet_distance, variety

MONITOR_FILE = "monitor.jsonl"
SAMPLE_SEED = 2024
CHUNK = 64
SNAPSHOT = re.compile(r"g_ema-(\d+)\.pt$")


def snapshots(run: Path) -> list[tuple[int, Path]]:
    """(step, path) of every snapshot of a run, by step."""
    found = []
    for path in (run / "snapshots").glob("g_ema-*.pt"):
        match = SNAPSHOT.search(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def real_reference(data: Sequence[Path], size: int, count: int, seed: int = 0) -> np.ndarray:
    """``count`` held-out crops of the prepared files, an equal share of each, resized to
    ``size``: float32 [N, size, size, 3] 0..1."""
    sets = load_many(data, split="held_out")
    rng = np.random.default_rng(seed)
    parts = []
    for k, prepared in enumerate(sets):
        take = count // len(sets) + (k < count % len(sets))
        chosen = rng.permutation(len(prepared))[:take]
        parts.append(resized(pixels.stack_to_float(prepared.crops[chosen]), size))
    return np.concatenate(parts)


@torch.no_grad()
def render_samples(path: Path, count: int, seed: int = SAMPLE_SEED) -> np.ndarray:
    """``count`` faces of a generator file: float32 [N, R, R, 3] 0..1."""
    generator, _ = load_generator(path, "cpu")
    z = seeded_z(count, generator.style_dim, seed)
    parts = [generator(z[i : i + CHUNK], noise_mode="const") for i in range(0, count, CHUNK)]
    rgb = torch.cat(parts).clamp(-1, 1).add(1).div(2)
    return rgb.permute(0, 2, 3, 1).contiguous().numpy()


def read_faces(images: np.ndarray, scorers: Scorers) -> dict[str, np.ndarray]:
    large = enlarge(images)
    age, male = scorers.age_gender(large)
    return {"age": age, "male": male, "descriptors": scorers.descriptors(large),
            "found": scorers.face_found(large)}  # fmt: skip


def figures(faces: dict[str, np.ndarray], real: dict[str, np.ndarray]) -> dict[str, Any]:
    """The monitor's line for one set of faces against the real reference."""
    mine = variety(faces["found"], faces["male"], faces["age"], faces["descriptors"])
    theirs = variety(real["found"], real["male"], real["age"], real["descriptors"])
    return {
        **mine.to_dict(),
        "pairwise_vs_real": round(mine.pairwise_distance / max(theirs.pairwise_distance, 1e-9), 4),
        "frechet": round(frechet_distance(faces["descriptors"], real["descriptors"]), 4),
    }


def monitor(
    run: Path,
    data: Sequence[Path],
    samples: int,
    scorer_factory: Callable[[np.ndarray], Scorers] | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Measure every snapshot of ``run`` not in its monitor file yet; returns the new lines."""
    out = run / MONITOR_FILE
    done = set()
    if out.is_file():
        done = {json.loads(line)["step"] for line in out.read_text().splitlines() if line}
    todo = [(step, path) for step, path in snapshots(run) if step not in done]
    if not todo:
        return []
    size = load_generator(todo[0][1], "cpu")[0].size
    real_crops = real_reference(data, size, samples)
    scorers = (scorer_factory or _real_scorers)(real_crops)
    real = read_faces(real_crops, scorers)
    lines = []
    if not done:
        lines.append(_record(out, {"step": "real", **figures(real, real)}, log))
    for step, path in todo:  # each line is written as soon as it is measured
        started = time.monotonic()
        line = {"step": step, **figures(read_faces(render_samples(path, samples), scorers), real)}
        line["seconds"] = round(time.monotonic() - started, 1)
        lines.append(_record(out, line, log))
    return lines


def _record(out: Path, line: dict[str, Any], log: Callable[[str], None]) -> dict[str, Any]:
    with out.open("a") as f:
        f.write(json.dumps(line) + "\n")
    log(json.dumps(line))
    return line


def _real_scorers(real_crops: np.ndarray) -> Scorers:
    from facesmith_client.vision.detect import load_detector

    return load_real_scorers(real_crops, load_detector("cpu"))
