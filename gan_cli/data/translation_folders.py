"""Image-to-image folders in the layouts people already have, loaded into uint8 tensors.

Paired (pix2pix): DIR/train/, DIR/test/ (or DIR/val/) holding images with A and B side by side, as the
reference's aligned datasets ship; or DIR/A/<split>/ + DIR/B/<split>/ matched by file name. Unpaired
(CycleGAN): DIR/trainA, DIR/trainB, DIR/testA, DIR/testB. Every image is resized straight to a square,
as the reference's ``Resize([size, size])`` does. Images in class subfolders (DIR/B/train/<class>/x.png),
the same classes in every split and domain, carry their class, as ImageFolder's do. Each layout problem
is one UserError that names the file or folder at fault and the layout expected.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.progress import track

from gan_cli.data.decoding import READ_ERRORS, decode, unreadable
from gan_cli.data.image_folder import IMAGE_SUFFIXES, list_images
from gan_cli.data.streaming import ImageTensor, LazyImages, streams
from gan_cli.device.memory_budget import uint8_images
from gan_cli.errors import UserError

GRAYSCALE_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
HELD_OUT_SPLITS = ("test", "val")
UNPAIRED_FOLDERS = ("trainA", "trainB", "testA", "testB")
SET_ROLES = ("train_a", "train_b", "test_a", "test_b")  # TranslationSplits' four sets, in UNPAIRED_FOLDERS' order

# The layouts that the one-line errors show after "expected".
PAIRED_LAYOUTS = (
    "DIR/train/ (images with A and B side by side) or DIR/A/train/ + DIR/B/train/ (pairs matched by file name)"
)
ALIGNED_LAYOUT = (
    "DIR/train/ and DIR/test/ (or DIR/val/), holding images with A (left half) and B (right half) side by side"
)
AB_LAYOUT = "DIR/A/train/ + DIR/B/train/ and DIR/A/test/ + DIR/B/test/ (or val/ for test), pairs matched by file name"
UNPAIRED_LAYOUT = "DIR/trainA/, DIR/trainB/, DIR/testA/ and DIR/testB/, each holding images of one domain"
CLASS_FIX = "put the images of every split and domain in the same class subfolders (<split>/<class>/x.png), or all directly in their split folders"


@dataclass
class TranslationSplits:
    """The two domains' images as the layout holds them, before data.direction is applied; each set is
    in memory or, for a layout over data.memory_budget, a ``LazyImages`` on disk."""

    train_a: ImageTensor  # uint8 [NA, CA, train_size, train_size]
    train_b: ImageTensor  # uint8 [NB, CB, train_size, train_size]
    test_a: ImageTensor  # uint8 [MA, CA, test_size, test_size]
    test_b: ImageTensor  # uint8 [MB, CB, test_size, test_size]
    paired: bool  # train_a[i] and train_b[i] are a pair (then NA == NB)
    test_paired: bool  # test_a[i] and test_b[i] are a pair (then MA == MB)
    eval_split: str  # the split the test_* tensors came from: "test" (or "val" when there is no test split)
    labels: Optional[dict[str, torch.Tensor]] = None  # int64 class of each image, keyed "train_a" ... "test_b" (labeled data only)
    classes: int = 0  # how many classes ``labels`` holds; 0 without labels
    class_names: tuple[str, ...] = ()  # the name of each class, where the data names them (class subfolders)


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says, read without decoding its pixels."""

    path: Path
    mode: str
    width: int
    height: int

    @property
    def channels(self) -> int:
        return 1 if self.mode in GRAYSCALE_MODES else 3

    @property
    def size_text(self) -> str:
        return f"{self.width}x{self.height}"


