"""Latent-space tools behind ``gan-sample mode=interpolate|walk|arithmetic``: pure tensor helpers, and
``LatentSpace``, which draws latents from a family's prior and decodes them in batches.

What each tool computes:

* interpolate: ``steps`` points on the path from z(seed) to z(end_seed). For a Gaussian prior the path is
  spherical (slerp, White 2016), so every point keeps a norm typical of N(0, I) draws; a straight line
  (lerp) passes through low-norm points the generator rarely saw. ``lerp=true`` forces the straight line,
  and a uniform prior always uses it (slerp can leave the cube).
* walk: a base latent with coordinate ``dim`` replaced by evenly spaced values in [-span, span], the other
  coordinates fixed.
* arithmetic: vector arithmetic with an attribute that is measured, not assumed. A pool of latents is
  decoded and each image scored by its ink (mean brightness in [0, 1]; stroke weight and digit size on
  MNIST). Within each class (the label a conditional model was given; everything is one group for an
  unconditional model) the top quarter of the pool is "heavy" and the bottom quarter "light". The
  attribute vector is d = mean z(heavy) - mean z(light), averaged over classes, and the output decodes
  z_base + alpha * d for alpha in ARITHMETIC_ALPHAS. alpha = 1 is "base - light + heavy", the analogue of
  "man with glasses - man + woman"; for a cGAN the label is the class and z the style, so
  "heavy 3 - light 3 + light 7" is base(7) + d. The mean ink of each column is reported alongside, so
  you can check that d really moves the attribute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from gan_cli.errors import UserError
from gan_cli.families.base import Family

ARITHMETIC_ALPHAS = (-1.0, -0.5, 0.0, 0.5, 1.0)
ARITHMETIC_QUANTILE = 0.25  # the heavy and light groups are each this fraction of their class
DEFAULT_SPAN = {"gaussian": 3.0, "uniform": 1.0}


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Points on the straight line from a to b (rows of a and b) at fractions t: [len(t), ...]."""
    t = t.view(-1, *([1] * a.dim())).to(a.dtype)
    return a.unsqueeze(0) + t * (b - a).unsqueeze(0)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Spherical interpolation of vectors a and b (last dimension) at fractions t: [len(t), ...].

    The formula of White (2016) on the raw vectors: with |a| = |b| every point keeps that norm, and
    between typical N(0, I) draws it stays near sqrt(nz). Nearly parallel vectors fall back to lerp,
    where the two paths coincide.
    """
    t = t.view(-1, *([1] * a.dim())).to(a.dtype)
    a_norm, b_norm = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    cos = ((a / a_norm.clamp_min(eps)) * (b / b_norm.clamp_min(eps))).sum(-1, keepdim=True).clamp(-1, 1)
    omega = torch.acos(cos)
    sin = torch.sin(omega)
    if bool((sin.abs() < eps).any()):
        return lerp(a, b, t.flatten())
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / sin


def interpolation_path(a: torch.Tensor, b: torch.Tensor, steps: int, spherical: bool) -> torch.Tensor:
    """``steps`` latents from a to b, endpoints included: [steps, *a.shape]."""
    t = torch.linspace(0, 1, steps)
    return slerp(a, b, t) if spherical else lerp(a, b, t)


def walk(base: torch.Tensor, dim: int, values: torch.Tensor) -> torch.Tensor:
    """Each row of ``base`` [rows, nz] repeated with coordinate ``dim`` set to each value:
    [rows * len(values), nz], row-major (row i, column j is base[i] with z[dim] = values[j])."""
    grid = base.unsqueeze(1).repeat(1, len(values), 1)
    grid[:, :, dim] = values.to(base.dtype)
    return grid.flatten(0, 1)


def ink(images: torch.Tensor) -> torch.Tensor:
    """Mean brightness of each image in [-1, 1], mapped to [0, 1]: [N]."""
    return images.float().add(1).div(2).flatten(1).mean(1)


@dataclass
class AttributeVector:
    """d = mean z(heavy) - mean z(light), with the scores that chose the groups."""

    direction: torch.Tensor
    heavy_score: float
    light_score: float
    group_size: int


def attribute_vector(
    z: torch.Tensor, scores: torch.Tensor, groups: Optional[torch.Tensor] = None, quantile: float = ARITHMETIC_QUANTILE
) -> AttributeVector:
    """Within each group, the top and bottom ``quantile`` of latents by score; d averages the per-group
    differences of their mean latents, so a class that simply has more ink does not dominate."""
    groups = torch.zeros(len(z), dtype=torch.long) if groups is None else groups.cpu()
    differences, heavy_scores, light_scores, sizes = [], [], [], []
    for group in groups.unique():
        members = (groups == group).nonzero().flatten()
        take = max(1, int(len(members) * quantile))
        if len(members) < 2 * take:
            continue
        order = members[scores[members].argsort(descending=True)]
        heavy, light = order[:take], order[-take:]
        differences.append(z[heavy].mean(0) - z[light].mean(0))
        heavy_scores.append(scores[heavy].mean())
        light_scores.append(scores[light].mean())
        sizes.append(take)
    if not differences:
        raise UserError("pool is too small to pick heavy and light groups; raise pool= (e.g. pool=1000)")
    return AttributeVector(
        direction=torch.stack(differences).mean(0),
        heavy_score=float(torch.stack(heavy_scores).mean()),
        light_score=float(torch.stack(light_scores).mean()),
        group_size=min(sizes),
    )


def arithmetic(base: torch.Tensor, direction: torch.Tensor, alphas=ARITHMETIC_ALPHAS) -> torch.Tensor:
    """z_base + alpha * d for every row of ``base`` and every alpha: [rows * len(alphas), nz], row-major."""
    steps = torch.tensor(alphas, dtype=base.dtype).view(1, -1, 1)
    return (base.unsqueeze(1) + steps * direction.view(1, 1, -1)).flatten(0, 1)


class LatentSpace:
    """A family seen through its latent: draw from its prior, decode latents (and labels) in batches.

    Families opt in by attributes: ``latent_dim`` (every family; None means no latent), ``prior``
    ("gaussian" unless the family says "uniform") and ``label_classes`` (> 0 for conditional families,
    whose ``generate`` reads ``inputs["label"]``).
    """

    def __init__(self, family: Family):
        self.family = family
        self.dim = family.latent_dim
        self.prior = getattr(family, "prior", "gaussian")
        self.classes = label_classes(family)

    @classmethod
    def of(cls, family: Family, purpose: str) -> "LatentSpace":
        if family.latent_dim is None:
            raise UserError(f"{purpose} needs a model with a latent vector; this checkpoint's model has none")
        return cls(family)

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n prior draws on the CPU, so a seed gives the same latents on every device."""
        if self.prior == "uniform":
            return torch.rand(n, self.dim, generator=generator).mul_(2).sub_(1)
        return torch.randn(n, self.dim, generator=generator)

    @property
    def spherical(self) -> bool:
        return self.prior == "gaussian"

    @property
    def default_span(self) -> float:
        return DEFAULT_SPAN.get(self.prior, 3.0)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, labels: Optional[torch.Tensor], batch_size: int) -> torch.Tensor:
        inputs = {"z": z} if labels is None else {"z": z, "label": labels}
        return generate_batched(self.family, inputs, batch_size)


def label_classes(family: Family) -> int:
    """How many labels a conditional family takes; 0 for an unconditional one."""
    return int(getattr(family, "label_classes", 0) or 0)


@torch.no_grad()
def generate_batched(family: Family, inputs: dict[str, torch.Tensor], batch_size: int) -> torch.Tensor:
    """``family.generate`` over equal-length CPU input tensors, ``batch_size`` rows at a time; CPU output."""
    total = len(next(iter(inputs.values())))
    device = family.device
    chunks = []
    for start in range(0, total, batch_size):
        chunk = {key: value[start : start + batch_size].to(device) for key, value in inputs.items()}
        chunks.append(family.generate(chunk).float().cpu())
    return torch.cat(chunks)
