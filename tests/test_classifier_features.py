"""The download-free feature extractor: a small classifier trained once on labeled data, cached on
disk under a key of everything that shapes it, with a checksum checked on every load."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

import gan_cli.metrics.classifier as classifier_module
from gan_cli.metrics.classifier import FEATURES, ClassifierSpec, cached_classifier, extract_features


def halves(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """16x16 images in [-1, 1]: class 0 is bright in the top half, class 1 in the bottom half."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (count,), generator=generator)
    images = torch.rand(count, 1, 16, 16, generator=generator) * 0.6 - 1
    for index, label in enumerate(labels.tolist()):
        images[index, :, 8 * label : 8 * label + 8] += 1.2
    return images, labels


SPEC = ClassifierSpec("halves/train", images=256, channels=1, classes=2, epochs=3, batch_size=32)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cache = tmp_path_factory.mktemp("classifier_cache")
    return cache, cached_classifier(cache, SPEC, halves(256, seed=0), halves(100, seed=1))


def test_the_classifier_learns_the_classes_and_reports_held_out_accuracy(trained):
    _, classifier = trained
    assert classifier.heldout_accuracy > 0.9
    features = extract_features(classifier.model, halves(10, seed=2)[0])
    assert features.shape == (10, FEATURES)


def test_a_cached_classifier_loads_without_training(trained, monkeypatch):
    cache, first = trained

    def no_training(*args):
        raise AssertionError("trained again despite a valid cache")

    monkeypatch.setattr(classifier_module, "train_classifier", no_training)
    again = cached_classifier(cache, SPEC, halves(256, seed=0), halves(100, seed=1))
    assert again.heldout_accuracy == first.heldout_accuracy
    images = halves(5, seed=3)[0]
    assert torch.equal(extract_features(again.model, images), extract_features(first.model, images))


def test_a_cache_file_whose_checksum_fails_is_retrained(tmp_path):
    spec = replace(SPEC, epochs=1)
    cached_classifier(tmp_path, spec, halves(64, seed=0), halves(20, seed=1))
    weights = tmp_path / f"classifier-{spec.digest()}.pt"
    weights.write_bytes(weights.read_bytes()[:-10] + b"tampered!!")
    retrained = cached_classifier(tmp_path, spec, halves(64, seed=0), halves(20, seed=1))
    assert retrained.heldout_accuracy >= 0
    assert torch.load(weights, weights_only=True)["spec"]["epochs"] == 1


def test_the_cache_key_changes_with_the_data_the_architecture_and_the_training():
    changed = [
        replace(SPEC, dataset="halves/test"),
        replace(SPEC, images=255),
        replace(SPEC, architecture="something-else"),
        replace(SPEC, epochs=4),
        replace(SPEC, seed=1),
    ]
    digests = {spec.digest() for spec in changed}
    assert len(digests) == len(changed) and SPEC.digest() not in digests
