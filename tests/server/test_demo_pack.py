"""The built-in demo pack, as shipped: every edit changes its faces and the absolute edits
work. The variety of its faces and how visible its edits are on real photos are measured,
not tested (`facesmith train measure`, README "How the demo pack measures")."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from facesmith_client.remote.local_server import default_pack_dir
from facesmith_server.latent.edit import SWAP_MARGIN
from facesmith_server.model.pack import Pack, load_pack
from facesmith_server.model.seeded_z import seeded_z
from facesmith_server.service.engine import EditStep, Engine

CPU = torch.device("cpu")
FACES = 8
TRUNCATION = 0.7
# Mean absolute change over the whole 64 px crop, in 0..1 units (fp16 weights alone move a
# render by about 0.001): an edit below this does nothing.
CHANGES = 0.003


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_pack(default_pack_dir(), CPU), CPU, default_refine_steps=0)


def sampled_faces(pack: Pack, count: int, seed: int = 0) -> list[np.ndarray]:
    """W+ latents of random faces of the pack's own generator (truncated towards the mean)."""
    g = pack.generator
    z = seeded_z(count, g.style_dim, seed)
    with torch.no_grad():
        w = g.mapping(z)
    w = pack.latent_avg.reshape(1, -1) + TRUNCATION * (w - pack.latent_avg.reshape(1, -1))
    return [np.repeat(row[None], g.num_ws, axis=0).astype(np.float32) for row in w.numpy()]


def test_every_edit_at_full_strength_changes_the_face(engine: Engine) -> None:
    faces = sampled_faces(engine.pack, FACES)
    plain = np.stack(engine.render(faces))
    changes = {}
    for name, direction in engine.pack.directions.items():
        edited = engine.apply_edits(faces, [EditStep(name, direction.max)])
        changes[name] = float(np.abs(np.stack(engine.render(edited)) - plain).mean())
    idle = {name: round(c, 4) for name, c in changes.items() if c < CHANGES}
    assert not idle, f"edits that change nothing: {idle} (all: {changes})"


def test_the_demo_pack_can_set_age_and_swap_gender(engine: Engine) -> None:
    """Set and swap go to their goal by the attribute's model, or as far as the edit's range
    allows (along the generator's own label axes the models move less per unit)."""
    faces = sampled_faces(engine.pack, FACES, seed=1)
    for name, mode, target in (("age", "set", 70.0), ("gender", "swap", 0.0)):
        direction = engine.pack.directions[name]
        score = direction.score
        assert score is not None
        rate = float(direction.vector.astype(np.float64).mean(axis=0) @ score.normal)
        reach = direction.max * abs(rate)  # the most the model moves within the range
        assert reach > 0.5, name
        edited = engine.apply_edits(faces, [EditStep(name, mode=mode, target=target)])
        for before, after in zip(faces, edited, strict=True):
            now = score.value(before)
            goal = target if mode == "set" else -math.copysign(max(abs(now), SWAP_MARGIN), now)
            expected = now + float(np.clip(goal - now, -reach, reach))
            assert score.value(after) == pytest.approx(expected, abs=0.01), name


def test_the_demo_pack_makes_faces_from_line_drawings(engine: Engine) -> None:
    """Its sketch encoder's faces from two drawings, in two seeds' colours: the detector finds a
    face in each (drawn at the demo pack's 64 px, so upscaled for it)."""
    import cv2

    from facesmith import pixels
    from facesmith_client.vision.detect import detect_faces, load_detector

    drawings = [cartoon(0), cartoon(6)]
    faces = []
    for seed in (0, 3):
        made = engine.from_sketch(drawings, 0.0, seed)
        faces += engine.render([face.latent for face in made])
    detector = load_detector(CPU)
    for i, face in enumerate(faces):
        big = cv2.resize(face, (256, 256), interpolation=cv2.INTER_CUBIC).clip(0, 1)
        assert detect_faces(pixels.from_float(big, np.uint8), detector), f"face {i}"
    assert np.abs(faces[0] - faces[2]).mean() > 0.02  # another seed, other colours


def cartoon(chin: int) -> np.ndarray:
    """A face drawn in black lines on white at 64 px: outline, hair line, eyes, nose, mouth."""
    import cv2

    paper = np.full((64, 64, 3), 255, np.uint8)
    cv2.ellipse(paper, (32, 35), (15, 20 + chin // 3), 0, 0, 360, (0, 0, 0), 1)
    cv2.ellipse(paper, (32, 29), (17, 19), 0, 180, 360, (0, 0, 0), 1)
    for x in (26, 38):
        cv2.circle(paper, (x, 32), 2, (0, 0, 0), -1)
    cv2.line(paper, (32, 34), (31, 40), (0, 0, 0), 1)
    cv2.ellipse(paper, (32, 45), (5, 2), 0, 0, 180, (0, 0, 0), 1)
    return paper
