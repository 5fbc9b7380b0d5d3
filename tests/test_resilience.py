"""Runs that survive: exact resume, signals, SIGKILL, NaN, unsafe config changes and checkpoint safety."""

from __future__ import annotations

import errno
import io
import os
import resource
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from rich.console import Console
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import FAULT_DRIVER, cli_env, describe, program_path, run_cli, tiny_args
from gan_cli import files as atomic_files
from gan_cli.commands.compose import compose_config
from gan_cli.errors import UserError
from gan_cli.files import atomic_save
from gan_cli.training.checkpoint import load_checkpoint
from gan_cli.training.signals import clear_interrupted_run
from gan_cli.training.train import train


def quiet_console() -> Console:
    return Console(file=io.StringIO())


def error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, describe(result)
    assert "Traceback" not in result.stdout + result.stderr, describe(result)
    return lines[0]


def start_training(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(program_path("gan-train")), *args], cwd=cwd, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(path: Path, process: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert process.poll() is None, f"training ended before {path} appeared: {process.communicate()}"
        assert time.monotonic() < deadline, f"{path} did not appear in {timeout_s} s"
        time.sleep(0.1)


def assert_same_tensors(a: dict, b: dict, where: str = "") -> None:
    assert a.keys() == b.keys(), where
    for key in a:
        if isinstance(a[key], dict):
            assert_same_tensors(a[key], b[key], f"{where}.{key}")
        elif isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), f"{where}.{key} differs"


STABILIZED = ["model.spectral_norm=true", "loss=wgan_gp", "model.d_norm=layer"]  # SN's vectors, GP's random mix


LAZY_R1 = ["regularizer.r1_gamma=1", "regularizer.r1_every=3"]  # due at D steps 3 and 6: across the resume at 4


@pytest.mark.parametrize(
    ("model", "options"),
    [("dcgan", []), ("gan", []), ("dcgan", STABILIZED), ("dcgan", LAZY_R1), ("dcgan", ["augment=diffaugment", "model.ema=true"])],
    ids=["dcgan", "gan", "dcgan-sn-wgan_gp", "dcgan-lazy-r1", "dcgan-diffaugment-ema"],
)
def test_resume_is_bit_exact(model, options, fake_mnist_root, tmp_path):
    """N steps straight equals N/2, stop, resume N/2: the same weights and optimizer states, bit for bit."""
    base = tiny_args(model, f"data.root={fake_mnist_root}", "train.deterministic=true", "train.checkpoint_every=2", *options)
    straight, halves = tmp_path / "straight", tmp_path / "halves"
    train(compose_config([*base, "train.steps=8"]), straight, quiet_console())
    train(compose_config([*base, "train.steps=4"]), halves, quiet_console())
    resumed = compose_config([*base, "train.steps=8", f"resume={halves / 'checkpoints' / 'last.pt'}"])
    summary = train(resumed, halves, quiet_console())

    assert summary["steps"] == 8 and summary["steps_this_session"] == 4
    a, b = load_checkpoint(straight / "checkpoints" / "last.pt"), load_checkpoint(halves / "checkpoints" / "last.pt")
    assert_same_tensors(a["networks"], b["networks"], "networks")
    for name in a["optimizers"]:
        assert_same_tensors(a["optimizers"][name]["state"], b["optimizers"][name]["state"], f"optimizers.{name}")
    assert a["data"] == b["data"]


