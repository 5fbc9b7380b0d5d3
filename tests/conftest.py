"""Shared fixtures: tiny fake data, the real CLI in a subprocess, and one tiny run per model family.

Every test that trains goes through the installed console scripts (`gan-train`, `gan-sample`), as a
user would, with overrides small enough that a run takes a few seconds on a CPU.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_cli.data.idx import write_idx

BIN_DIR = Path(sys.executable).parent
CLI_TIMEOUT_S = 300
CLI_WORKERS = max(1, min(4, os.cpu_count() or 1))

TINY = {
    "dcgan": ["model=dcgan", "model.image_size=16", "model.ngf=8", "model.ndf=8", "model.nz=8"],
    "gan": ["model=gan", "model.image_size=16", "model.g_hidden=[32]", "model.d_hidden=[32]", "model.nz=8"],
}
TINY_TRAIN = [
    "train.steps=6",
    "train.batch_size=16",
    "train.log_every=2",
    "train.sample_every=3",
    "train.checkpoint_every=3",
    "train.num_samples=16",
    "eval.num_samples=150",  # enough for FID on the classifier's 128-d features
    "device=cpu",
]
MODELS = tuple(TINY)
# Every family at its smallest; "{paired}" stands for a paired folder (translation_data.write_aligned_folder).
TINY_FAMILIES = {
    "gan": ["model=gan", "model.image_size=16", "model.g_hidden=[16]", "model.d_hidden=[16]", "model.nz=4"],
    "dcgan": ["model=dcgan", "model.image_size=16", "model.ngf=4", "model.ndf=4", "model.nz=4"],
    "cgan": ["model=cgan", "model.image_size=16", "model.ngf=4", "model.ndf=4", "model.nz=4"],
    "aae": ["model=aae", "model.image_size=16", "model.hidden=[16]", "model.d_hidden=[16]", "model.nz=2"],
    "pix2pix": ["model=pix2pix", "data=paired_folder", "data.path={paired}", "model.ngf=4", "model.ndf=4", "model.image_size=16"],
    "cyclegan": ["model=cyclegan", "data=paired_folder", "data.path={paired}", "model.ngf=4", "model.ndf=4", "model.image_size=16"],
}
FAULT_DRIVER = Path(__file__).with_name("fault_driver.py")  # gan-train with one injected fault
FAKE_MNIST_COUNTS = {"train": 256, "t10k": 64}
NO_INTERNET_URL = "http://127.0.0.1:9/weights-inception.pth"  # a refused port: no test downloads from the internet


def program_path(program: str) -> Path:
    """The console script installed beside this interpreter (the project's venv), never one on PATH."""
    found = shutil.which(program, path=str(BIN_DIR))
    if found is None:
        pytest.fail(f"{program} is not installed in {BIN_DIR}; run `pip install -e .` in the venv")
    return Path(found)


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "GAN_CLI_DATA"}
    # One torch thread per process: the tiny nets gain nothing from more, and on a busy 2-core machine
    # oversubscribed OpenMP threads make each run several times slower.
    env.update(COLUMNS="200", TERM="dumb", OMP_NUM_THREADS="1")
    # No test reaches the internet: a download of the Inception weights meets a refused loopback port.
    env.update(GAN_CLI_INCEPTION_URL=NO_INTERNET_URL, WANDB_MODE="offline")  # nor does W&B, with anyone's API key
    env.update(extra)
    return env


