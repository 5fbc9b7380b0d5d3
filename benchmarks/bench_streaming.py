"""Streaming from disk against holding the data in memory: DCGAN at 64 px on a folder of JPEGs.

    python benchmarks/bench_streaming.py                    # 6,000 JPEGs, 40 timed steps per path
    python benchmarks/bench_streaming.py --images 2000 --steps 20 --workers 2

The folder is made once (MNIST digits, resized to 64x64 RGB JPEGs, under --folder). Both paths train
the same gan-train config through the real core (``build_run`` → ``train_step``): in memory (the
default for a folder that fits), and streamed (``data.memory_budget`` set below the folder's size, so
``--workers`` DataLoader processes decode each batch). The target: streaming at 80% or more of the
in-memory images/s. Precision and compile are gan-train's defaults for this machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from PIL import Image
from rich.console import Console

from gan_cli.commands.compose import compose_config
from gan_cli.data.mnist import load_mnist
from gan_cli.device.machine import describe_machine
from gan_cli.training.train import build_run, train_step

TARGET = 0.8


def make_folder(folder: Path, count: int) -> Path:
    """``count`` MNIST digits as 64x64 RGB JPEGs, written once."""
    if len(list(folder.glob("*.jpg"))) >= count:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    root = Path(compose_config(["data=mnist"]).data.root).expanduser()
    images, _ = load_mnist(root, train=True, download=False)
    for index, digit in enumerate(images[:count, 0].numpy()):
        Image.fromarray(digit).resize((64, 64), Image.Resampling.BICUBIC).convert("RGB").save(folder / f"{index:06d}.jpg", quality=90)
    return folder


def images_per_s(overrides: list[str], steps: int, warmup: int) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as run_dir:
        run = build_run(compose_config(overrides), Path(run_dir), console=Console(quiet=True))
        kind = type(run.stream.dataset).__name__
        for _ in range(warmup):
            train_step(run)
        started = time.perf_counter()
        for _ in range(steps):
            train_step(run)
        seconds = time.perf_counter() - started
        run.stream.close()
    return steps * run.cfg.train.batch_size / seconds, kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--folder", type=Path, default=Path("outputs/bench_streaming/jpegs"))
    args = parser.parse_args()
    folder = make_folder(args.folder, args.images)
    common = ["model=dcgan", "model.image_size=64", "data=image_folder", f"data.path={folder.resolve()}", f"data.limit={args.images}",
              "eval.enabled=false", "train.batch_size=128", "device=cpu"]
    print(describe_machine())
    held, held_kind = images_per_s(common, args.steps, args.warmup)
    streamed, streamed_kind = images_per_s([*common, "data.memory_budget=0.001", f"data.workers={args.workers}"], args.steps, args.warmup)
    ratio = streamed / held
    print(f"\n| path | data | images/s |\n|---|---|---:|\n| in memory | {held_kind} | {held:.1f} |\n"
          f"| streamed, {args.workers} workers | {streamed_kind} | {streamed:.1f} |")
    print(f"\nstreamed / in memory = {ratio:.2f} ({'meets' if ratio >= TARGET else 'MISSES'} the {TARGET:.0%} target), "
          f"{args.images} JPEGs of 64x64, batch 128, {args.steps} timed steps; {describe_machine()}")


if __name__ == "__main__":
    main()
