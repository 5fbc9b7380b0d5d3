"""FID, KID, precision/recall and density/coverage on feature sets whose answers are known."""

from __future__ import annotations

import pytest
import torch

from gan_cli.metrics.distribution import (
    density_coverage,
    frechet_distance,
    kernel_distance,
    precision_recall,
    score_features,
)


def gaussian(count: int, dims: int, seed: int, mean: float = 0.0) -> torch.Tensor:
    return torch.randn(count, dims, generator=torch.Generator().manual_seed(seed)) + mean


def test_identical_sets_score_as_identical():
    """(KID is tested on two draws of one distribution below: on one set used twice, its random
    subsets share points, which biases the cross term.)"""
    real = gaussian(500, 8, seed=0)
    scores = score_features(real, real.clone())
    assert scores.fid == pytest.approx(0, abs=1e-6)
    assert (scores.precision, scores.recall, scores.coverage) == (1.0, 1.0, 1.0)
    assert 1.0 <= scores.density < 2.0  # each fake lies in its own ball and, often, in a neighbour's
    assert (scores.real_count, scores.fake_count) == (500, 500)


def test_fid_of_shifted_gaussians_is_the_squared_mean_distance():
    """Equal covariances cancel in the trace term, leaving |mu_r - mu_f|^2 = dims * shift^2."""
    real, fake = gaussian(4000, 4, seed=0), gaussian(4000, 4, seed=1, mean=1.0)
    assert frechet_distance(real, fake) == pytest.approx(4.0, rel=0.1)
    assert frechet_distance(real, gaussian(4000, 4, seed=2)) < 0.05


def test_kid_is_near_zero_for_one_distribution_and_grows_with_the_gap():
    real = gaussian(600, 4, seed=0)
    same, _ = kernel_distance(real, gaussian(600, 4, seed=1), subsets=20)
    near, near_std = kernel_distance(real, gaussian(600, 4, seed=2, mean=0.5), subsets=20)
    far, _ = kernel_distance(real, gaussian(600, 4, seed=3, mean=2.0), subsets=20)
    assert abs(same) < near_std * 5 < near < far


def test_disjoint_clusters_have_no_precision_recall_density_or_coverage():
    real, fake = gaussian(300, 4, seed=0), gaussian(300, 4, seed=1, mean=100.0)
    assert precision_recall(real, fake) == (0.0, 0.0)
    assert density_coverage(real, fake) == (0.0, 0.0)


def test_mode_collapse_keeps_precision_and_loses_recall_and_coverage():
    real = gaussian(400, 4, seed=0)
    collapsed = real[:1].repeat(400, 1) + 1e-4 * gaussian(400, 4, seed=1)
    precision, recall = precision_recall(real, collapsed)
    _, coverage = density_coverage(real, collapsed)
    assert precision == 1.0
    assert recall < 0.02 and coverage < 0.02