def test_resume_auto_continues_run_dir_and_tensorboard(fake_mnist_root, tmp_path):
    run_dir = tmp_path / "run"
    first = run_cli("gan-train", *tiny_args("dcgan", f"data.root={fake_mnist_root}", "train.steps=4", f"hydra.run.dir={run_dir}"), cwd=tmp_path)
    assert first.returncode == 0, describe(first)
    second = run_cli("gan-train", "resume=auto", "train.steps=8", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert second.returncode == 0, describe(second)
    assert "resuming from" in second.stdout and "train.steps: 4 → 8" in second.stdout

    assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["step"] == 8
    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    steps = [event.step for event in events.Scalars("loss/d")]
    assert steps == sorted(set(steps)) and steps[0] == 2 and steps[-1] == 8, steps


def test_sigkill_then_resume_auto(fake_mnist_root, tmp_path):
    run_dir = tmp_path / "run"
    args = tiny_args("gan", f"data.root={fake_mnist_root}", "train.steps=100000", "train.checkpoint_every=3", f"hydra.run.dir={run_dir}")
    process = start_training(args, tmp_path)
    wait_for(run_dir / "checkpoints" / "step_0000006.pt", process)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)

    saved_step = load_checkpoint(run_dir / "checkpoints" / "last.pt")["step"]
    assert saved_step >= 6
    result = run_cli("gan-train", "resume=auto", f"train.steps={saved_step + 3}", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["step"] == saved_step + 3
    assert not list((run_dir / "checkpoints").glob("*.tmp"))


@pytest.mark.parametrize("signum, exit_code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_stop_signal_checkpoints_and_says_how_to_resume(signum, exit_code, fake_mnist_root, tmp_path):
    run_dir = tmp_path / "run"
    args = tiny_args("dcgan", f"data.root={fake_mnist_root}", "train.steps=100000", f"hydra.run.dir={run_dir}")
    process = start_training(args, tmp_path)
    wait_for(run_dir / "checkpoints" / "step_0000003.pt", process)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == exit_code, stderr
    message = [line for line in stderr.splitlines() if line.strip()]
    assert len(message) == 1 and "resume=" in message[0] and "Traceback" not in stderr, stderr
    saved = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert f"after step {saved['step']}" in message[0]


def wait_for_line(process: subprocess.Popen, text: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    for line in process.stdout:
        if text in line:
            return
        assert time.monotonic() < deadline, f"no line with {text!r} in {timeout_s} s"
    pytest.fail(f"gan-train ended before printing {text!r}: {process.communicate()}")


def test_ctrl_c_during_start_up_is_one_line_and_leaves_no_run_directory(fake_mnist_root, tmp_path):
    """SIGINT while the metrics classifier trains (a fresh eval.cache_dir): before any step."""
    run_dir = tmp_path / "run"
    args = tiny_args("dcgan", f"data.root={fake_mnist_root}", f"eval.cache_dir={tmp_path / 'fresh_cache'}", f"hydra.run.dir={run_dir}")
    process = start_training(args, tmp_path)
    wait_for_line(process, "training on")  # the classifier trains next, for seconds
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 130, stderr
    message = [line for line in stderr.splitlines() if line.strip()]
    assert len(message) == 1 and "interrupted (SIGINT)" in message[0], stderr
    assert "Traceback" not in stdout + stderr, stderr
    assert not run_dir.exists(), sorted(p.name for p in run_dir.iterdir())


def test_an_interrupted_run_keeps_a_directory_that_holds_anything_else(tmp_path):
    unstarted, resumed = tmp_path / "unstarted", tmp_path / "resumed"
    for run_dir in (unstarted, resumed):
        (run_dir / ".hydra").mkdir(parents=True)
        (run_dir / ".hydra" / "config.yaml").write_text("{}")
        (run_dir / "gan-train.log").write_text("")
    (resumed / "checkpoints").mkdir()
    (resumed / "checkpoints" / "last.pt").write_bytes(b"weights")

    assert "was removed" in clear_interrupted_run(unstarted, "gan-train.log") and not unstarted.exists()
    assert str(resumed) in clear_interrupted_run(resumed, "gan-train.log")
    assert (resumed / "checkpoints" / "last.pt").read_bytes() == b"weights" and (resumed / ".hydra" / "config.yaml").is_file()


def test_planted_malicious_checkpoint_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "PWNED"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil" / "last.pt"
    evil.parent.mkdir()
    torch.save({"format": "gan-cli/1", "trap": Payload()}, evil)
    result = run_cli("gan-train", f"resume={evil}", cwd=tmp_path)
    assert result.returncode != 0
    assert "refusing to load" in error_line(result)
    assert not marker.exists()


def test_truncated_checkpoint_is_refused(fake_mnist_root, tmp_path):
    run_dir = tmp_path / "run"
    made = run_cli("gan-train", *tiny_args("gan", f"data.root={fake_mnist_root}", f"hydra.run.dir={run_dir}"), cwd=tmp_path)
    assert made.returncode == 0, describe(made)
    whole = (run_dir / "checkpoints" / "last.pt").read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(whole[: len(whole) // 2])
    result = run_cli("gan-train", f"resume={truncated}", cwd=tmp_path)
    assert result.returncode != 0
    assert "not a readable checkpoint" in error_line(result)


def test_nan_stops_with_step_and_keeps_last_good_checkpoint(fake_mnist_root, tmp_path):
    run_dir = tmp_path / "run"
    good = run_cli("gan-train", *tiny_args("dcgan", f"data.root={fake_mnist_root}", "train.steps=3", f"hydra.run.dir={run_dir}"), cwd=tmp_path)
    assert good.returncode == 0, describe(good)
    result = run_cli("python", FAULT_DRIVER, "nan", run_dir, f"resume={run_dir}", "train.steps=50", "train.checkpoint_every=1", cwd=tmp_path)
    assert result.returncode != 0, describe(result)
    line = error_line(result)
    assert "step " in line and ("nan" in line or "inf" in line) and "last good checkpoint" in line, line
    kept = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert kept["step"] >= 3
    assert all(torch.isfinite(t).all() for net in kept["networks"].values() for t in net.values())


def test_nan_policy_skip_counts_skipped_steps(fake_mnist_root, tmp_path):
    run_dir = tmp_path / "run"
    args = tiny_args("dcgan", f"data.root={fake_mnist_root}", "train.nan_policy=skip", f"hydra.run.dir={run_dir}")
    result = run_cli("python", FAULT_DRIVER, "nan", run_dir, *args, cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["skipped_steps"] > 0


def test_unsafe_config_change_is_refused_naming_keys(fake_mnist_root, tmp_path):
    run_dir = tmp_path / "run"
    made = run_cli("gan-train", *tiny_args("dcgan", f"data.root={fake_mnist_root}", f"hydra.run.dir={run_dir}"), cwd=tmp_path)
    assert made.returncode == 0, describe(made)
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file() and ".hydra" not in p.parts}
    result = run_cli("gan-train", f"resume={run_dir}", "model.ngf=16", "train.batch_size=8", cwd=tmp_path)
    assert result.returncode != 0
    line = error_line(result)
    assert "model.ngf" in line and "train.batch_size" in line
    after = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file() and ".hydra" not in p.parts}
    assert after == before


def test_keep_last_prunes_and_best_metric_keeps_best(fake_mnist_root, tmp_path):
    run_dir = tmp_path / "run"
    args = tiny_args("gan", f"data.root={fake_mnist_root}", "train.steps=8", "train.checkpoint_every=2", "train.keep_last=2", "train.best_metric=loss/d", f"hydra.run.dir={run_dir}")
    result = run_cli("gan-train", *args, cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    names = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert names == ["best.pt", "last.pt", "step_0000006.pt", "step_0000008.pt"]
    assert load_checkpoint(run_dir / "checkpoints" / "best.pt")["best"] is not None


def test_atomic_save_keeps_previous_file_when_the_disk_fills(tmp_path, monkeypatch):
    target = tmp_path / "last.pt"
    atomic_save({"format": "gan-cli/1", "step": 1}, target)

    def fill_disk(payload, file):
        file.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic_files.torch, "save", fill_disk)
    with pytest.raises(OSError):
        atomic_save({"format": "gan-cli/1", "step": 2}, target)
    monkeypatch.undo()
    assert torch.load(target, weights_only=True)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_full_disk_during_training_is_one_line_and_leaves_no_half_checkpoint(fake_mnist_root, tmp_path):
    """A file-size limit makes every large write fail as a full disk would, with EFBIG."""
    run_dir = tmp_path / "run"
    limit = 60_000  # bytes: room for configs, logs and grids, not for a checkpoint

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    args = tiny_args("dcgan", f"data.root={fake_mnist_root}", f"hydra.run.dir={run_dir}")
    result = subprocess.run(
        [str(program_path("gan-train")), *args], cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=300, preexec_fn=limit_file_size
    )
    assert result.returncode != 0, describe(result)
    assert "cannot write a checkpoint" in error_line(result)
    assert not list((run_dir / "checkpoints").glob("*"))


def test_load_checkpoint_rejects_foreign_torch_file(tmp_path):
    foreign = tmp_path / "weights.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(UserError, match="not a gan-cli checkpoint"):
        load_checkpoint(foreign)


def test_resumed_run_removes_half_written_checkpoints(fake_mnist_root, tmp_path):
    """What a SIGKILL during a checkpoint write leaves behind is cleared; last.pt is untouched by it."""
    run_dir = tmp_path / "run"
    made = run_cli("gan-train", *tiny_args("gan", f"data.root={fake_mnist_root}", "train.steps=3", f"hydra.run.dir={run_dir}"), cwd=tmp_path)
    assert made.returncode == 0, describe(made)
    stale = run_dir / "checkpoints" / ".last.pt.killed.tmp"
    stale.write_bytes(b"half a checkpoint")
    result = run_cli("gan-train", f"resume={run_dir}", "train.steps=4", cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    assert not stale.exists()
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["step"] == 4


def test_a_checkpoint_older_than_a_setting_resumes_with_it():
    """A key gan-cli gained after the checkpoint (regularizer.r1_gamma) continues the run; a changed
    key the checkpoint holds is still refused."""
    from gan_cli.training.resume import check_changes, config_changes

    saved = {"model": {"name": "dcgan"}, "train": {"steps": 10}}
    current = {"model": {"name": "dcgan", "spectral_norm": False}, "regularizer": {"r1_gamma": 0.0}, "train": {"steps": 20}}
    described = check_changes(config_changes(saved, current), Path("last.pt"))
    assert described == ["model.spectral_norm: (not in the checkpoint) → False", "regularizer.r1_gamma: (not in the checkpoint) → 0.0",
                         "train.steps: 10 → 20"]
    with pytest.raises(UserError, match="model.name"):
        check_changes(config_changes(saved, {**current, "model": {"name": "gan"}}), Path("last.pt"))
