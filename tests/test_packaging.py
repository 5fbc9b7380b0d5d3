"""The configs ship inside the wheel: gan-train composes from an installed package, from any folder."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build_wheel(out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return next(out.glob("gan_cli-*.whl"))


def test_wheel_ships_configs_and_composes_from_another_directory(tmp_path):
    wheel = build_wheel(tmp_path / "dist")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {Path(n).relative_to("gan_cli/conf").as_posix() for n in names if n.startswith("gan_cli/conf/") and n.endswith(".yaml")}
    in_repo = {p.relative_to(REPO / "conf").as_posix() for p in (REPO / "conf").rglob("*.yaml")}
    assert shipped == in_repo

    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(installed)}
    script = "import sys, gan_cli.commands.cli; sys.argv = ['gan-train', '--cfg', 'job']; gan_cli.commands.cli.train_main()"
    result = subprocess.run([sys.executable, "-c", script], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "name: dcgan" in result.stdout and "batch_size: 128" in result.stdout
    where = subprocess.run([sys.executable, "-c", "import gan_cli; print(gan_cli.__file__)"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert where.stdout.startswith(str(installed))
