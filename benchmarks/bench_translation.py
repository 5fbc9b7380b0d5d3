"""Translation quality against ground truth on the offline demo task (edge maps → Fashion-MNIST).

    .venv/bin/python benchmarks/bench_translation.py               # the default budgets (~15 CPU minutes)
    .venv/bin/python benchmarks/bench_translation.py --steps 50    # a quick smoke run

Trains, through the real core, each row of the pix2pix paper's comparison at the default demo budget
(``gan-train model=... data=fashion_edges`` with nothing else), then scores every method on the same
held-out Fashion-MNIST test images with the runner's own metrics (L1, PSNR, SSIM in [0, 1]):

* identity: the output is the input edge map itself (the floor);
* L1-only U-Net: pix2pix with the adversarial term off (``model.gan_weight=0``), the paper's ablation;
* pix2pix: the default paired model;
* CycleGAN: the default unpaired model (edges and items from disjoint halves of the train split).

It prints a Markdown table with each run's wall time and the CPU, and copies each run's last sample
grid (rows of input | output | target) to ``--grids`` for the README. A benchmark, not a test: it needs
Debian's dataset-fashion-mnist and minutes of CPU.
"""

from __future__ import annotations

import argparse
import io
import shutil
import time
from pathlib import Path

import torch
from rich.console import Console

from gan_cli.commands.compose import compose_config
from gan_cli.data import DataRequest, build_dataset
from gan_cli.device.machine import cpu_flags, cpu_model, load_average
from gan_cli.metrics.translation import TranslationScores
from gan_cli.training.train import train

METHODS = {
    "L1-only U-Net": ["model=pix2pix", "model.gan_weight=0"],
    "pix2pix": ["model=pix2pix"],
    "CycleGAN": ["model=cyclegan"],
}


def identity_scores(root: str, eval_images: int) -> dict[str, float]:
    cfg = compose_config(["model=pix2pix", "data=fashion_edges", f"data.root={root}"])
    heldout = build_dataset(cfg.data, DataRequest(cfg.model.image_size)).heldout(eval_images)
    scores = TranslationScores()
    scores.update(heldout.input, heldout.target)
    return scores.compute()


def train_method(overrides: list[str], root: str, eval_images: int, steps: int | None, out: Path) -> dict:
    extra = [f"train.steps={steps}"] if steps else []
    cfg = compose_config([*overrides, "data=fashion_edges", f"data.root={root}", f"eval.num_samples={eval_images}", "eval.every=0", *extra])
    started = time.perf_counter()
    summary = train(cfg, out, Console(file=io.StringIO()))
    return summary | {"wall_s": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="/usr/share/datasets/fashion-mnist", help="Fashion-MNIST IDX folder")
    parser.add_argument("--eval-images", type=int, default=2000, help="held-out test pairs scored")
    parser.add_argument("--steps", type=int, default=None, help="override every model's default step budget")
    parser.add_argument("--runs", type=Path, default=Path("outputs/bench_translation"))
    parser.add_argument("--grids", type=Path, default=Path("docs/images"), help="where the final grids are copied")
    args = parser.parse_args()

    rows = [("identity (output = input)", identity_scores(args.root, args.eval_images), None, None)]
    for name, overrides in METHODS.items():
        run_dir = args.runs / name.split()[0].lower().replace("-", "_")
        summary = train_method(overrides, args.root, args.eval_images, args.steps, run_dir)
        figures = {key: summary[f"eval/{key}"] for key in ("l1", "psnr", "ssim")}
        rows.append((name, figures, summary["steps"], summary["wall_s"]))
        grid = sorted((run_dir / "samples").glob("step_*.png"))[-1]
        args.grids.mkdir(parents=True, exist_ok=True)
        shutil.copy2(grid, args.grids / f"translation_{run_dir.name}.png")

    print(f"CPU: {cpu_model()} ({cpu_flags()}), {torch.get_num_threads()} torch threads, torch {torch.__version__}, load {load_average()}")
    print(f"held-out: the first {args.eval_images} Fashion-MNIST test pairs, edges → item, 32x32\n")
    print("| method | steps | train time | L1 ↓ | PSNR (dB) ↑ | SSIM ↑ |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, figures, steps, wall in rows:
        trained = f"{steps} | {wall:.0f} s" if steps else "- | -"
        print(f"| {name} | {trained} | {figures['l1']:.4f} | {figures['psnr']:.2f} | {figures['ssim']:.4f} |")


if __name__ == "__main__":
    main()
