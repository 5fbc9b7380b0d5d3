"""Console scripts: thin wrappers that parse, call the core, and turn UserError into one line."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Callable, NoReturn, Optional

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from gan_cli.compose import check_overrides, describe_compose_error, register_all
from gan_cli.data import TrainingData
from gan_cli.errors import UserError
from gan_cli.help import train_help
from gan_cli.resume import check_resume, override_key, resume_arguments
from gan_cli.signals import TrainingInterrupted
from gan_cli.train import build_family, load_dataset, train

log = logging.getLogger("gan_cli")
HYDRA_FLAGS_WITHOUT_WORK = ("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "--version", "--shell-completion", "-sc")


def fail(program: str, message: str, code: int = 2) -> NoReturn:
    print(f"{program}: error: {message}", file=sys.stderr)
    sys.exit(code)


def train_main() -> None:
    """``gan-train [-m] key=value ...``"""
    args = sys.argv[1:]
    register_all()
    multirun = "-m" in args or "--multirun" in args
    flags = [a for a in args if a.startswith("-") and a not in ("-m", "--multirun")]
    dataset = None
    try:
        if any(flag in ("--help", "-h") for flag in flags):
            print(train_help([a for a in args if not a.startswith("-")]))
            sys.exit(0)
        if any(override_key(a) == "resume" for a in args):
            if multirun:
                raise UserError("resume= continues one run; drop -m, or resume each sweep job's directory")
            args = resume_arguments(args)
            check_resume(args)
        if not flags:
            configs = check_overrides([a for a in args if not a.startswith("-")], multirun)
            if not multirun:
                # Loading the data and building the model before Hydra creates the run directory
                # means a bad dataset, or a model that cannot use it, fails without writing there.
                dataset = load_dataset(configs[0])
                build_family(configs[0].model, dataset.info(), configs[0])  # model/data mismatches
    except UserError as error:
        fail("gan-train", str(error))
    sys.argv = [sys.argv[0], *args]
    hydra.main(config_path="conf", config_name="config", version_base="1.3")(training_job(dataset))()


def training_job(dataset: Optional[TrainingData]) -> Callable[[DictConfig], Any]:
    """The function Hydra runs once per job, with the data already loaded for a single run."""

    def run_training_job(cfg: DictConfig):
        hydra_cfg = HydraConfig.get()
        run_dir = Path(hydra_cfg.runtime.output_dir)
        try:
            return train(cfg, run_dir, dataset=dataset)
        except TrainingInterrupted as interrupted:
            log.warning(str(interrupted))
            fail("gan-train", str(interrupted), interrupted.exit_code)
        except UserError as error:
            log.error(str(error))
            if hydra_cfg.mode == RunMode.MULTIRUN:
                print(f"gan-train: job {hydra_cfg.job.num} failed: {error}", file=sys.stderr)
                return {"status": "failed", "error": str(error)}
            fail("gan-train", str(error))

    return run_training_job


def sample_main() -> None:
    """``gan-sample ckpt=PATH [n=64] [individual=true] [out=DIR] [seed=0] ...``"""
    from gan_cli.sample import SampleConfig, sample

    try:
        cfg = parse_key_values(SampleConfig, sys.argv[1:], "gan-sample")
        for path in sample(cfg):
            print(path)
    except UserError as error:
        fail("gan-sample", str(error))


def parse_key_values(schema: type, args: list[str], program: str):
    """key=value arguments merged onto a typed schema; unknown keys and wrong types are UserErrors."""
    if any(a in ("-h", "--help") for a in args):
        print(f"usage: {program} key=value ...\n\n{OmegaConf.to_yaml(OmegaConf.structured(schema))}")
        sys.exit(0)
    bad = [a for a in args if "=" not in a]
    if bad:
        raise UserError(f"argument '{bad[0]}' is not key=value; e.g. {program} ckpt=outputs/.../last.pt")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.from_dotlist(args))
        missing = sorted(OmegaConf.missing_keys(merged))
        if missing:
            raise UserError(f"missing required argument {missing[0]}=...; e.g. {program} ckpt=outputs/.../checkpoints/last.pt")
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as error:
        raise UserError(describe_compose_error(error, f"`{program} --help` lists every key")) from None
