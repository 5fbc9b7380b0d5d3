"""device.precision=auto: the number format a run trains in, chosen for the device it runs on.

On a CUDA GPU the choice follows the hardware: bf16 where the GPU supports it, else fp16 with a
gradient scaler. On a CPU it is measured: bf16 autocast is about twice as fast as fp32 on CPUs with
AMX or AVX512-BF16 and many times slower on the others, so a short probe times a DCGAN training step
both ways once per machine, and the result is cached (``device.cache_dir``).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F

from gan_cli.config import Precision
from gan_cli.device.machine import cpu_flags, cpu_model, cuda_model
from gan_cli.errors import UserError
from gan_cli.networks.dcgan import ConvDiscriminator, ConvGenerator

AUTOCAST_DTYPES = {Precision.bf16: torch.bfloat16, Precision.fp16: torch.float16}
BF16_MIN_SPEEDUP = 1.1  # bf16 rounds more than fp32; below this gain it is not worth it
PROBE_BATCH = 64
PROBE_WARMUP, PROBE_STEPS = 2, 5
CACHE_FILE = "precision-probe.json"


@dataclass(frozen=True)
class PrecisionChoice:
    """The precision a run trains in, and why, as the start-up line says it."""

    precision: Precision
    reason: str

    def describe(self) -> str:
        return f"precision {self.precision.value} ({self.reason})"


def autocast(device: torch.device, precision: Precision):
    if precision is Precision.fp32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=AUTOCAST_DTYPES[precision])


def choose_precision(
    device: torch.device, requested: str, cache_dir: Path, recorded: Optional[str] = None
) -> PrecisionChoice:
    """The precision for ``device.precision=requested``; with "auto", a resumed run keeps the one its
    checkpoint ``recorded``, so that resuming stays exact on any machine."""
    requested = check_precision(device, requested)
    if requested is not Precision.auto:
        return PrecisionChoice(requested, "as set")
    if recorded is not None and usable(Precision(recorded), device):
        return PrecisionChoice(Precision(recorded), "auto: as the checkpoint was trained")
    if device.type == "cuda":
        return cuda_precision(device)
    return cpu_precision(Path(cache_dir).expanduser())


def check_precision(device: torch.device, requested: str) -> Precision:
    """The requested precision, refused in one line where the device cannot train in it."""
    requested = Precision(requested)
    if requested is Precision.fp16 and device.type != "cuda":
        raise UserError("device.precision=fp16 is CUDA-only (it needs a GPU's fp16 units); use device.precision=bf16 on the CPU")
    return requested


def usable(precision: Precision, device: torch.device) -> bool:
    return precision is not Precision.auto and (precision is not Precision.fp16 or device.type == "cuda")


def cuda_precision(device: torch.device) -> PrecisionChoice:
    if torch.cuda.is_bf16_supported():
        return PrecisionChoice(Precision.bf16, f"auto: {cuda_model(device)} supports bf16")
    return PrecisionChoice(Precision.fp16, f"auto: {cuda_model(device)} lacks bf16; fp16 with a gradient scaler")


def cpu_precision(cache_dir: Path) -> PrecisionChoice:
    """bf16 where the cached or freshly measured probe shows it faster than fp32 on this CPU."""
    key = machine_key()
    cache = cache_dir / CACHE_FILE
    timings = read_cache(cache).get(key)
    origin = f"cached in {cache}"
    if timings is None:
        timings = probe_cpu()
        origin = f"measured now, cached in {cache}" if write_cache(cache, key, timings) else "measured now"
    speedup = timings["fp32_ms"] / timings["bf16_ms"]
    chosen = Precision.bf16 if speedup >= BF16_MIN_SPEEDUP else Precision.fp32
    return PrecisionChoice(chosen, f"auto: bf16 {speedup:.2f}x the speed of fp32 on {cpu_model()}; {origin}")


def machine_key() -> str:
    """What the probe's answer depends on: the CPU, its features, the thread count and torch."""
    return f"{cpu_model()} | {cpu_flags()} | {torch.get_num_threads()} threads | torch {torch.__version__}"


def read_cache(path: Path) -> dict:
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return cached if isinstance(cached, dict) else {}


def write_cache(path: Path, key: str, timings: dict[str, float]) -> bool:
    """Add this machine's timings to the cache file atomically; False when it cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        cached = read_cache(path) | {key: timings}
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(handle, "w") as file:
            json.dump(cached, file, indent=1)
        os.replace(temporary, path)
        return True
    except OSError:
        return False


def probe_cpu() -> dict[str, float]:
    """Median milliseconds of a DCGAN-32 training step (D and G, forward and backward) in fp32 and in
    bf16 autocast. The global random generator is left as it was, so seeded runs are unaffected."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        generator = ConvGenerator(100, 32, 1, 32).to(memory_format=torch.channels_last)
        critic = ConvDiscriminator(32, 1, 32).to(memory_format=torch.channels_last)
        real = torch.randn(PROBE_BATCH, 1, 32, 32).to(memory_format=torch.channels_last)
        z = torch.randn(PROBE_BATCH, 100)
        fp32 = time_steps(lambda: probe_step(generator, critic, real, z, Precision.fp32))
        # Without bf16 hardware one bf16 step can take many fp32 steps' time; one timed step says so.
        bf16 = time_steps(lambda: probe_step(generator, critic, real, z, Precision.bf16), give_up_ms=5 * fp32)
    return {"fp32_ms": round(fp32, 3), "bf16_ms": round(bf16, 3)}


def probe_step(generator, critic, real: torch.Tensor, z: torch.Tensor, precision: Precision) -> None:
    with autocast(real.device, precision):
        fake = generator(z)
        loss = F.softplus(-critic(real)).mean() + F.softplus(critic(fake)).mean()
    loss.backward()


def time_steps(step, give_up_ms: float = float("inf")) -> float:
    for _ in range(PROBE_WARMUP):
        started = time.perf_counter()
        step()
        if 1000 * (time.perf_counter() - started) > give_up_ms:
            return 1000 * (time.perf_counter() - started)
    timings = []
    for _ in range(PROBE_STEPS):
        started = time.perf_counter()
        step()
        timings.append(1000 * (time.perf_counter() - started))
    return statistics.median(timings)
