"""Adversarial losses on D's logits. D outputs logits so the log-terms stay numerically stable."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_cli.config import GeneratorLoss


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 1.0):
    """-[log D(x) + log(1 - D(G(z)))], the discriminator's side of the minimax game."""
    real_target = torch.full_like(real_logits, real_label)
    real_term = F.binary_cross_entropy_with_logits(real_logits, real_target)
    fake_term = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real_term + fake_term


def generator_loss(fake_logits: torch.Tensor, kind: GeneratorLoss) -> torch.Tensor:
    """G's loss. The saturating form is log(1 - D(G(z))); the non-saturating form is -log D(G(z))."""
    if GeneratorLoss(kind) is GeneratorLoss.saturating:
        # log(1 - sigmoid(l)) == -softplus(l); its gradient vanishes when D rejects the fakes.
        return -F.softplus(fake_logits).mean()
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def d_outputs(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean D(x) and D(G(z)); both tend to 0.5 as the game approaches its equilibrium."""
    return {
        "d/real": torch.sigmoid(real_logits.detach().float()).mean(),
        "d/fake": torch.sigmoid(fake_logits.detach().float()).mean(),
    }
