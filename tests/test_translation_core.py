"""The pieces under pix2pix and CycleGAN: the lsgan loss, the learning-rate schedule, the image pool,
the in-memory translation data with its jitter, and the translation scores."""

from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf

from gan_cli.config import GanLoss, LrSchedule, OptimizerConfig, learning_rates, schedule_factor
from gan_cli.data.translation import TranslationImages, jitter_load_size, jitter_shift
from gan_cli.data.translation_folders import TranslationSplits
from gan_cli.metrics.translation import TranslationScores
from gan_cli.objectives.image_pool import ImagePool
from gan_cli.objectives.losses import AdversarialLoss


def test_lsgan_regresses_real_to_one_and_fake_to_zero():
    loss = AdversarialLoss(GanLoss.lsgan)
    perfect_d = loss.discriminator(torch.ones(4, 1, 3, 3), torch.zeros(4, 1, 3, 3))
    assert perfect_d.item() == 0
    assert loss.discriminator(torch.zeros(4), torch.ones(4)).item() == pytest.approx(2.0)
    assert loss.generator(torch.ones(5)).item() == 0
    assert loss.generator(torch.zeros(5)).item() == pytest.approx(1.0)


def test_lsgan_reports_raw_outputs_as_d_of_x():
    outputs = AdversarialLoss("lsgan").d_outputs(torch.full((3,), 0.5), torch.full((3,), 0.25))
    assert outputs["d/real"].item() == pytest.approx(0.5) and outputs["d/fake"].item() == pytest.approx(0.25)
    bce = AdversarialLoss("non_saturating").d_outputs(torch.zeros(3), torch.zeros(3))
    assert bce["d/real"].item() == pytest.approx(0.5)


def test_cross_entropy_losses_keep_their_meaning():
    logits = torch.tensor([2.0, -1.0])
    saturating = AdversarialLoss("saturating").generator(logits)
    assert saturating.item() == pytest.approx(torch.log1p(-torch.sigmoid(logits)).mean().item(), rel=1e-6)
    non_saturating = AdversarialLoss("non_saturating").generator(logits)
    assert non_saturating.item() == pytest.approx(-torch.log(torch.sigmoid(logits)).mean().item(), rel=1e-6)


def test_old_checkpoints_naming_the_g_loss_still_load():
    assert AdversarialLoss.from_config(OmegaConf.create({"g": "saturating", "real_label": 1.0})).kind is GanLoss.saturating


def linear_decay(decay_start=0.5):
    return OmegaConf.structured(OptimizerConfig(schedule=LrSchedule.linear_decay, decay_start=decay_start))


def test_linear_decay_is_constant_for_the_first_half_then_falls_to_zero():
    cfg = linear_decay()
    factors = [schedule_factor(cfg, step, 10) for step in range(10)]
    assert factors[:5] == [1.0] * 5
    assert factors[5:] == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2])
    assert all(a >= b for a, b in zip(factors, factors[1:]))
    assert learning_rates(cfg, 9, 10)["g"] == pytest.approx(2e-4 * 0.2)


def test_constant_schedule_never_changes_the_rate():
    cfg = OmegaConf.structured(OptimizerConfig())
    assert {learning_rates(cfg, step, 10)["d"] for step in range(10)} == {2e-4}


def test_image_pool_fills_then_swaps_and_round_trips_its_state():
    torch.manual_seed(0)
    pool = ImagePool(4)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: returned as given
    later = torch.arange(10.0, 74.0).view(64, 1, 1, 1)
    returned = pool.query(later)
    from_history = sum(float(v) < 10 or float(v) not in later.flatten().tolist() for v in returned.flatten())
    assert 0 < from_history < 64  # about half come from the pool, some of them the first images
    copy = ImagePool(4)
    copy.load_state_dict(pool.state_dict(), torch.device("cpu"))
    torch.manual_seed(1)
    a = pool.query(later)
    torch.manual_seed(1)
    assert torch.equal(a, copy.query(later))


def test_image_pool_of_size_zero_passes_images_through():
    images = torch.randn(3, 1, 2, 2)
    assert torch.equal(ImagePool(0).query(images), images)