@dataclass(frozen=True)
class ImageStore:
    """Where a layout's images go: decoded into memory, or listed on disk and decoded as they are used."""

    streamed: bool = False

    @classmethod
    def for_training(cls, count: int, channels: int, size: int, memory_budget: float) -> "ImageStore":
        """Streamed when ``count`` training examples of ``channels`` channels (both domains) would pass
        the memory budget (GiB; 0: half the free memory)."""
        return cls(streams(count, count * channels * size * size, memory_budget))

    def squares(self, files: Sequence[Path], channels: int, size: int) -> ImageTensor:
        if self.streamed:
            return LazyImages(tuple(files), channels, size, partial(read_square, channels=channels, size=size))
        return load_squares(files, channels, size)

    def aligned(self, files: Sequence[Path], channels: int, size: int) -> tuple[ImageTensor, ImageTensor]:
        if self.streamed:
            read = [partial(read_half, channels=channels, size=size, side=side) for side in (0, 1)]
            return LazyImages(tuple(files), channels, size, read[0]), LazyImages(tuple(files), channels, size, read[1])
        return load_aligned(files, channels, size)


# ------------------------------------------------------------------------------------ public entry points


def load_paired_folder(
    path: str | None, train_size: int, test_size: int, min_train: int = 1, limit: int = 0, memory_budget: float = 0
) -> TranslationSplits:
    """Pairs from DIR/A/<split>/ + DIR/B/<split>/ when DIR/A or DIR/B exists, else side by side in DIR/<split>/."""
    root = existing_folder(path, "paired_folder", PAIRED_LAYOUTS)
    if (root / "A").is_dir() or (root / "B").is_dir():
        return load_ab_folder(root, train_size, test_size, min_train, limit, memory_budget)
    if (root / "train").is_dir():
        return load_aligned_folder(root, train_size, test_size, min_train, limit, memory_budget)
    raise UserError(f"paired_folder: no train split in {root}; expected {PAIRED_LAYOUTS}")


def load_unpaired_folder(
    path: str | None, train_size: int, test_size: int, min_train: int = 1, limit: int = 0, memory_budget: float = 0
) -> TranslationSplits:
    """Each domain from its own folders; the test images are pairs only when testA and testB share file names."""
    root = existing_folder(path, "unpaired_folder", UNPAIRED_LAYOUT)
    files = unpaired_files(root)
    names = split_classes({root / name: files[name] for name in UNPAIRED_FOLDERS}, "unpaired_folder")
    for name in ("trainA", "trainB"):
        files[name] = limited(files[name], limit, min_train, "unpaired_folder", root / name, "images")
    files["testA"], files["testB"], test_paired = in_pair_order(root, files["testA"], files["testB"])
    channels = {domain: unpaired_domain_channels(root, files, domain) for domain in ("A", "B")}
    count = max(len(files["trainA"]), len(files["trainB"]))
    store = ImageStore.for_training(count, channels["A"] + channels["B"], train_size, memory_budget)
    splits = TranslationSplits(
        train_a=store.squares(files["trainA"], channels["A"], train_size),
        train_b=store.squares(files["trainB"], channels["B"], train_size),
        test_a=store.squares(files["testA"], channels["A"], test_size),
        test_b=store.squares(files["testB"], channels["B"], test_size),
        paired=False,
        test_paired=test_paired,
        eval_split="test",
    )
    kept = {role: (root / name, files[name]) for role, name in zip(SET_ROLES, UNPAIRED_FOLDERS)}
    return with_classes(splits, names, kept)


def read_translation_image(path: Path, channels: int, size: int, role: str) -> torch.Tensor:
    """One image as uint8 [channels, size, size] for a checkpoint's ``role`` ("input" or "target").

    Grayscale is promoted to RGB, never the reverse: dropping colour silently would feed the model
    something it was not trained on.
    """
    header = read_header(path)
    if header.channels > channels:
        raise UserError(
            f"{path} is a colour image ({header.mode}) but this checkpoint's {role} is 1-channel (grayscale); "
            f"convert the {role} images to grayscale, or use a checkpoint trained on colour {role}s"
        )
    return torch.from_numpy(square_pixels(decode(path, channels), size))


