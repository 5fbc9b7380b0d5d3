"""plots.png from a run's TensorBoard events, a resumed run's history included."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from PIL import Image
from torch.utils.tensorboard import SummaryWriter

from gan_cli.training.plots import draw_panel, read_scalars, training_panels, write_training_plots


def write_events(tb_dir: Path, steps: range, purge_step=None, offset: float = 0.0) -> None:
    writer = SummaryWriter(log_dir=str(tb_dir), purge_step=purge_step)
    for step in steps:
        writer.add_scalar("loss/d", 1.0 + offset, step)
        writer.add_scalar("d/fake", 0.4, step)
    writer.close()


def test_a_resumed_run_reads_each_step_once_with_the_new_values(tmp_path):
    write_events(tmp_path, range(1, 11))
    write_events(tmp_path, range(6, 13), purge_step=6, offset=1.0)  # resumed from step 5
    history = read_scalars(tmp_path)
    assert [step for step, _ in history["loss/d"]] == list(range(1, 13))
    assert [value for _, value in history["loss/d"]] == [1.0] * 5 + [2.0] * 7


def test_a_tag_that_a_resume_emptied_is_left_out(tmp_path):
    writer = SummaryWriter(log_dir=str(tmp_path))
    writer.add_scalar("loss/d", 1.0, 1)
    writer.add_scalar("eval/fid", 90.0, 8)
    writer.close()
    write_events(tmp_path, range(6, 7), purge_step=6)  # resumed from step 5: the FID at step 8 is gone
    history = read_scalars(tmp_path)
    assert "eval/fid" not in history and history["loss/d"][0] == (1, 1.0)
    assert write_training_plots(history, tmp_path / "plots.png") is not None


def test_the_plot_has_a_panel_per_kind_of_figure(tmp_path):
    history = {
        "loss/d": [(1, 1.2), (2, 1.1)], "loss/g": [(1, 0.7), (2, 0.8)],
        "d/real": [(1, 0.6), (2, 0.55)], "d/fake": [(1, 0.4), (2, 0.45)],
        "eval/fid": [(2, 90.0)], "eval/kid": [(2, 50.0)], "lr/g": [(1, 2e-4)],
    }
    titles = [panel.title for panel in training_panels(history)]
    assert titles == ["losses", "discriminator outputs", "sample quality"]
    assert list(training_panels(history)[1].curves) == ["D(x)", "D(G(z))"]
    path = write_training_plots(history, tmp_path / "plots.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 2 * image.height
    assert [p.name for p in tmp_path.iterdir()] == ["plots.png"]


def test_translation_scores_are_plotted_when_there_is_no_fid():
    history = {"loss/g": [(1, 3.0)], "eval/psnr": [(1, 14.0)], "eval/ssim": [(1, 0.5)]}
    quality = [panel for panel in training_panels(history) if panel.title.startswith("held-out scores")]
    assert [set(panel.curves) for panel in quality] == [{"ssim"}, {"psnr"}]  # dB and a fraction share no axis


def test_nothing_to_plot_writes_nothing(tmp_path):
    assert read_scalars(tmp_path / "no_tb") == {}
    assert write_training_plots({"lr/g": [(1, 2e-4)]}, tmp_path / "plots.png") is None
    assert not (tmp_path / "plots.png").exists()


def test_a_short_run_marks_its_points_and_clear_of_the_top():
    history = {"loss/d": [(2, 1.2)], "d/real": [(2, 1.0)], "d/fake": [(2, 0.0)]}
    assert all(len(points) == 1 for panel in training_panels(history) for points in panel.curves.values())
    axes = Figure().subplots()
    for panel in training_panels(history):
        axes.clear()
        draw_panel(axes, panel)
        assert all(line.get_marker() == "o" for line in axes.get_lines() if line.get_label() in panel.curves)
    bottom, top = axes.get_ylim()
    assert top > 1.0 and bottom < 0.0  # D(x) = 1.0 and D(G(z)) = 0.0 are drawn, not clipped at the frame


def test_curves_of_different_scales_get_their_own_panels():
    losses = {"loss/d": [(1, 0.7), (2, 0.66)], "loss/g": [(1, 86.0), (2, 82.0)], "loss/l1": [(1, 0.85), (2, 0.81)]}
    scores = {"eval/psnr": [(30, 6.8)], "eval/ssim": [(30, 0.3)], "eval/l1": [(30, 0.44)]}
    titles = [(panel.title, set(panel.curves)) for panel in training_panels(losses | scores)]
    assert ("losses: g", {"g"}) in titles and ("losses: d, l1", {"d", "l1"}) in titles
    assert ("held-out scores: psnr", {"psnr"}) in titles and ("held-out scores: ssim, l1", {"ssim", "l1"}) in titles
