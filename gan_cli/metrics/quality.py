"""Sample quality of a generative model, the one place that training and ``gan-eval`` both use.

A ``QualityScorer`` holds an extractor and the features of a fixed set of real images (cached on disk
under a key of the images, the extractor, its weights and the preprocessing). It scores any images
against them, or ``num_samples`` images drawn from a family with a fixed seed, and records with every
score the extractor, the real set and both counts: scores that differ in any of them are not
comparable.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

import torch
from omegaconf import OmegaConf

from gan_cli.config import Extractor
from gan_cli.data import DataRequest, build_dataset
from gan_cli.errors import UserError
from gan_cli.families.base import Family
from gan_cli.families.latent import LatentSpace
from gan_cli.metrics.cache import key_digest, load_verified, save_verified
from gan_cli.metrics.classifier import (
    CLASSIFIER_SIZE,
    ClassifierSpec,
    Track,
    TrainedClassifier,
    cached_classifier,
    untracked,
)
from gan_cli.metrics.distribution import DENSITY_COVERAGE_K, score_features
from gan_cli.metrics.extractors import (
    FEATURES,
    INCEPTION_FEATURES,
    RANDOM_CONV_WIDTHS,
    FeatureExtractor,
    check_inception_file,
    classifier_extractor,
    inception_extractor,
    inception_weights_path,
    random_conv_extractor,
)

DISTRIBUTION_NAMES = ("eval/fid", "eval/kid", "eval/kid_std", "eval/precision", "eval/recall", "eval/density", "eval/coverage")
CLASS_ACCURACY = "eval/class_accuracy"
CLASSIFIER_HELDOUT_SHARE = 0.1  # of the labeled training images, kept out of the classifier's training
CLASSIFIER_MIN_UPDATES = 400  # a small set gets more epochs, so that the classifier still converges
CLASSIFIER_MAX_EPOCHS = 30
MIN_SAMPLES = DENSITY_COVERAGE_K + 1  # the k-NN metrics need k others; FID asks for more (see minimum_samples)


FEATURE_DIMS = {Extractor.classifier: FEATURES, Extractor.random_conv: RANDOM_CONV_WIDTHS[-1], Extractor.inception: INCEPTION_FEATURES}


def resolve_extractor(choice: Extractor | str, labeled: bool) -> Extractor:
    choice = Extractor(choice)
    if choice is Extractor.auto:
        return Extractor.classifier if labeled else Extractor.random_conv
    if choice is Extractor.classifier and not labeled:
        raise UserError(
            "eval.extractor=classifier needs labeled data (class subfolders, MNIST, Fashion-MNIST); "
            "use eval.extractor=random_conv for an unlabeled folder"
        )
    return choice


def minimum_samples(extractor: Extractor) -> int:
    """FID fits a covariance to the features; it is full rank only with more samples than dimensions."""
    return max(MIN_SAMPLES, FEATURE_DIMS[extractor] + 1)


def check_sample_count(count: int, extractor: Extractor, too_few: str, fix: str) -> None:
    needed = minimum_samples(extractor)
    if count < needed:
        raise UserError(
            f"{too_few} for FID on {extractor.value} features ({FEATURE_DIMS[extractor]}-d): it needs at least "
            f"{needed} images; {fix}"
        )


def scores_samples(eval_cfg, family: Family, real_count: int) -> bool:
    """Families that draw from a latent prior are scored on samples (translation ones on held-out
    pairs), when the data holds enough real images for FID (see ``too_few_real``)."""
    return bool(eval_cfg.enabled) and family.latent_dim is not None and not too_few_real(eval_cfg, family, real_count)


def too_few_real(eval_cfg, family: Family, real_count: int) -> Optional[str]:
    """Why a small data set is trained without sample scores, or None; a note, not an error, since
    the user asked to train, not to score."""
    choice = resolve_extractor(eval_cfg.extractor, family.data.num_classes > 0)
    if real_count >= minimum_samples(choice):
        return None
    return (
        f"note: no sample scores (FID, KID, ...): the data's {real_count} images are too few for FID on "
        f"{choice.value} features, which needs {minimum_samples(choice)}"
    )


def sample_metric_names(eval_cfg, family: Family, real_count: int) -> tuple[str, ...]:
    """The names a scorer will report for this family, known before it is built."""
    if not scores_samples(eval_cfg, family, real_count):
        return ()
    labeled = family.data.num_classes > 0
    conditional = LatentSpace(family).classes > 0
    classifies = Extractor(eval_cfg.extractor) in (Extractor.auto, Extractor.classifier) and labeled
    return DISTRIBUTION_NAMES + ((CLASS_ACCURACY,) if conditional and classifies else ())


def describe_source(data_cfg) -> str:
    """Where real images came from, in words, e.g. "mnist train split (first 500)"."""
    where = f"folder {data_cfg.path}" if data_cfg.get("path") else f"{data_cfg.name} {data_cfg.split} split"
    return where + (f" (first {data_cfg.limit})" if data_cfg.limit else "")


@dataclass(frozen=True)
class RealImages:
    """Real images as uint8 [N, C, S, S] with optional labels, and where they came from."""

    images: torch.Tensor
    labels: Optional[torch.Tensor]
    num_classes: int
    source: str  # e.g. "mnist train split", or a folder

    def __len__(self) -> int:
        return len(self.images)

    def digest(self) -> str:
        content = hashlib.sha256(self.images.cpu().contiguous().numpy().tobytes())
        if self.labels is not None:
            content.update(self.labels.cpu().numpy().tobytes())
        return content.hexdigest()

    def subset(self, count: int, seed: int) -> "RealImages":
        """``count`` images chosen with a fixed seed (all of them for 0, or when there are fewer)."""
        if not count or count >= len(self):
            return self
        chosen = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:count].sort().values
        labels = None if self.labels is None else self.labels[chosen]
        return RealImages(self.images[chosen], labels, self.num_classes, self.source)

    def as_unit_range(self) -> torch.Tensor:
        return self.images.float().mul(2 / 255).sub(1)


def labeled_classifier(real: RealImages, cache_dir: Path, track: Track = untracked) -> TrainedClassifier:
    """The classifier for this training set: trained on 90% of it, scored on the rest, cached."""
    order = torch.randperm(len(real), generator=torch.Generator().manual_seed(0))
    heldout_count = max(1, int(len(real) * CLASSIFIER_HELDOUT_SHARE))
    images, labels = real.as_unit_range(), real.labels.cpu()
    train, heldout = order[heldout_count:], order[:heldout_count]
    spec = ClassifierSpec(f"sha256:{real.digest()}", len(real), real.images.shape[1], real.num_classes)
    batches = math.ceil(len(train) / spec.batch_size)
    spec = replace(spec, epochs=min(CLASSIFIER_MAX_EPOCHS, max(spec.epochs, math.ceil(CLASSIFIER_MIN_UPDATES / batches))))
    return cached_classifier(cache_dir, spec, (images[train], labels[train]), (images[heldout], labels[heldout]), track)


def classifier_training_set(data_cfg) -> RealImages:
    """What the classifier learns from: the data's whole train split at the classifier's own size, so
    that one classifier serves every model, image size, data.limit and data.split on that data, and
    their FIDs compare. A folder keeps its data.limit: reading all of a large folder costs too much."""
    whole = {"split": "train"} if data_cfg.get("path") else {"split": "train", "limit": 0}
    dataset = build_dataset(OmegaConf.merge(data_cfg, whole), DataRequest(CLASSIFIER_SIZE))
    images, labels = dataset.scoring_images()
    return RealImages(images, labels, dataset.num_classes, "the classifier's training set")


def build_extractor(
    choice: Extractor, training: RealImages, cache_dir: Path, inception_weights: Optional[str], track: Track = untracked
) -> FeatureExtractor:
    if choice is Extractor.classifier:
        return classifier_extractor(labeled_classifier(training, cache_dir, track))
    if choice is Extractor.random_conv:
        return random_conv_extractor(training.images.shape[1])
    return inception_extractor(inception_weights)


@torch.no_grad()
def extract(extractor: FeatureExtractor, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat([extractor.features(chunk.float().cpu()) for chunk in images.split(batch_size)])


def real_features(extractor: FeatureExtractor, real: RealImages, cache_dir: Path, batch_size: int) -> torch.Tensor:
    """The real set's features, from the cache when its key and checksum match."""
    key = {"images": real.digest(), "extractor": extractor.name, "weights": extractor.checksum, "preprocessing": extractor.preprocessing}
    path = cache_dir / f"real-features-{key_digest(key)}.pt"
    cached = load_verified(path)
    if cached is not None:
        return cached["features"]
    features = extract(extractor, real.as_unit_range(), batch_size)
    save_verified({"features": features, "key": key, "source": real.source, "count": len(real)}, path)
    return features


