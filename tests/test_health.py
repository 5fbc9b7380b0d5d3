"""Training health: each classic failure is flagged on a history that shows it, and only then."""

from __future__ import annotations

import json
import math

import torch

from conftest import describe, run_many, tiny_args
from gan_cli.training.health import EXPLODING_INTERVALS, OVERPOWERED_INTERVALS, HealthMonitor


def feed(monitor: HealthMonitor, history: list[dict[str, float]]) -> list[str]:
    for step, figures in enumerate(history, start=1):
        monitor.observe(step * 50, figures)
    return [warning.name for warning in monitor.warnings()]


def test_a_healthy_run_raises_nothing():
    monitor = HealthMonitor()
    logged = [{"loss/d": 1.3, "loss/g": 0.8, "d/real": 0.55, "d/fake": 0.45}] * 20
    scored = [{"eval/fid": fid, "eval/recall": 0.3 + i / 10, "eval/coverage": 0.3 + i / 10} for i, fid in enumerate((300, 200, 150, 120))]
    assert feed(monitor, logged + scored) == [] and monitor.raised == []


def test_d_overpowering_g_needs_a_stretch_and_clears_when_g_recovers():
    monitor = HealthMonitor()
    assert feed(monitor, [{"d/fake": 0.01}] * (OVERPOWERED_INTERVALS - 1) + [{"d/fake": 0.3}] + [{"d/fake": 0.01}]) == []
    assert feed(monitor, [{"d/fake": 0.01}] * OVERPOWERED_INTERVALS) == ["D overpowering G"]
    warning = monitor.warnings()[0]
    assert "D(G(z))" in warning.line() and "optimizer.lr_d" in warning.advice
    assert feed(monitor, [{"d/fake": 0.2}]) == []
    assert [w.name for w in monitor.raised] == ["D overpowering G"]


def test_coverage_falling_to_under_half_its_best_is_mode_collapse():
    monitor = HealthMonitor()
    assert feed(monitor, [{"eval/coverage": 0.6}, {"eval/coverage": 0.4}]) == []
    assert feed(monitor, [{"eval/coverage": 0.25}]) == ["mode collapse (coverage)"]
    assert "0.25" in monitor.warnings()[0].message and "0.60" in monitor.warnings()[0].message


def test_a_low_coverage_that_never_was_better_is_not_a_collapse():
    assert feed(HealthMonitor(), [{"eval/recall": 0.1}, {"eval/recall": 0.02}]) == []


def test_fid_rising_at_two_evaluations_in_a_row_is_divergence():
    monitor = HealthMonitor()
    assert feed(monitor, [{"eval/fid": 100.0}, {"eval/fid": 180.0}]) == []  # one bad evaluation: GANs oscillate
    assert feed(monitor, [{"eval/fid": 170.0}]) == ["FID rising"]
    assert "best.pt" in monitor.warnings()[0].advice
    assert feed(monitor, [{"eval/fid": 110.0}]) == []


def test_a_non_finite_loss_is_divergence_until_the_losses_are_finite_again():
    monitor = HealthMonitor()
    assert feed(monitor, [{"loss/d": 0.5, "loss/g": math.inf}]) == ["divergence"]
    assert feed(monitor, [{"eval/fid": 90.0}]) == ["divergence"]  # an evaluation does not clear it
    assert feed(monitor, [{"loss/d": 0.5, "loss/g": 0.7}]) == []


def test_the_bar_and_the_final_table_show_the_warnings():
    from rich.console import Console

    from gan_cli.training.progress import describe_figures, summary_table

    assert describe_figures({"d/fake": 0.01}, ("D overpowering G",)).endswith("! D overpowering G[/]")
    console = Console(record=True, width=200)
    console.print(summary_table({"steps": 10, "health": ["D(G(z)) has stayed under 0.05 [long]; lower optimizer.lr_d"]}))
    text = console.export_text()
    assert "health" in text and "under 0.05 [long]; lower optimizer.lr_d" in text


def test_losses_and_gradient_norms_far_above_their_lowest_are_exploding():
    monitor = HealthMonitor()
    monitor.observe_first_step({"loss/d": 1.4, "grad_norm/d": 3.0})
    calm = [{"loss/d": 1.3, "loss/r1": 0.02, "grad_norm/d": 4.0}, {"loss/d": 1.1, "loss/r1": 0.3, "grad_norm/d": 9.0}] * 3
    assert feed(monitor, calm) == []  # r1 growing 15x from near 0, and a noisy gradient norm, are no blow-up
    blown = {"loss/d": 174.0, "loss/r1": 52494.0, "grad_norm/d": 3000.0}
    assert feed(monitor, [blown] * (EXPLODING_INTERVALS - 1) + [calm[0]]) == []  # one spike is not a trend
    assert feed(monitor, [blown] * EXPLODING_INTERVALS) == ["exploding"]
    warning = monitor.warnings()[0]
    assert "loss/r1 5.249e+04" in warning.message and "optimizer.lr" in warning.advice
    assert feed(monitor, [{"eval/fid": 90.0}]) == ["exploding"]  # an evaluation does not clear it
    assert feed(monitor, [calm[0]]) == [] and [w.name for w in monitor.raised] == ["exploding"]


