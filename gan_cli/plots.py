"""plots.png: a run's losses, D outputs and sample quality over steps, read back from its TensorBoard
events, so that a resumed run plots its whole history."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

History = dict[str, list[tuple[int, float]]]  # tag: [(step, value), ...] in step order

D_OUTPUT_LABELS = {"d/real": "D(x)", "d/fake": "D(G(z))"}


def read_scalars(tb_dir: Path) -> History:
    """Every scalar in the run's event files. TensorBoard drops the events that a resumed run wrote
    again (the writer's purge_step), so each step appears once."""
    # Imported here, as matplotlib below: together they cost every command 0.45 s at start-up.
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    if not tb_dir.is_dir():
        return {}
    events = EventAccumulator(str(tb_dir), size_guidance={SCALARS: 0}).Reload()
    history = {tag: sorted((event.step, event.value) for event in events.Scalars(tag)) for tag in events.Tags()[SCALARS]}
    return {tag: points for tag, points in history.items() if points}  # a purge can empty a tag and keep its name


@dataclass
class Panel:
    title: str
    ylabel: str
    curves: dict[str, list[tuple[int, float]]]  # label: points
    markers: bool = False  # sparse points (evaluations) are drawn as dots joined by lines
    equilibrium: bool = False  # the 0.5 line where D can no longer tell real from fake


def training_panels(history: History) -> list[Panel]:
    """Losses; D(x) and D(G(z)) against 0.5; FID, or a translation family's held-out scores."""
    losses = {tag.removeprefix("loss/"): points for tag, points in history.items() if tag.startswith("loss/")}
    outputs = {label: history[tag] for tag, label in D_OUTPUT_LABELS.items() if tag in history}
    quality_tags = ["eval/fid"] if "eval/fid" in history else [t for t in history if t.startswith("eval/") and not t.endswith("_std")]
    quality = {tag.removeprefix("eval/"): history[tag] for tag in quality_tags}
    panels = [
        Panel("losses", "loss", losses),
        Panel("discriminator outputs", "mean D output", outputs, equilibrium=True),
        Panel("sample quality" if "eval/fid" in history else "held-out scores", "FID (lower is better)" if "eval/fid" in history else "score", quality, markers=True),
    ]
    return [panel for panel in panels if panel.curves]


def draw_panel(axes, panel: Panel) -> None:
    for label, points in panel.curves.items():
        steps, values = zip(*points)
        axes.plot(steps, values, marker="o" if panel.markers else None, markersize=3, label=label)
    if panel.equilibrium:
        axes.axhline(0.5, color="gray", linestyle="--", linewidth=1, label="equilibrium 0.5")
        axes.set_ylim(0, 1)
    axes.set(title=panel.title, xlabel="step", ylabel=panel.ylabel)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")


def write_training_plots(history: History, path: Path) -> Optional[Path]:
    """One PNG with a panel per kind of figure; None, writing nothing, when there is nothing to plot.
    Written to a temporary name first, so a failed write never leaves half a file."""
    panels = training_panels(history)
    if not panels:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5 * len(panels), 4), layout="constrained")
    FigureCanvasAgg(figure)
    for axes, panel in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels):
        draw_panel(axes, panel)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        figure.savefig(temporary, format="png", dpi=100)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
