"""Translation folders with class subfolders (DIR/B/train/<class>/x.png): the classes reach the labels
in every layout and on both the in-memory and the streamed path, a real run logs eval/class_accuracy
on them, and a layout that mixes classes and loose files is one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import describe, run_cli, run_many
from gan_cli.data.translation_folders import load_paired_folder, load_unpaired_folder
from gan_cli.errors import UserError
from translation_data import write_ab_folder

CLASSES = ("left", "right")  # which half of the image is lit
SIZE = 16
FORCE_STREAMING = "data.memory_budget=0.00001"  # 10 KiB: any test folder is larger


def lit_halves(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [count, 16, 16] over faint noise, class 0 lighting the left half and class 1 the right;
    the classes take turns, so a tiny classifier learns them at once."""
    labels = np.arange(count) % len(CLASSES)
    images = rng.integers(0, 40, (count, SIZE, SIZE), dtype=np.uint8)
    for image, label in zip(images, labels):
        image[:, label * SIZE // 2 : (label + 1) * SIZE // 2] = rng.integers(180, 256)
    return images, labels


def save(pixels: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def write_labeled_ab_folder(root: Path, counts: dict[str, int], seed: int = 0) -> Path:
    """DIR/A/<split>/<class>/img_XXX.png (a lit half) and DIR/B/<split>/<class>/img_XXX.png (its negative)."""
    rng = np.random.default_rng(seed)
    for split, count in counts.items():
        for i, (a, label) in enumerate(zip(*lit_halves(count, rng))):
            for side, pixels in (("A", a), ("B", 255 - a)):
                save(pixels, root / side / split / CLASSES[label] / f"img_{i:03d}.png")
    return root


def write_labeled_aligned_folder(root: Path, counts: dict[str, int], seed: int = 0) -> Path:
    """DIR/<split>/<class>/img_XXX.png: a lit half and its negative side by side."""
    rng = np.random.default_rng(seed)
    for split, count in counts.items():
        for i, (a, label) in enumerate(zip(*lit_halves(count, rng))):
            save(np.concatenate([a, 255 - a], axis=1), root / split / CLASSES[label] / f"img_{i:03d}.png")
    return root


def write_labeled_unpaired_folder(root: Path, counts: dict[str, int], seed: int = 0) -> Path:
    """DIR/trainA/<class>/..., trainB, testA, testB: lit halves in A, the negatives of other ones in B
    for training; testB holds the negatives of testA under the same names, so the test split pairs up."""
    rng = np.random.default_rng(seed)
    for split, count in counts.items():
        images_a, labels_a = lit_halves(count, rng)
        images_b, labels_b = (images_a, labels_a) if split == "test" else lit_halves(count, rng)
        for domain, images, labels in (("A", images_a, labels_a), ("B", 255 - images_b, labels_b)):
            for i, (pixels, label) in enumerate(zip(images, labels)):
                prefix = split if split == "test" else domain
                save(pixels, root / f"{split}{domain}" / CLASSES[label] / f"{prefix}_{i:03d}.png")
    return root


def expected_labels(count: int) -> torch.Tensor:
    """The classes of lit_halves' images in file order: every image of "left", then every one of "right"."""
    return torch.tensor(sorted(i % len(CLASSES) for i in range(count)))


def test_ab_classes_become_labels_of_both_domains(tmp_path):
    root = write_labeled_ab_folder(tmp_path / "ab", {"train": 6, "test": 4})
    splits = load_paired_folder(str(root), SIZE, SIZE)
    assert splits.classes == 2 and splits.class_names == CLASSES
    for role, count in (("train_a", 6), ("train_b", 6), ("test_a", 4), ("test_b", 4)):
        assert torch.equal(splits.labels[role], expected_labels(count)), role
    left = splits.train_a[splits.labels["train_a"] == 0].float()
    assert left[..., : SIZE // 2].mean() > left[..., SIZE // 2 :].mean()  # the labels follow the files they came from


def test_aligned_and_unpaired_classes_become_labels(tmp_path):
    aligned = load_paired_folder(str(write_labeled_aligned_folder(tmp_path / "aligned", {"train": 6, "val": 4})), SIZE, SIZE)
    unpaired = load_unpaired_folder(str(write_labeled_unpaired_folder(tmp_path / "unpaired", {"train": 6, "test": 4})), SIZE, SIZE)
    for splits in (aligned, unpaired):
        assert splits.class_names == CLASSES
        assert torch.equal(splits.labels["train_b"], expected_labels(6)) and torch.equal(splits.labels["test_a"], expected_labels(4))


def test_files_directly_in_their_split_folders_stay_unlabeled(tmp_path):
    splits = load_paired_folder(str(write_ab_folder(tmp_path / "ab", {"train": 4, "test": 2})), SIZE, SIZE)
    assert splits.labels is None and splits.classes == 0 and splits.class_names == ()


def test_a_limit_may_keep_one_class_only(tmp_path):
    """data.limit cuts the training files in name order; the classes come from the whole listing."""
    root = write_labeled_ab_folder(tmp_path / "ab", {"train": 8, "test": 4})
    splits = load_paired_folder(str(root), SIZE, SIZE, limit=3)
    assert splits.class_names == CLASSES and splits.labels["train_a"].tolist() == [0, 0, 0]


def move(root: Path, source: str, destination: str) -> None:
    (root / destination).parent.mkdir(parents=True, exist_ok=True)
    shutil.move(root / source, root / destination)


BAD_LAYOUTS = {
    # a pair directly in its split folders, beside class subfolders (both files move, so each keeps its partner)
    "loose file": (
        lambda root: [move(root, f"{side}/test/left/img_000.png", f"{side}/test/img_000.png") for side in "AB"],
        ("A/test/img_000.png", "beside class subfolders"),
    ),
    # a class of the training split that the held-out split lacks
    "missing class": (
        lambda root: [move(root, f"{side}/test/right", f"{side}/test/left2") for side in "AB"],
        ("class left2 has a subfolder in", "A/test but none in", "A/train"),
    ),
}


@pytest.mark.parametrize("case", list(BAD_LAYOUTS))
def test_a_mixed_layout_is_one_line_naming_the_fix(case, tmp_path):
    root = write_labeled_ab_folder(tmp_path / "ab", {"train": 4, "test": 4})
    BAD_LAYOUTS[case][0](root)
    with pytest.raises(UserError) as raised:
        load_paired_folder(str(root), SIZE, SIZE)
    message = str(raised.value)
    assert "\n" not in message and "or all directly in their split folders" in message
    for expected in BAD_LAYOUTS[case][1]:
        assert expected in message, message


def test_one_domain_with_classes_and_one_without_is_one_line(tmp_path):
    root = write_labeled_unpaired_folder(tmp_path / "unpaired", {"train": 4, "test": 2})
    for path in (root / "trainB").rglob("*.png"):
        path.rename(root / "trainB" / path.name)
    with pytest.raises(UserError, match=r"trainB sit directly in it, but .*trainA has class subfolders"):
        load_unpaired_folder(str(root), SIZE, SIZE)


TINY_RUN = [
    "model=pix2pix", f"model.image_size={SIZE}", "model.ngf=4", "model.ndf=4", "data=paired_folder",
    "train.steps=2", "train.batch_size=4", "train.log_every=1", "train.sample_every=2", "train.checkpoint_every=2",
    "train.num_samples=4", "eval.num_samples=0", "device=cpu",
]


@pytest.fixture(scope="module")
def labeled_runs(tmp_path_factory) -> dict[str, Path]:
    """The same tiny pix2pix run on a labeled folder, held in memory and streamed from disk."""
    base = tmp_path_factory.mktemp("labeled_runs")
    root = write_labeled_ab_folder(base / "data", {"train": 24, "test": 8})
    ways = {"memory": [], "streamed": [FORCE_STREAMING, "data.workers=0"]}
    calls = {way: ("gan-train", [*TINY_RUN, f"data.path={root}", *extra, f"hydra.run.dir={base / way}"], base) for way, extra in ways.items()}
    results = run_many(calls)
    for result in results.values():
        assert result.returncode == 0, describe(result)
    assert "streaming 24 images from disk" in results["streamed"].stderr, describe(results["streamed"])
    return {way: base / way for way in ways}


def last_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])


def test_a_labeled_folder_run_logs_class_accuracy_in_its_classifier(labeled_runs):
    record = last_metrics(labeled_runs["memory"])
    assert 0 <= record["eval/class_accuracy"] <= 1 and record["eval/fid"] >= 0
    assert record["eval_extractor"].startswith("classifier (128-d") and record["eval_images"] == 8


def test_a_streamed_labeled_folder_scores_as_the_one_in_memory(labeled_runs):
    """Its classifier learns from the same images, decoded chunk by chunk: the figures are the same."""
    held, streamed = (last_metrics(labeled_runs[way]) for way in ("memory", "streamed"))
    assert held["eval_extractor_id"] == streamed["eval_extractor_id"]
    for name in ("eval/class_accuracy", "eval/fid", "eval/l1"):
        assert streamed[name] == pytest.approx(held[name], rel=1e-6), name


def test_a_mixed_layout_stops_gan_train_in_one_line(tmp_path):
    root = write_labeled_ab_folder(tmp_path / "ab", {"train": 4, "test": 4})
    move(root, "B/train/right/img_001.png", "B/train/img_001.png")
    move(root, "A/train/right/img_001.png", "A/train/img_001.png")
    result = run_cli("gan-train", *TINY_RUN, f"data.path={root}", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, describe(result)
    assert "img_001.png sits directly in" in lines[0] and not (tmp_path / "run").exists(), describe(result)
