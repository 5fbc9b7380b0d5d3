"""Time to quality: FID after 1, 3 and 5 minutes of training, gan-train's default config against the
canonical pytorch/examples DCGAN loop on the same networks.

    python benchmarks/bench_time_to_quality.py                  # marks at 60, 180 and 300 s (about 11 minutes)
    python benchmarks/bench_time_to_quality.py --marks 20,40    # a short look

Both loops train DCGAN (gan-train's default widths, nz=100, ngf=ndf=32) on MNIST at 32x32, batch 128.
The runner is gan-train's core with its defaults (``compose_config([])`` on this device: precision and
compile as ``auto`` chooses them, the stabilizers the defaults carry). The canonical loop is
bench_speed's (dcgan/main.py: torchvision MNIST, PIL transforms, a 2-worker DataLoader, fp32, BCE,
Adam(2e-4, 0.5)). At each mark the clock stops and the generator is scored as training scores it (the
default classifier extractor, eval.num_samples samples against as many training images, seed
eval.seed), so scoring costs neither loop any training time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch
from bench_speed import CanonicalDCGAN, resolve_data_root
from rich.console import Console

from gan_cli.commands.compose import compose_config
from gan_cli.commands.evaluate import real_images
from gan_cli.device.machine import describe_machine
from gan_cli.families.base import DataInfo
from gan_cli.metrics.quality import QualityScorer, build_scorer
from gan_cli.training.ema import averaged_generators
from gan_cli.training.train import build_family, build_run, train_step


def timed_marks(step: Callable[[], object], marks: list[float], score: Callable[[], float]) -> list[tuple[float, int, float]]:
    """Train with ``step`` until each mark (seconds of training), scoring at each: (mark, steps, FID)."""
    results, steps, trained = [], 0, 0.0
    for mark in marks:
        started = time.perf_counter()
        while trained + time.perf_counter() - started < mark:
            step()
            steps += 1
        trained += time.perf_counter() - started
        results.append((mark, steps, score()))
    return results


def runner_marks(marks: list[float], scorer: QualityScorer) -> list[tuple[float, int, float]]:
    with tempfile.TemporaryDirectory() as folder:
        run = build_run(compose_config(["eval.enabled=false"]), Path(folder), console=Console(quiet=True))

        def step():
            train_step(run)
            run.step += 1

        def score() -> float:
            with averaged_generators(run.family):
                return scorer.score_family(run.family)["eval/fid"]

        print(f"runner: {run.runtime.precision_choice.describe()}, compiled: {run.compiled}", flush=True)
        return timed_marks(step, marks, score)


def canonical_marks(marks: list[float], scorer: QualityScorer, data_root: Path, cfg) -> list[tuple[float, int, float]]:
    loop = CanonicalDCGAN(data_root, cfg.model.image_size, torch.device("cpu"), widths=(cfg.model.ngf, cfg.model.ndf))
    family = build_family(cfg.model, DataInfo(channels=1, image_size=cfg.model.image_size, num_classes=10), cfg)
    family.networks["G"] = loop.net_g  # the same class and widths: the scorer draws from the canonical G
    return timed_marks(loop.step, marks, lambda: scorer.score_family(family)["eval/fid"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--marks", default="60,180,300", help="seconds of training at which to score")
    args = parser.parse_args()
    marks = sorted(float(m) for m in args.marks.split(","))
    cfg = compose_config([])
    data_root = resolve_data_root(None)
    scorer = build_scorer(cfg.eval, real_images(cfg, cfg.model.image_size))
    print(describe_machine())
    rows = {"gan-train defaults": runner_marks(marks, scorer), "canonical loop (fp32)": canonical_marks(marks, scorer, data_root, cfg)}
    header = " | ".join(f"FID at {m:.0f} s (steps)" for m in marks)
    print(f"\n| loop | {header} |\n|---|{'---:|' * len(marks)}")
    for name, results in rows.items():
        print(f"| {name} | " + " | ".join(f"{fid:.1f} ({steps})" for _, steps, fid in results) + " |")
    print(f"\n{describe_machine()}")


if __name__ == "__main__":
    main()
