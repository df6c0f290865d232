"""The PyTorch port of dlib's face descriptor (face-api's weights): loading, shapes, gradients,
agreement with dlib itself on dlib's face chips, and on FFHQ-aligned faces the same ranking of
pairs as dlib's own pipeline (dlib-bin and face-recognition-models, the `score` extra)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from facesmith_server.model.identity import (
    MANIFEST,
    SAME_PERSON_MAX,
    TENSOR_COUNT,
    FaceRecognitionNet,
    ffhq_descriptors,
    identity_distance,
    load_face_api_weights,
    load_identity_net,
)

PARAMETERS = 5_614_592  # in face-api's 117 tensors
CHIP_FACES = 8  # faces compared element-wise on dlib's own chip
MIN_SPEARMAN = 0.95  # measured 0.97 on the 46 faces at 512 px
MIN_AGREEMENT = 0.99  # share of pairs on the same side of 0.6 (measured 1.0)
MAX_FLIP_DISTANCE = 0.3  # measured at most 0.25 (dlib itself: 0.26)


@pytest.fixture(scope="module")
def net(face_api_dir: Path) -> FaceRecognitionNet:
    return load_identity_net(face_api_dir)


@dataclass(frozen=True)
class Faces:
    images: np.ndarray  # [N, 512, 512, 3] uint8 RGB, the aligned CelebA-HQ faces
    dlib: np.ndarray  # [N, 128] dlib's descriptors (its landmarks, chip and net)
    port: np.ndarray  # [N, 128] the port's, through ffhq_descriptors
    flipped: np.ndarray  # [N, 128] the port's on the mirrored faces


@pytest.fixture(scope="module")
def faces(photos_dir: Path, net: FaceRecognitionNet) -> Faces:
    from facesmith_client.pipeline.score import IdentityModel
    from facesmith_server.latent.classifiers import FFHQ_FACE_BOX

    files = sorted((photos_dir / "aligned_celebahq").glob("*/*.jpg"))
    assert len(files) >= 40  # 46 at present
    # Read at half size (512 px): faster, and both descriptors see the same pixels.
    images = np.stack([_read_rgb_half(path) for path in files])
    model = IdentityModel()
    box = [v * images.shape[1] for v in FFHQ_FACE_BOX]  # dlib's detector box in FFHQ framing
    reference = np.stack([model.descriptor(image, box) for image in images])
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    with torch.no_grad():
        port = ffhq_descriptors(net, x).double().numpy()
        flipped = ffhq_descriptors(net, x.flip(-1)).double().numpy()
    return Faces(images, reference, port, flipped)


def _read_rgb_half(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_REDUCED_COLOR_2)
    assert image is not None, path
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


def _pair_distances(descriptors: np.ndarray) -> np.ndarray:
    """[N, 128] → the N (N - 1) / 2 distances of distinct pairs."""
    rows, cols = np.triu_indices(len(descriptors), 1)
    return np.linalg.norm(descriptors[rows] - descriptors[cols], axis=1)


def _ranks(values: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(values)).astype(np.float64)  # distances have no ties


def test_weights_load_with_every_tensor(face_api_dir: Path) -> None:
    weights = load_face_api_weights(face_api_dir)
    assert len(weights) == TENSOR_COUNT
    assert sum(t.numel() for t in weights.values()) == PARAMETERS
    assert weights["conv32_down/conv/filters"].shape == (7, 7, 3, 32)
    assert weights["fc"].shape == (256, 128)
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in weights.values())


def test_wrong_weights_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="manifest missing"):
        load_face_api_weights(tmp_path)
    (tmp_path / MANIFEST).write_text("{not json")
    with pytest.raises(ValueError, match=r"not a TF\.js weights manifest"):
        load_face_api_weights(tmp_path)
    entry = {"name": "fc", "shape": [2], "dtype": "float32"}
    (tmp_path / MANIFEST).write_text(json.dumps([{"paths": ["w.bin"], "weights": [entry]}]))
    with pytest.raises(ValueError, match="weights file missing"):
        load_face_api_weights(tmp_path)
    (tmp_path / "w.bin").write_bytes(bytes(4))
    with pytest.raises(ValueError, match="too short"):
        load_face_api_weights(tmp_path)
    (tmp_path / "w.bin").write_bytes(bytes(8))
    with pytest.raises(ValueError, match=f"expected {TENSOR_COUNT} tensors"):
        load_face_api_weights(tmp_path)


def test_descriptors_and_gradients(net: FaceRecognitionNet) -> None:
    images = torch.rand(2, 3, 150, 150, generator=torch.Generator().manual_seed(0)) * 255.0
    images.requires_grad_(True)
    descriptors = net(images)
    assert descriptors.shape == (2, 128)
    norms = descriptors.norm(dim=1)
    assert ((norms > 0.8) & (norms < 2.0)).all(), norms  # dlib's are about 1.3 to 1.7
    descriptors.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in net.parameters())  # frozen: a loss, not a model


def test_ffhq_descriptors_of_any_size_pass_gradients(net: FaceRecognitionNet) -> None:
    images = torch.zeros(1, 3, 96, 96).uniform_(-1.0, 1.0).requires_grad_(True)
    descriptors = ffhq_descriptors(net, images)
    assert descriptors.shape == (1, 128)
    identity_distance(descriptors, torch.zeros_like(descriptors)).sum().backward()
    assert images.grad is not None and torch.isfinite(images.grad).all()
    assert images.grad.abs().sum() > 0


def test_port_matches_dlib_on_dlibs_chip(faces: Faces, net: FaceRecognitionNet) -> None:
    import dlib

    from facesmith_client.pipeline.score import face_model_files
    from facesmith_server.latent.classifiers import FFHQ_FACE_BOX

    shape_file, net_file = face_model_files()
    shapes, reference = (
        dlib.shape_predictor(str(shape_file)),
        dlib.face_recognition_model_v1(str(net_file)),
    )
    side = faces.images.shape[1]
    rect = dlib.rectangle(*(round(v * side) for v in FFHQ_FACE_BOX))
    images = faces.images[:: len(faces.images) // CHIP_FACES][:CHIP_FACES]
    chips = [dlib.get_face_chip(image, shapes(image, rect), 150, 0.25) for image in images]
    expected = np.array([reference.compute_face_descriptor(chip) for chip in chips])
    with torch.no_grad():
        x = torch.from_numpy(np.stack(chips)).permute(0, 3, 1, 2).float()
        got = net(x).double().numpy()
    assert np.abs(got - expected).max() < 0.03  # measured 0.011 (uint8-quantised weights)
    assert np.abs(got - expected).mean() < 0.006  # measured 0.003


def test_port_ranks_pairs_like_dlib(faces: Faces) -> None:
    ours, theirs = _pair_distances(faces.port), _pair_distances(faces.dlib)
    spearman = np.corrcoef(_ranks(ours), _ranks(theirs))[0, 1]
    assert spearman >= MIN_SPEARMAN
    agreement = np.mean((ours < SAME_PERSON_MAX) == (theirs < SAME_PERSON_MAX))
    assert agreement >= MIN_AGREEMENT


def test_a_mirrored_face_keeps_its_descriptor(faces: Faces) -> None:
    distances = np.linalg.norm(faces.port - faces.flipped, axis=1)
    assert distances.max() <= MAX_FLIP_DISTANCE
    # and far from any other person's descriptor
    assert distances.mean() < np.median(_pair_distances(faces.port)) / 2
