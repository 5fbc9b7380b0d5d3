"""logger=mlflow: MLflow's own client. Params (the flattened resolved config), every scalar with its
step, and at the end the run's files; by default into a local SQLite store under outputs/.

mlflow is an optional extra and takes 2 s to import, so it is imported where a tracker opens, never
at gan-cli's start-up; the pre-flight checks the store without it wherever it can.
"""

from __future__ import annotations

import logging
import os
import time
import urllib.error
import urllib.request
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

import torch

from gan_cli.config import MlflowLoggerConfig
from gan_cli.errors import UserError, describe_os_error
from gan_cli.files import probe_writable
from gan_cli.training.checkpoint import first_line
from gan_cli.training.plots import History
from gan_cli.training.resume import flatten
from gan_cli.training.tracker_base import RunStatus, TrackedRun, require_package

DATABASE_SCHEMES = ("postgresql", "mysql", "mssql", "databricks")  # opened through MLflow's client at pre-flight
SERVER_SCHEMES = ("http", "https")
SQLITE_HEADER = b"SQLite format 3\x00"
SERVER_TIMEOUT_S = 10
PARAMS_PER_BATCH = 100  # MLflow's limit per log_batch call
PARAM_VALUE_LENGTH = 6000  # MLflow's limit on a param's value
# A server that vanishes mid-run costs a few seconds before the tracker is dropped, not MLflow's
# default of 7 retries with back-off after a 120 s timeout; a user's own settings win.
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
OPEN_ATTEMPTS = 3  # sweep jobs side by side may create the same new store or experiment at once


class MlflowTracker:
    title = "MLflow"
    in_run_dir = False

    def __init__(self, client, run_id: str, skip_until: int, settings: MlflowLoggerConfig, tracked: TrackedRun):
        self.client = client
        self.run_id = run_id
        self.skip_until = skip_until  # steps up to here are in the store already (a resumed run)
        self.settings = settings
        self.run_dir = tracked.run_dir
        self.config = tracked.config()  # resolved, as the checkpoint holds it

    @classmethod
    def open(cls, settings: MlflowLoggerConfig, tracked: TrackedRun) -> "MlflowTracker":
        """The run a resumed checkpoint names, continued, or a new one in the run's experiment."""
        client, experiment = open_store(settings, tracked)
        run_id, skip_until = continued_run(client, tracked.saved_ids.get("mlflow"), tracked.step)
        if run_id is None:
            run_id = client.create_run(experiment, run_name=tracked.name, tags=run_tags(tracked)).info.run_id
        log_params(client, run_id, tracked)
        return cls(client, run_id, skip_until, settings, tracked)

    def log_scalars(self, step: int, scalars: dict[str, float]) -> None:
        if step <= self.skip_until:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(name, float(value), now, step) for name, value in scalars.items()]
        self.client.log_batch(self.run_id, metrics=metrics, synchronous=True)

    def log_grid(self, step: int, grid: torch.Tensor) -> None:
        pass  # the grids go up with the run's other files at the end

    def history(self) -> Optional[History]:
        """Every metric's whole history, a resumed run's earlier sessions included."""
        names = self.client.get_run(self.run_id).data.metrics
        return {name: sorted((m.step, m.value) for m in self.client.get_metric_history(self.run_id, name)) for name in names}

    def finish(self, summary: dict[str, Any]) -> list[str]:
        """The score a sweep optimizes, and the run's files: sample grids, plots.png, summary.json,
        the resolved config, and the checkpoints when logger.mlflow.log_checkpoint=true."""
        score = summary.get(summary.get("best_metric") or "")
        if isinstance(score, (int, float)):
            self.client.log_metric(self.run_id, "score", float(score), step=summary["steps"], synchronous=True)
            self.client.set_tag(self.run_id, "score_metric", summary["best_metric"])
        self.upload_files()
        return [f"MLflow: run {self.run_id}; look at it with: {viewing_command(self.settings.tracking_uri)}"]

    def upload_files(self) -> None:
        samples = self.run_dir / "samples"
        if samples.is_dir():
            self.client.log_artifacts(self.run_id, str(samples), "samples")
        for name in ("plots.png", "summary.json"):
            if (self.run_dir / name).is_file():
                self.client.log_artifact(self.run_id, str(self.run_dir / name))
        self.client.log_dict(self.run_id, self.config, "config.yaml")
        if self.settings.log_checkpoint:
            for name in ("last.pt", "best.pt"):
                checkpoint = self.run_dir / "checkpoints" / name
                if checkpoint.is_file():
                    self.client.log_artifact(self.run_id, str(checkpoint), "checkpoints")

    def close(self, status: RunStatus) -> None:
        self.client.set_terminated(self.run_id, status.value)


