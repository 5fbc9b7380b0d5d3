"""gan-eval end to end: a checkpoint, a folder, JSON output, and each bad input's one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import (
    TINY_FAMILIES,
    TINY_TRAIN,
    cli_env,
    describe,
    draw_shapes,
    program_path,
    run_cli,
    run_many,
    write_png_folder,
)
from gan_cli.commands.evaluate import EvalCommand
from translation_data import write_aligned_folder

SCORES = {"fid", "kid", "kid_std", "precision", "recall", "density", "coverage"}


@pytest.fixture(scope="module")
def cgan_run(tmp_path_factory, fake_mnist_root) -> Path:
    run_dir = tmp_path_factory.mktemp("eval") / "cgan"
    args = [*TINY_FAMILIES["cgan"], *TINY_TRAIN, f"data.root={fake_mnist_root}", f"hydra.run.dir={run_dir}"]
    result = run_cli("gan-train", *args, cwd=run_dir.parent)
    assert result.returncode == 0, describe(result)
    return run_dir


def test_a_checkpoint_scores_as_its_training_did(cgan_run, tmp_path):
    result = run_cli("gan-eval", f"ckpt={cgan_run / 'checkpoints' / 'last.pt'}", "json=true", cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    report = json.loads(result.stdout)
    assert SCORES | {"class_accuracy", "extractor", "real", "real_images", "generated_images"} <= report.keys()
    trained = [json.loads(line) for line in (cgan_run / "metrics.jsonl").read_text().splitlines()][-1]
    assert report["fid"] == pytest.approx(trained["eval/fid"], rel=1e-4)  # same seed, data and extractor
    assert (report["real"], report["generated_images"]) == ("mnist train split", 150)


def test_a_run_directory_stands_for_its_last_checkpoint(cgan_run, tmp_path):
    results = run_many({way: ("gan-eval", [f"ckpt={ckpt}", "json=true"], tmp_path) for way, ckpt in (("dir", cgan_run), ("file", cgan_run / "checkpoints" / "last.pt"))})
    reports = {}
    for way, result in results.items():
        assert result.returncode == 0, describe(result)
        reports[way] = json.loads(result.stdout)
    assert reports["dir"]["fid"] == reports["file"]["fid"]
    assert reports["dir"]["source"].startswith(str(cgan_run / "checkpoints" / "last.pt"))


def test_the_table_names_every_metric_and_the_extractor(cgan_run, tmp_path):
    result = run_cli("gan-eval", f"ckpt={cgan_run / 'checkpoints' / 'last.pt'}", "eval.num_samples=200", cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    for word in ("fid", "kid", "precision", "recall", "density", "coverage", "class_accuracy", "extractor", "classifier", "200"):
        assert word in result.stdout, result.stdout


def test_a_folder_scores_against_the_named_data(fake_mnist_root, tmp_path):
    """Real test images against the train split score far better than noise-like shapes in colour."""
    real_like = tmp_path / "real_like"
    real_like.mkdir()
    for i, pixels in enumerate(draw_shapes(160, 28, np.random.default_rng(5))):
        Image.fromarray(pixels, "L").save(real_like / f"{i:04d}.png")
    noise = tmp_path / "noise"
    noise.mkdir()
    for i, pixels in enumerate(np.random.default_rng(6).integers(0, 256, (160, 28, 28), dtype=np.uint8)):
        Image.fromarray(pixels, "L").save(noise / f"{i:04d}.png")
    data = ["data=mnist", f"data.root={fake_mnist_root}", "json=true", "eval.num_samples=150"]
    results = run_many({name: ("gan-eval", [f"images={folder}", *data], tmp_path) for name, folder in (("real", real_like), ("noise", noise))})
    reports = {}
    for name, result in results.items():
        assert result.returncode == 0, describe(result)
        reports[name] = json.loads(result.stdout)
    assert reports["real"]["fid"] < reports["noise"]["fid"]
    assert reports["real"]["generated_images"] == 160 and "class_accuracy" not in reports["real"]


BAD = {
    "nothing": ([], "give one of ckpt=PATH or images=DIR"),
    "both": (["ckpt=a.pt", "images=b"], "give one of ckpt=PATH or images=DIR"),
    "unknown key": (["ckpt=a.pt", "model.nz=3"], "gan-eval does not take model.nz="),
    "missing folder": (["images={tmp}/none", "data=mnist"], "is not a folder"),
    "empty folder": (["images={empty}", "data=mnist"], "holds no images"),
    "unreadable image": (["images={broken}", "data=mnist"], "cannot read image"),
    "too few": (["ckpt={ckpt}", "eval.num_samples=20"], "eval.num_samples=20 is too few for FID on classifier features (128-d): it needs at least 129"),
    "translation data": (["images={valid}", "data=paired_folder", "data.path={paired}"], "data=paired_folder is translation data"),
    "translation checkpoint on image data": (["ckpt={pix2pix}", "data=mnist"], "data=mnist is not translation data"),
    "folder without a checkpoint": (["ckpt={empty}"], "no checkpoints/last.pt"),
    "no inception": (["ckpt={ckpt}", "eval.extractor=inception", "eval.inception_weights={tmp}/x.pth"], "put weights-inception-2015-12-05-6726825d.pth"),
}


@pytest.fixture(scope="module")
def pix2pix_checkpoint(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("eval_pix2pix")
    paired = write_aligned_folder(root / "paired", {"train": 8, "val": 2})
    args = [a.format(paired=paired) for a in TINY_FAMILIES["pix2pix"]]
    result = run_cli("gan-train", *args, *TINY_TRAIN, "train.batch_size=4", "train.steps=1", f"hydra.run.dir={root / 'run'}", cwd=root)
    assert result.returncode == 0, describe(result)
    return root / "run" / "checkpoints" / "last.pt"


def test_each_bad_input_is_one_line(cgan_run, pix2pix_checkpoint, fake_mnist_root, tmp_path):
    (tmp_path / "empty").mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "0.png").write_bytes(b"not a png")
    valid = write_png_folder(tmp_path / "valid", 1, seed=0, size=(16, 16))
    values = {
        "tmp": tmp_path, "valid": valid, "empty": tmp_path / "empty", "broken": broken, "ckpt": cgan_run / "checkpoints" / "last.pt",
        "pix2pix": pix2pix_checkpoint, "paired": pix2pix_checkpoint.parents[2] / "paired",
    }
    calls = {
        case: ("gan-eval", [a.format(**values) for a in args] + [f"data.root={fake_mnist_root}"] * ("data=mnist" in args), tmp_path)
        for case, (args, _) in BAD.items()
    }
    for case, result in run_many(calls).items():
        expected = BAD[case][1]
        assert result.returncode == 2, (case, describe(result))
        assert result.stderr.strip().count("\n") == 0 and expected in result.stderr, (case, describe(result))
        assert "Traceback" not in result.stderr


def test_an_rgb_folder_is_read_as_grayscale_against_grayscale_data(fake_mnist_root, tmp_path):
    """Generated images are read with the real data's channels."""
    folder = write_png_folder(tmp_path / "rgb", 140, seed=3, size=(28, 28))
    result = run_cli("gan-eval", f"images={folder}", "data=mnist", f"data.root={fake_mnist_root}", "json=true", cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    assert json.loads(result.stdout)["generated_images"] == 140


def started_reading(path: Path, process: subprocess.Popen, timeout_s: float = 120) -> None:
    """Wait until ``process`` reads ``path``: its access time moves on (relatime updates an access time
    older than the file's modification), so the process is past its imports and at work."""
    os.utime(path, (0, path.stat().st_mtime))
    deadline = time.monotonic() + timeout_s
    while path.stat().st_atime == 0 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)