@torch.no_grad()
def generate_samples(family: Family, count: int, seed: int, batch_size: int) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """``count`` images from fresh prior draws with a fixed seed (labels cycling through the classes
    for a conditional family), in eval mode; the global random state is left untouched."""
    space = LatentSpace.of(family, "scoring samples")
    z = space.draw(count, torch.Generator().manual_seed(seed))
    labels = torch.arange(count) % space.classes if space.classes else None
    was_training = family.networks.training
    family.networks.eval()
    try:
        return space.decode(z, labels, batch_size), labels
    finally:
        family.networks.train(was_training)


@dataclass
class QualityScorer:
    extractor: FeatureExtractor
    real: RealImages
    real_features: torch.Tensor
    num_samples: int
    seed: int
    batch_size: int

    def score_images(self, images: torch.Tensor, labels: Optional[torch.Tensor] = None) -> dict[str, float]:
        """Every metric for images in [-1, 1]; class accuracy too when labels and a classifier are at hand."""
        fake = extract(self.extractor, images, self.batch_size)
        scores = score_features(self.real_features, fake)
        figures = {name: float(getattr(scores, name.removeprefix("eval/"))) for name in DISTRIBUTION_NAMES}
        if labels is not None and self.extractor.classify is not None:
            with torch.no_grad():
                predicted = torch.cat([self.extractor.classify(chunk.float()).argmax(1) for chunk in images.split(self.batch_size)])
            figures[CLASS_ACCURACY] = (predicted == labels).float().mean().item()
        return figures

    def score_family(self, family: Family) -> dict[str, float]:
        images, labels = generate_samples(family, self.num_samples, self.seed, self.batch_size)
        return self.score_images(images, labels)

    def record(self, generated: Optional[int] = None) -> dict[str, Any]:
        """What produced the scores: they compare only with scores of the same record."""
        return {
            "eval_extractor": self.extractor.describe(),
            "eval_extractor_id": self.extractor.short_id(),
            "eval_real": self.real.source,
            "eval_real_images": len(self.real),
            "eval_generated_images": self.num_samples if generated is None else generated,
        }


