"""Grids and checkpoints written on a background thread: in order, a failure reported on the
training thread, and the same files as when written inline."""

from __future__ import annotations

import errno
import os
import threading
import time

import pytest
import torch

from conftest import FAULT_DRIVER, describe, run_many, tiny_args
from gan_cli.training.background import BackgroundWriter, detached_copy
from gan_cli.training.checkpoint import load_checkpoint


@pytest.mark.parametrize("threaded", [True, False])
def test_writes_run_in_order_and_a_failure_waits_for_the_rest(threaded):
    writer = BackgroundWriter(threaded)
    done: list[str] = []
    threads: set[str] = set()

    def job(name: str, fails: bool = False):
        def write():
            time.sleep(0.02)
            threads.add(threading.current_thread().name)
            if fails:
                raise OSError(errno.ENOSPC, "No space left on device")
            done.append(name)

        return write

    writer.submit("a sample grid", job("grid"))
    writer.submit("a checkpoint", job("checkpoint", fails=True))
    writer.submit("a sample grid", job("later grid"))
    what, error = writer.settle(wait_for_all=True)
    assert (what, error.errno) == ("a checkpoint", errno.ENOSPC)
    assert done == ["grid", "later grid"]  # a failed write does not drop the ones queued after it
    assert writer.settle(wait_for_all=True) is None  # reported once
    writer.close()
    assert (threads != {threading.current_thread().name}) is threaded


def test_settle_without_waiting_leaves_running_writes_alone():
    writer = BackgroundWriter(threaded=True)
    release = threading.Event()
    writer.submit("a checkpoint", release.wait)
    assert writer.settle(wait_for_all=False) is None  # returns at once: nothing has failed
    release.set()
    assert writer.settle(wait_for_all=True) is None
    writer.close()


def test_a_snapshot_does_not_follow_the_live_tensors():
    weights = torch.zeros(3)
    payload = {"networks": {"G": {"w": weights}}, "rng": (1, [torch.ones(2)]), "step": 4}
    snapshot = detached_copy(payload)
    weights += 1
    assert torch.equal(snapshot["networks"]["G"]["w"], torch.zeros(3))
    assert snapshot["step"] == 4 and isinstance(snapshot["rng"], tuple) and torch.equal(snapshot["rng"][1][0], torch.ones(2))


def test_threaded_writes_leave_the_files_inline_writes_do(fake_mnist_root, tmp_path):
    run_dirs = {mode: tmp_path / mode for mode in ("none+inline", "none+threads")}
    results = run_many({
        mode: ("python", [str(FAULT_DRIVER), mode, str(run_dir), *tiny_args("dcgan", f"data.root={fake_mnist_root}", f"hydra.run.dir={run_dir}")], tmp_path)
        for mode, run_dir in run_dirs.items()
    })
    for result in results.values():
        assert result.returncode == 0, describe(result)
    inline, threaded = (run_dirs[mode] for mode in ("none+inline", "none+threads"))
    names = lambda run_dir, pattern: sorted(path.name for path in run_dir.glob(pattern))  # noqa: E731
    assert names(threaded, "samples/*") == names(inline, "samples/*") == [
        "progress.gif", "step_0000000.png", "step_0000003.png", "step_0000006.png"
    ]
    assert names(threaded, "checkpoints/*") == names(inline, "checkpoints/*")
    for name in ("step_0000003.pt", "last.pt"):
        ours, theirs = (load_checkpoint(run_dir / "checkpoints" / name) for run_dir in (threaded, inline))
        assert ours["step"] == theirs["step"]
        for net, state in theirs["networks"].items():  # the state of that step, not of a later one
            for key, tensor in state.items():
                assert torch.equal(ours["networks"][net][key], tensor), f"{name}: {net}.{key}"
    for step in (0, 3, 6):
        grid = f"samples/step_{step:07d}.png"
        assert (threaded / grid).read_bytes() == (inline / grid).read_bytes()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_fork_waits_for_the_write_in_flight():
    """A child forked mid-write would inherit the writer thread's locks held (DataLoader workers hung
    in PIL's import): the fork waits until the write is done, so the child sees it finished."""
    writer = BackgroundWriter(threaded=True)
    started, finished = threading.Event(), threading.Event()

    def slow_write():
        started.set()
        time.sleep(0.3)
        finished.set()

    writer.submit("a sample grid", slow_write)
    started.wait()
    child = os.fork()
    if child == 0:
        os._exit(0 if finished.is_set() else 1)
    _, status = os.waitpid(child, 0)
    writer.close()
    assert os.waitstatus_to_exitcode(status) == 0
