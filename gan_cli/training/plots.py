"""plots.png: a run's losses, D outputs and sample quality over steps, read back from its TensorBoard
events, so that a resumed run plots its whole history."""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

History = dict[str, list[tuple[int, float]]]  # tag: [(step, value), ...] in step order

D_OUTPUT_LABELS = {"d/real": "D(x)", "d/fake": "D(G(z))"}
# Curves whose typical sizes differ by more than this share no axis: pix2pix's G loss (~57, with its
# L1 term) would flatten its D loss (~0.7), and PSNR (~20 dB) SSIM and L1 (under 1).
SCALE_GAP = 10.0
PANELS_PER_ROW = 3
FEW_POINTS = 20  # a curve this short (a run of under log_every x 20 steps) is drawn with its points marked


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


def typical_size(points: list[tuple[int, float]]) -> float:
    return statistics.median(abs(value) for _, value in points)


def split_by_scale(curves: dict[str, list[tuple[int, float]]]) -> list[dict[str, list[tuple[int, float]]]]:
    """The curves in groups, smallest first, whose typical sizes lie within SCALE_GAP of each other."""
    groups: list[dict[str, list[tuple[int, float]]]] = []
    smallest = 0.0  # the typical size of the current group's first curve
    for label, points in sorted(curves.items(), key=lambda item: typical_size(item[1])):
        size = typical_size(points)
        if not groups or size > SCALE_GAP * max(smallest, 1e-12):
            groups.append({})
            smallest = size
        groups[-1][label] = points
    return groups


def panels_by_scale(title: str, ylabel: str, curves: dict[str, list[tuple[int, float]]], **style) -> list[Panel]:
    """One panel, or one per scale when the curves' sizes differ too much to share an axis."""
    groups = split_by_scale(curves) if curves else []
    if len(groups) <= 1:
        return [Panel(title, ylabel, curves, **style)]
    return [Panel(f"{title}: {', '.join(group)}", ylabel, group, **style) for group in groups]


def training_panels(history: History) -> list[Panel]:
    """Losses; D(x) and D(G(z)) against 0.5; FID, or a translation family's held-out scores; a kind
    whose curves differ in scale by over SCALE_GAP gets a panel per scale."""
    losses = {tag.removeprefix("loss/"): points for tag, points in history.items() if tag.startswith("loss/")}
    outputs = {label: history[tag] for tag, label in D_OUTPUT_LABELS.items() if tag in history}
    quality_tags = ["eval/fid"] if "eval/fid" in history else [t for t in history if t.startswith("eval/") and not t.endswith("_std")]
    quality = {tag.removeprefix("eval/"): history[tag] for tag in quality_tags}
    panels = [
        *panels_by_scale("losses", "loss", losses),
        Panel("discriminator outputs", "mean D output", outputs, equilibrium=True),
        *panels_by_scale("sample quality" if "eval/fid" in history else "held-out scores",
                         "FID (lower is better)" if "eval/fid" in history else "score", quality, markers=True),
    ]
    return [panel for panel in panels if panel.curves]


def draw_panel(axes, panel: Panel) -> None:
    for label, points in panel.curves.items():
        steps, values = zip(*points)
        marked = panel.markers or len(points) <= FEW_POINTS  # a single point has no line to show it
        axes.plot(steps, values, marker="o" if marked else None, markersize=3, label=label)
    if panel.equilibrium:
        axes.axhline(0.5, color="gray", linestyle="--", linewidth=1, label="equilibrium 0.5")
        axes.set_ylim(-0.04, 1.04)  # D(x) = 1.0 stays visible above the top of the range
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

    columns = min(len(panels), PANELS_PER_ROW)
    rows = -(-len(panels) // columns)
    figure = Figure(figsize=(5 * columns, 4 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.subplots(rows, columns, squeeze=False).flatten()
    for axes, panel in zip(grid, panels):
        draw_panel(axes, panel)
    for axes in grid[len(panels):]:
        axes.set_visible(False)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        figure.savefig(temporary, format="png", dpi=100)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
