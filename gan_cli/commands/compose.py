"""Compose gan-train's config outside Hydra's entry point, to check overrides before any work starts.

Hydra reports composition problems over several lines; these helpers turn them into one line that
names the key and the fix, and check every combination of a sweep before the first job runs.
"""

from __future__ import annotations

import itertools
import os
import re

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, InterpolationResolutionError, OmegaConfBaseException, ValidationError

from gan_cli.config import check_config, check_run_length, register_configs
from gan_cli.errors import UserError
from gan_cli.families import MODEL_SCHEMAS, load_families

CONFIG_MODULE = "gan_cli.conf"
PLAIN_PATH = re.compile(r"/[\w/.+@%-]*")  # a path Hydra's grammar reads unquoted, as itself
MAX_CHECKED_JOBS = 256
HYDRA_PLUGINS = {  # config names that Hydra's own plugins register, and the package of each
    "hydra/sweeper/optuna": "hydra-optuna-sweeper",
    "hydra/launcher/joblib": "hydra-joblib-launcher",
    "hydra/launcher/submitit_local": "hydra-submitit-launcher",
    "hydra/launcher/submitit_slurm": "hydra-submitit-launcher",
}


def register_all() -> None:
    """Make every family's schema known to Hydra before anything composes."""
    load_families()
    register_configs(MODEL_SCHEMAS)


def compose_config(overrides: list[str]) -> DictConfig:
    """The config gan-train would run with, for tests and for checking overrides."""
    return compose_checked(overrides, with_hydra=False)


def output_folders(overrides: list[str]) -> dict[str, str]:
    """Where Hydra would write a single run and a sweep, with hydra.* overrides applied and the
    run-time interpolations (${now:...}) resolved."""
    hydra_cfg = compose_checked(overrides, with_hydra=True).hydra
    try:
        return {"hydra.run.dir": str(hydra_cfg.run.dir), "hydra.sweep.dir": str(hydra_cfg.sweep.dir)}
    except Exception as error:  # a resolver that only works inside a running job, for example
        raise UserError(f"cannot resolve the output folder: {error}; set hydra.run.dir=DIR to a plain path") from None


def output_folder(overrides: list[str], multirun: bool) -> tuple[str, str]:
    """The key that sets where Hydra writes this run (or sweep), and the folder it names now."""
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    first_job = sweep_combinations(overrides)[0] if multirun else overrides
    return key, output_folders(first_job)[key]


def expand_home(overrides: list[str]) -> list[str]:
    """The overrides with a leading ~ in a value (or in any value of a sweep) read as the home folder.

    The shell expands ~ only at the start of a word, so `data.path=~/faces` arrives with its ~, which
    Hydra's grammar cannot parse; and Hydra would not expand it in hydra.run.dir. No value that the
    grammar accepts starts with ~, so this changes no override that worked before.
    """
    return [override if override.startswith("-") else expand_home_value(override) for override in overrides]


def expand_home_value(override: str) -> str:
    key, equals, value = override.partition("=")
    if not equals or re.search(r"['\"()\[\]{}]", value):  # only a plain value or a plain comma list
        return override
    items = [item.strip() for item in value.split(",")]
    if not any(item.startswith("~") for item in items):
        return override
    return f"{key}={','.join(home_path(item) if item.startswith('~') else item for item in items)}"


def home_path(value: str) -> str:
    """~/x or ~user/x as the shell expands it, quoted for Hydra unless it reads as itself unquoted."""
    path = os.path.expanduser(value)
    return path if PLAIN_PATH.fullmatch(path) else hydra_quoted(path)


def hydra_quoted(text: str) -> str:
    """A string as a quoted Hydra value: only the backslashes before a quote or at the end are escaped."""
    return "'" + re.sub(r"(\\*)('|$)", lambda m: m[1] * 2 + ("\\'" if m[2] else ""), text) + "'"


def compose_checked(overrides: list[str], with_hydra: bool) -> DictConfig:
    overrides = expand_home(overrides)
    register_all()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
            cfg = compose("config", overrides=overrides, return_hydra_config=with_hydra)
        if not with_hydra:  # resolve ${...} now, so a bad interpolation is an input error here
            OmegaConf.resolve(cfg)
        return cfg
    except Exception as error:  # Hydra and OmegaConf raise many types; all are input problems here
        raise UserError(describe_compose_error(error)) from None


