"""Training health: the classic GAN failures, recognised in the figures a run logs, each with advice.

The monitor sees what the run logs: interval means of the losses and of D(x), D(G(z)) every
``train.log_every`` steps, and the sample scores at each evaluation. A warning holds while its
condition does, so the progress bar shows the current state; every warning raised is kept for the
run's summary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

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
    current: dict[str, HealthWarning] = field(default_factory=dict)
    raised: list[HealthWarning] = field(default_factory=list)

    def observe(self, step: int, figures: dict[str, float]) -> None:
        self.check_finite(step, figures)
        if "d/fake" in figures:
            self.check_overpowered(step, figures["d/fake"])
        if "eval/fid" in figures:
            self.check_fid(step, figures["eval/fid"])
        for name in ("eval/coverage", "eval/recall"):
            if name in figures:
                self.check_collapse(step, name, figures[name])

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