def check_scorer_inputs(eval_cfg, labeled: bool) -> Extractor:
    """The extractor the config resolves to, once eval.num_samples and its weights file are known to do."""
    choice = resolve_extractor(eval_cfg.extractor, labeled)
    if choice is Extractor.inception:
        check_inception_file(inception_weights_path(eval_cfg.inception_weights))
    if eval_cfg.num_samples:
        fix = "raise eval.num_samples or set eval.enabled=false"
        check_sample_count(eval_cfg.num_samples, choice, f"eval.num_samples={eval_cfg.num_samples} is too few", fix)
    return choice


def build_scorer(eval_cfg, training: RealImages, data_cfg=None, track: Track = untracked) -> QualityScorer:
    """The scorer for a training set: its extractor (trained or loaded) and the cached real features.
    Given the data's config, a classifier learns from the data alone (``classifier_training_set``);
    ``track`` reports the classifier's training, the one part that can take minutes.

    Nothing here draws from the global random generators, so building a scorer never changes a run."""
    choice = check_scorer_inputs(eval_cfg, training.labels is not None)
    check_sample_count(len(training), choice, f"the real set's {len(training)} images are too few", "add images")
    real = training.subset(eval_cfg.num_samples, eval_cfg.seed)
    cache_dir = Path(eval_cfg.cache_dir).expanduser()
    learns_from = classifier_training_set(data_cfg) if data_cfg is not None and choice is Extractor.classifier else training
    extractor = build_extractor(choice, learns_from, cache_dir, eval_cfg.inception_weights, track)
    features = real_features(extractor, real, cache_dir, eval_cfg.batch_size)
    return QualityScorer(extractor, real, features, eval_cfg.num_samples or len(real), eval_cfg.seed, eval_cfg.batch_size)
