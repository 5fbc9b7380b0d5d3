"""Fuzzing every input of gan-train and gan-sample: each drawn command line either passes the
pre-flight checks or fails with one line naming the problem, never a traceback, and writes nothing.
Accepted gan-train inputs then train a step through the real CLI; accepted gan-sample inputs sample.

The default run draws FUZZ_CASES cases from a fixed seed; ``-m slow`` draws thousands.
"""

from __future__ import annotations

import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import TINY_FAMILIES, describe, run_many
from fuzz_inputs import InputFuzzer, schema_keys, train_fuzzer
from gan_cli.commands.cli import parse_key_values
from gan_cli.commands.preflight import check_command_line
from gan_cli.commands.sample import SampleConfig, sample
from gan_cli.errors import UserError
from translation_data import write_aligned_folder

FUZZ_CASES = 60
SLOW_FUZZ_CASES = 3000
TRAINED_PER_RUN = 4
COMMON = [
    "data.root={mnist}", "data.download=false", "train.steps=1", "train.batch_size=8", "train.num_samples=16",
    "eval.num_samples=130", "device=cpu", "device.threads=1",
]


@dataclass(frozen=True)
class Verdict:
    args: tuple[str, ...]
    error: str | None  # the one-line message, or None when the input passed the pre-flight


