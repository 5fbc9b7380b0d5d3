"""Generator EMA: the average's update rule, BatchNorm buffers copied rather than averaged, the swap
that makes sampling draw from the average, and the choice gan-sample and gan-eval offer."""

from __future__ import annotations

import pytest
import torch

from gan_cli.commands.compose import compose_config
from gan_cli.errors import UserError
from gan_cli.families.base import DataInfo
from gan_cli.training.ema import averaged_generators, half_life_images, moving_average, update_averages, wants_averages
from gan_cli.training.train import build_family

TINY_DCGAN = ["model=dcgan", "model.image_size=16", "model.ngf=4", "model.ndf=4", "model.nz=4", "train.batch_size=8"]


def tiny_family(*options: str):
    cfg = compose_config([*TINY_DCGAN, *options])
    return build_family(cfg.model, DataInfo(channels=1, image_size=16), cfg)


def test_an_old_weight_share_halves_every_half_life():
    update = moving_average(half_life=64, batch_size=32, rampup=0)  # two steps per half-life
    averaged, current = [torch.zeros(3)], [torch.ones(3)]
    for _ in range(2):
        update(averaged, current, torch.tensor(10))
    assert torch.allclose(averaged[0], torch.full((3,), 0.5))


def test_the_ramp_up_shortens_the_half_life_early_on():
    slow, ramped = [torch.zeros(1)], [torch.zeros(1)]
    moving_average(half_life=10_000, batch_size=8, rampup=0)(slow, [torch.ones(1)], torch.tensor(1))
    moving_average(half_life=10_000, batch_size=8, rampup=0.5)(ramped, [torch.ones(1)], torch.tensor(1))
    assert ramped[0].item() == pytest.approx(1 - 0.5**2)  # half-life 4 images: two halvings in one batch of 8
    assert slow[0].item() < 1e-3


def test_a_decay_is_a_half_life_at_the_batch_size():
    cfg = compose_config([*TINY_DCGAN, "model.ema=true", "model.ema_decay=0.5"])
    assert half_life_images(cfg.model, batch_size=8) == pytest.approx(8)


def test_the_average_follows_g_and_copies_its_batchnorm_statistics():
    family = tiny_family("model.ema=true", "model.ema_rampup=0")
    generator, average = family.networks["G"], family.networks["G_ema"]
    update_averages(family)  # the first update copies G
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.add_(1.0)
    generator(torch.randn(8, 4))  # training mode: BatchNorm's running statistics move
    update_averages(family)
    for (name, kept), (_, current) in zip(average.module.named_buffers(), generator.named_buffers()):
        assert torch.equal(kept, current), name
    for kept, current in zip(average.module.parameters(), generator.parameters()):
        assert (kept < current).all() and (kept > current - 1).all()  # part of the way from the old G
    assert not any(p.requires_grad for p in average.parameters())


def test_sampling_draws_from_the_average_inside_the_block_only():
    family = tiny_family("model.ema=true")
    generator, average = family.networks["G"], family.networks["G_ema"].module
    with averaged_generators(family) as swapped:
        assert swapped == ["G"] and family.networks["G"] is average
    assert family.networks["G"] is generator
    with averaged_generators(family, enabled=False) as swapped:
        assert swapped == [] and family.networks["G"] is generator


def test_every_generator_of_a_family_is_averaged_and_no_critic():
    cfg = compose_config(["model=cyclegan", "data=paired_folder", "data.path=unused", "model.ngf=4", "model.ndf=4", "model.ema=true"])
    family = build_family(cfg.model, DataInfo(channels=3, image_size=32, fields=("input", "target"), target_channels=3), cfg)
    assert sorted(name for name in family.networks if name.endswith("_ema")) == ["F_ema", "G_ema"]


def test_asking_for_averages_a_checkpoint_lacks_is_a_user_error():
    plain = tiny_family("model.ema=false")
    assert wants_averages(plain, None) and not wants_averages(plain, False)
    with pytest.raises(UserError, match="model.ema=true"):
        wants_averages(plain, True)
