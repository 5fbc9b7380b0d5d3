"""The composed config: every group option composes, values are typed, and bad input is a one-line UserError."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import DictConfig, ListConfig, OmegaConf

from conftest import TINY, TINY_TRAIN
from gan_cli.commands.compose import check_overrides, compose_config
from gan_cli.config import (
    AugmentConfig,
    Config,
    DataConfig,
    DeviceConfig,
    GanLoss,
    LoggerConfig,
    LossConfig,
    NanPolicy,
    OptimizerConfig,
    Precision,
    TrainConfig,
    check_config,
)
from gan_cli.data import DATASETS, DataRequest, build_dataset
from gan_cli.errors import UserError
from gan_cli.families import FAMILIES, MODEL_SCHEMAS, load_families

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
GROUPS = sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
GROUP_OPTIONS = [(group, yaml.stem) for group in GROUPS for yaml in sorted((CONF_DIR / group).glob("*.yaml"))]
GROUP_SCHEMAS = {"data": DataConfig, "optimizer": OptimizerConfig, "device": DeviceConfig, "loss": LossConfig, "augment": AugmentConfig,
                 "logger": LoggerConfig}


def assert_one_line_naming(error: pytest.ExceptionInfo, *names: str) -> str:
    message = str(error.value)
    assert message.strip() and "\n" not in message.strip(), f"not one line: {message!r}"
    for name in names:
        assert name in message, f"{name!r} not named in: {message!r}"
    return message


def test_conf_has_every_group():
    assert {"model", "data", "optimizer", "device", "loss"} <= set(GROUPS)
    assert all(options for options in ((CONF_DIR / g).glob("*.yaml") for g in GROUPS))


@pytest.mark.parametrize(("group", "option"), GROUP_OPTIONS, ids=[f"{g}={o}" for g, o in GROUP_OPTIONS])
def test_every_group_option_composes(group, option):
    cfg = compose_config([f"{group}={option}"])
    assert isinstance(cfg, DictConfig)
    node = cfg[group]
    if group == "model":
        load_families()
        assert node.name == option
        assert OmegaConf.get_type(node) is MODEL_SCHEMAS[option]
    else:
        assert issubclass(OmegaConf.get_type(node), GROUP_SCHEMAS[group])
    if group == "data":
        assert node.name == option
    # Every shipped option is a valid config on its own: the range checks accept it.
    check_config(cfg)
    # And it resolves completely (no missing values, no broken interpolations).
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)


def test_default_config_is_typed():
    cfg = compose_config([])
    assert OmegaConf.get_type(cfg) is Config
    assert OmegaConf.get_type(cfg.train) is TrainConfig
    assert (cfg.model.name, cfg.data.name, cfg.optimizer.name) == ("dcgan", "mnist", "adam")
    assert type(cfg.train.steps) is int and cfg.train.steps == 2000
    assert type(cfg.train.batch_size) is int
    # DCGAN's measured defaults (README, Stabilizers): fast Adam without momentum, R1 and G's EMA
    assert type(cfg.optimizer.lr_g) is float and cfg.optimizer.lr_g == pytest.approx(2e-3) and cfg.optimizer.beta1 == 0
    assert cfg.model.ema is True and cfg.regularizer.r1_gamma == 1
    assert cfg.optimizer.lr is None
    assert cfg.loss.name is GanLoss.non_saturating
    assert cfg.device.precision is Precision.auto and cfg.device.compile == "auto"
    assert cfg.train.nan_policy is NanPolicy.stop
    assert type(cfg.device.channels_last) is bool
    assert cfg.resume is None


@pytest.mark.parametrize("model", sorted(TINY))
def test_tiny_overrides_are_typed(model):
    cfg = compose_config([*TINY[model], *TINY_TRAIN, "optimizer.lr=1e-3", "loss=saturating", "train.nan_policy=skip"])
    check_config(cfg)
    assert cfg.model.name == model
    assert type(cfg.model.image_size) is int and cfg.model.image_size == 16
    assert type(cfg.model.nz) is int and cfg.model.nz == 8
    assert type(cfg.optimizer.lr) is float and cfg.optimizer.lr == pytest.approx(1e-3)
    assert cfg.train.steps == 6 and cfg.train.checkpoint_every == 3
    assert cfg.device.type == "cpu"
    assert cfg.loss.name is GanLoss.saturating
    assert cfg.train.nan_policy is NanPolicy.skip
    if model == "gan":
        assert isinstance(cfg.model.g_hidden, ListConfig) and list(cfg.model.g_hidden) == [32]
        assert all(type(size) is int for size in cfg.model.d_hidden)


def test_string_numbers_are_converted_to_the_schema_type():
    cfg = compose_config(["train.steps=12", "optimizer.lr_d=1", "device.channels_last=false"])
    assert type(cfg.train.steps) is int and cfg.train.steps == 12
    assert type(cfg.optimizer.lr_d) is float and cfg.optimizer.lr_d == 1.0
    assert cfg.device.channels_last is False


def test_data_root_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("GAN_CLI_DATA", raising=False)
    assert compose_config([]).data.root == "~/.cache/gan-cli"
    monkeypatch.setenv("GAN_CLI_DATA", str(tmp_path))
    assert compose_config([]).data.root == str(tmp_path)
    assert compose_config([f"data.root={tmp_path / 'x'}"]).data.root == str(tmp_path / "x")


@pytest.mark.parametrize(
    ("override", "names"),
    [
        ("train.stepz=3", ["train.stepz"]),
        ("optimizer.learning_rate=1e-3", ["optimizer.learning_rate"]),
        ("model.nope=1", ["model.nope"]),
    ],
)
def test_unknown_key_is_a_one_line_user_error(override, names):
    with pytest.raises(UserError) as error:
        compose_config([override])
    assert "unknown" in assert_one_line_naming(error, *names)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("train.steps=abc", "train.steps"),
        ("train.batch_size=1.5", "train.batch_size"),
        ("optimizer.lr_g=fast", "optimizer.lr_g"),
        ("device.channels_last=maybe", "device.channels_last"),
        ("loss.name=nope", "loss.name"),
        ("train.nan_policy=ignore", "train.nan_policy"),
    ],
)
def test_wrong_type_is_a_one_line_user_error(override, key):
    with pytest.raises(UserError) as error:
        compose_config([override])
    assert_one_line_naming(error, key)


@pytest.mark.parametrize("group", ["model", "data", "optimizer", "device", "loss"])
def test_unknown_group_option_lists_the_options(group):
    with pytest.raises(UserError) as error:
        compose_config([f"{group}=nope"])
    message = assert_one_line_naming(error, group, "nope")
    for yaml in (CONF_DIR / group).glob("*.yaml"):
        assert yaml.stem in message
    assert "_schema" not in message


def test_unknown_model_family_lists_registered_names():
    load_families()
    with pytest.raises(UserError) as error:
        FAMILIES.get("nope")
    assert_one_line_naming(error, "nope", *FAMILIES.names())
    assert {"dcgan", "gan"} <= set(FAMILIES.names())


def test_unknown_dataset_lists_registered_names():
    with pytest.raises(UserError) as error:
        build_dataset(OmegaConf.create({"name": "nope"}), DataRequest(16))
    assert_one_line_naming(error, "nope", *DATASETS.names())
    assert {"mnist", "image_folder"} <= set(DATASETS.names())


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("optimizer.lr=0", "optimizer.lr"),
        ("optimizer.lr=-1", "optimizer.lr"),
        ("optimizer.lr_g=0", "optimizer.lr_g"),
        ("optimizer.lr_d=-1e-4", "optimizer.lr_d"),
        ("train.batch_size=0", "train.batch_size"),
        ("train.batch_size=-8", "train.batch_size"),
        ("train.steps=0", "train.steps"),
        ("train.steps=-5", "train.steps"),
        ("model.nz=0", "model.nz"),
        ("model=gan model.g_hidden=[]", "model.g_hidden"),
        ("model=aae model.hidden=[64,0]", "model.hidden"),
        ("model=cgan model.ngf=-1", "model.ngf"),
        ("model=cyclegan model.pool_size=-1", "model.pool_size"),
        ("optimizer.beta1=nan", "optimizer.beta1"),
        ("loss.real_label=inf", "loss.real_label"),
        ("data.channels=2", "data.channels"),
    ],
)
def test_check_config_rejects_out_of_range_values(override, key):
    cfg = compose_config(override.split())  # composes: the type is right, only the range is wrong
    with pytest.raises(UserError) as error:
        check_config(cfg)
    assert_one_line_naming(error, key, "must", "e.g.")


def test_check_overrides_checks_every_sweep_job():
    check_overrides(["optimizer.lr=1e-4,2e-4"], multirun=True)
    with pytest.raises(UserError) as error:
        check_overrides(["optimizer.lr=1e-4,-1"], multirun=True)
    assert_one_line_naming(error, "optimizer.lr")


def test_a_hydra_plugin_that_is_not_installed_is_named_with_its_package():
    from hydra.errors import MissingConfigException

    from gan_cli.commands.compose import describe_compose_error

    error = MissingConfigException("Could not find 'hydra/launcher/joblib'\n\nAvailable options in 'hydra/launcher':\n\tbasic", "hydra/launcher/joblib")
    assert describe_compose_error(error) == (
        "hydra/launcher=joblib needs Hydra's hydra-joblib-launcher plugin, which is not installed; pip install hydra-joblib-launcher"
    )
