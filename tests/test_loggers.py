"""The logger group: scalars.csv, MLflow and Weights & Biases, against real local stores (MLflow's
SQLite store, W&B's offline files), through the real gan-train; and what a bad or failing store does.

Nothing goes online: every run has a home folder of its own (no ~/.netrc), no WANDB_API_KEY, and W&B
in its automatic mode, which is then offline.
"""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import os
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient
from rich.console import Console
from wandb.proto import wandb_internal_pb2

from conftest import cli_env, describe, run_many, tiny_args
from gan_cli.commands.compose import compose_config
from gan_cli.commands.preflight import check_command_line
from gan_cli.errors import UserError
from gan_cli.training.tracker_base import RunStatus, TrackedRun
from gan_cli.training.tracker_files import CsvTracker
from gan_cli.training.tracker_mlflow import check_server
from gan_cli.training.trackers import check_loggers, open_trackers

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")  # inside MLflow's store

QUICK = ["eval.enabled=false"]  # where evaluation is not what a test looks at
LOGGED_STEPS = [2, 4, 6]  # train.log_every=2 over 6 steps
RESUMED_STEPS = [2, 4, 6, 8, 10]  # and on to 10
DEFAULT_STORE = "sqlite:///outputs/mlflow.db"


def tracker_env(home: Path) -> dict[str, str]:
    """The CLI's environment with a home of its own and no tracker settings of the user's."""
    env = {k: v for k, v in cli_env().items() if not k.startswith(("WANDB_", "MLFLOW_"))}
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), WANDB_CONFIG_DIR=str(home / "wandb-config"), WANDB_CACHE_DIR=str(home / "wandb-cache"),
               WANDB_DATA_DIR=str(home / "wandb-data"))
    return env


def train_calls(folders: dict[str, Path], args: dict[str, list[str]], env: dict[str, str]) -> dict[str, tuple]:
    """run_many's calls, each run in its own working directory (so each has its own outputs/mlflow.db)."""
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return {name: ("gan-train", args[name], folders[name], env) for name in args}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, fake_mnist_root) -> dict:
    """Every gan-train call of this file that trains, side by side: first runs, then their resumes."""
    base = tmp_path_factory.mktemp("loggers")
    env = tracker_env(base / "home")
    cwd = {name: base / name for name in ("mlflow", "files", "sweep")}
    data = f"data.root={fake_mnist_root}"
    first = {
        # The README's command: logger=mlflow, evaluation on as by default, the default store.
        "mlflow": tiny_args("dcgan", data, "logger=mlflow", f"hydra.run.dir={cwd['mlflow'] / 'run'}"),
        # The two trackers whose files are the run directory's, without TensorBoard.
        "files": tiny_args("gan", data, "logger=[csv,wandb]", *QUICK, f"hydra.run.dir={cwd['files'] / 'run'}"),
        "sweep": ["-m", *tiny_args("gan", data, "logger=mlflow", "logger.mlflow.log_checkpoint=true", "optimizer.lr=1e-3,2e-3",
                                   "train.steps=4", f"hydra.sweep.dir={cwd['sweep'] / 'multirun'}")],
    }
    results = run_many(train_calls(cwd, first, env))
    resumed = {name: [f"resume={cwd[name] / 'run'}", "train.steps=10"] for name in ("mlflow", "files")}
    results |= {f"{name}_resumed": result for name, result in run_many(train_calls(cwd, resumed, env)).items()}
    return {"results": results, "cwd": cwd}


def run_of(runs: dict, name: str) -> Path:
    for result in (runs["results"][name], runs["results"].get(f"{name}_resumed")):
        if result is not None:
            assert result.returncode == 0, describe(result)
            assert "Traceback" not in result.stdout + result.stderr, describe(result)
            assert "warning" not in result.stdout.lower(), describe(result)
    return runs["cwd"][name] / "run"


