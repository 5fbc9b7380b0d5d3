"""The image-to-image loaders on tiny made-up folders: shapes, pairing, the held-out split, one-line
layout errors, and the edges → Fashion-MNIST task built from fake IDX files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_cli.commands.compose import compose_config
from gan_cli.data import DataRequest, build_dataset
from gan_cli.data.fashion_edges import build_fashion_edges, edge_map, pad_to_32
from gan_cli.data.mnist import load_fashion_mnist, load_mnist
from gan_cli.data.translation_folders import load_paired_folder, load_unpaired_folder, read_translation_image
from gan_cli.errors import UserError
from translation_data import write_ab_folder, write_aligned_folder, write_fake_fashion_mnist, write_unpaired_folder

# ------------------------------------------------------------------------------------------ paired folders


def test_aligned_folder_splits_each_image_into_a_left_and_b_right(tmp_path):
    root = write_aligned_folder(tmp_path / "facades", {"train": 5, "val": 2, "test": 3}, size=(16, 32))
    splits = load_paired_folder(str(root), train_size=20, test_size=16)
    assert splits.train_a.shape == splits.train_b.shape == (5, 3, 20, 20)
    assert splits.test_a.shape == splits.test_b.shape == (3, 3, 16, 16)
    assert splits.train_a.dtype == torch.uint8
    assert (splits.paired, splits.test_paired, splits.eval_split) == (True, True, "test")
    with Image.open(root / "train" / "img_002.png") as image:
        left = image.crop((0, 0, 16, 16)).resize((20, 20), Image.Resampling.BICUBIC)
    assert torch.equal(splits.train_a[2], torch.from_numpy(np.array(left)).permute(2, 0, 1))
    assert splits.train_b[2].float().mean() > splits.train_a[2].float().mean()  # B is the negative: mostly white


def test_aligned_folder_without_test_scores_on_val(tmp_path):
    root = write_aligned_folder(tmp_path / "edges2shoes", {"train": 4, "val": 2}, mode="L")
    splits = load_paired_folder(str(root), 16, 16)
    assert splits.eval_split == "val" and splits.test_a.shape == (2, 1, 16, 16)


def test_ab_folder_matches_pairs_by_name_across_suffixes(tmp_path):
    root = write_ab_folder(tmp_path / "ab", {"train": 6, "val": 2}, mode_a="L", mode_b="RGB")
    Image.new("L", (16, 16), 255).save(root / "A" / "train" / "marker.bmp")
    Image.new("RGB", (16, 16), (10, 200, 30)).save(root / "B" / "train" / "marker.png")
    splits = load_paired_folder(str(root), 16, 8)
    assert splits.train_a.shape == (7, 1, 16, 16) and splits.train_b.shape == (7, 3, 16, 16)
    assert splits.test_a.shape == (2, 1, 8, 8) and splits.test_b.shape == (2, 3, 8, 8)
    assert (splits.paired, splits.test_paired, splits.eval_split) == (True, True, "val")
    marker = [i for i in range(7) if bool((splits.train_a[i] == 255).all())]
    assert marker == [6]  # img_000 … img_005, then marker
    assert splits.train_b[6, :, 0, 0].tolist() == [10, 200, 30]


def test_limit_keeps_the_first_training_pairs_but_every_test_pair(tmp_path):
    root = write_ab_folder(tmp_path / "ab", {"train": 6, "test": 3})
    splits = load_paired_folder(str(root), 16, 16, min_train=2, limit=2)
    assert len(splits.train_a) == len(splits.train_b) == 2 and len(splits.test_a) == 3


# ---------------------------------------------------------------------------------------- unpaired folder


def test_unpaired_domains_may_differ_in_size_and_matched_test_names_pair_up(tmp_path):
    root = write_unpaired_folder(tmp_path / "u", {"train": 5, "test": 3}, {"train": 4, "test": 3}, matched_test=True)
    splits = load_unpaired_folder(str(root), 20, 16)
    assert splits.train_a.shape == (5, 3, 20, 20) and splits.train_b.shape == (4, 3, 20, 20)
    assert (splits.paired, splits.test_paired, splits.eval_split) == (False, True, "test")
    with Image.open(root / "testB" / "test_001.png") as image:
        expected_b = torch.from_numpy(np.array(image.resize((16, 16), Image.Resampling.BICUBIC))).permute(2, 0, 1)
    assert torch.equal(splits.test_b[1], expected_b)


def test_unpaired_test_names_that_differ_are_not_pairs(tmp_path):
    root = write_unpaired_folder(tmp_path / "u", {"train": 5, "test": 3}, {"train": 4, "test": 2}, matched_test=False)
    splits = load_unpaired_folder(str(root), 16, 16, limit=3)
    assert splits.test_paired is False and (len(splits.test_a), len(splits.test_b)) == (3, 2)
    assert (len(splits.train_a), len(splits.train_b)) == (3, 3)


def test_sixteen_bit_grayscale_is_scaled_not_clipped(tmp_path):
    root = write_ab_folder(tmp_path / "ab", {"train": 2, "test": 1})
    ramp = np.linspace(0, 65535, 16 * 16).round().astype(np.uint16).reshape(16, 16)
    Image.fromarray(ramp).save(root / "A" / "train" / "img_000.png")
    splits = load_paired_folder(str(root), 16, 16)
    assert splits.train_a.shape[1] == 1
    assert splits.train_a[0, 0, 0, 0] == 0 and splits.train_a[0, 0, -1, -1] == 255
    assert 100 < splits.train_a[0, 0, 8, 0] < 155  # mid-grey in the middle, not white


def test_read_translation_image_promotes_gray_but_refuses_colour_into_gray(tmp_path):
    Image.new("L", (10, 12), 77).save(tmp_path / "gray.png")
    Image.new("RGB", (10, 12), (1, 2, 3)).save(tmp_path / "colour.png")
    assert read_translation_image(tmp_path / "gray.png", 3, 8, "input").shape == (3, 8, 8)
    with pytest.raises(UserError, match="colour.png.*1-channel"):
        read_translation_image(tmp_path / "colour.png", 1, 8, "input")


# ------------------------------------------------------------------------------------------ layout errors


def aligned(tmp_path: Path, **counts) -> Path:
    return write_aligned_folder(tmp_path / "aligned", counts or {"train": 4, "test": 2})


def ab(tmp_path: Path) -> Path:
    return write_ab_folder(tmp_path / "ab", {"train": 4, "test": 2})


def unpaired(tmp_path: Path) -> Path:
    return write_unpaired_folder(tmp_path / "u", {"train": 4, "test": 2}, {"train": 3, "test": 2})


def no_path(tmp_path):
    return None, ("data=paired_folder needs data.path=DIR", "DIR/A/train")


def not_a_folder(tmp_path):
    return tmp_path / "nowhere", ("nowhere", "is not a folder", "DIR/train/")


def no_train_split(tmp_path):
    (tmp_path / "empty_root").mkdir()
    return tmp_path / "empty_root", ("no train split", "empty_root", "DIR/A/train/ + DIR/B/train/")


def no_held_out_split(tmp_path):
    root = aligned(tmp_path, train=3)
    return root, ("no test or val split", str(root), "DIR/test/")


def ab_missing_b_train(tmp_path):
    root = ab(tmp_path)
    for path in (root / "B" / "train").iterdir():
        path.unlink()
    (root / "B" / "train").rmdir()
    return root, (str(root / "B" / "train"), "DIR/A/train/ + DIR/B/train/")


def split_without_images(tmp_path):
    root = aligned(tmp_path)
    for path in (root / "test").iterdir():
        path.unlink()
    return root, ("no images in", str(root / "test"), "side by side")


def odd_width(tmp_path):
    root = aligned(tmp_path)
    Image.new("RGB", (31, 16)).save(root / "test" / "img_001.png")
    return root, (str(root / "test" / "img_001.png"), "31 px wide", "side by side")


def unpartnered_in_a(tmp_path):
    root = ab(tmp_path)
    Image.new("L", (16, 16)).save(root / "A" / "train" / "lonely.png")
    return root, (str(root / "A" / "train" / "lonely.png"), "no partner in " + str(root / "B" / "train"))


def unpartnered_in_b(tmp_path):
    root = ab(tmp_path)
    Image.new("RGB", (16, 16)).save(root / "B" / "test" / "stray.jpg")
    return root, (str(root / "B" / "test" / "stray.jpg"), "no partner in " + str(root / "A" / "test"))


def same_name_twice(tmp_path):
    root = ab(tmp_path)
    Image.new("L", (16, 16)).save(root / "A" / "train" / "img_001.bmp")
    return root, ("img_001.bmp", "img_001.png", "same name")


def pair_size_mismatch(tmp_path):
    root = ab(tmp_path)
    Image.new("L", (20, 18)).save(root / "A" / "train" / "img_001.png")
    return root, (str(root / "A" / "train" / "img_001.png"), "20x18", str(root / "B" / "train" / "img_001.png"), "16x16")


def mixed_channels(tmp_path):
    root = ab(tmp_path)
    Image.new("RGB", (16, 16)).save(root / "A" / "test" / "img_001.png")
    return root, ("both grayscale and colour", str(root / "A" / "train" / "img_000.png"), "img_001.png is RGB")


def unreadable_image(tmp_path):
    root = aligned(tmp_path)
    (root / "train" / "img_001.png").write_bytes(b"not a png at all")
    return root, ("cannot read image", str(root / "train" / "img_001.png"), "remove or replace that file")


def truncated_image(tmp_path):
    root = aligned(tmp_path)
    path = root / "train" / "img_001.png"
    path.write_bytes(path.read_bytes()[:60])
    return root, ("cannot read image", str(path), "remove or replace that file")


PAIRED_ERRORS = [
    no_path,
    not_a_folder,
    no_train_split,
    no_held_out_split,
    ab_missing_b_train,
    split_without_images,
    odd_width,
    unpartnered_in_a,
    unpartnered_in_b,
    same_name_twice,
    pair_size_mismatch,
    mixed_channels,
    unreadable_image,
    truncated_image,
]


def assert_one_line_error(load, expected: tuple[str, ...]) -> None:
    with pytest.raises(UserError) as caught:
        load()
    message = str(caught.value)
    assert "\n" not in message and message.strip() == message
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in {message!r}"


@pytest.mark.parametrize("make", PAIRED_ERRORS, ids=lambda make: make.__name__)
def test_paired_layout_errors_are_one_line_and_name_the_place(make, tmp_path):
    root, expected = make(tmp_path)
    assert_one_line_error(lambda: load_paired_folder(None if root is None else str(root), 16, 16), expected)


def test_too_few_training_pairs_names_the_count_and_the_fix(tmp_path):
    root = aligned(tmp_path, train=3, test=1)
    expected = (str(root / "train"), "3 training pairs", "train.batch_size=8", "lower train.batch_size or add images")
    assert_one_line_error(lambda: load_paired_folder(str(root), 16, 16, min_train=8), expected)


def test_a_limit_below_the_batch_size_says_so(tmp_path):
    root = ab(tmp_path)
    expected = ("2 training pairs", "data.limit keeps 2 of 4", "train.batch_size=3")
    assert_one_line_error(lambda: load_paired_folder(str(root), 16, 16, min_train=3, limit=2), expected)


def unpaired_missing_folder(tmp_path):
    root = unpaired(tmp_path)
    for path in (root / "testB").iterdir():
        path.unlink()
    (root / "testB").rmdir()
    return root, ("has no testB/", "DIR/trainA/, DIR/trainB/, DIR/testA/ and DIR/testB/")


def unpaired_empty_folder(tmp_path):
    root = unpaired(tmp_path)
    for path in (root / "trainB").iterdir():
        path.unlink()
    return root, ("no images in", str(root / "trainB"))


def unpaired_mixed_channels(tmp_path):
    root = unpaired(tmp_path)
    Image.new("L", (16, 16)).save(root / "testA" / "gray.png")
    return root, ("both grayscale and colour", str(root / "testA" / "gray.png"))


def unpaired_unreadable(tmp_path):
    root = unpaired(tmp_path)
    (root / "trainA" / "broken.jpg").write_bytes(b"\xff\xd8garbage")
    return root, ("cannot read image", str(root / "trainA" / "broken.jpg"))


UNPAIRED_ERRORS = [unpaired_missing_folder, unpaired_empty_folder, unpaired_mixed_channels, unpaired_unreadable]


@pytest.mark.parametrize("make", UNPAIRED_ERRORS, ids=lambda make: make.__name__)
def test_unpaired_layout_errors_are_one_line_and_name_the_place(make, tmp_path):
    root, expected = make(tmp_path)
    assert_one_line_error(lambda: load_unpaired_folder(str(root), 16, 16), expected)


def test_too_few_images_in_one_unpaired_domain_names_that_folder(tmp_path):
    root = unpaired(tmp_path)
    expected = (str(root / "trainB"), "3 training images", "train.batch_size=4", "lower train.batch_size or add images")
    assert_one_line_error(lambda: load_unpaired_folder(str(root), 16, 16, min_train=4), expected)


def test_unpaired_needs_a_path():
    assert_one_line_error(lambda: load_unpaired_folder("", 16, 16), ("data=unpaired_folder needs data.path=DIR",))


# ---------------------------------------------------------------------------------------------- edge maps


def square_item(size: int = 32, low: int = 8, high: int = 24) -> torch.Tensor:
    image = torch.zeros(1, 1, size, size, dtype=torch.uint8)
    image[..., low:high, low:high] = 200
    return image


def test_edge_map_is_deterministic_binary_and_independent_of_the_batch():
    items = torch.cat([square_item(), square_item(low=4, high=14), torch.zeros(1, 1, 32, 32, dtype=torch.uint8)])
    edges = edge_map(items)
    assert edges.shape == items.shape and edges.dtype == torch.uint8
    assert set(edges.unique().tolist()) <= {0, 255}
    assert torch.equal(edges, edge_map(items))
    assert torch.equal(edges[1:2], edge_map(items[1:2]))


def test_a_blank_image_has_no_edges():
    assert bool((edge_map(torch.zeros(2, 1, 32, 32, dtype=torch.uint8)) == 255).all())
    assert bool((edge_map(torch.full((1, 1, 32, 32), 180, dtype=torch.uint8)) == 255).all())


def test_a_filled_square_gives_its_outline_only():
    edges = edge_map(square_item(low=8, high=24))[0, 0] == 0
    rows, cols = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    # Distance outside (positive) or inside (negative) the square's border at 7.5 and 23.5.
    distance = torch.maximum((rows - 15.5).abs(), (cols - 15.5).abs()) - 8
    assert not edges[distance.abs() > 1.5].any()  # nothing deep inside or far outside
    ring = (distance.abs() <= 1.5).sum().item()
    assert edges.sum().item() >= 0.2 * ring and edges.sum().item() >= 50  # a 1-px outline, mostly closed


# ----------------------------------------------------------------------------------------- fashion edges


@pytest.fixture(scope="module")
def fashion_root(tmp_path_factory) -> Path:
    return write_fake_fashion_mnist(tmp_path_factory.mktemp("fashion"), train=64, test=16)


def padded_items(root: Path, train: bool) -> torch.Tensor:
    return pad_to_32(load_fashion_mnist(root, train=train)[0])


def test_paired_fashion_edges_pairs_each_item_with_its_edges(fashion_root):
    splits = build_fashion_edges(str(fashion_root), 32, 32, paired=True)
    assert splits.train_a.shape == splits.train_b.shape == (64, 1, 32, 32)
    assert splits.test_a.shape == splits.test_b.shape == (16, 1, 32, 32)
    assert (splits.paired, splits.test_paired, splits.eval_split) == (True, True, "test")
    assert torch.equal(splits.train_b, padded_items(fashion_root, train=True))
    assert torch.equal(splits.train_a, edge_map(splits.train_b))
    assert bool((splits.train_a == 0).any(dim=(1, 2, 3)).all())  # every item has edges


def test_unpaired_fashion_edges_come_from_disjoint_halves(fashion_root):
    splits = build_fashion_edges(str(fashion_root), 32, 32, paired=False)
    items = padded_items(fashion_root, train=True)
    assert splits.train_a.shape == splits.train_b.shape == (32, 1, 32, 32)
    assert splits.paired is False and splits.test_paired is True
    assert torch.equal(splits.train_a, edge_map(items[:32])) and torch.equal(splits.train_b, items[32:])
    edges_of_b = edge_map(splits.train_b).flatten(1)
    assert not any(bool((splits.train_a.flatten(1) == row).all(dim=1).any()) for row in edges_of_b)


def test_fashion_test_split_is_always_paired(fashion_root):
    for paired in (True, False):
        splits = build_fashion_edges(str(fashion_root), 32, 32, paired=paired)
        assert torch.equal(splits.test_b, padded_items(fashion_root, train=False))
        assert torch.equal(splits.test_a, edge_map(splits.test_b))


@pytest.mark.parametrize("paired", [True, False])
def test_fashion_edges_at_other_sizes_and_with_a_limit(fashion_root, paired):
    splits = build_fashion_edges(str(fashion_root), 64, 16, paired=paired, limit=10)
    per_domain = 10 if paired else 5
    assert splits.train_a.shape == splits.train_b.shape == (per_domain, 1, 64, 64)
    assert splits.test_a.shape == splits.test_b.shape == (16, 1, 16, 16)


def test_missing_fashion_mnist_names_the_package(tmp_path):
    expected = ("apt-get install dataset-fashion-mnist", str(tmp_path / "none"))
    assert_one_line_error(lambda: build_fashion_edges(str(tmp_path / "none"), 32, 32, paired=True), expected)


# ------------------------------------------------------------------------------------------- mnist edges


def test_mnist_edges_pairs_digits_with_their_outlines_and_keeps_their_classes(fake_mnist_root):
    cfg = compose_config(["model=pix2pix", "data=mnist_edges", f"data.root={fake_mnist_root}", "data.download=false"])
    data = build_dataset(cfg.data, DataRequest(32, paired=True))
    digits, labels = load_mnist(fake_mnist_root, train=True, download=False)
    assert torch.equal(data.train_target, pad_to_32(digits)) and torch.equal(data.train_input, edge_map(pad_to_32(digits)))
    assert torch.equal(data.labels["train_target"], labels) and data.class_names == tuple("0123456789")
    assert data.flip is False and data.shift == 0  # a mirrored digit is not a digit; 60,000 pairs need no jitter
    heldout = data.heldout(0)
    assert heldout.paired and torch.equal(heldout.input_labels, load_mnist(fake_mnist_root, train=False, download=False)[1])
