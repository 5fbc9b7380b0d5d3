"""Everything periodic in a run, in one place: scalars, sample grids, checkpoints and progress.

Scalars and grids go to the experiment trackers that ``logger=`` chose (trackers.py), a step's at once."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import torch
from rich.console import Console

from gan_cli.errors import UserError
from gan_cli.families.base import THROUGHPUT, Scalars
from gan_cli.files import remove_stale_temporaries
from gan_cli.training.artifacts import append_json_line, image_grid, keep_json_lines_until, save_png, write_gif, write_json
from gan_cli.training.background import BackgroundWriter, has_spare_cores
from gan_cli.training.compiling import eager
from gan_cli.training.ema import averaged_generators
from gan_cli.training.health import HealthMonitor
from gan_cli.training.plots import write_training_plots
from gan_cli.training.progress import TrainingProgress, say, show_table, summary_table
from gan_cli.training.run import TrainingRun, checkpoint_write, generate_grid_images, is_finite_network, logged_names
from gan_cli.training.signals import TrainingInterrupted
from gan_cli.training.tracker_base import RunStatus, SweepJob, TrackedRun
from gan_cli.training.tracker_files import quiet_event_writer_errors
from gan_cli.training.trackers import open_trackers


class ScalarMeter:
    """Averages each scalar over a logging interval, and measures images per second."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}  # per scalar: a lazy regularizer reports on some steps only
        self.images = 0
        self.started = time.perf_counter()

    def add(self, scalars: Scalars, images: int) -> None:
        for key, value in scalars.items():
            self.sums[key] = self.sums.get(key, 0) + value.float()
            self.counts[key] = self.counts.get(key, 0) + 1
        self.images += images

    def take(self) -> dict[str, float]:
        """The interval's means and throughput; starts a new interval."""
        seconds = max(time.perf_counter() - self.started, 1e-9)
        means = {key: float(total) / self.counts[key] for key, total in self.sums.items()}
        means[THROUGHPUT] = self.images / seconds
        self.__init__()
        return means