# ------------------------------------------------------------------------------------------ the layouts


def load_aligned_folder(root: Path, train_size: int, test_size: int, min_train: int, limit: int, memory_budget: float) -> TranslationSplits:
    """DIR/<split>/ images with A on the left and B on the right, as pix2pix's datasets ship."""
    eval_split = held_out_split(root, lambda split: (root / split).is_dir())
    if eval_split is None:
        raise UserError(f"paired_folder: no test or val split in {root} beside train/; expected {ALIGNED_LAYOUT}")
    all_train_files = images_in(root / "train", "paired_folder", ALIGNED_LAYOUT)
    test_files = images_in(root / eval_split, "paired_folder", ALIGNED_LAYOUT)
    names = split_classes({root / "train": all_train_files, root / eval_split: test_files}, "paired_folder")
    train_files = limited(all_train_files, limit, min_train, "paired_folder", root / "train", "pairs")
    headers = read_headers(train_files + test_files)
    for header in headers:
        check_even_width(header)
    channels = domain_channels(headers, "paired_folder", f"{root} (A and B side by side)")
    store = ImageStore.for_training(len(train_files), 2 * channels, train_size, memory_budget)
    train_a, train_b = store.aligned(train_files, channels, train_size)
    test_a, test_b = store.aligned(test_files, channels, test_size)
    splits = TranslationSplits(train_a, train_b, test_a, test_b, paired=True, test_paired=True, eval_split=eval_split)
    train, test = (root / "train", train_files), (root / eval_split, test_files)
    return with_classes(splits, names, dict(zip(SET_ROLES, (train, train, test, test))))


def load_ab_folder(root: Path, train_size: int, test_size: int, min_train: int, limit: int, memory_budget: float) -> TranslationSplits:
    """DIR/A/<split>/x.* paired with DIR/B/<split>/x.*, in file-name order."""
    eval_split = held_out_split(root, lambda split: (root / "A" / split).is_dir() or (root / "B" / split).is_dir())
    if eval_split is None:
        raise UserError(f"paired_folder: no test or val split in {root / 'A'} or {root / 'B'}; expected {AB_LAYOUT}")
    all_train_pairs = matched_pairs(root, "train")
    test_pairs = matched_pairs(root, eval_split)
    names = split_classes(dict(ab_sets(root, all_train_pairs, eval_split, test_pairs).values()), "paired_folder")
    train_pairs = limited(all_train_pairs, limit, min_train, "paired_folder", root / "A" / "train", "pairs")
    header_pairs = [(read_header(a), read_header(b)) for a, b in train_pairs + test_pairs]
    for header_a, header_b in header_pairs:
        check_same_size(header_a, header_b)
    channels_a = domain_channels([a for a, _ in header_pairs], "paired_folder", f"domain A ({root / 'A'})")
    channels_b = domain_channels([b for _, b in header_pairs], "paired_folder", f"domain B ({root / 'B'})")
    store = ImageStore.for_training(len(train_pairs), channels_a + channels_b, train_size, memory_budget)
    kept = ab_sets(root, train_pairs, eval_split, test_pairs)
    splits = TranslationSplits(
        train_a=store.squares(kept["train_a"][1], channels_a, train_size),
        train_b=store.squares(kept["train_b"][1], channels_b, train_size),
        test_a=store.squares(kept["test_a"][1], channels_a, test_size),
        test_b=store.squares(kept["test_b"][1], channels_b, test_size),
        paired=True,
        test_paired=True,
        eval_split=eval_split,
    )
    return with_classes(splits, names, kept)


def ab_sets(root: Path, train_pairs: list, eval_split: str, test_pairs: list) -> dict[str, tuple[Path, list[Path]]]:
    """The A files and the B files of the training and the held-out pairs, each with its folder, keyed
    as TranslationSplits' sets ("train_a" ... "test_b")."""
    return {
        f"{role}_{side.lower()}": (root / side / split, [pair[index] for pair in pairs])
        for role, split, pairs in (("train", "train", train_pairs), ("test", eval_split, test_pairs))
        for index, side in enumerate("AB")
    }


