"""The rich progress bar during training and the table at the end."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

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


def training_progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[figures]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def describe_figures(scalars: dict[str, float], warnings: tuple[str, ...] = ()) -> str:
    """The short line beside the bar: losses, D's outputs, speed, and any health warning."""
    parts = [f"{label} {scalars[key]:.3f}" for key, label in SHOWN if key in scalars]
    if "perf/images_per_s" in scalars:
        parts.append(f"{scalars['perf/images_per_s']:.0f} img/s")
    parts += [f"[bold yellow]! {escape(name)}[/]" for name in warnings]
    return "  ".join(parts)


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