class Upkeep:
    """Owns the experiment trackers, the progress bar and the background writes; called once per step."""

    def __init__(self, run: TrainingRun, console: Console, sweep: Optional[SweepJob] = None):
        self.run = run
        self.console = console
        self.meter = ScalarMeter()
        self.latest: dict[str, float] = {}
        self.evaluated: dict[str, float] = {}  # the latest held-out figures, kept until the next evaluation
        self.health = HealthMonitor.for_loss(run.cfg.loss.name)
        self.started = time.perf_counter()
        self.first_step = run.step
        self.trackers = open_trackers(self.tracked_run(sweep), self.writing, console)
        run.tracker_ids = self.trackers.run_ids  # the checkpoints carry them, so a resumed run continues the trackers' runs
        self.step_scalars: dict[str, float] = {}  # what this step logs, handed to the trackers at once
        self.step_grid: Optional[torch.Tensor] = None
        self.progress = TrainingProgress(console, run.total_steps, run.step)
        self.setup_s = 0.0
        self.writes = BackgroundWriter(threaded=has_spare_cores(run.runtime.device))  # grids and checkpoints

    def __enter__(self) -> "Upkeep":
        self.progress.start()
        self.thread_hook = threading.excepthook
        threading.excepthook = quiet_event_writer_errors(self.thread_hook)
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self.progress.stop()
        try:
            self.writes.close()  # the queued grids and checkpoints are written whatever stopped the run
            self.settle_writes(wait_for_all=True)
            self.trackers.close(ending(exc))
        except UserError:
            if exc is None:  # an earlier failure is the one to report
                raise
        finally:
            threading.excepthook = self.thread_hook

    @contextlib.contextmanager
    def writing(self, what: str) -> Iterator[None]:
        """Turn a failed write (a full disk, a folder gone read-only) into one line that says what
        was kept."""
        try:
            yield
        except OSError as error:
            last = self.run.checkpoint_dir / "last.pt"
            kept = f"{last} is intact" if last.exists() else "no checkpoint had been written yet"
            raise UserError(
                f"cannot write {what} in {self.run.run_dir} ({error.strerror or error}); {kept}. "
                "Free disk space, then resume=auto"
            ) from None

    def settle_writes(self, wait_for_all: bool = False) -> None:
        """Report a background write that failed as the one line ``writing`` makes of it."""
        failure = self.writes.settle(wait_for_all)
        if failure is not None:
            what, error = failure
            with self.writing(what):
                raise error

    def tracked_run(self, sweep: Optional[SweepJob]) -> TrackedRun:
        run = self.run
        real_count = len(run.scorer.real) if run.scorer is not None else 0
        names = logged_names(run.cfg, run.family, real_count)
        return TrackedRun(run.cfg, run.run_dir, run.step, names, dict(run.tracker_ids), sweep)

    @property
    def metrics_file(self) -> Path:
        return self.run.run_dir / "metrics.jsonl"

    def start(self, setup_s: float) -> None:
        """The first writes of a run; ``setup_s`` is how long its start-up took, reported beside the training time."""
        self.setup_s = setup_s
        say(self.console, f"started in {setup_s:.1f} s; training steps {self.run.step + 1} to {self.run.total_steps}")
        remove_stale_temporaries(self.run.checkpoint_dir)
        with self.writing("metrics.jsonl"):
            keep_json_lines_until(self.metrics_file, self.run.step)
        if self.run.step == 0:
            self.save_grid()
            self.hand_to_trackers()
        self.meter = ScalarMeter()  # throughput counts training only, not start-up

    def after_step(self, scalars: Scalars) -> None:
        self.settle_writes()
        run, every = self.run, self.run.cfg.train
        images_per_step = run.cfg.train.batch_size * run.cfg.train.d_steps
        self.meter.add(scalars, images_per_step)
        if run.step == self.first_step + 1:
            self.health.observe_first_step({key: float(value) for key, value in scalars.items()})
        last = run.step == run.total_steps
        interval_ended = run.step % every.log_every == 0 or last
        if interval_ended:
            self.log_scalars()
        if run.step % every.sample_every == 0 or last:
            self.save_grid()
        if (run.cfg.eval.every and run.step % run.cfg.eval.every == 0) or last:
            self.evaluate()
        self.hand_to_trackers()
        if run.step % every.checkpoint_every == 0 or last:
            self.save_checkpoint(periodic=run.step % every.checkpoint_every == 0)
        warnings = tuple(w.name for w in self.health.warnings())
        self.progress.show(run.step, self.latest | self.evaluated, warnings, interval_ended)

    def log_scalars(self) -> None:
        self.latest = self.meter.take()
        self.health.observe(self.run.step, self.latest)
        rates = {f"lr/{name}": optimizer.param_groups[0]["lr"] for name, optimizer in self.run.optimizers.items()}
        self.step_scalars.update(self.latest | rates)

    def hand_to_trackers(self) -> None:
        """This step's scalars and grid, to every tracker at once (a CSV row, a W&B step)."""
        if self.step_scalars or self.step_grid is not None:
            self.trackers.log_step(self.run.step, self.step_scalars, self.step_grid)
        self.step_scalars, self.step_grid = {}, None

    def save_grid(self) -> None:
        with eager(self.run.family), averaged_generators(self.run.family):
            images = generate_grid_images(self.run.family, self.run.grid)
        if self.run.family.latent_dim is not None:  # a translation grid holds its inputs and targets too
            self.health.observe_samples(self.run.step, images)
        grid = image_grid(images, self.run.grid.nrow)
        step, path = self.run.step, self.run.sample_dir / f"step_{self.run.step:07d}.png"

        def write() -> None:  # both encode a PNG: the slow part
            self.trackers.write_grid(step, grid)
            save_png(grid, path)

        self.writes.submit("a sample grid", write)
        self.step_grid = grid

    def evaluate(self) -> None:
        """Score samples against real images, or a translation family on its held-out pairs; log the
        figures and append them, with what produced them, to metrics.jsonl."""
        run = self.run
        with eager(run.family), averaged_generators(run.family):
            if run.scorer is not None:
                self.evaluated = run.scorer.score_family(run.family)
            elif run.heldout is not None:
                self.evaluated = run.family.evaluate(run.heldout, run.cfg.eval.batch_size, run.judges)
            else:
                return
        self.health.observe(run.step, self.evaluated)
        self.step_scalars.update(self.evaluated)
        with self.writing("metrics.jsonl"):
            append_json_line({"step": run.step, **self.evaluated, **self.evaluation_record()}, self.metrics_file)

    def save_checkpoint(self, periodic: bool, wait: bool = False) -> Path:
        """Queue last.pt (and the periodic and best copies); with ``wait``, return once it is on disk."""
        if not is_finite_network(self.run.family):
            raise UserError(
                f"step {self.run.step}: the weights hold NaN or Inf; kept the last good checkpoint in "
                f"{self.run.checkpoint_dir}. Lower optimizer.lr and resume from it"
            )
        # Atomic: a failed write leaves the previous last.pt whole.
        self.writes.submit("a checkpoint", checkpoint_write(self.run, self.latest | self.evaluated, periodic))
        if wait:
            self.settle_writes(wait_for_all=True)
        return self.run.checkpoint_dir / "last.pt"

    def evaluation_record(self) -> dict[str, Any]:
        """Which images the held-out figures come from, so no figure is read without its source."""
        heldout = self.run.heldout
        if not self.evaluated:
            return {}
        if self.run.scorer is not None:
            return self.run.scorer.record()
        judged = {} if self.run.judges is None else self.run.judges.record()
        return {"eval_split": heldout.split, "eval_images": len(heldout.input), "eval_paired": heldout.paired, **judged}

    def finish(self) -> dict[str, Any]:
        """Write the progress GIF, plots.png and summary.json, and print the final table."""
        run = self.run
        self.settle_writes(wait_for_all=True)  # the GIF reads every grid back
        with self.writing("the progress GIF"):
            gif = write_gif(sorted(run.sample_dir.glob("step_*.png")), run.sample_dir / "progress.gif")
        history = self.trackers.history()
        with self.writing("plots.png"):
            plots = write_training_plots(history, run.run_dir / "plots.png")
        seconds = time.perf_counter() - self.started
        summary = {
            "model": run.cfg.model.name,
            "data": run.cfg.data.name,
            "steps": run.step,
            "steps_this_session": run.step - self.first_step,
            "skipped_steps": run.skipped_steps,
            "setup_s": round(self.setup_s, 2),
            "wall_s": round(seconds, 2),
            "total_s": round(self.setup_s + seconds, 2),
            "device": run.runtime.device.type,
            "precision": run.runtime.precision.value,
            **{key: round(value, 5) for key, value in (self.latest | self.evaluated).items()},
            **self.evaluation_record(),
            "best_metric": run.best_metric,
            "checkpoint": str(run.checkpoint_dir / "last.pt"),
            "samples": str(gif) if gif else None,
            "plots": str(plots) if plots else None,
            "health": [warning.line() for warning in self.health.raised],
            "run_dir": str(run.run_dir),
        }
        with self.writing("summary.json"):
            write_json(summary, run.run_dir / "summary.json")
        self.progress.stop()
        show_table(self.console, summary_table(summary))
        for line in self.trackers.finish(summary):
            say(self.console, line)
        return summary


class FollowerUpkeep:
    """The upkeep of a rank other than 0 in data-parallel training: rank 0 writes everything, so
    this one writes nothing; it has Upkeep's calls so that the loop reads the same on every rank."""

    def __init__(self, run: TrainingRun, console: Console, sweep: Optional[SweepJob] = None):
        self.run = run

    def __enter__(self) -> "FollowerUpkeep":
        return self

    def __exit__(self, *exc_info) -> None:
        pass

    def start(self, setup_s: float) -> None:
        pass

    def after_step(self, scalars: Scalars) -> None:
        pass

    def save_checkpoint(self, periodic: bool, wait: bool = False) -> Path:
        return self.run.checkpoint_dir / "last.pt"  # the one rank 0 writes

    def finish(self) -> dict[str, Any]:
        return {}


def ending(error: Optional[BaseException]) -> RunStatus:
    """How the trackers' runs end: a stop by signal can be resumed, any other error failed the run."""
    if error is None:
        return RunStatus.finished
    return RunStatus.stopped if isinstance(error, (TrainingInterrupted, KeyboardInterrupt)) else RunStatus.failed