def matched_pairs(root: Path, split: str) -> list[tuple[Path, Path]]:
    """(A file, B file) for every name in DIR/A/<split> and DIR/B/<split>, sorted by name."""
    folder_a, folder_b = (root / side / split for side in ("A", "B"))
    for folder in (folder_a, folder_b):
        if not folder.is_dir():
            raise UserError(f"paired_folder: no {folder} folder; expected {AB_LAYOUT}")
    keyed_a = files_by_name(folder_a, images_in(folder_a, "paired_folder", AB_LAYOUT))
    keyed_b = files_by_name(folder_b, images_in(folder_b, "paired_folder", AB_LAYOUT))
    check_partners(keyed_a, keyed_b, folder_b)
    check_partners(keyed_b, keyed_a, folder_a)
    return [(keyed_a[key], keyed_b[key]) for key in sorted(keyed_a)]


# ---------------------------------------------------------------------------------------------- checks


def existing_folder(path: str | None, dataset: str, layout: str) -> Path:
    if not path:
        raise UserError(f"data={dataset} needs data.path=DIR; expected {layout}")
    root = Path(path).expanduser()
    if not root.is_dir():
        raise UserError(f"{dataset}: data.path={path} is not a folder; expected {layout}")
    return root


def held_out_split(root: Path, exists: Callable[[str], bool]) -> str | None:
    """The reference scores on test/; datasets such as edges2shoes ship only train/ and val/."""
    return next((split for split in HELD_OUT_SPLITS if exists(split)), None)


def images_in(folder: Path, dataset: str, layout: str) -> list[Path]:
    files = list_images(folder)
    if not files:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise UserError(f"{dataset}: no images in {folder} (looked for {suffixes}); expected {layout}")
    return files


def first(items: list, limit: int) -> list:
    return items[:limit] if limit > 0 else items


def limited(items: list, limit: int, min_train: int, dataset: str, folder: Path, what: str) -> list:
    """The first data.limit training examples, refused when they are fewer than a batch."""
    kept = first(items, limit)
    check_enough(len(kept), len(items), min_train, dataset, folder, what)
    return kept


def check_enough(count: int, available: int, min_train: int, dataset: str, folder: Path, what: str) -> None:
    """``count`` is what data.limit leaves of the ``available`` training examples."""
    if count >= min_train:
        return
    limited = f" (data.limit keeps {count} of {available})" if count < available else ""
    fix = "raise data.limit or lower train.batch_size" if limited else "lower train.batch_size or add images"
    raise UserError(
        f"{dataset}: {folder} gives {count} training {what}{limited}, fewer than train.batch_size={min_train}; {fix}"
    )


def check_even_width(header: ImageHeader) -> None:
    if header.width % 2:
        raise UserError(
            f"paired_folder: {header.path} is {header.width} px wide, an odd width that cannot be split into "
            f"two equal halves; expected {ALIGNED_LAYOUT}, A and B the same width"
        )


def check_same_size(header_a: ImageHeader, header_b: ImageHeader) -> None:
    if (header_a.width, header_a.height) != (header_b.width, header_b.height):
        raise UserError(
            f"paired_folder: {header_a.path} is {header_a.size_text} but its partner {header_b.path} is "
            f"{header_b.size_text}; expected the two images of a pair to be the same size, in {AB_LAYOUT}"
        )


def domain_channels(headers: Sequence[ImageHeader], dataset: str, domain: str) -> int:
    """1 when every image of the domain is grayscale, 3 when every one is colour."""
    gray = next((h for h in headers if h.channels == 1), None)
    colour = next((h for h in headers if h.channels == 3), None)
    if gray is not None and colour is not None:
        raise UserError(
            f"{dataset}: {domain} has both grayscale and colour images ({gray.path} is {gray.mode}, {colour.path} is "
            f"{colour.mode}); expected all of one kind: convert them all to grayscale or all to RGB"
        )
    return 1 if gray is not None else 3


