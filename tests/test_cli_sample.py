"""gan-sample through its console script: a checkpoint alone gives grids and single images, reproducibly."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest
import torch
import torch.serialization
from PIL import Image

from conftest import TINY_FAMILIES, TINY_TRAIN, describe, run_cli, run_many
from gan_cli.commands.sample import SampleConfig, SampleMode, sample
from gan_cli.errors import UserError
from gan_cli.ranges import field_ranges
from gan_cli.training import artifacts


def written_paths(result) -> list[Path]:
    """gan-sample prints one path per line on stdout: each figure it drew, or the folder of individual images."""
    return [Path(line) for line in result.stdout.splitlines() if line.strip()]


def png_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def copy_run_checkpoint(run_dir_src: Path, dest: Path) -> Path:
    """last.pt in a fresh run-like folder, so the default output lands there and not in the shared run."""
    ckpt = dest / "checkpoints" / "last.pt"
    ckpt.parent.mkdir(parents=True)
    shutil.copy2(run_dir_src / "checkpoints" / "last.pt", ckpt)
    return ckpt


def test_sample_with_only_a_checkpoint_writes_a_grid(trained_run, tmp_path):
    ckpt = copy_run_checkpoint(trained_run.run_dir, tmp_path / "run")
    result = run_cli("gan-sample", f"ckpt={ckpt}", cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    paths = written_paths(result)
    assert paths == [tmp_path / "run" / "generated" / "grid_seed0.png"]
    with Image.open(paths[0]) as grid:
        assert grid.format == "PNG"
        # 64 images (the default n) of 16x16 on an 8x8 grid with 2-pixel padding.
        assert grid.size == (8 * 18 + 2, 8 * 18 + 2)
    assert not result.stderr.strip() or "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def seeded_samples(dcgan_checkpoint, tmp_path_factory) -> dict[str, tuple]:
    """n=20 individual=true from the dcgan checkpoint: twice with seed 3, once with seed 4."""
    base = tmp_path_factory.mktemp("seeded")
    seeds = {"a": 3, "b": 3, "c": 4}
    args = {name: [f"ckpt={dcgan_checkpoint}", "n=20", "individual=true", f"out={base / name}", f"seed={seed}"] for name, seed in seeds.items()}
    results = run_many({name: ("gan-sample", args[name], base) for name in seeds})
    return {name: (results[name], base / name) for name in seeds}


def test_individual_images_fill_the_folder_alone(seeded_samples):
    """A folder for FID tools holds the n samples and nothing else: no grid among them."""
    result, out = seeded_samples["a"]
    assert result.returncode == 0, describe(result)
    singles = [f"{i:06d}.png" for i in range(20)]
    assert sorted(p.name for p in out.iterdir()) == singles
    assert written_paths(result) == [out]  # the folder, not a line per file
    assert result.stderr.splitlines()[-1] == f"wrote 20 images into {out}", describe(result)
    for name in singles:
        with Image.open(out / name) as image:
            assert image.size == (16, 16) and image.mode == "L"


def test_the_grid_alone_has_a_square_layout(dcgan_checkpoint, tmp_path):
    result = run_cli("gan-sample", f"ckpt={dcgan_checkpoint}", "n=20", "seed=3", f"out={tmp_path / 'out'}", cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    assert written_paths(result) == [tmp_path / "out" / "grid_seed3.png"]
    with Image.open(tmp_path / "out" / "grid_seed3.png") as grid:
        assert grid.size == (5 * 18 + 2, 4 * 18 + 2)  # ceil(sqrt(20)) = 5 per row, 4 rows


def test_individual_images_refuse_a_folder_holding_other_images(dcgan_checkpoint, tmp_path):
    """Earlier images in out= would be counted with the new samples; refuse before writing any."""
    out = tmp_path / "fid"
    out.mkdir()
    (out / "grid_seed0.png").write_bytes(b"an earlier grid")
    result = run_cli("gan-sample", f"ckpt={dcgan_checkpoint}", "n=3", "individual=true", f"out={out}", cwd=tmp_path)
    assert result.returncode == 2, describe(result)
    assert result.stderr.count("\n") == 1 and "grid_seed0.png" in result.stderr and "Traceback" not in result.stderr
    assert [p.name for p in out.iterdir()] == ["grid_seed0.png"]


def test_same_seed_gives_identical_images(seeded_samples):
    (first, out_a), (second, out_b) = seeded_samples["a"], seeded_samples["b"]
    assert first.returncode == 0 and second.returncode == 0, describe(second)
    assert set(png_bytes(out_a)) == set(png_bytes(out_b))
    assert png_bytes(out_a) == png_bytes(out_b)


def test_different_seed_gives_different_images(seeded_samples):
    (_, out_a), (third, out_c) = seeded_samples["a"], seeded_samples["c"]
    assert third.returncode == 0, describe(third)
    a, c = png_bytes(out_a), png_bytes(out_c)
    singles = [f"{i:06d}.png" for i in range(20)]
    assert sum(a[name] != c[name] for name in singles) >= 19


def save_as_if_from_cuda(payload: dict, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.save with every storage recorded as living on cuda:0, as a GPU run's checkpoint is.

    On a machine with a GPU the tensors really are moved there; without one, torch's location tagger
    is told to label CPU storages "cuda:0", which is exactly what a GPU-written file records.
    """
    if torch.cuda.is_available():
        moved = _map_tensors(payload, lambda t: t.cuda())
        torch.save(moved, path)
        return
    tagger = (0, lambda storage: "cuda:0" if storage.device.type == "cpu" else None, lambda obj, location: None)
    monkeypatch.setattr(torch.serialization, "_package_registry", [tagger, *torch.serialization._package_registry])
    torch.save(payload, path)
    monkeypatch.undo()


