"""Folders larger than the memory budget stream from disk: the same batches as the in-memory path for
the same seed, exact resume, and a file that cannot be decoded named in one line."""

from __future__ import annotations

import pytest
import torch

from conftest import describe, run_cli, write_png_folder
from gan_cli.commands.compose import compose_config
from gan_cli.data import BatchStream, DataRequest, build_dataset
from gan_cli.data.memory import InMemoryImages
from gan_cli.data.streaming import StreamedImages
from gan_cli.errors import UserError
from translation_data import write_ab_folder, write_aligned_folder, write_unpaired_folder

FORCE_STREAMING = "data.memory_budget=0.00001"  # 10 KiB: any test folder is larger


def folder_dataset(path, *overrides: str):
    cfg = compose_config(["model=dcgan", "model.image_size=16", "data=image_folder", f"data.path={path}", *overrides])
    return build_dataset(cfg.data, DataRequest(16, batch_size=16))


def take(stream: BatchStream, count: int) -> list[dict]:
    return [next(stream) for _ in range(count)]


@pytest.mark.parametrize("workers", [0, 2])
def test_a_streamed_folder_gives_the_in_memory_batches(labeled_image_folder, workers):
    held = folder_dataset(labeled_image_folder)
    streamed = folder_dataset(labeled_image_folder, FORCE_STREAMING, f"data.workers={workers}")
    assert isinstance(held, InMemoryImages) and isinstance(streamed, StreamedImages)
    # 40 images in batches of 16: two batches an epoch, so five batches cross two epoch boundaries
    for a, b in zip(take(BatchStream(held, 16, seed=3), 5), take(BatchStream(streamed, 16, seed=3), 5)):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])


def test_a_streamed_folder_resumes_exactly(image_folder):
    streamed = folder_dataset(image_folder, FORCE_STREAMING)
    straight = take(BatchStream(streamed, 16, seed=1), 6)
    first = BatchStream(streamed, 16, seed=1)
    take(first, 3)
    resumed = BatchStream(streamed, 16, seed=1)
    resumed.load_state_dict(first.state_dict())
    for a, b in zip(straight[3:], take(resumed, 3)):
        assert torch.equal(a["image"], b["image"])


def test_the_real_images_for_scoring_come_from_the_folder(labeled_image_folder):
    held = folder_dataset(labeled_image_folder)
    images, labels = folder_dataset(labeled_image_folder, FORCE_STREAMING).scoring_images(count=10)
    assert images.shape == (10, 3, 16, 16) and labels.shape == (10,)
    assert any(torch.equal(images[0], image) for image in held.images)


def test_a_file_that_cannot_be_decoded_is_named_when_its_batch_is_read(tmp_path):
    folder = write_png_folder(tmp_path / "images", 20, seed=2)
    (folder / "img_005.png").write_bytes(b"not a png")
    streamed = folder_dataset(folder, FORCE_STREAMING)
    with pytest.raises(UserError, match="img_005.png"):
        take(BatchStream(streamed, 16, seed=0), 2)


def test_gan_train_streams_a_large_folder_and_names_a_bad_file_in_one_line(image_folder, tmp_path):
    common = ["model=dcgan", "model.image_size=16", "model.ngf=4", "model.ndf=4", "model.nz=4", "data=image_folder",
              FORCE_STREAMING, "train.steps=4", "train.batch_size=16", "eval.enabled=false", "device=cpu"]
    good = run_cli("gan-train", *common, f"data.path={image_folder}", f"hydra.run.dir={tmp_path / 'good'}", cwd=tmp_path)
    assert good.returncode == 0, describe(good)
    assert "streaming 40 images from disk" in good.stderr + good.stdout
    assert (tmp_path / "good" / "checkpoints" / "last.pt").is_file()

    broken = write_png_folder(tmp_path / "broken", 40, seed=3)
    (broken / "img_031.png").write_bytes(b"\x89PNG truncated")
    bad = run_cli("gan-train", *common, f"data.path={broken}", "data.workers=2", f"hydra.run.dir={tmp_path / 'bad'}", cwd=tmp_path)
    lines = bad.stderr.splitlines()
    assert bad.returncode == 2 and lines[0].startswith("streaming 40 images") and len(lines) == 2, describe(bad)
    assert lines[1].startswith("gan-train: error: cannot read image") and "img_031.png" in lines[1], describe(bad)


TRANSLATION_LAYOUTS = {
    "aligned": ("paired_folder", lambda root: write_aligned_folder(root, {"train": 12, "val": 4})),
    "a-b": ("paired_folder", lambda root: write_ab_folder(root, {"train": 12, "test": 4})),
    "unpaired": ("unpaired_folder", lambda root: write_unpaired_folder(root, {"train": 12, "test": 4}, {"train": 9, "test": 4})),
}


@pytest.mark.parametrize("layout", TRANSLATION_LAYOUTS)
def test_a_streamed_translation_folder_gives_the_in_memory_batches_crops_and_flips(layout, tmp_path):
    """The crops and flips are drawn from the global generator on both paths, so the batches match."""
    dataset, write = TRANSLATION_LAYOUTS[layout]
    root = write(tmp_path / layout)
    paired = dataset == "paired_folder"

    def batches(*overrides: str) -> list[dict]:
        cfg = compose_config(["model=pix2pix" if paired else "model=cyclegan", "model.image_size=16", f"data={dataset}", f"data.path={root}", *overrides])
        data = build_dataset(cfg.data, DataRequest(16, batch_size=4, paired=paired))
        torch.manual_seed(5)
        return data, take(BatchStream(data, 4, seed=2), 5)

    held, in_memory = batches()
    streamed, from_disk = batches(FORCE_STREAMING, "data.workers=2")
    assert not held.streamed and streamed.streamed
    for a, b in zip(in_memory, from_disk):
        assert torch.equal(a["input"], b["input"]) and torch.equal(a["target"], b["target"])
    for a, b in zip(held.heldout(3).__dict__.values(), streamed.heldout(3).__dict__.values()):
        assert torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b