def test_ctrl_c_stops_in_one_line(cgan_run, tmp_path):
    """SIGINT while scoring: exit 130, one line, no traceback."""
    ckpt = tmp_path / "run" / "checkpoints" / "last.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes((cgan_run / "checkpoints" / "last.pt").read_bytes())
    # A cache of its own: the classifier is trained afresh, so scoring lasts long enough to interrupt.
    env = cli_env(GAN_CLI_CACHE=str(tmp_path / "cache"))
    process = subprocess.Popen([str(program_path("gan-eval")), f"ckpt={ckpt}"],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started_reading(ckpt, process)
    if ckpt.stat().st_atime == 0 and process.poll() is None:
        process.kill()
        process.communicate()
        pytest.skip("this filesystem keeps no access times, so the test cannot tell when gan-eval is at work")
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, (stdout, stderr)
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr and len(lines) == 1 and lines[0].startswith("gan-eval: error:"), stderr
    assert not list((tmp_path / "cache").glob("**/*.tmp"))


def test_help_describes_the_command_and_every_key():
    result = run_cli("gan-eval", "--help", cwd=Path.cwd())
    assert result.returncode == 0, describe(result)
    text = result.stdout
    assert text.startswith("usage: gan-eval ")
    assert all(f"  {key}=" in text for key in EvalCommand.__dataclass_fields__)
    assert "  eval.num_samples=" in text and "  device.type=" in text  # the overrides gan-eval takes, from gan-train's schema
    assert "Examples:" in text and "images=" in text and "ckpt: null" not in text