def _map_tensors(value, fn):
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, dict):
        return {k: _map_tensors(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_tensors(v, fn) for v in value]
    if isinstance(value, tuple):
        return tuple(_map_tensors(v, fn) for v in value)
    return value


def test_checkpoint_from_another_device_samples_on_cpu(dcgan_checkpoint, tmp_path, monkeypatch):
    payload = torch.load(dcgan_checkpoint, weights_only=True, map_location="cpu")
    foreign = tmp_path / "gpu_run" / "checkpoints" / "last.pt"
    foreign.parent.mkdir(parents=True)
    save_as_if_from_cuda(payload, foreign, monkeypatch)
    if not torch.cuda.is_available():
        # The file really does name a CUDA device: a plain load fails on this machine.
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(foreign, weights_only=True)
    result = run_cli("gan-sample", f"ckpt={foreign}", "device=cpu", "n=4", f"out={tmp_path / 'out'}", cwd=tmp_path)
    assert result.returncode == 0, describe(result)
    assert written_paths(result) == [tmp_path / "out" / "grid_seed0.png"]
    with Image.open(tmp_path / "out" / "grid_seed0.png") as grid:
        grid.load()


# --------------------------------------------------------------------------------- output folders


def unwritable_outputs(tmp_path: Path, dcgan_checkpoint: Path) -> dict[str, tuple[list[str], str]]:
    """Output folders that cannot be written, even by root: (arguments, text the error names)."""
    a_file = tmp_path / "some_file.txt"
    a_file.write_text("not a folder\n")
    # Root writes through chmod, so a read-only folder is played by sysfs, which refuses root too; the
    # read-only run directory is a run whose generated/ (the default out=) is such a folder.
    read_only_run = tmp_path / "read_only_run"
    copy_run_checkpoint(dcgan_checkpoint.parents[1], read_only_run)
    (read_only_run / "generated").symlink_to("/sys/kernel")
    return {
        "under a file": ([f"ckpt={dcgan_checkpoint}", f"out={a_file}/sub"], "some_file.txt"),
        "in /proc": ([f"ckpt={dcgan_checkpoint}", "out=/proc/nope"], "/proc/nope"),
        "read-only folder": ([f"ckpt={dcgan_checkpoint}", "out=/sys/kernel/samples"], "/sys/kernel/samples"),
        "read-only run directory": ([f"ckpt={read_only_run / 'checkpoints' / 'last.pt'}"], "out=DIR"),
    }


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs sysfs as a folder root cannot write")
def test_an_unwritable_output_folder_is_one_line(dcgan_checkpoint, tmp_path):
    cases = unwritable_outputs(tmp_path, dcgan_checkpoint)
    results = run_many({case: ("gan-sample", [*args, "individual=true", "n=3"], tmp_path) for case, (args, _) in cases.items()})
    for case, result in results.items():
        assert result.returncode == 2, (case, describe(result))
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("gan-sample: error: cannot write"), (case, describe(result))
        assert cases[case][1] in lines[0], (case, lines[0])
    assert not (tmp_path / "some_file.txt.sub").exists() and (tmp_path / "some_file.txt").read_text() == "not a folder\n"


def test_a_failed_write_leaves_no_half_written_or_lost_file(dcgan_checkpoint, tmp_path, monkeypatch):
    """A disk that fills after a few images: the earlier samples in out= stay whole, no new file is left."""
    out = tmp_path / "fid"
    assert run_cli("gan-sample", f"ckpt={dcgan_checkpoint}", "n=4", "individual=true", f"out={out}", cwd=tmp_path).returncode == 0
    before = png_bytes(out)
    real_save_png = artifacts.save_png
    calls = []

    def fill_the_disk(image, path):
        calls.append(path)
        if len(calls) > 2:
            path.write_bytes(b"half a PNG")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_save_png(image, path)

    monkeypatch.setattr(artifacts, "save_png", fill_the_disk)
    with pytest.raises(UserError, match="No space left on device"):
        sample(SampleConfig(ckpt=str(dcgan_checkpoint), n=4, seed=9, individual=True, out=str(out), device="cpu"))
    assert png_bytes(out) == before
    assert sorted(p.name for p in out.iterdir()) == sorted(before)


# ------------------------------------------------------------------------------ run directories


def test_a_run_directory_stands_for_its_last_checkpoint(trained_runs, tmp_path):
    run_dir = trained_runs["dcgan"].run_dir
    calls = {
        way: ("gan-sample", [f"ckpt={ckpt}", "n=4", f"out={tmp_path / way}"], tmp_path)
        for way, ckpt in (("dir", run_dir), ("file", run_dir / "checkpoints" / "last.pt"))
    }
    results = run_many(calls)
    for result in results.values():
        assert result.returncode == 0, describe(result)
    assert png_bytes(tmp_path / "dir") == png_bytes(tmp_path / "file")


def test_a_folder_without_a_checkpoint_is_one_line(tmp_path):
    (tmp_path / "not_a_run").mkdir()
    result = run_cli("gan-sample", f"ckpt={tmp_path / 'not_a_run'}", cwd=tmp_path)
    assert result.returncode == 2, describe(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no checkpoints/last.pt" in lines[0] and "not_a_run" in lines[0], describe(result)


# ---------------------------------------------------------------------------------- grid names


@pytest.fixture(scope="module")
def averaged_cgan(tmp_path_factory, fake_mnist_root) -> Path:
    """A tiny conditional run that keeps G's moving average: every variant a grid can show."""
    run_dir = tmp_path_factory.mktemp("averaged_cgan") / "run"
    args = [*TINY_FAMILIES["cgan"], *TINY_TRAIN, "model.ema=true", "eval.enabled=false", f"data.root={fake_mnist_root}", f"hydra.run.dir={run_dir}"]
    result = run_cli("gan-train", *args, cwd=run_dir.parent)
    assert result.returncode == 0, describe(result)
    return run_dir / "checkpoints" / "last.pt"


def test_grids_are_named_by_what_they_show(averaged_cgan, tmp_path):
    variants = {
        "grid_seed0.png": {},
        "grid_seed0_label3.png": {"label": "3"},
        "grid_seed0_raw.png": {"ema": False},
        "grid_seed0_label3_raw.png": {"label": "3", "ema": False},
    }
    for name, options in variants.items():
        written = sample(SampleConfig(ckpt=str(averaged_cgan), n=10, out=str(tmp_path), device="cpu", **options)).files
        assert written == [tmp_path / name]
    grids = png_bytes(tmp_path)
    assert sorted(grids) == sorted(variants) and len(set(grids.values())) == len(variants)


def test_a_latent_figure_names_its_class_too(averaged_cgan, tmp_path):
    (walk_png,) = sample(SampleConfig(ckpt=str(averaged_cgan), mode="walk", dim=0, steps=3, label="2", out=str(tmp_path), device="cpu")).files
    assert walk_png.name == "walk_dim0_seed0_label2.png"


# ----------------------------------------------------------------------------------------- help


def test_help_describes_the_command_its_modes_and_every_key():
    result = run_cli("gan-sample", "--help", cwd=Path.cwd())
    assert result.returncode == 0, describe(result)
    text = result.stdout
    assert text.startswith("usage: gan-sample ckpt=")
    for mode in SampleMode:
        assert f"  {mode.value} " in text, mode
    for key, allowed in field_ranges(SampleConfig).items():
        assert f"  {key}=" in text and allowed.describe().removeprefix("in ") in text, key
    assert all(f"  {key}=" in text for key in SampleConfig.__dataclass_fields__)
    assert "Examples:" in text and "individual=true" in text and "???" not in text
