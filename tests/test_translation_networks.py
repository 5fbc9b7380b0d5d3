"""The image-to-image translation blocks: U-Net and ResNet generators, PatchGAN discriminator, norms."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gan_cli.errors import UserError
from gan_cli.networks.norm import NormKind, norm_layer, uses_bias
from gan_cli.networks.patchgan import PatchDiscriminator, check_patch_layers, patch_layers_for, receptive_field
from gan_cli.networks.resnet import ResidualBlock, ResnetGenerator, check_resnet_size, resnet_blocks_for
from gan_cli.networks.unet import UNET_SIZES, SkipBlock, UNetGenerator, unet_depth


def count(net: nn.Module, kind: type) -> int:
    return sum(type(module) is kind for module in net.modules())


@pytest.mark.parametrize("size", [16, 32, 64])
@pytest.mark.parametrize(("in_channels", "out_channels"), [(1, 3), (3, 1)])
def test_unet_keeps_size_and_changes_channels(size, in_channels, out_channels):
    net = UNetGenerator(in_channels, out_channels, size, ngf=4)
    images = torch.randn(2, in_channels, size, size)
    output = net(images)
    assert output.shape == (2, out_channels, size, size)
    assert output.abs().max() <= 1


@pytest.mark.parametrize(("size", "depth"), [(16, 4), (32, 5), (64, 6), (256, 8), (512, 8)])
def test_unet_depth_reaches_the_bottleneck_and_is_capped(size, depth):
    assert unet_depth(size) == depth
    assert count(UNetGenerator(3, 3, size, ngf=2), nn.Conv2d) == depth


@pytest.mark.parametrize("size", [28, 48])
def test_unet_rejects_sizes_that_are_not_powers_of_two(size):
    with pytest.raises(UserError) as error:
        UNetGenerator(3, 3, size, ngf=2)
    message = str(error.value)
    assert "\n" not in message
    assert f"model.image_size={size}" in message
    assert all(str(supported) in message for supported in UNET_SIZES)


@pytest.mark.parametrize(("size", "dropout", "expected"), [(32, 0.5, 3), (16, 0.5, 2), (256, 0.5, 3), (32, 0.0, 0)])
def test_unet_dropout_sits_next_to_the_bottleneck(size, dropout, expected):
    net = UNetGenerator(3, 3, size, ngf=2, dropout=dropout)
    assert len(net.dropout_modules()) == expected == count(net, nn.Dropout)


def test_unet_dropout_skips_the_innermost_and_outermost_blocks():
    net = UNetGenerator(3, 3, 32, ngf=2)
    blocks = [module for module in net.modules() if isinstance(module, SkipBlock)]
    with_dropout = [i for i, block in enumerate(blocks) if any(isinstance(m, nn.Dropout) for m in block.up)]
    assert with_dropout == [1, 2, 3]


def test_unet_skip_connections_carry_the_input_past_a_dead_bottleneck():
    net = UNetGenerator(3, 3, 32, ngf=4).eval()
    innermost = [module for module in net.modules() if isinstance(module, SkipBlock)][-1]
    for conv in (innermost.down[1], innermost.up[1]):
        for parameter in conv.parameters():
            nn.init.zeros_(parameter)
    images = torch.randn(1, 3, 32, 32, requires_grad=True)
    bottleneck = innermost.up(innermost.down(torch.randn(1, innermost.down[1].in_channels, 2, 2)))
    assert not bottleneck.any()
    net(images)[0, :, 16, 16].sum().backward()
    assert images.grad[0, :, 16, 16].abs().sum() > 0


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize(("in_channels", "out_channels"), [(3, 3), (1, 3), (3, 1)])
def test_resnet_keeps_size_and_changes_channels(size, in_channels, out_channels):
    net = ResnetGenerator(in_channels, out_channels, ngf=4, n_blocks=2)
    output = net(torch.randn(2, in_channels, size, size))
    assert output.shape == (2, out_channels, size, size)
    assert output.abs().max() <= 1


@pytest.mark.parametrize("n_blocks", [1, 6, 9])
def test_resnet_has_the_requested_residual_blocks(n_blocks):
    assert count(ResnetGenerator(3, 3, ngf=2, n_blocks=n_blocks), ResidualBlock) == n_blocks


def test_resnet_blocks_follow_the_paper():
    assert resnet_blocks_for(128) == 6
    assert resnet_blocks_for(256) == 9


@pytest.mark.parametrize("size", [30, 12])
def test_resnet_rejects_sizes_it_cannot_halve_twice(size):
    with pytest.raises(UserError, match=f"model.image_size={size} .*multiple of 4"):
        check_resnet_size(size)
    check_resnet_size(32)


def test_receptive_field_matches_the_paper():
    assert [receptive_field(n) for n in (1, 2, 3)] == [16, 34, 70]


def positive_patch_discriminator(n_layers: int) -> PatchDiscriminator:
    """Positive weights, zero biases and eval-mode batch norm: nothing cancels, so a zero gradient
    means the input pixel is outside the receptive field."""
    net = PatchDiscriminator(1, ndf=2, n_layers=n_layers, norm="batch").eval()
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.constant_(module.weight, 0.1)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
    return net


@pytest.mark.parametrize("n_layers", [1, 2])
def test_receptive_field_matches_the_gradient_extent(n_layers):
    net = positive_patch_discriminator(n_layers)
    images = torch.rand(1, 1, 64, 64, requires_grad=True)
    logits = net(images)
    centre = logits.shape[-1] // 2
    logits[0, 0, centre, centre].backward()
    rows, cols = images.grad[0, 0].nonzero(as_tuple=True)
    assert rows.min() > 0 and rows.max() < 63  # the field lies inside the image, not cut by padding
    assert rows.max() - rows.min() + 1 == receptive_field(n_layers)
    assert cols.max() - cols.min() + 1 == receptive_field(n_layers)


def test_patch_layers_fit_the_image():
    assert [patch_layers_for(size) for size in (16, 32, 64, 128, 256)] == [1, 1, 2, 3, 3]


@pytest.mark.parametrize(("size", "n_layers", "side"), [(32, 1, 14), (32, 3, 2), (256, 3, 30)])
def test_patch_map_shape(size, n_layers, side):
    net = PatchDiscriminator(3, ndf=2, n_layers=n_layers)
    assert net(torch.randn(2, 3, size, size)).shape == (2, 1, side, side)


@pytest.mark.parametrize(("n_layers", "size"), [(0, 256), (6, 256), (4, 32)])
def test_patch_layers_out_of_range_are_user_errors(n_layers, size):
    with pytest.raises(UserError, match=f"model.d_layers={n_layers} .*use 1 to"):
        check_patch_layers(n_layers, size)
    check_patch_layers(3, size)


@pytest.mark.parametrize("kind", ["batch", NormKind.batch])
def test_batch_norm_learns_its_shift_so_convs_drop_bias(kind):
    layer = norm_layer(kind, 4)
    assert isinstance(layer, nn.BatchNorm2d) and layer.affine and layer.track_running_stats
    assert layer.num_features == 4
    assert not uses_bias(kind)


@pytest.mark.parametrize("kind", ["instance", NormKind.instance])
def test_instance_norm_has_no_shift_so_convs_keep_bias(kind):
    layer = norm_layer(kind, 4)
    assert isinstance(layer, nn.InstanceNorm2d)
    assert not layer.affine and not layer.track_running_stats
    assert uses_bias(kind)


def test_bias_follows_the_norm_in_every_network():
    for norm, expected in (("batch", False), ("instance", True)):
        net = ResnetGenerator(3, 3, ngf=2, n_blocks=1, norm=norm)
        conv_before_norm = net.model[1]
        assert (conv_before_norm.bias is not None) == expected