def sweep_combinations(overrides: list[str]) -> list[list[str]]:
    """Every job a multirun would launch, as a list of plain overrides each."""
    try:
        parsed = OverridesParser.create().parse_overrides(expand_home(overrides))
    except Exception as error:
        raise UserError(describe_compose_error(error)) from None
    choices = []
    for override in parsed:
        if override.is_sweep_override():
            key = override.get_key_element()
            choices.append([f"{key}={value}" for value in sweep_values(override)])
        else:
            choices.append([override.input_line])
    return [list(combo) for combo in itertools.islice(itertools.product(*choices), MAX_CHECKED_JOBS)]


def sweep_values(override: Override) -> list[str]:
    """Every value of a choice or range sweep; the two ends of an interval (a search space for Hydra's
    Optuna sweeper), since the schema's range checks are bounds."""
    sweep = override.value()
    if isinstance(sweep, IntervalSweep):
        return [str(int(end) if float(end).is_integer() else end) for end in (sweep.start, sweep.end)]
    return list(override.sweep_string_iterator())


def own_overrides(overrides: list[str]) -> list[str]:
    """The overrides of gan-train's config, without Hydra's own (hydra.run.dir and the like)."""
    return [o for o in overrides if not o.lstrip("+~").startswith("hydra")]


def check_overrides(overrides: list[str], multirun: bool) -> list[DictConfig]:
    """Compose and range-check every job's config; the first problem is a one-line UserError."""
    own = own_overrides(overrides)
    deleted = next((o for o in own if o.startswith("~")), None)
    if deleted:  # every key and group is required by the schema
        raise UserError(f"cannot delete {deleted[1:].split('=')[0]!r}: every key is required; set a value instead (key=value)")
    combinations = sweep_combinations(own) if multirun else [own]
    configs = [compose_config(combo) for combo in combinations]
    for combo, cfg in zip(combinations, configs):
        check_config(cfg)
        check_run_length(cfg.train, {override_key(o) for o in combo})
    return configs


def override_key(override: str) -> str:
    """The key an override sets, without its + or ++ prefix."""
    return override.split("=", 1)[0].lstrip("+~")


def describe_compose_error(error: BaseException, keys_hint: str = "`gan-train --cfg job` lists every key") -> str:
    """One line for a Hydra/OmegaConf composition error: what is wrong and how to fix it."""
    text = " ".join(str(error).split())
    missing = re.search(r"Could not find '([\w/-]+)/([^'/]+)'", text)
    if missing:
        group, name = missing.groups()
        if f"{group}/{name}" in HYDRA_PLUGINS:
            package = HYDRA_PLUGINS[f"{group}/{name}"]
            return f"{group}={name} needs Hydra's {package} plugin, which is not installed; pip install {package}"
        options = re.search(rf"Available options in '{group}':(.*?)(Config search path|$)", text)
        names = [n for n in (options.group(1).split() if options else []) if not n.endswith("_schema")]
        return f"unknown {group} '{name}'; choose one of: {', '.join(names)} (e.g. {group}={names[0] if names else 'NAME'})"
    cause = omegaconf_cause(error)
    if isinstance(cause, InterpolationResolutionError):
        reason = " ".join(str(cause).split("full_key:")[0].split())
        return f"cannot resolve an interpolation: {reason}; fix or drop the ${{...}} in the overrides"
    if isinstance(cause, ValidationError):
        key = cause.full_key or "?"
        reason = " ".join(str(cause.msg).split("full_key:")[0].split())
        return f"bad value for '{key}': {reason}; {keys_hint}"
    if isinstance(cause, ConfigKeyError) or "Could not override" in text or "not in struct" in text:
        key = re.search(r"Could not override '([^']+)'", text) or re.search(r"Key '([^']+)'", text)
        name = key.group(1) if key else (cause.full_key if cause else "?")
        return f"unknown config key '{name}'; check the spelling ({keys_hint})"
    unparsed = re.search(r"Error parsing override '(.*?)'", text) or re.search(r"LexerNoViableAltException: (.*?) \^", text)
    if unparsed:
        return (
            f"cannot parse the override {unparsed.group(1)!r}; write key=value, and quote a value that holds "
            "special characters (key='a b'), as in Hydra's override grammar"
        )
    return f"bad override: {text[:300]}"


def omegaconf_cause(error: BaseException) -> OmegaConfBaseException | None:
    seen = error
    while seen is not None:
        if isinstance(seen, OmegaConfBaseException):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