def name_key(folder: Path, path: Path) -> str:
    """The path below ``folder`` without its suffix, so x.png pairs with x.jpg."""
    return path.relative_to(folder).with_suffix("").as_posix()


def files_by_name(folder: Path, files: Iterable[Path]) -> dict[str, Path]:
    keyed: dict[str, Path] = {}
    for path in files:
        key = name_key(folder, path)
        if key in keyed:
            raise UserError(
                f"paired_folder: {keyed[key]} and {path} have the same name, so neither can be matched to one "
                f"partner; keep one of them; expected {AB_LAYOUT}"
            )
        keyed[key] = path
    return keyed


def check_partners(keyed: dict[str, Path], other: dict[str, Path], other_folder: Path) -> None:
    lonely = sorted(key for key in keyed if key not in other)
    if not lonely:
        return
    more = f", and {len(lonely) - 1} more files have none" if len(lonely) > 1 else ""
    raise UserError(
        f"paired_folder: {keyed[lonely[0]]} has no partner in {other_folder} (no {lonely[0]}.* there{more}); "
        f"expected {AB_LAYOUT}"
    )


def unpaired_files(root: Path) -> dict[str, list[Path]]:
    """The image files of trainA, trainB, testA and testB."""
    missing = [f"{name}/" for name in UNPAIRED_FOLDERS if not (root / name).is_dir()]
    if missing:
        raise UserError(f"unpaired_folder: {root} has no {', '.join(missing)}; expected {UNPAIRED_LAYOUT}")
    return {name: images_in(root / name, "unpaired_folder", UNPAIRED_LAYOUT) for name in UNPAIRED_FOLDERS}


def unpaired_domain_channels(root: Path, files: dict[str, list[Path]], domain: str) -> int:
    headers = read_headers(files[f"train{domain}"] + files[f"test{domain}"])
    return domain_channels(headers, "unpaired_folder", f"domain {domain} ({root}/train{domain} and test{domain})")


def in_pair_order(root: Path, files_a: list[Path], files_b: list[Path]) -> tuple[list[Path], list[Path], bool]:
    """testA's and testB's files in name order, and True, when the two hold exactly the same names;
    otherwise the lists as they were, and False."""
    keyed_a = {name_key(root / "testA", path): path for path in files_a}
    keyed_b = {name_key(root / "testB", path): path for path in files_b}
    unique = len(keyed_a) == len(files_a) and len(keyed_b) == len(files_b)
    if not unique or keyed_a.keys() != keyed_b.keys():
        return files_a, files_b, False
    names = sorted(keyed_a)
    return [keyed_a[name] for name in names], [keyed_b[name] for name in names], True


# ---------------------------------------------------------------------------------------------- classes


def class_of(folder: Path, path: Path) -> Optional[str]:
    """The subfolder of ``folder`` that ``path`` sits in, its class; None for a file directly in ``folder``."""
    parts = path.relative_to(folder).parts
    return parts[0] if len(parts) > 1 else None


def folder_classes(folder: Path, files: Sequence[Path], dataset: str) -> Optional[set[str]]:
    """The class subfolders that hold ``files``; None when every file sits directly in ``folder``."""
    classes = [class_of(folder, path) for path in files]
    named = next((name for name in classes if name is not None), None)
    if named is None:
        return None
    loose = next((path for path, name in zip(files, classes) if name is None), None)
    if loose is not None:
        raise UserError(f"{dataset}: {loose} sits directly in {folder}, beside class subfolders such as {named}/; {CLASS_FIX}")
    return set(classes)


