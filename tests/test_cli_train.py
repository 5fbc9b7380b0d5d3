"""gan-train through its console script: each tiny model trains and leaves every artifact a user looks at."""

from __future__ import annotations

import io
import json
import math
import re
import shutil
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image
from rich.console import Console

from conftest import FAKE_MNIST_COUNTS, cli_env, describe, run_cli, run_many, tiny_args
from gan_cli.commands.sweep import JobRow, print_and_write
from gan_cli.training.progress import WorkTracker

CHECKPOINT_KEYS = {"format", "config", "networks", "optimizers", "step", "rng", "data"}
TB_SCALARS = {"loss/d", "loss/g", "d/real", "d/fake", "perf/images_per_s", "lr/g", "lr/d", "grad_norm/d", "grad_norm/g"}
SAMPLE_NAME = re.compile(r"step_(\d{7})\.png")


def load_weights_only(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def assert_finished_run(run_dir: Path, steps: int = 6) -> dict:
    """The files every finished run has; returns its summary."""
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert (run_dir / "checkpoints" / "last.pt").is_file()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == steps
    return summary


# ------------------------------------------------------------------------- one tiny run per family


def test_train_exits_zero_and_prints_a_summary(trained_run):
    result = trained_run.result
    assert result.returncode == 0, describe(result)
    assert "Traceback" not in result.stdout + result.stderr
    assert "Warning" not in result.stderr, describe(result)  # e.g. a Hydra callback that raised
    assert str(trained_run.run_dir) in result.stdout


def test_run_dir_holds_the_resolved_config(trained_run, fake_mnist_root):
    cfg = OmegaConf.load(trained_run.run_dir / ".hydra" / "config.yaml")
    assert cfg.model.name == trained_run.model
    assert cfg.model.image_size == 16 and cfg.model.nz == 8
    assert cfg.train.steps == 6 and cfg.train.batch_size == 16
    assert cfg.data.name == "mnist" and cfg.data.root == str(fake_mnist_root)


def test_checkpoints_last_and_periodic(trained_run):
    folder = trained_run.run_dir / "checkpoints"
    assert (folder / "last.pt").is_file()
    assert sorted(p.name for p in folder.glob("step_*.pt")) == ["step_0000003.pt", "step_0000006.pt"]
    assert not list(folder.glob("*.tmp")) and not list(folder.glob(".*")), "atomic save left a temporary file"


def test_sample_grids_are_readable_zero_padded_pngs(trained_run):
    pngs = sorted((trained_run.run_dir / "samples").glob("step_*.png"))
    names = [p.name for p in pngs]
    assert all(SAMPLE_NAME.fullmatch(n) for n in names), names
    steps = [int(SAMPLE_NAME.fullmatch(n).group(1)) for n in names]
    assert steps == sorted(steps), "file names do not sort in step order"
    assert steps == [0, 3, 6]
    sizes = set()
    for png in pngs:
        with Image.open(png) as image:
            image.verify()
        with Image.open(png) as image:
            assert image.format == "PNG"
            sizes.add(image.size)
    # 16 images of 16x16 on a 4x4 grid with 2-pixel padding: every grid has the same size.
    assert sizes == {(4 * 18 + 2, 4 * 18 + 2)}


def test_progress_gif_has_every_grid(trained_run):
    with Image.open(trained_run.run_dir / "samples" / "progress.gif") as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == 3 > 1


def test_summary_has_finite_losses(trained_run):
    summary = assert_finished_run(trained_run.run_dir)
    assert summary["model"] == trained_run.model and summary["data"] == "mnist"
    for key in ("loss/d", "loss/g", "d/real", "d/fake"):
        assert isinstance(summary[key], float) and math.isfinite(summary[key]), key
    assert 0 < summary["d/real"] < 1 and 0 < summary["d/fake"] < 1
    assert summary["skipped_steps"] == 0
    assert Path(summary["checkpoint"]) == trained_run.last


def test_tensorboard_holds_scalars_and_sample_images(trained_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = list((trained_run.run_dir / "tb").glob("events.out.tfevents.*"))
    assert len(events) == 1
    accumulator = EventAccumulator(str(trained_run.run_dir / "tb"))
    accumulator.Reload()
    tags = accumulator.Tags()
    assert TB_SCALARS <= set(tags["scalars"]), tags["scalars"]
    assert "samples" in tags["images"]
    assert [event.step for event in accumulator.Scalars("loss/d")] == [2, 4, 6]
    assert all(math.isfinite(event.value) for tag in TB_SCALARS for event in accumulator.Scalars(tag))
    measured_rate = {"dcgan": 2e-3, "gan": 2e-4}[trained_run.model]  # DCGAN's defaults were chosen by measurement
    assert accumulator.Scalars("lr/g")[-1].value == pytest.approx(measured_rate)
    assert [event.step for event in accumulator.Images("samples")] == [0, 3, 6]


def test_the_run_ends_with_plots_and_a_health_report(trained_run):
    summary = assert_finished_run(trained_run.run_dir)
    assert summary["plots"] == str(trained_run.run_dir / "plots.png")
    with Image.open(trained_run.run_dir / "plots.png") as plots:
        assert plots.format == "PNG" and plots.width >= 2 * plots.height  # a panel per kind of figure
    assert isinstance(summary["health"], list)


def test_checkpoint_loads_weights_only(trained_run):
    payload = load_weights_only(trained_run.last)
    assert CHECKPOINT_KEYS <= set(payload), sorted(payload)
    assert payload["format"] == "gan-cli/1"
    assert payload["step"] == 6
    assert payload["config"]["model"]["name"] == trained_run.model
    assert set(payload["networks"]) == ({"G", "D", "G_ema"} if trained_run.model == "dcgan" else {"G", "D"})  # DCGAN keeps an EMA
    assert set(payload["optimizers"]) == {"g", "d"}
    assert all(isinstance(t, torch.Tensor) for t in payload["networks"]["G"].values())
    periodic = load_weights_only(trained_run.run_dir / "checkpoints" / "step_0000003.pt")
    assert periodic["step"] == 3


def test_default_data_is_mnist_from_the_data_root(trained_run, fake_mnist_root):
    """data=mnist (the default) with data.root read the fake raw files and downloaded nothing."""
    payload = load_weights_only(trained_run.last)
    assert payload["data_info"]["channels"] == 1 and payload["data_info"]["num_classes"] == 10
    assert payload["config"]["data"]["name"] == "mnist"
    files = sorted(p.relative_to(fake_mnist_root).as_posix() for p in fake_mnist_root.rglob("*") if p.is_file())
    expected = [f"MNIST/raw/{prefix}-{kind}" for prefix in FAKE_MNIST_COUNTS for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")]
    assert files == sorted(expected), "gan-train added files to the data root (a download?)"


# ------------------------------------------------------------ other data, the saturating loss, sweeps


@pytest.fixture(scope="module")
def more_runs(tmp_path_factory, fake_mnist_root, image_folder, labeled_image_folder) -> dict[str, tuple]:
    """The remaining gan-train calls of this file, launched side by side: ``{name: (result, folder)}``."""
    base = tmp_path_factory.mktemp("more_runs")
    # A streamed folder's files are decoded only when their batch comes up: pre-flight passes it, and
    # job 1 fails at run time on its corrupt file.
    corrupt = shutil.copytree(image_folder, base / "corrupt")
    (corrupt / "img_000.png").write_bytes(b"not a png")
    folders = {name: base / name for name in ("rgb", "gray", "saturating", "sweep", "sweep_fail", "optuna")}
    calls = {
        "rgb": tiny_args("dcgan", "data=image_folder", f"data.path={image_folder}", "data.channels=3"),
        "gray": tiny_args("gan", "data=image_folder", f"data.path={labeled_image_folder}", "data.channels=1"),
        "saturating": tiny_args("gan", "loss=saturating", f"data.root={fake_mnist_root}"),
        "sweep": ["-m", *tiny_args("gan", "optimizer.lr=1e-4,2e-4", f"data.root={fake_mnist_root}")],
        "sweep_fail": ["-m", *tiny_args("gan", "data=image_folder", "data.memory_budget=1e-6", "data.workers=0",
                                        f"data.path={image_folder},{corrupt}")],
        "optuna": ["-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=2", "hydra.sweeper.sampler.seed=1",
                   *tiny_args("gan", "optimizer.lr=tag(log,interval(1e-4,1e-2))", f"data.root={fake_mnist_root}")],
    }
    for name, args in calls.items():
        args.append(f"hydra.{'sweep' if args[0] == '-m' else 'run'}.dir={folders[name]}")
    results = run_many({name: ("gan-train", args, base) for name, args in calls.items()})
    return {name: (results[name], folders[name]) for name in calls}


@pytest.mark.parametrize(("name", "channels"), [("rgb", 3), ("gray", 1)], ids=["dcgan-rgb-folder", "gan-gray-labeled-folder"])
def test_image_folder_trains(name, channels, more_runs):
    result, run_dir = more_runs[name]
    assert result.returncode == 0, describe(result)
    summary = assert_finished_run(run_dir)
    assert summary["data"] == "image_folder"
    payload = load_weights_only(run_dir / "checkpoints" / "last.pt")
    assert payload["data_info"]["channels"] == channels and payload["data_info"]["image_size"] == 16
    with Image.open(run_dir / "samples" / "step_0000006.png") as grid:
        grid.load()


def test_saturating_loss_trains_on_the_default_path(more_runs):
    result, run_dir = more_runs["saturating"]
    assert result.returncode == 0, describe(result)
    summary = assert_finished_run(run_dir)
    assert math.isfinite(summary["loss/g"]) and summary["loss/g"] < 0  # log(1 - D(G(z))) is negative
    assert OmegaConf.load(run_dir / ".hydra" / "config.yaml").loss.name == "saturating"
    assert load_weights_only(run_dir / "checkpoints" / "last.pt")["config"]["loss"]["name"] == "saturating"


def test_multirun_runs_two_jobs(more_runs):
    result, sweep = more_runs["sweep"]
    assert result.returncode == 0, describe(result)
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0", "1"]
    for job, lr in zip(jobs, (1e-4, 2e-4)):
        assert_finished_run(job)
        payload = load_weights_only(job / "checkpoints" / "last.pt")
        assert payload["config"]["optimizer"]["lr"] == pytest.approx(lr)
        assert [o["param_groups"][0]["lr"] for o in payload["optimizers"].values()] == pytest.approx([lr, lr])


def test_the_sweep_table_carries_fid_and_kid_best_first(more_runs):
    import csv
    import json

    result, sweep = more_runs["sweep"]
    rows = list(csv.DictReader((sweep / "sweep.csv").open()))
    assert len(rows) == 2 and all(row["status"] == "ok" for row in rows)
    fids = [float(row["fid"]) for row in rows]
    assert fids == sorted(fids) and all(float(row["kid"]) == float(row["kid"]) for row in rows)
    for row in rows:  # each row's FID is its job's final score
        summary = json.loads((sweep / row["job"] / "summary.json").read_text())
        assert float(row["fid"]) == pytest.approx(summary["eval/fid"], rel=1e-3)
    assert (sweep / "sweep.md").read_text().startswith("| job | overrides | status | fid | kid |")
    assert "best FID first" in result.stdout


def test_a_two_trial_optuna_search_minimises_the_final_fid(more_runs):
    """Hydra's Optuna sweeper reads each job's return value: its final FID."""
    import csv
    import json

    result, sweep = more_runs["optuna"]
    assert result.returncode == 0, describe(result)
    rows = list(csv.DictReader((sweep / "sweep.csv").open()))
    assert len(rows) == 2 and all(row["status"] == "ok" for row in rows)
    fids = {row["job"]: json.loads((sweep / row["job"] / "summary.json").read_text())["eval/fid"] for row in rows}
    found = OmegaConf.load(sweep / "optimization_results.yaml")
    assert found.best_value == pytest.approx(min(fids.values()), rel=1e-4)
    best_job = min(fids, key=fids.get)
    best_lr = OmegaConf.load(sweep / best_job / ".hydra" / "config.yaml").optimizer.lr
    assert found.best_params["optimizer.lr"] == pytest.approx(best_lr)
    assert "Traceback" not in result.stderr and "alembic" not in result.stdout


def test_multirun_with_a_failing_job_keeps_the_good_one_and_exits_non_zero(more_runs):
    result, sweep = more_runs["sweep_fail"]
    assert result.returncode != 0, describe(result)
    assert "Traceback" not in result.stdout + result.stderr
    assert (sweep / "1").is_dir(), "job 1 never started: the failure was caught before the sweep, not at run time"
    assert not (sweep / "1" / "checkpoints" / "last.pt").exists()
    assert_finished_run(sweep / "0")
    assert "cannot read image" in result.stderr and "img_000.png" in result.stderr
    assert "gan-train: error:" in result.stderr


# ------------------------------------------------- output under a pipe, a log file or a cluster job


@pytest.fixture(scope="module")
def piped_run(tmp_path_factory, fake_mnist_root) -> tuple:
    """A run as a cluster job makes it: stdout is a pipe, COLUMNS is narrow, the run directory's name
    is long, and the metrics classifier is trained first (a fresh eval.cache_dir)."""
    base = tmp_path_factory.mktemp("piped")
    run_dir = base / "a_run_directory_whose_name_is_longer_than_the_terminal_is_wide"
    args = tiny_args("gan", f"data.root={fake_mnist_root}", f"eval.cache_dir={base / 'fresh_cache'}", f"hydra.run.dir={run_dir}")
    result = run_cli("gan-train", *args, cwd=base, env=cli_env(COLUMNS="60"))
    assert result.returncode == 0, describe(result)
    return result, run_dir


def test_a_piped_run_prints_a_plain_progress_line_per_logging_interval(piped_run):
    result, _ = piped_run
    lines = [line for line in result.stdout.splitlines() if line.startswith("train ")]
    assert [line.split()[1] for line in lines] == ["2/6", "4/6", "6/6"], describe(result)
    for line in lines:
        assert all(part in line for part in ("D loss", "G loss", "D(x)", "D(G(z))", "img/s", "elapsed")), line
    assert "FID" in lines[-1]  # evaluated at the last step
    assert "\x1b[" not in result.stdout and "…" not in result.stdout, "a pipe got terminal codes or a cut line"


def test_a_piped_run_cuts_no_path(piped_run):
    result, run_dir = piped_run
    for path in (run_dir, run_dir / "checkpoints" / "last.pt", run_dir / "samples" / "progress.gif"):
        assert str(path) in result.stdout, describe(result)


def test_the_run_log_holds_the_runs_own_messages(piped_run):
    result, run_dir = piped_run
    log = (run_dir / "gan-train.log").read_text()
    for message in ("training on cpu", "training the metrics classifier", "scoring 150 samples", "train 6/6", str(run_dir / "plots.png")):
        assert message in log, f"{message!r} is not in gan-train.log:\n{log}"


def test_training_the_metrics_classifier_says_so_and_counts_in_the_run_time(piped_run):
    result, run_dir = piped_run
    classifier = [line for line in result.stdout.splitlines() if line.startswith("training the metrics classifier")]
    assert len(classifier) >= 2 and classifier[0].endswith("steps") and "done in" in classifier[-1], describe(result)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["setup_s"] > 0 and summary["wall_s"] > 0
    assert summary["total_s"] == pytest.approx(summary["setup_s"] + summary["wall_s"], abs=0.02)
    assert "setup_s" in result.stdout and "total_s" in result.stdout


def test_the_sweep_table_wraps_no_override_in_a_pipe(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")  # capsys's stdout is no terminal, as under a pipe
    overrides = "optimizer.lr=0.0002,optimizer.beta1=0.5,model.ngf=64,data.path=/data/a_long_folder_name"
    print_and_write([JobRow(0, overrides, "ok", str(tmp_path / "0"), {"fid": 12.5}, 6)], tmp_path, "sweep")
    assert overrides in capsys.readouterr().out


def test_one_off_work_says_how_far_it_is_and_how_long_is_left():
    console = Console(file=io.StringIO())  # no terminal: plain lines
    done = list(WorkTracker(console, every_s=0)(iter(range(3)), 3, "training the metrics classifier"))
    lines = console.file.getvalue().splitlines()
    assert done == [0, 1, 2]
    assert lines[0] == "training the metrics classifier: 3 steps"
    assert [line.split(", ")[0] for line in lines[1:3]] == ["training the metrics classifier: 1/3", "training the metrics classifier: 2/3"]
    assert all("elapsed, about" in line and line.endswith("left") for line in lines[1:3])
    assert lines[3].startswith("training the metrics classifier: done in ")
