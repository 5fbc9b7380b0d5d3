"""Adversarial losses on D's raw outputs, one object per ``loss=`` choice.

D outputs logits, so the log-terms of the cross-entropy losses stay numerically stable. The
least-squares loss (Mao et al., 2017) regresses the same raw outputs onto 1 for real and 0 for fake.
The hinge loss (Lim & Ye, 2017; SAGAN) and the Wasserstein critic (Gulrajani et al., 2017) read them
as unbounded scores; the critic's gradient penalty keeps it near 1-Lipschitz.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, ContextManager

import torch
import torch.nn.functional as F

from gan_cli.config import GanLoss

D_OUTPUTS = ("d/real", "d/fake")  # mean D(x) and D(G(z)) as probabilities, for the calibrated losses
D_SCORES = ("d/score_real", "d/score_fake")  # mean raw scores, for the losses whose outputs are no probabilities
GRADIENT_PENALTY = "loss/gp"
R1 = "loss/r1"

Critic = Callable[[torch.Tensor], torch.Tensor]


def input_gradients(critic: Critic, images: torch.Tensor) -> torch.Tensor:
    """[N, pixels] gradient of the critic's score of each image with respect to that image, kept in
    the graph so that D can be trained on it (the penalties are functions of it)."""
    images = images.detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(critic(images).sum(), images, create_graph=True)
    return gradient.flatten(1)


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Mean (‖∇ critic(x̂)‖ - 1)² at random points x̂ on the lines between real and fake samples."""
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    mix = torch.rand(shape, device=real.device, dtype=real.dtype)
    between = mix * real.detach() + (1 - mix) * fake.detach()
    return (input_gradients(critic, between).norm(dim=1) - 1).pow(2).mean()


@dataclass
class R1Penalty:
    """gamma/2 * E|grad D(x)|^2 on real images, computed every ``every`` D steps and weighted by
    ``every`` (StyleGAN2's lazy regularization: the same mean strength at a fraction of the cost)."""

    gamma: float = 0.0
    every: int = 16
    d_updates: int = 0  # D steps so far, which say when the next term is due; saved for exact resume

    def due(self) -> bool:
        self.d_updates += 1
        return self.gamma > 0 and self.d_updates % self.every == 0

    def __call__(self, critic: Critic, real: torch.Tensor) -> torch.Tensor:
        return self.gamma / 2 * input_gradients(critic, real).pow(2).sum(1).mean() * self.every


class AdversarialLoss:
    """D's and G's side of the game for one ``loss.name``; D's outputs may be scores or patch maps."""

    def __init__(self, kind: GanLoss | str, real_label: float = 1.0, gp_weight: float = 10.0):
        self.kind = GanLoss(kind)
        self.real_label = real_label
        self.gp_weight = gp_weight
        self.r1 = R1Penalty()
        # What the gradient penalties run inside. torch.compile's graphs have no double backward, so
        # a compiled run sets this to a block in which the networks run eager (compiling.eager).
        self.penalty_context: Callable[[], ContextManager] = contextlib.nullcontext

    @classmethod
    def from_config(cls, loss_cfg) -> "AdversarialLoss":
        # Checkpoints written before loss=lsgan existed name the G loss "g".
        kind = loss_cfg.get("name") or loss_cfg.get("g") or GanLoss.non_saturating
        return cls(kind, loss_cfg.get("real_label", 1.0), loss_cfg.get("gp_weight", 10.0))

    @property
    def least_squares(self) -> bool:
        return self.kind is GanLoss.lsgan

    @property
    def scores(self) -> bool:
        """Whether D's outputs are unbounded scores rather than (logits of) probabilities."""
        return self.kind in (GanLoss.hinge, GanLoss.wgan_gp)

    @property
    def d_scalars(self) -> tuple[str, ...]:
        """What a D phase logs under this loss."""
        penalty = (GRADIENT_PENALTY,) if self.kind is GanLoss.wgan_gp else ()
        r1 = (R1,) if self.r1.gamma > 0 else ()
        return ("loss/d", *(D_SCORES if self.scores else D_OUTPUTS), *penalty, *r1)

    def discriminator(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        """Cross-entropy: -[log D(x) + log(1 - D(G(z)))]; least squares: (D(x) - 1)² + D(G(z))²;
        hinge: max(0, 1 - D(x)) + max(0, 1 + D(G(z))); Wasserstein: D(G(z)) - D(x)."""
        if self.kind is GanLoss.hinge:
            return F.relu(1 - real_out).mean() + F.relu(1 + fake_out).mean()
        if self.kind is GanLoss.wgan_gp:
            return fake_out.mean() - real_out.mean()
        real_target = torch.full_like(real_out, self.real_label)
        if self.least_squares:
            return F.mse_loss(real_out, real_target) + fake_out.pow(2).mean()
        real_term = F.binary_cross_entropy_with_logits(real_out, real_target)
        fake_term = F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out))
        return real_term + fake_term

    def discriminator_step(self, critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """D's loss on a real and a fake batch, with the gradient penalty under wgan_gp, and its scalars."""
        real_out, fake_out = critic(real), critic(fake)
        loss = self.discriminator(real_out, fake_out)
        scalars = {"loss/d": loss.detach(), **self.d_outputs(real_out, fake_out)}
        with self.penalty_context():
            if self.kind is GanLoss.wgan_gp:
                penalty = gradient_penalty(critic, real, fake)
                loss = loss + self.gp_weight * penalty
                scalars[GRADIENT_PENALTY] = penalty.detach()
            if self.r1.due():
                r1 = self.r1(critic, real)
                loss = loss + r1
                scalars[R1] = r1.detach() / self.r1.every  # logged at its per-step strength
        return loss, scalars

    def generator(self, fake_out: torch.Tensor) -> torch.Tensor:
        """Non-saturating: -log D(G(z)); saturating: log(1 - D(G(z))); least squares: (D(G(z)) - 1)²;
        hinge and Wasserstein: -D(G(z))."""
        if self.least_squares:
            return F.mse_loss(fake_out, torch.ones_like(fake_out))
        if self.scores:
            return -fake_out.mean()
        if self.kind is GanLoss.saturating:
            # log(1 - sigmoid(l)) == -softplus(l); its gradient vanishes when D rejects the fakes.
            return -F.softplus(fake_out).mean()
        return F.binary_cross_entropy_with_logits(fake_out, torch.ones_like(fake_out))

    def d_outputs(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mean D(x) and D(G(z)); both tend to 0.5 as the game approaches its equilibrium.

        For the least-squares loss the raw output is D's estimate itself: with targets 1 and 0 the
        optimal D is p_data / (p_data + p_g), which is 0.5 once G matches the data, as sigmoid(logit) is.
        Hinge and Wasserstein scores are no probabilities and have no such point, so they are logged
        as raw means under their own names.
        """
        names = D_SCORES if self.scores else D_OUTPUTS
        as_probability = (lambda out: out) if self.least_squares or self.scores else torch.sigmoid
        real, fake = names
        return {
            real: as_probability(real_out.detach().float()).mean(),
            fake: as_probability(fake_out.detach().float()).mean(),
        }
