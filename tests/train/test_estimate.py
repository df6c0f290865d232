"""`facesmith train estimate` reads real faces: CelebA-HQ photos' genders come out right."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facesmith_client.vision.images import read_image
from facesmith_train.data.prepared import estimates_path, load_prepared
from facesmith_train.measure.estimate import estimate_file


def test_estimates_agree_with_known_genders(photos_dir: Path, tmp_path: Path) -> None:
    crops, male = [], []
    for label, folder in ((1, "male"), (0, "female")):
        for path in sorted((photos_dir / "aligned_celebahq" / folder).glob("*.jpg"))[:12]:
            image = read_image(path)  # uint8 RGB
            crops.append(cv2.resize(image, (128, 128), interpolation=cv2.INTER_AREA))
            male.append(label)
    data = tmp_path / "faces.npz"
    np.savez(data, crops=np.array(crops), held_out=np.zeros(len(crops), bool),
             labels=np.array(male, np.int16)[:, None], label_names=np.array(["Male"]))  # fmt: skip
    assert estimate_file(data, log=lambda _: None) == estimates_path(data)
    prepared = load_prepared(data, split="all")
    agree = np.mean((prepared.column("male") >= 0.5) == (prepared.column("Male") == 1))
    assert agree >= 0.9
    ages = prepared.column("age")
    assert ages.shape == (len(crops),) and 10 < ages.mean() < 60
