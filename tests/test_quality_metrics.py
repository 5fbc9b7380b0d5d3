"""Sample quality in training: the extractors, the real-feature cache, periodic scores in every
output, best.pt on FID, resume, and each bad input's one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from conftest import TINY_FAMILIES, TINY_TRAIN, describe, draw_shapes, run_cli, run_many
from gan_cli.config import EvalConfig, Extractor
from gan_cli.errors import UserError
from gan_cli.metrics import quality
from gan_cli.metrics.cache import file_checksum
from gan_cli.metrics.extractors import INCEPTION_FILE, RANDOM_CONV_WIDTHS, inception_extractor, random_conv_extractor
from gan_cli.metrics.quality import RealImages, build_scorer, minimum_samples, resolve_extractor
from gan_cli.training.checkpoint import load_checkpoint
from translation_data import write_aligned_folder

EVAL_NAMES = {"eval/fid", "eval/kid", "eval/kid_std", "eval/precision", "eval/recall", "eval/density", "eval/coverage"}


def shapes(count: int, seed: int, labeled: bool = False) -> RealImages:
    images = torch.from_numpy(draw_shapes(count, 16, np.random.default_rng(seed)))[:, None]
    labels = torch.arange(count) % 2 if labeled else None  # draw_shapes alternates squares and discs
    return RealImages(images, labels, 2 if labeled else 0, f"shapes seed {seed}")


def eval_config(tmp_path: Path, **changes) -> EvalConfig:
    return OmegaConf.structured(EvalConfig(**{"cache_dir": str(tmp_path), "num_samples": 300, **changes}))


def test_auto_picks_the_classifier_for_labeled_data_and_random_conv_otherwise():
    assert resolve_extractor("auto", labeled=True) is Extractor.classifier
    assert resolve_extractor("auto", labeled=False) is Extractor.random_conv
    with pytest.raises(UserError, match="eval.extractor=random_conv"):
        resolve_extractor("classifier", labeled=False)
    assert minimum_samples(Extractor.random_conv) == RANDOM_CONV_WIDTHS[-1] + 1


def test_random_conv_weights_are_the_same_every_time_and_part_of_the_key():
    first, again, rgb = random_conv_extractor(1), random_conv_extractor(1), random_conv_extractor(3)
    assert first.checksum == again.checksum != rgb.checksum
    images = shapes(4, seed=0).as_unit_range()
    assert torch.equal(first.features(images), again.features(images))
    assert first.features(images).shape == (4, RANDOM_CONV_WIDTHS[-1])


def test_random_conv_fid_ranks_real_images_above_noise_and_collapse(tmp_path):
    scorer = build_scorer(eval_config(tmp_path, extractor=Extractor.random_conv), shapes(600, seed=0))
    real = scorer.score_images(shapes(300, seed=1).as_unit_range())
    noise = scorer.score_images(torch.rand(300, 1, 16, 16) * 2 - 1)
    collapsed = scorer.score_images(shapes(1, seed=2).as_unit_range().repeat(300, 1, 1, 1))
    assert real["eval/fid"] < collapsed["eval/fid"] and real["eval/fid"] < noise["eval/fid"]
    assert real["eval/recall"] > 0.5 > collapsed["eval/recall"]
    assert real["eval/coverage"] > collapsed["eval/coverage"]


@pytest.mark.parametrize("labeled", [True, False], ids=["classifier", "random_conv"])
def test_building_a_scorer_draws_nothing_from_the_global_generator(labeled, tmp_path):
    """A run that trains the classifier, one that reads it from the cache and one with evaluation off
    all draw the same random numbers, which exact resume relies on."""
    for cache in ("empty", "filled"):
        torch.manual_seed(0)
        expected = torch.rand(3)
        torch.manual_seed(0)
        build_scorer(eval_config(tmp_path), shapes(400, seed=3, labeled=labeled))
        assert torch.equal(torch.rand(3), expected), f"the scorer drew from the global generator (cache {cache})"


def test_the_real_features_are_cached_and_the_key_follows_the_extractor(tmp_path, monkeypatch):
    cfg, real = eval_config(tmp_path, extractor=Extractor.random_conv), shapes(300, seed=0)
    first = build_scorer(cfg, real)
    cached = sorted(tmp_path.glob("real-features-*.pt"))
    assert len(cached) == 1 and cached[0].with_suffix(".sha256").is_file()

    extract = quality.extract
    monkeypatch.setattr(quality, "extract", lambda *a: pytest.fail("real features extracted again"))
    again = build_scorer(cfg, real)
    assert torch.equal(first.real_features, again.real_features)

    monkeypatch.setattr(quality, "extract", extract)
    other = random_conv_extractor(1)
    other.checksum = "0" * 64  # e.g. a PyTorch that draws the random weights differently
    quality.real_features(other, real, tmp_path, 256)
    assert len(list(tmp_path.glob("real-features-*.pt"))) == 2


def test_scores_of_the_real_set_itself_are_perfect_and_record_their_source(tmp_path):
    real = shapes(300, seed=0, labeled=True)
    scorer = build_scorer(eval_config(tmp_path), real)
    figures = scorer.score_images(real.as_unit_range(), labels=real.labels)
    assert figures["eval/fid"] == pytest.approx(0, abs=1e-3)
    assert figures["eval/precision"] == figures["eval/recall"] == figures["eval/coverage"] == 1.0
    assert figures["eval/class_accuracy"] > 0.9  # squares and discs: the classifier tells them apart
    record = scorer.record()
    assert record["eval_extractor"].startswith("classifier (128-d") and "held-out accuracy" in record["eval_extractor"]
    assert (record["eval_real"], record["eval_real_images"], record["eval_generated_images"]) == ("shapes seed 0", 300, 300)


def test_too_few_samples_for_fid_names_the_metric_and_the_minimum(tmp_path):
    with pytest.raises(UserError, match=r"eval.num_samples=100 is too few for FID on random_conv features \(128-d\): it needs at least 129"):
        build_scorer(eval_config(tmp_path, extractor=Extractor.random_conv, num_samples=100), shapes(600, seed=0))
    with pytest.raises(UserError, match=r"the real set's 100 images are too few .* at least 129 images; add images$"):
        build_scorer(eval_config(tmp_path, extractor=Extractor.random_conv), shapes(100, seed=0))


# ------------------------------------------------------------------------------ through gan-train

EVAL_TRAIN = [*TINY_TRAIN, "eval.every=3", "eval.num_samples=200"]


@pytest.fixture(scope="module")
def inception_layout_file(tmp_path_factory) -> Path:
    """Inception-V3's layout with random weights: the real file is a download, and these tests check
    that it is read and checked, not what its features mean."""
    inception = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inception, "load_state_dict_from_url", lambda *args, **kwargs: None)
        patch.setattr(inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        network = inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = tmp_path_factory.mktemp("inception") / INCEPTION_FILE
    torch.save(network.state_dict(), path)
    return path


def test_inception_features_come_from_the_file_on_disk(inception_layout_file):
    extractor = inception_extractor(str(inception_layout_file))
    features = extractor.features(torch.rand(3, 1, 28, 28) * 2 - 1)
    assert features.shape == (3, 2048) and torch.isfinite(features).all()
    assert extractor.checksum == file_checksum(inception_layout_file)


def test_a_file_with_other_weights_or_with_code_is_not_taken_for_inception(inception_layout_file, tmp_path):
    state = torch.load(inception_layout_file, weights_only=True)
    state["fc.weight"] = state["fc.weight"][:10]
    torch.save(state, tmp_path / "other.pth")
    torch.save({"fc.weight": Path("objects are not tensors")}, tmp_path / "code.pth")
    for name, reason in (("other.pth", "fc.weight is (10, 2048), expected (1008, 2048)"), ("code.pth", "")):
        with pytest.raises(UserError, match="is not the FID Inception weights file") as error:
            inception_extractor(str(tmp_path / name))
        assert reason in str(error.value) and "\n" not in str(error.value)


@pytest.fixture(scope="module")
def scored_runs(tmp_path_factory, fake_mnist_root) -> dict[str, Path]:
    """dcgan and cgan on fake MNIST, scored at steps 3 and 6 with the classifier extractor."""
    base = tmp_path_factory.mktemp("scored")
    runs = {model: base / model for model in ("dcgan", "cgan")}
    results = run_many({
        model: ("gan-train", [*TINY_FAMILIES[model], *EVAL_TRAIN, f"data.root={fake_mnist_root}", f"hydra.run.dir={run_dir}"], base)
        for model, run_dir in runs.items()
    })
    for result in results.values():
        assert result.returncode == 0, describe(result)
    return runs


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_periodic_scores_reach_metrics_jsonl_summary_tensorboard_and_the_bar(scored_runs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = scored_runs["dcgan"]
    lines = read_lines(run_dir / "metrics.jsonl")
    assert [line["step"] for line in lines] == [3, 6]
    for line in lines:
        assert EVAL_NAMES <= line.keys()
        assert line["eval_extractor"].startswith("classifier") and line["eval_real"] == "mnist train split"
        assert (line["eval_real_images"], line["eval_generated_images"]) == (200, 200)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["eval/fid"] == pytest.approx(lines[-1]["eval/fid"], rel=1e-4)
    events = EventAccumulator(str(run_dir / "tb")).Reload()
    assert [event.step for event in events.Scalars("eval/fid")] == [3, 6]


def test_hparams_dashboard_gets_the_settings_and_the_figures_to_compare(scored_runs):
    """TensorBoard's HParams plugin reads an experiment (figure names) and a session (settings)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    events = EventAccumulator(str(scored_runs["dcgan"] / "tb")).Reload()
    content = events.PluginTagToContent(metadata.PLUGIN_NAME)
    experiment = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
    session = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    assert {"eval/fid", "eval/kid", "eval/recall", "loss/d", "d/fake"} <= {info.name.tag for info in experiment.metric_infos}
    assert session.hparams["model.name"].string_value == "dcgan"
    assert session.hparams["optimizer.lr_g"].number_value == pytest.approx(2e-3)
    assert session.hparams["eval.num_samples"].number_value == 200