def split_classes(sets: dict[Path, Sequence[Path]], dataset: str) -> tuple[str, ...]:
    """The class names, sorted, that the subfolders of every folder of ``sets`` agree on; () when every
    image sits directly in its folder. A folder with class subfolders beside one without, or a class
    that one folder has and another lacks, is one line."""
    found = {folder: folder_classes(folder, files, dataset) for folder, files in sets.items()}
    labeled = {folder: names for folder, names in found.items() if names is not None}
    if not labeled:
        return ()
    reference, reference_names = next(iter(labeled.items()))
    unlabeled = next((folder for folder, names in found.items() if names is None), None)
    if unlabeled is not None:
        raise UserError(f"{dataset}: the images of {unlabeled} sit directly in it, but {reference} has class subfolders; {CLASS_FIX}")
    for folder, names in labeled.items():
        differing = sorted(names ^ reference_names)
        if differing:
            holder, other = (folder, reference) if differing[0] in names else (reference, folder)
            raise UserError(f"{dataset}: class {differing[0]} has a subfolder in {holder} but none in {other}; {CLASS_FIX}")
    return tuple(sorted(reference_names))


def with_classes(splits: TranslationSplits, names: tuple[str, ...], kept: dict[str, tuple[Path, Sequence[Path]]]) -> TranslationSplits:
    """``splits`` with the class of every image it kept (``kept``: each set's folder and files, keyed
    "train_a" ... "test_b"), where the images sit in class subfolders ``names``."""
    if not names:
        return splits
    index = {name: i for i, name in enumerate(names)}
    labels = {role: torch.tensor([index[class_of(folder, path)] for path in files], dtype=torch.long) for role, (folder, files) in kept.items()}
    return replace(splits, labels=labels, classes=len(names), class_names=names)


# ------------------------------------------------------------------------------------------ image files


def read_header(path: Path) -> ImageHeader:
    try:
        with Image.open(path) as image:
            return ImageHeader(path, image.mode, image.width, image.height)
    except READ_ERRORS as error:
        raise unreadable(path, error) from None


def read_headers(files: Sequence[Path]) -> list[ImageHeader]:
    return [read_header(path) for path in files]


def square_pixels(image: Image.Image, size: int) -> np.ndarray:
    """uint8 [C, size, size]: resized straight to the square, without keeping the aspect ratio."""
    # np.array, not asarray: torch warns about (and must not share) PIL's read-only buffer.
    pixels = np.array(image.resize((size, size), Image.Resampling.BICUBIC), dtype=np.uint8)
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def halves(image: Image.Image) -> tuple[Image.Image, Image.Image]:
    middle = image.width // 2
    return image.crop((0, 0, middle, image.height)), image.crop((middle, 0, image.width, image.height))


def progress(files: Sequence[Path]) -> Iterable[Path]:
    return track(files, description="loading images", transient=True, console=Console(stderr=True))


def read_square(path: Path, channels: int, size: int) -> np.ndarray:
    return square_pixels(decode(path, channels), size)


def read_half(path: Path, channels: int, size: int, side: int) -> np.ndarray:
    """The left (side 0, A) or right (side 1, B) half of a side-by-side image, resized to the square."""
    return square_pixels(halves(decode(path, channels))[side], size)


def load_squares(files: Sequence[Path], channels: int, size: int) -> torch.Tensor:
    """uint8 [N, channels, size, size], filled in place so the whole set is held only once."""
    images = uint8_images(len(files), channels, size)
    for index, path in enumerate(progress(files)):
        images[index] = torch.from_numpy(read_square(path, channels, size))
    return images


def load_aligned(files: Sequence[Path], channels: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The left (A) and right (B) halves of each side-by-side image, each resized to the square."""
    both = uint8_images(2 * len(files), channels, size)  # one allocation, so one memory check covers both
    a, b = both[: len(files)], both[len(files) :]
    for index, path in enumerate(progress(files)):
        left, right = halves(decode(path, channels))
        a[index], b[index] = torch.from_numpy(square_pixels(left, size)), torch.from_numpy(square_pixels(right, size))
    return a, b
