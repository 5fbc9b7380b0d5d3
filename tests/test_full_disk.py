"""A disk that fills while a run writes grids, checkpoints, the GIF, TensorBoard events or
summary.json: one line, a non-zero exit, and the last checkpoint intact and loadable; with grids and
checkpoints written inline (CPU training on every core) and on the background thread (a GPU's)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import FAULT_DRIVER, describe, run_many, tiny_args
from gan_cli.training.checkpoint import load_checkpoint

WRITES = ("grid+inline", "checkpoint+inline", "gif", "summary", "tensorboard", "grid+threads", "checkpoint+threads")
NAMED = {"grid": "a sample grid", "checkpoint": "a checkpoint", "gif": "the progress GIF", "summary": "summary.json", "tensorboard": "TensorBoard"}


@pytest.fixture(scope="module")
def full_disk_runs(fake_mnist_root, tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    base = tmp_path_factory.mktemp("full_disk")
    run_dirs = {what: base / what for what in WRITES}
    calls = {
        what: ("python", [str(FAULT_DRIVER), what, str(run_dir), *tiny_args("gan", f"data.root={fake_mnist_root}", f"hydra.run.dir={run_dir}")], base)
        for what, run_dir in run_dirs.items()
    }
    results = run_many(calls)
    return {what: (run_dirs[what], results[what]) for what in WRITES}


@pytest.mark.parametrize("what", WRITES)
def test_full_disk_is_one_line_and_keeps_the_last_checkpoint(full_disk_runs, what):
    run_dir, result = full_disk_runs[what]
    assert result.returncode != 0, describe(result)
    assert "Traceback" not in result.stdout + result.stderr, describe(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"gan-train: error: cannot write {NAMED[what.partition('+')[0]]}"), describe(result)
    last = run_dir / "checkpoints" / "last.pt"
    assert f"{last} is intact" in lines[0], describe(result)
    # The checkpoint that failed to write is not there; the one before it is whole.
    assert load_checkpoint(last)["step"] in ((3,) if what.startswith("checkpoint") else (3, 6))
