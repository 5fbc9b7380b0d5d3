"""pix2pix and CycleGAN through the real CLI on tiny made-up folders: every artifact, held-out scores,
folder translation that keeps names, exact resume with pools and schedule, and one-line errors."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from rich.console import Console

from conftest import describe, run_cli, run_many, tiny_args
from gan_cli.commands.compose import compose_config
from gan_cli.training.checkpoint import load_checkpoint
from gan_cli.training.train import train
from translation_data import write_ab_folder, write_aligned_folder, write_fake_fashion_mnist, write_unpaired_folder

SIZE = 16
TINY_MODEL = {
    "pix2pix": ["model=pix2pix", f"model.image_size={SIZE}", "model.ngf=4", "model.ndf=4"],
    "cyclegan": ["model=cyclegan", f"model.image_size={SIZE}", "model.ngf=4", "model.ndf=4", "model.n_blocks=1"],
}
TINY_RUN = [
    "train.steps=4",
    "train.batch_size=4",
    "train.log_every=2",
    "train.sample_every=2",
    "train.checkpoint_every=2",
    "train.num_samples=8",
    "eval.every=2",
    "eval.num_samples=6",
    "device=cpu",
]


def translation_args(model: str, *extra: str) -> list[str]:
    return [*TINY_MODEL[model], *TINY_RUN, *extra]


@pytest.fixture(scope="session")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("translation_folders")
    return {
        "aligned": write_aligned_folder(root / "aligned", {"train": 8, "val": 3}),
        "ab": write_ab_folder(root / "ab", {"train": 8, "test": 4}),
        "unpaired": write_unpaired_folder(root / "unpaired", {"train": 8, "test": 3}, {"train": 6, "test": 2}, matched_test=False),
        "fashion": write_fake_fashion_mnist(root / "fashion", train=32, test=8),
    }


RUNS = {
    "pix2pix_aligned": ("pix2pix", ["data=paired_folder", "data.path={aligned}"]),
    "pix2pix_ab": ("pix2pix", ["data=paired_folder", "data.path={ab}"]),
    "pix2pix_edges": ("pix2pix", ["data=fashion_edges", "data.root={fashion}", "model.dropout=0.5"]),  # the paper's noise
    "cyclegan_unpaired": ("cyclegan", ["data=unpaired_folder", "data.path={unpaired}"]),
    "cyclegan_edges": ("cyclegan", ["data=fashion_edges", "data.root={fashion}"]),
}


@pytest.fixture(scope="session")
def translation_runs(tmp_path_factory, folders) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("translation_runs")
    calls = {}
    for name, (model, data_args) in RUNS.items():
        args = [a.format(**folders) for a in data_args]
        calls[name] = ("gan-train", translation_args(model, *args, f"hydra.run.dir={base / name}"), base)
    results = run_many(calls)
    for name, result in results.items():
        assert result.returncode == 0, describe(result)
    return {name: base / name for name in RUNS}


@pytest.mark.parametrize("name", list(RUNS))
def test_every_artifact_is_written(translation_runs, name):
    run_dir = translation_runs[name]
    assert (run_dir / "checkpoints" / "last.pt").is_file()
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("step_*.pt")) == ["step_0000002.pt", "step_0000004.pt"]
    assert len(list((run_dir / "samples").glob("step_*.png"))) == 3 and (run_dir / "samples" / "progress.gif").is_file()
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["eval_images"] == 6 or summary["eval_images"] < 6
    if name.startswith("cyclegan"):
        assert 0 <= summary["eval/cycle_l1_input"] <= 1 and 0 <= summary["eval/cycle_l1_target"] <= 1
    if name != "cyclegan_unpaired":  # its test split is not paired: no ground truth to score against
        assert 0 <= summary["eval/l1"] <= 1 and summary["eval/psnr"] > 0 and -1 <= summary["eval/ssim"] <= 1
        assert summary["eval_paired"] is True
    else:
        assert "eval/l1" not in summary and summary["eval_paired"] is False


def test_held_out_split_is_recorded(translation_runs):
    assert json.loads((translation_runs["pix2pix_aligned"] / "summary.json").read_text())["eval_split"] == "val"
    assert json.loads((translation_runs["pix2pix_ab"] / "summary.json").read_text())["eval_split"] == "test"


def test_grid_rows_are_input_output_target(translation_runs):
    """Four examples per row, three columns each, from the held-out images."""
    grid = Image.open(translation_runs["pix2pix_ab"] / "samples" / "step_0000004.png")
    cell = SIZE + 2
    assert grid.size == (2 + 3 * 2 * cell, 2 + cell)  # 8 samples → 2 examples → one row of 2 triplets
    pixels = np.asarray(grid.convert("RGB")).astype(int)
    assert pixels[2 : 2 + SIZE, 2 : 2 + SIZE].std() > 0  # the input column holds an image


def test_checkpoint_holds_pools_and_schedule_state(translation_runs):
    payload = load_checkpoint(translation_runs["cyclegan_edges"] / "checkpoints" / "last.pt")
    assert set(payload["family_state"]) == {"pool_input", "pool_target", "r1_d_updates"}
    assert payload["family_state"]["pool_target"].shape[1:] == (1, SIZE, SIZE)
    assert payload["config"]["optimizer"]["schedule"] == "linear_decay"
    assert payload["config"]["loss"]["name"] == "lsgan"


def nested_inputs(root: Path, count: int, mode: str) -> Path:
    rng = np.random.default_rng(5)
    for i in range(count):
        folder = root / ("sub" if i % 2 else "") / ("deeper" if i % 3 == 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        shape = (20, 20) if mode == "L" else (20, 20, 3)
        Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode).save(folder / f"in_{i}.png")
    return root


def relative_pngs(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))


def test_translating_a_folder_keeps_names_count_and_target_channels(translation_runs, tmp_path):
    inputs = nested_inputs(tmp_path / "in", 7, "L")
    out = tmp_path / "out"
    ckpt = translation_runs["pix2pix_ab"] / "checkpoints" / "last.pt"
    result = run_cli("gan-sample", f"ckpt={ckpt}", f"input={inputs}", f"out={out}", "batch_size=3", cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    assert relative_pngs(out) == relative_pngs(inputs)
    # stdout names the folder alone, for scripts; stderr ends with one summary line, not a line per file
    assert result.stdout.splitlines() == [str(out)], describe(result)
    assert result.stderr.splitlines()[-1] == f"translated 7 images from {inputs} into {out}", describe(result)
    assert len(result.stderr.splitlines()) <= 3, describe(result)
    sample = Image.open(out / "sub" / "in_1.png")
    assert sample.size == (SIZE, SIZE) and sample.mode == "RGB"  # the ab folder's B side is RGB


def test_translation_against_targets_prints_the_training_figures(translation_runs, folders, tmp_path):
    ckpt = translation_runs["pix2pix_ab"] / "checkpoints" / "last.pt"
    args = [f"ckpt={ckpt}", f"input={folders['ab'] / 'A' / 'test'}", f"target={folders['ab'] / 'B' / 'test'}", f"out={tmp_path / 'o'}"]
    result = run_cli("gan-sample", *args, cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    summary = result.stderr.splitlines()[-1]
    assert summary.startswith("translated 4 images from ") and "PSNR" in summary and "SSIM" in summary, describe(result)
    assert result.stdout.splitlines() == [str(tmp_path / "o")], describe(result)
    scores = json.loads((tmp_path / "o" / "scores.json").read_text())
    assert scores["images"] == 4 and 0 <= scores["l1"] <= 1


def test_cyclegan_translates_both_ways(translation_runs, tmp_path):
    ckpt = translation_runs["cyclegan_edges"] / "checkpoints" / "last.pt"
    inputs = nested_inputs(tmp_path / "in", 3, "L")
    results = run_many(
        {d: ("gan-sample", [f"ckpt={ckpt}", f"input={inputs}", f"out={tmp_path / d}", f"direction={d}"], tmp_path) for d in ("AtoB", "BtoA")}
    )
    for result in results.values():
        assert result.returncode == 0, describe(result)
    a, b = (np.asarray(Image.open(tmp_path / d / "in_0.png")) for d in ("AtoB", "BtoA"))
    assert not np.array_equal(a, b)  # two different generators


def test_translation_output_is_reproducible(translation_runs, tmp_path):
    """pix2pix keeps dropout on at sampling, under a fixed seed: the same command gives the same files."""
    ckpt = translation_runs["pix2pix_edges"] / "checkpoints" / "last.pt"
    inputs = nested_inputs(tmp_path / "in", 2, "L")
    for out in ("one", "two"):
        assert run_cli("gan-sample", f"ckpt={ckpt}", f"input={inputs}", f"out={tmp_path / out}", cwd=tmp_path).returncode == 0
    assert (tmp_path / "one" / "in_0.png").read_bytes() == (tmp_path / "two" / "in_0.png").read_bytes()


SAMPLE_ERRORS = {
    "latent-mode": ("pix2pix_edges", ["mode=walk", "dim=0"], ("mode=walk", "translates", "input=DIR")),
    "wrong-direction": ("pix2pix_edges", ["input={rgb}", "direction=BtoA"], ("trained AtoB", "data.direction=BtoA")),
    "bad-direction": ("cyclegan_edges", ["input={gray}", "direction=up"], ("direction=up", "AtoB")),
    "no-input": ("pix2pix_edges", [], ("input=DIR",)),
    "empty-input": ("pix2pix_edges", ["input={empty}"], ("holds no images",)),
    "rgb-into-gray": ("pix2pix_edges", ["input={rgb}"], ("in_0.png", "1-channel")),
    "missing-target": ("pix2pix_ab", ["input={gray}", "target={empty}"], ("target=", "in_0.png")),
}


def test_translation_sample_errors_are_one_line(translation_runs, tmp_path):
    places = {
        "rgb": nested_inputs(tmp_path / "rgb", 1, "RGB"),
        "gray": nested_inputs(tmp_path / "gray", 1, "L"),
        "empty": tmp_path / "empty",
    }
    places["empty"].mkdir()
    calls = {}
    for case, (run, args, _) in SAMPLE_ERRORS.items():
        ckpt = translation_runs[run] / "checkpoints" / "last.pt"
        calls[case] = ("gan-sample", [f"ckpt={ckpt}", f"out={tmp_path / case}", *(a.format(**places) for a in args)], tmp_path)
    for case, result in run_many(calls).items():
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, describe(result)
        assert lines[0].startswith("gan-sample: error: "), describe(result)
        for expected in SAMPLE_ERRORS[case][2]:
            assert expected in lines[0], describe(result)


def test_noise_checkpoint_refuses_input(dcgan_checkpoint, tmp_path):
    (tmp_path / "in").mkdir()
    result = run_cli("gan-sample", f"ckpt={dcgan_checkpoint}", f"input={tmp_path / 'in'}", f"out={tmp_path / 'o'}", cwd=tmp_path)
    assert result.returncode == 2 and "drop input=" in result.stderr and len(result.stderr.strip().splitlines()) == 1


TRAIN_ERRORS = {
    "pix2pix-on-mnist": (["model=pix2pix"], ("model=pix2pix", "data=fashion_edges")),
    "dcgan-on-edges": (["model=dcgan", "data=fashion_edges", "data.root={fashion}"], ("model=dcgan", "data=mnist")),
    "pix2pix-unpaired": (["model=pix2pix", "data=unpaired_folder", "data.path={unpaired}"], ("paired", "cyclegan")),
    "pix2pix-28px": (["model=pix2pix", "data=fashion_edges", "data.root={fashion}", "model.image_size=28"], ("28", "16, 32, 64")),
    "cyclegan-30px": (["model=cyclegan", "data=fashion_edges", "data.root={fashion}", "model.image_size=30"], ("30", "multiple of 4")),
    "too-deep-patchgan": (["model=pix2pix", "data=fashion_edges", "data.root={fashion}", "model.d_layers=6"], ("model.d_layers",)),
    "paired-missing-split": (["model=pix2pix", "data=paired_folder", "data.path={fashion}"], ("train", "DIR/A/train")),
    "bad-direction": (["model=pix2pix", "data=fashion_edges", "data.direction=CtoD"], ("data.direction",)),
    "negative-decay-start": (["model=cyclegan", "optimizer.decay_start=-0.5"], ("optimizer.decay_start",)),
}


def test_translation_train_errors_are_one_line_and_write_nothing(folders, fake_mnist_root, tmp_path):
    def command(args: list[str], case: str) -> list[str]:
        data_root = [] if "data.root" in " ".join(args) else [f"data.root={fake_mnist_root}"]
        return [*(a.format(**folders) for a in args), *data_root, "train.batch_size=4", f"hydra.run.dir={tmp_path / case}", "device=cpu"]

    calls = {case: ("gan-train", command(args, case), tmp_path) for case, (args, _) in TRAIN_ERRORS.items()}
    for case, result in run_many(calls).items():
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, describe(result)
        for expected in TRAIN_ERRORS[case][1]:
            assert expected in lines[0], describe(result)
        assert not (tmp_path / case).exists(), f"{case} wrote a run directory"


def quiet() -> Console:
    return Console(file=io.StringIO())


@pytest.mark.parametrize("model", ["pix2pix", "cyclegan"])
def test_resume_is_bit_exact_with_pools_and_schedule(model, folders, tmp_path):
    """8 steps straight equal the straight run's step-4 checkpoint resumed for 4 more, bit for bit:
    data order, crops, dropout, the image pools and the decaying rate all continue where they were."""
    paper = ["model.dropout=0.5"] if model == "pix2pix" else []  # dropout draws from the RNG that resume restores
    crops = ["data.jitter=true"]  # fashion_edges has none by default
    args = translation_args(model, "data=fashion_edges", f"data.root={folders['fashion']}", "train.deterministic=true", *paper, *crops)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(compose_config([*args, "train.steps=8"]), straight, quiet())
    (resumed / "checkpoints").mkdir(parents=True)
    halfway = shutil.copy2(straight / "checkpoints" / "step_0000004.pt", resumed / "checkpoints" / "step_0000004.pt")
    summary = train(compose_config([*args, "train.steps=8", f"resume={halfway}"]), resumed, quiet())
    assert summary["steps_this_session"] == 4
    a, b = (load_checkpoint(d / "checkpoints" / "last.pt") for d in (straight, resumed))
    for name in a["networks"]:
        for key, tensor in a["networks"][name].items():
            assert torch.equal(tensor, b["networks"][name][key]), f"{name}.{key}"
    for key, tensor in a["family_state"].items():
        assert torch.equal(tensor, b["family_state"][key]), key
    rates = [group["lr"] for opt in a["optimizers"].values() for group in opt["param_groups"]]
    assert rates == [group["lr"] for opt in b["optimizers"].values() for group in opt["param_groups"]]
    assert 0 < rates[0] < 2e-4  # the linear decay has begun


def test_best_checkpoint_can_follow_a_held_out_score(folders, tmp_path):
    args = translation_args("pix2pix", "data=fashion_edges", f"data.root={folders['fashion']}", "train.best_metric=eval/psnr")
    summary = train(compose_config(args), tmp_path / "run", quiet())
    best = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    scores = [record["eval/psnr"] for record in logged if "eval/psnr" in record]
    assert len(scores) >= 2 and summary["eval/psnr"] == pytest.approx(scores[-1], abs=1e-4)
    assert best["best"] == pytest.approx(max(scores), abs=1e-4)  # the highest PSNR, not the lowest FID


def test_lsgan_trains_the_noise_families_too(fake_mnist_root, tmp_path):
    result = run_cli("gan-train", *tiny_args("dcgan", "loss=lsgan", f"data.root={fake_mnist_root}", f"hydra.run.dir={tmp_path / 'r'}"), cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert np.isfinite(summary["loss/d"]) and np.isfinite(summary["loss/g"])


def test_help_explains_the_program_and_lists_only_real_options(tmp_path):
    result = run_cli("gan-train", "model=pix2pix", "--help", cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    text = result.stdout
    assert text.index("writes a dated run directory") < text.index("Groups:")
    assert "_schema" not in text
    assert "pix2pix" in text and "fashion_edges" in text and "lsgan" in text
    assert "model.l1_weight=100.0" in text and "λ" in text  # the key, its value and what it does
    assert not list(tmp_path.iterdir())  # help writes nothing