def run_cli(program: str, *args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `gan-train` or `gan-sample` with string arguments, as a user would; never raises on failure."""
    return subprocess.run(
        [str(program_path(program)), *map(str, args)],
        cwd=cwd,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
    )


def run_many(calls: dict) -> dict[str, subprocess.CompletedProcess]:
    """Run several independent CLI calls at once, ``{key: (program, args, cwd[, env])}`` → ``{key: result}``.

    Each call is a separate process that spends most of its few seconds importing torch and Hydra, so
    running them side by side roughly divides the wall time by the number of cores.
    """
    with ThreadPoolExecutor(max_workers=CLI_WORKERS) as pool:
        futures = {key: pool.submit(lambda c: run_cli(c[0], *c[1], cwd=c[2], env=c[3] if len(c) > 3 else None), call)
                   for key, call in calls.items()}
        return {key: future.result() for key, future in futures.items()}


def describe(result: subprocess.CompletedProcess) -> str:
    """What a failing assertion shows: the command, its exit code and its output."""
    return f"$ {' '.join(result.args)}\nexit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def tiny_args(model: str, *extra: str) -> list[str]:
    return [*TINY[model], *TINY_TRAIN, *extra]


# ---------------------------------------------------------------------------------------------- data


def draw_shapes(count: int, size: int | tuple[int, int], rng: np.random.Generator, channels: int = 1) -> np.ndarray:
    """uint8 images [count, H, W] (or [count, H, W, 3]), each one filled square or disc at a random place."""
    height, width = (size, size) if isinstance(size, int) else size
    yy, xx = np.mgrid[0:height, 0:width]
    images = np.zeros((count, height, width, channels), dtype=np.uint8)
    for i in range(count):
        cy, cx = rng.integers(height // 4, 3 * height // 4), rng.integers(width // 4, 3 * width // 4)
        r = rng.integers(max(2, min(height, width) // 8), max(3, min(height, width) // 3))
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r if i % 2 else (abs(yy - cy) <= r) & (abs(xx - cx) <= r)
        images[i][mask] = rng.integers(128, 256, size=channels, dtype=np.uint8)
    return images[..., 0] if channels == 1 else images


def write_fake_mnist(root: Path) -> Path:
    raw = root / "MNIST" / "raw"
    rng = np.random.default_rng(0)
    for prefix, count in FAKE_MNIST_COUNTS.items():
        write_idx(raw / f"{prefix}-images-idx3-ubyte", draw_shapes(count, 28, rng))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", (np.arange(count) % 10).astype(np.uint8))
    return root


def write_png_folder(folder: Path, count: int, seed: int, size=(20, 24)) -> Path:
    """`count` RGB PNGs of `size` (height, width) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, pixels in enumerate(draw_shapes(count, size, np.random.default_rng(seed), channels=3)):
        Image.fromarray(pixels, "RGB").save(folder / f"img_{i:03d}.png")
    return folder


@pytest.fixture(scope="session", autouse=True)
def metrics_cache(tmp_path_factory) -> Path:
    """One cache of trained classifiers and real features for the session, never the user's own."""
    folder = tmp_path_factory.mktemp("metrics_cache")
    os.environ["GAN_CLI_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session", autouse=True)
def no_internet_downloads() -> None:
    """In-process code sees the same refused download address as the CLI runs (cli_env)."""
    os.environ["GAN_CLI_INCEPTION_URL"] = NO_INTERNET_URL


@pytest.fixture(scope="session")
def fake_mnist_root(tmp_path_factory) -> Path:
    """A data root whose MNIST/raw holds 256 train and 64 test fake 28x28 digits, so nothing is downloaded."""
    return write_fake_mnist(tmp_path_factory.mktemp("fake_mnist"))


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> Path:
    """40 unlabeled 20x24 RGB PNGs."""
    return write_png_folder(tmp_path_factory.mktemp("image_folder") / "images", 40, seed=1)


@pytest.fixture(scope="session")
def labeled_image_folder(tmp_path_factory) -> Path:
    """Two class subfolders (circle/, square/) of 20 RGB PNGs each."""
    root = tmp_path_factory.mktemp("labeled_image_folder") / "images"
    for index, name in enumerate(("circle", "square")):
        write_png_folder(root / name, 20, seed=10 + index)
    return root


# ------------------------------------------------------------------------------------------- runs


class TrainedRun:
    """A finished tiny gan-train run: its directory, the CLI's result and handy paths."""

    def __init__(self, model: str, run_dir: Path, result: subprocess.CompletedProcess):
        self.model = model
        self.run_dir = run_dir
        self.result = result

    @property
    def last(self) -> Path:
        return self.run_dir / "checkpoints" / "last.pt"


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory, fake_mnist_root) -> dict[str, TrainedRun]:
    """Each tiny model trained once through the real CLI on the default data (MNIST, from the fake root)."""
    base = tmp_path_factory.mktemp("trained")
    run_dirs = {model: base / f"run_{model}" for model in MODELS}
    results = run_many(
        {
            model: ("gan-train", tiny_args(model, f"data.root={fake_mnist_root}", f"hydra.run.dir={run_dir}"), base)
            for model, run_dir in run_dirs.items()
        }
    )
    runs = {}
    for model, result in results.items():
        assert result.returncode == 0, describe(result)
        runs[model] = TrainedRun(model, run_dirs[model], result)
    return runs


@pytest.fixture(scope="session", params=MODELS)
def trained_run(request, trained_runs) -> TrainedRun:
    """One tiny finished run per model family."""
    return trained_runs[request.param]


@pytest.fixture(scope="session")
def dcgan_checkpoint(trained_runs) -> Path:
    return trained_runs["dcgan"].last
