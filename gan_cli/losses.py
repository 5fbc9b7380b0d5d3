"""Adversarial losses on D's raw outputs, one object per ``loss=`` choice.

D outputs logits, so the log-terms of the cross-entropy losses stay numerically stable. The
least-squares loss (Mao et al., 2017) regresses the same raw outputs onto 1 for real and 0 for fake.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_cli.config import GanLoss


D_OUTPUTS = ("d/real", "d/fake")  # the scalars d_outputs reports: mean D(x) and D(G(z))

class AdversarialLoss:
    """D's and G's side of the game for one ``loss.name``; D's outputs may be scores or patch maps."""

    def __init__(self, kind: GanLoss | str, real_label: float = 1.0):
        self.kind = GanLoss(kind)
        self.real_label = real_label

    @classmethod
    def from_config(cls, loss_cfg) -> "AdversarialLoss":
        # Checkpoints written before loss=lsgan existed name the G loss "g".
        kind = loss_cfg.get("name") or loss_cfg.get("g") or GanLoss.non_saturating
        return cls(kind, loss_cfg.get("real_label", 1.0))

    @property
    def least_squares(self) -> bool:
        return self.kind is GanLoss.lsgan

    def discriminator(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        """Cross-entropy: -[log D(x) + log(1 - D(G(z)))]; least squares: (D(x) - 1)² + D(G(z))²."""
        real_target = torch.full_like(real_out, self.real_label)
        if self.least_squares:
            return F.mse_loss(real_out, real_target) + fake_out.pow(2).mean()
        real_term = F.binary_cross_entropy_with_logits(real_out, real_target)
        fake_term = F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out))
        return real_term + fake_term

    def generator(self, fake_out: torch.Tensor) -> torch.Tensor:
        """Non-saturating: -log D(G(z)); saturating: log(1 - D(G(z))); least squares: (D(G(z)) - 1)²."""
        if self.least_squares:
            return F.mse_loss(fake_out, torch.ones_like(fake_out))
        if self.kind is GanLoss.saturating:
            # log(1 - sigmoid(l)) == -softplus(l); its gradient vanishes when D rejects the fakes.
            return -F.softplus(fake_out).mean()
        return F.binary_cross_entropy_with_logits(fake_out, torch.ones_like(fake_out))

    def d_outputs(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mean D(x) and D(G(z)); both tend to 0.5 as the game approaches its equilibrium.

        For the least-squares loss the raw output is D's estimate itself: with targets 1 and 0 the
        optimal D is p_data / (p_data + p_g), which is 0.5 once G matches the data, as sigmoid(logit) is.
        """
        as_probability = (lambda out: out) if self.least_squares else torch.sigmoid
        real, fake = D_OUTPUTS
        return {
            real: as_probability(real_out.detach().float()).mean(),
            fake: as_probability(fake_out.detach().float()).mean(),
        }
