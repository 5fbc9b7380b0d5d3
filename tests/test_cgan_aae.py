"""model=cgan and model=aae through the real CLI on a tiny fake MNIST, and gan-sample in every mode.

Each family trains once per module (a subprocess costs seconds); the sampling modes run in-process on
those checkpoints, and every bad input runs through the real gan-sample to check its one-line error.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run_many
from gan_cli.commands.sample import SampleConfig, family_from_checkpoint, sample
from gan_cli.data.idx import write_idx
from gan_cli.data.memory import resize_uint8
from gan_cli.families import FAMILIES, load_families
from gan_cli.training.checkpoint import load_checkpoint

BIN = Path(sys.executable).parent
CLASSES = 10
TRAIN_IMAGES = 96
IMAGE_SIZE = 16
CGAN_TINY = ["model=cgan", "model.ngf=8", "model.ndf=8", "model.nz=6", f"model.image_size={IMAGE_SIZE}"]
AAE_TINY = ["model=aae", "model.nz=4", "model.hidden=[64]", "model.d_hidden=[64,64]", f"model.image_size={IMAGE_SIZE}"]


def run_cli(program: str, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / program), *args], capture_output=True, text=True, timeout=timeout)


def fake_digits(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """28x28 uint8 images of one bright bar whose height follows the label; its exact place, length,
    thickness and the background noise vary, so the data has continuous variation to encode."""
    labels = np.arange(count) % CLASSES
    images = np.zeros((count, 28, 28), dtype=np.uint8)
    for image, label in zip(images, labels):
        image[:] = rng.integers(0, rng.integers(1, 60), size=(28, 28))
        top, thickness = 2 + 2 * int(label) + rng.integers(0, 3), rng.integers(2, 5)
        left, right = rng.integers(2, 10), rng.integers(18, 27)
        image[top : top + thickness, left:right] = rng.integers(150, 256)
    return images, labels.astype(np.uint8)


@pytest.fixture(scope="module")
def mnist_root(tmp_path_factory) -> Path:
    """A tiny labeled MNIST in the raw IDX layout that load_mnist reads first."""
    root = tmp_path_factory.mktemp("mnist")
    raw = root / "MNIST" / "raw"
    rng = np.random.default_rng(0)
    for prefix, count in (("train", TRAIN_IMAGES), ("t10k", 20)):
        images, labels = fake_digits(rng, count)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root


def train_tiny(model_args: list[str], root: Path, run_dir: Path, steps: int, sample_every: int, extra: tuple[str, ...] = ()) -> Path:
    result = run_cli(
        "gan-train",
        [
            *model_args,
            f"data.root={root}",
            "data.download=false",
            "device=cpu",
            f"train.steps={steps}",
            "train.batch_size=16",
            f"train.log_every={sample_every}",
            f"train.sample_every={sample_every}",
            "train.checkpoint_every=1000",
            "train.num_samples=20",
            *extra,
            f"hydra.run.dir={run_dir}",
        ],
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return run_dir


@pytest.fixture(scope="module")
def cgan_run(mnist_root, tmp_path_factory) -> Path:
    return train_tiny(CGAN_TINY, mnist_root, tmp_path_factory.mktemp("cgan"), steps=3, sample_every=2)


@pytest.fixture(scope="module")
def aae_run(mnist_root, tmp_path_factory) -> Path:
    # Enough steps for the code to settle near the prior on 96 images; an MLP step takes milliseconds.
    return train_tiny(AAE_TINY, mnist_root, tmp_path_factory.mktemp("aae"), steps=300, sample_every=300, extra=("optimizer.lr=1e-3",))


def png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def grid_shape(path: Path, image_size: int = IMAGE_SIZE, padding: int = 2) -> tuple[int, int]:
    """(rows, columns) of a make_grid PNG of square images."""
    width, height = png_size(path)
    cell = image_size + padding
    return (height - padding) // cell, (width - padding) // cell


# --- training -----------------------------------------------------------------------------------------


def test_cgan_trains_and_checkpoints_its_grid(cgan_run):
    payload = load_checkpoint(cgan_run / "checkpoints" / "last.pt")
    assert payload["family"] == "cgan" and payload["step"] == 3
    assert payload["data_info"]["num_classes"] == CLASSES
    grid = payload["grid"]
    # 20 samples over 10 classes: one row per class, two per row, the same z down each column.
    assert grid["nrow"] == 2
    assert grid["inputs"]["label"].tolist() == [k for k in range(CLASSES) for _ in range(2)]
    z = grid["inputs"]["z"].view(CLASSES, 2, -1)
    assert torch.equal(z[0], z[-1])
    assert grid_shape(cgan_run / "samples" / "step_0000002.png") == (CLASSES, 2)


def test_cgan_mlp_arch_trains(mnist_root, tmp_path):
    from gan_cli.commands.compose import compose_config
    from gan_cli.training.train import train

    cfg = compose_config(
        ["model=cgan", "model.arch=mlp", "model.g_hidden=[32]", "model.d_hidden=[32]", "model.image_size=12",
         f"data.root={mnist_root}", "data.download=false", "device=cpu", "train.steps=2", "train.batch_size=16"]
    )
    summary = train(cfg, tmp_path)
    assert summary["steps"] == 2 and np.isfinite(summary["loss/g"])
    networks = load_checkpoint(tmp_path / "checkpoints" / "last.pt")["networks"]
    assert any(key.startswith("net.") for key in networks["D"])  # the MLP discriminator, not the conv one


def test_cgan_takes_labels_from_class_subfolders(tmp_path):
    from gan_cli.commands.compose import compose_config
    from gan_cli.training.train import train

    images, labels = fake_digits(np.random.default_rng(2), 12)
    for i, (image, label) in enumerate(zip(images, labels % 3)):
        (tmp_path / "data" / f"class{label}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(tmp_path / "data" / f"class{label}" / f"{i}.png")
    cfg = compose_config(
        [*CGAN_TINY, "data=image_folder", f"data.path={tmp_path / 'data'}", "data.channels=1", "device=cpu",
         "train.steps=1", "train.batch_size=4", "train.num_samples=6"]
    )
    train(cfg, tmp_path / "run")
    payload = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert payload["data_info"]["num_classes"] == 3
    assert payload["grid"]["inputs"]["label"].tolist() == [0, 0, 1, 1, 2, 2]


def test_aae_logs_its_scalars(aae_run):
    summary = json.loads((aae_run / "summary.json").read_text())
    for key in ("loss/recon", "loss/d", "loss/g", "d/real", "d/fake"):
        assert np.isfinite(summary[key]), key


def code_moments_error(family, images: torch.Tensor) -> tuple[float, float]:
    """How far the codes' per-coordinate mean and std are from the prior's 0 and 1, on average."""
    with torch.no_grad():
        codes = family.encode(images)
    return float(codes.mean(0).abs().mean()), float((codes.std(0) - 1).abs().mean())


def test_aae_code_moves_toward_the_prior(aae_run, mnist_root):
    payload = load_checkpoint(aae_run / "checkpoints" / "last.pt")
    trained = family_from_checkpoint(payload, torch.device("cpu"))
    load_families()
    torch.manual_seed(payload["config"]["train"]["seed"])  # the loop's initialisation
    untrained = FAMILIES.get("aae")(trained.model_cfg, trained.data, trained.loss_cfg, 1)
    untrained.networks.eval()
    images, _ = fake_digits(np.random.default_rng(0), TRAIN_IMAGES)
    pixels = resize_uint8(torch.from_numpy(images).unsqueeze(1), IMAGE_SIZE).float().mul(2 / 255).sub(1)
    before, after = code_moments_error(untrained, pixels), code_moments_error(trained, pixels)
    # An untrained encoder's codes sit near 0 with a std near 0.1; training spreads them toward N(0, I).
    assert sum(after) < 0.8 * sum(before), (before, after)
    assert after[1] < before[1], (before, after)


# --- sampling -----------------------------------------------------------------------------------------


def sample_in(run_dir: Path, out: Path, **options) -> list[Path]:
    return sample(SampleConfig(ckpt=str(run_dir / "checkpoints" / "last.pt"), out=str(out), device="cpu", **options)).files


def test_cgan_label_draws_that_class(cgan_run, tmp_path):
    written = sample_in(cgan_run, tmp_path / "singles", label="3", n=6, individual=True)
    assert [p.name for p in written] == [f"{i:06d}_label3.png" for i in range(6)]
    (grid,) = sample_in(cgan_run, tmp_path / "grid", label="3", n=6)
    assert grid.name == "grid_seed0_label3.png"


def test_cgan_label_all_is_one_row_per_class(cgan_run, tmp_path):
    (grid,) = sample_in(cgan_run, tmp_path / "grid", n=25)  # label=all is the default
    assert grid_shape(grid) == (CLASSES, 3)
    written = sample_in(cgan_run, tmp_path / "singles", n=25, individual=True)
    labels = [int(p.stem.split("_label")[1]) for p in written]
    assert labels == [k for k in range(CLASSES) for _ in range(3)]


def test_unconditional_grid_keeps_its_names(aae_run, tmp_path):
    written = sample_in(aae_run, tmp_path, n=5, individual=True)
    assert [p.name for p in written] == [f"{i:06d}.png" for i in range(5)]


@pytest.mark.parametrize("which", ["cgan", "aae"])
def test_interpolate_writes_a_strip_and_a_gif(which, cgan_run, aae_run, tmp_path):
    run, rows = (cgan_run, CLASSES) if which == "cgan" else (aae_run, 1)
    strip, gif = sample_in(run, tmp_path, mode="interpolate", steps=5, seed=2)
    assert strip.name == "interpolate_seed2-3.png" and gif.name == "interpolate_seed2-3.gif"
    assert grid_shape(strip) == (rows, 5)
    with Image.open(gif) as animation:
        assert animation.n_frames == 8  # there and back


def test_interpolate_label_gives_one_row(cgan_run, tmp_path):
    strip, _ = sample_in(cgan_run, tmp_path, mode="interpolate", steps=4, label="7", lerp=True)
    assert grid_shape(strip) == (1, 4)


@pytest.mark.parametrize("which", ["cgan", "aae"])
def test_walk_varies_one_coordinate(which, cgan_run, aae_run, tmp_path):
    run, rows = (cgan_run, CLASSES) if which == "cgan" else (aae_run, 3)
    (walk_png,) = sample_in(run, tmp_path, mode="walk", dim=1, steps=6, rows=3)
    assert walk_png.name == "walk_dim1_seed0.png"
    assert grid_shape(walk_png) == (rows, 6)


@pytest.mark.parametrize("which", ["cgan", "aae"])
def test_arithmetic_reports_what_it_computed(which, cgan_run, aae_run, tmp_path):
    run = cgan_run if which == "cgan" else aae_run
    picture, report_path = sample_in(run, tmp_path, mode="arithmetic", rows=2, pool=80, label="4" if which == "cgan" else None)
    report = json.loads(report_path.read_text())
    assert grid_shape(picture) == (2, 5)
    assert [c["alpha"] for c in report["columns"]] == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert report["heavy_mean_ink"] >= report["light_mean_ink"]
    assert report["row_labels"] == ([4, 4] if which == "cgan" else None)


def test_aae_reconstructs_a_folder(aae_run, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    images, _ = fake_digits(np.random.default_rng(1), 5)
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{i}.png")
    (picture,) = sample_in(aae_run, tmp_path / "out", mode="reconstruct", input=str(folder), nrow=5)
    assert grid_shape(picture) == (1, 10)  # five original / reconstruction pairs side by side


def test_cli_prints_the_paths_it_wrote(cgan_run, tmp_path):
    ckpt = cgan_run / "checkpoints" / "last.pt"
    result = run_cli("gan-sample", [f"ckpt={ckpt}", "mode=interpolate", "steps=3", "label=2", f"out={tmp_path}", "device=cpu"])
    assert result.returncode == 0, result.stderr
    printed = [Path(line) for line in result.stdout.split()]
    assert [p.name for p in printed] == ["interpolate_seed0-1_label2.png", "interpolate_seed0-1_label2.gif"]
    assert all(p.is_file() for p in printed)


# --- bad input: one line each -------------------------------------------------------------------------


def empty_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir(exist_ok=True)
    return folder


BAD_SAMPLE_INPUTS = {
    "label out of range": ("cgan", ["label=10"], "out of range"),
    "label on an unconditional checkpoint": ("aae", ["label=3"], "conditional"),
    "dim out of range": ("aae", ["mode=walk", "dim=4"], "dim=0..3"),
    "mode unknown": ("aae", ["mode=morph"], "interpolate"),
    "input folder missing": ("aae", ["mode=reconstruct", "input=/no/such/folder"], "not a folder"),
    "input folder empty": ("aae", ["mode=reconstruct", "input={empty}"], "holds no images"),
}


@pytest.fixture(scope="module")
def bad_sample_results(cgan_run, aae_run, tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """Every case of BAD_SAMPLE_INPUTS through the real gan-sample, side by side."""
    base = tmp_path_factory.mktemp("bad_sample")
    empty = empty_folder(base)
    calls = {}
    for index, (case, (which, args, _)) in enumerate(BAD_SAMPLE_INPUTS.items()):
        ckpt = (cgan_run if which == "cgan" else aae_run) / "checkpoints" / "last.pt"
        calls[case] = ("gan-sample", [f"ckpt={ckpt}", *(a.format(empty=empty) for a in args), f"out={base / str(index)}", "device=cpu"], base)
    return run_many(calls)


@pytest.mark.parametrize("case", list(BAD_SAMPLE_INPUTS))
def test_bad_sample_input_is_one_line(case, bad_sample_results):
    result = bad_sample_results[case]
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gan-sample: error:"), result.stderr
    assert BAD_SAMPLE_INPUTS[case][2] in lines[0]


def test_cgan_on_unlabeled_data_is_one_line(tmp_path):
    folder = tmp_path / "flat"
    folder.mkdir()
    for i in range(8):
        Image.fromarray(np.full((16, 16), i * 20, dtype=np.uint8)).save(folder / f"{i}.png")
    result = run_cli(
        "gan-train",
        [*CGAN_TINY, "data=image_folder", f"data.path={folder}", "data.channels=1", "device=cpu",
         "train.steps=1", "train.batch_size=4", f"hydra.run.dir={tmp_path / 'run'}"],
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "model=cgan needs labeled data" in lines[0], result.stderr
    assert "data=mnist" in lines[0]
