"""Translation checkpoints scored after training: gan-eval ckpt= gives the figures of the run's last
metrics.jsonl line, and gan-sample target= adds FID (in the checkpoint's classifier features where its
data was labeled) and class accuracy for inputs in class subfolders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_translation_folder_classes import CLASSES, write_labeled_ab_folder, write_labeled_unpaired_folder

from conftest import describe, run_cli, run_many
from translation_data import write_ab_folder

SIZE = 16
TINY_RUN = [
    f"model.image_size={SIZE}", "model.ngf=4", "model.ndf=4", "train.steps=2", "train.batch_size=4", "train.log_every=1",
    "train.sample_every=2", "train.checkpoint_every=2", "train.num_samples=4", "eval.num_samples=0", "device=cpu",
]
# An average that keeps most of the first weights after two steps, so that it and the raw G differ.
SLOW_AVERAGE = ["model.ema=true", "model.ema_rampup=0", "model.ema_half_life=1000"]
RUNS = {
    "pix2pix_labeled": ["model=pix2pix", "data=paired_folder", "data.path={ab}", *SLOW_AVERAGE],
    "cyclegan_labeled": ["model=cyclegan", "model.n_blocks=1", "data=unpaired_folder", "data.path={unpaired}"],
    "pix2pix_unlabeled": ["model=pix2pix", "data=paired_folder", "data.path={plain}"],
    "pix2pix_data_gone": ["model=pix2pix", "data=paired_folder", "data.path={doomed}"],
}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("translation_eval_data")
    return {
        "ab": write_labeled_ab_folder(root / "ab", {"train": 24, "test": 8}),
        "unpaired": write_labeled_unpaired_folder(root / "unpaired", {"train": 24, "test": 8}),
        "plain": write_ab_folder(root / "plain", {"train": 8, "test": 6}),
        "doomed": write_labeled_ab_folder(root / "doomed", {"train": 8, "test": 4}, seed=1),
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("translation_eval_runs")
    calls = {
        name: ("gan-train", [*(a.format(**data) for a in args), *TINY_RUN, f"hydra.run.dir={base / name}"], base)
        for name, args in RUNS.items()
    }
    for result in run_many(calls).values():
        assert result.returncode == 0, describe(result)
    shutil.rmtree(data["doomed"])  # that run's checkpoint outlives its data
    return {name: base / name for name in RUNS}


def last_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])


def gan_eval(*args: str, cwd: Path) -> dict:
    result = run_cli("gan-eval", *args, "json=true", cwd=cwd)
    assert result.returncode == 0, describe(result)
    return json.loads(result.stdout)


# ---------------------------------------------------------------------------------------------- gan-eval

EXPECTED_FIGURES = {
    "pix2pix_labeled": {"l1", "psnr", "ssim", "fid", "class_accuracy"},
    "cyclegan_labeled": {"l1", "psnr", "ssim", "fid", "class_accuracy", "input_fid", "input_class_accuracy", "cycle_l1_input", "cycle_l1_target"},
    "pix2pix_unlabeled": {"l1", "psnr", "ssim", "fid"},
}


@pytest.mark.parametrize("name", list(EXPECTED_FIGURES))
def test_gan_eval_gives_the_figures_of_the_runs_last_evaluation(runs, name, tmp_path):
    report = gan_eval(f"ckpt={runs[name]}", cwd=tmp_path)
    trained = last_metrics(runs[name])
    figures = {key.removeprefix("eval/") for key in trained if key.startswith("eval/")}
    assert figures == EXPECTED_FIGURES[name]
    for figure in figures:
        assert report[figure] == pytest.approx(trained[f"eval/{figure}"], rel=1e-6, abs=1e-9), figure
    for key in ("extractor", "extractor_id", "fid_real_images", "split", "images", "paired"):
        assert report[key] == trained[f"eval_{key}"], key
    extractor = "random_conv (" if name == "pix2pix_unlabeled" else "classifier (128-d"
    assert report["extractor"].startswith(extractor)
    if name == "cyclegan_labeled":
        assert report["input_extractor"].startswith("classifier (") and report["input_extractor_id"] != report["extractor_id"]


def test_gan_eval_scores_the_moving_average_unless_told_otherwise(runs, tmp_path):
    ckpt = runs["pix2pix_labeled"] / "checkpoints" / "last.pt"
    calls = {ema: ("gan-eval", [f"ckpt={ckpt}", "json=true", *([f"ema={ema}"] if ema else [])], tmp_path) for ema in ("", "false")}
    reports = {}
    for ema, result in run_many(calls).items():
        assert result.returncode == 0, describe(result)
        reports[ema] = json.loads(result.stdout)
    assert reports[""]["source"].endswith("moving average)") and "moving average" not in reports["false"]["source"]
    assert reports[""]["l1"] == pytest.approx(last_metrics(runs["pix2pix_labeled"])["eval/l1"], rel=1e-6)
    assert reports["false"]["l1"] != reports[""]["l1"]


def test_gan_eval_table_names_the_extractor(runs, tmp_path):
    result = run_cli("gan-eval", f"ckpt={runs['cyclegan_labeled']}", cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    for words in ("class_accuracy", "input_fid", "cycle_l1_input", "extractor", "classifier (128-d", "input extractor"):
        assert words in result.stdout, result.stdout


def test_gan_eval_takes_eval_overrides(runs, tmp_path):
    report = gan_eval(f"ckpt={runs['pix2pix_unlabeled']}", "eval.num_samples=4", cwd=tmp_path)
    assert report["images"] == 4 and report["fid_real_images"] == 4


GAN_EVAL_ERRORS = {
    "image data": (["data=mnist"], "data=mnist is not translation data, and this pix2pix checkpoint translates images"),
    "too few held-out images": (["eval.num_samples=1"], "FID needs at least 2 held-out images of each domain, and the test split gives 1"),
    "no average": (["ema=true"], "ema=true needs a checkpoint trained with model.ema=true"),
}


def test_gan_eval_errors_on_a_translation_checkpoint_are_one_line(runs, tmp_path):
    ckpt = runs["pix2pix_unlabeled"]
    calls = {case: ("gan-eval", [f"ckpt={ckpt}", *args], tmp_path) for case, (args, _) in GAN_EVAL_ERRORS.items()}
    for case, result in run_many(calls).items():
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, (case, describe(result))
        assert GAN_EVAL_ERRORS[case][1] in lines[0], (case, describe(result))


# -------------------------------------------------------------------------------------------- gan-sample


def gan_sample(ckpt: Path, *args: str, cwd: Path) -> tuple[str, dict]:
    """The summary line of a translation with target=, and its scores.json."""
    out = cwd / f"out_{len(list(cwd.glob('out_*')))}"
    result = run_cli("gan-sample", f"ckpt={ckpt}", f"out={out}", *args, cwd=cwd)
    assert result.returncode == 0, describe(result)
    return result.stderr.strip().splitlines()[-1], json.loads((out / "scores.json").read_text())


def test_gan_sample_target_scores_the_held_out_split_as_training_did(runs, data, tmp_path):
    """The test split's inputs in their class subfolders, against its targets: training's figures."""
    ab = data["ab"]
    line, scores = gan_sample(runs["pix2pix_labeled"], f"input={ab / 'A' / 'test'}", f"target={ab / 'B' / 'test'}", cwd=tmp_path)
    trained = last_metrics(runs["pix2pix_labeled"])
    for figure in ("l1", "psnr", "ssim", "fid", "class_accuracy"):
        assert scores[figure] == pytest.approx(trained[f"eval/{figure}"], rel=1e-3, abs=1e-4), figure
    assert scores["extractor"] == trained["eval_extractor"] and scores["extractor_id"] == trained["eval_extractor_id"]
    assert " FID " in line and "(classifier)" in line and " class accuracy " in line and "note" not in line, line


def test_gan_sample_target_judges_cyclegans_other_way_in_the_input_domain(runs, data, tmp_path):
    unpaired = data["unpaired"]
    args = [f"input={unpaired / 'testB'}", f"target={unpaired / 'testA'}", "direction=BtoA"]
    _, scores = gan_sample(runs["cyclegan_labeled"], *args, cwd=tmp_path)
    trained = last_metrics(runs["cyclegan_labeled"])
    assert scores["extractor_id"] == trained["eval_input_extractor_id"]
    assert scores["fid"] == pytest.approx(trained["eval/input_fid"], rel=1e-3, abs=1e-4)
    assert scores["class_accuracy"] == pytest.approx(trained["eval/input_class_accuracy"])


def test_a_target_that_holds_the_outputs_scores_fid_near_zero(runs, data, tmp_path):
    ckpt, inputs = runs["pix2pix_unlabeled"], data["plain"] / "A" / "test"
    first = tmp_path / "first"
    assert run_cli("gan-sample", f"ckpt={ckpt}", f"input={inputs}", f"out={first}", cwd=tmp_path).returncode == 0
    line, scores = gan_sample(ckpt, f"input={inputs}", f"target={first}", cwd=tmp_path)
    assert abs(scores["fid"]) < 1e-2 and scores["l1"] < 0.01, scores  # the same images, but for their 8-bit rounding
    assert scores["extractor"].startswith("random_conv (") and "(random_conv)" in line and "class_accuracy" not in scores


def test_one_image_is_translated_and_scored_without_fid(runs, data, tmp_path):
    ab = data["ab"]
    for side in "AB":
        (tmp_path / side / "left").mkdir(parents=True)
        shutil.copy(ab / side / "test" / "left" / "img_000.png", tmp_path / side / "left")
    line, scores = gan_sample(runs["pix2pix_labeled"], f"input={tmp_path / 'A'}", f"target={tmp_path / 'B'}", cwd=tmp_path)
    assert "fid" not in scores and 0 <= scores["class_accuracy"] <= 1 and scores["images"] == 1
    assert line.endswith("; no FID: it needs at least 2 images, and input= holds 1"), line
    assert scores["notes"] == ["no FID: it needs at least 2 images, and input= holds 1"]


def copy_flat(source: Path, destination: Path, subfolder: str = "") -> Path:
    """The images of ``source``'s class subfolders, all in ``destination/subfolder``."""
    (destination / subfolder).mkdir(parents=True)
    for path in source.rglob("*.png"):
        shutil.copy(path, destination / subfolder / path.name)
    return destination