# ---------------------------------------------------------------------------- opening the run


def quiet_mlflow_logging() -> None:
    """MLflow's own messages (creating its tables, a failed write's traceback) go to the run's log
    file, not the console, where the run says what matters in one line. Its import gives its logger
    a console handler of its own at INFO, so this comes after the import."""
    mlflow_log = logging.getLogger("mlflow")
    mlflow_log.handlers[:] = [logging.NullHandler()]  # a handler of its own, so that without a log file nothing reaches stderr
    mlflow_log.propagate = True
    mlflow_log.setLevel(logging.WARNING)



def open_store(settings: MlflowLoggerConfig, tracked: TrackedRun):
    """MLflow's client on the store, and the id of the run's experiment (made if new)."""
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    from mlflow.tracking import MlflowClient

    quiet_mlflow_logging()
    for attempt in range(OPEN_ATTEMPTS):
        try:
            client = MlflowClient(tracking_uri=store_uri(settings.tracking_uri))
            return client, experiment_id(client, experiment_name(settings, tracked), artifact_location(settings.tracking_uri))
        except UserError:
            raise
        except Exception:  # another job creating the same store's tables or experiment this moment
            if attempt == OPEN_ATTEMPTS - 1:
                raise
            time.sleep(1 + attempt)


def store_uri(uri: str) -> str:
    """The tracking URI with a relative SQLite path made absolute, so that every process of a run
    (and every sweep job) opens the same file whatever its working directory."""
    path = sqlite_path(uri)
    return f"sqlite:///{path.resolve()}" if path is not None else uri


def sqlite_path(uri: str) -> Optional[Path]:
    """The database file of an sqlite:/// URI (relative to the working directory unless it starts
    with a fourth /), or None for another scheme."""
    if not uri.lower().startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///"):].split("?", 1)[0])


def artifact_location(uri: str) -> Optional[str]:
    """Beside a local SQLite store, mlartifacts/; a server or a database keeps its own default."""
    path = sqlite_path(uri)
    return (path.resolve().parent / "mlartifacts").as_uri() if path is not None else None


def experiment_name(settings: MlflowLoggerConfig, tracked: TrackedRun) -> str:
    """A sweep is one experiment of its own, named after its folder; a single run goes to the named one."""
    return f"{settings.experiment}: {tracked.sweep.folder}" if tracked.sweep is not None else settings.experiment


def experiment_id(client, name: str, location: Optional[str]) -> str:
    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            return client.create_experiment(name, artifact_location=location)
        except Exception:
            found = client.get_experiment_by_name(name)  # another job of the sweep made it first
            if found is None:
                raise
    if found.lifecycle_stage == "deleted":
        raise UserError(f"the MLflow experiment '{name}' is deleted; restore it (mlflow experiments restore) or set logger.mlflow.experiment=")
    return found.experiment_id


def continued_run(client, run_id: Optional[str], step: int) -> tuple[Optional[str], int]:
    """The resumed checkpoint's MLflow run, reopened, and the last step it holds (a run killed after
    its checkpoint logged a few steps more); (None, step) when there is none to continue."""
    if run_id is None:
        return None, step
    try:
        run = client.get_run(run_id)
    except Exception:  # not in this store: logger.mlflow.tracking_uri changed, or the run was purged
        return None, step
    if run.info.lifecycle_stage == "deleted":
        return None, step
    client.update_run(run_id, status="RUNNING")
    logged = [m.step for name in run.data.metrics for m in client.get_metric_history(run_id, name)]
    return run_id, max([step, *logged])


def run_tags(tracked: TrackedRun) -> dict[str, str]:
    tags = {"run_dir": str(tracked.run_dir.resolve()), "model": tracked.cfg.model.name, "data": tracked.cfg.data.name}
    if tracked.sweep is not None:
        tags |= {"sweep_dir": tracked.sweep.folder, "sweep_job": str(tracked.sweep.number), "overrides": " ".join(tracked.sweep.overrides)[:PARAM_VALUE_LENGTH]}
    return tags


