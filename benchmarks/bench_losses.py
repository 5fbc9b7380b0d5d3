"""The seed's point, by experiment: early in training D rejects G's samples easily, and the saturating
loss log(1 - D(G(z))) then gives G almost no gradient, while the non-saturating -log D(G(z)) gives it
a strong one.

    python benchmarks/bench_losses.py                     # 300 steps of the default DCGAN per loss
    python benchmarks/bench_losses.py --steps 600 --out docs/images/saturating_vs_non_saturating.png

Each loss trains the default DCGAN on MNIST from the same seed, logging every 5 steps. The script
prints D(G(z)) and G's gradient norm over the first steps and draws both curves for both losses.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.console import Console

from gan_cli.commands.compose import compose_config
from gan_cli.device.machine import cpu_model
from gan_cli.training.plots import History, read_scalars
from gan_cli.training.train import train

LOSSES = ("saturating", "non_saturating")
CURVES = {"d/fake": "D(G(z))", "grad_norm/g": "‖∇G‖ (G's gradient norm)"}


def train_with(loss: str, steps: int, folder: Path) -> History:
    overrides = [f"loss={loss}", f"train.steps={steps}", "train.log_every=5", "train.sample_every=100000",
                 "train.checkpoint_every=100000", "eval.enabled=false", "device=cpu"]
    train(compose_config(overrides), folder / loss, console=Console(quiet=True))
    return read_scalars(folder / loss / "tb")


def mean_over(points: list[tuple[int, float]], last_step: int) -> float:
    values = [value for step, value in points if step <= last_step]
    return sum(values) / len(values)


def draw(histories: dict[str, History], path: Path) -> None:
    figure = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(figure)
    for axes, (tag, label) in zip(figure.subplots(1, 2), CURVES.items()):
        for loss, history in histories.items():
            steps, values = zip(*history[tag])
            axes.plot(steps, values, label=f"loss={loss}")
        axes.set(title=label, xlabel="step", yscale="log" if tag.startswith("grad_norm") else "linear")
        axes.grid(alpha=0.3)
        axes.legend()
    figure.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("saturating_vs_non_saturating.png"))
    args = parser.parse_args()
    print(f"CPU: {cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    histories = {}
    with tempfile.TemporaryDirectory() as folder:
        for loss in LOSSES:
            started = time.perf_counter()
            histories[loss] = train_with(loss, args.steps, Path(folder))
            print(f"loss={loss}: {args.steps} steps in {time.perf_counter() - started:.0f} s")
    windows = [w for w in (50, 100, args.steps) if w <= args.steps]
    print("\n| loss | " + " | ".join(f"{label}, steps ≤ {w}" for label in ("D(G(z))", "‖∇G‖") for w in windows) + " |")
    print("|---|" + "---:|" * (2 * len(windows)))
    for loss, history in histories.items():
        cells = [f"{mean_over(history[tag], w):.3g}" for tag in CURVES for w in windows]
        print(f"| {loss} | " + " | ".join(cells) + " |")
    draw(histories, args.out)
    print(f"\nplot: {args.out}")


if __name__ == "__main__":
    main()
