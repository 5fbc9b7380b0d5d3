"""Translation against ground truth: L1, PSNR and SSIM, accumulated over batches.

Images are compared in [0, 1]. PSNR is computed per image and averaged (the usual report), not from
the pooled error. The torchmetrics implementations need no downloaded weights; like FID's, they score
what this process saw and never wait for other processes (rank 0 alone evaluates).
"""

from __future__ import annotations

import torch

from gan_cli.metrics.distribution import THIS_PROCESS_ONLY


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
