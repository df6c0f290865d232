"""Absolute edits (`--set`), swaps, inversion qualities and pivotal tuning, on the test pack
(its age and gender directions carry attribute models)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from facesmith_server.errors import InvalidInput
from facesmith_server.latent.edit import SWAP_MARGIN
from facesmith_server.model.pack import load_pack
from facesmith_server.model.testpack import make_test_pack
from facesmith_server.service.engine import EditStep, Engine

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    root = make_test_pack(tmp_path_factory.mktemp("pack") / "test", seed=3, resolution=32)
    return Engine(load_pack(root, CPU), CPU, default_refine_steps=5)


def latents(engine: Engine, offsets: list[float], along: str) -> list[np.ndarray]:
    """latent_avg moved by each offset (in strength units) along a direction."""
    base = engine.pack.encoder_latent_avg.numpy()
    vector = engine.pack.directions[along].vector
    return [np.asarray(base + k * vector, np.float32) for k in offsets]


def test_set_age_reaches_the_target_for_every_face(engine: Engine) -> None:
    score = engine.pack.directions["age"].score
    assert score is not None
    faces = latents(engine, [-20.0, 0.0, 15.0], "gender")  # differ in other ways too
    faces += latents(engine, [-15.0, 10.0], "age")  # 25 and 50 years: within ±50 of 70
    edited = engine.apply_edits(faces, [EditStep("age", mode="set", target=70.0)])
    assert [round(score.value(w), 3) for w in edited] == [70.0] * len(faces)


def test_set_is_clipped_to_the_directions_range(engine: Engine) -> None:
    score = engine.pack.directions["age"].score
    assert score is not None
    (young,) = latents(engine, [-45.0], "age")  # about 40 - 45 = -5 "years"
    (edited,) = engine.apply_edits([young], [EditStep("age", mode="set", target=100.0)])
    assert score.value(edited) == pytest.approx(score.value(young) + 50.0, abs=1e-3)  # max +50


def test_edits_stopped_by_the_range_say_where_they_stopped(engine: Engine) -> None:
    age, gender = engine.pack.directions["age"].score, engine.pack.directions["gender"].score
    assert age is not None and gender is not None
    young, middle = latents(engine, [-45.0, 0.0], "age")  # about -5 and 40 "years"
    to_70 = [EditStep("age", mode="set", target=70.0)]
    far, near = engine.edit_latents([young, middle], to_70)
    assert near.short == () and age.value(near.latent) == pytest.approx(70.0, abs=1e-3)
    (stopped,) = far.short
    assert (stopped.name, stopped.mode, stopped.goal) == ("age", "set", 70.0)
    assert stopped.reached == pytest.approx(age.value(young) + 50.0, abs=1e-3)  # range max +50
    assert engine.edit_latents([young], [EditStep("age", 50.0)])[0].short == ()  # relative
    (man,) = latents(engine, [2.0], "gender")  # the range's end: the mirror is 4 units away
    (swapped,) = engine.edit_latents([man], [EditStep("gender", mode="swap")])
    (stopped,) = swapped.short
    logit = gender.value(man)
    assert stopped.goal == pytest.approx(gender.readable(-logit), abs=1e-6)  # a probability
    assert stopped.reached == pytest.approx(gender.readable(gender.value(swapped.latent)))
    assert stopped.goal < stopped.reached < gender.readable(logit)  # moved, but not far enough


def test_swap_lands_at_the_mirrored_distance_and_at_least_the_margin(engine: Engine) -> None:
    score = engine.pack.directions["gender"].score
    assert score is not None
    faces = latents(engine, [-0.6, -0.3, 0.2, 0.5], "gender")
    before = [score.value(w) for w in faces]
    after = [score.value(w) for w in engine.apply_edits(faces, [EditStep("gender", mode="swap")])]
    assert all(0.1 < abs(b) < SWAP_MARGIN for b in before)  # all land at the margin
    assert after == pytest.approx([-math.copysign(SWAP_MARGIN, b) for b in before], abs=1e-3)


def test_set_after_a_relative_edit_sees_the_moved_face(engine: Engine) -> None:
    score = engine.pack.directions["age"].score
    assert score is not None
    steps = [EditStep("age", 10.0), EditStep("age", mode="set", target=55.0)]
    (edited,) = engine.apply_edits(latents(engine, [0.0], "age"), steps)
    assert score.value(edited) == pytest.approx(55.0, abs=1e-3)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (EditStep("bald", mode="set", target=1.0), "no attribute model"),
        (EditStep("age", mode="swap"), "cannot be swapped"),
        (EditStep("age", mode="set", target=150.0), "outside"),
        (EditStep("gender", mode="set", target=1.5), "outside"),
        (EditStep("age", mode="sideways"), "unknown mode"),
    ],
)
def test_unsupported_modes_and_targets_are_refused(
    engine: Engine, step: EditStep, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        engine.check_edits([step])


def test_info_says_which_edits_are_settable(engine: Engine) -> None:
    edits = {e.name: e for e in engine.info.edits}
    assert (edits["age"].kind, edits["age"].unit, edits["age"].target_max) == (
        "continuous", "years", 100.0,
    )  # fmt: skip
    assert edits["gender"].kind == "binary" and edits["gender"].group == "gender"
    assert edits["bald"].kind == ""


def test_quality_plans(engine: Engine) -> None:
    assert engine.plan("encoder", 0, 0) == (0, 0)
    assert engine.plan("default", 0, 0) == (5, 0)  # a 32 px pack: refinement is cheap
    assert engine.plan("refine", 7, 0) == (7, 0)
    assert engine.plan("pivotal", 0, 9)[1] == 9
    with pytest.raises(InvalidInput, match="quality"):
        engine.plan("best", 0, 0)


def photo_crop(engine: Engine, photos_dir: Path) -> np.ndarray:
    from facesmith_client.vision.align import align_face
    from facesmith_client.vision.detect import detect_faces, load_detector
    from facesmith_client.vision.images import read_image

    image = read_image(photos_dir / "whole" / "astronaut.png")
    face = detect_faces(image, load_detector("cpu"))[0]
    crop, _ = align_face(image, face.landmarks, engine.info.resolution)
    return (crop * 255).round().astype(np.uint8)


def test_pivotal_tuning_cuts_the_error_and_edits_still_work(
    engine: Engine, photos_dir: Path
) -> None:
    crop = photo_crop(engine, photos_dir)
    target = crop / 255.0

    def error(quality: str) -> tuple[float, np.ndarray, str]:
        (face,) = engine.invert([crop], quality=quality, refine_steps=40, pivotal_steps=80)
        (render,) = engine.render([face.latent], handles=[face.handle])
        return float(np.mean((render - target) ** 2)), face.latent, face.handle

    refined, _, _ = error("refine")
    tuned, latent, handle = error("pivotal")
    assert tuned * 2 <= refined  # PTI halves (at least) what refinement left
    (edited,) = engine.apply_edits([latent], [EditStep("gender", 2.0)])
    before, after = engine.render([latent, edited], handles=[handle, handle])
    assert np.abs(after - before).mean() > 0.02  # the edit still changes the tuned render
    (shared,) = engine.render([latent])  # without the handle: the pack's own generator
    assert np.mean((shared - target) ** 2) > tuned