def test_a_conditional_model_also_reports_its_class_accuracy(scored_runs):
    lines = read_lines(scored_runs["cgan"] / "metrics.jsonl")
    assert all(0 <= line["eval/class_accuracy"] <= 1 for line in lines)


def test_best_pt_follows_fid_by_default(scored_runs):
    run_dir = scored_runs["dcgan"]
    lines = read_lines(run_dir / "metrics.jsonl")
    best = min(lines, key=lambda line: line["eval/fid"])
    saved = load_checkpoint(run_dir / "checkpoints" / "best.pt")
    assert saved["step"] == best["step"]
    assert saved["best"] == pytest.approx(best["eval/fid"])


def test_resume_keeps_the_metric_history_and_rewrites_what_follows_the_checkpoint(scored_runs, fake_mnist_root, tmp_path):
    """Resuming from step 3 of a run scored at 3 and 6: the step-6 line is written once, again."""
    run_dir = tmp_path / "run"
    shutil.copytree(scored_runs["dcgan"], run_dir)
    result = run_cli("gan-train", f"resume={run_dir / 'checkpoints' / 'step_0000003.pt'}", cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    lines = read_lines(run_dir / "metrics.jsonl")
    assert [line["step"] for line in lines] == [3, 6]
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["best"] == pytest.approx(min(line["eval/fid"] for line in lines))


def test_eval_enabled_false_scores_nothing(fake_mnist_root, tmp_path):
    args = [*TINY_FAMILIES["gan"], *TINY_TRAIN, "eval.enabled=false", f"data.root={fake_mnist_root}", f"hydra.run.dir={tmp_path / 'run'}"]
    result = run_cli("gan-train", *args, cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
    assert not (tmp_path / "run" / "checkpoints" / "best.pt").exists()


BAD_EVAL_INPUTS = {
    "too_few": (["eval.num_samples=50"], "eval.num_samples=50 is too few for FID on classifier features (128-d): it needs at least 129 images"),
    "classifier_unlabeled": (["data=image_folder", "data.path={folder}", "eval.extractor=classifier"], "eval.extractor=classifier needs labeled data"),
    "no_inception": (["eval.extractor=inception", "eval.inception_weights={missing}"], "does not exist; put weights-inception-2015-12-05-6726825d.pth"),
    "not_inception": (["eval.extractor=inception", "eval.inception_weights={junk}"], "is not the FID Inception weights file"),
    "fid_off": (["eval.enabled=false", "train.best_metric=eval/fid"], "train.best_metric=eval/fid is not a logged scalar (eval.enabled=false"),
}


@pytest.mark.parametrize("case", BAD_EVAL_INPUTS)
def test_each_bad_evaluation_input_is_one_line(case, fake_mnist_root, image_folder, tmp_path):
    overrides, expected = BAD_EVAL_INPUTS[case]
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"these bytes are no weights")
    overrides = [o.format(folder=image_folder, missing=tmp_path / "nope.pth", junk=junk) for o in overrides]
    args = [*TINY_FAMILIES["dcgan"], *TINY_TRAIN, f"data.root={fake_mnist_root}", *overrides, f"hydra.run.dir={tmp_path / 'run'}"]
    result = run_cli("gan-train", *args, cwd=tmp_path)
    assert result.returncode == 2, describe(result)
    assert result.stderr.strip().count("\n") == 0 and expected in result.stderr, describe(result)
    assert not (tmp_path / "run").exists()


def test_kid_is_not_a_metric_of_translation_families(tmp_path):
    """Translations are judged by FID and class accuracy in the target domain's features, not by KID."""
    paired = write_aligned_folder(tmp_path / "paired", {"train": 8, "val": 2})
    args = [a.format(paired=paired) for a in TINY_FAMILIES["pix2pix"]]
    result = run_cli("gan-train", *args, *TINY_TRAIN, "train.batch_size=4", "train.best_metric=eval/kid", cwd=tmp_path)
    assert result.returncode == 2 and "train.best_metric=eval/kid is not a logged scalar" in result.stderr, describe(result)


def test_data_too_small_for_fid_trains_without_scores_and_says_so(image_folder, tmp_path):
    args = [*TINY_FAMILIES["dcgan"], *TINY_TRAIN, "data=image_folder", f"data.path={image_folder}", f"hydra.run.dir={tmp_path / 'run'}"]
    result = run_cli("gan-train", *args, cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    assert "note: no sample scores (FID, KID, ...): the data's 40 images are too few" in result.stdout
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
