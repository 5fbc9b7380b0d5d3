"""DiffAugment's transforms: shapes kept, gradients through, and each doing what it says."""

from __future__ import annotations

import pytest
import torch

from gan_cli.errors import UserError
from gan_cli.objectives.augment import TRANSFORMS, augment_inputs, cutout, parse_policy, translation


@pytest.mark.parametrize("name", TRANSFORMS)
def test_each_transform_keeps_the_shape_and_passes_gradients(name):
    images = torch.rand(4, 3, 16, 16, requires_grad=True)
    out = TRANSFORMS[name](images)
    assert out.shape == images.shape
    out.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_translation_moves_whole_pixels_by_at_most_an_eighth():
    torch.manual_seed(0)
    images = torch.zeros(64, 1, 16, 16)
    images[:, :, 8, 8] = 1
    moved = translation(images)
    assert torch.equal(moved.sum(dim=(1, 2, 3)), torch.ones(64))  # one whole pixel, never smeared
    rows, cols = moved[:, 0].nonzero()[:, 1], moved[:, 0].nonzero()[:, 2]
    assert (rows - 8).abs().max() <= 2 and (cols - 8).abs().max() <= 2 and (rows != 8).any()


def test_cutout_blanks_at_most_a_quarter_of_each_image():
    torch.manual_seed(0)
    blanked = (cutout(torch.ones(64, 1, 16, 16)) == 0).float().mean(dim=(1, 2, 3))
    assert (blanked <= 0.25).all() and blanked.mean() > 0.1


def test_the_hook_transforms_every_call_and_leaves_the_weights_alone():
    critic = torch.nn.Conv2d(1, 1, 1, bias=False)
    keys = set(critic.state_dict())
    augment_inputs(critic, [lambda images: images * 0])
    assert critic(torch.ones(2, 1, 4, 4)).abs().sum() == 0
    assert set(critic.state_dict()) == keys


def test_an_unknown_transform_names_the_valid_ones():
    with pytest.raises(UserError, match="unknown transform 'zoom'; choose from color, translation, cutout"):
        parse_policy("color,zoom")
    assert parse_policy(" color , cutout ") == [TRANSFORMS["color"], TRANSFORMS["cutout"]]