def tiny_translation(paired: bool, load: int = 20, size: int = 16) -> TranslationImages:
    """Inputs whose every pixel holds its image index, and targets holding 100 + index."""
    index = torch.arange(6, dtype=torch.uint8).view(6, 1, 1, 1)
    gradient = torch.arange(load, dtype=torch.uint8).view(1, 1, 1, load)  # columns differ: crops and flips show
    train_input = (index + gradient).expand(6, 1, load, load).contiguous()
    train_target = (100 + index + gradient).expand(6, 3, load, load).contiguous()
    test = torch.zeros(2, 1, size, size, dtype=torch.uint8)
    splits = TranslationSplits(train_input, train_target, test, test.expand(2, 3, size, size), paired, True, "test")
    return TranslationImages.from_splits(splits, "AtoB", size, flip=True)


def test_paired_batches_crop_and_flip_both_sides_identically():
    data = tiny_translation(paired=True)
    torch.manual_seed(0)
    batch = data.batch(torch.arange(6))
    assert batch["input"].shape == (6, 1, 16, 16) and batch["target"].shape == (6, 3, 16, 16)
    as_uint8 = lambda images: images.add(1).mul(127.5).round()  # noqa: E731
    assert torch.equal(as_uint8(batch["target"])[:, :1] - 100, as_uint8(batch["input"]))
    offsets = {int(as_uint8(batch["input"])[i, 0, 0, 0]) - i for i in range(6)}
    assert len(offsets) > 1  # the crops differ between images


def test_unpaired_epochs_shuffle_each_domain_on_its_own():
    data = tiny_translation(paired=False)
    order = data.epoch_order(torch.Generator().manual_seed(0))
    assert order.shape == (6, 2)
    assert sorted(order[:, 0].tolist()) == list(range(6)) and sorted(order[:, 1].tolist()) == list(range(6))
    assert not torch.equal(order[:, 0], order[:, 1])


def test_direction_swaps_the_domains_and_info_follows():
    splits = tiny_translation(paired=True)
    swapped = TranslationImages.from_splits(
        TranslationSplits(splits.train_input, splits.train_target, splits.test_input, splits.test_target, True, True, "val"),
        "BtoA",
        16,
        flip=False,
    )
    info = swapped.info()
    assert (info.channels, info.target_channels, info.paired) == (3, 1, True)
    assert swapped.heldout(0).split == "val" and swapped.heldout(1).input.shape[0] == 1


def test_jitter_load_size_scales_the_reference_286_over_256():
    assert jitter_load_size(256) == 286 and jitter_load_size(32) == 36
    assert jitter_shift(256) == 15 and jitter_shift(32) == 2


def test_shift_jitter_moves_pairs_together_without_resampling():
    """Crops of images kept at the model's size reach past the edges, where the border repeats: every
    pixel of a batch is a pixel of its image, and input and target move alike."""
    data = tiny_translation(paired=True, load=16, size=16)
    data.flip, data.shift = False, 3
    torch.manual_seed(0)
    batch = data.batch(torch.arange(6))
    as_uint8 = lambda images: images.add(1).mul(127.5).round().long()  # noqa: E731
    inputs, targets = as_uint8(batch["input"]), as_uint8(batch["target"])
    assert torch.equal(targets[:, :1] - 100, inputs)
    shifts = inputs[:, 0, 0, 0] - torch.arange(6)  # the column the crop starts at, clamped to the image
    assert shifts.min() >= 0 and shifts.max() <= 3 and len(set(inputs[:, 0, 0, -1].tolist())) > 1
    rows = inputs[:, 0] - torch.arange(6).view(6, 1, 1)
    assert rows.min() >= 0 and rows.max() <= 15  # no value outside the image: nothing was interpolated


def test_translation_scores_match_their_definitions():
    scores = TranslationScores()
    target = torch.zeros(2, 1, 16, 16)
    output = torch.full((2, 1, 16, 16), 0.2)  # 0.1 away in [0, 1]
    scores.update(output, target)
    figures = scores.compute()
    assert figures["l1"] == pytest.approx(0.1, abs=1e-6)
    assert figures["psnr"] == pytest.approx(10 * math.log10(1 / 0.01), abs=1e-3)
    scores.reset()
    scores.update(target, target)
    assert scores.compute()["ssim"] == pytest.approx(1.0, abs=1e-6)