def test_an_unanchored_g_loss_drifting_is_no_blow_up_but_its_gradient_norm_still_counts():
    """Under wgan_gp and hinge, G's loss is minus D's score, which drifts by tens in healthy runs."""
    drifting = [{"loss/g": -30.0 * k, "grad_norm/g": 8.0} for k in range(1, 5)]
    for loss in ("wgan_gp", "hinge"):
        monitor = HealthMonitor.for_loss(loss)
        monitor.observe_first_step({"loss/g": 0.05, "grad_norm/g": 2.0})
        assert feed(monitor, drifting) == []
        assert feed(monitor, [{"loss/g": -40.0, "grad_norm/g": 900.0}] * EXPLODING_INTERVALS) == ["exploding"]
    judged = HealthMonitor.for_loss("non_saturating")
    judged.observe_first_step({"loss/g": 0.7, "grad_norm/g": 2.0})
    assert feed(judged, drifting) == ["exploding"]


def test_a_run_blown_up_within_its_first_interval_is_measured_against_its_first_step():
    monitor = HealthMonitor()
    monitor.observe_first_step({"loss/d": 1.4, "loss/g": 0.7})
    assert feed(monitor, [{"loss/d": 41.7, "loss/g": 0.8}, {"loss/d": 48.8, "loss/g": 0.9}]) == ["exploding"]


def untrained(stripe: torch.Tensor, spread: float) -> torch.Tensor:
    """The stripe with noise that makes the grid's mean pairwise RMS difference about ``spread``."""
    return stripe + spread / 2**0.5 * torch.randn(stripe.shape, generator=torch.Generator().manual_seed(0))


def test_samples_that_became_one_image_are_flagged_after_two_grids():
    monitor = HealthMonitor()
    stripe = torch.zeros(16, 1, 8, 8)
    stripe[:, :, 3] = 1.0
    monitor.observe_samples(0, untrained(stripe, 0.004))  # an untrained G's grid: nearly one image, the yardstick
    monitor.observe_samples(50, torch.rand(16, 1, 8, 8) * 2 - 1)
    monitor.observe_samples(100, stripe)
    assert monitor.warnings() == []
    monitor.observe_samples(150, untrained(stripe, 1e-4))
    assert [w.name for w in monitor.warnings()] == ["samples alike"] and "optimizer.lr" in monitor.warnings()[0].advice
    monitor.observe_samples(200, torch.rand(16, 1, 8, 8) * 2 - 1)
    assert monitor.warnings() == []


def test_a_tiny_generator_that_stays_as_alike_as_it_started_is_not_flagged():
    monitor = HealthMonitor()
    stripe = torch.zeros(16, 1, 8, 8)
    for step, spread in enumerate((0.0012, 0.0011, 0.0015, 0.0010)):
        monitor.observe_samples(3 * step, untrained(stripe, spread))
    assert monitor.raised == []


def test_a_blown_up_run_without_evaluation_reports_it_and_a_normal_run_does_not(tmp_path, fake_mnist_root):
    steps = ["train.steps=40", "train.log_every=5", "train.sample_every=10", "eval.enabled=false", f"data.root={fake_mnist_root}"]
    runs = {
        "blown": tiny_args("dcgan", *steps, "optimizer.lr=1", "optimizer.beta1=0.9", f"hydra.run.dir={tmp_path / 'blown'}"),
        "normal": tiny_args("dcgan", *steps, f"hydra.run.dir={tmp_path / 'normal'}"),
    }
    results = run_many({name: ("gan-train", args, tmp_path) for name, args in runs.items()})
    for result in results.values():
        assert result.returncode == 0, describe(result)
    health = {name: json.loads((tmp_path / name / "summary.json").read_text())["health"] for name in runs}
    assert health["normal"] == [], health
    assert any("over 20x the lowest" in line for line in health["blown"]), health
    assert any("one image" in line for line in health["blown"]), health
    assert "exploding" in results["blown"].stdout or "samples alike" in results["blown"].stdout
