"""Every run gets a folder of its own: runs started together, a folder given that holds another run,
and a folder in use by a run now."""

from __future__ import annotations

import datetime
import multiprocessing
import signal
import subprocess
import time
from pathlib import Path

import torch
import yaml

from conftest import cli_env, describe, program_path, run_cli, tiny_args
from gan_cli.commands.launch import check_launch, launched
from gan_cli.commands.run_folder import claim_fresh_folder, claim_run_folder

RACERS = 8
STARTED_TOGETHER = (4, 5, 6)  # train.steps of each run, so that each checkpoint says whose it is


def claim_after(barrier, base: str, queue) -> None:
    barrier.wait()
    queue.put(claim_fresh_folder(Path(base)).name)


def test_processes_racing_for_one_name_each_claim_their_own(tmp_path):
    context = multiprocessing.get_context("spawn")
    barrier, queue = context.Barrier(RACERS), context.Queue()
    base = tmp_path / "outputs" / "12-30-05"
    racers = [context.Process(target=claim_after, args=(barrier, str(base), queue)) for _ in range(RACERS)]
    for racer in racers:
        racer.start()
    names = sorted(queue.get(timeout=60) for _ in racers)
    for racer in racers:
        racer.join(timeout=60)
    assert names == ["12-30-05", *(f"12-30-05_{n:02d}" for n in range(2, RACERS + 1))]
    assert sorted(p.name for p in base.parent.iterdir()) == names  # sorted by name is sorted by claim


def previous_runs(outputs: Path, seconds: int) -> dict[Path, bytes]:
    """A finished run's checkpoint in every dated folder gan-train could pick in the next `seconds`."""
    written = {}
    start = int(time.time())
    for moment in range(start - 1, start + seconds):
        when = datetime.datetime.fromtimestamp(moment)
        checkpoint = outputs / when.strftime("%Y-%m-%d") / when.strftime("%H-%M-%S") / "checkpoints" / "last.pt"
        checkpoint.parent.mkdir(parents=True)
        checkpoint.write_bytes(f"an earlier run's weights {moment}".encode())
        written[checkpoint] = checkpoint.read_bytes()
    return written


def test_runs_started_together_keep_every_file_of_their_own(tmp_path, fake_mnist_root):
    """Started in the same seconds as each other and as earlier runs, with the default run folder and
    evaluation on: each run has its own folder, and no earlier run's file is touched."""
    earlier = previous_runs(tmp_path / "outputs", seconds=240)
    commands = {steps: [str(program_path("gan-train")), *tiny_args("gan", f"data.root={fake_mnist_root}", f"train.steps={steps}")]
                for steps in STARTED_TOGETHER}
    processes = {steps: subprocess.Popen(command, cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for steps, command in commands.items()}
    for steps, process in processes.items():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, f"train.steps={steps}\n{out}\n{err}"
    assert {path: path.read_bytes() for path in earlier} == earlier
    new_runs = sorted(p.parent.parent for p in (tmp_path / "outputs").glob("*/*/checkpoints/last.pt") if p not in earlier)
    assert len(new_runs) == len(STARTED_TOGETHER)
    assert all(run.name.rsplit("_", 1)[-1].isdigit() and "_" in run.name for run in new_runs)  # every dated name was taken
    steps_by_run = {}
    for run in new_runs:
        saved = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
        overrides = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
        assert f"train.steps={saved['step']}" in overrides, run
        assert len(list((run / "tb").glob("events.out.tfevents.*"))) == 1, run
        assert (run / "summary.json").is_file() and (run / "samples").is_dir(), run
        steps_by_run[run] = saved["step"]
    assert sorted(steps_by_run.values()) == sorted(STARTED_TOGETHER)


def test_a_folder_given_that_holds_another_run_is_refused_and_kept_as_it_was(tmp_path, fake_mnist_root):
    run_dir = tmp_path / "mine"
    args = tiny_args("gan", f"data.root={fake_mnist_root}", "eval.enabled=false", f"hydra.run.dir={run_dir}")
    first = run_cli("gan-train", *args, cwd=tmp_path)
    assert first.returncode == 0, describe(first)
    before = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}

    again = run_cli("gan-train", *args, "train.seed=1", cwd=tmp_path)
    assert again.returncode == 2, describe(again)
    assert again.stderr.count("\n") == 1 and "Traceback" not in again.stderr
    assert f"resume={run_dir}" in again.stderr and "checkpoints" in again.stderr
    assert {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()} == before

    resumed = run_cli("gan-train", f"resume={run_dir}", "train.steps=8", cwd=tmp_path)
    assert resumed.returncode == 0, describe(resumed)
    assert torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["step"] == 8


def test_a_sweep_folder_given_that_holds_jobs_checkpoints_is_refused(tmp_path, fake_mnist_root):
    sweep_dir = tmp_path / "sweep"
    earlier = sweep_dir / "0" / "checkpoints" / "last.pt"
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b"an earlier job's weights")
    result = run_cli("gan-train", "-m", *tiny_args("gan", f"data.root={fake_mnist_root}", "train.seed=0,1", f"hydra.sweep.dir={sweep_dir}"), cwd=tmp_path)
    assert result.returncode == 2, describe(result)
    assert "0/checkpoints/last.pt" in result.stderr and result.stderr.count("\n") == 1
    assert sorted(p.relative_to(sweep_dir).as_posix() for p in sweep_dir.rglob("*")) == ["0", "0/checkpoints", "0/checkpoints/last.pt"]


def test_a_folder_in_use_by_a_running_run_is_refused_to_another_run_and_to_resume(tmp_path, fake_mnist_root):
    run_dir = tmp_path / "busy"
    args = tiny_args("gan", f"data.root={fake_mnist_root}", "eval.enabled=false", "train.steps=100000", f"hydra.run.dir={run_dir}")
    running = subprocess.Popen([str(program_path("gan-train")), *args], cwd=tmp_path, env=cli_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / "checkpoints" / "last.pt").is_file():
            assert running.poll() is None and time.monotonic() < deadline, running.stderr.read() if running.poll() is not None else "no checkpoint in 120 s"
            time.sleep(0.5)
        another_run = tiny_args("gan", f"data.root={fake_mnist_root}", "train.seed=3", f"hydra.run.dir={run_dir}")
        for attempt in (another_run, [f"resume={run_dir}"]):
            refused = run_cli("gan-train", *attempt, cwd=tmp_path)
            assert refused.returncode == 2, describe(refused)
            assert "in use by another gan-train" in refused.stderr, describe(refused)
    finally:
        running.send_signal(signal.SIGINT)
        running.communicate(timeout=120)
    assert running.returncode == 130


def test_sweeps_and_data_parallel_runs_claim_a_folder_each(tmp_path, fake_mnist_root, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep = ["train.seed=0,1", f"data.root={fake_mnist_root}"]
    first, second = claim_run_folder(sweep, multirun=True), claim_run_folder(sweep, multirun=True)
    assert first.folder != second.folder and first.folder.is_dir() and second.folder.is_dir()
    assert f"hydra.sweep.dir={second.folder}" in second.args
    first.release(), second.release()
    assert not first.folder.exists()  # nothing was written into it, so nothing is left behind

    ddp = tiny_args("gan", f"data.root={fake_mnist_root}", "eval.enabled=false")
    with launched(check_launch(["--nproc_per_node=2"], ddp)) as one, launched(check_launch(["--nproc_per_node=2"], ddp)) as other:
        assert one.run_dir != other.run_dir
        assert other.torchrun.training_script_args[-1] == f"hydra.run.dir={other.run_dir}"
