"""Console scripts: thin wrappers that parse, call the core, and turn UserError into one line."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable, NoReturn, Optional

import hydra
import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from gan_cli.commands.compose import CONFIG_MODULE, describe_compose_error, register_all
from gan_cli.commands.evaluate import EvalCommand, evaluate, split_arguments
from gan_cli.commands.help import eval_help, sample_help, train_help
from gan_cli.commands.preflight import check_command_line, only_prints, parse_hydra_arguments
from gan_cli.commands.run_folder import run_folder
from gan_cli.commands.sample import SampleConfig, sample
from gan_cli.commands.sweep import JOB_FAILURE, JobResult, sweep_job
from gan_cli.data import TrainingData
from gan_cli.device.shard import SINGLE_PROCESS, Shard
from gan_cli.errors import UserError
from gan_cli.training.progress import WorkTracker, output_console, say
from gan_cli.training.signals import EXIT_CODES, TrainingInterrupted, clear_interrupted_run
from gan_cli.training.train import train

log = logging.getLogger("gan_cli")
SIGINT_EXIT = EXIT_CODES[signal.SIGINT]


def fail(program: str, message: str, code: int = 2) -> NoReturn:
    print(f"{program}: error: {message}", file=sys.stderr)
    sys.exit(code)


def train_main() -> None:
    """``gan-train [-m] key=value ...``"""
    args = sys.argv[1:]
    # The run's log file sits on the same disk as its outputs; when that disk fills, the error the
    # run reports is the one line that matters, not logging's own traceback for the log file.
    logging.raiseExceptions = False
    register_all()
    dataset = None
    try:
        if any(a in ("--help", "-h") for a in args):
            print(train_help([a for a in args if not a.startswith("-")]))
            sys.exit(0)
        args, dataset = check_command_line(args)
        parsed = parse_hydra_arguments(args)
        if only_prints(parsed):
            run_with_hydra(args, dataset)
            return
        with run_folder(args, parsed.multirun) as claimed:
            run_with_hydra(claimed.args, dataset)
    except UserError as error:
        fail("gan-train", str(error))
    except KeyboardInterrupt:  # before or between jobs; one inside a job is answered there
        fail("gan-train", "interrupted (SIGINT) before training began", SIGINT_EXIT)


def run_with_hydra(args: list[str], dataset: Optional[TrainingData], shard: Shard = SINGLE_PROCESS) -> None:
    """Hydra's entry point on checked arguments: it makes the run (or sweep) directory and runs the job(s)."""
    sys.argv = [sys.argv[0], *args]
    hydra.main(config_path=f"pkg://{CONFIG_MODULE}", config_name="config", version_base="1.3")(training_job(dataset, shard))()


def training_job(dataset: Optional[TrainingData], shard: Shard = SINGLE_PROCESS) -> Callable[[DictConfig], Any]:
    """The function Hydra runs once per job, with the data already loaded for a single run."""

    def run_training_job(cfg: DictConfig):
        hydra_cfg = HydraConfig.get()
        run_dir = Path(hydra_cfg.runtime.output_dir)
        share_cores(cfg, hydra_cfg.launcher)
        try:
            summary = train(cfg, run_dir, dataset=dataset, shard=shard, sweep=sweep_job(hydra_cfg))
            return JobResult(summary) if hydra_cfg.mode == RunMode.MULTIRUN else summary
        except TrainingInterrupted as interrupted:
            log.warning(str(interrupted))
            fail("gan-train", str(interrupted), interrupted.exit_code)
        except KeyboardInterrupt:  # start-up, or a second Ctrl-C: a first one in training stops with a checkpoint
            message = clear_interrupted_run(run_dir, f"{hydra_cfg.job.name}.log")
            log.warning(message)
            fail("gan-train", message, SIGINT_EXIT)
        except UserError as error:
            log.error(str(error))
            if hydra_cfg.mode == RunMode.MULTIRUN:
                print(f"gan-train: job {hydra_cfg.job.num} failed: {error}", file=sys.stderr)
                with contextlib.suppress(OSError):  # for the sweep table, when the job ran in another process
                    (run_dir / JOB_FAILURE).write_text(f"{error}\n")
                return JobResult({"status": "failed", "error": str(error)})
            fail("gan-train", str(error))

    return run_training_job


def share_cores(cfg: DictConfig, launcher: DictConfig) -> None:
    """Jobs that Hydra's joblib launcher runs side by side split the cores between them (unless
    device.threads is set), rather than each starting a thread per core."""
    if cfg.device.threads or "joblib" not in str(launcher.get("_target_", "")):
        return
    cores = os.cpu_count() or 1
    jobs = launcher.get("n_jobs") or 1
    jobs = max(1, cores + 1 + jobs) if jobs < 0 else jobs  # joblib's -1: one job per core, -2: all but one
    cfg.device.threads = max(1, cores // jobs)


def sample_main() -> None:
    """``gan-sample ckpt=PATH|RUN_DIR [n=64] [individual=true] [out=DIR] [seed=0] ...``"""
    try:
        if wants_help(sys.argv[1:]):
            print(sample_help())
            sys.exit(0)
        cfg = parse_key_values(SampleConfig, sys.argv[1:], "gan-sample")
        console = output_console(stderr=True)
        sampled = sample(cfg, WorkTracker(console))
        if sampled.summary:
            say(console, sampled.summary)
        for path in sampled.listing():
            print(path)
    except UserError as error:
        fail("gan-sample", str(error))
    except KeyboardInterrupt:
        fail("gan-sample", "interrupted (SIGINT); no half-written file was left in out=", SIGINT_EXIT)


def eval_main() -> None:
    """``gan-eval ckpt=PATH | images=DIR [data=...] [eval.num_samples=N] [json=true]``"""
    try:
        if wants_help(sys.argv[1:]):
            print(eval_help())
            sys.exit(0)
        own, overrides = split_arguments(sys.argv[1:])
        command = parse_key_values(EvalCommand, own, "gan-eval")
        console = output_console(stderr=True)
        with console.status("scoring samples (the first use of a data set trains or caches its extractor)"):
            report = evaluate(command, overrides, WorkTracker(console))
    except UserError as error:
        fail("gan-eval", str(error))
    except KeyboardInterrupt:
        fail("gan-eval", "interrupted (SIGINT) before the scores were done; nothing half-written was left", SIGINT_EXIT)
    if command.json:
        print(json.dumps(report.as_json(), sort_keys=True))
    else:
        output_console().print(report.table())


def wants_help(args: list[str]) -> bool:
    return any(a in ("-h", "--help") for a in args)


def parse_key_values(schema: type, args: list[str], program: str):
    """key=value arguments merged onto a typed schema; unknown keys and wrong types are UserErrors."""
    bad = [a for a in args if "=" not in a]
    if bad:
        raise UserError(f"argument '{bad[0]}' is not key=value; e.g. {program} ckpt=outputs/.../last.pt")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), *(parse_key_value(arg) for arg in args))
        missing = sorted(OmegaConf.missing_keys(merged))
        if missing:
            raise UserError(f"missing required argument {missing[0]}=...; e.g. {program} ckpt=outputs/.../checkpoints/last.pt")
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as error:
        raise UserError(describe_compose_error(error, f"`{program} --help` lists every key")) from None


def parse_key_value(arg: str) -> DictConfig:
    """One key=value argument, its value read as YAML; a value YAML cannot read is one line."""
    try:
        return OmegaConf.from_dotlist([arg])
    except yaml.YAMLError:
        raise UserError(f"cannot parse {arg!r}; quote a value that holds special characters, e.g. key='a b'") from None
