"""Does the metric mean something? Scores on MNIST for sets whose quality is known, and for one DCGAN
run's checkpoints, with both download-free extractors, plus the cost of an evaluation.

    gan-train train.checkpoint_every=250 hydra.run.dir=outputs/bench_metrics   # the default DCGAN demo
    python benchmarks/bench_metrics.py --run outputs/bench_metrics

Rows: real test images (the best a generator can do), uniform noise, one real digit repeated (total
collapse), and every step_*.pt of the run. Each row is scored like training scores it: the run's
eval.num_samples images against as many training images, seed eval.seed. The classifier columns are
the default for MNIST; the random_conv FID (the unlabeled-folder default) is beside it, with the rank
correlation of the two FID columns. A benchmark, not a test: it needs real MNIST and a trained run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

from gan_cli.commands.evaluate import evaluation_config, real_images
from gan_cli.commands.sample import family_from_checkpoint
from gan_cli.device.machine import cpu_model
from gan_cli.device.runtime import resolve_device
from gan_cli.metrics.quality import build_scorer, generate_samples
from gan_cli.training.checkpoint import load_checkpoint


def reference_rows(cfg, size: int, count: int) -> dict[str, torch.Tensor]:
    """Image sets of known quality, in [-1, 1] at the run's size."""
    test_cfg = OmegaConf.merge(cfg, {"data": {"split": "test"}})
    test = real_images(test_cfg, size).subset(count, seed=1).as_unit_range()
    noise = torch.rand(count, 1, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    one_digit = real_images(cfg, size).subset(1, seed=2).as_unit_range().repeat(count, 1, 1, 1)
    return {"real test images": test, "uniform noise": noise, "one digit repeated": one_digit}


def rank_correlation(a: list[float], b: list[float]) -> float:
    """Spearman's rho (no ties expected)."""
    ra, rb = torch.tensor(a).argsort().argsort().float(), torch.tensor(b).argsort().argsort().float()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a gan-train run directory with step_*.pt checkpoints")
    args = parser.parse_args()
    checkpoints = sorted((args.run / "checkpoints").glob("step_*.pt"))
    first = load_checkpoint(checkpoints[0])
    saved = first["config"]
    cfg = evaluation_config(saved, [])  # the run's own data and eval settings, as gan-eval uses them
    size = saved["model"]["image_size"]
    real = real_images(cfg, size)

    started = time.perf_counter()
    classifier = build_scorer(cfg.eval, real)
    prepare_s = time.perf_counter() - started
    random_conv = build_scorer(OmegaConf.merge(cfg.eval, {"extractor": "random_conv"}), real)
    print(f"CPU: {cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"real set: {classifier.real.source}, {len(classifier.real)} images; {classifier.num_samples} samples per row")
    print(f"classifier: {classifier.extractor.describe()}; prepared (trained or read) in {prepare_s:.1f} s")
    print(f"random_conv: {random_conv.extractor.describe()}")

    rows = reference_rows(cfg, size, classifier.num_samples)
    device = resolve_device("cpu")
    for path in checkpoints:
        family = family_from_checkpoint(load_checkpoint(path), device)
        images, _ = generate_samples(family, classifier.num_samples, classifier.seed, classifier.batch_size)
        rows[f"DCGAN step {int(path.stem.split('_')[1])}"] = images
    started = time.perf_counter()
    classifier.score_family(family)  # what one evaluation in training costs: draw, extract, score
    evaluation_s = time.perf_counter() - started

    print("\n| images | FID ↓ | KID ↓ | precision ↑ | recall ↑ | density ↑ | coverage ↑ | random_conv: FID ↓ | recall ↑ | coverage ↑ |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    fids, random_fids = [], []
    for name, images in rows.items():
        s = classifier.score_images(images)
        r = random_conv.score_images(images)
        fids.append(s["eval/fid"])
        random_fids.append(r["eval/fid"])
        print(f"| {name} | {s['eval/fid']:.2f} | {s['eval/kid']:.3f} ± {s['eval/kid_std']:.3f} | {s['eval/precision']:.3f} | "
              f"{s['eval/recall']:.3f} | {s['eval/density']:.3f} | {s['eval/coverage']:.3f} | {r['eval/fid']:.3f} | "
              f"{r['eval/recall']:.3f} | {r['eval/coverage']:.3f} |")
    print(f"\nrank correlation of the two FID columns (Spearman): {rank_correlation(fids, random_fids):.3f}")
    print_evaluation_share(args.run, evaluation_s, classifier.num_samples, cfg.eval.every)


def print_evaluation_share(run: Path, evaluation_s: float, num_samples: int, every: int) -> None:
    """One evaluation against the training time between two, from the run's own wall time less its
    evaluations (one line each in metrics.jsonl)."""
    summary_file, metrics_file = run / "summary.json", run / "metrics.jsonl"
    if not (summary_file.is_file() and metrics_file.is_file()):
        print(f"one evaluation ({num_samples} samples): {evaluation_s:.2f} s")
        return
    summary = json.loads(summary_file.read_text())
    evaluations = len(metrics_file.read_text().splitlines())
    training_s = summary["wall_s"] - evaluations * evaluation_s
    between_s = training_s / summary["steps"] * every
    print(f"one evaluation ({num_samples} samples): {evaluation_s:.2f} s; {every} training steps: {between_s:.1f} s; "
          f"evaluation share of training time: {evaluation_s / (evaluation_s + between_s):.1%}")

if __name__ == "__main__":
    main()
