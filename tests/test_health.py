"""Training health: each classic failure is flagged on a history that shows it, and only then."""

from __future__ import annotations

import math

from gan_cli.health import OVERPOWERED_INTERVALS, HealthMonitor


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

    from gan_cli.progress import describe_figures, summary_table

    assert describe_figures({"d/fake": 0.01}, ("D overpowering G",)).endswith("! D overpowering G[/]")
    console = Console(record=True, width=200)
    console.print(summary_table({"steps": 10, "health": ["D(G(z)) has stayed under 0.05 [long]; lower optimizer.lr_d"]}))
    text = console.export_text()
    assert "health" in text and "under 0.05 [long]; lower optimizer.lr_d" in text
