"""The sweep table: FIDs ranked only against comparable FIDs, and a table even for a sweep cut short."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import time
from pathlib import Path

from conftest import cli_env, describe, program_path, run_cli, tiny_args
from gan_cli.commands.sweep import JobRow, comparability_warning, ranked


def row(job: int, fid: float, extractor: str, real_set: str = "mnist train split, 150 images vs 150 samples") -> JobRow:
    return JobRow(job, f"job={job}", "ok", f"run {job}", {"fid": fid}, 6, fid, extractor, real_set)


def test_fids_of_one_extractor_rank_together_without_a_warning():
    rows = [row(0, 30.0, "classifier:aa"), row(1, 10.0, "classifier:aa"), row(2, 20.0, "classifier:aa")]
    assert [r.job for r in ranked(rows)] == [1, 2, 0]
    assert comparability_warning(rows) is None


def test_fids_of_different_extractors_are_grouped_apart_under_a_warning():
    rows = [row(0, 30.0, "classifier:aa"), row(1, 10.0, "classifier:bb"), row(2, 20.0, "classifier:aa"), row(3, 5.0, "classifier:bb")]
    assert [r.job for r in ranked(rows)] == [3, 1, 2, 0]  # the best group first, never interleaved by FID across groups
    warning = comparability_warning(rows)
    assert warning and "2 extractors (classifier:aa, classifier:bb)" in warning
    assert comparability_warning([row(0, 3.0, "x"), row(1, 2.0, "x", "mnist test split, 150 images vs 150 samples")]).count("real sets") == 1


def test_a_sweep_over_image_sizes_scores_with_one_extractor(tmp_path, fake_mnist_root):
    """The classifier learns from the data alone: a model's image size does not change it."""
    sweep_dir = tmp_path / "sweep"
    args = tiny_args("gan", "model.image_size=16,28", f"data.root={fake_mnist_root}", f"hydra.sweep.dir={sweep_dir}")
    result = run_cli("gan-train", "-m", *args, cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    summaries = [json.loads((sweep_dir / str(job) / "summary.json").read_text()) for job in (0, 1)]
    assert summaries[0]["eval_extractor"] == summaries[1]["eval_extractor"], summaries
    assert "warning" not in result.stdout
    with (sweep_dir / "sweep.csv").open() as handle:
        extractors = {line["extractor"] for line in csv.DictReader(handle)}
    assert extractors == {summaries[0]["eval_extractor_id"]} and extractors != {""}


def test_a_sweep_stopped_by_ctrl_c_writes_the_table_of_its_finished_jobs(tmp_path, fake_mnist_root):
    sweep_dir = tmp_path / "sweep"
    # The first job is quick; the others run long enough to be stopped.
    args = tiny_args("dcgan", "train.steps=6,5000,5000", "eval.enabled=false", f"data.root={fake_mnist_root}", f"hydra.sweep.dir={sweep_dir}")
    process = subprocess.Popen([str(program_path("gan-train")), "-m", *args], cwd=tmp_path, env=cli_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (sweep_dir / "0" / "summary.json").is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # into the second job
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=240)
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert process.returncode == 130, describe(result)
    assert "stopped early" in stderr and "train.steps=6" in stdout, describe(result)
    with (sweep_dir / "sweep.csv").open() as handle:
        lines = list(csv.DictReader(handle))
    assert [(line["job"], line["status"], line["steps"]) for line in lines] == [("0", "ok", "6")]
    assert Path(sweep_dir / "sweep.md").is_file()