def saved_trackers(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["trackers"]


# ----------------------------------------------------------------------------------------- csv


def test_csv_holds_every_scalar_once_per_step_across_a_resume(runs):
    run_dir = run_of(runs, "files")
    table = pd.read_csv(run_dir / "scalars.csv")
    assert list(table.columns[:1]) == ["step"] and {"loss/d", "loss/g", "d/real", "d/fake", "lr/g", "perf/images_per_s"} <= set(table.columns)
    assert table["step"].tolist() == RESUMED_STEPS
    assert table["loss/d"].notna().all()
    assert not (run_dir / "tb").exists(), "without logger=tensorboard, no TensorBoard events"
    assert (run_dir / "plots.png").is_file(), "plots.png is drawn from the CSV when there is no TensorBoard"


def test_csv_tracker_adds_a_column_a_later_step_brings(tmp_path):
    tracked = TrackedRun(compose_config(["logger=csv"]), tmp_path, 0, {"loss/d"})
    tracker = CsvTracker.open(tracked)
    tracker.log_scalars(2, {"loss/d": 1.0})
    tracker.log_scalars(4, {"loss/d": 0.5, "eval/fid": 80.0})
    table = pd.read_csv(tmp_path / "scalars.csv")
    assert table["step"].tolist() == [2, 4] and table["eval/fid"].isna().tolist() == [True, False]
    resumed = CsvTracker.open(TrackedRun(tracked.cfg, tmp_path, 2, {"loss/d"}))  # a resume from step 2
    resumed.log_scalars(3, {"loss/d": 0.7})
    assert pd.read_csv(tmp_path / "scalars.csv")["step"].tolist() == [2, 3]


# -------------------------------------------------------------------------------------- mlflow


def mlflow_client(cwd: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{cwd / 'outputs' / 'mlflow.db'}")


def test_mlflow_run_holds_params_metrics_and_files_in_the_default_store(runs):
    run_dir = run_of(runs, "mlflow")
    first = runs["results"]["mlflow"]
    assert f"mlflow ui --backend-store-uri {DEFAULT_STORE}" in first.stdout, describe(first)
    client = mlflow_client(runs["cwd"]["mlflow"])
    experiment = client.get_experiment_by_name("gan-train")
    assert experiment.artifact_location.startswith((runs["cwd"]["mlflow"] / "outputs" / "mlartifacts").as_uri())
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_id == saved_trackers(run_dir)["mlflow"]
    assert run.data.params["model.name"] == "dcgan" and run.data.params["train.batch_size"] == "16"
    assert run.data.tags["run_dir"] == str(run_dir.resolve())
    assert {"loss/d", "d/fake", "eval/fid", "eval/kid", "lr/g", "score"} <= set(run.data.metrics)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert run.data.metrics["score"] == pytest.approx(summary["eval/fid"]) and run.data.tags["score_metric"] == "eval/fid"
    files = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert {"samples", "plots.png", "summary.json", "config.yaml"} <= files and "checkpoints" not in files
    grids = {Path(item.path).name for item in client.list_artifacts(run.info.run_id, "samples")}
    assert {"step_0000000.png", "step_0000010.png", "progress.gif"} <= grids


def test_a_resumed_run_continues_the_same_mlflow_run_without_repeating_a_step(runs):
    run_of(runs, "mlflow")
    client = mlflow_client(runs["cwd"]["mlflow"])
    [run] = client.search_runs([client.get_experiment_by_name("gan-train").experiment_id])
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss/d")] == RESUMED_STEPS
    assert [m.step for m in client.get_metric_history(run.info.run_id, "eval/fid")] == [6, 10]
    assert run.data.tags["resumed_at_step"] == "6"


def test_a_sweep_is_one_experiment_with_a_run_per_job_each_with_its_score(runs):
    result = runs["results"]["sweep"]
    assert result.returncode == 0, describe(result)
    sweep_dir = runs["cwd"]["sweep"] / "multirun"
    client = mlflow_client(runs["cwd"]["sweep"])
    [experiment] = [e for e in client.search_experiments() if e.name.startswith("gan-train: ")]
    assert experiment.name == f"gan-train: {sweep_dir}"
    found = client.search_runs([experiment.experiment_id])
    assert sorted(run.info.run_name for run in found) == ["job 0", "job 1"]
    for run in found:
        job = run.data.tags["sweep_job"]
        summary = json.loads((sweep_dir / job / "summary.json").read_text())
        assert run.data.metrics["score"] == pytest.approx(summary[summary["best_metric"]])
        assert run.data.params["optimizer.lr"] == ("0.001" if job == "0" else "0.002")
        checkpoints = {Path(item.path).name for item in client.list_artifacts(run.info.run_id, "checkpoints")}
        assert checkpoints == {"last.pt", "best.pt"}, "logger.mlflow.log_checkpoint=true uploads them"


# --------------------------------------------------------------------------------------- wandb


def wandb_records(path: Path):
    """The records of a W&B run file (.wandb): a header, then LevelDB-log framed protobufs."""
    block, data = 32768, path.read_bytes()
    assert data[:4] == b":W&B"
    position, pending = 7, b""
    while position + 7 <= len(data):
        if block - position % block < 7:  # a block's tail too short for a frame header is padding
            position += block - position % block
            continue
        _, length, kind = struct.unpack("<IHB", data[position:position + 7])
        if kind == 0 and length == 0:
            break
        pending += data[position + 7:position + 7 + length]
        position += 7 + length
        if kind in (1, 4):  # a whole record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def logged_steps(run_file: Path) -> dict[int, set[str]]:
    steps: dict[int, set[str]] = {}
    for record in wandb_records(run_file):
        if record.WhichOneof("record_type") == "history":
            keys = {item.key or "/".join(item.nested_key) for item in record.history.item}
            steps.setdefault(record.history.step.num, set()).update(k for k in keys if not k.startswith("_"))
    return steps


def test_wandb_runs_offline_into_the_run_directory_and_resumes_the_same_run(runs):
    run_dir = run_of(runs, "files")
    run_id = saved_trackers(run_dir)["wandb"]
    folders = sorted((run_dir / "wandb").glob(f"offline-run-*-{run_id}"))
    assert len(folders) == 2, "the resumed session is the same W&B run, offline again"
    first, second = (logged_steps(folder / f"run-{run_id}.wandb") for folder in folders)
    assert [step for step in first if "loss/d" in first[step]] == LOGGED_STEPS
    assert [step for step in second if "loss/d" in second[step]] == [8, 10], "no step logged twice"
    assert {0, 3, 6} <= {step for step, keys in first.items() if any(k.startswith("samples") for k in keys)}
    for result in (runs["results"]["files"], runs["results"]["files_resumed"]):
        assert "wandb sync " in result.stdout and str(run_dir / "wandb") in result.stdout, describe(result)


# ------------------------------------------------------------------------ bad stores, pre-flight


BAD_STORES = {  # through the console script
    "unwritable": (["logger=mlflow", "logger.mlflow.tracking_uri=sqlite:////proc/nope/mlflow.db"], "cannot open the MLflow store"),
    "bad-scheme": (["logger=mlflow", "logger.mlflow.tracking_uri=nope://store"], "a scheme MLflow does not know"),
}
BAD_SETTINGS = {  # through the pre-flight that the console script runs
    "no-server": (["logger=mlflow", "logger.mlflow.tracking_uri=http://127.0.0.1:9"], "cannot reach the MLflow server"),
    "a-folder": (["logger=mlflow", "logger.mlflow.tracking_uri=runs/mlruns"], "sqlite:///runs/mlruns/mlflow.db"),
    "not-sqlite": (["logger=mlflow", "logger.mlflow.tracking_uri=sqlite:///data.txt"], "is not an SQLite database"),
    "online-without-key": (["logger=wandb", "logger.wandb.mode=online"], "needs a W&B API key"),
    "bad-project": (["logger=wandb", "logger.wandb.project=a/b"], "not a W&B project name"),
    "setting-of-an-off-logger": (["logger.mlflow.experiment=x"], "the mlflow logger is off"),
}
HIDE_PACKAGE = """
import sys
class Hidden:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == {package!r}:
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Hidden())
from gan_cli.commands.cli import train_main
sys.argv = ["gan-train", *sys.argv[1:]]
train_main()
"""


def assert_refused_in_one_line(result: subprocess.CompletedProcess, cwd: Path, expected: str) -> None:
    assert result.returncode == 2, describe(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("gan-train: error: ") and expected in lines[0], describe(result)
    assert not (cwd / "run").exists() and not (cwd / "outputs").exists(), "nothing is written before the checks pass"


def test_a_store_that_cannot_be_opened_is_one_line_before_any_run_directory(tmp_path, fake_mnist_root):
    env = tracker_env(tmp_path / "home")
    folders = {name: tmp_path / name for name in BAD_STORES}
    args = {name: [*overrides, f"data.root={fake_mnist_root}", f"hydra.run.dir={folders[name] / 'run'}"]
            for name, (overrides, _) in BAD_STORES.items()}
    results = run_many(train_calls(folders, args, env))
    for name, (_, expected) in BAD_STORES.items():
        assert_refused_in_one_line(results[name], folders[name], expected)


@pytest.mark.parametrize("name", sorted(BAD_SETTINGS))
def test_a_bad_tracker_setting_is_one_line_in_the_pre_flight(name, tmp_path, fake_mnist_root, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    (tmp_path / "data.txt").write_text("not a database")
    overrides, expected = BAD_SETTINGS[name]
    with pytest.raises(UserError) as refused:
        check_command_line([*overrides, f"data.root={fake_mnist_root}"])
    assert expected in str(refused.value) and "\n" not in str(refused.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.txt"], "the pre-flight wrote nothing"


@pytest.mark.parametrize("package", ["mlflow", "wandb"])
def test_a_logger_whose_package_is_missing_names_the_extra_to_install(package, tmp_path, fake_mnist_root):
    result = subprocess.run(
        [sys.executable, "-c", HIDE_PACKAGE.format(package=package), f"logger={package}", f"data.root={fake_mnist_root}",
         f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=tmp_path, env=tracker_env(tmp_path / "home"), capture_output=True, text=True, timeout=120,
    )
    assert_refused_in_one_line(result, tmp_path, f"pip install -e '.[{package}]'")


def test_a_server_that_answers_passes_the_check():
    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_error(404)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        check_server(f"http://127.0.0.1:{server.server_port}")  # any answer: the server is there
    finally:
        server.shutdown()


def test_every_logger_option_composes_and_passes_the_checks():
    for choice in ("tensorboard", "csv", "mlflow", "wandb", "[tensorboard,mlflow]", "[tensorboard,csv,wandb]", "[]"):
        cfg = compose_config([f"logger={choice}"])
        check_loggers(cfg)
        chosen = {name for name in cfg.logger if cfg.logger[name].enabled}
        assert chosen == set(choice.strip("[]").split(",")) - {""}


# --------------------------------------------------------------------- a tracker failing mid-run


@contextlib.contextmanager
def failing_writes(what: str):
    try:
        yield
    except OSError as error:
        raise UserError(f"cannot write {what}: {error}") from None


def test_a_tracker_whose_store_breaks_mid_run_warns_once_and_the_others_go_on(tmp_path, monkeypatch):
    """A real MLflow client on a real SQLite store, whose folder is moved away mid-run (as a store on a
    disk that was unmounted): SQLite cannot make its journal there, every write fails."""
    monkeypatch.chdir(tmp_path)
    cfg = compose_config(["logger=[csv,mlflow]", "logger.mlflow.tracking_uri=sqlite:///store/mlflow.db"])
    check_loggers(cfg)
    output = io.StringIO()
    trackers = open_trackers(TrackedRun(cfg, tmp_path / "run", 0, {"loss/d"}), failing_writes, Console(file=output, width=500))
    run_id = trackers.run_ids["mlflow"]
    trackers.log_step(1, {"loss/d": 1.0}, None)
    os.rename(tmp_path / "store", tmp_path / "moved")
    for step in (2, 3, 4):
        trackers.log_step(step, {"loss/d": 1.0 / step}, torch.zeros(1, 8, 8, dtype=torch.uint8))
    assert trackers.finish({"steps": 4, "best_metric": None}) == []
    trackers.close(RunStatus.finished)

    warnings = [line for line in output.getvalue().splitlines() if line.startswith("warning")]
    assert warnings == ["warning: MLflow failed (attempt to write a readonly database); the run goes on without it"]
    assert pd.read_csv(tmp_path / "run" / "scalars.csv")["step"].tolist() == [1, 2, 3, 4]
    assert trackers.run_ids == {"mlflow": run_id}, "the checkpoint still names the run, to continue it on resume"
    os.rename(tmp_path / "moved", tmp_path / "store")
    logged = MlflowClient(tracking_uri="sqlite:///store/mlflow.db").get_metric_history(run_id, "loss/d")
    assert [m.step for m in logged] == [1]
