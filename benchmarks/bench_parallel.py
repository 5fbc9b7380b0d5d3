"""Beyond one process, measured: data-parallel training with 1 and 2 processes (gloo on the CPU), and a
4-job sweep run one job after another against Hydra's joblib launcher.

    python benchmarks/bench_parallel.py                 # about 6 minutes on 2 cores
    python benchmarks/bench_parallel.py --steps 100 --sweep-steps 50

Every figure comes from the real commands in subprocesses (gan-train-ddp, gan-train -m), on the
default DCGAN with evaluation off. Images/s is rank 0's meter (the global batch per step over the
last logging interval, in summary.json). A GPU figure against the canonical loop comes from
``bench_speed.py --device cuda`` (benchmarks/gpu_check.sh).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gan_cli.device.machine import describe_machine

BIN = Path(sys.executable).parent


def run(command: list[str], cwd: Path) -> float:
    """Wall seconds of one command, which must succeed."""
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"bench_parallel: {' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return time.perf_counter() - started


def ddp_images_per_s(processes: int, steps: int, folder: Path) -> float:
    run_dir = folder / f"ddp_{processes}"
    overrides = [f"train.steps={steps}", f"train.log_every={steps // 2}", "eval.enabled=false", "device=cpu", f"hydra.run.dir={run_dir}"]
    run([str(BIN / "gan-train-ddp"), f"--nproc_per_node={processes}", *overrides], folder)
    return json.loads((run_dir / "summary.json").read_text())["perf/images_per_s"]


def sweep_seconds(launcher: list[str], steps: int, folder: Path, name: str) -> float:
    overrides = [f"train.steps={steps}", "eval.enabled=false", "device=cpu", "optimizer.lr=1e-4,2e-4,5e-4,1e-3", f"hydra.sweep.dir={folder / name}"]
    return run([str(BIN / "gan-train"), "-m", *launcher, *overrides], folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200, help="training steps of each DDP run")
    parser.add_argument("--sweep-steps", type=int, default=100, help="training steps of each sweep job")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-parallel-"))
    try:
        print(describe_machine(), flush=True)
        one, two = (ddp_images_per_s(n, args.steps, folder) for n in (1, 2))
        serial = sweep_seconds([], args.sweep_steps, folder, "serial")
        parallel = sweep_seconds(["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], args.sweep_steps, folder, "joblib")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print("\n| data-parallel training | images/s | speed-up | scaling efficiency |\n|---|---:|---:|---:|")
    print(f"| 1 process | {one:.1f} | 1.00 | 100% |\n| 2 processes (gloo) | {two:.1f} | {two / one:.2f} | {100 * two / one / 2:.0f}% |")
    print(f"\n| 4-job sweep, {args.sweep_steps} steps each | wall time (s) |\n|---|---:|")
    print(f"| one job after another | {serial:.0f} |\n| joblib, 2 jobs at once | {parallel:.0f} ({serial / parallel:.2f}x) |")
    print(f"\n{describe_machine()}")


if __name__ == "__main__":
    main()
