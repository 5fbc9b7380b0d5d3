"""Translation against ground truth: L1, PSNR and SSIM, accumulated over batches; and what the
translations mean: class accuracy by the output domain's classifier, and a Fréchet distance to real
images of that domain in the same features.

Images are compared in [0, 1]. PSNR is computed per image and averaged (the usual report), not from
the pooled error. The torchmetrics implementations need no downloaded weights; like FID's, they score
what this process saw and never wait for other processes (rank 0 alone evaluates).

L1, PSNR and SSIM reward blur (a grey average is close to every target); the classifier and the
Fréchet distance do not, which is why both are reported beside them (pix2pix's FCN-score, in small).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch

from gan_cli.metrics.distribution import THIS_PROCESS_ONLY, frechet_distance
from gan_cli.metrics.extractors import FeatureExtractor

FID, CLASS_ACCURACY = "fid", "class_accuracy"
FID_MIN_IMAGES = 2  # FID fits a covariance to each set, which needs two images at the least
INPUT_DOMAIN = "input_"  # prefix of the figures of the reverse direction (CycleGAN's target → input)


def to_unit_interval(images: torch.Tensor) -> torch.Tensor:
    return images.detach().float().add(1).div(2).clamp(0, 1).contiguous()


class TranslationScores:
    """``update(outputs, targets)`` per batch of images in [-1, 1]; ``compute()`` the means; ``reset()``."""

    def __init__(self) -> None:
        # imported here: torchmetrics pulls in torchvision's models (seconds), and every command
        # loads the translation families at start-up but few of them ever score a translation
        from torchmetrics import MeanAbsoluteError
        from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

        self.l1 = MeanAbsoluteError(**THIS_PROCESS_ONLY)
        self.psnr = PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3), **THIS_PROCESS_ONLY)
        self.ssim = StructuralSimilarityIndexMeasure(data_range=1.0, **THIS_PROCESS_ONLY)
        self.count = 0

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        outputs, targets = to_unit_interval(outputs).cpu(), to_unit_interval(targets).cpu()
        for metric in (self.l1, self.psnr, self.ssim):
            metric.update(outputs, targets)
        self.count += len(outputs)

    def compute(self) -> dict[str, float]:
        return {"l1": float(self.l1.compute()), "psnr": float(self.psnr.compute()), "ssim": float(self.ssim.compute())}

    def reset(self) -> None:
        for metric in (self.l1, self.psnr, self.ssim):
            metric.reset()
        self.count = 0


class MeanL1:
    """The mean absolute difference in [0, 1] of image pairs, over batches (cycle reconstructions)."""

    def __init__(self) -> None:
        from torchmetrics import MeanAbsoluteError  # imported on use, as in TranslationScores

        self.metric = MeanAbsoluteError(**THIS_PROCESS_ONLY)

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        self.metric.update(to_unit_interval(outputs).cpu(), to_unit_interval(targets).cpu())

    def compute(self) -> float:
        return float(self.metric.compute())


@dataclass
class DomainJudge:
    """How translations into one domain are judged: an extractor (with a classifier where the domain
    is labeled) and the features of real held-out images of that domain, the reference for FID."""

    extractor: FeatureExtractor
    real_features: Optional[torch.Tensor] = None  # [N, D], on the CPU; None: given batch by batch (SemanticScores.update_real)

    @property
    def classifies(self) -> bool:
        return self.extractor.classify is not None

    def names(self, prefix: str = "") -> tuple[str, ...]:
        return (f"eval/{prefix}{FID}",) + ((f"eval/{prefix}{CLASS_ACCURACY}",) if self.classifies else ())

    def record(self, prefix: str = "") -> dict[str, Any]:
        """Which features the figures are in, and against how many real images."""
        described = {f"eval_{prefix}extractor": self.extractor.describe(), f"eval_{prefix}extractor_id": self.extractor.short_id()}
        return described | ({} if self.real_features is None else {f"eval_{prefix}fid_real_images": len(self.real_features)})


@dataclass
class TranslationJudges:
    """The judge of each direction a family translates: into the target domain, and (CycleGAN) back."""

    target: DomainJudge
    input: Optional[DomainJudge] = None

    def names(self) -> tuple[str, ...]:
        return self.target.names() + (self.input.names(INPUT_DOMAIN) if self.input is not None else ())

    def record(self) -> dict[str, Any]:
        return self.target.record() | (self.input.record(INPUT_DOMAIN) if self.input is not None else {})


def semantic_names(labeled: bool, both_ways: bool) -> tuple[str, ...]:
    """The names ``TranslationJudges.names`` will give, known from the data alone (before any judge is built)."""
    one_way = (FID, CLASS_ACCURACY) if labeled else (FID,)
    prefixes = ("", INPUT_DOMAIN) if both_ways else ("",)
    return tuple(f"eval/{prefix}{name}" for prefix in prefixes for name in one_way)


class SemanticScores:
    """``update(outputs, labels)`` per batch of translations in [-1, 1] (``labels``: the classes of the
    images they were translated from); ``compute()`` FID against the judge's real images, and the
    share the classifier puts in the source's class; ``reset()``. A judge without real features takes
    the real images batch by batch, ``update_real(images)`` (gan-sample's target=), kept over resets."""

    def __init__(self, judge: DomainJudge) -> None:
        self.judge = judge
        self.real: list[torch.Tensor] = []
        self.reset()

    def reset(self) -> None:
        self.features: list[torch.Tensor] = []
        self.correct = 0
        self.count = 0

    @torch.no_grad()
    def update(self, outputs: torch.Tensor, labels: Optional[torch.Tensor] = None) -> None:
        outputs = outputs.detach().float().cpu()
        self.features.append(self.judge.extractor.features(outputs))
        if labels is not None and self.judge.classifies:
            predicted = self.judge.extractor.classify(outputs).argmax(1)
            self.correct += int((predicted == labels.cpu()).sum())
            self.count += len(outputs)

    @torch.no_grad()
    def update_real(self, images: torch.Tensor) -> None:
        self.real.append(self.judge.extractor.features(images.detach().float().cpu()))

    def real_features(self) -> torch.Tensor:
        return self.judge.real_features if self.judge.real_features is not None else torch.cat(self.real)

    def compute(self) -> dict[str, float]:
        return {FID: frechet_distance(self.real_features(), torch.cat(self.features))} | self.accuracy()

    def accuracy(self) -> dict[str, float]:
        """The class accuracy alone (none without labels or a classifier), for too few images for FID."""
        return {CLASS_ACCURACY: self.correct / self.count} if self.count else {}
