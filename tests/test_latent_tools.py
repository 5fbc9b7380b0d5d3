"""The latent-space helpers behind gan-sample's interpolate, walk and arithmetic modes, on plain tensors."""

from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from gan_cli.config import LossConfig
from gan_cli.errors import UserError
from gan_cli.families.base import DataInfo, Family, GridSpec
from gan_cli.families.latent import (
    ARITHMETIC_ALPHAS,
    LatentSpace,
    arithmetic,
    attribute_vector,
    generate_batched,
    ink,
    interpolation_path,
    lerp,
    slerp,
    walk,
)


def test_lerp_and_slerp_hit_both_ends():
    a, b = torch.randn(8), torch.randn(8)
    for path in (interpolation_path(a, b, 5, spherical=True), interpolation_path(a, b, 5, spherical=False)):
        assert path.shape == (5, 8)
        assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)


def test_slerp_keeps_the_norm_where_lerp_sags():
    a = torch.tensor([3.0, 0.0])
    b = torch.tensor([0.0, 3.0])
    middle = torch.tensor([0.5])
    assert slerp(a, b, middle)[0].norm().item() == pytest.approx(3.0, abs=1e-5)
    assert lerp(a, b, middle)[0].norm().item() == pytest.approx(3 / math.sqrt(2), abs=1e-5)


def test_slerp_of_parallel_vectors_falls_back_to_lerp():
    a = torch.tensor([1.0, 2.0])
    t = torch.linspace(0, 1, 4)
    assert torch.allclose(slerp(a, 2 * a, t), lerp(a, 2 * a, t))


def test_slerp_works_row_by_row():
    a, b = torch.randn(3, 6), torch.randn(3, 6)
    t = torch.tensor([0.0, 0.3, 1.0])
    batched = slerp(a, b, t)
    assert batched.shape == (3, 3, 6)
    for row in range(3):
        assert torch.allclose(batched[:, row], slerp(a[row], b[row], t), atol=1e-5)


def test_walk_changes_only_the_chosen_coordinate():
    base = torch.randn(2, 5)
    values = torch.linspace(-3, 3, 4)
    z = walk(base, 2, values).view(2, 4, 5)
    assert torch.equal(z[:, :, 2], values.expand(2, 4))
    others = [0, 1, 3, 4]
    assert torch.equal(z[:, :, others], base[:, None, others].expand(2, 4, 4))


def test_ink_is_mean_brightness():
    images = torch.stack([torch.full((1, 4, 4), -1.0), torch.full((1, 4, 4), 1.0), torch.zeros(1, 4, 4)])
    assert ink(images).tolist() == [0.0, 1.0, 0.5]


def test_attribute_vector_points_along_what_drives_the_score():
    z = torch.randn(400, 6, generator=torch.Generator().manual_seed(0))
    scores = z[:, 3] + 0.1 * z[:, 0]
    found = attribute_vector(z, scores)
    assert found.direction.argmax().item() == 3
    assert found.heavy_score > found.light_score
    assert found.group_size == 100


def test_attribute_vector_ranks_within_each_class():
    """A class with more ink overall must not make its latents look 'heavy'."""
    generator = torch.Generator().manual_seed(1)
    z = torch.randn(600, 4, generator=generator)
    labels = torch.arange(600) % 3
    scores = 10.0 * labels + z[:, 1]  # class 2 is always heaviest; within a class, z[1] decides
    found = attribute_vector(z, scores, labels)
    assert found.direction.abs().argmax().item() == 1 and found.direction[1] > 0


def test_attribute_vector_needs_a_pool():
    with pytest.raises(UserError, match="pool"):
        attribute_vector(torch.randn(1, 3), torch.randn(1))


def test_arithmetic_adds_multiples_of_the_direction():
    base = torch.zeros(2, 3)
    direction = torch.tensor([1.0, 0.0, -1.0])
    z = arithmetic(base, direction).view(2, len(ARITHMETIC_ALPHAS), 3)
    for column, alpha in enumerate(ARITHMETIC_ALPHAS):
        assert torch.allclose(z[:, column], alpha * direction.expand(2, 3))


class InkFamily(Family):
    """A stand-in generator: image brightness follows z[0], so 'ink' is a known latent direction."""

    def build_networks(self):
        return {"G": nn.Linear(1, 1)}

    def optimizers(self):
        return {}

    def phases(self):
        return []

    def grid_inputs(self, num_samples, generator):
        return GridSpec({"z": torch.randn(num_samples, 3, generator=generator)}, nrow=1)

    def generate(self, inputs):
        level = torch.tanh(inputs["z"][:, :1])
        return level[:, :, None, None].expand(-1, 1, 4, 4)

    @property
    def latent_dim(self):
        return 3


def ink_family(family_class=InkFamily) -> Family:
    return family_class(OmegaConf.create({"name": "ink"}), DataInfo(channels=1, image_size=4), OmegaConf.structured(LossConfig), 1)


def test_latent_space_finds_a_planted_attribute():
    family = ink_family()
    space = LatentSpace.of(family, "mode=arithmetic")
    pool = space.draw(200, torch.Generator().manual_seed(0))
    found = attribute_vector(pool, ink(space.decode(pool, None, batch_size=64)))
    assert found.direction.abs().argmax().item() == 0 and found.direction[0] > 0


def test_latent_space_needs_a_latent():
    class NoLatent(InkFamily):
        @property
        def latent_dim(self):
            return None

    family = ink_family(NoLatent)
    with pytest.raises(UserError, match="mode=walk needs a model with a latent"):
        LatentSpace.of(family, "mode=walk")


def test_uniform_prior_draws_inside_the_cube():
    family = ink_family()
    family.prior = "uniform"
    space = LatentSpace(family)
    z = space.draw(500, torch.Generator().manual_seed(0))
    assert z.min() >= -1 and z.max() <= 1 and not space.spherical and space.default_span == 1.0


def test_generate_batched_matches_one_big_batch():
    family = ink_family()
    z = torch.randn(10, 3)
    assert torch.equal(generate_batched(family, {"z": z}, batch_size=3), family.generate({"z": z}))
