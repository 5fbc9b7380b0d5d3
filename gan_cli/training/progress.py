"""What a run shows while it works: the rich bar in a terminal, plain lines in a pipe or a log file,
the table at the end. The run's own messages also go to the ``gan_cli`` logger, which Hydra's job
logging writes into the run directory's ``gan-train.log``."""

from __future__ import annotations

import contextlib
import io
import logging
import time
from typing import Any, Iterable, Iterator, Optional, TypeVar

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

log = logging.getLogger("gan_cli")

SHOWN = (
    ("loss/d", "D loss"),
    ("loss/g", "G loss"),
    ("loss/recon", "recon"),
    ("loss/cycle", "cycle"),
    ("d/real", "D(x)"),
    ("d/fake", "D(G(z))"),
    ("eval/psnr", "PSNR"),
    ("eval/fid", "FID"),
)
# A pipe or a log file has no width: wrapping there only cuts paths and names in two.
UNWRAPPED_WIDTH = 10_000
PLAIN_EVERY_S = 10.0  # how often one-off work reports when there is no bar to watch

T = TypeVar("T")


def output_console(stderr: bool = False) -> Console:
    """A Console for gan-cli's output: rich's own in a terminal, never wrapping anywhere else."""
    console = Console(stderr=stderr)
    if not console.is_terminal:
        console.width = UNWRAPPED_WIDTH
    return console


def say(console: Console, message: str) -> None:
    """A line of the run's own: printed, and kept in the run's log file."""
    console.print(message, markup=False, highlight=False)
    log.info(message)


def show_table(console: Console, table: Table) -> None:
    """Print a table, and keep a plain copy of it in the run's log file."""
    console.print(table)
    log.info("\n%s", plain_text(table))


def plain_text(renderable: RenderableType) -> str:
    capture = Console(file=io.StringIO(), width=UNWRAPPED_WIDTH, color_system=None)
    capture.print(renderable)
    return "\n".join(line.rstrip() for line in capture.file.getvalue().rstrip().splitlines())


def clock(seconds: float) -> str:
    """0:01:05 for 65 seconds."""
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}"


def training_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[figures]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def figure_parts(scalars: dict[str, float]) -> list[str]:
    """Losses, D's outputs, FID and speed, as short "name value" parts."""
    parts = [f"{label} {scalars[key]:.3f}" for key, label in SHOWN if key in scalars]
    if "perf/images_per_s" in scalars:
        parts.append(f"{scalars['perf/images_per_s']:.0f} img/s")
    return parts


def describe_figures(scalars: dict[str, float], warnings: tuple[str, ...] = ()) -> str:
    """The short line beside the bar: losses, D's outputs, speed, and any health warning."""
    return "  ".join(figure_parts(scalars) + [f"[bold yellow]! {escape(name)}[/]" for name in warnings])


def progress_line(step: int, total: int, scalars: dict[str, float], warnings: tuple[str, ...], elapsed: float, left: Optional[float]) -> str:
    """One plain line of training progress, for a log: no markup, nothing redrawn."""
    timing = f"{clock(elapsed)} elapsed" + (f", about {clock(left)} left" if left is not None else "")
    return "  ".join([f"train {step}/{total}", *figure_parts(scalars), timing, *(f"! {name}" for name in warnings)])


class TrainingProgress:
    """The rich bar in a terminal; anywhere else one plain line per logging interval, since a bar
    redrawn into a pipe shows nothing until the end. Each interval's line goes to the run's log
    file either way."""

    def __init__(self, console: Console, total: int, completed: int):
        self.console = console
        self.total = total
        self.first_step = completed
        self.started = time.perf_counter()
        self.bar = training_bar(console) if console.is_terminal else None
        self.task = self.bar.add_task("train", total=total, completed=completed, figures="") if self.bar else None

    def start(self) -> None:
        self.started = time.perf_counter()
        if self.bar is not None:
            self.bar.start()

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()

    def show(self, step: int, scalars: dict[str, float], warnings: tuple[str, ...], interval_ended: bool) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=step, figures=describe_figures(scalars, warnings))
        if not interval_ended:
            return
        elapsed = time.perf_counter() - self.started
        done = step - self.first_step
        left = elapsed / done * (self.total - step) if done else None
        line = progress_line(step, self.total, scalars, warnings, elapsed, left)
        if self.bar is None:
            self.console.print(line, markup=False, highlight=False)
        log.info(line)


class WorkTracker:
    """One-off work that takes a while (training the metrics classifier): a line at its start and
    its end, and between them a bar with the time left in a terminal, or elsewhere a plain line
    every ``every_s`` seconds with the same estimate. Every line goes to the run's log file too.

    Called like rich's ``track``: ``for item in tracker(items, total, "what it is doing"): ...``."""

    def __init__(self, console: Console, every_s: float = PLAIN_EVERY_S):
        self.console = console
        self.every_s = every_s

    def __call__(self, items: Iterable[T], total: int, description: str) -> Iterator[T]:
        say(self.console, f"{description}: {total} steps")
        bar = self.transient_bar(description) if self.console.is_terminal else None
        task = bar.add_task(description, total=total) if bar is not None else None
        started = reported = time.perf_counter()
        with bar or contextlib.nullcontext():
            for done, item in enumerate(items, 1):
                yield item
                if bar is not None:
                    bar.advance(task)
                now = time.perf_counter()
                if now - reported >= self.every_s and done < total:
                    reported = now
                    left = (now - started) / done * (total - done)
                    self.interim(f"{description}: {done}/{total}, {clock(now - started)} elapsed, about {clock(left)} left", bar)
        say(self.console, f"{description}: done in {clock(time.perf_counter() - started)}")

    def interim(self, line: str, bar: Optional[Progress]) -> None:
        if bar is None:
            say(self.console, line)
        else:  # the bar shows it
            log.info(line)

    def transient_bar(self, description: str) -> Progress:
        columns = (TextColumn(escape(description)), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
        return Progress(*columns, console=self.console, transient=True)


def summary_table(summary: dict[str, Any]) -> Table:
    table = Table(title="gan-train", show_header=False)
    table.add_column("figure", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in summary.items():
        if key == "health":
            for line in value:
                table.add_row("[yellow]health", f"[yellow]{escape(line)}")
        else:
            table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    return table
