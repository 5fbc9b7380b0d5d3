"""gan-sample through its console script: a checkpoint alone gives grids and single images, reproducibly."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import torch.serialization
from PIL import Image

from conftest import describe, run_cli, run_many


def written_paths(result) -> list[Path]:
    """gan-sample prints one written path per line on stdout."""
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


def test_individual_images_and_grid(seeded_samples):
    result, out = seeded_samples["a"]
    assert result.returncode == 0, describe(result)
    singles = [f"{i:06d}.png" for i in range(20)]
    assert sorted(p.name for p in out.iterdir()) == sorted([*singles, "grid_seed3.png"])
    assert sorted(written_paths(result)) == sorted(out / name for name in [*singles, "grid_seed3.png"])
    for name in singles:
        with Image.open(out / name) as image:
            assert image.size == (16, 16) and image.mode == "L"
    with Image.open(out / "grid_seed3.png") as grid:
        assert grid.size == (5 * 18 + 2, 4 * 18 + 2)  # ceil(sqrt(20)) = 5 per row, 4 rows


def test_same_seed_gives_identical_images(seeded_samples):
    (first, out_a), (second, out_b) = seeded_samples["a"], seeded_samples["b"]
    assert first.returncode == 0 and second.returncode == 0, describe(second)
    assert set(png_bytes(out_a)) == set(png_bytes(out_b))
    assert png_bytes(out_a) == png_bytes(out_b)


def test_different_seed_gives_different_images(seeded_samples):
    (_, out_a), (third, out_c) = seeded_samples["a"], seeded_samples["c"]
    assert third.returncode == 0, describe(third)
    a, c = png_bytes(out_a), png_bytes(out_c)
    assert "grid_seed4.png" in c
    assert a["grid_seed3.png"] != c["grid_seed4.png"]
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