@pytest.fixture(scope="module")
def places(fake_mnist_root, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fuzz")
    return {"mnist": fake_mnist_root, "paired": write_aligned_folder(root / "paired", {"train": 12, "val": 4}), "cwd": root / "cwd"}


@pytest.fixture(scope="module", autouse=True)
def sandboxed_home(tmp_path_factory):
    """A fuzzed path may be ~, the home folder: a sandbox one, since an accepted input (data.root=~)
    writes there, in the pre-flight and in the console scripts run from here."""
    with pytest.MonkeyPatch.context() as patch:
        home = tmp_path_factory.mktemp("home")
        patch.setenv("HOME", str(home))
        yield home


def base_args(family: str, places: dict[str, Path]) -> list[str]:
    return [arg.format(**places) for arg in [*TINY_FAMILIES[family], *COMMON]]


def snapshot(folder: Path) -> list[str]:
    """The files under folder, except MNIST's: with a relative data.root, the pre-flight caches MNIST
    there, by design."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and "MNIST" not in p.parts)


def judge(args: list[str], cwd: Path, monkeypatch) -> Verdict:
    """gan-train's own pre-flight on ``args``, run in ``cwd``; anything but a UserError fails the test."""
    cwd.mkdir(exist_ok=True)
    monkeypatch.chdir(cwd)
    before = snapshot(cwd)
    try:
        check_command_line(list(args))
        error = None
    except UserError as failure:
        error = str(failure)
        assert error.strip() and "\n" not in error, f"not one line for {args}: {error!r}"
    assert snapshot(cwd) == before, f"the pre-flight wrote files for {args}"
    return Verdict(tuple(args), error)


def fuzz_train(places, monkeypatch, cases: int, seed: int) -> list[Verdict]:
    draw = random.Random(seed)
    fuzzers = {family: train_fuzzer(base_args(family, places), seed) for family in TINY_FAMILIES}
    verdicts = []
    for _ in range(cases):
        family = draw.choice(sorted(TINY_FAMILIES))
        args = [*base_args(family, places), *fuzzers[family].overrides(draw.randint(1, 3))]
        verdicts.append(judge(args, places["cwd"], monkeypatch))
    return verdicts


def one_step(args: tuple[str, ...]) -> list[str]:
    """The accepted args, made to train exactly one step."""
    kept = [a for a in args if not a.split("=")[0].lstrip("+~").startswith(("train.steps", "train.epochs"))]
    return [*kept, "train.steps=1"]


def train_accepted(verdicts: list[Verdict], places: dict[str, Path], count: int, seed: int) -> None:
    """Train a sample of accepted inputs for one step through the real gan-train; each must succeed."""
    accepted = [v for v in verdicts if v.error is None]
    chosen = random.Random(seed).sample(accepted, min(count, len(accepted)))
    calls = {}
    for index, verdict in enumerate(chosen):
        run_dir = places["cwd"].parent / f"trained_{seed}_{index}"
        # A folder of its own: an accepted run may write caches under a relative path it was given,
        # which must not count as a rejected input's writes in the shared working directory.
        own_cwd = run_dir.with_name(f"{run_dir.name}_cwd")
        own_cwd.mkdir(exist_ok=True)
        calls[index] = ("gan-train", [*one_step(verdict.args), f"hydra.run.dir={run_dir}"], own_cwd)
    for index, result in run_many(calls).items():
        assert result.returncode == 0, describe(result)
        assert (places["cwd"].parent / f"trained_{seed}_{index}" / "checkpoints" / "last.pt").is_file()


def test_fuzzed_train_inputs_pass_or_fail_in_one_line(places, monkeypatch):
    verdicts = fuzz_train(places, monkeypatch, FUZZ_CASES, seed=0)
    failed = [v for v in verdicts if v.error]
    assert 0.2 * len(verdicts) < len(failed) < 0.9 * len(verdicts), "the fuzzer should draw both kinds"
    train_accepted(verdicts, places, TRAINED_PER_RUN, seed=0)


@pytest.mark.slow
def test_fuzzed_train_inputs_many(places, monkeypatch):
    for seed in range(1, 4):
        verdicts = fuzz_train(places, monkeypatch, SLOW_FUZZ_CASES // 3, seed)
        train_accepted(verdicts, places, 4 * TRAINED_PER_RUN, seed)


def judge_sample(args: list[str], out: Path) -> str | None:
    """gan-sample's parsing and, when it accepts, the sampling itself; returns the error line or None."""
    try:
        for path in sample(parse_key_values(SampleConfig, args, "gan-sample")).files:
            assert path.exists()
        return None
    except UserError as failure:
        message = str(failure)
        assert message.strip() and "\n" not in message, f"not one line for {args}: {message!r}"
        assert not out.exists() or not any(out.iterdir()), f"gan-sample wrote files for {args}"
        return message


def fuzz_sample(checkpoint: Path, folder: Path, cases: int, seed: int) -> list[str | None]:
    fuzzer = InputFuzzer([k for k in schema_keys(SampleConfig) if k.name not in ("ckpt", "out")], seed)
    draw = random.Random(seed)
    errors = []
    for index in range(cases):
        out = folder / f"out_{seed}_{index}"
        ckpt = draw.choice([str(checkpoint)] * 8 + ["/nonexistent.pt", "/etc/passwd", str(folder)])
        errors.append(judge_sample([f"ckpt={ckpt}", f"out={out}", *fuzzer.overrides(draw.randint(1, 3))], out))
    return errors


def test_fuzzed_sample_inputs_sample_or_fail_in_one_line(dcgan_checkpoint, tmp_path):
    errors = fuzz_sample(dcgan_checkpoint, tmp_path, FUZZ_CASES // 2, seed=0)
    assert 0 < errors.count(None) < len(errors)


@pytest.mark.slow
def test_fuzzed_sample_inputs_many(dcgan_checkpoint, tmp_path):
    fuzz_sample(dcgan_checkpoint, tmp_path, SLOW_FUZZ_CASES // 3, seed=1)


def test_fuzzed_inputs_through_the_real_cli_are_one_line(places, monkeypatch):
    """A sample of rejected inputs through the console script: one line, exit 2, no run directory."""
    rejected = [v for v in fuzz_train(places, monkeypatch, 60, seed=7) if v.error][:8]
    cwd = places["cwd"]
    results = run_many({i: ("gan-train", list(v.args), cwd) for i, v in enumerate(rejected)})
    for index, verdict in enumerate(rejected):
        result: subprocess.CompletedProcess = results[index]
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2 and len(lines) == 1, describe(result)
        assert "Traceback" not in result.stdout + result.stderr, describe(result)
        assert lines[0] == f"gan-train: error: {verdict.error}", describe(result)
    assert snapshot(cwd) == [], "a rejected input wrote into the working directory"
