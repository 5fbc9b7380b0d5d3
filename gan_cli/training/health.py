"""Training health: the classic GAN failures, recognised in the figures a run logs, each with advice.

The monitor sees what the run logs: interval means of the losses, gradient norms and D(x), D(G(z))
every ``train.log_every`` steps, the sample scores at each evaluation, and the fixed-input sample grid
(``observe_samples``), so a blow-up is caught with evaluation off too. A warning holds while its
condition does, so the progress bar shows the current state; every warning raised is kept for the
run's summary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import torch

# D(G(z)) under this means D rejects nearly every fake, and G's gradient through D is vanishing.
OVERPOWERED_D_FAKE = 0.05
# Consecutive logged means (each already an average over log_every steps) before it counts as a
# stretch and not a dip: 5 intervals, 250 steps at the default log_every=50.
OVERPOWERED_INTERVALS = 5
# Coverage (or recall) at under half its best, once the best was worth losing: the samples have
# left whole regions of the data.
COLLAPSE_FRACTION = 0.5
COLLAPSE_MIN_BEST = 0.2
# FID this far above its best at consecutive evaluations: training is moving away from the data.
DIVERGED_FID_RATIO = 1.5
DIVERGED_EVALUATIONS = 2
# A loss or gradient norm this many times the lowest it has been in the run, its first step included
# (and at least this many times 1, so a figure that shrinks towards 0 may grow back), at consecutive
# logged intervals. A healthy run's figures stay within a few times their lowest; lr=1 takes them
# 20-1000x up, within the first logging interval, hence the first step as a yardstick.
EXPLODING_RATIO = 20.0
EXPLODING_FLOOR = 1.0
EXPLODING_INTERVALS = 2
EXPLODING_PREFIXES = ("loss/", "grad_norm/")
# Under these losses G's loss is minus D's score of the fakes, which has no anchor and drifts to large
# values in healthy runs (WGAN's scores by tens in a few hundred steps): its gradient norm speaks instead.
UNANCHORED_G_LOSSES = ("wgan_gp", "hinge")
# Fixed-input samples whose mean pairwise RMS difference (pixels in [-1, 1]) is under a quarter of a
# grey level, and under a quarter of the session's first grid's, are one image: a healthy grid differs
# by 0.2-0.5 and a saturated G's by 0. An untrained G's grid differs by as little as 0.001-0.004, so
# the first grid is the yardstick, not a grid to judge: a tiny G may stay that alike for a few steps.
ALIKE_SPREAD = 0.002
ALIKE_FRACTION = 0.25
ALIKE_GRIDS = 2


@dataclass(frozen=True)
class HealthWarning:
    name: str  # e.g. "D overpowering G"
    step: int  # when it was raised
    message: str
    advice: str

    def line(self) -> str:
        return f"{self.message}; {self.advice}"


@dataclass
class HealthMonitor:
    """Fed each logged set of figures with ``observe``; ``warnings`` is the current state."""

    overpowered_streak: int = 0
    best: dict[str, float] = field(default_factory=dict)  # the best coverage, recall and FID so far
    fid_above_best: int = 0
    lowest: dict[str, float] = field(default_factory=dict)  # each loss and gradient norm's lowest |interval mean|
    exploding_streak: dict[str, int] = field(default_factory=dict)
    alike_grids: int = 0
    first_spread: Optional[float] = None  # of the session's first sample grid
    unjudged: frozenset[str] = frozenset()  # figures with no scale of their own (``for_loss``)
    current: dict[str, HealthWarning] = field(default_factory=dict)
    raised: list[HealthWarning] = field(default_factory=list)

    @classmethod
    def for_loss(cls, loss_name: str) -> "HealthMonitor":
        """The monitor for a run trained with ``loss_name`` (``loss.name``)."""
        return cls(unjudged=frozenset({"loss/g"}) if loss_name in UNANCHORED_G_LOSSES else frozenset())

    def observe(self, step: int, figures: dict[str, float]) -> None:
        self.check_finite(step, figures)
        self.check_exploding(step, figures)
        if "d/fake" in figures:
            self.check_overpowered(step, figures["d/fake"])
        if "eval/fid" in figures:
            self.check_fid(step, figures["eval/fid"])
        for name in ("eval/coverage", "eval/recall"):
            if name in figures:
                self.check_collapse(step, name, figures[name])

    def observe_first_step(self, figures: dict[str, float]) -> None:
        """The session's first step: its losses and gradient norms, measured before a rate that blows
        the run up has moved the nets far, are the yardstick of ``check_exploding``."""
        for name, value in figures.items():
            if name.startswith(EXPLODING_PREFIXES) and math.isfinite(value):
                self.lowest[name] = min(self.lowest.get(name, math.inf), abs(value))

    def observe_samples(self, step: int, images: torch.Tensor) -> None:
        """Fed each sample grid's images (drawn from the fixed inputs), in [-1, 1]."""
        spread = sample_spread(images)
        if self.first_spread is None:
            self.first_spread = spread
            return
        alike = spread < ALIKE_SPREAD and spread < ALIKE_FRACTION * self.first_spread
        self.alike_grids = self.alike_grids + 1 if alike else 0
        self.hold(self.alike_grids >= ALIKE_GRIDS, HealthWarning(
            "samples alike", step,
            f"step {step}: the samples from different latents are one image, at {ALIKE_GRIDS} sample grids in a row",
            "G has collapsed or saturated; lower optimizer.lr (and optimizer.beta1) and start again, or resume from an earlier checkpoint"))

    def warnings(self) -> list[HealthWarning]:
        return list(self.current.values())

    def hold(self, holds: bool, warning: HealthWarning) -> None:
        """Raise the warning while its condition holds; clear it when it no longer does."""
        if not holds:
            self.current.pop(warning.name, None)
        elif warning.name not in self.current:
            self.current[warning.name] = warning
            self.raised.append(warning)

    def check_finite(self, step: int, figures: dict[str, float]) -> None:
        losses = {name: value for name, value in figures.items() if name.startswith("loss/")}
        if not losses:  # an evaluation's scores say nothing about the losses
            return
        bad = sorted(name for name, value in losses.items() if not math.isfinite(value))
        self.hold(bool(bad), HealthWarning(
            "divergence", step, f"step {step}: {', '.join(bad)} not finite",
            "lower optimizer.lr, or resume from best.pt"))

    def check_exploding(self, step: int, figures: dict[str, float]) -> None:
        exploding = []
        for name, value in figures.items():
            if not name.startswith(EXPLODING_PREFIXES) or name in self.unjudged or not math.isfinite(value):
                continue
            reference = max(self.lowest.get(name, abs(value)), EXPLODING_FLOOR)
            self.lowest[name] = min(self.lowest.get(name, math.inf), abs(value))
            above = abs(value) > EXPLODING_RATIO * reference
            self.exploding_streak[name] = self.exploding_streak.get(name, 0) + 1 if above else 0
            if self.exploding_streak[name] >= EXPLODING_INTERVALS:
                exploding.append(f"{name} {value:.4g}")
        if not any(name.startswith(EXPLODING_PREFIXES) for name in figures):  # an evaluation says nothing of them
            return
        self.hold(bool(exploding), HealthWarning(
            "exploding", step,
            f"step {step}: {', '.join(exploding)}: over {EXPLODING_RATIO:g}x the lowest of the run, at {EXPLODING_INTERVALS} intervals in a row",
            "lower optimizer.lr (and optimizer.beta1), or resume from an earlier checkpoint with a lower rate"))

    def check_overpowered(self, step: int, d_fake: float) -> None:
        self.overpowered_streak = self.overpowered_streak + 1 if d_fake < OVERPOWERED_D_FAKE else 0
        self.hold(self.overpowered_streak >= OVERPOWERED_INTERVALS, HealthWarning(
            "D overpowering G", step,
            f"step {step}: D(G(z)) has stayed under {OVERPOWERED_D_FAKE} for {OVERPOWERED_INTERVALS} logging intervals, so G learns little",
            "lower D's rate or raise G's (optimizer.lr_d, optimizer.lr_g), soften D with one-sided label smoothing (loss.real_label=0.9), "
            "keep the non-saturating loss, or lower train.d_steps"))

    def check_fid(self, step: int, fid: float) -> None:
        best = self.best.get("eval/fid", math.inf)
        self.fid_above_best = self.fid_above_best + 1 if math.isfinite(best) and fid > DIVERGED_FID_RATIO * best else 0
        self.best["eval/fid"] = min(best, fid)
        self.hold(self.fid_above_best >= DIVERGED_EVALUATIONS, HealthWarning(
            "FID rising", step,
            f"step {step}: FID {fid:.1f} is over {DIVERGED_FID_RATIO}x its best ({self.best['eval/fid']:.1f}) "
            f"at {DIVERGED_EVALUATIONS} evaluations in a row",
            "best.pt holds the best weights; resume from it with a lower optimizer.lr"))

    def check_collapse(self, step: int, name: str, value: float) -> None:
        best = max(self.best.get(name, value), value)
        self.best[name] = best
        short = name.removeprefix("eval/")
        self.hold(best >= COLLAPSE_MIN_BEST and value < COLLAPSE_FRACTION * best, HealthWarning(
            f"mode collapse ({short})", step,
            f"step {step}: {short} fell to {value:.2f} from its best {best:.2f}: the samples miss parts of the data",
            "resume from best.pt with a lower optimizer.lr, or raise train.d_steps"))


def sample_spread(images: torch.Tensor) -> float:
    """The mean RMS difference between two images of the batch: 0 when they are all one image."""
    flat = images.detach().float().flatten(1).cpu()
    if len(flat) < 2:
        return math.inf
    distances = torch.cdist(flat, flat) / flat.shape[1] ** 0.5
    return float(distances.sum() / (len(flat) * (len(flat) - 1)))
