"""The judges of a translation run, built once before training: for each domain the family translates
into, the project's classifier for that domain where its images are labeled (trained once per data
set and cached, as for sample scores), else the random convolutional features; and the features of
the real held-out images of that domain, FID's reference.

Nothing here draws from the global random generators, so building the judges never changes a run."""

from __future__ import annotations

from pathlib import Path

import torch

from gan_cli.config import Extractor
from gan_cli.data.memory import resize_uint8
from gan_cli.data.streaming import ImageTensor, LazyImages
from gan_cli.data.translation import TranslationImages
from gan_cli.families.base import HeldOut
from gan_cli.metrics.classifier import CLASSIFIER_SIZE, Track, untracked
from gan_cli.metrics.extractors import FeatureExtractor
from gan_cli.metrics.quality import RealImages, build_extractor, extract
from gan_cli.metrics.translation import DomainJudge, TranslationJudges

STREAMED_CHUNK = 256  # streamed training images decoded at once for the classifier, then shrunk to its size


def translation_judges(eval_cfg, data: TranslationImages, heldout: HeldOut, both_ways: bool, track: Track = untracked) -> TranslationJudges:
    """The target domain's judge, and the input domain's too when the family translates ``both_ways``."""
    cache_dir = Path(eval_cfg.cache_dir).expanduser()
    target = domain_judge(data, "target", heldout.target, cache_dir, eval_cfg.batch_size, track)
    source = domain_judge(data, "input", heldout.input, cache_dir, eval_cfg.batch_size, track) if both_ways else None
    return TranslationJudges(target, source)


def domain_judge(data: TranslationImages, side: str, real: torch.Tensor, cache_dir: Path, batch_size: int, track: Track) -> DomainJudge:
    """``real``: held-out images of the domain in [-1, 1]."""
    extractor = domain_extractor(data, side, real.shape[1], cache_dir, track)
    return DomainJudge(extractor, extract(extractor, real.cpu(), batch_size))


def domain_extractor(data: TranslationImages, side: str, channels: int, cache_dir: Path, track: Track = untracked) -> FeatureExtractor:
    """The classifier of one domain ("input" or "target") where its training images are labeled, else random_conv."""
    labeled = data.labeled_training_images(side)
    if labeled is None:
        return build_extractor(Extractor.random_conv, unlabeled(channels), cache_dir, None, track)
    images, labels = labeled
    small = classifier_sized(images, side, track)
    training = RealImages(small, labels.cpu(), data.classes, f"the {side} domain's training images")
    return build_extractor(Extractor.classifier, training, cache_dir, None, track)


def classifier_sized(images: ImageTensor, side: str, track: Track) -> torch.Tensor:
    """uint8 images at the classifier's size, on the CPU. A streamed set is decoded a chunk at a time,
    each chunk shrunk as it comes: the very images of the same set held in memory, so the classifier
    (and every figure) is the same on both paths."""
    if not isinstance(images, LazyImages):
        return resize_uint8(images.cpu(), CLASSIFIER_SIZE)
    chunks = torch.arange(len(images)).split(STREAMED_CHUNK)
    description = f"reading the {side} domain's training images for its classifier"
    return torch.cat([resize_uint8(images[chunk], CLASSIFIER_SIZE) for chunk in track(chunks, len(chunks), description)])


def unlabeled(channels: int) -> RealImages:
    """The random convolutional features need only the channel count of their images."""
    return RealImages(torch.zeros(0, channels, 1, 1, dtype=torch.uint8), None, 0, "none")
