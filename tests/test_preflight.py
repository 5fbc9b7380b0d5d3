"""The pre-flight's parts on their own: declared ranges, the output-folder probe, the memory checks,
and the scalar names each family declares before training."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import TINY_FAMILIES, cli_env, describe, run_cli, tiny_args, write_png_folder
from fuzz_inputs import config_keys
from gan_cli.commands.compose import check_overrides, compose_config
from gan_cli.commands.preflight import check_command_line
from gan_cli.device.memory_budget import check_fits, uint8_images
from gan_cli.errors import UserError
from gan_cli.files import probe_writable
from gan_cli.ranges import Range, check_ranges
from gan_cli.training.train import build_run, load_dataset, train_step
from translation_data import write_aligned_folder

FAMILY_ARGS = {
    **TINY_FAMILIES,
    "pix2pix_l1": ["model=pix2pix", "data=paired_folder", "data.path={paired}", "model.ngf=4", "model.image_size=16", "model.gan_weight=0"],
}


@pytest.mark.parametrize(
    ("allowed", "good", "bad"),
    [
        (Range(low=1, high=8), [1, 8], [0, 9, -1, True, float("nan")]),
        (Range(low=0, low_open=True, high=1), [1e-9, 1], [0, 1.5, float("inf")]),
        (Range(low=1, zero_means="all"), [0, 1, 10**9], [-1]),
        (Range(choices=(1, 3)), [1, 3], [2, 0]),
    ],
)
def test_range_admits_its_values_only(allowed, good, bad):
    assert all(allowed.admits(value) for value in good)
    assert not any(allowed.admits(value) for value in bad)


def test_every_numeric_key_of_every_family_declares_a_range():
    for family in FAMILY_ARGS:
        for key in config_keys(compose_config([a for a in FAMILY_ARGS[family] if "{" not in a])):
            if key.kind in ("int", "float", "list"):
                assert key.allowed is not None, f"{key.name} ({family}) has no declared range"


def test_a_family_that_changes_a_default_keeps_the_base_range():
    cfg = compose_config(["model=aae", "model.image_size=-3"])
    with pytest.raises(UserError, match=r"model.image_size=-3 must be in \[8, 1024\]"):
        check_ranges(cfg)


def test_probe_writable_leaves_nothing_behind(tmp_path):
    probe_writable(tmp_path / "a" / "b" / "c")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        probe_writable(tmp_path / "file" / "run")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_memory_checks_refuse_what_cannot_fit():
    with pytest.raises(UserError, match="needs .* GiB of cpu memory"):
        check_fits(2**62, "a test", "ask for less")
    with pytest.raises(UserError, match="holding 1000000 images of 8192x8192x3"):
        uint8_images(10**6, 3, 8192)
    assert uint8_images(2, 1, 4).shape == (2, 1, 4, 4)


@pytest.mark.parametrize("family", FAMILY_ARGS)
def test_declared_scalars_are_what_a_step_logs(family, fake_mnist_root, tmp_path):
    paired = write_aligned_folder(tmp_path / "paired", {"train": 8, "val": 2})
    args = [a.format(paired=paired) for a in FAMILY_ARGS[family]]
    # R1 every D step, so that one step logs every scalar the defaults declare (DCGAN's include loss/r1)
    cfg = compose_config([*args, f"data.root={fake_mnist_root}", "train.batch_size=4", "device=cpu", "eval.enabled=false", "regularizer.r1_every=1"])
    run = build_run(cfg, tmp_path / "run", load_dataset(cfg))
    logged = set(train_step(run))
    declared = run.family.logged_names()
    assert logged == declared - {"perf/images_per_s", *run.family.evaluation_names()}


# ------------------------------------------------------------------------------------- ~ in path values


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """HOME set to a folder holding faces/ and faces2/, 20 PNGs each."""
    home = tmp_path / "home"
    write_png_folder(home / "faces", 20, seed=3)
    write_png_folder(home / "faces2", 20, seed=4)
    monkeypatch.setenv("HOME", str(home))
    return home


TINY_FOLDER_RUN = ["model=gan", "model.image_size=16", "model.g_hidden=[16]", "model.d_hidden=[16]", "model.nz=4",
                   "train.batch_size=8", "device=cpu"]


def test_a_home_path_value_reaches_the_data_as_the_readme_writes_it(home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args, dataset = check_command_line(
        ["data=image_folder", "data.path=~/faces", *TINY_FOLDER_RUN, "eval.cache_dir=~/cache", "hydra.run.dir=~/runs/one"]
    )
    assert len(dataset) == 20
    assert f"hydra.run.dir={home}/runs/one" in args  # Hydra itself never expands ~
    assert compose_config([a for a in args if not a.startswith("hydra")]).eval.cache_dir == f"{home}/cache"


def test_a_home_path_in_every_value_of_a_sweep(home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args, _ = check_command_line(["-m", "data=image_folder", "data.path=~/faces,~/faces2", *TINY_FOLDER_RUN])
    assert f"data.path={home}/faces,{home}/faces2" in args


def test_a_home_path_that_needs_quotes_is_quoted(tmp_path, monkeypatch):
    home = tmp_path / "it's a home"
    write_png_folder(home / "faces", 20, seed=3)
    monkeypatch.setenv("HOME", str(home))
    assert compose_config(["data=image_folder", "data.path=~/faces"]).data.path == f"{home}/faces"


def test_gan_train_with_a_home_path_trains(home, tmp_path):
    result = run_cli(
        "gan-train", *tiny_args("gan", "data=image_folder", "data.path=~/faces", "train.steps=2", "eval.enabled=false",
                                "hydra.run.dir=~/runs/faces"),
        cwd=tmp_path, env=cli_env(HOME=str(home)),
    )
    assert result.returncode == 0, describe(result)
    assert (home / "runs" / "faces" / "checkpoints" / "last.pt").is_file()


# ------------------------------------------------------------------------------------ steps and epochs


@pytest.mark.parametrize("multirun", [False, True], ids=["run", "sweep"])
def test_steps_and_epochs_together_are_refused(multirun, fake_mnist_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    epochs = "train.epochs=1,2" if multirun else "train.epochs=1"
    with pytest.raises(UserError, match=r"^train.steps=100 and train.epochs=1 both set .*; drop one") as error:
        check_command_line(["-m"] * multirun + [f"data.root={fake_mnist_root}", "train.steps=100", epochs])
    assert "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "length",
    [["train.epochs=1"], ["train.steps=3"], ["train.steps=3", "train.epochs=null"], ["model=pix2pix", "data=fashion_edges", "train.epochs=1"]],
    ids=["epochs", "steps", "steps-epochs-null", "yaml-steps-user-epochs"],
)
def test_one_run_length_is_accepted(length):
    check_overrides(length, multirun=False)  # pix2pix's YAML sets train.steps: that is not the user's choice
