"""device.precision=auto (measured once per machine, recorded in the checkpoint), device.compile (the
same losses as eager, a failure falls back to eager with one warning), and one G forward per step."""

from __future__ import annotations

import json

import pytest
import torch
from rich.console import Console

from conftest import TINY_FAMILIES, cli_env, describe, run_cli
from gan_cli.commands.compose import compose_config
from gan_cli.config import Precision
from gan_cli.device import precision as precision_module
from gan_cli.device.precision import choose_precision
from gan_cli.errors import UserError
from gan_cli.training.compiling import wants_compile
from gan_cli.training.train import build_run, train_step

CPU = torch.device("cpu")
TINY_RUN = [*TINY_FAMILIES["dcgan"], "train.batch_size=8", "eval.enabled=false", "device=cpu", "train.deterministic=true"]


@pytest.fixture
def probe_timings(monkeypatch):
    """Replace the probe's measurement; returns the list of calls made to it."""
    calls = []

    def fake(timings):
        monkeypatch.setattr(precision_module, "probe_cpu", lambda: calls.append(timings) or timings)
        return calls

    return fake


def test_auto_picks_bf16_only_where_the_probe_measures_it_faster(probe_timings, tmp_path):
    probe_timings({"fp32_ms": 10.0, "bf16_ms": 5.0})
    fast = choose_precision(CPU, "auto", tmp_path / "fast")
    probe_timings({"fp32_ms": 10.0, "bf16_ms": 40.0})
    slow = choose_precision(CPU, "auto", tmp_path / "slow")
    assert fast.precision is Precision.bf16 and "2.00x" in fast.reason
    assert slow.precision is Precision.fp32 and "0.25x" in slow.reason


def test_the_probe_runs_once_per_machine_and_is_cached(probe_timings, tmp_path):
    calls = probe_timings({"fp32_ms": 10.0, "bf16_ms": 5.0})
    first, second = (choose_precision(CPU, "auto", tmp_path) for _ in range(2))
    assert len(calls) == 1 and first.precision == second.precision
    assert "measured now" in first.reason and "cached in" in second.reason
    assert json.loads((tmp_path / "precision-probe.json").read_text())


def test_the_real_probe_measures_both_formats_and_draws_no_random_numbers():
    before = torch.get_rng_state()
    timings = precision_module.probe_cpu()
    assert timings["fp32_ms"] > 0 and timings["bf16_ms"] > 0
    assert torch.equal(torch.get_rng_state(), before)


def test_a_resumed_auto_run_keeps_the_recorded_precision_and_explicit_choices_stand(tmp_path):
    kept = choose_precision(CPU, "auto", tmp_path, recorded="bf16")
    assert kept.precision is Precision.bf16 and "checkpoint" in kept.reason
    assert choose_precision(CPU, "fp32", tmp_path, recorded="bf16").precision is Precision.fp32


def test_fp16_on_the_cpu_is_one_line_naming_bf16(tmp_path):
    with pytest.raises(UserError, match="CUDA-only.*device.precision=bf16"):
        choose_precision(CPU, "fp16", tmp_path)


def test_gan_train_prints_and_records_the_precision_it_chose(trained_runs):
    run = trained_runs["dcgan"]
    saved = torch.load(run.last, weights_only=True)
    summary = json.loads((run.run_dir / "summary.json").read_text())
    assert saved["precision"] in ("fp32", "bf16") and summary["precision"] == saved["precision"]
    assert f"training on cpu in precision {saved['precision']} (auto: bf16 " in run.result.stdout


def steps_of(run, count: int) -> list[dict[str, float]]:
    scalars = []
    for _ in range(count):
        scalars.append({k: float(v) for k, v in train_step(run).items()})
        run.step += 1
    return scalars


def tiny_run(tmp_path, fake_mnist_root, *options: str):
    cfg = compose_config([*TINY_RUN, f"data.root={fake_mnist_root}", "device.precision=fp32", *options])
    return build_run(cfg, tmp_path, console=Console(quiet=True))


@pytest.mark.parametrize("penalty", [[], ["regularizer.r1_every=1"], ["loss=wgan_gp", "model.d_norm=none"]], ids=["plain", "r1", "wgan_gp"])
def test_a_compiled_step_gives_the_eager_losses(penalty, tmp_path, fake_mnist_root, monkeypatch):
    # aot_eager: Dynamo's graphs and AOTAutograd's joint backward, without Inductor's C++ build,
    # which takes minutes on two cores (the benchmark times Inductor itself). The gradient
    # penalties need a double backward, which compiled graphs lack: they run eager.
    monkeypatch.setattr("gan_cli.training.compiling.COMPILE_BACKEND", "aot_eager")
    eager = steps_of(tiny_run(tmp_path / "eager", fake_mnist_root, "device.compile=false", *penalty), 3)
    run = tiny_run(tmp_path / "compiled", fake_mnist_root, "device.compile=true", *penalty)
    assert run.compiled
    for a, b in zip(eager, steps_of(run, 3)):
        assert a.keys() == b.keys()
        assert all(a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-5) for k in a), (a, b)


def test_a_compile_failure_falls_back_to_eager_with_one_warning_line(fake_mnist_root, tmp_path):
    # Inductor builds C++ on the CPU; with no compiler to call, the first compiled step fails.
    env = cli_env(CXX=str(tmp_path / "no-such-compiler"))
    result = run_cli("gan-train", *TINY_RUN, f"data.root={fake_mnist_root}", "train.steps=3", "device.compile=true",
                     f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path, env=env)
    assert result.returncode == 0, describe(result)
    warnings = [line for line in result.stdout.splitlines() if "torch.compile failed" in line]
    assert len(warnings) == 1 and "training eager" in warnings[0] and "Traceback" not in result.stderr, describe(result)
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["step"] == 3


def test_a_bad_compile_setting_is_one_line(tmp_path):
    result = run_cli("gan-train", "device.compile=maybe", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, describe(result)
    assert "device.compile=maybe must be true, false or auto" in result.stderr


@pytest.mark.parametrize("d_steps", [1, 2])
def test_g_runs_forward_once_per_d_step_and_not_again_for_its_own(tmp_path, fake_mnist_root, d_steps):
    """The G phase reuses the last D step's fakes, as the canonical loop does."""
    run = tiny_run(tmp_path, fake_mnist_root, f"train.d_steps={d_steps}")
    calls = []
    run.family.networks["G"].register_forward_hook(lambda *args: calls.append(1))
    steps_of(run, 2)
    assert len(calls) == 2 * d_steps


def test_compile_auto_compiles_only_where_measured_to_pay(tmp_path, fake_mnist_root):
    cpu = torch.device("cpu")
    assert not wants_compile("auto", cpu) and wants_compile("true", cpu) and not wants_compile(False, cpu)
    assert not tiny_run(tmp_path, fake_mnist_root).compiled  # the default, on this CPU
