"""Resuming with another model family says which family the checkpoint holds, in one line."""

from __future__ import annotations

from conftest import describe, run_cli, tiny_args


def test_resuming_with_another_family_names_the_checkpoints_family(tmp_path, fake_mnist_root):
    run_dir = tmp_path / "run"
    trained = run_cli("gan-train", *tiny_args("gan", "eval.enabled=false", f"data.root={fake_mnist_root}", f"hydra.run.dir={run_dir}"), cwd=tmp_path)
    assert trained.returncode == 0, describe(trained)
    resumed = run_cli("gan-train", f"resume={run_dir}", "model=dcgan", cwd=tmp_path)
    assert resumed.returncode == 2, describe(resumed)
    errors = resumed.stderr.strip().splitlines()
    assert len(errors) == 1 and "is a gan run" in errors[0] and "resume with model=gan" in errors[0], describe(resumed)
