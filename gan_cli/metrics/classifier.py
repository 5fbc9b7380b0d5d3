"""A feature extractor that needs no download: a small classifier trained once on the labeled train
split, whose penultimate layer gives the features (a Fréchet classifier distance, the standard
domain-specific FID on MNIST).

The trained weights are cached on disk, keyed by everything that changes them (the data, the
architecture, the training settings), beside a SHA-256 checksum of the file that is checked on every
load. The held-out accuracy is cached with them, so every score can say how good its extractor is.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from gan_cli.metrics.cache import key_digest, load_verified, save_verified

CLASSIFIER_SIZE = 28  # every image is resized to this before the classifier sees it
FEATURES = 128
ARCHITECTURE = "conv32-conv64-fc128/v2"  # change it when the network or its training changes: the cache key includes it

T = TypeVar("T")
# Reports long work as it goes, called as ``track(items, total, description)`` (gan_cli.training.progress.WorkTracker).
Track = Callable[[Iterable[T], int, str], Iterator[T]]


def untracked(items: Iterable[T], total: int, description: str) -> Iterator[T]:
    return iter(items)


class DomainClassifier(nn.Module):
    """Two 5x5 conv + pool blocks and an MLP head; ``features`` is the 128-d penultimate layer."""

    def __init__(self, channels: int, classes: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, FEATURES), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURES, classes))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(as_classifier_input(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


def as_classifier_input(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] at any size → CLASSIFIER_SIZE, resized the way gan-cli resizes its data."""
    if images.shape[-2:] == (CLASSIFIER_SIZE, CLASSIFIER_SIZE):
        return images
    return F.interpolate(images, size=(CLASSIFIER_SIZE, CLASSIFIER_SIZE), mode="bilinear", antialias=True, align_corners=False)


@dataclass(frozen=True)
class ClassifierSpec:
    """Everything the trained weights depend on; its digest names the cache file."""

    dataset: str  # e.g. "mnist/train", or a folder's path
    images: int
    channels: int
    classes: int
    epochs: int = 2
    seed: int = 0
    batch_size: int = 128
    architecture: str = ARCHITECTURE

    def digest(self) -> str:
        return key_digest(asdict(self))


@dataclass
class TrainedClassifier:
    model: DomainClassifier
    heldout_accuracy: float
    spec: ClassifierSpec


def train_classifier(images: torch.Tensor, labels: torch.Tensor, spec: ClassifierSpec, track: Track = untracked) -> DomainClassifier:
    """Adam on cross-entropy, with one-pixel random shifts: generated images are not centred as exactly.

    Seeded on a fork of the global generator, so the weights depend on the spec alone and a training
    run that first trains it draws the same random numbers as one that finds it cached."""
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(spec.seed)
        return fit_classifier(images, labels, spec, track)


def fit_classifier(images: torch.Tensor, labels: torch.Tensor, spec: ClassifierSpec, track: Track = untracked) -> DomainClassifier:
    generator = torch.Generator().manual_seed(spec.seed)
    model = DomainClassifier(spec.channels, spec.classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    total = spec.epochs * math.ceil(len(images) / spec.batch_size)
    description = "training the metrics classifier (once per data set, then cached)"
    for index, shift in track(shuffled_batches(len(images), spec, generator), total, description):
        batch = torch.roll(images[index], shifts=shift, dims=(2, 3))
        loss = F.cross_entropy(model(batch), labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.eval()


def shuffled_batches(count: int, spec: ClassifierSpec, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, tuple[int, int]]]:
    """Each batch's indices and its one-pixel shift, epoch after epoch, drawn as they are needed."""
    for _ in range(spec.epochs):
        order = torch.randperm(count, generator=generator)
        for index in order.split(spec.batch_size):
            yield index, tuple(torch.randint(-1, 2, (2,), generator=generator).tolist())


@torch.no_grad()
def accuracy(model: DomainClassifier, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    predicted = torch.cat([model(chunk).argmax(1) for chunk in images.split(batch_size)])
    return (predicted == labels).float().mean().item()


def cached_classifier(
    cache_dir: Path,
    spec: ClassifierSpec,
    train: tuple[torch.Tensor, torch.Tensor],
    heldout: tuple[torch.Tensor, torch.Tensor],
    track: Track = untracked,
) -> TrainedClassifier:
    """The classifier for ``spec``: loaded from the cache when its checksum holds, else trained on
    ``train`` (images in [-1, 1], labels), scored on ``heldout`` and cached."""
    weights = cache_dir / f"classifier-{spec.digest()}.pt"
    payload = load_verified(weights)
    if payload is not None:
        with torch.random.fork_rng(devices=[]):  # its initial weights are overwritten; their draws must not shift the run's
            model = DomainClassifier(spec.channels, spec.classes)
        model.load_state_dict(payload["state_dict"])
        return TrainedClassifier(model.eval(), payload["heldout_accuracy"], spec)
    model = train_classifier(*train, spec, track)
    heldout_accuracy = accuracy(model, *heldout)
    save_verified({"state_dict": model.state_dict(), "heldout_accuracy": heldout_accuracy, "spec": asdict(spec)}, weights)
    return TrainedClassifier(model, heldout_accuracy, spec)


@torch.no_grad()
def extract_features(model: DomainClassifier, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """[N, FEATURES] features of images in [-1, 1]."""
    model.eval()
    return torch.cat([model.features(chunk.float()) for chunk in images.split(batch_size)])
