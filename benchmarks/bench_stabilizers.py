"""Which stabilizers give the best DCGAN on MNIST per CPU-minute? Each configuration trains for the
same wall-clock budget, then its samples are scored and drawn.

    python benchmarks/bench_stabilizers.py                           # every configuration, 180 s each
    python benchmarks/bench_stabilizers.py --only baseline,ema --budget 240 --seeds 0,1
    python benchmarks/bench_stabilizers.py --quick                   # 5 s each: checks that it runs

A configuration is the default DCGAN on MNIST (the `make demo` job) with the old defaults (the DCGAN
paper's Adam at 2e-4, beta1 0.5, no EMA, no R1; ``PAPER``) plus its overrides. It
trains through the real core (``build_run`` and ``train_step``) until the budget is spent, so a slower
option pays for its cost in steps. Then it is scored as training scores it (the default classifier
extractor, eval.num_samples samples against as many MNIST training images, seed eval.seed), always
against the full training set, also for the runs that train on data.limit=1000 images; G's moving
average is scored when EMA is on. Each result is appended to --results (JSON lines), so the grid can be
run in parts; the table and the panel of sample grids are drawn from every result in that file.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.console import Console

from gan_cli.commands.compose import compose_config
from gan_cli.commands.evaluate import real_images
from gan_cli.device.machine import cpu_model
from gan_cli.metrics.quality import QualityScorer, build_scorer
from gan_cli.training.artifacts import image_grid, save_png
from gan_cli.training.ema import averaged_generators
from gan_cli.training.run import generate_grid_images
from gan_cli.training.train import build_run, train_step

PAPER = ["optimizer.lr=2e-4", "optimizer.beta1=0.5", "model.ema=false", "regularizer.r1_gamma=0"]  # the defaults before this benchmark
FAST_ADAM = ["optimizer.lr=2e-3", "optimizer.beta1=0"]  # the Optuna search's lead (README, Sweeps)
CONFIGS = {  # name: overrides on the old defaults (the DCGAN paper's Adam, nothing else); new-default is gan-train's own
    "baseline": [],
    "saturating": ["loss=saturating"],
    "lsgan": ["loss=lsgan"],
    "hinge": ["loss=hinge"],
    "wgan_gp": ["loss=wgan_gp", "model.d_norm=layer"],
    "sn": ["model.spectral_norm=true", "model.d_norm=none"],
    "hinge-sn": ["loss=hinge", "model.spectral_norm=true", "model.d_norm=none"],
    "r1": ["regularizer.r1_gamma=1"],
    "ema": ["model.ema=true"],
    "diffaugment": ["augment=diffaugment"],
    "limit1000": ["data.limit=1000"],
    "limit1000-diffaugment": ["data.limit=1000", "augment=diffaugment"],
    "fast-adam": FAST_ADAM,
    "adam1e-3-ema": ["optimizer.lr=1e-3", "optimizer.beta1=0", "model.ema=true"],
    "fast-adam-ema": [*FAST_ADAM, "model.ema=true"],
    "fast-adam-r1": [*FAST_ADAM, "regularizer.r1_gamma=1"],
    "fast-adam-ema-r1": [*FAST_ADAM, "model.ema=true", "regularizer.r1_gamma=1"],  # = model=dcgan's defaults now
}
UNTIMED = ["device=cpu", "device.precision=fp32", "device.compile=false", "eval.enabled=false", "train.steps=100000000"]  # the budget ends training; fp32 eager, as every row was measured
SHOWN = ("eval/fid", "eval/kid", "eval/precision", "eval/recall")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=180, help="training seconds per configuration")
    parser.add_argument("--only", help="comma-separated names from CONFIGS (default: all of them)")
    parser.add_argument("--extra", action="append", default=[], metavar="NAME:OVERRIDES",
                        help="one more configuration, e.g. 'hinge-sn-ema:loss=hinge model.spectral_norm=true model.ema=true'")
    parser.add_argument("--seeds", default="0", help="comma-separated train.seed values")
    parser.add_argument("--results", type=Path, default=Path("outputs/bench_stabilizers/results.jsonl"))
    parser.add_argument("--quick", action="store_true", help="5 s for each of two configurations, into quick.jsonl beside --results")
    return parser.parse_args()


def chosen_configs(args: argparse.Namespace) -> dict[str, list[str]]:
    if args.quick:
        return dict(list(CONFIGS.items())[:2])
    if args.only:
        chosen = {name: CONFIGS[name] for name in args.only.split(",")}
    else:  # every configuration, unless only extra ones are asked for
        chosen = {} if args.extra else dict(CONFIGS)
    for extra in args.extra:
        name, overrides = extra.split(":", 1)
        chosen[name] = overrides.split()
    return chosen


def train_for(overrides: list[str], seed: int, budget_s: float, run_dir: Path) -> tuple[object, float]:
    """A run of the configuration trained until ``budget_s`` seconds have passed; returns it and the
    seconds its steps took."""
    cfg = compose_config([*UNTIMED, *PAPER, f"train.seed={seed}", *overrides])
    run = build_run(cfg, run_dir, console=Console(quiet=True))
    started = time.perf_counter()
    while time.perf_counter() - started < budget_s:
        train_step(run)
        run.step += 1
    return run, time.perf_counter() - started


def measure(name: str, overrides: list[str], seed: int, budget_s: float, scorer: QualityScorer, out: Path) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        run, seconds = train_for(overrides, seed, budget_s, Path(folder))
    with averaged_generators(run.family):
        figures = scorer.score_family(run.family)
        grid = save_png(image_grid(generate_grid_images(run.family, run.grid)[:36], 6), out / f"{name}_seed{seed}.png")
    images = run.step * run.cfg.train.batch_size * run.cfg.train.d_steps
    return {"name": name, "overrides": overrides, "seed": seed, "steps": run.step, "seconds": round(seconds, 1),
            "images_per_s": round(images / seconds, 1), "grid": str(grid), **{k: round(v, 4) for k, v in figures.items()}}


def markdown_table(results: list[dict]) -> str:
    lines = ["| configuration | overrides | seed | steps | images/s | FID ↓ | KID ↓ | precision | recall |", "|---" * 9 + "|"]
    for r in sorted(results, key=lambda r: r["eval/fid"]):
        overrides = " ".join(f"`{o}`" for o in r["overrides"]) or "(the old defaults, PAPER)"
        figures = " | ".join(f"{r[key]:.4g}" for key in SHOWN)
        lines.append(f"| {r['name']} | {overrides} | {r['seed']} | {r['steps']} | {r['images_per_s']:.0f} | {figures} |")
    return "\n".join(lines)


def draw_panel(results: list[dict], path: Path) -> Path:
    """Every configuration's samples side by side, best FID first."""
    from PIL import Image

    ordered = sorted(results, key=lambda r: r["eval/fid"])
    columns = min(4, len(ordered))
    rows = -(-len(ordered) // columns)
    figure = Figure(figsize=(3 * columns, 3.3 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    for index, result in enumerate(ordered):
        axes = figure.add_subplot(rows, columns, index + 1)
        with Image.open(result["grid"]) as grid:
            axes.imshow(grid, cmap="gray")
        axes.set_title(f"{result['name']} (seed {result['seed']})\nFID {result['eval/fid']:.1f}, {result['steps']} steps", fontsize=9)
        axes.axis("off")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    return path


def main() -> None:
    args = parse_args()
    budget = 5.0 if args.quick else args.budget
    configs = chosen_configs(args)
    seeds = [int(s) for s in args.seeds.split(",")]
    out = args.results.parent
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        args.results = out / "quick.jsonl"
        args.results.unlink(missing_ok=True)
    defaults = compose_config(UNTIMED)
    scorer = build_scorer(defaults.eval, real_images(defaults, defaults.model.image_size))
    print(f"{cpu_model()}, torch {torch.__version__}, {torch.get_num_threads()} threads; {budget:.0f} s of training per configuration")
    print(f"scoring {scorer.num_samples} samples against {len(scorer.real)} images of the {scorer.real.source} with {scorer.extractor.describe()}")
    for name, overrides in configs.items():
        for seed in seeds:
            result = measure(name, overrides, seed, budget, scorer, out)
            result["cpu"] = cpu_model()
            print(json.dumps(result))
            with args.results.open("a") as file:
                file.write(json.dumps(result) + "\n")
    results = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]
    print(markdown_table(results))
    print(f"samples: {draw_panel(results, out / 'stabilizers.png')}  ({platform.node()}: {cpu_model()})")


if __name__ == "__main__":
    main()
