"""Attribute classifier (`facesmith train classifier`): network, sampling, training on a tiny
learnable set, held-out isolation, save/load as a Classifier, and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from facesmith_client.cli.main import main
from facesmith_server.latent.classifiers import Classifier
from facesmith_train.classify.model import (
    AttributeNet,
    classifiers_from,
    load_attribute,
    save_attribute,
)
from facesmith_train.classify.train import (
    AttributeReport,
    augment_light,
    balanced_batch,
    held_out_accuracy,
    train_attribute,
)

CPU = torch.device("cpu")
SIZE = 16  # tiny crops (the net resizes them to 64 inside)


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Other jobs may share this machine: more threads than free cores is much slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def toy_set(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noisy grey faces; "yes" ones (1 in 8) have a bright top third, like a bald scalp.
    The last 16 are held out (2 of them "yes")."""
    rng = np.random.default_rng(seed)
    crops = rng.integers(40, 120, (n, SIZE, SIZE, 3), dtype=np.uint8)
    labels = np.zeros(n, np.int16)
    labels[::8] = 1
    crops[labels == 1, : SIZE // 3] += 120
    held_out = np.zeros(n, bool)
    held_out[-16:] = True
    return crops, labels, held_out


def test_net_takes_any_size_and_returns_one_logit_per_attribute() -> None:
    net = AttributeNet(outputs=2).eval()
    for size in (16, 64, 96):
        assert net(torch.zeros(3, 3, size, size)).shape == (3, 2)
    with pytest.raises(ValueError):
        net(torch.zeros(3, 64, 64))


def test_balanced_batch_is_half_positive() -> None:
    positives, negatives = torch.tensor([1, 5]), torch.arange(10, 100)
    index = balanced_batch(positives, negatives, 9, torch.Generator().manual_seed(0))
    assert index.shape == (9,)
    assert np.isin(index[:4].numpy(), [1, 5]).all() and (index[4:] >= 10).all()


def test_augmentation_keeps_shape_and_range_and_follows_its_rng() -> None:
    images = torch.rand(5, 3, SIZE, SIZE) * 2 - 1
    first = augment_light(images, torch.Generator().manual_seed(3))
    again = augment_light(images, torch.Generator().manual_seed(3))
    assert first.shape == images.shape and first.abs().max() <= 1.0
    assert torch.equal(first, again) and not torch.equal(first, images)


def test_accuracy_and_balanced_accuracy() -> None:
    yes = np.array([True, False, False, False])
    scores = np.array([0.9, 0.6, 0.1, 0.2])  # one false positive
    figures = held_out_accuracy(scores, yes, 0.5)
    assert figures["held_out_accuracy"] == pytest.approx(0.75)
    assert figures["held_out_balanced_accuracy"] == pytest.approx((1.0 + 2 / 3) / 2)


@pytest.fixture(scope="module")
def trained() -> tuple[AttributeNet, AttributeReport]:
    crops, labels, held_out = toy_set()
    lines: list[str] = []
    net, report = train_attribute(
        crops, labels, held_out, iterations=40, batch=16, seed=0, device=CPU, report=lines.append
    )
    assert lines and lines[-1].startswith("step 40/40") and "loss" in lines[-1]
    return net, report


def test_training_learns_an_easy_attribute(trained: tuple[AttributeNet, AttributeReport]) -> None:
    _, report = trained
    assert (report.n_train, report.n_test) == (48, 16)
    assert (report.positives_train, report.positives_test) == (6, 2)
    assert report.threshold == 0.5
    assert report.held_out_balanced_accuracy >= 0.9 and report.held_out_accuracy >= 0.9


def test_held_out_faces_do_not_touch_the_weights() -> None:
    crops, labels, held_out = toy_set()
    other = crops.copy()
    other[held_out] = 255 - other[held_out]
    kwargs = {"iterations": 3, "batch": 8, "seed": 1, "device": CPU}
    a, _ = train_attribute(crops, labels, held_out, **kwargs)
    b, _ = train_attribute(other, labels, held_out, **kwargs)
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key


def test_bad_inputs_are_refused() -> None:
    crops, labels, held_out = toy_set()
    kwargs = {"iterations": 1, "batch": 4, "seed": 0, "device": CPU}
    with pytest.raises(ValueError, match="both"):
        train_attribute(crops, np.zeros_like(labels), held_out, **kwargs)
    with pytest.raises(ValueError, match="held-out"):
        train_attribute(crops, labels, np.zeros_like(held_out), **kwargs)
    with pytest.raises(ValueError, match="uint8"):
        train_attribute(crops.astype(np.float32), labels, held_out, **kwargs)


def test_save_and_load_give_the_same_classifier(
    trained: tuple[AttributeNet, AttributeReport], tmp_path: Path
) -> None:
    net, report = trained
    path = tmp_path / "bald.pt"
    save_attribute(path, net, {"name": "bald", "threshold": report.threshold})
    classifier = load_attribute(path, CPU)
    assert isinstance(classifier, Classifier)
    assert (classifier.name, classifier.kind, classifier.threshold) == ("bald", "binary", 0.5)
    crops, labels, held_out = toy_set()
    images = crops[held_out].astype(np.float32) / 255.0
    scores = classifier(images)
    assert scores.shape == (16,) and scores.dtype == np.float64
    assert ((scores >= 0) & (scores <= 1)).all()
    assert (classifier.decide(images) == (labels[held_out] > 0)).all()
    # the same numbers as the net it was saved from
    x = torch.from_numpy(images).permute(0, 3, 1, 2) * 2 - 1
    with torch.no_grad():
        expected = torch.sigmoid((net.eval()(x) + net(x.flip(3))) / 2)[:, 0].double().numpy()
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a facesmith attribute classifier"):
        load_attribute(tmp_path / "other.pt")


def test_cli_trains_writes_weights_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crops, labels, held_out = toy_set()
    data = tmp_path / "celeba.npz"
    np.savez(
        data, crops=crops, labels=np.stack([1 - labels, labels], axis=1),
        label_names=np.array(["Male", "Bald"]), held_out=held_out,
        alignment=np.array("template eye_scale=1.2 mouth_scale=1.08 centre_shift=0.5"),
    )  # fmt: skip
    out = tmp_path / "models" / "bald.pt"
    argv = ["train", "classifier", "--data", str(data), "--attribute", "Bald", "--out", str(out)]
    assert main([*argv, "--iterations", "4", "--batch", "8", "--threads", "1"]) == 0
    captured = capsys.readouterr()
    assert "held-out accuracy" in captured.out and "balanced accuracy" in captured.out
    assert "step 4/4" in captured.err
    report = json.loads(out.with_suffix(".json").read_text())
    (head,) = report["heads"]
    assert head["name"] == "bald" and head["report"]["n_test"] == 16
    assert report["alignment"].startswith("template")
    assert load_attribute(out).meta["attribute"] == "Bald"

    both = tmp_path / "models" / "both.pt"
    argv_both = ["train", "classifier", "--data", str(data), "--attribute", "bald=Bald",
                 "--attribute", "hair=~Bald", "--out", str(both), "--iterations", "2",
                 "--batch", "8"]  # fmt: skip
    assert main(argv_both) == 0
    read = classifiers_from([str(both)])
    assert set(read) == {"bald", "hair"} and read["hair"].meta["negated"] is True
    assert set(classifiers_from([f"hair={both}"])) == {"hair"}
    images = crops[:4].astype(np.float32) / 255.0
    assert read["bald"](images).shape == (4,)
    assert not np.allclose(read["bald"](images), read["hair"](images))
    capsys.readouterr()

    argv[argv.index("Bald")] = "Hat"
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert "no attribute 'Hat'" in error and "Male, Bald" in error
