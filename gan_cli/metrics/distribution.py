"""How close a set of generated images is to the real ones, measured on their features.

* FID: the Fréchet distance between Gaussians fitted to the two feature sets (torchmetrics).
* KID: the unbiased squared MMD with a cubic polynomial kernel, as mean ± std over random subsets
  (torchmetrics); unlike FID it has no bias that depends on the sample count.
* Precision and recall (Kynkäänniemi et al., 2019, k = 3): the share of fakes inside the real
  manifold (fidelity), and of reals inside the fake manifold (diversity). Each manifold is the union
  of balls reaching each sample's k-th nearest neighbour.
* Density and coverage (Naeem et al., 2020, k = 5, their recommendation): density counts how many real
  balls hold each fake, so it is robust to real outliers; coverage is the share of real balls that hold
  at least one fake, so mode collapse shows as low coverage.

Every function takes features, [N, D] tensors; which extractor made them is the caller's concern, and
scores from different extractors or sample counts are not comparable.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn

PRECISION_RECALL_K = 3
DENSITY_COVERAGE_K = 5
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
DISTANCE_CHUNK = 1024  # rows of a distance matrix computed at once, to bound memory


def no_process_group() -> bool:
    return False


# A torchmetrics metric gathers its state over the process group whenever torch.distributed is
# initialised, and so waits for every rank; in data-parallel training rank 0 alone scores, so each
# metric here answers for the samples its own process gave it, and never reaches a collective.
THIS_PROCESS_ONLY = {"sync_on_compute": False, "distributed_available_fn": no_process_group}


@dataclass(frozen=True)
class DistributionScores:
    fid: float
    kid: float
    kid_std: float
    precision: float
    recall: float
    density: float
    coverage: float
    real_count: int
    fake_count: int


class PrecomputedFeatures(nn.Module):
    """torchmetrics runs its extractor on what update() receives; the features here are computed
    once by the caller (and shared by every metric), so its extractor passes them through."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    from torchmetrics.image.fid import FrechetInceptionDistance  # 1.5 s of imports (scipy) that most commands never need

    metric = FrechetInceptionDistance(feature=PrecomputedFeatures(real.shape[1]), **THIS_PROCESS_ONLY)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return float(metric.compute())


def kernel_distance(real: torch.Tensor, fake: torch.Tensor, subsets: int = KID_SUBSETS) -> tuple[float, float]:
    """KID's mean and std over ``subsets`` random subsets of min(1000, N/2) samples, with a fixed seed.
    Half the samples at most, so that the subsets differ and the std says something."""
    subset_size = min(KID_SUBSET_SIZE, len(real) // 2, len(fake) // 2)
    with warnings.catch_warnings():  # its note that it keeps every feature: so does the caller, by design
        warnings.simplefilter("ignore", UserWarning)
        from torchmetrics.image.kid import KernelInceptionDistance  # imported on use, as FID's

        metric = KernelInceptionDistance(
            feature=PrecomputedFeatures(real.shape[1]), subsets=subsets, subset_size=subset_size, **THIS_PROCESS_ONLY
        )
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        mean, std = metric.compute()
    return float(mean), float(std)


def pairwise_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.cat([torch.cdist(chunk, b) for chunk in a.split(DISTANCE_CHUNK)])


def neighbour_radii(features: torch.Tensor, k: int) -> torch.Tensor:
    """Each sample's distance to its k-th nearest other sample: the radius of its ball."""
    distances = pairwise_distances(features, features)
    return distances.kthvalue(k + 1, dim=1).values  # +1: the nearest is the sample itself


def share_inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> float:
    """The share of ``points`` inside at least one ball (centre, radius)."""
    inside = pairwise_distances(points, centres) <= radii[None, :]
    return inside.any(dim=1).float().mean().item()


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = PRECISION_RECALL_K) -> tuple[float, float]:
    precision = share_inside(fake, real, neighbour_radii(real, k))
    recall = share_inside(real, fake, neighbour_radii(fake, k))
    return precision, recall


def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = DENSITY_COVERAGE_K) -> tuple[float, float]:
    radii = neighbour_radii(real, k)
    fake_to_real = pairwise_distances(fake, real)
    density = (fake_to_real <= radii[None, :]).sum().item() / (k * len(fake))
    coverage = (fake_to_real.min(dim=0).values <= radii).float().mean().item()
    return density, coverage


def score_features(real: torch.Tensor, fake: torch.Tensor) -> DistributionScores:
    """Every score for two feature sets [N, D] and [M, D]."""
    real, fake = real.float().cpu(), fake.float().cpu()
    kid, kid_std = kernel_distance(real, fake)
    precision, recall = precision_recall(real, fake)
    density, coverage = density_coverage(real, fake)
    return DistributionScores(
        fid=frechet_distance(real, fake),
        kid=kid,
        kid_std=kid_std,
        precision=precision,
        recall=recall,
        density=density,
        coverage=coverage,
        real_count=len(real),
        fake_count=len(fake),
    )