def log_params(client, run_id: str, tracked: TrackedRun) -> None:
    """The flattened resolved config. A param cannot change once logged, so a resumed run adds only
    the keys its run lacks, and records the step it resumed at."""
    from mlflow.entities import Param, RunTag

    existing = client.get_run(run_id).data.params
    settings = {key: str(value)[:PARAM_VALUE_LENGTH] for key, value in flatten(tracked.config()).items()}
    params = [Param(key, value) for key, value in sorted(settings.items()) if key not in existing]
    for start in range(0, len(params), PARAMS_PER_BATCH):
        client.log_batch(run_id, params=params[start:start + PARAMS_PER_BATCH], synchronous=True)
    if tracked.step:
        client.log_batch(run_id, tags=[RunTag("resumed_at_step", str(tracked.step))], synchronous=True)


def viewing_command(uri: str) -> str:
    """What shows the run: MLflow's UI on a local store, the server's own address otherwise."""
    return f"mlflow ui --backend-store-uri {uri}" if sqlite_path(uri) is not None else f"open {uri}"


# ---------------------------------------------------------------------------------- pre-flight


def check_mlflow(settings: MlflowLoggerConfig) -> None:
    """The package, the experiment's name, and a store that can be opened: a writable SQLite file,
    a server that answers, or a database MLflow's client opens; another scheme is refused."""
    require_package("mlflow", "mlflow")
    if not settings.experiment.strip():
        raise UserError("logger.mlflow.experiment is empty; name the experiment, e.g. logger.mlflow.experiment=gan-train")
    uri = settings.tracking_uri
    scheme = urlsplit(uri).scheme.lower().split("+")[0]
    if not uri.strip():
        raise UserError("logger.mlflow.tracking_uri is empty; drop it to log into outputs/mlflow.db, or name a store, e.g. sqlite:///runs/mlflow.db")
    if scheme == "sqlite":
        check_sqlite_store(uri)
    elif scheme in SERVER_SCHEMES:
        check_server(uri)
    elif scheme in DATABASE_SCHEMES or scheme in plugin_schemes():
        check_store_opens(uri)
    elif scheme in ("", "file"):
        raise UserError(
            f"logger.mlflow.tracking_uri={uri} is a folder, MLflow's file store, which MLflow 3 retires; "
            f"use a database file, e.g. logger.mlflow.tracking_uri=sqlite:///{uri.removeprefix('file://').rstrip('/') or '.'}/mlflow.db"
        )
    else:
        raise UserError(
            f"logger.mlflow.tracking_uri={uri} has a scheme MLflow does not know ('{scheme}'); use sqlite:///PATH.db "
            "(a local store), http(s)://HOST:PORT (an MLflow server) or a database URI (postgresql://, mysql://, mssql://)"
        )


def check_sqlite_store(uri: str) -> None:
    path = sqlite_path(uri)
    fix = "set logger.mlflow.tracking_uri=sqlite:///DIR/mlflow.db in a writable folder, or drop it for outputs/mlflow.db"
    if path is None or str(path) in ("", ":memory:"):
        raise UserError(f"logger.mlflow.tracking_uri={uri} names no database file, and an in-memory store keeps nothing; {fix}")
    try:
        if path.is_dir():
            raise UserError(f"cannot open the MLflow store {uri}: {path} is a folder; {fix}")
        probe_writable(path.parent if str(path.parent) else Path("."))
        if path.exists():
            with path.open("rb") as handle:
                header = handle.read(len(SQLITE_HEADER))
            if header and header != SQLITE_HEADER:
                raise UserError(f"cannot open the MLflow store {uri}: {path} is not an SQLite database; {fix}")
    except OSError as error:
        raise UserError(f"cannot open the MLflow store {uri} ({describe_os_error(error)}); {fix}") from None


def check_server(uri: str) -> None:
    """A server that answers at all is there; whether it lets this user in is its client's business."""
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=SERVER_TIMEOUT_S):
            pass
    except urllib.error.HTTPError:
        return
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        raise UserError(
            f"cannot reach the MLflow server at {uri} ({reason}); start it (mlflow server) or check the address, "
            "or drop logger.mlflow.tracking_uri to log into outputs/mlflow.db"
        ) from None


def check_store_opens(uri: str) -> None:
    from mlflow.tracking import MlflowClient

    try:
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except Exception as error:  # the driver missing, the database refusing, credentials
        raise UserError(
            f"cannot open the MLflow store {uri} ({first_line(error)}); check logger.mlflow.tracking_uri (a database URI needs its Python driver installed)"
        ) from None


def plugin_schemes() -> set[str]:
    """Schemes that installed MLflow plugins add."""
    return {entry.name for entry in entry_points(group="mlflow.tracking_store")}