def test_inputs_outside_class_subfolders_get_no_class_accuracy(runs, data, tmp_path):
    ab, ckpt = data["ab"], runs["pix2pix_labeled"]
    flat = [f"input={copy_flat(ab / 'A' / 'test', tmp_path / 'flat_a')}", f"target={copy_flat(ab / 'B' / 'test', tmp_path / 'flat_b')}"]
    line, scores = gan_sample(ckpt, *flat, cwd=tmp_path)
    assert "class_accuracy" not in scores and "fid" in scores and "note" not in line, line
    other = [f"input={copy_flat(ab / 'A' / 'test', tmp_path / 'other_a', 'shoes')}", f"target={copy_flat(ab / 'B' / 'test', tmp_path / 'other_b', 'shoes')}"]
    line, scores = gan_sample(ckpt, *other, cwd=tmp_path)
    note = f"no class accuracy: shoes/img_000.png is not in a subfolder named for a class of the checkpoint ({', '.join(CLASSES)})"
    assert "class_accuracy" not in scores and scores["notes"] == [note] and line.endswith(note), line


def test_without_its_data_a_labeled_checkpoint_is_judged_in_random_conv_features(runs, tmp_path):
    inputs = write_labeled_ab_folder(tmp_path / "new", {"test": 4}, seed=2)
    line, scores = gan_sample(runs["pix2pix_data_gone"], f"input={inputs / 'A' / 'test'}", f"target={inputs / 'B' / 'test'}", cwd=tmp_path)
    assert scores["extractor"].startswith("random_conv (") and "class_accuracy" not in scores and "fid" in scores
    assert "FID is in random_conv features, with no class accuracy: the checkpoint's training data cannot be read here" in line, line
