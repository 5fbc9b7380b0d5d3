"""Data-parallel training through gan-train-ddp (torchrun, gloo on the CPU), and sweeps on Hydra's
joblib and submitit launchers."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import socket
import subprocess
import time

import pytest
import torch
from omegaconf import OmegaConf

from conftest import cli_env, describe, program_path, run_cli
from gan_cli.training.checkpoint import load_checkpoint

MLP = ["model=gan", "model.image_size=16", "model.g_hidden=[32]", "model.d_hidden=[32]", "model.nz=8", "model.d_dropout=0"]
DETERMINISTIC = ["train.deterministic=true", "device=cpu", "device.precision=fp32", "eval.enabled=false", "train.batch_size=16"]


def tiny_run(fake_mnist_root, *extra: str) -> list[str]:
    return [*MLP, *DETERMINISTIC, f"data.root={fake_mnist_root}", "train.checkpoint_every=2", *extra]


@pytest.fixture(scope="module")
def ddp_and_single(fake_mnist_root, tmp_path_factory):
    """The same 4 steps at global batch 16: 2 processes of 8, and 1 process of 16."""
    base = tmp_path_factory.mktemp("ddp")
    args = tiny_run(fake_mnist_root, "train.steps=4")
    ddp = run_cli("gan-train-ddp", "--nproc_per_node=2", *args, f"hydra.run.dir={base / 'ddp'}", cwd=base)
    single = run_cli("gan-train", *args, f"hydra.run.dir={base / 'single'}", cwd=base)
    return base, ddp, single


def test_two_processes_train_the_weights_one_process_does(ddp_and_single):
    base, ddp, single = ddp_and_single
    assert ddp.returncode == 0, describe(ddp)
    assert single.returncode == 0, describe(single)
    a, b = (load_checkpoint(base / run / "checkpoints" / "last.pt") for run in ("ddp", "single"))
    for network in a["networks"]:
        for key, value in a["networks"][network].items():
            assert torch.allclose(value, b["networks"][network][key], rtol=1e-4, atol=1e-6), f"{network}.{key}"
    assert a["step"] == b["step"] == 4 and a["data"] == b["data"]


def test_rank_0_alone_writes_the_run(ddp_and_single):
    base, ddp, _ = ddp_and_single
    run_dir = base / "ddp"
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["last.pt", "step_0000002.pt", "step_0000004.pt"]
    assert len(list((run_dir / "tb").iterdir())) == 1  # one events file
    assert OmegaConf.load(run_dir / ".hydra" / "config.yaml").train.batch_size == 16


def test_a_ddp_checkpoint_resumes_in_one_process(ddp_and_single):
    base, _, _ = ddp_and_single
    result = run_cli("gan-train", f"resume={base / 'ddp'}", "train.steps=6", cwd=base)
    assert result.returncode == 0, describe(result)
    assert load_checkpoint(base / "ddp" / "checkpoints" / "last.pt")["step"] == 6


def test_a_two_process_run_with_evaluation_on_scores_on_rank_0_and_finishes(fake_mnist_root, tmp_path):
    """Rank 0 alone scores FID and KID; torchmetrics must not wait there for a rank that never comes."""
    run_dir = tmp_path / "run"
    args = [*tiny_run(fake_mnist_root, "train.steps=4"), "eval.enabled=true", "eval.every=2", "eval.num_samples=150"]
    started = time.monotonic()
    result = run_cli("gan-train-ddp", "--nproc_per_node=2", *args, "device.dist_timeout=60", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, describe(result)
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["step"] == 4
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [2, 4], lines
    assert all(math.isfinite(line["eval/fid"]) and math.isfinite(line["eval/kid"]) for line in lines), lines
    assert time.monotonic() - started < 120


def workers_alive(run_dir) -> list[str]:
    """Processes whose command line names the run directory."""
    alive = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(run_dir) in command and "gan_cli.commands.ddp" in command:
            alive.append(command)
    return alive


def start_endless_two_process_run(data_root, run_dir) -> subprocess.Popen:
    """A 2-process run far longer than any test, to be stopped by a signal."""
    args = tiny_run(data_root, "train.steps=100000", f"hydra.run.dir={run_dir}")
    return subprocess.Popen([str(program_path("gan-train-ddp")), "--nproc_per_node=2", *args], cwd=run_dir.parent,
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigterm_to_a_two_process_run_leaves_one_good_checkpoint_and_no_process(fake_mnist_root, tmp_path):
    run_dir = tmp_path / "run"
    process = start_endless_two_process_run(fake_mnist_root, run_dir)
    deadline = time.monotonic() + 120
    while not (run_dir / "checkpoints" / "step_0000004.pt").exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=180)  # torchrun gives workers 30 s to stop; a loaded CI machine is slow

    assert process.returncode == 143, stderr
    assert "stopped by SIGTERM" in stderr and "Traceback" not in stderr, stderr
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["step"] >= 4
    assert not workers_alive(run_dir)


# Slow: in the full suite a SIGTERM that reaches the workers while they start has twice left the run
# waiting past 90 and 180 s (alone it stops in 5 s); kept out of the default run until that is found.
@pytest.mark.slow
def test_a_run_stopped_before_its_first_checkpoint_offers_no_resume(fake_mnist_root, tmp_path):
    run_dir = tmp_path / "run"
    process = start_endless_two_process_run(fake_mnist_root, run_dir)
    deadline = time.monotonic() + 60
    while not workers_alive(run_dir):  # stopped while the workers start, long before their first step
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=180)  # torchrun gives workers 30 s to stop; a loaded CI machine is slow

    assert process.returncode == 143 and "Traceback" not in stderr, stderr
    saved = (run_dir / "checkpoints" / "last.pt").exists()
    assert ("resume=" in stderr) == saved and (saved or "nothing to resume" in stderr), stderr
    assert not workers_alive(run_dir)


def test_help_says_what_gan_train_ddp_does_then_lists_torchruns_flags(tmp_path):
    result = run_cli("gan-train-ddp", "--help", cwd=tmp_path)
    assert result.returncode == 0 and not result.stderr, describe(result)
    text = result.stdout
    assert text.startswith("usage: gan-train-ddp [torchrun flags]") and "gan-train --help" in text, text
    assert "Examples:" in text and "--nproc-per-node" in text and "training_script" not in text, text
    assert text.index("key=value") < text.index("torchrun's flags:"), text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


BAD_LAUNCHES = {
    "batch-does-not-divide": (["--nproc_per_node=3"], ["train.batch_size=16"], "train.batch_size=16 does not divide among 3 processes"),
    "sync-bn-on-cpu": (["--nproc_per_node=2"], ["device=cpu", "device.sync_bn=true"], "SyncBatchNorm runs on CUDA only"),
    "a-sweep": (["--nproc_per_node=2", "-m"], ["train.seed=0,1"], "drop -m"),
    "bad-flag": (["--nproc_per_node=2", "--no-such-flag=1"], [], "unrecognized arguments"),
}


@pytest.mark.parametrize("case", BAD_LAUNCHES)
def test_each_bad_launch_is_one_line_before_any_process_starts(case, tmp_path):
    flags, overrides, expected = BAD_LAUNCHES[case]
    result = run_cli("gan-train-ddp", *flags, *overrides, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, describe(result)
    assert expected in result.stderr and not (tmp_path / "run").exists(), describe(result)


def test_a_missing_node_is_one_line_after_the_rendezvous_timeout(fake_mnist_root, tmp_path):
    flags = ["--nnodes=2", "--nproc_per_node=1", "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{free_port()}",
             "--rdzv-conf=join_timeout=5"]
    started = time.monotonic()
    result = run_cli("gan-train-ddp", *flags, *tiny_run(fake_mnist_root, "train.steps=2"), f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 2 and "no rendezvous at 127.0.0.1:" in result.stderr, describe(result)
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr, describe(result)
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_a_two_job_sweep_runs_on_a_parallel_launcher_and_fills_the_table(launcher, fake_mnist_root, tmp_path):
    options = ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else ["hydra.launcher.timeout_min=5"]
    sweep_dir = tmp_path / "sweep"
    result = run_cli("gan-train", "-m", f"hydra/launcher={launcher}", *options, *tiny_run(fake_mnist_root, "train.steps=2"),
                     "train.seed=0,1", f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    rows = list(csv.DictReader((sweep_dir / "sweep.csv").open()))
    assert sorted(row["overrides"].split()[-1] for row in rows) == ["train.seed=0", "train.seed=1"], rows
    assert {row["status"] for row in rows} == {"ok"} and all(row["fid"] == "" for row in rows)  # eval.enabled=false
    for job in ("0", "1"):
        assert load_checkpoint(sweep_dir / job / "checkpoints" / "last.pt")["step"] == 2
    if launcher == "joblib":  # two jobs side by side share the cores
        saved = load_checkpoint(sweep_dir / "0" / "checkpoints" / "last.pt")["config"]
        assert saved["device"]["threads"] == max(1, (os.cpu_count() or 1) // 2)
