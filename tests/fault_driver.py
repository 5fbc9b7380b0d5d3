"""``python fault_driver.py FAULT RUN_DIR gan-train-args...``: gan-train with one fault injected.

FAULT is ``grid``, ``gif``, ``summary``, ``tensorboard`` or ``checkpoint``: those writes fail as on a
full disk from the moment the run's first checkpoint exists (TensorBoard's fail on its writer thread).
Or ``nan``: every odd step's loss is NaN, as a diverged run's would be. Or ``none``. A suffix picks
where grids and checkpoints are written whatever the cores: ``+threads`` (``grid+threads``) on the
background thread, ``+inline`` on the training thread.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path

import tensorboard.summary.writer.record_writer as record_writer

import gan_cli.training.run as run
import gan_cli.training.train as train
import gan_cli.training.upkeep as upkeep
from gan_cli.commands.cli import train_main


def fail_once_checkpointed(write, run_dir: Path):
    def full_disk_write(*args, **kwargs):
        if (run_dir / "checkpoints" / "last.pt").exists():
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(*args, **kwargs)

    return full_disk_write


def nan_on_odd_steps(apply_update):
    def poisoned_update(run, phase, loss):
        return apply_update(run, phase, loss * float("nan") if run.step % 2 else loss)

    return poisoned_update


if __name__ == "__main__":
    fault, run_dir, args = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    fault, _, writes = fault.partition("+")
    if writes:
        upkeep.has_spare_cores = lambda device: writes == "threads"
    if fault == "nan":
        train.apply_update = nan_on_odd_steps(train.apply_update)
    elif fault != "none":
        owners = {
            "grid": (upkeep, "save_png"),
            "gif": (upkeep, "write_gif"),
            "summary": (upkeep, "write_json"),
            "checkpoint": (run, "atomic_save"),
        }
        owner, name = owners.get(fault, (record_writer.RecordWriter, "write"))  # "tensorboard"
        setattr(owner, name, fail_once_checkpointed(getattr(owner, name), run_dir))
    sys.argv = ["gan-train", *args]
    train_main()
