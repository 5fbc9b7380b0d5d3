"""The semantic score of translations: class accuracy by the output domain's classifier and FID in its
features, on made-up labeled data, and the new scalars declared and logged by pix2pix and CycleGAN."""

from __future__ import annotations

import json

import pytest
import torch
from omegaconf import OmegaConf
from test_translation_cli import folders, quiet, translation_args  # noqa: F401  (the session's tiny folders)

from conftest import describe, run_many
from gan_cli.commands.compose import compose_config
from gan_cli.data.translation import TranslationImages
from gan_cli.data.translation_folders import TranslationSplits
from gan_cli.errors import UserError
from gan_cli.metrics.classifier import accuracy
from gan_cli.metrics.semantic import translation_judges
from gan_cli.metrics.translation import SemanticScores
from gan_cli.training.train import train

CLASSES, SIZE = 4, 16


def quadrant_images(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 [count, 1, 16, 16]: class k lights quadrant k, over faint noise; classes take turns."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % CLASSES
    images = torch.randint(0, 40, (count, 1, SIZE, SIZE), generator=generator, dtype=torch.uint8)
    half = SIZE // 2
    for index, label in enumerate(labels.tolist()):
        top, left = divmod(label, 2)
        images[index, :, top * half : (top + 1) * half, left * half : (left + 1) * half] = 220
    return images, labels


@pytest.fixture(scope="module")
def labeled(tmp_path_factory):
    """Made-up labeled translation data (input = the negative of the target) and its judges."""
    train, train_labels = quadrant_images(400, seed=0)
    test, test_labels = quadrant_images(160, seed=1)
    labels = {"train_a": train_labels, "train_b": train_labels, "test_a": test_labels, "test_b": test_labels}
    splits = TranslationSplits(255 - train, train, 255 - test, test, True, True, "test", labels=labels, classes=CLASSES)
    data = TranslationImages.from_splits(splits, "AtoB", SIZE, flip=False)
    heldout = data.heldout(0)
    eval_cfg = OmegaConf.create({"cache_dir": str(tmp_path_factory.mktemp("cache")), "batch_size": 64})
    return heldout, translation_judges(eval_cfg, data, heldout, both_ways=True)


def semantic(judge, outputs, labels) -> dict[str, float]:
    scores = SemanticScores(judge)
    for chunk, chunk_labels in zip(outputs.split(50), labels.split(50)):
        scores.update(chunk, chunk_labels)
    return scores.compute()


def test_a_perfect_translation_scores_what_the_classifier_scores_on_real_targets(labeled):
    heldout, judges = labeled
    figures = semantic(judges.target, heldout.target, heldout.target_labels)
    on_real = accuracy(judges.target.extractor.classify, heldout.target, heldout.target_labels)
    assert figures["class_accuracy"] == pytest.approx(on_real)
    assert figures["class_accuracy"] > 0.95  # the classes are easy: the classifier has learnt them
    assert figures["fid"] < 1e-2  # the same images as the reference


def test_a_constant_output_scores_chance(labeled):
    heldout, judges = labeled
    grey = torch.zeros_like(heldout.target)
    figures = semantic(judges.target, grey, heldout.target_labels)
    assert figures["class_accuracy"] == pytest.approx(1 / CLASSES)  # one class for all, and the classes are balanced
    assert figures["fid"] > 10


def test_each_direction_is_judged_by_its_own_domain(labeled):
    heldout, judges = labeled
    assert judges.input.extractor.checksum != judges.target.extractor.checksum
    figures = semantic(judges.input, heldout.input, heldout.input_labels)
    assert figures["class_accuracy"] > 0.95 and figures["fid"] < 1e-2


def test_building_the_judges_draws_nothing_from_the_global_generator(labeled, tmp_path):
    heldout, _ = labeled
    train, train_labels = quadrant_images(64, seed=2)
    labels = {"train_a": train_labels, "train_b": train_labels, "test_a": heldout.input_labels, "test_b": heldout.target_labels}
    splits = TranslationSplits(255 - train, train, 255 - train, train, True, True, "test", labels=labels, classes=CLASSES)
    data = TranslationImages.from_splits(splits, "AtoB", SIZE, flip=False)
    eval_cfg = OmegaConf.create({"cache_dir": str(tmp_path), "batch_size": 64})
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    translation_judges(eval_cfg, data, data.heldout(0), both_ways=True)  # trains two classifiers
    translation_judges(eval_cfg, data, data.heldout(0), both_ways=True)  # reads them from the cache
    assert torch.equal(torch.rand(3), expected)


SEMANTIC_RUNS = {
    "pix2pix_edges": ("pix2pix", "data=fashion_edges", "data.root={fashion}", "train.best_metric=eval/class_accuracy"),
    "cyclegan_edges": ("cyclegan", "data=fashion_edges", "data.root={fashion}", "train.best_metric=eval/input_fid"),
    "cyclegan_unpaired": ("cyclegan", "data=unpaired_folder", "data.path={unpaired}", "train.best_metric=eval/fid"),
}
EXPECTED = {
    "pix2pix_edges": {"eval/fid", "eval/class_accuracy"},
    "cyclegan_edges": {"eval/fid", "eval/class_accuracy", "eval/input_fid", "eval/input_class_accuracy"},
    "cyclegan_unpaired": {"eval/fid", "eval/input_fid"},
}


@pytest.fixture(scope="module")
def semantic_runs(tmp_path_factory, folders):  # noqa: F811
    base = tmp_path_factory.mktemp("semantic_runs")
    calls = {}
    for name, (model, *extra) in SEMANTIC_RUNS.items():
        args = translation_args(model, *(a.format(**folders) for a in extra), f"hydra.run.dir={base / name}")
        calls[name] = ("gan-train", args, base)
    for result in run_many(calls).values():
        assert result.returncode == 0, describe(result)
    return {name: base / name for name in SEMANTIC_RUNS}


@pytest.mark.parametrize("name", list(SEMANTIC_RUNS))
def test_the_semantic_scalars_are_declared_and_logged(semantic_runs, name):
    run_dir = semantic_runs[name]
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    summary = json.loads((run_dir / "summary.json").read_text())
    expected = EXPECTED[name]
    unexpected = {"eval/class_accuracy", "eval/input_class_accuracy"} - expected
    for record in (*lines, summary):
        assert expected <= record.keys() and not unexpected & record.keys(), record
    extractor = "random_conv" if "unpaired" in name else "classifier"
    assert summary["eval_extractor"].startswith(extractor)
    assert summary["best_metric"] == SEMANTIC_RUNS[name][-1].split("=")[1]


def test_too_few_held_out_images_for_fid_is_one_line_before_training(folders, tmp_path):  # noqa: F811
    args = translation_args("pix2pix", "data=fashion_edges", f"data.root={folders['fashion']}", "eval.num_samples=1")
    with pytest.raises(UserError) as error:
        train(compose_config(args), tmp_path / "run", quiet())
    message = str(error.value)
    assert "eval.num_samples" in message and "gives 1" in message and "\n" not in message
    assert not (tmp_path / "run" / "checkpoints").exists()
